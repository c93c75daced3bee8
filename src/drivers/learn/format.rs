//! Lesson files (`lessons/NN-name.toml`) and the checks a course passes before it is
//! served: the scenario loads, every step number is one of its steps, every account
//! and handle a question names exists, every alternative a question offers is a valid
//! step at that point, and an order question sits on a `concurrently` step.

use crate::drivers::scenario::format::{Action, Concurrently, Scenario, Step};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A lesson file that cannot be served, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct LessonError {
    /// The lesson file (or the folder, when it holds no lesson).
    pub file: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// How the learner answers a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Predict a copy's status (or a ticket's state) after the step, before it is shown.
    Predict,
    /// Choose the next action among several; wrong ones can be run to see why.
    Choose,
    /// Choose the order in which the step's held messages are delivered.
    Order,
}

/// What a prediction is about: one account's copy of an agreement, or of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predict {
    /// The account whose copy it is.
    pub account: String,
    /// An agreement handle (`invite … as`).
    #[serde(default)]
    pub agreement: Option<String>,
    /// A ticket handle (`ticket … as`).
    #[serde(default)]
    pub ticket: Option<String>,
}

/// One answer a `choose` question offers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What the learner reads.
    pub label: String,
    /// The step this choice would run instead of the scenario's own (a scenario step
    /// table); none for the scenario's own next action.
    #[serde(default)]
    pub step: Option<toml::Table>,
    /// Whether it is a right answer (default: true exactly when it has no `step`).
    #[serde(default)]
    pub correct: Option<bool>,
    /// Shown once it is chosen.
    #[serde(default)]
    pub explain: Option<String>,
}

impl Choice {
    /// Whether choosing it answers the question.
    pub fn is_correct(&self) -> bool {
        self.correct.unwrap_or(self.step.is_none())
    }
}

/// A question asked before a step's outcome is shown.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The step (from 1) whose outcome waits for the answer.
    pub step: usize,
    /// How it is answered.
    pub kind: QuestionKind,
    /// The question itself.
    pub prompt: String,
    /// `predict`: which copy.
    #[serde(default)]
    pub predict: Option<Predict>,
    /// `choose`: the answers offered.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Shown once the question is answered.
    #[serde(default)]
    pub explain: Option<String>,
}

/// One step's narration in a lesson file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Narration {
    step: usize,
    text: String,
}

/// A lesson file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LessonFile {
    title: String,
    scenario: String,
    goal: String,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    narration: Vec<Narration>,
    #[serde(default)]
    questions: Vec<Question>,
}

/// A checked lesson, ready to run.
#[derive(Clone, Debug)]
pub struct Lesson {
    /// Its place in the course, from 1.
    pub number: usize,
    /// The lesson file's stem, which is also its address (`/lessons/{slug}`).
    pub slug: String,
    /// The lesson file.
    pub file: PathBuf,
    /// Its title.
    pub title: String,
    /// What the learner will know afterwards.
    pub goal: String,
    /// The scenario file it runs.
    pub scenario_file: PathBuf,
    /// The scenario, parsed.
    pub scenario: Scenario,
    /// The scenario's text, for the variants that replace a step.
    pub source: String,
    /// The seed every run of the lesson uses.
    pub seed: u64,
    /// Narration by step number.
    pub narration: BTreeMap<usize, String>,
    /// The questions, by step.
    pub questions: Vec<Question>,
}

impl Lesson {
    /// The lesson's order question, if it has one.
    pub fn order_question(&self) -> Option<&Question> {
        self.questions
            .iter()
            .find(|q| q.kind == QuestionKind::Order)
    }
}

/// Every lesson in `dir` (its `*.toml` files, in name order), each checked; the errors
/// of every invalid one otherwise.
pub fn load_course(dir: &Path) -> Result<Vec<Lesson>, Vec<LessonError>> {
    let folder_error = |message: String| {
        vec![LessonError {
            file: dir.display().to_string(),
            message,
        }]
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| folder_error(format!("cannot read the lessons folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(folder_error(
            "holds no lesson (*.toml); see lessons/ in the repository for the format".into(),
        ));
    }
    let mut lessons = Vec::new();
    let mut errors = Vec::new();
    for (index, file) in files.iter().enumerate() {
        match load_lesson(file, index + 1) {
            Ok(lesson) => lessons.push(lesson),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(lessons)
    } else {
        Err(errors)
    }
}

fn load_lesson(file: &Path, number: usize) -> Result<Lesson, LessonError> {
    let error = |message: String| LessonError {
        file: file.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| error(format!("cannot read the lesson file: {e}")))?;
    let parsed: LessonFile = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
    if parsed.title.trim().is_empty() || parsed.goal.trim().is_empty() {
        return Err(error("`title` and `goal` must say something".into()));
    }
    let scenario_file = lexically_clean(
        &file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(&parsed.scenario),
    );
    let source = crate::drivers::scenario::read_source(&scenario_file)
        .map_err(|e| error(format!("scenario {:?}: {e}", parsed.scenario)))?;
    let scenario = crate::drivers::scenario::parse(&source, &scenario_file.display().to_string())
        .map_err(|e| error(format!("scenario {:?}: {e}", parsed.scenario)))?;
    let steps = scenario.steps.len();
    let in_range = |what: &str, step: usize| {
        if (1..=steps).contains(&step) {
            Ok(())
        } else {
            Err(error(format!(
                "{what} names step {step}, but the scenario has steps 1 to {steps}"
            )))
        }
    };
    let mut narration = BTreeMap::new();
    for entry in parsed.narration {
        in_range("narration", entry.step)?;
        if narration.insert(entry.step, entry.text).is_some() {
            return Err(error(format!("step {} is narrated twice", entry.step)));
        }
    }
    if parsed.questions.is_empty() {
        return Err(error(
            "a lesson needs at least one question (`[[questions]]`)".into(),
        ));
    }
    let mut questions = parsed.questions;
    questions.sort_by_key(|q| q.step);
    let mut asked = BTreeSet::new();
    let lesson = Lesson {
        number,
        slug: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file: file.to_path_buf(),
        title: parsed.title,
        goal: parsed.goal,
        scenario_file,
        seed: parsed.seed.or(scenario.seed).unwrap_or(0),
        scenario,
        source,
        narration,
        questions: Vec::new(),
    };
    for (index, question) in questions.iter().enumerate() {
        let what = format!("question {} (step {})", index + 1, question.step);
        in_range(&what, question.step)?;
        if !asked.insert(question.step) {
            return Err(error(format!("{what}: another question asks at that step")));
        }
        check_question(&lesson, question).map_err(|message| error(format!("{what}: {message}")))?;
    }
    Ok(Lesson {
        questions,
        ..lesson
    })
}

/// The scenario's text with only its first `keep` steps, then `extra` (a step table and
/// the label it is run for), as the normal parser reads it: the variant a wrong choice
/// runs. The lesson's seed replaces `seeds`.
pub(super) fn variant(
    lesson: &Lesson,
    keep: usize,
    extra: Option<(&toml::Table, &str)>,
) -> Result<crate::drivers::scenario::Scenario, String> {
    let mut table: toml::Table = lesson
        .source
        .parse()
        .map_err(|e: toml::de::Error| e.to_string())?;
    table.remove("seeds");
    table.insert(
        "seed".into(),
        toml::Value::Integer(i64::try_from(lesson.seed).unwrap_or(0)),
    );
    let mut steps = match table.remove("steps") {
        Some(toml::Value::Array(steps)) => steps,
        _ => Vec::new(),
    };
    steps.truncate(keep);
    if let Some((step, label)) = extra {
        let mut step = step.clone();
        step.insert(
            "note".into(),
            toml::Value::String(format!("You chose: {label}")),
        );
        steps.push(toml::Value::Table(step));
    }
    table.insert("steps".into(), toml::Value::Array(steps));
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    crate::drivers::scenario::parse(&text, &lesson.scenario_file.display().to_string())
        .map_err(|e| e.message)
}

fn check_question(lesson: &Lesson, question: &Question) -> Result<(), String> {
    let scenario = &lesson.scenario;
    match question.kind {
        QuestionKind::Predict => {
            let Some(predict) = &question.predict else {
                return Err("a `predict` question needs `predict = { account, agreement }` or `{ account, ticket }`".into());
            };
            if !scenario
                .accounts
                .keys()
                .any(|a| a.get_ref() == &predict.account)
            {
                return Err(format!(
                    "`predict.account = {:?}` is not one of the scenario's accounts",
                    predict.account
                ));
            }
            let (kind, name) = match (&predict.agreement, &predict.ticket) {
                (Some(agreement), None) => ("agreement", agreement),
                (None, Some(ticket)) => ("ticket", ticket),
                _ => return Err("`predict` names exactly one of `agreement` and `ticket`".into()),
            };
            if !handles(&scenario.steps, kind).contains(name.as_str()) {
                return Err(format!(
                    "no step of the scenario defines the {kind} handle {name:?}"
                ));
            }
            Ok(())
        }
        QuestionKind::Choose => {
            if question.choices.len() < 2 {
                return Err(
                    "a `choose` question offers at least two `[[questions.choices]]`".into(),
                );
            }
            if !question.choices.iter().any(Choice::is_correct) {
                return Err("no choice is correct (a choice without `step` is the scenario's own next action, and correct)".into());
            }
            for (index, choice) in question.choices.iter().enumerate() {
                if let Some(step) = &choice.step {
                    variant(lesson, question.step - 1, Some((step, &choice.label)))
                        .map_err(|e| format!("choice {} ({:?}): {e}", index + 1, choice.label))?;
                }
            }
            Ok(())
        }
        QuestionKind::Order => match &scenario.steps[question.step - 1].action {
            Action::Concurrently(Concurrently(_)) => Ok(()),
            other => Err(format!(
                "an `order` question sits on a `concurrently` step whose messages are held; step {} is `{}`",
                question.step,
                other.key()
            )),
        },
    }
}

/// `lessons/../scenarios/x.toml` → `scenarios/x.toml`: the path people would write,
/// without touching the file system.
fn lexically_clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut kept: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(kept.last(), Some(Component::Normal(_))) => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    kept.iter().map(|c| c.as_os_str()).collect()
}

/// The agreement or ticket handles a scenario's steps define.
fn handles<'a>(steps: &'a [Step], kind: &str) -> BTreeSet<&'a str> {
    let mut found = BTreeSet::new();
    for step in steps {
        match (&step.action, kind) {
            (Action::Invite(invite), "agreement") => {
                found.insert(invite.handle.get_ref().as_str());
            }
            (Action::Ticket(ticket), "ticket") => {
                found.insert(ticket.handle.get_ref().as_str());
            }
            (Action::Concurrently(Concurrently(group)), _) => found.extend(handles(group, kind)),
            _ => {}
        }
    }
    found
}
