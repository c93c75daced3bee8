//! How things look: the arrows, notes and participant boxes, their styles, and the
//! escaping every piece of text goes through.

use super::layout::*;
use crate::core::trace::{Delivery, Event, EventKind, Surface};
use std::fmt::Write;

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

    pub(super) fn class(self) -> &'static str {
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
pub(super) enum NoteStyle {
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
pub(super) const STYLE: &str = "\
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

/// A participant's box, at the top or the foot of its lifeline.
pub(super) fn head(out: &mut String, name: &str, x: i64, y: i64) {
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

/// Draws one message (label above, arrow below) and returns the next free `y`.
pub(super) fn arrow(
    out: &mut String,
    event: &Event,
    style: ArrowStyle,
    from: i64,
    to: i64,
    y: i64,
) -> i64 {
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
pub(super) fn arrowhead(style: ArrowStyle, from: i64, end: i64, y: i64) -> String {
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
pub(super) fn note(
    out: &mut String,
    event: &Event,
    style: NoteStyle,
    span: (i64, i64),
    y: i64,
) -> i64 {
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
