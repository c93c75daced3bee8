//! What an account does with tickets: the REST operations (create, update, which
//! share and unshare), the partner side (take a share, an update, an unshare), and the
//! pushes that keep shared copies in sync both ways.
//!
//! Same pattern as agreements: decide under the lock (asking `model::ticket`), record
//! the decision, release the lock, then send. Pushes go out one at a time in a fixed
//! order (unshare, updates, share), so the same scenario gives the same trace.

use super::agreements::{protocol_uuid, short};
use super::{Account, AccountState, Role, User};
use crate::model::ticket::{
    Audit, AuditEvent, Comment, Received, Share, SharingAction, SharingPlan, Ticket, TicketStatus,
    default_subject, normalize_tags, plan_sharing, public_over,
};
use crate::model::{Agreement, AgreementStatus, Direction};
use crate::partner::tickets::{TicketReply, WireComment, WireTicket};
use crate::partner::{Actor, PartnerError};
use crate::transport::{DeliveryFailure, Message};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The local id of the account's admin (requester and author of what the admin does).
pub const ADMIN_ID: u64 = 1;
/// The local id of the account's agent.
pub const AGENT_ID: u64 = 2;

/// Someone a partner told us about (a comment's author, a requester). Local users
/// are ids 1 and 2; partners' people get ids from 3 on first sight *(model)*.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// The account-local id.
    pub id: u64,
    /// The protocol's actor uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// `admin` or `agent`.
    pub role: String,
}

/// An account's tickets and the counters that number them.
#[derive(Debug)]
pub struct TicketBook {
    /// Tickets by local id.
    pub tickets: BTreeMap<u64, Ticket>,
    /// Partners' people, in order of first sight.
    pub people: Vec<Person>,
    /// The id the next ticket gets.
    pub next_ticket_id: u64,
    /// The id the next comment gets (one counter per account).
    pub next_comment_id: u64,
    /// The id the next audit gets (one counter per account).
    pub next_audit_id: u64,
}

impl Default for TicketBook {
    fn default() -> Self {
        TicketBook {
            tickets: BTreeMap::new(),
            people: Vec::new(),
            next_ticket_id: 1,
            next_comment_id: 1,
            next_audit_id: 1,
        }
    }
}

impl TicketBook {
    fn take_comment_id(&mut self) -> u64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        id
    }

    fn take_audit_id(&mut self) -> u64 {
        let id = self.next_audit_id;
        self.next_audit_id += 1;
        id
    }

    fn person_exists(&self, id: u64) -> bool {
        id == ADMIN_ID || id == AGENT_ID || self.people.iter().any(|p| p.id == id)
    }

    /// The local id of a partner's person, recorded on first sight. Our own users
    /// coming back around a chain are recognised by their uuid.
    fn person_for(&mut self, actor: Option<&Actor>, own_url: &str) -> u64 {
        let fallback = Actor {
            uuid: String::new(),
            name: "Partner user".to_string(),
            role: "agent".to_string(),
        };
        let actor = actor.unwrap_or(&fallback);
        for local in [ADMIN_ID, AGENT_ID] {
            if actor.uuid == protocol_uuid(own_url, "users", local) {
                return local;
            }
        }
        if let Some(person) = self.people.iter().find(|p| p.uuid == actor.uuid) {
            return person.id;
        }
        let id = AGENT_ID + 1 + self.people.len() as u64;
        self.people.push(Person {
            id,
            uuid: actor.uuid.clone(),
            name: actor.name.clone(),
            role: actor.role.clone(),
        });
        id
    }
}

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

/// What one change must tell the partners.
#[derive(Debug, Default)]
struct Delta {
    comments: Vec<Comment>,
    status: Option<TicketStatus>,
    tags: bool,
    custom_fields: bool,
    actor: Option<u64>,
}

impl Delta {
    fn is_empty(&self) -> bool {
        self.comments.is_empty() && self.status.is_none() && !self.tags && !self.custom_fields
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .comments
            .iter()
            .map(|c| format!("comment {}", c.id))
            .collect();
        if let Some(status) = self.status {
            parts.push(format!("status {status}"));
        }
        if self.tags {
            parts.push("tags".to_string());
        }
        if self.custom_fields {
            parts.push("custom fields".to_string());
        }
        parts.join(", ")
    }
}

/// A partner message decided under the lock, sent after it is released.
#[derive(Debug)]
struct Push {
    agreement: Agreement,
    ticket_id: u64,
    uuid: String,
    method: Method,
    body: Option<WireTicket>,
}

/// One step of what follows a change: a message to send, or a push that is skipped
/// (recorded in the trace with the reason).
#[derive(Debug)]
enum Outgoing {
    Send(Box<Push>),
    Skip(String),
}

/// Which ticket call a partner makes (they need different agreement directions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Share,
    Update,
    Unshare,
}

fn rest_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn protocol_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M:%S %z").to_string()
}

fn partner_of(agreement: &Agreement) -> String {
    agreement
        .remote_subdomain
        .clone()
        .unwrap_or_else(|| "the partner".to_string())
}

/// Why pushes over this agreement are skipped, if they are.
fn sync_blocker(agreement: Option<&Agreement>, id: u64) -> Option<String> {
    match agreement {
        None => Some(format!("agreement {id} no longer exists")),
        Some(a) if a.status == AgreementStatus::Accepted => None,
        Some(a) => Some(match &a.deactivated_by {
            Some(by) => format!(
                "agreement {id} is {} (deactivated by the {by}), so shared tickets no longer sync",
                a.status
            ),
            None => format!(
                "agreement {id} is {}, so shared tickets do not sync",
                a.status
            ),
        }),
    }
}

fn invalid(field: &'static str, description: impl Into<String>) -> TicketError {
    TicketError::Invalid {
        field,
        description: description.into(),
    }
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
        self.with_state(|state| state.tickets.tickets.values().cloned().collect())
    }

    /// One ticket by local id.
    pub fn ticket_by_id(&self, id: u64) -> Option<Ticket> {
        self.with_state(|state| state.tickets.tickets.get(&id).cloned())
    }

    /// The ticket known by this protocol uuid: the one this account shares under it,
    /// or the one it received under it (orphans included).
    pub fn ticket_by_uuid(&self, uuid: &str) -> Option<Ticket> {
        self.with_state(|state| {
            state
                .tickets
                .tickets
                .values()
                .find(|t| {
                    t.uuid == uuid || t.received.as_ref().is_some_and(|r| r.share.uuid == uuid)
                })
                .cloned()
        })
    }

    /// The REST API's JSON object for a ticket.
    pub fn ticket_json(&self, ticket: &Ticket) -> Value {
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
            "url": format!("{}/tickets/{}.json", self.api_url(), ticket.id),
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

    /// Creates a ticket (REST `POST /tickets`), sharing it at once when
    /// `sharing_agreement_ids` names an accepted outbound agreement.
    pub async fn create_ticket(
        &self,
        author_id: u64,
        changes: TicketChanges,
    ) -> Result<Ticket, TicketError> {
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let decided = self.with_state(|state| {
            let comment = changes
                .comment
                .clone()
                .ok_or_else(|| invalid("description", "Description: cannot be blank"))?;
            let requester_id = changes.requester_id.unwrap_or(author_id);
            if !state.tickets.person_exists(requester_id) {
                return Err(invalid(
                    "requester_id",
                    format!("Requester: user {requester_id} does not exist"),
                ));
            }
            let id = state.tickets.next_ticket_id;
            let mut ticket = Ticket {
                id,
                uuid: protocol_uuid(&own_url, "tickets", id),
                subject: changes
                    .subject
                    .clone()
                    .unwrap_or_else(|| default_subject(&comment.body)),
                description: comment.body.clone(),
                status: changes.status.unwrap_or(TicketStatus::New),
                requester_id,
                tags: changes.tags.clone().unwrap_or_default(),
                custom_fields: changes.custom_fields.clone().unwrap_or_default(),
                comments: Vec::new(),
                audits: Vec::new(),
                sent: None,
                received: None,
                created_at: rest_time(now),
                updated_at: rest_time(now),
            };
            let plan = self.plan(state, &ticket, changes.sharing_agreement_ids.as_deref())?;
            state.tickets.next_ticket_id += 1;
            let mut events = vec![
                AuditEvent::Create {
                    field_name: "subject".to_string(),
                    value: json!(ticket.subject),
                },
                AuditEvent::Create {
                    field_name: "status".to_string(),
                    value: json!(ticket.status),
                },
            ];
            if !ticket.tags.is_empty() {
                events.push(AuditEvent::Create {
                    field_name: "tags".to_string(),
                    value: json!(ticket.tags),
                });
            }
            let comment = add_local_comment(
                &mut state.tickets,
                &mut ticket,
                &comment,
                author_id,
                now,
                &own_url,
            );
            events.push(comment_event(&comment));
            apply_plan(&mut ticket, plan, &mut events);
            push_audit(
                &mut state.tickets,
                &mut ticket,
                author_id as i64,
                now,
                events,
            );
            state.tickets.tickets.insert(id, ticket.clone());
            let delta = Delta {
                actor: Some(author_id),
                ..Delta::default()
            };
            let outgoing = self.plan_pushes(state, &ticket, &delta, plan, None);
            Ok((ticket, outgoing))
        });
        let (ticket, outgoing) = decided.inspect_err(|error| self.note_refusal(None, error))?;
        let shared = ticket
            .sent
            .as_ref()
            .map(|s| format!(", shared over agreement {}", s.agreement_id))
            .unwrap_or_default();
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} created ticket {} {:?} ({}){shared}",
                self.subdomain(),
                ticket.id,
                ticket.subject,
                ticket.status
            ),
        );
        self.send_pushes(outgoing).await;
        Ok(self.ticket_by_id(ticket.id).unwrap_or(ticket))
    }

    /// Changes a ticket (REST `PUT /tickets/{id}`): fields, a new comment, and the
    /// `sharing_agreement_ids` set (adding an id shares, removing one unshares). Every
    /// live share hears about the change unless its agreement's terms keep it local.
    pub async fn update_ticket(
        &self,
        id: u64,
        author_id: u64,
        changes: TicketChanges,
    ) -> Result<Ticket, TicketError> {
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let decided = self.with_state(|state| {
            let mut ticket = state
                .tickets
                .tickets
                .get(&id)
                .cloned()
                .ok_or(TicketError::NotFound)?;
            if let Some(requester_id) = changes.requester_id
                && !state.tickets.person_exists(requester_id)
            {
                return Err(invalid(
                    "requester_id",
                    format!("Requester: user {requester_id} does not exist"),
                ));
            }
            let plan = self.plan(state, &ticket, changes.sharing_agreement_ids.as_deref())?;
            let mut events = Vec::new();
            let mut delta = Delta {
                actor: Some(author_id),
                ..Delta::default()
            };
            if let Some(subject) = &changes.subject
                && *subject != ticket.subject
            {
                events.push(change_event(
                    "subject",
                    json!(subject),
                    json!(ticket.subject),
                ));
                ticket.subject = subject.clone();
            }
            if let Some(requester_id) = changes.requester_id
                && requester_id != ticket.requester_id
            {
                events.push(change_event(
                    "requester_id",
                    json!(requester_id),
                    json!(ticket.requester_id),
                ));
                ticket.requester_id = requester_id;
            }
            apply_synced_fields(
                &mut ticket,
                changes.status,
                changes.tags.as_ref(),
                changes.custom_fields.as_ref(),
                &mut events,
                &mut delta,
            );
            if let Some(comment) = &changes.comment {
                let comment = add_local_comment(
                    &mut state.tickets,
                    &mut ticket,
                    comment,
                    author_id,
                    now,
                    &own_url,
                );
                events.push(comment_event(&comment));
                delta.comments.push(comment);
            }
            apply_plan(&mut ticket, plan, &mut events);
            let changed = !events.is_empty();
            if changed {
                push_audit(
                    &mut state.tickets,
                    &mut ticket,
                    author_id as i64,
                    now,
                    events,
                );
                ticket.updated_at = rest_time(now);
                state.tickets.tickets.insert(id, ticket.clone());
            }
            let outgoing = self.plan_pushes(state, &ticket, &delta, plan, None);
            Ok((ticket, outgoing, changed, describe_plan(&delta, plan)))
        });
        let (ticket, outgoing, changed, summary) =
            decided.inspect_err(|error| self.note_refusal(Some(id), error))?;
        if changed {
            self.trace().decision(
                self.subdomain(),
                format!("{} updated ticket {id}: {summary}", self.subdomain()),
            );
        }
        self.send_pushes(outgoing).await;
        Ok(self.ticket_by_id(id).unwrap_or(ticket))
    }

    fn plan(
        &self,
        state: &AccountState,
        ticket: &Ticket,
        requested: Option<&[u64]>,
    ) -> Result<SharingPlan, TicketError> {
        match requested {
            None => Ok(SharingPlan::default()),
            Some(ids) => plan_sharing(ticket, ids, &state.agreements, self.subdomain())
                .map_err(|refusal| invalid("sharing_agreement_ids", refusal.to_string())),
        }
    }

    fn note_refusal(&self, id: Option<u64>, error: &TicketError) {
        if let TicketError::Invalid { description, .. } = error {
            let what = match id {
                Some(id) => format!("a change to ticket {id}"),
                None => "a new ticket".to_string(),
            };
            self.trace().decision(
                self.subdomain(),
                format!("{} refused {what}: {description}", self.subdomain()),
            );
        }
    }

    /// Decides, under the lock, which messages follow a change: an unshare, an update
    /// to every live share (except the one the change arrived over), a new share.
    fn plan_pushes(
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
                    method: Method::DELETE,
                    body: None,
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
                match self.wire_update(&state.tickets, ticket, delta, agreement, &share.uuid) {
                    Some(body) => outgoing.push(Outgoing::Send(Box::new(Push {
                        agreement: agreement.clone(),
                        ticket_id: ticket.id,
                        uuid: share.uuid.clone(),
                        method: Method::PUT,
                        body: Some(body),
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
                method: Method::POST,
                body: Some(self.wire_share(&state.tickets, ticket, agreement, delta.actor)),
            })));
        }
        outgoing
    }

    /// Sends what [`Account::plan_pushes`] decided, in order, with no lock held.
    async fn send_pushes(&self, outgoing: Vec<Outgoing>) {
        for item in outgoing {
            match item {
                Outgoing::Skip(reason) => self.trace().decision(self.subdomain(), reason),
                Outgoing::Send(push) => {
                    let message = Message {
                        from: self.subdomain().to_string(),
                        method: push.method.clone(),
                        url: format!("{}/tickets/{}", push.agreement.partner_url(), push.uuid),
                        token: Some(push.agreement.token()),
                        body: push
                            .body
                            .as_ref()
                            .map(|body| serde_json::to_value(body).unwrap_or_default()),
                    };
                    if let Err(failure) = self.services().transport.deliver(&message).await {
                        self.record_push_failure(&push, &failure);
                    }
                }
            }
        }
    }

    /// A push that could not be delivered: the sender's agreement takes the failure's
    /// status, as an invitation's would (DESIGN.md §2).
    fn record_push_failure(&self, push: &Push, failure: &DeliveryFailure) {
        let agreement = &push.agreement;
        let partner = partner_of(agreement);
        let what = match push.method {
            Method::POST => "sharing",
            Method::DELETE => "unsharing",
            _ => "pushing",
        };
        if agreement.direction == Direction::Outbound {
            let now = self.trace().clock().timestamp();
            let moved = self.with_state(|state| match state.agreements.get_mut(&agreement.id) {
                Some(copy) if copy.status == AgreementStatus::Accepted => {
                    copy.status = failure.status;
                    copy.updated_at = now;
                    true
                }
                _ => false,
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
                .people
                .iter()
                .find(|p| p.id == id)
                .map(|p| Actor {
                    uuid: p.uuid.clone(),
                    name: p.name.clone(),
                    role: p.role.clone(),
                })
                .unwrap_or_else(|| local(ADMIN_ID, "admin")),
        }
    }

    fn wire_comment(
        &self,
        book: &TicketBook,
        comment: &Comment,
        agreement: &Agreement,
    ) -> WireComment {
        WireComment {
            uuid: Some(comment.uuid.clone()),
            author: Some(self.actor(book, comment.author_id)),
            body: Some(comment.body.clone()),
            html_body: None,
            authored_at: Some(comment.authored_at.clone()),
            public: Some(public_over(&agreement.terms, comment.public)),
        }
    }

    /// The whole ticket, as a share carries it, within the agreement's terms.
    fn wire_share(
        &self,
        book: &TicketBook,
        ticket: &Ticket,
        agreement: &Agreement,
        actor: Option<u64>,
    ) -> WireTicket {
        let terms = agreement.terms;
        let requested_at = DateTime::parse_from_rfc3339(&ticket.created_at)
            .map(|t| protocol_time(t.with_timezone(&Utc)))
            .unwrap_or_else(|_| ticket.created_at.clone());
        WireTicket {
            uuid: Some(ticket.uuid.clone()),
            subject: Some(ticket.subject.clone()),
            requested_at: Some(requested_at),
            status: terms.sync_status.then(|| ticket.status.to_string()),
            requester: Some(self.actor(book, ticket.requester_id)),
            comments: Some(
                ticket
                    .comments
                    .iter()
                    .map(|c| self.wire_comment(book, c, agreement))
                    .collect(),
            ),
            current_actor: Some(self.actor(book, actor.unwrap_or(ADMIN_ID))),
            tags: terms.sync_tags.then(|| ticket.tags.clone()),
            original_id: Some(ticket.id),
            custom_fields: terms
                .sync_custom_fields
                .then(|| wire_fields(&ticket.custom_fields)),
        }
    }

    /// Only what changed, within the agreement's terms; None when nothing may travel.
    fn wire_update(
        &self,
        book: &TicketBook,
        ticket: &Ticket,
        delta: &Delta,
        agreement: &Agreement,
        uuid: &str,
    ) -> Option<WireTicket> {
        let terms = agreement.terms;
        let comments: Vec<WireComment> = delta
            .comments
            .iter()
            .filter(|c| c.arrived_over != Some(agreement.id))
            .map(|c| self.wire_comment(book, c, agreement))
            .collect();
        let status = delta
            .status
            .filter(|_| terms.sync_status)
            .map(|s| s.to_string());
        let tags = (delta.tags && terms.sync_tags).then(|| ticket.tags.clone());
        let custom_fields = (delta.custom_fields && terms.sync_custom_fields)
            .then(|| wire_fields(&ticket.custom_fields));
        if comments.is_empty() && status.is_none() && tags.is_none() && custom_fields.is_none() {
            return None;
        }
        Some(WireTicket {
            uuid: Some(uuid.to_string()),
            comments: (!comments.is_empty()).then_some(comments),
            status,
            tags,
            custom_fields,
            current_actor: Some(self.actor(book, delta.actor.unwrap_or(ADMIN_ID))),
            ..WireTicket::default()
        })
    }

    /// Checks a ticket call's `X-Ticket-Sharing-Token`: the agreement must exist here,
    /// the key match, the agreement be accepted, and shares and unshares come from its
    /// sender. Every refusal is 403 *(model: a token naming no agreement is a wrong key)*.
    fn authorize_ticket_call(&self, token: &str, call: Call) -> Result<Agreement, PartnerError> {
        let agreement_uuid = token.split_once(':').map_or(token, |(uuid, _)| uuid);
        let agreement = self
            .authorize(agreement_uuid, token)
            .map_err(|error| match error {
                PartnerError::NotFound(_) => PartnerError::Forbidden(format!(
                    "the X-Ticket-Sharing-Token names no agreement {} holds",
                    self.subdomain()
                )),
                other => other,
            })?;
        if agreement.status != AgreementStatus::Accepted {
            return Err(PartnerError::Forbidden(format!(
                "agreement {} is {}: ticket calls need an accepted agreement",
                short(&agreement.uuid),
                agreement.status
            )));
        }
        if call != Call::Update && agreement.direction == Direction::Outbound {
            return Err(PartnerError::Forbidden(format!(
                "agreement {} is one way: only its sender shares or unshares tickets over it",
                short(&agreement.uuid)
            )));
        }
        Ok(agreement)
    }

    fn refused<T>(
        &self,
        what: &str,
        uuid: &str,
        result: Result<T, PartnerError>,
    ) -> Result<T, PartnerError> {
        if let Err(error) = &result {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} refused {what} of ticket {}: {error}",
                    self.subdomain(),
                    short(uuid)
                ),
            );
        }
        result
    }

    /// Receiver side of `POST /sharing/tickets/{uuid}`: stores a new ticket linked to
    /// the inbound agreement (201), or re-links and merges into the copy it already
    /// holds under that uuid (200: a repeated share, or a share after an unshare).
    pub fn receive_share(
        &self,
        path_uuid: &str,
        token: &str,
        wire: WireTicket,
    ) -> Result<TicketReply, PartnerError> {
        let result = self.take_share(path_uuid, token, wire);
        self.refused("a share", path_uuid, result)
    }

    fn take_share(
        &self,
        path_uuid: &str,
        token: &str,
        wire: WireTicket,
    ) -> Result<TicketReply, PartnerError> {
        let agreement = self.authorize_ticket_call(token, Call::Share)?;
        let incoming = Incoming::check(path_uuid, &wire, &agreement)?;
        let subject = wire
            .subject
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| PartnerError::Invalid("a shared ticket needs a subject".to_string()))?;
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let (created, ticket) = self.with_state(|state| {
            let book = &mut state.tickets;
            let actor = book.person_for(wire.current_actor.as_ref(), &own_url) as i64;
            let existing = book
                .tickets
                .values()
                .find(|t| {
                    t.received.as_ref().is_some_and(|r| {
                        r.share.uuid == path_uuid && r.share.agreement_id == agreement.id
                    })
                })
                .map(|t| t.id);
            let (created, mut ticket, mut events) =
                match existing.and_then(|id| book.tickets.get(&id)) {
                    Some(held) => {
                        let mut ticket = held.clone();
                        let mut events = Vec::new();
                        if let Some(received) = ticket.received.as_mut()
                            && received.orphaned
                        {
                            received.orphaned = false;
                            events.push(AuditEvent::TicketSharing {
                                agreement_id: agreement.id,
                                action: SharingAction::Shared,
                            });
                        }
                        (false, ticket, events)
                    }
                    None => {
                        let id = book.next_ticket_id;
                        book.next_ticket_id += 1;
                        let requester_id = book.person_for(wire.requester.as_ref(), &own_url);
                        let description = incoming
                            .comments
                            .first()
                            .and_then(|c| c.body.clone())
                            .unwrap_or_default();
                        let ticket = Ticket {
                            id,
                            uuid: protocol_uuid(&own_url, "tickets", id),
                            subject: subject.clone(),
                            description,
                            status: incoming.status.unwrap_or(TicketStatus::New),
                            requester_id,
                            tags: incoming.tags.clone().unwrap_or_default(),
                            custom_fields: incoming.custom_fields.clone().unwrap_or_default(),
                            comments: Vec::new(),
                            audits: Vec::new(),
                            sent: None,
                            received: Some(Received {
                                share: Share {
                                    agreement_id: agreement.id,
                                    uuid: path_uuid.to_string(),
                                },
                                orphaned: false,
                            }),
                            created_at: rest_time(now),
                            updated_at: rest_time(now),
                        };
                        let events = vec![
                            AuditEvent::Create {
                                field_name: "subject".to_string(),
                                value: json!(ticket.subject),
                            },
                            AuditEvent::Create {
                                field_name: "status".to_string(),
                                value: json!(ticket.status),
                            },
                            AuditEvent::TicketSharing {
                                agreement_id: agreement.id,
                                action: SharingAction::Shared,
                            },
                        ];
                        (true, ticket, events)
                    }
                };
            let (added, _) = merge_comments(
                book,
                &mut ticket,
                &incoming.comments,
                &agreement,
                now,
                &own_url,
            );
            events.extend(added.iter().map(comment_event));
            if !events.is_empty() {
                ticket.updated_at = rest_time(now);
                push_audit(book, &mut ticket, actor, now, events);
            }
            book.tickets.insert(ticket.id, ticket.clone());
            (created, ticket)
        });
        let partner = partner_of(&agreement);
        self.trace().decision(
            self.subdomain(),
            if created {
                format!(
                    "{} stored ticket {} shared by {partner} over inbound agreement {} ({} comments)",
                    self.subdomain(),
                    ticket.id,
                    agreement.id,
                    ticket.comments.len()
                )
            } else {
                format!(
                    "{} already holds ticket {} shared by {partner}; linked it to agreement {} again",
                    self.subdomain(),
                    ticket.id,
                    agreement.id
                )
            },
        );
        Ok(TicketReply {
            status: if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            body: wire_reply(&ticket, path_uuid),
        })
    }

    /// Both sides' `PUT /sharing/tickets/{uuid}`: takes new comments (deduplicated by
    /// uuid), status, tags and custom fields as the terms allow, then forwards what was
    /// new to the ticket's other shares (a chain), never back where it came from.
    pub async fn receive_ticket_update(
        &self,
        path_uuid: &str,
        token: &str,
        wire: WireTicket,
    ) -> Result<TicketReply, PartnerError> {
        let result = self.take_update(path_uuid, token, wire);
        let (reply, outgoing) = self.refused("an update", path_uuid, result)?;
        // Our model: forwarding happens before the answer, so a chain's trace reads in
        // order; the cost is that a slow next hop delays this answer (and a sender with
        // a shorter timeout than the whole chain records the push as failed).
        self.send_pushes(outgoing).await;
        Ok(reply)
    }

    fn take_update(
        &self,
        path_uuid: &str,
        token: &str,
        wire: WireTicket,
    ) -> Result<(TicketReply, Vec<Outgoing>), PartnerError> {
        let agreement = self.authorize_ticket_call(token, Call::Update)?;
        let incoming = Incoming::check(path_uuid, &wire, &agreement)?;
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let decided = self.with_state(|state| {
            let mut ticket = state
                .tickets
                .tickets
                .values()
                .find(|t| {
                    t.share_over(agreement.id)
                        .is_some_and(|share| share.uuid == path_uuid)
                })
                .cloned()
                .ok_or_else(|| {
                    PartnerError::NotFound(format!(
                        "no ticket {} is shared over agreement {}",
                        short(path_uuid),
                        short(&agreement.uuid)
                    ))
                })?;
            let book = &mut state.tickets;
            let actor = book.person_for(wire.current_actor.as_ref(), &own_url);
            let mut events = Vec::new();
            let mut delta = Delta {
                actor: Some(actor),
                ..Delta::default()
            };
            let (added, duplicates) = merge_comments(
                book,
                &mut ticket,
                &incoming.comments,
                &agreement,
                now,
                &own_url,
            );
            events.extend(added.iter().map(comment_event));
            delta.comments = added;
            apply_synced_fields(
                &mut ticket,
                incoming.status,
                incoming.tags.as_ref(),
                incoming.custom_fields.as_ref(),
                &mut events,
                &mut delta,
            );
            if !events.is_empty() {
                ticket.updated_at = rest_time(now);
                push_audit(book, &mut ticket, actor as i64, now, events);
                book.tickets.insert(ticket.id, ticket.clone());
            }
            let outgoing = self.plan_pushes(
                state,
                &ticket,
                &delta,
                SharingPlan::default(),
                Some(agreement.id),
            );
            Ok((ticket, delta, duplicates, outgoing))
        });
        let (ticket, delta, duplicates, outgoing) = decided?;
        let partner = partner_of(&agreement);
        let mut text = if delta.is_empty() {
            format!(
                "{} changed nothing on ticket {} for {partner}'s update",
                self.subdomain(),
                ticket.id
            )
        } else {
            format!(
                "{} took {} on ticket {} from {partner}",
                self.subdomain(),
                delta.describe(),
                ticket.id
            )
        };
        if duplicates > 0 {
            text.push_str(&format!(
                "; ignored {duplicates} comment(s) it already had (same uuid)"
            ));
        }
        for ignored in &incoming.ignored {
            text.push_str(&format!(
                "; ignored {ignored}: agreement {} does not sync it",
                agreement.id
            ));
        }
        self.trace().decision(self.subdomain(), text);
        Ok((
            TicketReply {
                status: StatusCode::OK,
                body: wire_reply(&ticket, path_uuid),
            },
            outgoing,
        ))
    }

    /// Receiver side of `DELETE /sharing/tickets/{uuid}`: the copy stays, as an orphan
    /// that no longer syncs.
    pub fn receive_unshare(
        &self,
        path_uuid: &str,
        token: &str,
    ) -> Result<TicketReply, PartnerError> {
        let result = self.take_unshare(path_uuid, token);
        self.refused("an unshare", path_uuid, result)
    }

    fn take_unshare(&self, path_uuid: &str, token: &str) -> Result<TicketReply, PartnerError> {
        let agreement = self.authorize_ticket_call(token, Call::Unshare)?;
        let now = self.trace().clock().now();
        let ticket = self.with_state(|state| {
            let book = &mut state.tickets;
            let mut ticket = book
                .tickets
                .values()
                .find(|t| {
                    t.received.as_ref().is_some_and(|r| {
                        !r.orphaned
                            && r.share.agreement_id == agreement.id
                            && r.share.uuid == path_uuid
                    })
                })
                .cloned()
                .ok_or_else(|| {
                    PartnerError::NotFound(format!(
                        "no ticket {} is shared over agreement {}",
                        short(path_uuid),
                        short(&agreement.uuid)
                    ))
                })?;
            if let Some(received) = ticket.received.as_mut() {
                received.orphaned = true;
            }
            ticket.updated_at = rest_time(now);
            push_audit(
                book,
                &mut ticket,
                -1,
                now,
                vec![AuditEvent::TicketSharing {
                    agreement_id: agreement.id,
                    action: SharingAction::Unshared,
                }],
            );
            book.tickets.insert(ticket.id, ticket.clone());
            Ok(ticket)
        })?;
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} keeps ticket {} as an orphan: {} unshared it over agreement {}, so it no longer syncs",
                self.subdomain(),
                ticket.id,
                partner_of(&agreement),
                agreement.id
            ),
        );
        Ok(TicketReply {
            status: StatusCode::OK,
            body: wire_reply(&ticket, path_uuid),
        })
    }
}

/// A partner's ticket message, checked before the lock is taken and filtered by the
/// agreement's terms (both sides hold them, so the receiver enforces them too).
struct Incoming {
    comments: Vec<WireComment>,
    status: Option<TicketStatus>,
    tags: Option<Vec<String>>,
    custom_fields: Option<BTreeMap<u64, Value>>,
    ignored: Vec<&'static str>,
}

impl Incoming {
    fn check(
        path_uuid: &str,
        wire: &WireTicket,
        agreement: &Agreement,
    ) -> Result<Incoming, PartnerError> {
        if let Some(uuid) = &wire.uuid
            && uuid != path_uuid
        {
            return Err(PartnerError::Invalid(format!(
                "uuid {uuid:?} in the body differs from {path_uuid:?} in the path"
            )));
        }
        let comments = wire.comments.clone().unwrap_or_default();
        if comments.iter().any(|c| {
            c.uuid.as_deref().is_none_or(str::is_empty)
                || c.body.as_deref().is_none_or(str::is_empty)
        }) {
            return Err(PartnerError::Invalid(
                "every comment needs a uuid and a body".to_string(),
            ));
        }
        let status = wire
            .status
            .as_deref()
            .map(str::parse::<TicketStatus>)
            .transpose()
            .map_err(PartnerError::Invalid)?;
        let custom_fields = wire
            .custom_fields
            .as_ref()
            .map(|fields| {
                fields
                    .iter()
                    .map(|(id, value)| {
                        id.parse::<u64>()
                            .map(|id| (id, value.clone()))
                            .map_err(|_| {
                                PartnerError::Invalid(format!(
                                    "custom field id {id:?} is not a number"
                                ))
                            })
                    })
                    .collect::<Result<BTreeMap<u64, Value>, PartnerError>>()
            })
            .transpose()?;
        let terms = agreement.terms;
        let mut ignored = Vec::new();
        let mut keep = |allowed: bool, present: bool, name: &'static str| {
            if present && !allowed {
                ignored.push(name);
            }
            allowed
        };
        let status = if keep(terms.sync_status, status.is_some(), "status") {
            status
        } else {
            None
        };
        let tags = if keep(terms.sync_tags, wire.tags.is_some(), "tags") {
            wire.tags.as_deref().map(normalize_tags)
        } else {
            None
        };
        let custom_fields = if keep(
            terms.sync_custom_fields,
            custom_fields.is_some(),
            "custom fields",
        ) {
            custom_fields
        } else {
            None
        };
        Ok(Incoming {
            comments,
            status,
            tags,
            custom_fields,
            ignored,
        })
    }
}

fn wire_fields(fields: &BTreeMap<u64, Value>) -> BTreeMap<String, Value> {
    fields
        .iter()
        .map(|(id, value)| (id.to_string(), value.clone()))
        .collect()
}

fn wire_reply(ticket: &Ticket, uuid: &str) -> WireTicket {
    WireTicket {
        uuid: Some(uuid.to_string()),
        subject: Some(ticket.subject.clone()),
        status: Some(ticket.status.to_string()),
        ..WireTicket::default()
    }
}

fn add_local_comment(
    book: &mut TicketBook,
    ticket: &mut Ticket,
    comment: &NewComment,
    author_id: u64,
    now: DateTime<Utc>,
    own_url: &str,
) -> Comment {
    let id = book.take_comment_id();
    let comment = Comment {
        id,
        uuid: protocol_uuid(own_url, "comments", id),
        body: comment.body.clone(),
        public: comment.public,
        author_id,
        created_at: rest_time(now),
        authored_at: protocol_time(now),
        arrived_over: None,
    };
    ticket.comments.push(comment.clone());
    comment
}

/// Adds the partner's comments this copy does not have yet; returns them and how many
/// were duplicates. Visibility follows the agreement's terms.
fn merge_comments(
    book: &mut TicketBook,
    ticket: &mut Ticket,
    incoming: &[WireComment],
    agreement: &Agreement,
    now: DateTime<Utc>,
    own_url: &str,
) -> (Vec<Comment>, usize) {
    let mut added = Vec::new();
    let mut duplicates = 0;
    for wire in incoming {
        let uuid = wire.uuid.clone().unwrap_or_default();
        if ticket.has_comment(&uuid) {
            duplicates += 1;
            continue;
        }
        let id = book.take_comment_id();
        let author_id = book.person_for(wire.author.as_ref(), own_url);
        let comment = Comment {
            id,
            uuid,
            body: wire.body.clone().unwrap_or_default(),
            public: public_over(&agreement.terms, wire.public.unwrap_or(true)),
            author_id,
            created_at: rest_time(now),
            authored_at: wire
                .authored_at
                .clone()
                .unwrap_or_else(|| protocol_time(now)),
            arrived_over: Some(agreement.id),
        };
        ticket.comments.push(comment.clone());
        added.push(comment);
    }
    (added, duplicates)
}

/// Sets the fields that sync between partners, recording an event for each change
/// and noting in `delta` what the partners must hear.
fn apply_synced_fields(
    ticket: &mut Ticket,
    status: Option<TicketStatus>,
    tags: Option<&Vec<String>>,
    custom_fields: Option<&BTreeMap<u64, Value>>,
    events: &mut Vec<AuditEvent>,
    delta: &mut Delta,
) {
    if let Some(status) = status
        && status != ticket.status
    {
        events.push(change_event("status", json!(status), json!(ticket.status)));
        ticket.status = status;
        delta.status = Some(status);
    }
    if let Some(tags) = tags
        && *tags != ticket.tags
    {
        events.push(change_event("tags", json!(tags), json!(ticket.tags)));
        ticket.tags = tags.clone();
        delta.tags = true;
    }
    for (field, value) in custom_fields.into_iter().flatten() {
        let previous = ticket.custom_fields.insert(*field, value.clone());
        if previous.as_ref() != Some(value) {
            events.push(change_event(
                &field.to_string(),
                value.clone(),
                previous.unwrap_or(Value::Null),
            ));
            delta.custom_fields = true;
        }
    }
}

fn apply_plan(ticket: &mut Ticket, plan: SharingPlan, events: &mut Vec<AuditEvent>) {
    if let Some(id) = plan.unshare {
        ticket.sent = None;
        events.push(AuditEvent::TicketSharing {
            agreement_id: id,
            action: SharingAction::Unshared,
        });
    }
    if let Some(id) = plan.share {
        ticket.sent = Some(Share {
            agreement_id: id,
            uuid: ticket.uuid.clone(),
        });
        events.push(AuditEvent::TicketSharing {
            agreement_id: id,
            action: SharingAction::Shared,
        });
    }
}

fn push_audit(
    book: &mut TicketBook,
    ticket: &mut Ticket,
    author_id: i64,
    now: DateTime<Utc>,
    events: Vec<AuditEvent>,
) {
    let id = book.take_audit_id();
    ticket.audits.push(Audit {
        id,
        author_id,
        created_at: rest_time(now),
        events,
    });
}

fn comment_event(comment: &Comment) -> AuditEvent {
    AuditEvent::Comment {
        id: comment.id,
        body: comment.body.clone(),
        public: comment.public,
        author_id: comment.author_id,
    }
}

fn change_event(field: &str, value: Value, previous: Value) -> AuditEvent {
    AuditEvent::Change {
        field_name: field.to_string(),
        value,
        previous_value: previous,
    }
}

fn describe_plan(delta: &Delta, plan: SharingPlan) -> String {
    let mut parts = Vec::new();
    if !delta.is_empty() {
        parts.push(delta.describe());
    }
    if let Some(id) = plan.unshare {
        parts.push(format!("unshared from agreement {id}"));
    }
    if let Some(id) = plan.share {
        parts.push(format!("shared over agreement {id}"));
    }
    if parts.is_empty() {
        "fields".to_string()
    } else {
        parts.join(", ")
    }
}
