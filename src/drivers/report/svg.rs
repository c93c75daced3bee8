//! `--diagram-format svg` and the HTML report's pictures: a sequence diagram that
//! sharesim draws itself from the trace, so nobody needs Mermaid, a script or a network
//! to see a handshake. One column per user and account; REST and partner arrows with
//! method, path and status; failed deliveries end in a cross labelled with their cause;
//! decisions, faults, divergences and the steps' notes are boxes on the lifelines.
//!
//! The output is a function of the trace alone (no clock, no ports added, integer
//! coordinates), so it can be a golden file. Every piece of text is escaped; the full
//! text of a shortened label is kept in a `<title>` the browser shows on hover.

mod drawing;
mod layout;

use crate::core::trace::{Event, EventKind};
use crate::drivers::scenario::outcome::Outcome;
use drawing::*;
pub use drawing::{ArrowStyle, escape};
use layout::*;
use std::fmt::Write;

/// A drawn diagram and its natural size, so a page can decide how far to scale it.
#[derive(Clone, Debug)]
pub struct Drawing {
    /// The SVG document.
    pub svg: String,
    /// Its width in pixels.
    pub width: i64,
    /// Its height in pixels.
    pub height: i64,
}

/// The SVG document for one scenario: a standalone file, and also valid inline in HTML.
pub fn diagram(outcome: &Outcome) -> String {
    draw(outcome).svg
}

/// A diagram titled `name` of journal events that belong to no scenario (the live view
/// of `serve`): the same drawing, without step rules.
pub fn journal_diagram(name: &str, events: Vec<Event>) -> String {
    diagram(&Outcome {
        name: name.to_string(),
        file: String::new(),
        seed: 0,
        network: crate::core::network::NetworkKind::Loopback,
        duration: std::time::Duration::ZERO,
        failure: None,
        steps: Vec::new(),
        paused: None,
        tables_left_out_after: None,
        trace: events,
    })
}

/// The diagram of one scenario, with its size.
pub fn draw(outcome: &Outcome) -> Drawing {
    let columns = Columns::of(outcome);
    let (body, y) = draw_events(outcome, &columns);
    let foot = y + 10;
    let height = foot + HEAD + MARGIN;
    let svg = document(outcome, &columns, &body, foot, height);
    Drawing {
        svg,
        width: columns.width,
        height,
    }
}

/// Where the participants stand: their names, their lifelines' x and the drawing's width.
struct Columns {
    participants: Vec<String>,
    xs: Vec<i64>,
    width: i64,
}

impl Columns {
    /// The columns of one scenario's participants.
    fn of(outcome: &Outcome) -> Columns {
        let participants = outcome.participants();
        let xs = layout(&participants, outcome);
        let width = xs
            .last()
            .map_or(2 * MARGIN + COLUMN, |x| x + COLUMN / 2 + MARGIN);
        Columns {
            participants,
            xs,
            width,
        }
    }

    /// The x of a participant's lifeline, if it has one.
    fn x_of(&self, name: &str) -> Option<i64> {
        self.participants
            .iter()
            .position(|p| p == name)
            .and_then(|i| self.xs.get(i).copied())
    }

    /// Wide boxes (narration, divergence) span the accounts' lifelines, or the whole
    /// drawing when there are none.
    fn wide(&self) -> (i64, i64) {
        let accounts: Vec<i64> = self
            .participants
            .iter()
            .filter(|p| !is_user(p))
            .filter_map(|p| self.x_of(p))
            .collect();
        match (accounts.first(), accounts.last()) {
            (Some(&first), Some(&last)) => (first - COLUMN / 2 + 10, last + COLUMN / 2 - 10),
            _ => (MARGIN + 10, self.width - MARGIN - 10),
        }
    }
}

/// Where each step's separator goes: a step starts at its note (recorded just before its
/// first event) or at its first event; steps that left no trace get no separator.
fn step_starts(outcome: &Outcome) -> Vec<(u64, usize, &str)> {
    outcome
        .steps
        .iter()
        .filter(|s| s.note.is_some() || s.first_event <= s.last_event)
        .map(|s| {
            let start = if s.note.is_some() {
                s.first_event.saturating_sub(1)
            } else {
                s.first_event
            };
            (start, s.number, s.action.as_str())
        })
        .collect()
}

/// The diagram's body: step rules, arrows and boxes for every event, top to bottom; also
/// the y below the last of them.
fn draw_events(outcome: &Outcome, columns: &Columns) -> (String, i64) {
    let width = columns.width;
    let wide = columns.wide();
    let step_starts = step_starts(outcome);
    let mut body = String::new();
    let mut y = TOP + HEAD + 18;
    for event in &outcome.trace {
        if let Some((_, number, action)) = step_starts.iter().find(|(seq, ..)| *seq == event.seq) {
            y += 6;
            let _ = writeln!(
                body,
                "<g class=\"sd-step\" data-step=\"{number}\"><line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text x=\"{}\" y=\"{}\">step {number} · {}</text></g>",
                MARGIN,
                width - MARGIN,
                MARGIN + 2,
                y - 3,
                escape(action)
            );
            y += 12;
        }
        y = draw_event(&mut body, event, columns, wide, y);
    }
    if outcome.trace.is_empty() {
        let _ = writeln!(
            body,
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"middle\">nothing happened</text>",
            width / 2
        );
        y += LINE;
    }
    (body, y)
}

/// One event as an arrow or a box at `y`; returns the y below it (unchanged when the
/// event has no column to stand in).
fn draw_event(
    body: &mut String,
    event: &Event,
    columns: &Columns,
    wide: (i64, i64),
    y: i64,
) -> i64 {
    match event.kind {
        EventKind::Request | EventKind::Response => {
            let (Some(from), Some(to)) = (columns.x_of(&event.from), columns.x_of(&event.to))
            else {
                return y;
            };
            let style = ArrowStyle::of(event).unwrap_or(ArrowStyle::Call);
            arrow(body, event, style, from, to, y)
        }
        EventKind::Decision => {
            let Some(x) = columns.x_of(&event.from) else {
                return y;
            };
            let span = (x - COLUMN / 2 + 14, x + COLUMN / 2 - 14);
            note(body, event, NoteStyle::Decision, span, y)
        }
        EventKind::World => {
            // The runner records a divergence as a world event whose sentence starts
            // with "divergence"; it concerns both copies, so it spans the accounts.
            let divergence = event.detail.starts_with("divergence");
            let style = if divergence {
                NoteStyle::Divergence
            } else {
                NoteStyle::Fault
            };
            let span = match columns.x_of(&event.to) {
                Some(x) if !divergence => (x - COLUMN / 2 + 14, x + COLUMN / 2 - 14),
                _ => wide,
            };
            note(body, event, style, span, y)
        }
        EventKind::Note => note(body, event, NoteStyle::Narration, wide, y),
    }
}

/// The whole SVG document: title, style, lifelines, heads at top and foot, then `body`.
fn document(outcome: &Outcome, columns: &Columns, body: &str, foot: i64, height: i64) -> String {
    let width = columns.width;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sd\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Sequence diagram: {}\">",
        escape(&outcome.name)
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&outcome.name));
    let _ = writeln!(out, "<style>\n{STYLE}</style>");
    let _ = writeln!(
        out,
        "<rect class=\"sd-bg\" x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\"/>"
    );
    let _ = writeln!(
        out,
        "<text class=\"sd-title\" x=\"{MARGIN}\" y=\"{}\">{}</text>",
        MARGIN + 8,
        escape(&fit(&outcome.name, text_room(width - 2 * MARGIN) * 11 / 15))
    );
    for name in &columns.participants {
        let Some(x) = columns.x_of(name) else {
            continue;
        };
        let _ = writeln!(
            out,
            "<line class=\"sd-lifeline\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{foot}\"/>",
            TOP + HEAD
        );
    }
    for name in &columns.participants {
        let Some(x) = columns.x_of(name) else {
            continue;
        };
        head(&mut out, name, x, TOP);
        head(&mut out, name, x, foot);
    }
    out.push_str(body);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trace::Surface;

    #[test]
    fn escaping_covers_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>\u{1}ok"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;ok"
        );
    }

    #[test]
    fn long_text_wraps_at_words_and_is_cut_with_an_ellipsis() {
        assert_eq!(
            wrap("one two three four", 9, 3),
            vec!["one two", "three", "four"]
        );
        let lines = wrap("one two three four five six", 9, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
        assert!(lines.iter().all(|l| columns(l) <= 9), "{lines:?}");
        assert_eq!(wrap("abcdefghij", 4, 3), vec!["abcd", "efgh", "ij"]);
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }

    fn event(seq: u64, kind: EventKind, from: &str, to: &str, detail: &str) -> Event {
        Event {
            seq,
            at: "2026-01-01T09:00:00Z".to_string(),
            kind,
            surface: Some(Surface::Partner),
            from: from.to_string(),
            to: to.to_string(),
            method: Some("POST".to_string()),
            path: Some("/sharing/agreements/<x>&\"'".to_string()),
            status: None,
            outcome: Some("failed".to_string()),
            detail: detail.to_string(),
            delivery: None,
            wire: None,
        }
    }

    /// Reads `svg` with an XML parser to the end; the element names met, or the error.
    fn elements(svg: &str) -> Result<Vec<String>, quick_xml::Error> {
        let mut reader = quick_xml::Reader::from_str(svg);
        reader.config_mut().check_end_names = true;
        let mut names = Vec::new();
        loop {
            match reader.read_event()? {
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                    names.push(String::from_utf8_lossy(e.name().as_ref().as_bytes()).into_owned());
                }
                quick_xml::events::Event::Eof => return Ok(names),
                _ => {}
            }
        }
    }

    #[test]
    fn hostile_text_stays_text_and_the_document_stays_well_formed() {
        let hostile = "<script>alert(1)</script> ]]> \u{1} \"quoted\" 'single' & 日本語 🚀";
        let outcome = Outcome {
            network: crate::core::network::NetworkKind::Simulated,
            name: hostile.to_string(),
            file: "x.toml".to_string(),
            seed: 0,
            duration: std::time::Duration::ZERO,
            failure: None,
            steps: Vec::new(),
            paused: None,
            tables_left_out_after: None,
            trace: vec![
                event(1, EventKind::Request, "a<b>@x.test", "acme&co", hostile),
                event(2, EventKind::Response, "acme&co", "a<b>@x.test", hostile),
                event(3, EventKind::Decision, "acme&co", "acme&co", hostile),
                event(4, EventKind::World, "world", "acme&co", hostile),
                event(5, EventKind::Note, "scenario", "scenario", hostile),
            ],
        };
        let svg = diagram(&outcome);
        let names = elements(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert!(names.iter().all(|n| n != "script"), "{names:?}");
        assert!(!svg.contains("<script"));
        assert!(!svg.contains('\u{1}'));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn every_arrow_style_draws_its_own_shape() {
        let message = event(7, EventKind::Request, "acme", "globex", "hello");
        for style in [
            ArrowStyle::Call,
            ArrowStyle::Reply,
            ArrowStyle::Failed,
            ArrowStyle::Held,
            ArrowStyle::Duplicated,
            ArrowStyle::Lost,
        ] {
            let mut out = String::new();
            let next = arrow(&mut out, &message, style, 100, 380, 50);
            assert!(next > 50);
            assert!(out.contains(style.class()), "{out}");
            elements(&format!("<svg>{out}</svg>")).unwrap_or_else(|e| panic!("{style:?}: {e}"));
            let lines = out.matches("<line ").count();
            let expected_lines = if style == ArrowStyle::Duplicated {
                2
            } else {
                1
            };
            assert_eq!(lines, expected_lines, "{style:?}: {out}");
            match style {
                ArrowStyle::Lost => assert!(out.contains("x2=\"240\""), "stops halfway: {out}"),
                ArrowStyle::Held => assert!(out.contains("⏸ held"), "{out}"),
                _ => assert!(out.contains("x2=\"379\""), "reaches the lifeline: {out}"),
            }
        }
    }

    #[test]
    fn lifelines_make_room_for_the_labels_between_them() {
        let long = "a detail much longer than any label line may be, so it must wrap";
        let trace = vec![
            event(1, EventKind::Request, "a@x.test", "acme", "x"),
            event(2, EventKind::Request, "acme", "globex", long),
            event(3, EventKind::Request, "a@x.test", "globex", "y"),
            event(
                4,
                EventKind::Decision,
                "initech",
                "initech",
                "idle neighbour",
            ),
        ];
        let outcome = Outcome {
            network: crate::core::network::NetworkKind::Simulated,
            name: "layout".to_string(),
            file: "x.toml".to_string(),
            seed: 0,
            duration: std::time::Duration::ZERO,
            failure: None,
            steps: Vec::new(),
            trace,
            paused: None,
            tables_left_out_after: None,
        };
        let people = outcome.participants();
        assert_eq!(people, ["a@x.test", "acme", "globex", "initech"]);
        let xs = layout(&people, &outcome);
        assert_eq!(xs[0], MARGIN + COLUMN / 2);
        assert!(
            xs.windows(2).all(|pair| pair[1] - pair[0] >= MIN_GAP),
            "{xs:?}"
        );
        for e in outcome
            .trace
            .iter()
            .filter(|e| e.kind == EventKind::Request)
        {
            let at = |name: &str| xs[people.iter().position(|p| p == name).unwrap()];
            let span = (at(&e.to) - at(&e.from)).abs();
            assert!(
                span >= label_need(e),
                "{}: {span} < {}",
                e.seq,
                label_need(e)
            );
        }
        // Nothing is sent to or from initech, so it sits as close as its box allows.
        assert_eq!(xs[3] - xs[2], MIN_GAP);
    }

    #[test]
    fn wide_characters_take_two_cells() {
        assert_eq!(columns("ab"), 2);
        assert_eq!(columns("日本"), 4);
    }
}
