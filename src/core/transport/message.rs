//! What a partner message is, the protocol's headers it carries, and what its delivery
//! can end in: the vocabulary every part of the transport shares, below all of them.

use crate::core::model::AgreementStatus;
use axum::http::Method;
use std::time::Duration;

/// The protocol version we speak and require (`X-Ticket-Sharing-Version`).
pub const PROTOCOL_VERSION: &str = "1";
/// Header carrying `{agreement uuid}:{access key}` on every call after the invitation.
pub const TOKEN_HEADER: &str = "X-Ticket-Sharing-Token";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "X-Ticket-Sharing-Version";
/// Header naming the sending account on every partner message (a sharesim extension),
/// so the receiving side can apply faults to one link.
pub const FROM_HEADER: &str = "X-Sharesim-From";
/// Header carrying the world's own key on every partner message its transport sends, so
/// a receiving account tells the world's messages (already traced by the sender) from
/// those of external accounts and strangers. The relay to an external account removes it.
pub const WORLD_HEADER: &str = "X-Sharesim-World";
/// Header on the relay's own 502 when an external account could not be reached: the
/// status its sender records (`failed`, `ssl_error`, `configuration_error`), with the
/// cause as the body. The relay never passes this header on from a partner.
pub const RELAY_FAILURE_HEADER: &str = "X-Sharesim-Relay-Failure";
/// Redirects a sender follows before giving up (the reference client's limit).
pub const MAX_REDIRECTS: usize = 2;

/// A partner message about to be sent.
#[derive(Clone, Debug)]
pub struct Message {
    /// The sending account's subdomain (for the trace and per-link faults).
    pub from: String,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL, under the partner's sharing URL.
    pub url: String,
    /// `X-Ticket-Sharing-Token`, absent only on an invitation.
    pub token: Option<String>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
}

/// A 2xx answer from the partner.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The 2xx status.
    pub status: u16,
    /// The body, parsed as JSON when it is JSON (otherwise Null).
    pub body: serde_json::Value,
}

/// Why a message was not delivered, and the status a sender records for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// `failed`, `ssl_error` or `configuration_error`.
    pub status: AgreementStatus,
    /// What happened, in words, including the underlying library's error text.
    pub cause: String,
    /// The HTTP status, when the partner answered with a refusal.
    pub http_status: Option<u16>,
    /// How long the partner asked the sender to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

impl DeliveryFailure {
    /// Whether the partner refused the message for what it says (400, 409, 413, 422):
    /// the same message would be refused again, so a queued push is dropped rather
    /// than kept *(model)*. Every other failure says nothing about the message.
    pub fn refuses_content(&self) -> bool {
        matches!(self.http_status, Some(400 | 409 | 413 | 422))
    }
}

impl std::fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.cause, self.status)
    }
}
