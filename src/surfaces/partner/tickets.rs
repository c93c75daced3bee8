//! `/sharing/tickets/{uuid}`: a receiving account's answers to a share (POST), pushed
//! changes (PUT) and an unshare (DELETE).
//!
//! Checks run in a fixed order — version (412), method (405), token (401), body (400),
//! then the agreement behind the token (403) and the message (422) — and the account
//! answers the rest: 404 for an unknown ticket. Every refusal after the body is
//! parsed is recorded in the trace.

use super::wire::{self, WireTicket};
use super::{PartnerError, check_version, outbound, require_token};
use crate::core::account::Account;
use crate::core::account::tickets::{Outgoing, TicketCall};
use crate::core::model::ticket::Ticket;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A successful answer to a ticket call: 201 for a new copy, 200 otherwise.
pub(crate) struct TicketReply {
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
    let (call, what) = match method {
        Method::POST => (TicketCall::Share, "a share"),
        Method::PUT => (TicketCall::Update, "an update"),
        Method::DELETE => (TicketCall::Unshare, "an unshare"),
        other => return Err(PartnerError::MethodNotAllowed(other)),
    };
    let token = require_token(headers)?;
    // An unparsable body is refused before the token is looked at, and not traced.
    let sent = match call {
        TicketCall::Share | TicketCall::Update => wire::parse_ticket(body)?,
        TicketCall::Unshare => WireTicket::default(),
    };
    let taken = take(account, uuid, call, &token, sent);
    let (status, ticket, outgoing, over) = match taken {
        Ok(taken) => taken,
        Err(error) => {
            account.note_refused_ticket_call(what, uuid, &error.to_string());
            return Err(error);
        }
    };
    // Our model: forwarding happens before the answer, so a chain's trace reads in
    // order; the cost is that a slow next hop delays this answer (and a sender with a
    // shorter timeout than the whole chain records the push as failed).
    outbound::deliver(account, outgoing).await;
    // The partner just reached us over this agreement: what we could not push back to
    // it before may get through now (our model of a retry).
    outbound::flush(account, over).await;
    Ok(TicketReply {
        status,
        body: wire::ticket_reply(&ticket, uuid),
    })
}

/// What one call leaves: the answer's status, the ticket as held now, what to forward
/// along a chain, and the agreement it came over.
type Taken = (StatusCode, Ticket, Vec<Outgoing>, u64);

/// The account's side of one call, with what it must forward along a chain.
fn take(
    account: &Account,
    uuid: &str,
    call: TicketCall,
    token: &str,
    sent: WireTicket,
) -> Result<Taken, PartnerError> {
    let agreement = account.authorize_ticket_call(token, call)?;
    match call {
        TicketCall::Share => {
            let incoming = wire::incoming_ticket(uuid, sent)?;
            let (created, ticket) = account.take_share(uuid, &agreement, incoming)?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, ticket, Vec::new(), agreement.id))
        }
        TicketCall::Update => {
            let incoming = wire::incoming_ticket(uuid, sent)?;
            let (ticket, outgoing) = account.take_update(uuid, &agreement, incoming)?;
            Ok((StatusCode::OK, ticket, outgoing, agreement.id))
        }
        TicketCall::Unshare => {
            let ticket = account.take_unshare(uuid, &agreement)?;
            Ok((StatusCode::OK, ticket, Vec::new(), agreement.id))
        }
    }
}
