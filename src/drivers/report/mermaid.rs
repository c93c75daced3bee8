//! `--diagram-dir DIR`: a Mermaid `sequenceDiagram` per scenario, showing every REST call
//! and partner message with its status, each account's decisions, and the steps' notes.
//! Failed deliveries are crossed arrows labelled with their cause.

use super::{delivery_mark, shorten_path};
use crate::core::trace::{Delivery, EventKind, Surface};
use crate::drivers::scenario::outcome::Outcome;
use std::fmt::Write;

/// Longest label kept on an arrow or note.
const MAX_LABEL: usize = 140;

/// The diagram text for one scenario.
pub fn diagram(outcome: &Outcome) -> String {
    let participants = outcome.participants();
    let id = |name: &str| participant_id(name);
    let accounts: Vec<&String> = participants.iter().filter(|p| !p.contains('@')).collect();
    let span = match (accounts.first(), accounts.last()) {
        (Some(first), Some(last)) if first != last => format!("{},{}", id(first), id(last)),
        (Some(first), _) => id(first),
        _ => String::new(),
    };
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(out, "    title {}", label(&outcome.name));
    for name in &participants {
        let keyword = if name.contains('@') {
            "actor"
        } else {
            "participant"
        };
        let _ = writeln!(out, "    {keyword} {} as {}", id(name), label(name));
    }
    for event in &outcome.trace {
        let method = event.method.as_deref().unwrap_or("");
        let path = shorten_path(event.path.as_deref().unwrap_or(""));
        let line = match event.kind {
            EventKind::Note if !span.is_empty() => {
                format!("Note over {span}: {}", label(&event.detail))
            }
            EventKind::Note => continue,
            EventKind::Request => {
                let detail = if event.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", event.detail)
                };
                // A message waiting in flight is an open (async) arrow; every other
                // request a solid one.
                let arrow = match event.delivery {
                    Some(Delivery::Held | Delivery::Crossing) => "-)",
                    _ => "->>",
                };
                format!(
                    "{}{arrow}{}: {}{method} {path}{detail}",
                    id(&event.from),
                    id(&event.to),
                    delivery_mark(event.delivery)
                )
            }
            EventKind::Response => {
                let failed = event.outcome.is_some() || event.status.is_none_or(|s| s >= 400);
                let status = event.status.map_or(String::new(), |s| format!("{s} "));
                let outcome_text = event
                    .outcome
                    .as_deref()
                    .map_or(String::new(), |o| format!("{o}: "));
                let arrow = if failed { "--x" } else { "-->>" };
                let text = match event.surface {
                    Some(Surface::Partner) if failed => {
                        format!("{status}{outcome_text}{}", event.detail)
                    }
                    _ => format!("{status}{}", event.detail),
                };
                format!(
                    "{}{arrow}{}: {}",
                    id(&event.from),
                    id(&event.to),
                    label(&format!("{}{}", delivery_mark(event.delivery), text.trim()))
                )
            }
            EventKind::Decision => {
                format!("Note over {}: {}", id(&event.from), label(&event.detail))
            }
            EventKind::World if participants.contains(&event.to) => {
                format!("Note over {}: ⚡ {}", id(&event.to), label(&event.detail))
            }
            EventKind::World if !span.is_empty() => {
                format!("Note over {span}: ⚡ {}", label(&event.detail))
            }
            EventKind::World => continue,
        };
        let _ = writeln!(out, "    {line}");
    }
    out
}

/// A Mermaid-safe identifier for a participant.
fn participant_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Text Mermaid will not misread: no `;` or `#`, one line, bounded length.
fn label(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            ';' => ',',
            '#' => '№',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    if cleaned.chars().count() > MAX_LABEL {
        let cut: String = cleaned.chars().take(MAX_LABEL).collect();
        format!("{cut}…")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_safe_for_mermaid() {
        assert_eq!(label("a;b#c\nd"), "a,b№c d");
        assert_eq!(participant_id("admin@acme-2.test"), "admin_acme_2_test");
        assert!(label(&"x".repeat(500)).ends_with('…'));
    }
}
