//! What an account does with the ticket messages a partner sends it: a share (a new
//! copy, or the one it already holds linked again), an update (new comments, and the
//! fields the terms sync, custom fields landing by title and type), an unshare (the
//! copy stays, as an orphan). A closed copy takes no share or update. The partner
//! protocol checks each message's shape first and hands over an [`IncomingTicket`].

use super::local::push_audit;
use super::{Outgoing, partner_of};
use crate::core::account::state::{ADMIN_ID, AGENT_ID, TicketBook};
use crate::core::account::{Account, ReceiveError};
use crate::core::model::ticket::fields::{Dropped, SyncedValue, match_synced};
use crate::core::model::ticket::lifecycle::{closed_refusal, touch};
use crate::core::model::ticket::{
    Actor, Attachment, AuditEvent, Comment, Delta, FieldChanges, Received, SentFields, Share,
    SharingAction, SharingPlan, SyncedFields, Ticket, TicketStatus, Via, apply_synced_fields,
    change_event, comment_event, protocol_time, public_over, rest_time, synced_fields,
};
use crate::core::model::{Agreement, AgreementStatus, Direction, protocol_uuid, short_uuid};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Which ticket call a partner makes (they need different agreement directions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketCall {
    /// POST: share a ticket.
    Share,
    /// PUT: push changes (either side).
    Update,
    /// DELETE: stop sharing.
    Unshare,
}

/// A partner's ticket message, its shape checked. Absent fields mean "unchanged".
#[derive(Clone, Debug, Default)]
pub struct IncomingTicket {
    /// Subject line (a share needs one).
    pub subject: Option<String>,
    /// Status, before the terms are applied.
    pub status: Option<TicketStatus>,
    /// Who asked.
    pub requester: Option<Actor>,
    /// Comments, each with a uuid and a body.
    pub comments: Vec<IncomingComment>,
    /// Who made this change.
    pub actor: Option<Actor>,
    /// Tags, before the terms are applied.
    pub tags: Option<Vec<String>>,
    /// Custom field values by the sender's title (and type), before the terms apply.
    pub custom_fields: Option<Vec<SyncedValue>>,
    /// The custom status label.
    pub custom_status: Option<String>,
    /// The sharer's own ticket id.
    pub original_id: Option<u64>,
}

impl IncomingTicket {
    fn sent_fields(&self) -> SentFields {
        SentFields {
            status: self.status,
            custom_status: self.custom_status.clone(),
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
        }
    }
}

/// A partner's comment.
#[derive(Clone, Debug, Default)]
pub struct IncomingComment {
    /// Its protocol uuid (never blank).
    pub uuid: String,
    /// Who wrote it.
    pub author: Option<Actor>,
    /// The text (never blank).
    pub body: String,
    /// When it was written, protocol format.
    pub authored_at: Option<String>,
    /// Absent means public, as the protocol says.
    pub public: Option<bool>,
    /// The HTML rendering.
    pub html_body: Option<String>,
    /// Files, as URLs.
    pub attachments: Vec<Attachment>,
    /// The comment's custom fields, kept as sent.
    pub custom_fields: Option<Map<String, Value>>,
}

impl Account {
    /// Checks a ticket call's `X-Ticket-Sharing-Token`: the agreement must exist here,
    /// the key match, the agreement be accepted, and shares and unshares come from its
    /// sender. Every refusal is 403 *(model: a token naming no agreement is a wrong key)*.
    pub fn authorize_ticket_call(
        &self,
        token: &str,
        call: TicketCall,
    ) -> Result<Agreement, ReceiveError> {
        let agreement_uuid = token.split_once(':').map_or(token, |(uuid, _)| uuid);
        let agreement = self
            .authorize(agreement_uuid, token)
            .map_err(|error| match error {
                ReceiveError::NotFound(_) => ReceiveError::Forbidden(format!(
                    "the X-Ticket-Sharing-Token names no agreement {} holds",
                    self.subdomain()
                )),
                other => other,
            })?;
        if agreement.status != AgreementStatus::Accepted {
            return Err(ReceiveError::Forbidden(format!(
                "agreement {} is {}: ticket calls need an accepted agreement",
                short_uuid(&agreement.uuid),
                agreement.status
            )));
        }
        if call != TicketCall::Update && agreement.direction == Direction::Outbound {
            return Err(ReceiveError::Forbidden(format!(
                "agreement {} is one way: only its sender shares or unshares tickets over it",
                short_uuid(&agreement.uuid)
            )));
        }
        Ok(agreement)
    }

    /// Records that a partner's ticket call was refused (`what` is `a share`, `an
    /// update` or `an unshare`), and why.
    pub fn note_refused_ticket_call(&self, what: &str, uuid: &str, why: &str) {
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} refused {what} of ticket {}: {why}",
                self.subdomain(),
                short_uuid(uuid)
            ),
        );
    }

    /// Receiver side of a share: stores a new ticket linked to the inbound agreement
    /// (`true`), or re-links and merges into the copy it already holds under that uuid
    /// (`false`: a repeated share, or a share after an unshare). A closed copy refuses.
    pub fn take_share(
        &self,
        path_uuid: &str,
        agreement: &Agreement,
        incoming: IncomingTicket,
    ) -> Result<(bool, Ticket), ReceiveError> {
        let synced = synced_fields(&agreement.terms, incoming.sent_fields());
        let subject = incoming
            .subject
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ReceiveError::Invalid("a shared ticket needs a subject".to_string()))?;
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let (created, ticket, dropped) = self.with_state(|state| {
            let (book, _) = state.tickets_mut();
            let actor = person_for(book, incoming.actor.as_ref(), &own_url) as i64;
            let existing = book
                .all()
                .find(|t| {
                    t.received.as_ref().is_some_and(|r| {
                        r.share.uuid == path_uuid && r.share.agreement_id == agreement.id
                    })
                })
                .map(|t| t.id);
            let (landed, dropped) = match &synced.custom_fields {
                Some(values) => match_synced(book.fields(), values),
                None => Default::default(),
            };
            let (created, mut ticket, mut events) = match existing.and_then(|id| book.get(id)) {
                Some(held) => {
                    let mut ticket = held.clone();
                    refuse_if_closed(&ticket)?;
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
                    let requester_id = person_for(book, incoming.requester.as_ref(), &own_url);
                    let arrived = Arrival {
                        path_uuid,
                        agreement,
                        subject: &subject,
                        synced: &synced,
                        landed: &landed,
                        now,
                    };
                    let (ticket, events) =
                        received_ticket(book, &own_url, requester_id, &incoming, arrived);
                    (true, ticket, events)
                }
            };
            let (added, _) = merge_comments(
                book,
                &mut ticket,
                &incoming.comments,
                (agreement, false),
                now,
                &own_url,
            );
            events.extend(added.iter().map(comment_event));
            if !events.is_empty() {
                touch(&mut ticket, now);
                push_audit(book, &mut ticket, actor, now, events);
            }
            book.store(ticket.clone());
            Ok((created, ticket, dropped))
        })?;
        let partner = partner_of(agreement);
        let mut text = if created {
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
        };
        append_dropped(&mut text, &dropped);
        self.trace().decision(self.subdomain(), text);
        Ok((created, ticket))
    }

    /// Both sides' update: takes new comments (deduplicated by uuid), status, tags and
    /// custom fields as the terms allow, and returns what to forward to the ticket's
    /// other shares (a chain), never back where it came from. A closed copy refuses.
    pub fn take_update(
        &self,
        path_uuid: &str,
        agreement: &Agreement,
        incoming: IncomingTicket,
    ) -> Result<(Ticket, Vec<Outgoing>), ReceiveError> {
        let synced = synced_fields(&agreement.terms, incoming.sent_fields());
        let own_url = self.sharing_url();
        let now = self.trace().clock().now();
        let store_repeated = self.services().planted.store_repeated_comments();
        let decided = self.with_state(|state| {
            let mut ticket = state
                .tickets()
                .all()
                .find(|t| {
                    t.share_over(agreement.id)
                        .is_some_and(|share| share.uuid == path_uuid)
                })
                .cloned()
                .ok_or_else(|| ReceiveError::NotFound(no_ticket(path_uuid, &agreement.uuid)))?;
            refuse_if_closed(&ticket)?;
            let (book, _) = state.tickets_mut();
            let actor = person_for(book, incoming.actor.as_ref(), &own_url);
            let mut events = Vec::new();
            let mut delta = Delta {
                actor: Some(actor),
                ..Delta::default()
            };
            let (added, duplicates) = merge_comments(
                book,
                &mut ticket,
                &incoming.comments,
                (agreement, store_repeated),
                now,
                &own_url,
            );
            events.extend(added.iter().map(comment_event));
            delta.comments = added;
            if let Some(requester) = &incoming.requester {
                let requester_id = person_for(book, Some(requester), &own_url);
                if requester_id != ticket.requester_id {
                    events.push(change_requester(&mut ticket, requester_id));
                    delta.requester = true;
                }
            }
            let (landed, dropped) = match &synced.custom_fields {
                Some(values) => match_synced(book.fields(), values),
                None => Default::default(),
            };
            apply_synced_fields(
                &mut ticket,
                FieldChanges {
                    status: synced.status,
                    custom_status: synced.custom_status.as_deref(),
                    tags: synced.tags.as_ref(),
                    custom_fields: synced.custom_fields.as_ref().map(|_| &landed),
                },
                &mut events,
                &mut delta,
            );
            if !events.is_empty() {
                touch(&mut ticket, now);
                push_audit(book, &mut ticket, actor as i64, now, events);
                book.store(ticket.clone());
            }
            let outgoing = self.plan_pushes(
                state,
                &ticket,
                &delta,
                SharingPlan::default(),
                Some(agreement.id),
            );
            Ok((ticket, delta, duplicates, outgoing, dropped))
        });
        let (ticket, delta, duplicates, outgoing, dropped) = decided?;
        let partner = partner_of(agreement);
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
        for ignored in &synced.ignored {
            text.push_str(&format!(
                "; ignored {ignored}: agreement {} does not sync it",
                agreement.id
            ));
        }
        append_dropped(&mut text, &dropped);
        self.trace().decision(self.subdomain(), text);
        Ok((ticket, outgoing))
    }

    /// Receiver side of an unshare: the copy stays, as an orphan that no longer syncs.
    /// A repeated unshare (its first reply was lost) finds the orphan and answers the
    /// same, changing nothing *(model)*: unsharing is idempotent, as an invitation is.
    pub fn take_unshare(
        &self,
        path_uuid: &str,
        agreement: &Agreement,
    ) -> Result<Ticket, ReceiveError> {
        let now = self.trace().clock().now();
        let from_agreement = |t: &&Ticket, orphaned: bool| {
            t.received.as_ref().is_some_and(|r| {
                r.orphaned == orphaned
                    && r.share.agreement_id == agreement.id
                    && r.share.uuid == path_uuid
            })
        };
        let repeated = self.read_state(|state| {
            let shared = state.tickets().all().any(|t| from_agreement(&t, false));
            let orphan = state.tickets().all().find(|t| from_agreement(t, true));
            orphan.filter(|_| !shared).cloned()
        });
        if let Some(ticket) = repeated {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} already keeps ticket {} as an orphan: {} unshared it over agreement {} before",
                    self.subdomain(),
                    ticket.id,
                    partner_of(agreement),
                    agreement.id
                ),
            );
            return Ok(ticket);
        }
        let ticket = self.with_state(|state| {
            let (book, _) = state.tickets_mut();
            let mut ticket = book
                .all()
                .find(|t| from_agreement(t, false))
                .cloned()
                .ok_or_else(|| ReceiveError::NotFound(no_ticket(path_uuid, &agreement.uuid)))?;
            if let Some(received) = ticket.received.as_mut() {
                received.orphaned = true;
            }
            touch(&mut ticket, now);
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
            book.store(ticket.clone());
            Ok(ticket)
        })?;
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} keeps ticket {} as an orphan: {} unshared it over agreement {}, so it no longer syncs",
                self.subdomain(),
                ticket.id,
                partner_of(agreement),
                agreement.id
            ),
        );
        self.end_ticket_pushes(
            agreement.id,
            ticket.id,
            "the partner unshared the ticket, so its changes no longer travel",
        );
        Ok(ticket)
    }
}

/// The local id of a partner's person, recorded on first sight. Our own users
/// coming back around a chain are recognised by their uuid.
fn person_for(book: &mut TicketBook, actor: Option<&Actor>, own_url: &str) -> u64 {
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
    book.person_id(&actor.uuid, &actor.name, &actor.role)
}

/// Adds the partner's comments this copy does not have yet; returns them and how many
/// were duplicates. Visibility follows the agreement's terms. `store_repeated` is the
/// planted bug (tests only) that stores a comment it already has once more.
fn merge_comments(
    book: &mut TicketBook,
    ticket: &mut Ticket,
    incoming: &[IncomingComment],
    (agreement, store_repeated): (&Agreement, bool),
    now: DateTime<Utc>,
    own_url: &str,
) -> (Vec<Comment>, usize) {
    let mut added = Vec::new();
    let mut duplicates = 0;
    for wire in incoming {
        if ticket.has_comment(&wire.uuid) && !store_repeated {
            duplicates += 1;
            continue;
        }
        let id = book.take_comment_id();
        let author_id = person_for(book, wire.author.as_ref(), own_url);
        let comment = Comment {
            id,
            uuid: wire.uuid.clone(),
            body: wire.body.clone(),
            public: public_over(&agreement.terms, wire.public.unwrap_or(true)),
            author_id,
            created_at: rest_time(now),
            authored_at: wire
                .authored_at
                .clone()
                .unwrap_or_else(|| protocol_time(now)),
            arrived_over: Some(agreement.id),
            html_body: wire.html_body.clone(),
            attachments: wire.attachments.clone(),
            custom_fields: wire.custom_fields.clone(),
        };
        ticket.comments.push(comment.clone());
        added.push(comment);
    }
    (added, duplicates)
}

/// What a new share brings, beside the incoming ticket itself.
struct Arrival<'a> {
    path_uuid: &'a str,
    agreement: &'a Agreement,
    subject: &'a str,
    synced: &'a SyncedFields,
    landed: &'a BTreeMap<u64, Value>,
    now: DateTime<Utc>,
}

/// A new copy of a partner's ticket, linked to the inbound agreement, with its first
/// audit's events (its comments are merged afterwards).
fn received_ticket(
    book: &mut TicketBook,
    own_url: &str,
    requester_id: u64,
    incoming: &IncomingTicket,
    arrival: Arrival,
) -> (Ticket, Vec<AuditEvent>) {
    let Arrival {
        path_uuid,
        agreement,
        subject,
        synced,
        landed,
        now,
    } = arrival;
    let id = book.take_ticket_id();
    let description = incoming
        .comments
        .first()
        .map(|c| c.body.clone())
        .unwrap_or_default();
    let ticket = Ticket {
        id,
        uuid: protocol_uuid(own_url, "tickets", id),
        subject: subject.to_string(),
        description,
        status: synced.status.unwrap_or(TicketStatus::New),
        requester_id,
        tags: synced.tags.clone().unwrap_or_default(),
        custom_fields: landed.clone(),
        custom_status: synced.custom_status.clone(),
        via: Via::TicketSharing {
            partner: agreement.remote_subdomain.clone().map(String::from),
            agreement_id: agreement.id,
            original_id: incoming.original_id,
        },
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
    (ticket, events)
}

/// A closed copy takes no partner change: 422, in the words Zendesk uses for REST.
/// Why a receiver refuses an update or unshare of a ticket it holds no shared copy of:
/// the partner protocol answers it as "not found", and a sender recognises it by these
/// words (an unshare answered so has nothing left to do).
pub(crate) fn no_ticket(ticket_uuid: &str, agreement_uuid: &str) -> String {
    format!(
        "no ticket {} is shared over agreement {}",
        short_uuid(ticket_uuid),
        short_uuid(agreement_uuid)
    )
}

fn refuse_if_closed(ticket: &Ticket) -> Result<(), ReceiveError> {
    match closed_refusal(ticket) {
        Some(refusal) => Err(ReceiveError::Invalid(format!(
            "ticket {} is closed: {refusal}",
            ticket.id
        ))),
        None => Ok(()),
    }
}

fn change_requester(ticket: &mut Ticket, requester_id: u64) -> AuditEvent {
    let event = change_event(
        "requester_id",
        json!(requester_id),
        json!(ticket.requester_id),
    );
    ticket.requester_id = requester_id;
    event
}

/// `; dropped custom field "X": …` for each value that landed nowhere.
fn append_dropped(text: &mut String, dropped: &[Dropped]) {
    for reason in dropped {
        text.push_str(&format!("; {reason}"));
    }
}

#[cfg(test)]
mod tests;
