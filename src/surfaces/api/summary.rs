//! What the trace records of a REST call: the key fields a request wrote
//! (`status=accepted`) and what the answer was (`id=3 type=inbound status=pending`, or
//! the error), so traces, `explain` and diagrams read as sentences.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// Longest value a request summary quotes.
const MAX_SUMMARY_VALUE: usize = 40;

/// Key fields of a REST request body for the trace, e.g. `status=accepted` or
/// `remote_subdomain=Globex` or `comment.body="Which tray?" comment.public=false`: the
/// scalar fields under the body's envelope (`sharing_agreement`, `ticket`…).
#[cfg(test)]
pub(crate) fn summarize_request(bytes: &[u8]) -> String {
    match crate::core::json::from_bytes::<Value>(bytes) {
        Ok(value) => summarize_parsed_request(&value),
        Err(_) => String::new(),
    }
}

/// [`summarize_request`] of a body already parsed (the REST recorder parses a write's
/// body once, for this summary and for its handler).
pub(crate) fn summarize_parsed_request(value: &Value) -> String {
    let Value::Object(envelope) = value else {
        return String::new();
    };
    let mut parts = Vec::new();
    for value in envelope.values() {
        if let Value::Object(fields) = value {
            summarize_fields("", fields, &mut parts);
        }
    }
    // Bounded however many fields the body has (see `limits`).
    if parts.len() > crate::core::limits::MAX_SUMMARY_FIELDS {
        let more = parts.len() - crate::core::limits::MAX_SUMMARY_FIELDS;
        parts.truncate(crate::core::limits::MAX_SUMMARY_FIELDS);
        parts.push(format!("(+{more} more)"));
    }
    match parts.len() {
        // The common write names one field: its part is the summary.
        1 => parts.pop().unwrap_or_default(),
        _ => parts.join(" "),
    }
}

fn summarize_fields(prefix: &str, fields: &Map<String, Value>, parts: &mut Vec<String>) {
    for (key, value) in fields {
        if parts.len() > crate::core::limits::MAX_SUMMARY_FIELDS {
            // Counted, not described: the summary keeps only the first few.
            parts.push(String::new());
            continue;
        }
        let key = crate::core::limits::clip(key, MAX_SUMMARY_VALUE);
        let text: Cow<'_, str> = match value {
            Value::Object(inner) => {
                summarize_fields(&format!("{prefix}{key}."), inner, parts);
                continue;
            }
            // At most as many characters as bytes, and no space: shown as it is.
            Value::String(text) if text.len() <= MAX_SUMMARY_VALUE && !text.contains(' ') => {
                Cow::Borrowed(text)
            }
            Value::String(text) => {
                let short: String = text.chars().take(MAX_SUMMARY_VALUE).collect();
                let short = if short.len() < text.len() {
                    format!("{short}…")
                } else {
                    short
                };
                Cow::Owned(if short.contains(' ') {
                    format!("{short:?}")
                } else {
                    short
                })
            }
            other => Cow::Owned(
                crate::core::limits::clip(&other.to_string(), MAX_SUMMARY_VALUE).into_owned(),
            ),
        };
        let mut part = String::with_capacity(prefix.len() + key.len() + 1 + text.len());
        for piece in [prefix, &key, "=", &text] {
            part.push_str(piece);
        }
        parts.push(part);
    }
}

/// Key fields of a REST answer for the trace: the record's id/type/status, or the error.
pub(crate) fn summarize_response(bytes: &[u8]) -> String {
    match crate::core::json::from_bytes::<Value>(bytes) {
        Ok(value) => summarize_value(&value),
        Err(_) => String::new(),
    }
}

/// [`summarize_response`] of an answer not yet serialised.
pub(crate) fn summarize_value(value: &Value) -> String {
    if let Some(record) = value.get("sharing_agreement") {
        return format!(
            "id={} type={} status={}",
            record["id"],
            record["type"].as_str().unwrap_or("?"),
            record["status"].as_str().unwrap_or("?")
        );
    }
    if let Some(list) = value.get("sharing_agreements").and_then(Value::as_array) {
        return format!("{} agreements", list.len());
    }
    if let Some(record) = value.get("ticket") {
        return format!(
            "id={} status={} sharing_agreement_ids={}",
            record["id"],
            record["status"].as_str().unwrap_or("?"),
            record["sharing_agreement_ids"]
        );
    }
    for (key, noun) in [
        ("tickets", "tickets"),
        ("comments", "comments"),
        ("audits", "audits"),
    ] {
        if let Some(list) = value.get(key).and_then(Value::as_array) {
            return format!("{} {noun}", list.len());
        }
    }
    let mut parts = Vec::new();
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        parts.push(error.to_string());
    }
    if let Some(details) = value.get("details").and_then(Value::as_object) {
        for (field, list) in details {
            for item in list.as_array().into_iter().flatten() {
                if let Some(description) = item.get("description").and_then(Value::as_str) {
                    parts.push(format!("{field}: {description}"));
                }
            }
        }
    } else if let Some(description) = value.get("description").and_then(Value::as_str) {
        parts.push(description.to_string());
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surfaces::api::ApiError;
    use serde_json::json;

    #[test]
    fn request_summaries_show_the_fields_written() {
        let body = json!({"ticket": {"comment": {"body": "Which tray?", "public": false}, "sharing_agreement_ids": [1]}});
        assert_eq!(
            summarize_request(body.to_string().as_bytes()),
            r#"comment.body="Which tray?" comment.public=false sharing_agreement_ids=[1]"#
        );
        let body = json!({"sharing_agreement": {"status": "accepted"}});
        assert_eq!(
            summarize_request(body.to_string().as_bytes()),
            "status=accepted"
        );
        assert_eq!(summarize_request(b"not json"), "");
    }

    #[test]
    fn summaries_name_errors_and_records() {
        let body = ApiError::invalid("status", "InvalidValue", "nope")
            .body()
            .to_string();
        assert_eq!(
            summarize_response(body.as_bytes()),
            "RecordInvalid: status: nope"
        );
        let record =
            json!({"sharing_agreement": {"id": 3, "type": "inbound", "status": "pending"}});
        assert_eq!(
            summarize_response(record.to_string().as_bytes()),
            "id=3 type=inbound status=pending"
        );
    }
}
