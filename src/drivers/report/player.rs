//! The step-through player of the HTML report (`run --html`, `explain --html`) and of
//! the lessons: next, previous, first and last step (buttons and keys), the diagram
//! scrolled to and highlighting the current step, each account's agreements and tickets
//! as they were after it, the status grid's pair at that step, and the whole exchange
//! behind any arrow (method, path, the headers that matter, both bodies).
//!
//! The page stays one self-contained file: the script is inline and allowed by its
//! hash in the page's Content-Security-Policy; its data is one JSON island per scenario
//! (`<script type="application/json">`, never executed). The data is linear in the
//! trace: each message once, each step's event range once; the state after each step
//! is read from the step list the page already holds (only changed states are printed
//! there), so nothing is repeated per step. Without script the page reads as before.

use super::svg::escape;
use crate::core::trace::EventKind;
use crate::drivers::scenario::outcome::Outcome;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The player's script, shared by reports (inline) and lesson pages (served).
pub const SCRIPT: &str = include_str!("player/player.js");
/// The player's styles.
pub const STYLE: &str = include_str!("player/player.css");

/// The Content-Security-Policy source that allows exactly [`SCRIPT`] inline.
pub fn script_source() -> String {
    let digest = Sha256::digest(SCRIPT.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The player's controls for the section `id`; hidden until the script shows them.
pub fn controls(id: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<div class=\"player\" id=\"{id}-player\" hidden>\n\
<div class=\"player-bar\" role=\"toolbar\" aria-label=\"Step through the scenario\">\
<button type=\"button\" data-go=\"first\" title=\"First step (Home)\">«<span class=\"wide-only\"> first</span></button>\
<button type=\"button\" data-go=\"prev\" title=\"Previous step (← or p)\">◀<span class=\"wide-only\"> previous</span></button>\
<span class=\"player-position\" aria-live=\"polite\"></span>\
<button type=\"button\" data-go=\"next\" title=\"Next step (→ or n)\"><span class=\"wide-only\">next </span>▶</button>\
<button type=\"button\" data-go=\"last\" title=\"Last step (End)\"><span class=\"wide-only\">last </span>»</button>\
<span class=\"player-keys\">keys: ← → Home End · click an arrow for its exchange</span></div>\n\
<div class=\"player-body\"><div class=\"player-step\"></div><div class=\"player-state\"></div></div>\n\
</div>\n"
    );
    out
}

/// The JSON island the player reads for one scenario: its steps' event ranges and
/// every message with its exchange. Serialised straight from the outcome (no JSON tree
/// of every message in between), so a long run costs the island's text only.
pub fn data(id: &str, outcome: &Outcome, gate: Option<usize>) -> String {
    let island = Island {
        id,
        steps: outcome
            .steps
            .iter()
            .map(|step| StepData {
                n: step.number,
                first: step.first_event,
                last: step.last_event,
                note: step.note.is_some(),
            })
            .collect(),
        messages: outcome
            .trace
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Request | EventKind::Response))
            .map(|event| Message {
                seq: event.seq,
                kind: if event.kind == EventKind::Request {
                    "request"
                } else {
                    "response"
                },
                from: &event.from,
                to: &event.to,
                method: &event.method,
                path: &event.path,
                status: event.status,
                outcome: &event.outcome,
                detail: &event.detail,
                delivery: event.delivery,
                wire: event.wire.as_deref().map(|wire| WireData {
                    answers: wire.answers,
                    headers: &wire.headers,
                    body: String::from_utf8_lossy(&wire.body),
                    full_length: wire.full_length,
                }),
            })
            .collect(),
        gate,
    };
    let json = serde_json::to_string(&island).unwrap_or_default();
    format!(
        "<script type=\"application/json\" class=\"player-data\" id=\"{}-data\">{}</script>\n",
        escape(id),
        script_safe(&json)
    )
}

/// The island's shape (keys in the order the player has always read them).
#[derive(Serialize)]
struct Island<'a> {
    id: &'a str,
    steps: Vec<StepData>,
    messages: Vec<Message<'a>>,
    gate: Option<usize>,
}

#[derive(Serialize)]
struct StepData {
    n: usize,
    first: u64,
    last: u64,
    note: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    seq: u64,
    kind: &'static str,
    from: &'a str,
    to: &'a str,
    method: &'a Option<String>,
    path: &'a Option<String>,
    status: Option<u16>,
    outcome: &'a Option<String>,
    detail: &'a str,
    delivery: Option<crate::core::trace::Delivery>,
    #[serde(flatten)]
    wire: Option<WireData<'a>>,
}

#[derive(Serialize)]
struct WireData<'a> {
    answers: Option<u64>,
    headers: &'a [(&'static str, std::borrow::Cow<'static, str>)],
    body: std::borrow::Cow<'a, str>,
    full_length: Option<usize>,
}

/// JSON that cannot end its `<script>` element or open a comment in it: `<`, `>` and
/// `&` only occur inside JSON strings, where their `\u` escapes mean the same.
pub fn script_safe(json: &str) -> String {
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            c => safe.push(c),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_island_cannot_break_out_of_its_script_element() {
        let text = json!({"body": "</script><script>alert(1)</script> <!-- &"}).to_string();
        let safe = script_safe(&text);
        assert!(!safe.contains("</script"));
        assert!(!safe.contains("<!--"));
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["body"], "</script><script>alert(1)</script> <!-- &");
    }

    #[test]
    fn the_policy_names_the_script_by_its_hash() {
        let source = script_source();
        assert!(
            source.starts_with("'sha256-") && source.ends_with("='"),
            "{source}"
        );
        assert_eq!(source.len(), "'sha256-'".len() + 44);
    }
}
