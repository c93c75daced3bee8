//! What an account decides about tickets: REST changes on its own copies (create,
//! update, which share and unshare), what partners send it (a share, an update, an
//! unshare), and the pushes that keep shared copies in sync both ways.
//!
//! Same pattern as agreements: decide under the lock (asking `model::ticket`), record
//! the decision, release the lock, and hand the partner protocol what to send
//! ([`Outgoing`], in a fixed order: unshare, updates, share) so the same scenario gives
//! the same trace. Nothing here knows a wire shape.

mod local;
mod pushes;
mod received;

pub use pushes::{CommentMessage, Outgoing, SharedTicket, TicketMessage, TicketUpdate};
pub use received::{IncomingComment, IncomingTicket, TicketCall};

use super::state::{ADMIN_ID, AGENT_ID};
use super::{Account, Role, User};
use crate::model::Agreement;
use crate::model::ticket::{Ticket, TicketStatus};
use serde_json::Value;
use std::collections::BTreeMap;

/// A comment written through the REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewComment {
    /// The text (not blank).
    pub body: String,
    /// Public reply (true) or internal note.
    pub public: bool,
}

/// What a REST create or update asks for; None means unchanged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketChanges {
    /// New subject.
    pub subject: Option<String>,
    /// A comment to add (required on create: it becomes the description).
    pub comment: Option<NewComment>,
    /// New status.
    pub status: Option<TicketStatus>,
    /// The new tag set (already normalized).
    pub tags: Option<Vec<String>>,
    /// New requester.
    pub requester_id: Option<u64>,
    /// Custom field values to set, by field id.
    pub custom_fields: Option<BTreeMap<u64, Value>>,
    /// The new set of agreements (replaces the set).
    pub sharing_agreement_ids: Option<Vec<u64>>,
}

/// Why a ticket operation was refused; the REST layer maps each to a Zendesk error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// No ticket with that id on this account.
    #[error("Not found")]
    NotFound,
    /// A field's value is not allowed.
    #[error("{description}")]
    Invalid {
        /// The REST field.
        field: &'static str,
        /// What is wrong and what to do.
        description: String,
    },
}

fn invalid(field: &'static str, description: impl Into<String>) -> TicketError {
    TicketError::Invalid {
        field,
        description: description.into(),
    }
}

/// The partner's subdomain, for trace lines.
fn partner_of(agreement: &Agreement) -> String {
    agreement
        .remote_subdomain
        .clone()
        .unwrap_or_else(|| "the partner".to_string())
}

impl Account {
    /// The local user id behind a REST caller: admin 1, agent 2.
    pub fn user_id(user: &User) -> u64 {
        match user.role {
            Role::Admin => ADMIN_ID,
            Role::Agent => AGENT_ID,
        }
    }

    /// A snapshot of every ticket, by id.
    pub fn tickets(&self) -> Vec<Ticket> {
        self.read_state(|state| state.tickets().all().cloned().collect())
    }

    /// One ticket by local id.
    pub fn ticket_by_id(&self, id: u64) -> Option<Ticket> {
        self.read_state(|state| state.tickets().get(id).cloned())
    }

    /// The ticket known by this protocol uuid: the one this account shares under it,
    /// or the one it received under it (orphans included).
    pub fn ticket_by_uuid(&self, uuid: &str) -> Option<Ticket> {
        self.read_state(|state| {
            state
                .tickets()
                .all()
                .find(|t| {
                    t.uuid == uuid || t.received.as_ref().is_some_and(|r| r.share.uuid == uuid)
                })
                .cloned()
        })
    }
}
