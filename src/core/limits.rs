//! Every limit on what a client, including a stranger with no credentials, can make
//! sharesim store, record or hold open, in one place so the README's "Security and
//! limits" table has one source.
//!
//! Zendesk documents few of these; each value here is our model: generous for any real
//! client and scenario, small enough that a flood cannot grow a served world's memory
//! without bound. Strings are counted in characters (Unicode scalar values).

use std::time::Duration;

/// Longest name a record may carry: agreement names, actor names, a ticket's requester.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest URL a partner may state (`sender_url`, `receiver_url`).
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest ticket subject.
pub const MAX_SUBJECT_CHARS: usize = 1_024;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 80;
/// Most tags on one ticket.
pub const MAX_TAGS: usize = 100;
/// Longest comment body (text or HTML), Zendesk's own 64 KiB comment limit.
pub const MAX_COMMENT_BODY_CHARS: usize = 65_536;
/// Most comments one partner message may carry.
pub const MAX_COMMENTS_PER_MESSAGE: usize = 1_000;
/// Longest other string a body may carry (uuids, statuses, roles, custom field
/// values…): the comment body limit, so long text fields still fit.
pub const MAX_OTHER_CHARS: usize = 65_536;
/// Longest key of a JSON object in a body (custom field ids, unknown fields).
pub const MAX_KEY_CHARS: usize = 255;
/// Most items in any other array or object of a body (custom fields, agreement ids…).
pub const MAX_ITEMS: usize = 1_000;

/// Most `pending` inbound invitations one account holds from one sender (every sender
/// outside the world counts as one); the next is answered 429. Invitations are the one
/// partner call that needs no token, so without this a stranger could fill an
/// account's listing (and its memory) for free; counting per sender keeps such a flood
/// from blocking other accounts' invitations.
pub const MAX_PENDING_INBOUND: usize = 100;

/// Largest request body either surface reads (axum's own default limit).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The largest REST answer the scenario runner reads (a listing of a long scenario's
/// agreements and tickets); a larger one fails the step instead of filling memory.
pub const MAX_REST_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Longest path the trace records for one call.
pub const MAX_TRACE_PATH_CHARS: usize = 256;
/// Longest account, user or host name the trace records for one call.
pub const MAX_TRACE_NAME_CHARS: usize = 128;
/// Longest sentence (summary, decision, cause) the trace records for one event.
pub const MAX_TRACE_DETAIL_CHARS: usize = 1_024;
/// Bytes of a call's body the trace keeps for the reports' exchange view; a larger
/// body is kept as its first bytes.
pub const MAX_TRACE_BODY_BYTES: usize = 64 * 1024;
/// Most fields a request summary names.
pub const MAX_SUMMARY_FIELDS: usize = 12;
/// Bytes a served world's trace keeps (its newest events); scenario runs keep all.
pub const SERVE_TRACE_BYTES: usize = 32 * 1024 * 1024;

/// Connections one served account holds open at once; more wait in the kernel's
/// backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Time a client has to send a request's headers once it starts one.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a connection may stay open with no request in progress.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a client has to finish the TLS handshake.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Steps a scenario file may hold.
pub const MAX_SCENARIO_STEPS: usize = 100_000;
/// Bytes a scenario file may hold.
pub const MAX_SCENARIO_BYTES: u64 = 16 * 1024 * 1024;

/// A body value over its limit: the field (a dotted path) and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// Where, e.g. `comments.3.body`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// Checks every string, array and object of a body against the limits above, by the
/// key it sits under (`name`, `subject`, `body`, `tags`…; other strings get
/// [`MAX_OTHER_CHARS`]). One walk serves both surfaces, so REST and partner bodies are
/// held to the same limits.
pub fn check_body(value: &serde_json::Value) -> Result<(), TooLarge> {
    check_value(&mut String::new(), "", value)
}

/// Checks one string of a body as [`check_body`] checks it where it sits: `path` is
/// where (`name`, `current_actor.name`), `key` the field it is under. For typed bodies,
/// whose strings are known without walking a JSON tree of them.
pub fn check_string(path: &str, key: &str, text: &str) -> Result<(), TooLarge> {
    check_length(path, text, string_limit(key)).map_err(|message| TooLarge {
        field: if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        },
        message,
    })
}

fn string_limit(key: &str) -> usize {
    match key {
        "name" | "display_name" | "remote_subdomain" | "deactivated_by" | "role" | "email" => {
            MAX_NAME_CHARS
        }
        "sender_url" | "receiver_url" | "url" => MAX_URL_CHARS,
        "subject" => MAX_SUBJECT_CHARS,
        "body" | "html_body" | "description" => MAX_COMMENT_BODY_CHARS,
        "tags" => MAX_TAG_CHARS,
        _ => MAX_OTHER_CHARS,
    }
}

fn item_limit(key: &str) -> usize {
    match key {
        "tags" => MAX_TAGS,
        "comments" => MAX_COMMENTS_PER_MESSAGE,
        _ => MAX_ITEMS,
    }
}

fn check_value(path: &mut String, key: &str, value: &serde_json::Value) -> Result<(), TooLarge> {
    use serde_json::Value;
    let too_large = |path: &str, message: String| TooLarge {
        field: if path.is_empty() {
            "body".to_string()
        } else {
            path.to_string()
        },
        message,
    };
    // The path of a child is written into the one buffer and cut back after it, so a
    // body's check allocates nothing unless it fails.
    fn descend(path: &mut String, step: &str) -> usize {
        let len = path.len();
        if len > 0 {
            path.push('.');
        }
        path.push_str(step);
        len
    }
    match value {
        Value::String(text) => {
            let max = string_limit(key);
            // No more bytes than the limit means no more characters.
            if text.len() <= max {
                return Ok(());
            }
            check_length(path, text, max).map_err(|message| too_large(path, message))
        }
        Value::Array(items) => {
            let max = item_limit(key);
            if items.len() > max {
                let message = format!(
                    "{path} has {} items; at most {max} are allowed",
                    items.len()
                );
                return Err(too_large(path, message));
            }
            for (index, item) in items.iter().enumerate() {
                let len = descend(path, &index.to_string());
                check_value(path, key, item)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(fields) => {
            if fields.len() > MAX_ITEMS {
                let message = format!(
                    "{} has {} fields; at most {MAX_ITEMS} are allowed",
                    if path.is_empty() {
                        "the body"
                    } else {
                        path.as_str()
                    },
                    fields.len()
                );
                return Err(too_large(path, message));
            }
            for (name, inner) in fields {
                if name.len() > MAX_KEY_CHARS {
                    check_length("a field name", name, MAX_KEY_CHARS)
                        .map_err(|message| too_large(path, message))?;
                }
                let len = descend(path, name);
                check_value(path, name, inner)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `text` cut to at most `max` characters, with `…` marking a cut.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    // No more bytes than the limit means no more characters: the common case (every
    // name and path the trace records) is decided without walking the text.
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// Checks one stored string against its limit: `Err` names the field and the limit.
pub fn check_length(field: &str, value: &str, max: usize) -> Result<(), String> {
    // No more bytes than the limit means no more characters: nothing to count.
    if value.len() <= max {
        return Ok(());
    }
    let chars = value.chars().count();
    if chars > max {
        Err(format!(
            "{field} is {chars} characters long; at most {max} are allowed"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters_and_marks_the_cut() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééé", 2), "éé…");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn bodies_are_checked_by_the_key_each_value_sits_under() {
        use serde_json::json;
        assert_eq!(
            check_body(&json!({"ticket": {"subject": "ok", "tags": ["a"]}})),
            Ok(())
        );
        let long_name = json!({"sharing_agreement": {"name": "n".repeat(256)}});
        assert_eq!(
            check_body(&long_name).unwrap_err().field,
            "sharing_agreement.name"
        );
        let long_tag = json!({"tags": ["ok", "t".repeat(81)]});
        assert_eq!(check_body(&long_tag).unwrap_err().field, "tags.1");
        let many_tags = json!({"tags": vec!["t"; 101]});
        assert_eq!(
            check_body(&many_tags).unwrap_err().message,
            "tags has 101 items; at most 100 are allowed"
        );
        let long_body = json!({"comments": [{"body": "b".repeat(65_537)}]});
        assert_eq!(check_body(&long_body).unwrap_err().field, "comments.0.body");
        assert!(check_body(&json!({"comments": [{"body": "b".repeat(65_536)}]})).is_ok());
    }

    #[test]
    fn lengths_are_checked_in_characters() {
        assert!(check_length("name", &"é".repeat(255), MAX_NAME_CHARS).is_ok());
        assert_eq!(
            check_length("name", &"a".repeat(256), MAX_NAME_CHARS),
            Err("name is 256 characters long; at most 255 are allowed".to_string())
        );
    }
}
