//! `sharesim bench --compare FILE`: the regression guard. Each figure of this run is
//! compared with the same figure of a saved result (a previous run's JSON on the same
//! machine), and any that got more than 10% worse is flagged: a rate that dropped, or a
//! time or memory figure that rose. Baselines (bare hyper) are left out: they measure
//! the machine, not sharesim.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// How much worse a figure may get before it is flagged.
pub(crate) const TOLERANCE: f64 = 0.10;

/// Figures where more is better.
const HIGHER_IS_BETTER: &[&str] = &["per_second", "cycles_per_second", "ratio"];
/// Figures where less is better.
const LOWER_IS_BETTER: &[&str] = &[
    "peak_memory_mib",
    "start_ms",
    "two_accounts_https_ms",
    "wall_ms",
];

/// One figure present in both results.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Compared {
    /// Where it is in the results, e.g. `api.figures[list_1].sharesim.per_second`.
    pub figure: String,
    /// The saved value.
    pub before: f64,
    /// This run's value.
    pub after: f64,
    /// Whether it got more than [`TOLERANCE`] worse.
    pub regressed: bool,
}

/// Reads a saved result; the error says what is wrong with the file.
pub(crate) fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read the saved result {}: {e}", path.display()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "the saved result {} is not JSON: {e} (save one with `sharesim bench --json FILE`)",
            path.display()
        )
    })?;
    if value.get("machine").is_none() || value.get("targets").is_none() {
        return Err(format!(
            "{} is not a `sharesim bench` result: it has no machine or targets",
            path.display()
        ));
    }
    Ok(value)
}

/// Compares every figure of `now` that `saved` also has.
pub(crate) fn compare(saved: &Value, now: &Value) -> Vec<Compared> {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    flatten("", saved, &mut before);
    flatten("", now, &mut after);
    after
        .into_iter()
        .filter_map(|(figure, after)| {
            let (_, before) = before.iter().find(|(f, _)| *f == figure)?;
            let leaf = figure.rsplit('.').next().unwrap_or_default();
            let regressed = if HIGHER_IS_BETTER.contains(&leaf) {
                after < before * (1.0 - TOLERANCE)
            } else {
                after > before * (1.0 + TOLERANCE)
            };
            Some(Compared {
                figure,
                before: *before,
                after,
                regressed,
            })
        })
        .collect()
}

/// The comparison as text: every regression, then a count.
pub(crate) fn render(path: &Path, compared: &[Compared]) -> String {
    let mut out = format!(
        "\nCompared with {}: {} figures\n",
        path.display(),
        compared.len()
    );
    for c in compared.iter().filter(|c| c.regressed) {
        let _ = writeln!(
            out,
            "  REGRESSED  {:<58} {:>12.1} -> {:>12.1} ({:+.1}%)",
            c.figure,
            c.before,
            c.after,
            100.0 * (c.after - c.before) / c.before.abs().max(1e-9)
        );
    }
    let regressed = compared.iter().filter(|c| c.regressed).count();
    if regressed == 0 {
        let _ = writeln!(
            out,
            "  no figure got more than {:.0}% worse",
            TOLERANCE * 100.0
        );
    } else {
        let _ = writeln!(
            out,
            "  {regressed} figure(s) got more than {:.0}% worse",
            TOLERANCE * 100.0
        );
    }
    out
}

/// Collects the comparable figures of `value` under `path`. Array items are named by
/// what identifies them (`key`, or network, scheme and senders), not by position, so a
/// run with other parts still lines up.
fn flatten(path: &str, value: &Value, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                // The bare baselines (`baseline` of each API figure, `handshake_bare`)
                // measure the machine, not sharesim.
                if matches!(
                    key.as_str(),
                    "baseline" | "handshake_bare" | "machine" | "targets"
                ) {
                    continue;
                }
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match value {
                    Value::Number(n)
                        if HIGHER_IS_BETTER.contains(&key.as_str())
                            || LOWER_IS_BETTER.contains(&key.as_str()) =>
                    {
                        if let Some(n) = n.as_f64() {
                            out.push((inner, n));
                        }
                    }
                    _ => flatten(&inner, value, out),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{path}[{}]", label(item, index)), item, out);
            }
        }
        _ => {}
    }
}

fn label(item: &Value, index: usize) -> String {
    let parts: Vec<String> = ["key", "network", "scheme", "senders", "accounts"]
        .iter()
        .filter_map(|field| match item.get(field)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
        .collect();
    if parts.is_empty() {
        index.to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_over_ten_percent_are_flagged_and_baselines_ignored() {
        let saved = json!({
            "machine": {"cores": 2},
            "api": {"figures": [{"key": "list_1", "ratio": 0.9,
                "sharesim": {"per_second": 100.0}, "baseline": {"per_second": 100.0}}]},
            "soak": {"peak_memory_mib": 50.0},
            "handshake": [{"network": "loopback", "scheme": "http", "senders": 16, "per_second": 1000.0}],
            "handshake_bare": [{"senders": 16, "per_second": 20000.0}],
            "handshake_ratios": [{"senders": 16, "ratio": 0.5, "pair_ratios": [0.5, 0.5]}],
            "targets": []
        });
        let now = json!({
            "machine": {"cores": 2},
            "api": {"figures": [{"key": "list_1", "ratio": 0.85,
                "sharesim": {"per_second": 89.0}, "baseline": {"per_second": 10.0}}]},
            "soak": {"peak_memory_mib": 56.0},
            "handshake": [{"network": "loopback", "scheme": "http", "senders": 16, "per_second": 950.0}],
            "handshake_bare": [{"senders": 16, "per_second": 10000.0}],
            "handshake_ratios": [{"senders": 16, "ratio": 0.4, "pair_ratios": [0.1, 0.7]}],
            "targets": []
        });
        let compared = compare(&saved, &now);
        let flagged: Vec<&str> = compared
            .iter()
            .filter(|c| c.regressed)
            .map(|c| c.figure.as_str())
            .collect();
        assert_eq!(
            flagged,
            vec![
                "api.figures[list_1].sharesim.per_second",
                "soak.peak_memory_mib",
                "handshake_ratios[16].ratio"
            ]
        );
        // The bare rates halved and are not compared; the pairs' ratios are not figures.
        assert_eq!(compared.len(), 5, "{compared:?}");
        assert!(render(Path::new("saved.json"), &compared).contains("REGRESSED"));
    }

    #[test]
    fn a_file_that_is_not_a_result_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        assert!(
            load(&path)
                .unwrap_err()
                .contains("not a `sharesim bench` result")
        );
        std::fs::write(&path, "not json").unwrap();
        assert!(load(&path).unwrap_err().contains("is not JSON"));
        assert!(load(&dir.path().join("missing.json")).is_err());
    }
}
