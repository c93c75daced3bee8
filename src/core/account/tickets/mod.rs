//! What an account decides about tickets: REST changes on its own copies (create,
//! update, which share and unshare), what partners send it (a share, an update, an
//! unshare), and the pushes that keep shared copies in sync both ways.
//!
//! Same pattern as agreements: decide under the lock (asking `model::ticket`), queue
//! the pushes in the outbox under it (in a fixed order: unshare, updates, share),
//! record the decision, release the lock, and hand the partner protocol what to flush
//! ([`Outgoing`]) so the same scenario gives the same trace. Nothing here knows a wire
//! shape.

mod fields;
mod local;
mod pushes;
mod received;

pub(crate) use crate::core::account::outbox::{
    CommentMessage, Push, SharedTicket, TicketMessage, TicketUpdate,
};
pub(crate) use pushes::Outgoing;
pub(crate) use received::{IncomingComment, IncomingTicket, TicketCall, no_ticket};

use super::state::{ADMIN_ID, AGENT_ID};
use super::{Account, Role, User};
use crate::core::model::Agreement;
use crate::core::model::ticket::{Attachment, Ticket, TicketStatus};
use serde_json::Value;
use std::collections::BTreeMap;

/// A comment written through the REST API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewComment {
    /// The text (not blank).
    pub body: String,
    /// Public reply (true) or internal note.
    pub public: bool,
    /// The HTML rendering, when given.
    pub html_body: Option<String>,
    /// Files, as URLs.
    pub attachments: Vec<Attachment>,
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
    /// A new custom status label.
    pub custom_status: Option<String>,
    /// On create: the closed ticket this one follows up (`via_followup_source_id`).
    pub follow_up_source: Option<u64>,
    /// `safe_update`: refuse the change if the ticket changed since `updated_stamp`.
    pub safe_update: bool,
    /// The `updated_at` the caller read, for `safe_update`.
    pub updated_stamp: Option<String>,
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
    /// `safe_update` found the ticket changed since the caller read it.
    #[error("the ticket changed since {stamp} (it was updated at {updated_at})")]
    Conflict {
        /// The stamp the caller sent.
        stamp: String,
        /// The ticket's `updated_at` now.
        updated_at: String,
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
        .map_or_else(|| "the partner".to_string(), String::from)
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

    /// A partner's person this account knows, by local id.
    pub fn person(&self, id: u64) -> Option<crate::core::account::state::Person> {
        self.with_state(|state| state.tickets().person(id).cloned())
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
