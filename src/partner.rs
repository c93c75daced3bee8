//! The partner protocol (Networked Help Desk 1.0) that accounts speak to each other
//! under `/sharing`: the wire shapes, the server endpoints and their plain answers.
//!
//! Sending is done by the account's operations through the world's transport; this
//! module decides what a receiving account answers to what it is sent.

pub mod tickets;

use crate::account::Account;
use crate::faults::CrashPoint;
use crate::model::AgreementStatus;
use crate::transport::{PROTOCOL_VERSION, TOKEN_HEADER, VERSION_HEADER};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An agreement as it travels between accounts. Absent or null fields in an update
/// mean "unchanged", so every field is optional and invitations are checked for the
/// ones they need.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WireAgreement {
    /// Shared identifier: SHA-1 hex of `{sender sharing url}/agreements/{local id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The sending side's display name, e.g. `Acme @ Zendesk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The sender's sharing URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_url: Option<String>,
    /// The receiver's sharing URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_url: Option<String>,
    /// 40 hex characters shared by both copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// The status the sender (or answerer) states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_actor: Option<Actor>,
    /// Term: tags travel with tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_tags: Option<bool>,
    /// Term: custom fields travel with tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_custom_fields: Option<bool>,
    /// Term: public comments stay public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows_public_comments: Option<bool>,
    /// Term (sharesim extension): ticket status syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<bool>,
    /// `sender` or `receiver`, on deactivation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_by: Option<String>,
}

/// Who acted, as the protocol names people.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    /// Stable identifier of the person.
    #[serde(default)]
    pub uuid: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `admin` or `agent`.
    #[serde(default)]
    pub role: String,
}

/// What a receiving account answers when it refuses a partner message. The bodies
/// are short plain text: the reference client only looks at the status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartnerError {
    /// 400: the body is not JSON of the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no `X-Ticket-Sharing-Token`.
    #[error("missing X-Ticket-Sharing-Token header")]
    MissingToken,
    /// 403: the token's access key is wrong, or the agreement does not allow the call.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no agreement (or ticket) with that uuid.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with that method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(Method),
    /// 412: a version header other than 1.
    #[error("unsupported X-Ticket-Sharing-Version {0:?}; this endpoint speaks version 1")]
    BadVersion(String),
    /// 422: the body is valid JSON but not a valid message, or a duplicate.
    #[error("{0}")]
    Invalid(String),
    /// A crash point fired: the connection must die without an answer.
    #[error("the account crashed while handling the message")]
    Crashed,
}

impl PartnerError {
    /// The HTTP status this refusal answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            PartnerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PartnerError::MissingToken => StatusCode::UNAUTHORIZED,
            PartnerError::Forbidden(_) => StatusCode::FORBIDDEN,
            PartnerError::NotFound(_) => StatusCode::NOT_FOUND,
            PartnerError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            PartnerError::BadVersion(_) => StatusCode::PRECONDITION_FAILED,
            PartnerError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PartnerError::Crashed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response();
        match self {
            PartnerError::MissingToken => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("X-Ticket-Sharing"),
                );
            }
            PartnerError::MethodNotAllowed(_) => {
                response.headers_mut().insert(
                    header::ALLOW,
                    header::HeaderValue::from_static("GET, POST, PUT"),
                );
            }
            PartnerError::Crashed => {
                response
                    .extensions_mut()
                    .insert(crate::account::listener::AbortConnection);
            }
            _ => {}
        }
        response
    }
}

/// A successful partner answer: 201 for a new record, 200 otherwise, with the record.
pub struct PartnerReply {
    /// 200 or 201.
    pub status: StatusCode,
    /// The agreement as the receiver now holds it.
    pub body: WireAgreement,
}

impl IntoResponse for PartnerReply {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// The `/sharing` routes of one account.
pub fn router(account: Arc<Account>) -> Router {
    Router::new()
        .route("/sharing/agreements/{uuid}", any(agreement_endpoint))
        .route("/sharing/tickets/{uuid}", any(tickets::ticket_endpoint))
        .with_state(account)
}

/// Checks `X-Ticket-Sharing-Version`: a missing header is accepted, anything but `1` is 412.
pub fn check_version(headers: &HeaderMap) -> Result<(), PartnerError> {
    match headers.get(VERSION_HEADER) {
        None => Ok(()),
        Some(value) if value.as_bytes() == PROTOCOL_VERSION.as_bytes() => Ok(()),
        Some(value) => Err(PartnerError::BadVersion(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )),
    }
}

/// The `X-Ticket-Sharing-Token` header, or 401.
pub fn require_token(headers: &HeaderMap) -> Result<String, PartnerError> {
    headers
        .get(TOKEN_HEADER)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .ok_or(PartnerError::MissingToken)
}

/// Parses a JSON body into a wire agreement: 400 if it is not a JSON object of that shape.
pub fn parse_body(body: &[u8]) -> Result<WireAgreement, PartnerError> {
    serde_json::from_slice(body)
        .map_err(|e| PartnerError::BadRequest(format!("the body is not a valid agreement: {e}")))
}

async fn agreement_endpoint(
    State(account): State<Arc<Account>>,
    Path(uuid): Path<String>,
    crash: Option<Extension<CrashPoint>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<PartnerReply, PartnerError> {
    check_version(&headers)?;
    // Set by the `crash` fault (see `faults::apply`): where this handling dies.
    let crash = crash.map(|Extension(point)| point);
    match method {
        Method::POST => {
            let invitation = parse_body(&body)?;
            account.receive_invitation(&uuid, invitation, crash)
        }
        Method::PUT => {
            let token = require_token(&headers)?;
            let update = parse_body(&body)?;
            account.receive_update(&uuid, &token, update, crash)
        }
        Method::GET => {
            let token = require_token(&headers)?;
            account.inspect_agreement(&uuid, &token)
        }
        other => Err(PartnerError::MethodNotAllowed(other)),
    }
}

/// Parses a status the partner stated, or 422.
pub fn parse_status(status: Option<&str>) -> Result<AgreementStatus, PartnerError> {
    let text = status.ok_or_else(|| PartnerError::Invalid("status is required".to_string()))?;
    text.parse::<AgreementStatus>()
        .map_err(PartnerError::Invalid)
}
