//! Running a lesson: the scenario itself (with the learner's order of held messages), or
//! a variant where a wrong choice replaces the scenario's step, run for real so the
//! learner sees what the API answers. Every run is a fresh world with the lesson's
//! seed, so the same choices always give the same trace.

use super::format::{Lesson, Predict, Question, QuestionKind};
use crate::drivers::scenario::outcome::Outcome;
use crate::drivers::scenario::run::{RunSettings, run};

/// Which run of a lesson a page shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The scenario, with the learner's choices of held messages so far (positions in
    /// the list of what is held at each choice, from 1).
    Main {
        /// The choices, in order.
        choices: Vec<usize>,
    },
    /// The steps before a `choose` question's step, then one of its wrong choices.
    Try {
        /// The question, from 0.
        question: usize,
        /// The choice, from 0.
        choice: usize,
    },
}

/// A run of a lesson, as a page shows it.
#[derive(Clone, Debug)]
pub struct LessonRun {
    /// Which run it is.
    pub variant: Variant,
    /// What it produced, with per-step state.
    pub outcome: Outcome,
}

/// Runs `variant` of `lesson` in a fresh world; an impossible variant (a choice a
/// question does not offer, choices for a lesson without an order question) is refused
/// with a sentence.
pub async fn run_lesson(lesson: &Lesson, variant: &Variant) -> Result<LessonRun, String> {
    let mut settings = RunSettings {
        seed: Some(lesson.seed),
        snapshots: true,
        ..RunSettings::default()
    };
    let scenario = match variant {
        Variant::Main { choices } => {
            match (lesson.order_question(), choices.is_empty()) {
                (Some(_), _) => settings.choices = Some(choices.clone()),
                (None, true) => {}
                (None, false) => {
                    return Err(format!(
                        "lesson {:?} asks for no order of held messages, so it takes no choices",
                        lesson.slug
                    ));
                }
            }
            lesson.scenario.clone()
        }
        Variant::Try { question, choice } => {
            let asked = lesson
                .questions
                .get(*question)
                .filter(|q| q.kind == QuestionKind::Choose)
                .ok_or_else(|| {
                    format!(
                        "lesson {:?} has no choice question {}",
                        lesson.slug,
                        question + 1
                    )
                })?;
            let offered = asked.choices.get(*choice).ok_or_else(|| {
                format!("question {} offers no choice {}", question + 1, choice + 1)
            })?;
            let step = offered.step.as_ref().ok_or_else(|| {
                format!(
                    "choice {} is the scenario's own next step: it needs no separate run",
                    choice + 1
                )
            })?;
            super::format::variant(lesson, asked.step - 1, Some((step, &offered.label)))?
        }
    };
    let outcome = run(&scenario, &settings).await;
    Ok(LessonRun {
        variant: variant.clone(),
        outcome,
    })
}

/// The options a prediction offers, and the one the run shows (None when the run did
/// not reach the question's step).
pub fn prediction(question: &Question, outcome: &Outcome) -> (Vec<&'static str>, Option<String>) {
    let Some(predict) = &question.predict else {
        return (Vec::new(), None);
    };
    let step = outcome.steps.iter().find(|s| s.number == question.step);
    match predict {
        Predict {
            agreement: Some(handle),
            ..
        } => {
            let options = vec![
                "pending",
                "accepted",
                "declined",
                "inactive",
                "failed",
                "ssl_error",
                "configuration_error",
                "no copy",
            ];
            let answer = step.map(|step| {
                step.accounts
                    .iter()
                    .find(|a| a.subdomain == predict.account)
                    .and_then(|a| {
                        a.agreements
                            .iter()
                            .find(|r| r.handle.as_deref() == Some(handle))
                    })
                    .map_or("no copy".to_string(), |row| row.status.clone())
            });
            (options, answer)
        }
        Predict {
            ticket: Some(handle),
            ..
        } => {
            let options = vec![
                "shared, and syncing",
                "an orphan: kept, no longer syncing",
                "not shared",
                "no copy",
            ];
            let answer = step.map(|step| {
                let row = step
                    .accounts
                    .iter()
                    .find(|a| a.subdomain == predict.account)
                    .and_then(|a| {
                        a.tickets
                            .iter()
                            .find(|t| t.handle.as_deref() == Some(handle))
                    });
                match row {
                    None => options[3],
                    Some(t) if t.orphan => options[1],
                    Some(t) if !t.shared_with.is_empty() => options[0],
                    Some(_) => options[2],
                }
                .to_string()
            });
            (options, answer)
        }
        _ => (Vec::new(), None),
    }
}
