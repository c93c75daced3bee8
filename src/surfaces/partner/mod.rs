//! The partner protocol (Networked Help Desk 1.0) that accounts speak to each other
//! under `/sharing`, in both directions: the wire shapes ([`wire`]), the endpoints a
//! receiving account serves ([`agreements`], [`tickets`]) and what a sending account's
//! decisions put on the wire ([`outbound`]).
//!
//! Accounts decide; this module translates. It is the only place that knows a wire
//! shape or a protocol status, so `account` knows neither.

pub(crate) mod agreements;
pub(crate) mod outbound;
pub(crate) mod tickets;
pub(crate) mod wire;

use crate::core::account::{Account, ReceiveError};
use crate::core::transport::PROTOCOL_VERSION;
use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::sync::Arc;

/// What a receiving account answers when it refuses a partner message. The bodies
/// are short plain text: the reference client only looks at the status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PartnerError {
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
    /// 429: the account holds as many pending invitations as it accepts
    /// ([`crate::core::limits::MAX_PENDING_INBOUND`]).
    #[error("{0}")]
    TooMany(String),
    /// A crash point fired: the connection must die without an answer.
    #[error("the account crashed while handling the message")]
    Crashed,
}

impl From<ReceiveError> for PartnerError {
    fn from(error: ReceiveError) -> Self {
        match error {
            ReceiveError::NotFound(text) => PartnerError::NotFound(text),
            ReceiveError::Forbidden(text) => PartnerError::Forbidden(text),
            ReceiveError::Invalid(text) => PartnerError::Invalid(text),
            ReceiveError::TooMany(text) => PartnerError::TooMany(text),
            ReceiveError::Crashed => PartnerError::Crashed,
        }
    }
}

impl PartnerError {
    /// The HTTP status this refusal answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            PartnerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PartnerError::MissingToken => StatusCode::UNAUTHORIZED,
            PartnerError::Forbidden(_) => StatusCode::FORBIDDEN,
            PartnerError::NotFound(_) => StatusCode::NOT_FOUND,
            PartnerError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            PartnerError::BadVersion(_) => StatusCode::PRECONDITION_FAILED,
            PartnerError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PartnerError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
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
                    .insert(crate::surfaces::listener::AbortConnection);
            }
            _ => {}
        }
        response
    }
}

/// The `/sharing` routes, the same for every account (each serves them with its own
/// state).
pub(crate) fn routes() -> Router<Arc<Account>> {
    Router::new()
        .route(
            "/sharing/agreements/{uuid}",
            any(agreements::agreement_endpoint),
        )
        .route("/sharing/tickets/{uuid}", any(tickets::ticket_endpoint))
}

/// Checks `X-Ticket-Sharing-Version`: a missing header is accepted, anything but `1` is 412.
/// [`crate::core::transport::VERSION_HEADER`] as a header name, so looking for it parses nothing.
const VERSION: header::HeaderName = header::HeaderName::from_static("x-ticket-sharing-version");
/// [`crate::core::transport::TOKEN_HEADER`] as a header name.
const TOKEN: header::HeaderName = header::HeaderName::from_static("x-ticket-sharing-token");

pub(crate) fn check_version(headers: &HeaderMap) -> Result<(), PartnerError> {
    match headers.get(VERSION) {
        None => Ok(()),
        Some(value) if value.as_bytes() == PROTOCOL_VERSION.as_bytes() => Ok(()),
        Some(value) => Err(PartnerError::BadVersion(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )),
    }
}

/// The `X-Ticket-Sharing-Token` header, or 401.
pub(crate) fn require_token(headers: &HeaderMap) -> Result<String, PartnerError> {
    headers
        .get(TOKEN)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .ok_or(PartnerError::MissingToken)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_header_constants_name_the_protocol_headers() {
        use axum::http::HeaderName;
        for (constant, name) in [
            (super::VERSION, crate::core::transport::VERSION_HEADER),
            (super::TOKEN, crate::core::transport::TOKEN_HEADER),
        ] {
            assert_eq!(constant, HeaderName::from_bytes(name.as_bytes()).unwrap());
        }
    }
}
