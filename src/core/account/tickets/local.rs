//! Changes made on an account's own copies through its REST API: create a ticket
//! (a follow-up of a closed one, too), update it (fields, a comment, and
//! `sharing_agreement_ids`, which shares and unshares; never once it is closed; with
//! `safe_update`, only if nobody changed it since the caller read it). Each returns
//! what the partner protocol must then flush.

use super::fields::check_values;
use super::{Outgoing, TicketChanges, TicketError, invalid};
use crate::core::account::state::TicketBook;
use crate::core::account::{Account, AccountState};
use crate::core::model::protocol_uuid;
use crate::core::model::ticket::lifecycle::{
    StampRefusal, check_stamp, closed_refusal, follow_up_of, touch,
};
use crate::core::model::ticket::{
    Audit, AuditEvent, Comment, Delta, FieldChanges, SharingPlan, Ticket, TicketStatus, Via,
    apply_plan, apply_synced_fields, change_event, comment_event, default_subject, describe_plan,
    plan_sharing, protocol_time, rest_time,
};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Account {
    /// Creates a ticket (REST `POST /tickets`), sharing it at once when
    /// `sharing_agreement_ids` names an accepted outbound agreement. A
    /// `via_followup_source_id` naming a closed ticket makes it that ticket's follow-up.
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
            let mut ticket = self.new_ticket(state, author_id, &changes, &comment.body, now)?;
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
            for (field, value, given) in [
                ("tags", json!(ticket.tags), !ticket.tags.is_empty()),
                (
                    "custom_status",
                    json!(ticket.custom_status),
                    ticket.custom_status.is_some(),
                ),
            ] {
                if given {
                    events.push(AuditEvent::Create {
                        field_name: field.to_string(),
                        value,
                    });
                }
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
        let follows = match ticket.via {
            Via::FollowUp { source_id } => format!(", a follow-up of closed ticket {source_id}"),
            _ => String::new(),
        };
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} created ticket {} {:?} ({}){follows}{shared}",
                self.subdomain(),
                ticket.id,
                ticket.subject,
                ticket.status
            ),
        );
        Ok((ticket, outgoing))
    }

    /// The ticket a create asks for, checked, before its first comment and its id are
    /// taken.
    fn new_ticket(
        &self,
        state: &AccountState,
        author_id: u64,
        changes: &TicketChanges,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<Ticket, TicketError> {
        let book = state.tickets();
        let requester_id = changes.requester_id.unwrap_or(author_id);
        if !book.person_exists(requester_id) {
            return Err(invalid(
                "requester_id",
                format!("Requester: user {requester_id} does not exist"),
            ));
        }
        let custom_fields = changes.custom_fields.clone().unwrap_or_default();
        check_values(book.fields(), &custom_fields)?;
        let source = match changes.follow_up_source {
            None => None,
            Some(id) => Some(book.get(id).ok_or_else(|| {
                invalid(
                    "via_followup_source_id",
                    format!("Via followup source: ticket {id} does not exist"),
                )
            })?),
        };
        // Zendesk: the parameter only works with closed tickets, and a follow-up takes
        // the closed ticket's tags unless the request gives its own.
        let follows = source.and_then(follow_up_of);
        let tags = match (&changes.tags, follows.and(source)) {
            (Some(tags), _) => tags.clone(),
            (None, Some(source)) => source.tags.clone(),
            (None, None) => Vec::new(),
        };
        let id = book.peek_ticket_id();
        Ok(Ticket {
            id,
            uuid: protocol_uuid(&self.sharing_url(), "tickets", id),
            subject: changes
                .subject
                .clone()
                .unwrap_or_else(|| default_subject(description)),
            description: description.to_string(),
            status: changes.status.unwrap_or(TicketStatus::New),
            requester_id,
            tags,
            custom_fields,
            custom_status: changes.custom_status.clone(),
            via: match follows {
                Some(source_id) => Via::FollowUp { source_id },
                None => Via::Api,
            },
            comments: Vec::new(),
            audits: Vec::new(),
            sent: None,
            received: None,
            created_at: rest_time(now),
            updated_at: rest_time(now),
        })
    }

    /// Changes a ticket (REST `PUT /tickets/{id}`): fields, a new comment, and the
    /// `sharing_agreement_ids` set (adding an id shares, removing one unshares). Every
    /// live share hears about the change unless its agreement's terms keep it local.
    /// A closed ticket refuses every change; a `safe_update` refuses a stale one.
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
            check_update(state, &ticket, &changes)?;
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
                delta.requester = true;
            }
            apply_synced_fields(
                &mut ticket,
                FieldChanges {
                    status: changes.status,
                    custom_status: changes.custom_status.as_deref(),
                    tags: changes.tags.as_ref(),
                    custom_fields: changes.custom_fields.as_ref(),
                },
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
                touch(&mut ticket, now);
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
        let why = match error {
            TicketError::NotFound => return,
            TicketError::Invalid { description, .. } => description.clone(),
            TicketError::Conflict { .. } => format!("safe_update found a collision: {error}"),
        };
        let what = match id {
            Some(id) => format!("a change to ticket {id}"),
            None => "a new ticket".to_string(),
        };
        self.trace().decision(
            self.subdomain(),
            format!("{} refused {what}: {why}", self.subdomain()),
        );
    }
}

/// What refuses an update before anything changes: a closed ticket (Zendesk's 422),
/// a `safe_update` from a stale read (409), an unknown requester, a custom field value
/// that does not fit.
fn check_update(
    state: &AccountState,
    ticket: &Ticket,
    changes: &TicketChanges,
) -> Result<(), TicketError> {
    if let Some(refusal) = closed_refusal(ticket) {
        return Err(invalid("status", refusal));
    }
    if changes.safe_update {
        check_stamp(ticket, changes.updated_stamp.as_deref()).map_err(|refusal| match refusal {
            StampRefusal::Missing => invalid(
                "updated_stamp",
                "Updated stamp: is required when safe_update is true (send the updated_at you read)",
            ),
            StampRefusal::Unreadable(why) => invalid("updated_stamp", format!("Updated stamp: {why}")),
            StampRefusal::Stale { stamp, updated_at } => TicketError::Conflict { stamp, updated_at },
        })?;
    }
    if let Some(requester_id) = changes.requester_id
        && !state.tickets().person_exists(requester_id)
    {
        return Err(invalid(
            "requester_id",
            format!("Requester: user {requester_id} does not exist"),
        ));
    }
    if let Some(values) = &changes.custom_fields {
        check_values(state.tickets().fields(), values)?;
    }
    Ok(())
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
        html_body: comment.html_body.clone(),
        attachments: comment.attachments.clone(),
        custom_fields: None,
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
