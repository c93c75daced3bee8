//! `--diagram-format svg` and the HTML report's pictures: a sequence diagram that
//! sharesim draws itself from the trace, so nobody needs Mermaid, a script or a network
//! to see a handshake. One column per user and account; REST and partner arrows with
//! method, path and status; failed deliveries end in a cross labelled with their cause;
//! decisions, faults, divergences and the steps' notes are boxes on the lifelines.
//!
//! The output is a function of the trace alone (no clock, no ports added, integer
//! coordinates), so it can be a golden file. Every piece of text is escaped; the full
//! text of a shortened label is kept in a `<title>` the browser shows on hover.

use super::{delivery_mark, shorten_path};
use crate::scenario::outcome::Outcome;
use crate::trace::{Delivery, Event, EventKind, Surface};
use std::fmt::Write;

/// Room for one lifeline's boxes: a decision note is this wide (less a small margin),
/// and the first and last lifelines keep half of it outside them.
const COLUMN: i64 = 280;
/// The closest two neighbouring lifelines get, when no message between them needs more.
const MIN_GAP: i64 = 150;
/// Characters of an arrow's widest label line that the layout makes room for; longer
/// labels wrap.
const LABEL_CELLS: usize = 38;
/// Space around the drawing.
const MARGIN: i64 = 20;
/// Height of a participant's box.
const HEAD: i64 = 34;
/// Height of one line of label text.
const LINE: i64 = 14;
/// Width of one character of label text, in tenths of a pixel (11px monospace).
const CHAR_TENTHS: i64 = 66;
/// Lines kept in an arrow's label or a note before the rest is cut (and left to the
/// hover title).
const MAX_LINES: usize = 3;
/// Lines kept in a failed arrow's label: the cause is the point of the picture.
const MAX_CAUSE_LINES: usize = 5;
/// Where the first participant row starts (below the title).
const TOP: i64 = 44;

/// How a message's arrow is drawn. Each kind has its own look (and CSS class), so a
/// reader tells a refusal from a message that was never answered at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrowStyle {
    /// A request: solid line, filled head.
    Call,
    /// An answer that arrived with a 1xx–3xx status: dashed line, open head.
    Reply,
    /// A refusal or a failed delivery (no answer, 4xx/5xx, a recorded cause): red, ending
    /// in a cross.
    Failed,
    /// A message the transport holds back before delivering it: dotted, with a pause
    /// mark halfway. Drawn once the trace records held messages (the scheduler's gate).
    Held,
    /// A message delivered twice: drawn with a second, offset line.
    Duplicated,
    /// A message that never arrived: the line stops halfway, ending in a cross.
    Lost,
}

impl ArrowStyle {
    /// The style of a request or response event (None for other kinds).
    ///
    /// This is the one place that maps what the scheduler did to a message (held,
    /// parked beside a group's messages, duplicated, its reply lost) to its look.
    pub fn of(event: &Event) -> Option<ArrowStyle> {
        match (event.kind, event.delivery) {
            (EventKind::Request, Some(Delivery::Held | Delivery::Crossing)) => {
                Some(ArrowStyle::Held)
            }
            (EventKind::Request, Some(Delivery::Duplicated)) => Some(ArrowStyle::Duplicated),
            (EventKind::Response, Some(Delivery::Lost)) => Some(ArrowStyle::Lost),
            (EventKind::Request, _) => Some(ArrowStyle::Call),
            (EventKind::Response, _) => {
                let failed = event.outcome.is_some() || event.status.is_none_or(|s| s >= 400);
                Some(if failed {
                    ArrowStyle::Failed
                } else {
                    ArrowStyle::Reply
                })
            }
            (_, _) => None,
        }
    }

    fn class(self) -> &'static str {
        match self {
            ArrowStyle::Call => "sd-call",
            ArrowStyle::Reply => "sd-reply",
            ArrowStyle::Failed => "sd-failed",
            ArrowStyle::Held => "sd-held",
            ArrowStyle::Duplicated => "sd-duplicated",
            ArrowStyle::Lost => "sd-lost",
        }
    }
}

/// The look of a box drawn on the lifelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoteStyle {
    /// A scenario step's narration.
    Narration,
    /// An account's decision.
    Decision,
    /// Something done to the world: a fault, a certificate, a restart.
    Fault,
    /// The two copies of an agreement disagree.
    Divergence,
}

impl NoteStyle {
    fn class(self) -> &'static str {
        match self {
            NoteStyle::Narration => "sd-note sd-narration",
            NoteStyle::Decision => "sd-note sd-decision",
            NoteStyle::Fault => "sd-note sd-fault",
            NoteStyle::Divergence => "sd-note sd-divergence",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            NoteStyle::Narration | NoteStyle::Decision => "",
            NoteStyle::Fault => "⚡ ",
            NoteStyle::Divergence => "⚠ ",
        }
    }
}

/// The styles every diagram carries, scoped by the `sd-` prefix so that several
/// diagrams inline in one HTML page share them without clashing with the page.
const STYLE: &str = "\
.sd-bg{fill:#ffffff}
.sd text{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px;fill:#1f2937}
.sd .sd-title{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:15px;font-weight:600}
.sd .sd-head text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;font-weight:600}
.sd-head rect{fill:#eef2ff;stroke:#4f46e5;stroke-width:1.2}
.sd-head.sd-user rect{fill:#f0fdf4;stroke:#16a34a}
.sd-lifeline{stroke:#9ca3af;stroke-width:1;stroke-dasharray:4 4}
.sd-step line{stroke:#d1d5db;stroke-width:1}
.sd .sd-step text{fill:#6b7280;font-size:10px}
.sd-msg line,.sd-msg path{stroke:#374151;stroke-width:1.4;fill:none}
.sd-msg .sd-head-fill{fill:#374151}
.sd-partner line,.sd-partner path{stroke:#4f46e5}
.sd-partner .sd-head-fill{fill:#4f46e5}
.sd-reply line{stroke-dasharray:6 4}
.sd-failed line,.sd-failed path,.sd-lost line,.sd-lost path{stroke:#dc2626}
.sd-failed line{stroke-dasharray:6 4}
.sd .sd-failed text,.sd .sd-lost text{fill:#b91c1c}
.sd-held line{stroke:#d97706;stroke-dasharray:2 3}
.sd-duplicated line{stroke-width:1.2}
.sd .sd-status{font-weight:700}
.sd .sd-detail{fill:#6b7280}
.sd-note rect{stroke-width:1}
.sd-narration rect{fill:#f3f4f6;stroke:#d1d5db}
.sd .sd-narration text{font-style:italic;fill:#374151}
.sd-decision rect{fill:#fefce8;stroke:#eab308}
.sd-fault rect{fill:#fff7ed;stroke:#ea580c}
.sd-divergence rect{fill:#fef2f2;stroke:#dc2626;stroke-width:2}
.sd .sd-divergence text{fill:#b91c1c;font-weight:700}
@media screen and (prefers-color-scheme:dark){
.sd-bg{fill:#111827}
.sd text{fill:#e5e7eb}
.sd-head rect{fill:#1e1b4b;stroke:#818cf8}
.sd-head.sd-user rect{fill:#052e16;stroke:#4ade80}
.sd-lifeline{stroke:#6b7280}
.sd-step line{stroke:#374151}
.sd .sd-step text,.sd .sd-detail{fill:#9ca3af}
.sd-msg line,.sd-msg path{stroke:#d1d5db}
.sd-msg .sd-head-fill{fill:#d1d5db}
.sd-partner line,.sd-partner path{stroke:#a5b4fc}
.sd-partner .sd-head-fill{fill:#a5b4fc}
.sd-failed line,.sd-failed path,.sd-lost line,.sd-lost path{stroke:#f87171}
.sd .sd-failed text,.sd .sd-lost text,.sd .sd-divergence text{fill:#fca5a5}
.sd-narration rect{fill:#1f2937;stroke:#4b5563}
.sd .sd-narration text{fill:#d1d5db}
.sd-decision rect{fill:#422006;stroke:#ca8a04}
.sd-fault rect{fill:#431407;stroke:#ea580c}
.sd-divergence rect{fill:#450a0a;stroke:#f87171}
}
";

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
        network: crate::network::NetworkKind::Loopback,
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
    let participants = outcome.participants();
    let xs = layout(&participants, outcome);
    let width = xs
        .last()
        .map_or(2 * MARGIN + COLUMN, |x| x + COLUMN / 2 + MARGIN);
    let x_of = |name: &str| -> Option<i64> {
        participants
            .iter()
            .position(|p| p == name)
            .and_then(|i| xs.get(i).copied())
    };
    let accounts: Vec<i64> = participants
        .iter()
        .filter(|p| !is_user(p))
        .filter_map(|p| x_of(p))
        .collect();
    // Wide boxes (narration, divergence) span the accounts' lifelines, or the whole
    // drawing when there are none.
    let wide = match (accounts.first(), accounts.last()) {
        (Some(&first), Some(&last)) => (first - COLUMN / 2 + 10, last + COLUMN / 2 - 10),
        _ => (MARGIN + 10, width - MARGIN - 10),
    };
    // A step starts at its note (recorded just before its first event) or at its first
    // event; steps that left no trace get no separator.
    let step_starts: Vec<(u64, usize, &str)> = outcome
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
        .collect();

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
        match event.kind {
            EventKind::Request | EventKind::Response => {
                let (Some(from), Some(to)) = (x_of(&event.from), x_of(&event.to)) else {
                    continue;
                };
                let style = ArrowStyle::of(event).unwrap_or(ArrowStyle::Call);
                y = arrow(&mut body, event, style, from, to, y);
            }
            EventKind::Decision => {
                let Some(x) = x_of(&event.from) else { continue };
                let span = (x - COLUMN / 2 + 14, x + COLUMN / 2 - 14);
                y = note(&mut body, event, NoteStyle::Decision, span, y);
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
                let span = match x_of(&event.to) {
                    Some(x) if !divergence => (x - COLUMN / 2 + 14, x + COLUMN / 2 - 14),
                    _ => wide,
                };
                y = note(&mut body, event, style, span, y);
            }
            EventKind::Note => {
                y = note(&mut body, event, NoteStyle::Narration, wide, y);
            }
        }
    }
    if outcome.trace.is_empty() {
        let _ = writeln!(
            body,
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"middle\">nothing happened</text>",
            width / 2
        );
        y += LINE;
    }
    let foot = y + 10;
    let height = foot + HEAD + MARGIN;

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
    for name in &participants {
        let Some(x) = x_of(name) else { continue };
        let _ = writeln!(
            out,
            "<line class=\"sd-lifeline\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{foot}\"/>",
            TOP + HEAD
        );
    }
    for name in &participants {
        let Some(x) = x_of(name) else { continue };
        head(&mut out, name, x, TOP);
        head(&mut out, name, x, foot);
    }
    out.push_str(&body);
    out.push_str("</svg>\n");
    Drawing {
        svg: out,
        width,
        height,
    }
}

/// Where each participant's lifeline stands. Neighbours sit as close as their boxes
/// allow, then every message widens the gaps it spans until its label fits, shortest
/// spans first (so a long arrow profits from the room short ones made).
fn layout(participants: &[String], outcome: &Outcome) -> Vec<i64> {
    if participants.is_empty() {
        return Vec::new();
    }
    let boxes: Vec<i64> = participants.iter().map(|p| head_box(p).1).collect();
    let mut gaps: Vec<i64> = boxes
        .windows(2)
        .map(|pair| ((pair[0] + pair[1]) / 2 + 16).max(MIN_GAP))
        .collect();
    let index = |name: &str| participants.iter().position(|p| p == name);
    let mut spans: Vec<(usize, usize, i64)> = outcome
        .trace
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Request | EventKind::Response))
        .filter_map(|e| {
            let (a, b) = (index(&e.from)?, index(&e.to)?);
            (a != b).then(|| (a.min(b), a.max(b), label_need(e)))
        })
        .collect();
    spans.sort_by_key(|&(low, high, _)| (high - low, low));
    for (low, high, need) in spans {
        let have: i64 = gaps[low..high].iter().sum();
        if have < need {
            let count = (high - low) as i64;
            let extra = (need - have + count - 1) / count;
            for gap in &mut gaps[low..high] {
                *gap += extra;
            }
        }
    }
    let mut xs = vec![MARGIN + COLUMN / 2];
    for gap in gaps {
        let last = xs.last().copied().unwrap_or(MARGIN + COLUMN / 2);
        xs.push(last + gap);
    }
    xs
}

/// The width an arrow's label asks between its two lifelines.
fn label_need(event: &Event) -> i64 {
    let (headline, detail) = label_text(event);
    let cells = columns(&headline).max(columns(&detail)).min(LABEL_CELLS);
    (cells as i64 * CHAR_TENTHS + 9) / 10 + 24
}

/// An arrow's first label line (what was called, or what came back) and its detail.
fn label_text(event: &Event) -> (String, String) {
    let method = event.method.as_deref().unwrap_or("");
    let path = shorten_path(event.path.as_deref().unwrap_or(""));
    let headline = match event.kind {
        EventKind::Request => format!("{}{method} {path}", delivery_mark(event.delivery)),
        _ => {
            let status = event
                .status
                .map_or_else(|| "no answer".to_string(), |s| s.to_string());
            let outcome = event
                .outcome
                .as_deref()
                .map_or(String::new(), |o| format!(" ⇒ {o}"));
            format!("{}{status}{outcome}", delivery_mark(event.delivery))
        }
    };
    (headline, one_line(&event.detail))
}

/// Users are named by email; accounts by subdomain.
fn is_user(name: &str) -> bool {
    name.contains('@')
}

/// A participant's box, at the top or the foot of its lifeline.
fn head(out: &mut String, name: &str, x: i64, y: i64) {
    let user = is_user(name);
    let (label, box_width) = head_box(name);
    let radius = if user { HEAD / 2 } else { 5 };
    let class = if user { "sd-head sd-user" } else { "sd-head" };
    let _ = writeln!(
        out,
        "<g class=\"{class}\"><rect x=\"{}\" y=\"{y}\" width=\"{box_width}\" height=\"{HEAD}\" rx=\"{radius}\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
        x - box_width / 2,
        y + HEAD / 2 + 5,
        escape(&label)
    );
}

/// A participant's label (shortened to fit) and the width of its box.
fn head_box(name: &str) -> (String, i64) {
    let label = fit(name, text_room(COLUMN - 40) * 11 / 13);
    let width = (text_width(&label) * 13 / 11 + 24).clamp(90, COLUMN - 20);
    (label, width)
}

/// Draws one message (label above, arrow below) and returns the next free `y`.
fn arrow(out: &mut String, event: &Event, style: ArrowStyle, from: i64, to: i64, y: i64) -> i64 {
    let surface = match event.surface {
        Some(Surface::Partner) => "sd-partner",
        _ => "sd-rest",
    };
    let self_call = from == to;
    let room = if self_call {
        text_room(COLUMN - 40)
    } else {
        text_room((to - from).abs() - 24)
    };
    let (headline, detail) = label_text(event);
    let mut lines = vec![fit(&headline, room)];
    let max_lines = match style {
        ArrowStyle::Failed | ArrowStyle::Lost => MAX_CAUSE_LINES,
        _ => MAX_LINES,
    };
    let detail_lines = wrap(&detail, room, max_lines - 1);
    let full = if detail.is_empty() {
        headline.clone()
    } else {
        format!("{headline} — {detail}")
    };
    lines.extend(detail_lines);
    let label_height = lines.len() as i64 * LINE;
    let line_y = y + label_height + 4;
    let _ = write!(
        out,
        "<g class=\"sd-msg {surface} {}\" data-seq=\"{}\" data-kind=\"{}\"><title>{}</title>",
        style.class(),
        event.seq,
        match event.kind {
            EventKind::Request => "request",
            _ => "response",
        },
        escape(&format!("{} → {}: {full}", event.from, event.to))
    );
    let center = if self_call {
        from + COLUMN / 2 - 20
    } else {
        (from + to) / 2
    };
    for (i, text) in lines.iter().enumerate() {
        let class = if i == 0 { "sd-status" } else { "sd-detail" };
        let _ = write!(
            out,
            "<text class=\"{class}\" x=\"{center}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            y + (i as i64 + 1) * LINE - 3,
            escape(text)
        );
    }
    if self_call {
        let _ = write!(
            out,
            "<path d=\"M {from} {line_y} h 30 v 14 h -30\"/>{}",
            arrowhead(style, from, from + 30, line_y + 14)
        );
        out.push_str("</g>\n");
        return line_y + 26;
    }
    let direction = if to > from { 1 } else { -1 };
    // A lost message stops halfway; every other one reaches its lifeline.
    let end = match style {
        ArrowStyle::Lost => (from + to) / 2,
        _ => to - direction,
    };
    let _ = write!(
        out,
        "<line x1=\"{from}\" y1=\"{line_y}\" x2=\"{end}\" y2=\"{line_y}\"/>"
    );
    match style {
        ArrowStyle::Duplicated => {
            let _ = write!(
                out,
                "<line x1=\"{from}\" y1=\"{}\" x2=\"{end}\" y2=\"{}\"/>{}",
                line_y + 5,
                line_y + 5,
                arrowhead(style, from, end, line_y + 5)
            );
        }
        ArrowStyle::Held => {
            let mid = (from + to) / 2;
            let _ = write!(
                out,
                "<text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">⏸ held</text>",
                line_y + LINE
            );
        }
        _ => {}
    }
    out.push_str(&arrowhead(style, from, end, line_y));
    out.push_str("</g>\n");
    line_y + 16
}

/// The head of an arrow from `from` ending at `end`: filled for a call, open for an
/// answer, a cross for a failure.
fn arrowhead(style: ArrowStyle, from: i64, end: i64, y: i64) -> String {
    let direction = if end >= from { 1 } else { -1 };
    let back = end - 9 * direction;
    match style {
        ArrowStyle::Failed | ArrowStyle::Lost => {
            let c = end - 6 * direction;
            format!(
                "<path d=\"M {} {} L {} {} M {} {} L {} {}\"/>",
                c - 5,
                y - 5,
                c + 5,
                y + 5,
                c - 5,
                y + 5,
                c + 5,
                y - 5
            )
        }
        ArrowStyle::Reply => format!(
            "<path d=\"M {back} {} L {end} {y} L {back} {}\"/>",
            y - 5,
            y + 5
        ),
        ArrowStyle::Call | ArrowStyle::Held | ArrowStyle::Duplicated => format!(
            "<path class=\"sd-head-fill\" d=\"M {end} {y} L {back} {} L {back} {} Z\"/>",
            y - 5,
            y + 5
        ),
    }
}

/// Draws a box spanning `left..right` with the event's text and returns the next free `y`.
fn note(out: &mut String, event: &Event, style: NoteStyle, span: (i64, i64), y: i64) -> i64 {
    let (left, right) = span;
    let text = format!("{}{}", style.mark(), event.detail);
    let lines = wrap(&text, text_room(right - left - 16), MAX_LINES + 1);
    let height = lines.len().max(1) as i64 * LINE + 8;
    let top = y + 2;
    let _ = write!(
        out,
        "<g class=\"{}\" data-seq=\"{}\"><title>{}</title><rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{height}\" rx=\"3\"/>",
        style.class(),
        event.seq,
        escape(&text),
        right - left
    );
    let center = (left + right) / 2;
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{center}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            top + 4 + (i as i64 + 1) * LINE - 3,
            escape(line)
        );
    }
    out.push_str("</g>\n");
    top + height + 6
}

/// How many characters of label text fit in `pixels`.
fn text_room(pixels: i64) -> usize {
    (pixels.max(0) * 10 / CHAR_TENTHS).max(8) as usize
}

/// The drawn width of `text`, in pixels of label text.
fn text_width(text: &str) -> i64 {
    (columns(text) as i64 * CHAR_TENTHS + 9) / 10
}

/// Character cells a text takes: East Asian and emoji characters take two.
fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

fn char_columns(c: char) -> usize {
    if (c as u32) >= 0x2E80 { 2 } else { 1 }
}

/// `text` cut to `room` cells, ending in `…` when it was longer.
fn fit(text: &str, room: usize) -> String {
    let text = one_line(text);
    if columns(&text) <= room {
        return text;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + char_columns(c) + 1 > room {
            break;
        }
        used += char_columns(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Word-wraps `text` into at most `max_lines` lines of `room` cells; the last line ends
/// in `…` when text was left over. Words longer than a line are split.
fn wrap(text: &str, room: usize, max_lines: usize) -> Vec<String> {
    let text = one_line(text);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let needed = columns(word) + usize::from(!current.is_empty());
        if columns(&current) + needed <= room {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // A word wider than a line is split into pieces of `room` cells.
        let mut piece = String::new();
        for c in word.chars() {
            if columns(&piece) + char_columns(c) > room {
                lines.push(std::mem::take(&mut piece));
            }
            piece.push(c);
        }
        current = piece;
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            *last = fit(&format!("{last} …"), room);
            if !last.ends_with('…') {
                last.push('…');
            }
        }
    }
    lines
}

/// Newlines and tabs become spaces: a label is drawn line by line by `wrap`.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect()
}

/// Text safe inside XML character data and attribute values: markup characters
/// escaped, characters XML 1.0 cannot carry at all dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            network: crate::network::NetworkKind::Simulated,
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
            network: crate::network::NetworkKind::Simulated,
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
