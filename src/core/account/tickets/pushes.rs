//! What a change to a ticket sends to the partners it is shared with, decided under
//! the lock and queued in the outbox under it: an unshare, an update to every live
//! share (except the one the change arrived over), a new share, each within its
//! agreement's terms; and what a push that could not be delivered does to the
//! sender's agreement.

use super::partner_of;
use crate::core::account::outbox::{
    CommentMessage, Push, SharedTicket, TicketMessage, TicketUpdate,
};
use crate::core::account::state::{ADMIN_ID, AGENT_ID, TicketBook};
use crate::core::account::{Account, AccountState};
use crate::core::model::ticket::fields::synced_values;
use crate::core::model::ticket::{
    Actor, Comment, Delta, SharingPlan, SyncGate, Ticket, protocol_time, public_over, sync_gate,
};
use crate::core::model::{Agreement, AgreementStatus, Direction, protocol_uuid};
use crate::core::transport::DeliveryFailure;
use chrono::{DateTime, Utc};

/// One step of what follows a change, for the partner protocol to carry out in order:
/// flush an agreement's outbox, or record why a push was skipped or held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Pushes wait in this agreement's outbox: deliver them.
    Flush(u64),
    /// What happened to a push, for the trace.
    Note(String),
}

impl Account {
    /// Decides, under the lock, which messages follow a change, and queues them in the
    /// outbox under the same lock: an unshare, an update to every live share (except
    /// the one the change arrived over), a new share. Returns what the partner protocol
    /// must then do: flush those queues, and note what was skipped or held back.
    pub(super) fn plan_pushes(
        &self,
        state: &mut AccountState,
        ticket: &Ticket,
        delta: &Delta,
        plan: SharingPlan,
        arrived_over: Option<u64>,
    ) -> Vec<Outgoing> {
        let sub = self.subdomain().to_string();
        let mut pushes: Vec<Push> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        if let Some(id) = plan.unshare {
            let agreement = state.agreement(id);
            match (agreement, sync_gate(agreement, id)) {
                (Some(agreement), SyncGate::Send | SyncGate::Queue(_)) => {
                    pushes.push(self.push(
                        agreement,
                        ticket,
                        ticket.uuid.clone(),
                        TicketMessage::Unshare,
                    ));
                }
                (_, gate) => {
                    notes.push(format!(
                        "{sub} unshared ticket {} from agreement {id} without telling the partner: {}",
                        ticket.id,
                        gate.reason()
                    ));
                }
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
                let (agreement, held) = match (agreement, sync_gate(agreement, id)) {
                    (Some(agreement), SyncGate::Send) => (agreement, None),
                    (Some(agreement), SyncGate::Queue(reason)) => (agreement, Some(reason)),
                    (_, gate) => {
                        notes.push(format!(
                            "{sub} did not push {} of ticket {} to {partner}: {}",
                            delta.describe(),
                            ticket.id,
                            gate.reason()
                        ));
                        continue;
                    }
                };
                match self.update_message(state.tickets(), ticket, delta, agreement) {
                    Some(update) => {
                        if let Some(reason) = held {
                            notes.push(format!(
                                "{sub} queued its update of ticket {} for {partner} ({}): {reason}",
                                ticket.id,
                                delta.describe()
                            ));
                        }
                        pushes.push(self.push(agreement, ticket, share.uuid.clone(), TicketMessage::Update(Box::new(update))));
                    }
                    None => notes.push(format!(
                        "{sub} did not push {} of ticket {} to {partner}: the terms of agreement {id} keep it local",
                        delta.describe(),
                        ticket.id
                    )),
                }
            }
        }
        if let Some(id) = plan.share
            && let Some(agreement) = state.agreement(id)
        {
            let share = self.share_message(state.tickets(), ticket, agreement, delta.actor);
            pushes.push(self.push(
                agreement,
                ticket,
                ticket.uuid.clone(),
                TicketMessage::Share(Box::new(share)),
            ));
        }
        let mut outgoing: Vec<Outgoing> = notes.into_iter().map(Outgoing::Note).collect();
        for push in pushes {
            let id = push.agreement.id;
            enqueue(state, push);
            if !outgoing.contains(&Outgoing::Flush(id)) {
                outgoing.push(Outgoing::Flush(id));
            }
        }
        outgoing
    }

    fn push(
        &self,
        agreement: &Agreement,
        ticket: &Ticket,
        uuid: String,
        message: TicketMessage,
    ) -> Push {
        Push {
            agreement: agreement.clone(),
            ticket_id: ticket.id,
            uuid,
            message,
            seq: 0,
            failures: 0,
        }
    }

    /// Records a skipped or held-back push in the trace.
    pub fn note_push(&self, reason: String) {
        self.trace().decision(self.subdomain(), reason);
    }

    /// A push that could not be delivered stays queued; the sender's agreement takes
    /// the failure's status, as an invitation's would (see the README's failure
    /// statuses). A receiver's copy keeps its status *(model)*.
    pub fn record_push_failure(&self, push: &Push, failure: &DeliveryFailure) {
        let queued = self.push_kept(push);
        let agreement = &push.agreement;
        let partner = partner_of(agreement);
        let what = push.message.describe();
        let kept = format!(
            "it stays in the outbox ({queued} queued over agreement {})",
            agreement.id
        );
        if agreement.direction == Direction::Outbound {
            let now = self.trace().clock().timestamp();
            let moved = self.with_state(|state| {
                state
                    .change(agreement.id, |copy| {
                        let moved = copy.status == AgreementStatus::Accepted;
                        if moved {
                            copy.status = failure.status;
                            copy.updated_at = now.into();
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
                    "{} {outcome}: {what} of ticket {} to {partner} failed: {}; {kept}",
                    self.subdomain(),
                    push.ticket_id,
                    failure.cause
                ),
            );
        } else {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} could not deliver its {what} of ticket {} to {partner} over inbound agreement {} ({}); the receiver's copy keeps its status and {kept}",
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
    pub(super) fn actor(&self, book: &TicketBook, person_id: u64) -> Actor {
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
            html_body: comment.html_body.clone(),
            authored_at: comment.authored_at.clone(),
            public: public_over(&agreement.terms, comment.public),
            attachments: comment.attachments.clone(),
            custom_fields: comment.custom_fields.clone(),
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
            custom_status: ticket.custom_status.clone().filter(|_| terms.sync_status),
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
                .then(|| synced_values(book.fields(), &ticket.custom_fields)),
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
        let custom_status = ticket
            .custom_status
            .clone()
            .filter(|_| delta.custom_status && terms.sync_status);
        let tags = (delta.tags && terms.sync_tags).then(|| ticket.tags.clone());
        let custom_fields = (delta.custom_fields && terms.sync_custom_fields)
            .then(|| synced_values(book.fields(), &ticket.custom_fields));
        let requester = delta
            .requester
            .then(|| self.actor(book, ticket.requester_id));
        if comments.is_empty()
            && status.is_none()
            && custom_status.is_none()
            && tags.is_none()
            && custom_fields.is_none()
            && requester.is_none()
        {
            return None;
        }
        Some(TicketUpdate {
            comments,
            status,
            custom_status,
            tags,
            custom_fields,
            requester,
            actor: self.actor(book, delta.actor.unwrap_or(ADMIN_ID)),
        })
    }
}

/// Queues a decided push under the lock that decided it, so two changes to one ticket
/// are queued in the order they were made.
fn enqueue(state: &mut AccountState, push: Push) {
    state
        .outbox_mut()
        .enqueue(push.agreement.id, push.ticket_id, push.uuid, push.message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::account::agreements::Invitation;
    use crate::core::account::testing::{acme_and_globex, last_decision};
    use crate::core::account::tickets::{NewComment, TicketChanges};
    use AgreementStatus::*;

    fn comment(body: &str) -> Option<NewComment> {
        Some(NewComment {
            body: body.into(),
            public: true,
            ..NewComment::default()
        })
    }

    /// acme with an accepted outbound agreement 1 and ticket 1 shared over it; the
    /// share waits in the outbox.
    fn shared() -> Account {
        let (acme, _) = acme_and_globex();
        acme.open_invitation(Invitation {
            remote_subdomain: "globex".into(),
            ..Invitation::default()
        });
        acme.with_state(|state| state.change(1, |a| a.status = Accepted));
        let (_, outgoing) = acme
            .create_ticket(
                ADMIN_ID,
                TicketChanges {
                    subject: Some("Printer on fire".into()),
                    comment: comment("It smokes."),
                    sharing_agreement_ids: Some(vec![1]),
                    ..TicketChanges::default()
                },
            )
            .unwrap();
        assert_eq!(outgoing, [Outgoing::Flush(1)]);
        std::sync::Arc::try_unwrap(acme).expect("one owner")
    }

    fn queued(account: &Account) -> Vec<String> {
        account.read_state(|state| {
            state
                .outbox()
                .record()
                .queues
                .get(&1)
                .map(|q| q.iter().map(|p| p.message.describe()).collect())
                .unwrap_or_default()
        })
    }

    #[test]
    fn a_change_is_pushed_queued_or_kept_local_by_the_agreement_s_status() {
        // (agreement status) → queued behind the share, and what the trace says.
        let table: &[(AgreementStatus, bool, Option<&str>)] = &[
            (Accepted, true, None),
            (
                Pending,
                true,
                Some("queued its update of ticket 1 for globex"),
            ),
            (
                Failed,
                true,
                Some("the push waits in its outbox until the agreement is repaired"),
            ),
            (SslError, true, Some("queued its update")),
            (Inactive, false, Some("shared tickets do not sync")),
            (Declined, false, Some("did not push comment")),
        ];
        for &(status, queues, note) in table {
            let acme = shared();
            acme.with_state(|state| state.change(1, |a| a.status = status));
            let (_, outgoing) = acme
                .update_ticket(
                    1,
                    ADMIN_ID,
                    TicketChanges {
                        comment: comment("Any news?"),
                        ..TicketChanges::default()
                    },
                )
                .unwrap();
            let notes: Vec<&String> = outgoing
                .iter()
                .filter_map(|o| match o {
                    Outgoing::Note(note) => Some(note),
                    Outgoing::Flush(_) => None,
                })
                .collect();
            let case = format!("agreement {status}");
            assert_eq!(
                outgoing.contains(&Outgoing::Flush(1)),
                queues,
                "{case}: {outgoing:?}"
            );
            let expected_queue: &[&str] = if queues {
                &["share", "update (comment \"Any news?\")"]
            } else {
                &["share"]
            };
            assert_eq!(queued(&acme), expected_queue, "{case}");
            match note {
                None => assert!(notes.is_empty(), "{case}: {notes:?}"),
                Some(said) => assert!(notes.iter().any(|n| n.contains(said)), "{case}: {notes:?}"),
            }
        }
    }

    #[test]
    fn moving_a_ticket_between_agreements_unshares_before_it_shares() {
        let acme = shared();
        acme.open_invitation(Invitation {
            remote_subdomain: "initech".into(),
            ..Invitation::default()
        });
        acme.with_state(|state| state.change(2, |a| a.status = Accepted));
        let (ticket, outgoing) = acme
            .update_ticket(
                1,
                ADMIN_ID,
                TicketChanges {
                    sharing_agreement_ids: Some(vec![2]),
                    ..TicketChanges::default()
                },
            )
            .unwrap();
        assert_eq!(ticket.sharing_agreement_ids(), [2]);
        assert_eq!(outgoing, [Outgoing::Flush(1), Outgoing::Flush(2)]);
        let seqs = acme.read_state(|state| {
            let record = state.outbox().record();
            let over = |id: u64| -> Vec<(u64, String)> {
                record.queues[&id]
                    .iter()
                    .map(|p| (p.seq, p.message.describe()))
                    .collect()
            };
            (over(1), over(2))
        });
        // Over 1: the first share, then its unshare; over 2: the new share, decided last.
        assert_eq!(
            seqs.0.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(),
            ["share", "unshare"]
        );
        assert_eq!(
            seqs.1.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(),
            ["share"]
        );
        assert!(seqs.0[1].0 < seqs.1[0].0, "{seqs:?}");
    }

    #[test]
    fn a_push_that_fails_stays_queued_and_marks_the_sender_s_agreement() {
        for status in [Failed, SslError, ConfigurationError] {
            let acme = shared();
            let push = acme.next_push(1).unwrap();
            let failure = DeliveryFailure {
                status,
                cause: "connection refused".into(),
                http_status: None,
                retry_after: None,
            };
            acme.record_push_failure(&push, &failure);
            assert_eq!(acme.agreement_by_id(1).unwrap().status, status);
            assert_eq!(
                last_decision(&acme),
                format!(
                    "acme marked outbound agreement 1 {status}: share of ticket 1 to globex failed: \
                     connection refused; it stays in the outbox (1 queued over agreement 1)"
                )
            );
            let failures = acme.read_state(|state| state.outbox().record().queues[&1][0].failures);
            assert_eq!(failures, 1, "{status}");
            // The agreement is no longer accepted: the flush stops, the push waits.
            assert!(acme.next_push(1).is_none());
            assert_eq!(queued(&acme), ["share"]);
        }
    }
}
