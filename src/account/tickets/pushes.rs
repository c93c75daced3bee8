//! What a change to a ticket sends to the partners it is shared with, decided under
//! the lock: an unshare, an update to every live share (except the one the change
//! arrived over), a new share, each within its agreement's terms; and what a push that
//! could not be delivered does to the sender's agreement.

use super::partner_of;
use crate::account::state::{ADMIN_ID, AGENT_ID, TicketBook};
use crate::account::{Account, AccountState};
use crate::model::ticket::{
    Actor, Comment, Delta, SharingPlan, Ticket, TicketStatus, protocol_time, public_over,
    sync_blocker,
};
use crate::model::{Agreement, AgreementStatus, Direction, protocol_uuid};
use crate::transport::DeliveryFailure;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// One step of what follows a change: a message to send, or a push that is skipped
/// (recorded in the trace with the reason when the partner protocol reaches it).
#[derive(Debug)]
pub enum Outgoing {
    /// A message for the partner of `Push::agreement`.
    Send(Box<Push>),
    /// Why a push did not happen, for the trace.
    Skip(String),
}

/// A ticket message decided under the lock, sent after it is released.
#[derive(Debug)]
pub struct Push {
    /// The agreement it travels over (its partner URL and token).
    pub agreement: Agreement,
    /// The local ticket id, for trace lines.
    pub ticket_id: u64,
    /// The ticket's uuid on that agreement.
    pub uuid: String,
    /// What to tell the partner.
    pub message: TicketMessage,
}

/// The three ticket calls of the protocol, with what each carries.
#[derive(Debug)]
pub enum TicketMessage {
    /// The whole ticket, to a partner that does not have it yet.
    Share(Box<SharedTicket>),
    /// Only what changed.
    Update(TicketUpdate),
    /// Stop syncing; the partner keeps its copy.
    Unshare,
}

/// A ticket as a share carries it, within the agreement's terms.
#[derive(Debug)]
pub struct SharedTicket {
    /// Subject line.
    pub subject: String,
    /// When the ticket was created, protocol format.
    pub requested_at: String,
    /// Status, when the terms sync it.
    pub status: Option<TicketStatus>,
    /// Who asked.
    pub requester: Actor,
    /// Every comment, oldest first.
    pub comments: Vec<CommentMessage>,
    /// Who shared it.
    pub actor: Actor,
    /// Tags, when the terms sync them.
    pub tags: Option<Vec<String>>,
    /// The sharer's local ticket id.
    pub original_id: u64,
    /// Custom fields, when the terms sync them.
    pub custom_fields: Option<BTreeMap<u64, Value>>,
}

/// What changed on a shared ticket, within the agreement's terms.
#[derive(Debug)]
pub struct TicketUpdate {
    /// New comments the partner has not seen.
    pub comments: Vec<CommentMessage>,
    /// A new status, when the terms sync it.
    pub status: Option<TicketStatus>,
    /// The new tags, when they changed and the terms sync them.
    pub tags: Option<Vec<String>>,
    /// All custom fields, when one changed and the terms sync them.
    pub custom_fields: Option<BTreeMap<u64, Value>>,
    /// Who made the change.
    pub actor: Actor,
}

/// A comment as it travels.
#[derive(Debug)]
pub struct CommentMessage {
    /// Its protocol uuid (duplicates are recognised by it).
    pub uuid: String,
    /// Who wrote it.
    pub author: Actor,
    /// Plain text.
    pub body: String,
    /// When its writer wrote it, protocol format.
    pub authored_at: String,
    /// Whether it is public on the other side (the terms may make it private).
    pub public: bool,
}

impl Account {
    /// Decides, under the lock, which messages follow a change: an unshare, an update
    /// to every live share (except the one the change arrived over), a new share.
    pub(super) fn plan_pushes(
        &self,
        state: &AccountState,
        ticket: &Ticket,
        delta: &Delta,
        plan: SharingPlan,
        arrived_over: Option<u64>,
    ) -> Vec<Outgoing> {
        let sub = self.subdomain();
        let mut outgoing = Vec::new();
        if let Some(id) = plan.unshare {
            let agreement = state.agreement(id);
            match (agreement, sync_blocker(agreement, id)) {
                (Some(agreement), None) => outgoing.push(Outgoing::Send(Box::new(Push {
                    agreement: agreement.clone(),
                    ticket_id: ticket.id,
                    uuid: ticket.uuid.clone(),
                    message: TicketMessage::Unshare,
                }))),
                (_, reason) => outgoing.push(Outgoing::Skip(format!(
                    "{sub} unshared ticket {} from agreement {id} without telling the partner: {}",
                    ticket.id,
                    reason.unwrap_or_default()
                ))),
            }
        }
        if !delta.is_empty() {
            for share in ticket.live_shares() {
                let id = share.agreement_id;
                if Some(id) == arrived_over || Some(id) == plan.share {
                    continue;
                }
                let agreement = state.agreement(id);
                let partner = agreement
                    .map(partner_of)
                    .unwrap_or_else(|| "the partner".to_string());
                let agreement = match (agreement, sync_blocker(agreement, id)) {
                    (Some(agreement), None) => agreement,
                    (_, reason) => {
                        outgoing.push(Outgoing::Skip(format!(
                            "{sub} did not push {} of ticket {} to {partner}: {}",
                            delta.describe(),
                            ticket.id,
                            reason.unwrap_or_default()
                        )));
                        continue;
                    }
                };
                match self.update_message(state.tickets(), ticket, delta, agreement) {
                    Some(update) => outgoing.push(Outgoing::Send(Box::new(Push {
                        agreement: agreement.clone(),
                        ticket_id: ticket.id,
                        uuid: share.uuid.clone(),
                        message: TicketMessage::Update(update),
                    }))),
                    None => outgoing.push(Outgoing::Skip(format!(
                        "{sub} did not push {} of ticket {} to {partner}: the terms of agreement {id} keep it local",
                        delta.describe(),
                        ticket.id
                    ))),
                }
            }
        }
        if let Some(id) = plan.share
            && let Some(agreement) = state.agreement(id)
        {
            outgoing.push(Outgoing::Send(Box::new(Push {
                agreement: agreement.clone(),
                ticket_id: ticket.id,
                uuid: ticket.uuid.clone(),
                message: TicketMessage::Share(Box::new(self.share_message(
                    state.tickets(),
                    ticket,
                    agreement,
                    delta.actor,
                ))),
            })));
        }
        outgoing
    }

    /// Records a skipped push in the trace.
    pub fn note_skipped_push(&self, reason: String) {
        self.trace().decision(self.subdomain(), reason);
    }

    /// A push that could not be delivered: the sender's agreement takes the failure's
    /// status, as an invitation's would (DESIGN.md §2).
    pub fn record_push_failure(&self, push: &Push, failure: &DeliveryFailure) {
        let agreement = &push.agreement;
        let partner = partner_of(agreement);
        let what = match push.message {
            TicketMessage::Share(_) => "sharing",
            TicketMessage::Unshare => "unsharing",
            TicketMessage::Update(_) => "pushing",
        };
        if agreement.direction == Direction::Outbound {
            let now = self.trace().clock().timestamp();
            let moved = self.with_state(|state| {
                state
                    .change(agreement.id, |copy| {
                        let moved = copy.status == AgreementStatus::Accepted;
                        if moved {
                            copy.status = failure.status;
                            copy.updated_at = now;
                        }
                        moved
                    })
                    .unwrap_or(false)
            });
            let outcome = if moved {
                format!(
                    "marked outbound agreement {} {}",
                    agreement.id, failure.status
                )
            } else {
                format!("left agreement {} as it is", agreement.id)
            };
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} {outcome}: {what} ticket {} to {partner} failed: {}",
                    self.subdomain(),
                    push.ticket_id,
                    failure.cause
                ),
            );
        } else {
            // Our model: DESIGN.md §2 gives failure statuses to the sender's copy only;
            // a receiver whose push fails records why and keeps its copy's status.
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} could not push ticket {} to {partner} over inbound agreement {} ({}); the receiver's copy keeps its status",
                    self.subdomain(),
                    push.ticket_id,
                    agreement.id,
                    failure
                ),
            );
        }
    }

    /// A person as partners know them: our own users by our sharing URL, partners'
    /// people as they introduced themselves.
    fn actor(&self, book: &TicketBook, person_id: u64) -> Actor {
        let own_url = self.sharing_url();
        let local = |id: u64, role: &str| Actor {
            uuid: protocol_uuid(&own_url, "users", id),
            name: format!("{} {role}", self.display_name()),
            role: role.to_string(),
        };
        match person_id {
            ADMIN_ID => local(ADMIN_ID, "admin"),
            AGENT_ID => local(AGENT_ID, "agent"),
            id => book
                .person(id)
                .map(|p| Actor {
                    uuid: p.uuid.clone(),
                    name: p.name.clone(),
                    role: p.role.clone(),
                })
                .unwrap_or_else(|| local(ADMIN_ID, "admin")),
        }
    }

    fn comment_message(
        &self,
        book: &TicketBook,
        comment: &Comment,
        agreement: &Agreement,
    ) -> CommentMessage {
        CommentMessage {
            uuid: comment.uuid.clone(),
            author: self.actor(book, comment.author_id),
            body: comment.body.clone(),
            authored_at: comment.authored_at.clone(),
            public: public_over(&agreement.terms, comment.public),
        }
    }

    /// The whole ticket, as a share carries it, within the agreement's terms.
    fn share_message(
        &self,
        book: &TicketBook,
        ticket: &Ticket,
        agreement: &Agreement,
        actor: Option<u64>,
    ) -> SharedTicket {
        let terms = agreement.terms;
        let requested_at = DateTime::parse_from_rfc3339(&ticket.created_at)
            .map(|t| protocol_time(t.with_timezone(&Utc)))
            .unwrap_or_else(|_| ticket.created_at.clone());
        SharedTicket {
            subject: ticket.subject.clone(),
            requested_at,
            status: terms.sync_status.then_some(ticket.status),
            requester: self.actor(book, ticket.requester_id),
            comments: ticket
                .comments
                .iter()
                .map(|c| self.comment_message(book, c, agreement))
                .collect(),
            actor: self.actor(book, actor.unwrap_or(ADMIN_ID)),
            tags: terms.sync_tags.then(|| ticket.tags.clone()),
            original_id: ticket.id,
            custom_fields: terms
                .sync_custom_fields
                .then(|| ticket.custom_fields.clone()),
        }
    }

    /// Only what changed, within the agreement's terms; None when nothing may travel.
    fn update_message(
        &self,
        book: &TicketBook,
        ticket: &Ticket,
        delta: &Delta,
        agreement: &Agreement,
    ) -> Option<TicketUpdate> {
        let terms = agreement.terms;
        let comments: Vec<CommentMessage> = delta
            .comments
            .iter()
            .filter(|c| c.arrived_over != Some(agreement.id))
            .map(|c| self.comment_message(book, c, agreement))
            .collect();
        let status = delta.status.filter(|_| terms.sync_status);
        let tags = (delta.tags && terms.sync_tags).then(|| ticket.tags.clone());
        let custom_fields =
            (delta.custom_fields && terms.sync_custom_fields).then(|| ticket.custom_fields.clone());
        if comments.is_empty() && status.is_none() && tags.is_none() && custom_fields.is_none() {
            return None;
        }
        Some(TicketUpdate {
            comments,
            status,
            tags,
            custom_fields,
            actor: self.actor(book, delta.actor.unwrap_or(ADMIN_ID)),
        })
    }
}
