//! Where things go: the lifelines' columns, and how much label text fits between them
//! (measured in character cells, wrapped and cut to a few lines).

use crate::core::trace::{Event, EventKind};
use crate::drivers::report::{delivery_mark, shorten_path};
use crate::drivers::scenario::outcome::Outcome;

/// Room for one lifeline's boxes: a decision note is this wide (less a small margin),
/// and the first and last lifelines keep half of it outside them.
pub(super) const COLUMN: i64 = 280;
/// The closest two neighbouring lifelines get, when no message between them needs more.
pub(super) const MIN_GAP: i64 = 150;
/// Characters of an arrow's widest label line that the layout makes room for; longer
/// labels wrap.
pub(super) const LABEL_CELLS: usize = 38;
/// Space around the drawing.
pub(super) const MARGIN: i64 = 20;
/// Height of a participant's box.
pub(super) const HEAD: i64 = 34;
/// Height of one line of label text.
pub(super) const LINE: i64 = 14;
/// Width of one character of label text, in tenths of a pixel (11px monospace).
pub(super) const CHAR_TENTHS: i64 = 66;
/// Lines kept in an arrow's label or a note before the rest is cut (and left to the
/// hover title).
pub(super) const MAX_LINES: usize = 3;
/// Lines kept in a failed arrow's label: the cause is the point of the picture.
pub(super) const MAX_CAUSE_LINES: usize = 5;
/// Where the first participant row starts (below the title).
pub(super) const TOP: i64 = 44;

/// Where each participant's lifeline stands. Neighbours sit as close as their boxes
/// allow, then every message widens the gaps it spans until its label fits, shortest
/// spans first (so a long arrow profits from the room short ones made).
pub(super) fn layout(participants: &[String], outcome: &Outcome) -> Vec<i64> {
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
pub(super) fn label_need(event: &Event) -> i64 {
    let (headline, detail) = label_text(event);
    let cells = columns(&headline).max(columns(&detail)).min(LABEL_CELLS);
    (cells as i64 * CHAR_TENTHS + 9) / 10 + 24
}

/// An arrow's first label line (what was called, or what came back) and its detail.
pub(super) fn label_text(event: &Event) -> (String, String) {
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
pub(super) fn is_user(name: &str) -> bool {
    name.contains('@')
}

/// How many characters of label text fit in `pixels`.
pub(super) fn text_room(pixels: i64) -> usize {
    (pixels.max(0) * 10 / CHAR_TENTHS).max(8) as usize
}

/// The drawn width of `text`, in pixels of label text.
pub(super) fn text_width(text: &str) -> i64 {
    (columns(text) as i64 * CHAR_TENTHS + 9) / 10
}

/// Character cells a text takes: East Asian and emoji characters take two.
pub(super) fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

pub(super) fn char_columns(c: char) -> usize {
    if (c as u32) >= 0x2E80 { 2 } else { 1 }
}

/// `text` cut to `room` cells, ending in `…` when it was longer.
pub(super) fn fit(text: &str, room: usize) -> String {
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
pub(super) fn wrap(text: &str, room: usize, max_lines: usize) -> Vec<String> {
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
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect()
}

/// A participant's label (shortened to fit) and the width of its box.
pub(super) fn head_box(name: &str) -> (String, i64) {
    let label = fit(name, text_room(COLUMN - 40) * 11 / 13);
    let width = (text_width(&label) * 13 / 11 + 24).clamp(90, COLUMN - 20);
    (label, width)
}
