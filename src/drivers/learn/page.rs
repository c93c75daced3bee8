//! The course's pages: the index of lessons, and a lesson page (goal, the open question,
//! and the scenario's run in the step-through player, which stops at the question's
//! step until it is answered). A wrong choice's page shows its real run beside a way
//! back. Everything from lesson and scenario files is escaped; the page's scripts are
//! files of this server (its Content-Security-Policy allows no other).

use super::format::{Lesson, QuestionKind};
use super::run::{LessonRun, Variant, prediction};
use crate::drivers::report::html::{self, Lesson as Narrated};
use crate::drivers::report::player;
use crate::drivers::report::svg::escape;
use std::fmt::Write;

/// The lesson pages' own script and styles.
pub(crate) const SCRIPT: &str = include_str!("assets/lesson.js");
/// The lesson pages' own styles.
pub(crate) const STYLE: &str = include_str!("assets/lesson.css");

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"color-scheme\" content=\"light dark\">\n<meta name=\"referrer\" content=\"no-referrer\">\n\
<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>\n{}{}{}</style>\n\
<script src=\"/assets/player.js\" defer></script>\n<script src=\"/assets/lesson.js\" defer></script>\n</head>\n",
        escape(title),
        html::CSS,
        player::STYLE,
        STYLE
    );
}

fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            format!(
                "<p>{}</p>",
                escape(&p.split_whitespace().collect::<Vec<_>>().join(" "))
            )
        })
        .collect()
}

/// The course's first page: every lesson with its goal, marked done once finished (the
/// browser remembers which).
pub(crate) fn index(lessons: &[Lesson]) -> String {
    let mut out = String::new();
    head(&mut out, "sharesim: learning one-way agreements");
    out.push_str("<body class=\"course\" data-page=\"course\">\n<header>\n<h1>Learning one-way agreements</h1>\n<p class=\"lead\">Short lessons on Zendesk ticket sharing, each a real run of a scenario between simulated accounts. Step through each one, answer its question, and see what really happens on the wire.</p>\n</header>\n<main>\n<ol class=\"lessons\">\n");
    for lesson in lessons {
        let _ = writeln!(
            out,
            "<li data-lesson=\"{slug}\"><span class=\"number\">{}</span> <a href=\"/lessons/{slug}\">{}</a> <span class=\"done-mark\" hidden>✓ done</span><div class=\"goal\">{}</div></li>",
            lesson.number,
            escape(&lesson.title),
            paragraphs(&lesson.goal),
            slug = escape(&lesson.slug),
        );
    }
    out.push_str("</ol>\n</main>\n<footer>Served by <code>sharesim learn</code>. Each lesson is a scenario file and a lesson file in the repository (<code>lessons/</code>).</footer>\n</body>\n</html>\n");
    out
}

/// A lesson page for `run`; `course` is every lesson, for the way to the next one.
pub(crate) fn lesson(lesson: &Lesson, course: &[Lesson], run: &LessonRun) -> String {
    let mut out = String::new();
    head(
        &mut out,
        &format!("Lesson {}: {}", lesson.number, lesson.title),
    );
    let _ = writeln!(
        out,
        "<body class=\"lesson\" data-page=\"lesson\" data-lesson=\"{}\" data-questions=\"{}\">\n<header>\n<p class=\"crumbs\"><a href=\"/\">Course</a> · lesson {} of {}</p>\n<h1>{}</h1>\n<div class=\"goal\">{}</div>",
        escape(&lesson.slug),
        lesson.questions.len(),
        lesson.number,
        course.len(),
        escape(&lesson.title),
        paragraphs(&lesson.goal).replacen("<p>", "<p><strong>Goal.</strong> ", 1)
    );
    if let Some(description) = &lesson.scenario.description {
        let _ = writeln!(
            out,
            "<details class=\"scenario-text\"><summary>The scenario: {}</summary>{}<p class=\"file\"><code>{}</code></p></details>",
            escape(&lesson.scenario.name),
            paragraphs(description),
            escape(&lesson.scenario_file.display().to_string())
        );
    }
    out.push_str("</header>\n<main>\n");
    let gate = match &run.variant {
        Variant::Main { .. } => {
            questions(&mut out, lesson, run);
            lesson
                .questions
                .iter()
                .find(|q| q.kind != QuestionKind::Order)
                .map(|q| q.step)
        }
        Variant::Try { question, choice } => {
            tried(&mut out, lesson, run, *question, *choice);
            None
        }
    };
    out.push_str("<section class=\"scenario lesson-stage\" id=\"lesson\">\n");
    html::stage(
        &mut out,
        "lesson",
        &run.outcome,
        Some(Narrated {
            gate,
            narration: &lesson.narration,
        }),
    );
    out.push_str("</section>\n");
    let _ = writeln!(
        out,
        "<section class=\"complete\" id=\"complete\" hidden><h2>Lesson complete</h2><p>You answered every question. Step through the rest of the run, or go on.</p>{}</section>",
        match course.get(lesson.number) {
            Some(next) => format!(
                "<p><a class=\"next\" href=\"/lessons/{}\">Next: lesson {}, {}</a></p>",
                escape(&next.slug),
                next.number,
                escape(&next.title)
            ),
            None => "<p><a class=\"next\" href=\"/\">That was the last lesson: back to the course</a></p>".to_string(),
        }
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The lesson's questions, the first open one shown by the script.
fn questions(out: &mut String, lesson: &Lesson, run: &LessonRun) {
    out.push_str("<section class=\"questions\" aria-label=\"Questions\">\n");
    for (index, question) in lesson.questions.iter().enumerate() {
        let _ = write!(
            out,
            "<div class=\"question\" id=\"q{index}\" data-question=\"{index}\" data-kind=\"{}\" data-step=\"{}\"",
            match question.kind {
                QuestionKind::Predict => "predict",
                QuestionKind::Choose => "choose",
                QuestionKind::Order => "order",
            },
            question.step
        );
        let (options, answer) = prediction(question, &run.outcome);
        if let Some(answer) = &answer {
            let _ = write!(out, " data-answer=\"{}\"", escape(answer));
        }
        if question.kind == QuestionKind::Order {
            let answered = run.outcome.paused.is_none();
            let _ = write!(out, " data-answered=\"{answered}\"");
        }
        let _ = writeln!(
            out,
            ">\n<h2>Question {} <small>before step {}</small></h2>\n<div class=\"prompt\">{}</div>\n<div class=\"options\">",
            index + 1,
            question.step,
            paragraphs(&question.prompt)
        );
        match question.kind {
            QuestionKind::Predict => {
                for option in options {
                    let _ = write!(
                        out,
                        "<button type=\"button\" class=\"option\" data-value=\"{0}\">{0}</button>",
                        escape(option)
                    );
                }
            }
            QuestionKind::Choose => {
                for (number, choice) in question.choices.iter().enumerate() {
                    let explain = choice.explain.as_deref().unwrap_or("");
                    if choice.step.is_some() && !choice.is_correct() {
                        let _ = write!(
                            out,
                            "<a class=\"option try\" href=\"/lessons/{}?try={}-{}\" data-choice=\"{number}\">{}</a>",
                            escape(&lesson.slug),
                            index + 1,
                            number + 1,
                            escape(&choice.label)
                        );
                    } else {
                        let _ = write!(
                            out,
                            "<button type=\"button\" class=\"option\" data-choice=\"{number}\" data-correct=\"{}\" data-explain=\"{}\">{}</button>",
                            choice.is_correct(),
                            escape(explain),
                            escape(&choice.label)
                        );
                    }
                }
            }
            QuestionKind::Order => order(out, lesson, run),
        }
        let _ = writeln!(
            out,
            "</div>\n<p class=\"feedback\" role=\"status\" aria-live=\"polite\"></p>\n<div class=\"explain\" hidden>{}</div>\n</div>",
            question
                .explain
                .as_deref()
                .map(paragraphs)
                .unwrap_or_default()
        );
    }
    out.push_str("</section>\n");
}

/// The held messages to choose from (links that rerun the lesson with one more choice),
/// or, once none is left, the order chosen and a link that reopens it.
fn order(out: &mut String, lesson: &Lesson, run: &LessonRun) {
    let Variant::Main { choices } = &run.variant else {
        return;
    };
    let prefix: Vec<String> = choices.iter().map(usize::to_string).collect();
    match &run.outcome.paused {
        Some(paused) => {
            if !choices.is_empty() {
                let _ = write!(
                    out,
                    "<p class=\"so-far\">Delivered so far, in your order: {} message(s).</p>",
                    choices.len()
                );
            }
            out.push_str("<ol class=\"held\">");
            for (index, held) in paused.held.iter().enumerate() {
                let mut next = prefix.clone();
                next.push((index + 1).to_string());
                let _ = write!(
                    out,
                    "<li data-from=\"{}\" data-to=\"{}\" data-position=\"{}\"><a class=\"option deliver\" href=\"/lessons/{}?choices={}\">Deliver next: {}</a> <small>(held on {} → {}, message {})</small></li>",
                    escape(&held.from),
                    escape(&held.to),
                    held.position,
                    escape(&lesson.slug),
                    next.join("."),
                    escape(&held.description),
                    escape(&held.from),
                    escape(&held.to),
                    held.position
                );
            }
            out.push_str("</ol>");
        }
        None if choices.is_empty() => {}
        None => {
            let link = format!(
                "/lessons/{}?choices={}",
                escape(&lesson.slug),
                prefix.join(".")
            );
            let _ = write!(
                out,
                "<p class=\"chosen\">You chose the order of {} held message(s); the run below is exactly that sequence. <a id=\"sequence-link\" href=\"{link}\">This link reopens it.</a></p>",
                choices.len()
            );
        }
    }
}

/// The banner of a wrong choice's real run.
fn tried(out: &mut String, lesson: &Lesson, run: &LessonRun, question: usize, choice: usize) {
    let Some(asked) = lesson.questions.get(question) else {
        return;
    };
    let Some(offered) = asked.choices.get(choice) else {
        return;
    };
    let verdict = match &run.outcome.failure {
        Some(failure) if failure.step == asked.step => {
            // A refused call's diff carries the API's own words.
            let answer = failure
                .diffs
                .iter()
                .find(|d| d.field == "http status")
                .map(|d| format!(" ({})", d.actual))
                .unwrap_or_default();
            format!("It does not work: {}{answer}", failure.message)
        }
        Some(failure) => format!(
            "The run stopped at step {}: {}",
            failure.step, failure.message
        ),
        None => "The call goes through, but it does not do what the question asks.".to_string(),
    };
    let _ = writeln!(
        out,
        "<section class=\"tried\" id=\"tried\"><h2>What happens if you choose: {}</h2><p class=\"verdict\">{}</p>{}<p><a class=\"back\" href=\"/lessons/{}\">Back to the question</a></p></section>",
        escape(&offered.label),
        escape(&verdict),
        offered
            .explain
            .as_deref()
            .map(paragraphs)
            .unwrap_or_default(),
        escape(&lesson.slug)
    );
}
