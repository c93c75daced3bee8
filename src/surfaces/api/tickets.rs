//! The ticket routes of the REST surface: create, list (paged), show, update (which
//! shares and unshares through `sharing_agreement_ids`), comments and audits, each with
//! and without `.json`, with the same auth and error shapes as agreements. Their JSON
//! shapes are in [`super::ticket_views`].
//!
//! Our model: agents and admins may both create and update tickets, sharing included,
//! because agents are the ones who work tickets in Zendesk; managing agreements stays
//! with admins.

use super::pagination::parse_paging;
pub(crate) use super::ticket_views::{audit_json, comment_json, ticket_json};
use super::ticket_views::{ticket_listing, with_users};
use super::{ApiError, json_response, parse_envelope_of, parse_id};
use crate::core::account::tickets::{NewComment, TicketChanges};
use crate::core::account::{Account, User};
use crate::core::model::ticket::{Attachment, Ticket, TicketStatus, normalize_tags};
use crate::surfaces::partner::outbound;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The ticket routes, merged into [`super::router`] behind its auth and trace layers.
pub(super) fn routes() -> Router<Arc<Account>> {
    Router::new()
        .route("/api/v2/tickets", get(list_tickets).post(create_ticket))
        .route(
            "/api/v2/tickets.json",
            get(list_tickets).post(create_ticket),
        )
        .route("/api/v2/tickets/{id}", get(show_ticket).put(update_ticket))
        .route("/api/v2/tickets/{id}/comments", get(list_comments))
        .route("/api/v2/tickets/{id}/comments.json", get(list_comments))
        .route("/api/v2/tickets/{id}/audits", get(list_audits))
        .route("/api/v2/tickets/{id}/audits.json", get(list_audits))
}

async fn list_tickets(
    State(account): State<Arc<Account>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let paging = parse_paging(query.as_deref())?;
    let tickets = account.tickets();
    let body = ticket_listing(&account, &tickets, paging);
    let shown: Vec<Ticket> = body["tickets"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|t| t["id"].as_u64())
                .filter_map(|id| tickets.iter().find(|t| t.id == id).cloned())
                .collect()
        })
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &with_users(body, &account, &shown, query.as_deref()),
    ))
}

/// The ticket behind `{id}` or `{id}.json`, or 404.
fn find_ticket(account: &Account, raw_id: &str) -> Result<Ticket, ApiError> {
    account
        .ticket_by_id(parse_id(raw_id)?)
        .ok_or(ApiError::NotFound)
}

async fn show_ticket(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let ticket = find_ticket(&account, &raw_id)?;
    let body = json!({ "ticket": ticket_json(&account, &ticket) });
    Ok(json_response(
        StatusCode::OK,
        &with_users(
            body,
            &account,
            std::slice::from_ref(&ticket),
            query.as_deref(),
        ),
    ))
}

async fn list_comments(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let ticket = find_ticket(&account, &raw_id)?;
    let comments: Vec<Value> = ticket.comments.iter().map(comment_json).collect();
    let count = comments.len();
    let body = json!({ "comments": comments, "count": count });
    Ok(json_response(
        StatusCode::OK,
        &with_users(
            body,
            &account,
            std::slice::from_ref(&ticket),
            query.as_deref(),
        ),
    ))
}

async fn list_audits(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let ticket = find_ticket(&account, &raw_id)?;
    let audits: Vec<Value> = ticket
        .audits
        .iter()
        .map(|a| audit_json(ticket.id, a))
        .collect();
    let count = audits.len();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "audits": audits, "count": count }),
    ))
}

async fn create_ticket(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    parsed: Option<super::ParsedBody>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = parse_envelope_of(&body, parsed.as_ref(), "ticket")?;
    let mut changes = parse_changes(&fields)?;
    if let Some(value) = fields
        .get("via_followup_source_id")
        .filter(|v| !v.is_null())
    {
        changes.follow_up_source = Some(value.as_u64().ok_or_else(|| {
            ApiError::invalid(
                "via_followup_source_id",
                "InvalidValue",
                "Via followup source: must be a ticket id",
            )
        })?);
    }
    if changes.comment.is_none() {
        // Our model of Zendesk's rule: the description is the first comment, so a new
        // ticket needs `comment.body` (or, as a shorthand, `description`).
        changes.comment = match fields.get("description") {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(NewComment {
                body: text.clone(),
                public: true,
                ..NewComment::default()
            }),
            _ => {
                return Err(ApiError::invalid(
                    "description",
                    "BlankValue",
                    "Description: cannot be blank (give comment.body)",
                ));
            }
        };
    }
    let ticket = outbound::create_ticket(&account, Account::user_id(&user), changes).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "ticket": ticket_json(&account, &ticket) }),
    ))
}

async fn update_ticket(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    Path(raw_id): Path<String>,
    parsed: Option<super::ParsedBody>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Check the record exists before judging the body, as Zendesk does.
    let id = find_ticket(&account, &raw_id)?.id;
    let fields = parse_envelope_of(&body, parsed.as_ref(), "ticket")?;
    let changes = parse_changes(&fields)?;
    let ticket = outbound::update_ticket(&account, id, Account::user_id(&user), changes).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ticket": ticket_json(&account, &ticket) }),
    ))
}

/// Validates the writable fields of a ticket body; unknown fields are ignored, as
/// Zendesk ignores read-only ones.
fn parse_changes(fields: &Map<String, Value>) -> Result<TicketChanges, ApiError> {
    let present = |key: &str| fields.get(key).filter(|value| !value.is_null());
    let mut changes = TicketChanges::default();
    if let Some(value) = present("subject") {
        let text = value.as_str().ok_or_else(|| {
            ApiError::invalid("subject", "InvalidValue", "Subject: must be a string")
        })?;
        if text.trim().is_empty() {
            return Err(ApiError::invalid(
                "subject",
                "BlankValue",
                "Subject: cannot be blank",
            ));
        }
        changes.subject = Some(text.trim().to_string());
    }
    if let Some(value) = present("comment") {
        changes.comment = Some(parse_comment(value)?);
    }
    if let Some(value) = present("status") {
        let text = value.as_str().ok_or_else(|| {
            ApiError::invalid("status", "InvalidValue", "Status: must be a string")
        })?;
        let status = text.parse::<TicketStatus>().map_err(|_| {
            ApiError::invalid(
                "status",
                "InvalidValue",
                format!(
                    "Status: {text:?} is not a status; expected one of {}",
                    TicketStatus::allowed_list()
                ),
            )
        })?;
        changes.status = Some(status);
    }
    if let Some(value) = present("tags") {
        let list = value
            .as_array()
            .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .ok_or_else(|| {
                ApiError::invalid("tags", "InvalidValue", "Tags: must be an array of strings")
            })?;
        changes.tags = Some(normalize_tags(&list));
    }
    if let Some(value) = present("requester_id") {
        let id = value.as_u64().ok_or_else(|| {
            ApiError::invalid(
                "requester_id",
                "InvalidValue",
                "Requester: must be a user id",
            )
        })?;
        changes.requester_id = Some(id);
    }
    if let Some(value) = present("custom_fields") {
        changes.custom_fields = Some(parse_custom_fields(value)?);
    }
    if let Some(value) = present("custom_status") {
        // Our model: the label the partner protocol carries (Zendesk's REST API names
        // custom statuses by `custom_status_id`).
        let label = value.as_str().filter(|label| !label.trim().is_empty());
        changes.custom_status = Some(
            label
                .ok_or_else(|| {
                    ApiError::invalid(
                        "custom_status",
                        "InvalidValue",
                        "Custom status: must be a label (a non-blank string)",
                    )
                })?
                .to_string(),
        );
    }
    if let Some(value) = present("safe_update") {
        changes.safe_update = value.as_bool().ok_or_else(|| {
            ApiError::invalid(
                "safe_update",
                "InvalidValue",
                "Safe update: must be true or false",
            )
        })?;
    }
    if let Some(value) = present("updated_stamp") {
        changes.updated_stamp = Some(
            value
                .as_str()
                .ok_or_else(|| {
                    ApiError::invalid(
                        "updated_stamp",
                        "InvalidValue",
                        "Updated stamp: must be the ticket's updated_at, a timestamp string",
                    )
                })?
                .to_string(),
        );
    }
    if let Some(value) = present("sharing_agreement_ids") {
        let ids = value
            .as_array()
            .and_then(|items| items.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| {
                ApiError::invalid(
                    "sharing_agreement_ids",
                    "InvalidValue",
                    "Sharing agreement ids: must be an array of agreement ids",
                )
            })?;
        changes.sharing_agreement_ids = Some(ids);
    }
    Ok(changes)
}

/// `{"body": "…", "public": true, "html_body"?: "…", "attachments"?: […]}`; `public`
/// defaults to true, and an `html_body` alone gives the text too.
fn parse_comment(value: &Value) -> Result<NewComment, ApiError> {
    let invalid = |description: &str| ApiError::invalid("comment", "InvalidValue", description);
    let object = value
        .as_object()
        .ok_or_else(|| invalid("Comment: must be an object like {\"body\": \"…\"}"))?;
    let text = |key: &str| match object.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
        Some(Value::String(_)) | None | Some(Value::Null) => Ok(None),
        Some(_) => Err(invalid(&format!("Comment: {key} must be a string"))),
    };
    let html_body = text("html_body")?;
    let body = match (text("body")?, &html_body) {
        (Some(body), _) => body,
        (None, Some(html)) => html_text(html),
        (None, None) => {
            return Err(ApiError::invalid(
                "comment",
                "BlankValue",
                "Comment: body cannot be blank",
            ));
        }
    };
    let public = match object.get("public") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(invalid("Comment: public must be true or false")),
    };
    if object.get("uploads").is_some_and(|v| !v.is_null()) {
        return Err(invalid(
            "Comment: upload tokens are not modelled; give attachments as URLs: \"attachments\": [{\"url\": \"…\", \"filename\": \"…\"}]",
        ));
    }
    let attachments = match object.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => parse_attachments(list)?,
    };
    Ok(NewComment {
        body,
        public,
        html_body,
        attachments,
    })
}

/// Our model of attaching through REST (Zendesk uses upload tokens): files as URLs,
/// `[{"url"|"content_url", "filename"|"file_name", "content_type"?}]`.
fn parse_attachments(list: &Value) -> Result<Vec<Attachment>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "comment",
            "InvalidValue",
            "Comment: attachments must be an array of {\"url\": \"https://…\", \"filename\": \"…\", \"content_type\"?: \"…\"}",
        )
    };
    let items = list.as_array().ok_or_else(invalid)?;
    items
        .iter()
        .map(|item| {
            let field = |keys: &[&str]| {
                keys.iter()
                    .find_map(|key| item.get(*key).and_then(Value::as_str))
                    .map(str::to_string)
            };
            let url = field(&["url", "content_url"]).filter(|url| url.contains("://"));
            let filename = field(&["filename", "file_name"]);
            match (url, filename) {
                (Some(url), Some(filename)) if !filename.trim().is_empty() => Ok(Attachment {
                    url,
                    filename,
                    content_type: field(&["content_type"]),
                    display_filename: field(&["display_filename"]),
                }),
                _ => Err(invalid()),
            }
        })
        .collect()
}

/// The text of an HTML body: tags dropped, the common entities read.
fn html_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// `[{"id": 360001, "value": …}, …]`.
fn parse_custom_fields(value: &Value) -> Result<BTreeMap<u64, Value>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "custom_fields",
            "InvalidValue",
            "Custom fields: must be an array of {\"id\": number, \"value\": …}",
        )
    };
    let items = value.as_array().ok_or_else(invalid)?;
    items
        .iter()
        .map(|item| {
            let id = item.get("id").and_then(Value::as_u64).ok_or_else(invalid)?;
            Ok((id, item.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(body: Value) -> Result<TicketChanges, ApiError> {
        parse_changes(body.as_object().unwrap())
    }

    #[test]
    fn bodies_are_checked_field_by_field() {
        let ok = changes(json!({
            "subject": " Printer ",
            "comment": {"body": "It burns", "public": false},
            "status": "open",
            "tags": ["VIP", "vip urgent"],
            "sharing_agreement_ids": [1],
            "custom_fields": [{"id": 7, "value": "red"}],
            "priority": "ignored"
        }))
        .unwrap();
        assert_eq!(ok.subject.as_deref(), Some("Printer"));
        assert_eq!(
            ok.comment,
            Some(NewComment {
                body: "It burns".to_string(),
                public: false,
                ..NewComment::default()
            })
        );
        assert_eq!(ok.status, Some(TicketStatus::Open));
        assert_eq!(ok.tags, Some(vec!["vip".to_string(), "urgent".to_string()]));
        assert_eq!(ok.sharing_agreement_ids, Some(vec![1]));
        assert_eq!(ok.custom_fields.unwrap()[&7], json!("red"));

        let html = changes(json!({
            "comment": {"html_body": "<p>Tray <b>2</b> &amp; 3</p>", "attachments": [
                {"content_url": "https://files.example/a.png", "file_name": "a.png", "content_type": "image/png"}
            ]},
            "custom_status": "Waiting on parts",
            "safe_update": true,
            "updated_stamp": "2026-01-01T09:00:00Z"
        }))
        .unwrap();
        let comment = html.comment.unwrap();
        assert_eq!(comment.body, "Tray 2 & 3");
        assert_eq!(comment.attachments[0].filename, "a.png");
        assert_eq!(
            comment.attachments[0].content_type.as_deref(),
            Some("image/png")
        );
        assert_eq!(html.custom_status.as_deref(), Some("Waiting on parts"));
        assert!(html.safe_update);

        for (body, field) in [
            (json!({"status": "active"}), "status"),
            (json!({"comment": {"body": " "}}), "comment"),
            (json!({"comment": "text"}), "comment"),
            (json!({"tags": "vip"}), "tags"),
            (json!({"sharing_agreement_ids": 1}), "sharing_agreement_ids"),
            (
                json!({"sharing_agreement_ids": ["1"]}),
                "sharing_agreement_ids",
            ),
            (json!({"custom_fields": [{"value": 1}]}), "custom_fields"),
            (json!({"requester_id": "me"}), "requester_id"),
            (json!({"subject": 3}), "subject"),
            (json!({"custom_status": ""}), "custom_status"),
            (json!({"safe_update": "yes"}), "safe_update"),
            (json!({"updated_stamp": 5}), "updated_stamp"),
            (
                json!({"comment": {"body": "x", "uploads": ["t"]}}),
                "comment",
            ),
            (
                json!({"comment": {"body": "x", "attachments": [{"url": "nope", "filename": "a"}]}}),
                "comment",
            ),
        ] {
            match changes(body.clone()) {
                Err(ApiError::RecordInvalid { field: got, .. }) => {
                    assert_eq!(got, field, "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
