//! `--format json`: one JSON document with every scenario's verdict and failure, for
//! tools that post-process runs.

use crate::drivers::scenario::outcome::Outcome;
use serde_json::{Value, json};

/// The whole run as JSON (traces are left to `--trace-dir`).
pub(crate) fn report(outcomes: &[Outcome]) -> Value {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    json!({
        "passed": passed,
        "failed": outcomes.len() - passed,
        "scenarios": outcomes.iter().map(|outcome| json!({
            "name": outcome.name,
            "file": outcome.file,
            "seed": outcome.seed,
            "network": outcome.network,
            "passed": outcome.passed(),
            "duration_ms": outcome.duration.as_millis() as u64,
            "steps_run": outcome.steps.len(),
            "failure": outcome.failure,
        })).collect::<Vec<_>>(),
    })
}
