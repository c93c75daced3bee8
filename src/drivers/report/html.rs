//! `sharesim run --html FILE` and `sharesim explain FILE --html OUT`: one self-contained
//! page (inline CSS, SVG and script, no request to anywhere) for people who would
//! rather look than read. A summary, then per scenario its description, the failure
//! with its diff and last events, the step-through player (see [`super::player`]), the
//! drawn sequence diagram, the status grid, and each step's note, calls and the
//! accounts' agreements and tickets afterwards.
//!
//! The page reads on a phone (tables and diagrams scroll sideways), prints on paper and
//! follows `prefers-color-scheme: dark`. A Content-Security-Policy allows only the
//! player's own inline script (by its hash) and forbids every external load, so the file
//! stays safe to open whatever a scenario file holds; all text from scenario files is
//! escaped, and the player puts data into the page only as text.

use super::describe_event;
use super::svg::{self, escape};
use super::{grid, player};
use crate::core::spelling::Spelled;
use crate::core::trace::EventKind;
use crate::drivers::scenario::outcome::{AccountSnapshot, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Events shown under "last events" of a failure.
const LAST_EVENTS: usize = 12;

/// Status grids drawn per scenario: one per agreement would make a long run's page
/// grow with every invitation.
pub const MAX_GRIDS: usize = 200;

/// One scenario's part of the page: its outcome and the description from its file.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    /// What the run produced.
    pub outcome: &'a Outcome,
    /// The scenario file's `description`, shown above the diagram.
    pub description: Option<&'a str>,
}

/// The whole page, titled `title`, with one section per scenario in the given order.
pub fn report(title: &str, sections: &[Section<'_>]) -> String {
    let mut out = String::new();
    page(&mut out, title, sections, &mut |_| Ok(())).expect("writing into a String does not fail");
    out
}

/// [`report`], written to `path` part by part: the page is never held whole in
/// memory, so a long run's report costs memory for its largest part only.
pub fn write_report(
    path: &std::path::Path,
    title: &str,
    sections: &[Section<'_>],
) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut out = String::new();
    page(&mut out, title, sections, &mut |part: &mut String| {
        file.write_all(part.as_bytes())?;
        part.clear();
        Ok(())
    })?;
    file.write_all(out.as_bytes())?;
    file.flush()
}

/// Called between the parts of a page with what was written since: a file writes it
/// out and clears it; a `String` keeps it.
type Flush<'f> = dyn FnMut(&mut String) -> std::io::Result<()> + 'f;

fn page(
    out: &mut String,
    title: &str,
    sections: &[Section<'_>],
    flush: &mut Flush<'_>,
) -> std::io::Result<()> {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"color-scheme\" content=\"light dark\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {}\">\n\
<title>{}</title>\n<style>\n{CSS}{}</style>\n</head>\n<body>\n",
        player::script_source(),
        escape(title),
        player::STYLE
    );
    let _ = writeln!(out, "<header>\n<h1>{}</h1>", escape(title));
    summary(out, sections);
    out.push_str("</header>\n<main>\n");
    for (index, section) in sections.iter().enumerate() {
        scenario(out, index, section, flush)?;
    }
    out.push_str("</main>\n<footer>Made by sharesim. Diagrams and tables come from the run's trace and per-step snapshots.</footer>\n<script>");
    out.push_str(player::SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    Ok(())
}

/// Counts, total time and a table of contents.
fn summary(out: &mut String, sections: &[Section<'_>]) {
    let passed = sections.iter().filter(|s| s.outcome.passed()).count();
    let failed = sections.len() - passed;
    let total: u128 = sections
        .iter()
        .map(|s| s.outcome.duration.as_millis())
        .sum();
    let verdict = if failed == 0 { "passed" } else { "failed" };
    let _ = writeln!(
        out,
        "<p class=\"summary {verdict}\"><span class=\"count\">{} scenario(s)</span> <span class=\"badge pass\">{passed} passed</span> <span class=\"badge {}\">{failed} failed</span> <span class=\"time\">{total} ms of scenario time</span></p>",
        sections.len(),
        if failed == 0 { "none" } else { "fail" }
    );
    // One scenario (`explain`) needs no table of contents.
    if sections.len() < 2 {
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"toc\">\n<thead><tr><th>result</th><th>scenario</th><th>file</th><th>steps</th><th>time</th></tr></thead>\n<tbody>\n");
    for (index, section) in sections.iter().enumerate() {
        let outcome = section.outcome;
        let (class, label) = verdict_of(outcome);
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><span class=\"badge {class}\">{label}</span></td><td><a href=\"#{}\">{}</a></td><td><code>{}</code></td><td>{}</td><td>{} ms</td></tr>",
            section_id(index, outcome),
            escape(&outcome.name),
            escape(&outcome.file),
            outcome.steps.len(),
            outcome.duration.as_millis()
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn verdict_of(outcome: &Outcome) -> (&'static str, &'static str) {
    if outcome.passed() {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    }
}

/// An id for a scenario's section: its position and file stem, in `[a-z0-9-]`.
fn section_id(index: usize, outcome: &Outcome) -> String {
    let stem: String = std::path::Path::new(&outcome.file)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("s{}-{stem}", index + 1)
}

/// One scenario's section.
fn scenario(
    out: &mut String,
    index: usize,
    section: &Section<'_>,
    flush: &mut Flush<'_>,
) -> std::io::Result<()> {
    let outcome = section.outcome;
    let id = section_id(index, outcome);
    let (class, label) = verdict_of(outcome);
    let _ = writeln!(
        out,
        "<section class=\"scenario {class}\" id=\"{id}\">\n<h2><span class=\"badge {class}\">{label}</span> {}</h2>",
        escape(&outcome.name)
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\"><code>{}</code> · seed {} · {} step(s) · {} ms</p>",
        escape(&outcome.file),
        outcome.seed,
        outcome.steps.len(),
        outcome.duration.as_millis()
    );
    if let Some(description) = section.description {
        out.push_str("<div class=\"description\">");
        for paragraph in description.split("\n\n").filter(|p| !p.trim().is_empty()) {
            // The file's line breaks are for the editor; the page reflows each paragraph.
            let text = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = write!(out, "<p>{}</p>", escape(&text));
        }
        out.push_str("</div>\n");
    }
    stage_in_parts(out, &id, outcome, None, flush)?;
    out.push_str("</section>\n");
    flush(out)
}

/// What a lesson adds to a scenario's part of the page: a gate the player stops at
/// until the learner answers, and narration per step (keyed by step number).
#[derive(Clone, Copy, Debug)]
pub struct Lesson<'a> {
    /// The step the player may not pass (and whose outcome it hides) until the
    /// question is answered.
    pub gate: Option<usize>,
    /// Teaching text shown with each step.
    pub narration: &'a BTreeMap<usize, String>,
}

/// A scenario's failure, player, diagram, status grids, steps and the player's data:
/// everything of its section but the heading (shared with the lessons' pages, where the
/// step list is the player's source only and stays hidden).
pub fn stage(out: &mut String, id: &str, outcome: &Outcome, lesson: Option<Lesson<'_>>) {
    stage_in_parts(out, id, outcome, lesson, &mut |_| Ok(()))
        .expect("writing into a String does not fail");
}

/// [`stage`], calling `flush` after each large part.
fn stage_in_parts(
    out: &mut String,
    id: &str,
    outcome: &Outcome,
    lesson: Option<Lesson<'_>>,
    flush: &mut Flush<'_>,
) -> std::io::Result<()> {
    failure(out, id, outcome);
    if !outcome.steps.is_empty() {
        out.push_str(&player::controls(id));
    }
    // Wide screens shrink a wide diagram to the page, down to a legible scale; past
    // that (and on phones) it scrolls sideways.
    let drawing = svg::draw(outcome);
    let _ = writeln!(
        out,
        "<figure class=\"diagram\">\n<div class=\"scroll\"><div class=\"fit\" style=\"--w:{}px\">\n{}</div></div>\n<figcaption><span class=\"narrow-only\">Scroll sideways for the whole diagram. </span>Sequence diagram of every REST call, partner message and decision. Crossed arrows are failed deliveries; ⚡ marks a fault, ⚠ a divergence. Hover a shortened label for its full text.</figcaption>\n</figure>",
        drawing.width, drawing.svg
    );
    drop(drawing);
    flush(out)?;
    grids(out, outcome);
    flush(out)?;
    steps(out, id, outcome, lesson.map(|l| l.narration));
    flush(out)?;
    out.push_str(&player::data(id, outcome, lesson.and_then(|l| l.gate)));
    flush(out)
}

/// Each agreement's status grid with the path its pair took (none when the run kept no
/// per-step state).
fn grids(out: &mut String, outcome: &Outcome) {
    let paths = grid::paths(outcome);
    if paths.is_empty() {
        return;
    }
    out.push_str("<figure class=\"grids\">\n<div class=\"grid-list\">\n");
    for path in paths.iter().take(MAX_GRIDS) {
        out.push_str(&grid::svg(path));
    }
    out.push_str("</div>\n");
    if paths.len() > MAX_GRIDS {
        let _ = writeln!(
            out,
            "<p class=\"unchanged\">Grids are drawn for the first {MAX_GRIDS} agreements; {} more are left out.</p>",
            paths.len() - MAX_GRIDS
        );
    }
    out.push_str("<figcaption>Status grid: the sender's copy (rows) against the receiver's (columns). Green pairs are allowed, yellow ones last only while a message is in flight, red ones are divergences; the numbered path shows the step at which the pair arrived in each cell.</figcaption>\n</figure>\n");
}

/// The failing step, its diff and the events that led to it.
fn failure(out: &mut String, id: &str, outcome: &Outcome) {
    let Some(failure) = &outcome.failure else {
        return;
    };
    let _ = writeln!(
        out,
        "<div class=\"failure\" role=\"alert\">\n<h3>Failed at <a href=\"#{id}-step-{}\">step {}</a> (<code>{}</code>, {})</h3>\n<p class=\"message\">{}</p>",
        failure.step,
        failure.step,
        escape(&failure.action),
        escape(&failure.location),
        escape(&failure.message)
    );
    if !failure.diffs.is_empty() {
        out.push_str("<div class=\"scroll\"><table class=\"diff\">\n<thead><tr><th>field</th><th>expected</th><th>actual</th></tr></thead>\n<tbody>\n");
        for diff in &failure.diffs {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"expected\">{}</td><td class=\"actual\">{}</td></tr>",
                escape(&diff.field),
                escape(&diff.expected),
                escape(&diff.actual)
            );
        }
        out.push_str("</tbody>\n</table></div>\n");
    }
    let last = outcome.steps.iter().find(|s| s.number == failure.step);
    let upto = last.map_or(u64::MAX, |s| s.last_event.max(s.first_event));
    let events: Vec<_> = outcome.trace.iter().filter(|e| e.seq <= upto).collect();
    if !events.is_empty() {
        out.push_str("<h4>Last events</h4>\n<ol class=\"events last\">\n");
        for event in &events[events.len().saturating_sub(LAST_EVENTS)..] {
            let _ = writeln!(
                out,
                "<li value=\"{}\" class=\"{}\">{}</li>",
                event.seq,
                event.kind.spelling(),
                escape(&describe_event(event))
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</div>\n");
}

/// Each step: its note, its calls and decisions, and the state afterwards.
fn steps(
    out: &mut String,
    id: &str,
    outcome: &Outcome,
    narration: Option<&BTreeMap<usize, String>>,
) {
    if outcome.steps.is_empty() {
        return;
    }
    match narration {
        // A lesson's learner meets the steps one at a time, in the player.
        Some(_) => out.push_str("<ol class=\"steps\" hidden>\n"),
        None => out.push_str("<h3>Steps</h3>\n<ol class=\"steps\">\n"),
    }
    let mut previous: Option<&[AccountSnapshot]> = None;
    let mut noted_left_out = false;
    for step in &outcome.steps {
        let failed_here = outcome
            .failure
            .as_ref()
            .is_some_and(|f| f.step == step.number);
        let class = if failed_here { "step fail" } else { "step" };
        let _ = writeln!(
            out,
            "<li class=\"{class}\" id=\"{id}-step-{}\">\n<h4>Step {} · <code>{}</code> <small>{}</small></h4>",
            step.number,
            step.number,
            escape(&step.action),
            escape(&step.location)
        );
        if let Some(note) = &step.note {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note.trim()));
        }
        if let Some(text) = narration.and_then(|n| n.get(&step.number)) {
            for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
                let text = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = writeln!(out, "<p class=\"narration\">{}</p>", escape(&text));
            }
        }
        let events: Vec<_> = outcome
            .step_events(step)
            .filter(|e| e.kind != EventKind::Note)
            .collect();
        if !events.is_empty() {
            out.push_str("<ul class=\"events\">\n");
            for event in events {
                let _ = writeln!(
                    out,
                    "<li class=\"{}\">{}</li>",
                    event.kind.spelling(),
                    escape(&describe_event(event))
                );
            }
            out.push_str("</ul>\n");
        }
        if failed_here {
            if let Some(failure) = &outcome.failure {
                let _ = writeln!(
                    out,
                    "<p class=\"verdict fail\">✗ {}</p>",
                    escape(&failure.message)
                );
            }
        } else if matches!(step.action.as_str(), "expect" | "wait" | "expect_ticket") {
            out.push_str("<p class=\"verdict pass\">✓ the expectation held</p>\n");
        }
        let left_out = outcome
            .tables_left_out_after
            .is_some_and(|after| step.number > after && step.accounts.is_empty());
        if left_out {
            if !noted_left_out {
                let _ = writeln!(
                    out,
                    "<p class=\"unchanged\">Tables are left out from here on: this run's tables reached {} rows. The last step shows the state at the end.</p>",
                    crate::drivers::scenario::outcome::MAX_TABLE_ROWS
                );
                noted_left_out = true;
            }
        } else if previous == Some(step.accounts.as_slice()) {
            out.push_str("<p class=\"unchanged\">Agreements and tickets unchanged.</p>\n");
        } else {
            state(out, &step.accounts);
        }
        if !left_out {
            previous = Some(step.accounts.as_slice());
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ol>\n");
}

/// Each account's agreements and tickets, as tables.
fn state(out: &mut String, accounts: &[AccountSnapshot]) {
    out.push_str("<div class=\"state\">\n");
    for account in accounts {
        let _ = writeln!(
            out,
            "<div class=\"account\"><h5>{}</h5>",
            escape(&account.subdomain)
        );
        if account.agreements.is_empty() {
            out.push_str("<p class=\"empty\">no agreements</p>\n");
        } else {
            out.push_str("<div class=\"scroll\"><table class=\"agreements\">\n<thead><tr><th>handle</th><th>id</th><th>type</th><th>status</th><th>remote</th><th>name</th></tr></thead>\n<tbody>\n");
            for a in &account.agreements {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=\"status {}\">{}</span></td><td>{}</td><td>{}</td></tr>",
                    escape(a.handle.as_deref().unwrap_or("-")),
                    a.id,
                    escape(&a.direction),
                    status_class(&a.status),
                    escape(&a.status),
                    escape(a.remote_subdomain.as_deref().unwrap_or("-")),
                    escape(&a.name)
                );
            }
            out.push_str("</tbody>\n</table></div>\n");
        }
        if !account.tickets.is_empty() {
            out.push_str("<div class=\"scroll\"><table class=\"tickets\">\n<thead><tr><th>ticket</th><th>id</th><th>status</th><th>shared over</th><th>comments</th><th>subject</th></tr></thead>\n<tbody>\n");
            for t in &account.tickets {
                let shared = if t.orphan {
                    "(orphan)".to_string()
                } else if t.shared_with.is_empty() {
                    "-".to_string()
                } else {
                    t.shared_with.join(", ")
                };
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(t.handle.as_deref().unwrap_or("-")),
                    t.id,
                    escape(&t.status),
                    escape(&shared),
                    t.comments,
                    escape(&t.subject)
                );
            }
            out.push_str("</tbody>\n</table></div>\n");
        }
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
}

/// A CSS class for an agreement status: good, waiting or bad.
fn status_class(status: &str) -> &'static str {
    match status {
        "accepted" => "good",
        "pending" => "waiting",
        "declined" | "inactive" => "closed",
        _ => "bad",
    }
}

/// The page's styles: light by default, dark on request, narrow screens and paper.
pub const CSS: &str = include_str!("html.css");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trace::Event;
    use crate::drivers::scenario::outcome::{Failure, FieldDiff, StepRecord};
    use std::time::Duration;

    fn outcome(name: &str, failure: Option<Failure>) -> Outcome {
        Outcome {
            network: crate::core::network::NetworkKind::Simulated,
            name: name.to_string(),
            file: "dir/<odd>.toml".to_string(),
            seed: 1,
            duration: Duration::from_millis(5),
            failure,
            steps: vec![StepRecord {
                number: 1,
                action: "expect".to_string(),
                location: "dir/<odd>.toml:3".to_string(),
                note: Some("a <b>note</b>".to_string()),
                first_event: 1,
                last_event: 1,
                accounts: Vec::new(),
            }],
            paused: None,
            tables_left_out_after: None,
            trace: vec![Event {
                seq: 1,
                at: "2026-01-01T09:00:00Z".to_string(),
                kind: EventKind::Note,
                surface: None,
                from: "scenario".to_string(),
                to: "scenario".to_string(),
                method: None,
                path: None,
                status: None,
                outcome: None,
                detail: "a <b>note</b>".to_string(),
                delivery: None,
                wire: None,
            }],
        }
    }

    #[test]
    fn text_from_scenario_files_is_escaped_everywhere() {
        let failing = outcome(
            "<script>alert(1)</script>",
            Some(Failure {
                step: 1,
                action: "expect".to_string(),
                location: "x:1".to_string(),
                message: "<img src=x>".to_string(),
                diffs: vec![FieldDiff {
                    field: "status".to_string(),
                    expected: "<a>".to_string(),
                    actual: "&".to_string(),
                }],
            }),
        );
        let page = report(
            "t",
            &[Section {
                outcome: &failing,
                description: Some("<iframe>"),
            }],
        );
        for raw in ["<img", "<iframe", "<b>", "<odd>", "<a>"] {
            assert!(!page.contains(raw), "{raw} left unescaped");
        }
        // The only script elements are the page's own: the player and its data.
        let own = page.matches("<script>").count()
            + page
                .matches("<script type=\"application/json\" class=\"player-data\"")
                .count();
        assert_eq!(own, 2);
        assert_eq!(page.matches("<script").count(), own);
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<td class=\"actual\">&amp;</td>"));
    }

    #[test]
    fn the_summary_counts_passes_and_failures() {
        let passing = outcome("ok", None);
        let failing = outcome(
            "bad",
            Some(Failure {
                step: 1,
                action: "expect".to_string(),
                location: "x:1".to_string(),
                message: "no".to_string(),
                diffs: Vec::new(),
            }),
        );
        let page = report(
            "t",
            &[
                Section {
                    outcome: &passing,
                    description: None,
                },
                Section {
                    outcome: &failing,
                    description: None,
                },
            ],
        );
        assert!(page.contains("<span class=\"badge pass\">1 passed</span>"));
        assert!(page.contains("<span class=\"badge fail\">1 failed</span>"));
        assert!(page.contains("10 ms of scenario time"));
        assert!(
            page.contains("id=\"s2--odd-\""),
            "section ids are sanitised"
        );
    }
}
