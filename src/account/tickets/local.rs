//! Changes made on an account's own copies through its REST API: create a ticket,
//! update it (fields, a comment, and `sharing_agreement_ids`, which shares and
//! unshares). Each returns the pushes its partners must hear.

use super::{Outgoing, TicketChanges, TicketError, invalid};
use crate::account::state::TicketBook;
use crate::account::{Account, AccountState};
use crate::model::protocol_uuid;
use crate::model::ticket::{
    Audit, AuditEvent, Comment, Delta, SharingPlan, Ticket, TicketStatus, apply_plan,
    apply_synced_fields, change_event, comment_event, default_subject, describe_plan, plan_sharing,
    protocol_time, rest_time,
};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Account {
    /// Creates a ticket (REST `POST /tickets`), sharing it at once when
    /// `sharing_agreement_ids` names an accepted outbound agreement.
    pub fn create_ticket(
        &self,
        author_id: u64,
        changes: TicketChanges,
    ) -> Result<(Ticket, Vec<Outgoing>), TicketError> {
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let decided = self.with_state(|state| {
            let comment = changes
                .comment
                .clone()
                .ok_or_else(|| invalid("description", "Description: cannot be blank"))?;
            let requester_id = changes.requester_id.unwrap_or(author_id);
            if !state.tickets().person_exists(requester_id) {
                return Err(invalid(
                    "requester_id",
                    format!("Requester: user {requester_id} does not exist"),
                ));
            }
            let id = state.tickets().peek_ticket_id();
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
            let (book, _) = state.tickets_mut();
            book.take_ticket_id();
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
            let comment = add_local_comment(book, &mut ticket, &comment, author_id, now, &own_url);
            events.push(comment_event(&comment));
            apply_plan(&mut ticket, plan, &mut events);
            push_audit(book, &mut ticket, author_id as i64, now, events);
            book.store(ticket.clone());
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
        Ok((ticket, outgoing))
    }

    /// Changes a ticket (REST `PUT /tickets/{id}`): fields, a new comment, and the
    /// `sharing_agreement_ids` set (adding an id shares, removing one unshares). Every
    /// live share hears about the change unless its agreement's terms keep it local.
    pub fn update_ticket(
        &self,
        id: u64,
        author_id: u64,
        changes: TicketChanges,
    ) -> Result<(Ticket, Vec<Outgoing>), TicketError> {
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let decided = self.with_state(|state| {
            let mut ticket = state
                .tickets()
                .get(id)
                .cloned()
                .ok_or(TicketError::NotFound)?;
            if let Some(requester_id) = changes.requester_id
                && !state.tickets().person_exists(requester_id)
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
            let (book, _) = state.tickets_mut();
            if let Some(comment) = &changes.comment {
                let comment =
                    add_local_comment(book, &mut ticket, comment, author_id, now, &own_url);
                events.push(comment_event(&comment));
                delta.comments.push(comment);
            }
            apply_plan(&mut ticket, plan, &mut events);
            let changed = !events.is_empty();
            if changed {
                push_audit(book, &mut ticket, author_id as i64, now, events);
                ticket.updated_at = rest_time(now);
                book.store(ticket.clone());
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
        Ok((ticket, outgoing))
    }

    fn plan(
        &self,
        state: &AccountState,
        ticket: &Ticket,
        requested: Option<&[u64]>,
    ) -> Result<SharingPlan, TicketError> {
        match requested {
            None => Ok(SharingPlan::default()),
            Some(ids) => plan_sharing(ticket, ids, state.agreements(), self.subdomain())
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
}

fn add_local_comment(
    book: &mut TicketBook,
    ticket: &mut Ticket,
    comment: &super::NewComment,
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

/// Appends an audit with the next audit id.
pub(super) fn push_audit(
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
