//! Whether a REST answer is what the step expected: `expect_status`, `expect_error` (a
//! substring of the error's descriptions), `expect_body` (a JSON subset), or success.

use super::{Answer, Problem};
use crate::drivers::scenario::format::Step;
use crate::drivers::scenario::outcome::FieldDiff;
use serde_json::Value;

/// Checks a REST answer against the step: `expect_status`, `expect_error` (a substring of
/// the error's descriptions), `expect_body` (JSON subset); success (2xx) otherwise.
pub(super) fn check_answer(step: &Step, answer: &Answer) -> Result<(), Problem> {
    let mut diffs = Vec::new();
    let ok = (200..300).contains(&answer.status);
    match (step.expected_status(), &step.expect_error) {
        (Some(expected), _) if expected != answer.status => diffs.push(FieldDiff {
            field: "http status".into(),
            expected: expected.to_string(),
            actual: answer.status.to_string(),
        }),
        (None, Some(_)) if ok => diffs.push(FieldDiff {
            field: "http status".into(),
            expected: "a refusal (4xx)".into(),
            actual: answer.status.to_string(),
        }),
        // In a race, a refusal is one of the outcomes the seed may pick.
        (None, None) if !ok && !race_refusal(step, answer) => diffs.push(FieldDiff {
            field: "http status".into(),
            expected: "success (2xx)".into(),
            actual: format!("{} {}", answer.status, error_text(&answer.body)),
        }),
        _ => {}
    }
    if let Some(words) = &step.expect_error {
        let text = error_text(&answer.body);
        if !text.contains(words.as_str()) {
            diffs.push(FieldDiff {
                field: "error".into(),
                expected: format!("contains {words:?}"),
                actual: if text.is_empty() {
                    "(no error)".into()
                } else {
                    text
                },
            });
        }
    }
    if let Some(expected) = step.expected_body()
        && let Some(path) = subset_mismatch(expected, &answer.body, "body")
    {
        diffs.push(FieldDiff {
            field: path.0,
            expected: path.1,
            actual: path.2,
        });
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Problem {
            message: format!(
                "the `{}` call was answered {}",
                step.action.key(),
                answer.status
            ),
            diffs,
        })
    }
}

/// A refusal (4xx) of an action inside a `concurrently` group that states no
/// expectation of its own: one outcome the seed may pick, not a failure.
fn race_refusal(step: &Step, answer: &Answer) -> bool {
    step.in_group && (400..500).contains(&answer.status)
}

/// Every `error` and `description` string in a Zendesk error body, joined.
fn error_text(body: &Value) -> String {
    let mut parts = Vec::new();
    collect_descriptions(body, &mut parts);
    parts.join(" | ")
}

fn collect_descriptions(value: &Value, parts: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("error" | "description", Value::String(text)) => parts.push(text.clone()),
                    _ => collect_descriptions(value, parts),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_descriptions(item, parts)),
        _ => {}
    }
}

/// The first place where `expected` is not contained in `actual`: objects match when
/// every expected key matches, arrays element by element, scalars by equality.
/// Returns (path, expected, actual).
pub(super) fn subset_mismatch(
    expected: &Value,
    actual: &Value,
    path: &str,
) -> Option<(String, String, String)> {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let path = format!("{path}.{key}");
            match have.get(key) {
                Some(actual) => subset_mismatch(value, actual, &path),
                None => Some((path, value.to_string(), "(missing)".into())),
            }
        }),
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                return Some((
                    format!("{path}.length"),
                    want.len().to_string(),
                    have.len().to_string(),
                ));
            }
            want.iter()
                .zip(have)
                .enumerate()
                .find_map(|(i, (w, h))| subset_mismatch(w, h, &format!("{path}[{i}]")))
        }
        (want, have) if want == have => None,
        // TOML has no null and integers may be compared with floats.
        (Value::Number(w), Value::Number(h)) if w.as_f64() == h.as_f64() => None,
        (want, have) => Some((path.to_string(), want.to_string(), have.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_matching_reports_the_first_difference() {
        let actual = json!({"a": {"b": [1, 2], "c": "x"}, "d": true});
        assert_eq!(
            subset_mismatch(&json!({"a": {"c": "x"}}), &actual, "body"),
            None
        );
        assert_eq!(
            subset_mismatch(&json!({"a": {"c": "y"}}), &actual, "body"),
            Some(("body.a.c".into(), "\"y\"".into(), "\"x\"".into()))
        );
        assert_eq!(
            subset_mismatch(&json!({"e": 1}), &actual, "body"),
            Some(("body.e".into(), "1".into(), "(missing)".into()))
        );
        assert_eq!(
            subset_mismatch(&json!({"a": {"b": [1]}}), &actual, "body"),
            Some(("body.a.b.length".into(), "1".into(), "2".into()))
        );
    }

    #[test]
    fn error_text_gathers_every_description() {
        let body = json!({"error": "RecordInvalid", "description": "Record validation errors", "details": {"status": [{"description": "final", "error": "InvalidValue"}]}});
        assert_eq!(
            error_text(&body),
            "RecordInvalid | Record validation errors | final | InvalidValue"
        );
    }
}
