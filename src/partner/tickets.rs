//! The ticket half of the partner protocol: `/sharing/tickets/{uuid}` with POST
//! (share), PUT (push changes) and DELETE (unshare), and the ticket's wire shape.
//!
//! Checks run in a fixed order — version (412), method (405), token (401), body (400) —
//! and the account answers the rest: 403 for a wrong key or an agreement that is not
//! accepted, 404 for an unknown ticket, 422 for an invalid message.

use super::{Actor, PartnerError, check_version, require_token};
use crate::account::Account;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A ticket as it travels between accounts. Absent or null fields in an update mean
/// "unchanged"; a share carries the whole ticket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WireTicket {
    /// The sharer's ticket uuid: SHA-1 hex of `{sharer's sharing url}/tickets/{local id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When the ticket was created, protocol format (`2011-01-02 13:01:01 -0500`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// Ticket status; sent only when the agreement's terms sync status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Actor>,
    /// All comments on a share; only new ones on an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<WireComment>>,
    /// Who made this change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_actor: Option<Actor>,
    /// Tags; sent only when the terms sync tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The sharer's local ticket id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_id: Option<u64>,
    /// Custom field values by field id; sent only when the terms sync custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

/// A comment as it travels between accounts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WireComment {
    /// SHA-1 hex of `{writer's sharing url}/comments/{local id}`; duplicates are
    /// recognised by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Actor>,
    /// Plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTML rendering (accepted, not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// When it was written, protocol format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_at: Option<String>,
    /// Absent means true, as the protocol says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
}

/// A successful answer to a ticket call: 201 for a new copy, 200 otherwise.
pub struct TicketReply {
    /// 200 or 201.
    pub status: StatusCode,
    /// The ticket as the receiver now holds it.
    pub body: WireTicket,
}

impl IntoResponse for TicketReply {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Parses a JSON body into a wire ticket: 400 if it is not a JSON object of that shape.
pub fn parse_ticket(body: &[u8]) -> Result<WireTicket, PartnerError> {
    serde_json::from_slice(body)
        .map_err(|e| PartnerError::BadRequest(format!("the body is not a valid ticket: {e}")))
}

/// `/sharing/tickets/{uuid}`.
pub(super) async fn ticket_endpoint(
    State(account): State<Arc<Account>>,
    Path(uuid): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&account, &uuid, method, &headers, &body).await {
        Ok(reply) => reply.into_response(),
        Err(error) => {
            let allow = matches!(error, PartnerError::MethodNotAllowed(_));
            let mut response = error.into_response();
            if allow {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST, PUT, DELETE"));
            }
            response
        }
    }
}

async fn answer(
    account: &Account,
    uuid: &str,
    method: Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TicketReply, PartnerError> {
    check_version(headers)?;
    if !matches!(method, Method::POST | Method::PUT | Method::DELETE) {
        return Err(PartnerError::MethodNotAllowed(method));
    }
    let token = require_token(headers)?;
    match method {
        Method::POST => account.receive_share(uuid, &token, parse_ticket(body)?),
        Method::PUT => {
            account
                .receive_ticket_update(uuid, &token, parse_ticket(body)?)
                .await
        }
        _ => account.receive_unshare(uuid, &token),
    }
}
