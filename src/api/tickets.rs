//! The ticket routes of the REST surface: create, list, show, update (which shares and
//! unshares through `sharing_agreement_ids`), comments and audits, each with and
//! without `.json`, with the same auth and error shapes as agreements.
//!
//! Our model: agents and admins may both create and update tickets, sharing included,
//! because agents are the ones who work tickets in Zendesk; managing agreements stays
//! with admins.

use super::{ApiError, json_response, parse_envelope, parse_id};
use crate::account::tickets::{NewComment, TicketChanges};
use crate::account::{Account, User};
use crate::model::ticket::{Audit, Comment, Ticket, TicketStatus, normalize_tags};
use crate::partner::outbound;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
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

async fn list_tickets(State(account): State<Arc<Account>>) -> Result<Response, ApiError> {
    let list: Vec<Value> = account
        .tickets()
        .iter()
        .map(|t| ticket_json(&account, t))
        .collect();
    let count = list.len();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tickets": list, "count": count }),
    ))
}

/// The REST API's JSON object for a ticket on `account`.
pub fn ticket_json(account: &Account, ticket: &Ticket) -> Value {
    let custom_fields: Vec<Value> = ticket
        .custom_fields
        .iter()
        .map(|(id, value)| json!({"id": id, "value": value}))
        .collect();
    json!({
        "created_at": ticket.created_at,
        "custom_fields": custom_fields,
        "description": ticket.description,
        "id": ticket.id,
        "requester_id": ticket.requester_id,
        "sharing_agreement_ids": ticket.sharing_agreement_ids(),
        "status": ticket.status.as_str(),
        "subject": ticket.subject,
        "tags": ticket.tags,
        "updated_at": ticket.updated_at,
        "url": format!("{}/tickets/{}.json", account.api_url(), ticket.id),
    })
}

/// The REST API's JSON object for a comment.
pub fn comment_json(comment: &Comment) -> Value {
    json!({
        "author_id": comment.author_id,
        "body": comment.body,
        "created_at": comment.created_at,
        "id": comment.id,
        "public": comment.public,
    })
}

/// The REST API's JSON object for an audit of ticket `ticket_id`.
pub fn audit_json(ticket_id: u64, audit: &Audit) -> Value {
    json!({
        "author_id": audit.author_id,
        "created_at": audit.created_at,
        "events": audit.events,
        "id": audit.id,
        "ticket_id": ticket_id,
    })
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
) -> Result<Response, ApiError> {
    let ticket = find_ticket(&account, &raw_id)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ticket": ticket_json(&account, &ticket) }),
    ))
}

async fn list_comments(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let ticket = find_ticket(&account, &raw_id)?;
    let comments: Vec<Value> = ticket.comments.iter().map(comment_json).collect();
    let count = comments.len();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "comments": comments, "count": count }),
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
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = parse_envelope(&body, "ticket")?;
    let mut changes = parse_changes(&fields)?;
    if changes.comment.is_none() {
        // Our model of Zendesk's rule: the description is the first comment, so a new
        // ticket needs `comment.body` (or, as a shorthand, `description`).
        changes.comment = match fields.get("description") {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(NewComment {
                body: text.clone(),
                public: true,
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
    body: Bytes,
) -> Result<Response, ApiError> {
    // Check the record exists before judging the body, as Zendesk does.
    let id = find_ticket(&account, &raw_id)?.id;
    let fields = parse_envelope(&body, "ticket")?;
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

/// `{"body": "…", "public": true}`; `public` defaults to true.
fn parse_comment(value: &Value) -> Result<NewComment, ApiError> {
    let invalid = |description: &str| ApiError::invalid("comment", "InvalidValue", description);
    let object = value
        .as_object()
        .ok_or_else(|| invalid("Comment: must be an object like {\"body\": \"…\"}"))?;
    let body = match object.get("body") {
        Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "comment",
                "BlankValue",
                "Comment: body cannot be blank",
            ));
        }
        Some(_) => return Err(invalid("Comment: body must be a string")),
    };
    let public = match object.get("public") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(invalid("Comment: public must be true or false")),
    };
    Ok(NewComment { body, public })
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
                public: false
            })
        );
        assert_eq!(ok.status, Some(TicketStatus::Open));
        assert_eq!(ok.tags, Some(vec!["vip".to_string(), "urgent".to_string()]));
        assert_eq!(ok.sharing_agreement_ids, Some(vec![1]));
        assert_eq!(ok.custom_fields.unwrap()[&7], json!("red"));

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
