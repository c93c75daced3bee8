//! Turning outcomes into what people and tools read: the console report, JSON,
//! JUnit XML, JSON-lines traces, Mermaid and SVG sequence diagrams, `explain`
//! narration and the self-contained HTML report.
//! Each format is its own small module and reads only [`Outcome`] data.
//!
//! [`Outcome`]: crate::drivers::scenario::outcome::Outcome

pub(crate) mod conform;
pub mod explain;
pub(crate) mod explore;
pub mod grid;
pub mod html;
pub mod human;
pub(crate) mod json;
pub(crate) mod junit;
pub mod mermaid;
pub mod player;
pub mod svg;
pub mod trace_file;

use crate::core::trace::{Delivery, Event, EventKind};

/// The mark put before a message the scheduler acted on, in text renderings.
pub fn delivery_mark(delivery: Option<Delivery>) -> &'static str {
    match delivery {
        None => "",
        Some(Delivery::Held) => "⏸ held: ",
        Some(Delivery::Crossing) => "⇄ in flight: ",
        Some(Delivery::Released) => "▶ released: ",
        Some(Delivery::Duplicated) => "⧉ duplicate: ",
        Some(Delivery::Lost) => "✂ reply lost: ",
    }
}

/// `/sharing/agreements/<40 hex>` → `/sharing/agreements/3f2a1b9c…`: uuids are long and
/// add nothing for a reader.
pub fn shorten_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.len() == 40 && segment.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("{}…", &segment[..8])
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One line per event, as the console and `explain` show them.
pub fn describe_event(event: &Event) -> String {
    let method = event.method.as_deref().unwrap_or("");
    let path = shorten_path(event.path.as_deref().unwrap_or(""));
    match event.kind {
        EventKind::Request => {
            let detail = if event.detail.is_empty() {
                String::new()
            } else {
                format!("  [{}]", event.detail)
            };
            format!(
                "{}{} → {}: {method} {path}{detail}",
                delivery_mark(event.delivery),
                event.from,
                event.to
            )
        }
        EventKind::Response => {
            let status = event
                .status
                .map_or("no answer".to_string(), |s| s.to_string());
            let outcome = event
                .outcome
                .as_deref()
                .map_or(String::new(), |o| format!(" ⇒ {o}"));
            let detail = if event.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", event.detail)
            };
            format!(
                "{}{} ← {}: {status} {method} {path}{outcome}{detail}",
                delivery_mark(event.delivery),
                event.to,
                event.from
            )
        }
        EventKind::Decision => format!("{}: {}", event.from, event.detail),
        EventKind::World => format!("world ({}): {}", event.to, event.detail),
        EventKind::Note => format!("note: {}", event.detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_in_paths_are_shortened() {
        let uuid = "a".repeat(40);
        assert_eq!(
            shorten_path(&format!("/sharing/agreements/{uuid}")),
            "/sharing/agreements/aaaaaaaa…"
        );
        assert_eq!(
            shorten_path("/api/v2/sharing_agreements/1.json"),
            "/api/v2/sharing_agreements/1.json"
        );
    }
}
