//! `--trace-dir DIR`: one JSON-lines file per scenario, one trace event per line, in
//! order. Events name accounts, never ports, so these files diff cleanly between runs.

use crate::scenario::outcome::Outcome;

/// The JSON-lines text of a scenario's trace.
pub fn jsonl(outcome: &Outcome) -> String {
    let mut out = String::new();
    for event in &outcome.trace {
        out.push_str(&serde_json::to_string(event).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// A file name for a scenario's report files, from its source file (`a/b/accept.toml` → `accept`).
pub fn file_stem(outcome: &Outcome) -> String {
    std::path::Path::new(&outcome.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string())
}
