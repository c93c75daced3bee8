//! Flushing the outbox: one flush at a time drains an agreement's queue, head first;
//! a push leaves it when the partner took it, when the partner refused it for what it
//! says, or when the agreement (or the ticket's share over it) ended, and each of those
//! is a trace event. A push that could not be delivered stays at the head.

use super::Account;
use super::outbox::{Push, QueuedPush};
use crate::core::model::AgreementStatus;
use crate::core::transport::DeliveryFailure;
use std::collections::VecDeque;

impl Account {
    /// Claims the right to flush the agreement's queue: false when another flush runs
    /// (it will send what was just queued, in order, before it stops).
    pub fn begin_flush(&self, agreement_id: u64) -> bool {
        self.with_state(|state| state.outbox_mut().flushing.insert(agreement_id))
    }

    /// The push at the head of the agreement's queue, ready to send; None ends the
    /// flush (nothing waits, or the agreement is not accepted: it waits for repair).
    /// Checking and ending happen under one lock, so nothing queued meanwhile is
    /// stranded. Pushes over an agreement that ended are dropped here too.
    pub fn next_push(&self, agreement_id: u64) -> Option<Push> {
        let (next, ended) = self.with_state(|state| {
            let agreement = state.agreement(agreement_id).cloned();
            let ended = match &agreement {
                None => Some(format!("agreement {agreement_id} no longer exists")),
                Some(a)
                    if matches!(
                        a.status,
                        AgreementStatus::Inactive | AgreementStatus::Declined
                    ) =>
                {
                    Some(format!("agreement {agreement_id} is {}", a.status))
                }
                Some(_) => None,
            };
            let outbox = state.outbox_mut();
            if let Some(why) = ended {
                outbox.flushing.remove(&agreement_id);
                return (None, Some((outbox.drain(agreement_id), why)));
            }
            let head = outbox.queues.get(&agreement_id).and_then(VecDeque::front);
            match (
                agreement.filter(|a| a.status == AgreementStatus::Accepted),
                head,
            ) {
                (Some(agreement), Some(head)) => (
                    Some(Push {
                        agreement,
                        ticket_id: head.ticket_id,
                        uuid: head.uuid.clone(),
                        message: head.message.clone(),
                        seq: head.seq,
                        failures: head.failures,
                    }),
                    None,
                ),
                _ => {
                    outbox.flushing.remove(&agreement_id);
                    (None, None)
                }
            }
        });
        if let Some((dropped, why)) = ended {
            self.note_dropped(&dropped, agreement_id, &why);
        }
        next
    }

    /// The partner took the push: it leaves the queue.
    pub fn push_delivered(&self, push: &Push) {
        let left = self.take_head(push);
        if push.failures > 0 {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} delivered its queued {} of ticket {} over agreement {} after {} failed attempt(s){}",
                    self.subdomain(),
                    push.message.describe(),
                    push.ticket_id,
                    push.agreement.id,
                    push.failures,
                    waiting_note(left)
                ),
            );
        }
    }

    /// The partner refused the push for what it says: sending it again would be refused
    /// again, so it leaves the queue and the agreement stays as it is.
    pub fn push_refused(&self, push: &Push, failure: &DeliveryFailure) {
        let left = self.take_head(push);
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} dropped its {} of ticket {} over agreement {}: the partner refused it ({}); sending it again would be refused again{}",
                self.subdomain(),
                push.message.describe(),
                push.ticket_id,
                push.agreement.id,
                failure.cause,
                waiting_note(left)
            ),
        );
    }

    /// An unshare the partner answered that it holds no copy of the ticket shared over
    /// the agreement (it never stored the share, or no longer links it): what the
    /// unshare asks is already so, so it leaves the queue as delivered and the agreement
    /// stays as it is *(model)*.
    pub fn unshare_found_nothing(&self, push: &Push, failure: &DeliveryFailure) {
        let left = self.take_head(push);
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} takes its unshare of ticket {} over agreement {} as done: the partner holds no shared copy ({}){}",
                self.subdomain(),
                push.ticket_id,
                push.agreement.id,
                failure.cause,
                waiting_note(left)
            ),
        );
    }

    /// The push did not get through: it stays at the head of its queue, counted, and
    /// the flush ends. The caller records what the failure does to the agreement.
    pub fn push_kept(&self, push: &Push) -> usize {
        self.with_state(|state| {
            let outbox = state.outbox_mut();
            outbox.flushing.remove(&push.agreement.id);
            let queue = outbox.queues.entry(push.agreement.id).or_default();
            if let Some(head) = queue.front_mut().filter(|head| head.seq == push.seq) {
                head.failures += 1;
            }
            queue.len()
        })
    }

    /// The agreement ended: every push still waiting over it is dropped, each recorded.
    pub fn end_outbox(&self, agreement_id: u64, why: &str) {
        let dropped = self.with_state(|state| state.outbox_mut().drain(agreement_id));
        self.note_dropped(&dropped, agreement_id, why);
    }

    /// A ticket's share over the agreement ended: its waiting pushes are dropped.
    pub fn end_ticket_pushes(&self, agreement_id: u64, ticket_id: u64, why: &str) {
        let dropped =
            self.with_state(|state| state.outbox_mut().drain_ticket(agreement_id, ticket_id));
        self.note_dropped(&dropped, agreement_id, why);
    }

    /// The agreements with pushes waiting.
    pub fn waiting_pushes(&self) -> Vec<u64> {
        self.with_state(|state| state.outbox().waiting())
    }

    fn note_dropped(&self, dropped: &[QueuedPush], agreement_id: u64, why: &str) {
        for push in dropped {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} dropped its queued {} of ticket {} over agreement {}: {why}",
                    self.subdomain(),
                    push.message.describe(),
                    push.ticket_id,
                    agreement_id
                ),
            );
        }
    }

    /// Removes the head of the push's queue if it is that push; how many remain.
    fn take_head(&self, push: &Push) -> usize {
        self.with_state(|state| {
            let queue = state
                .outbox_mut()
                .queues
                .entry(push.agreement.id)
                .or_default();
            if queue.front().is_some_and(|head| head.seq == push.seq) {
                queue.pop_front();
            }
            queue.len()
        })
    }
}

/// `; 2 more wait`: what is still queued behind a push, for trace lines.
fn waiting_note(left: usize) -> String {
    if left == 0 {
        String::new()
    } else {
        format!("; {left} more wait")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::account::agreements::Invitation;
    use crate::core::account::state::ADMIN_ID;
    use crate::core::account::testing::{acme_and_globex, last_decision};
    use crate::core::account::tickets::{NewComment, TicketChanges};

    /// acme with an accepted agreement 1 and ticket 1 shared over it, then commented on
    /// twice: three pushes wait, in the order they were decided.
    fn three_waiting() -> std::sync::Arc<Account> {
        let (acme, _) = acme_and_globex();
        acme.open_invitation(Invitation {
            remote_subdomain: "globex".into(),
            ..Invitation::default()
        });
        acme.with_state(|state| state.change(1, |a| a.status = AgreementStatus::Accepted));
        let comment = |body: &str| TicketChanges {
            comment: Some(NewComment {
                body: body.into(),
                public: true,
                ..NewComment::default()
            }),
            ..TicketChanges::default()
        };
        let first = TicketChanges {
            subject: Some("Printer on fire".into()),
            sharing_agreement_ids: Some(vec![1]),
            ..comment("It smokes.")
        };
        acme.create_ticket(ADMIN_ID, first).unwrap();
        acme.update_ticket(1, ADMIN_ID, comment("One")).unwrap();
        acme.update_ticket(1, ADMIN_ID, comment("Two")).unwrap();
        acme
    }

    fn refused() -> DeliveryFailure {
        DeliveryFailure {
            status: AgreementStatus::Failed,
            cause: "422 invalid".into(),
            http_status: Some(422),
            retry_after: None,
        }
    }

    #[test]
    fn a_flush_sends_head_first_and_each_push_leaves_when_it_is_taken_or_refused() {
        let acme = three_waiting();
        assert!(acme.begin_flush(1));
        assert!(!acme.begin_flush(1), "one flush at a time");
        let first = acme.next_push(1).unwrap();
        assert_eq!(first.message.describe(), "share");
        // Asking again without an answer gives the same head: nothing overtakes it.
        assert_eq!(acme.next_push(1).unwrap().seq, first.seq);
        acme.push_delivered(&first);
        let second = acme.next_push(1).unwrap();
        assert_eq!(second.message.describe(), "update (comment \"One\")");
        acme.push_refused(&second, &refused());
        assert!(last_decision(&acme).contains("dropped its update (comment \"One\") of ticket 1"));
        assert!(
            last_decision(&acme).ends_with("; 1 more wait"),
            "{}",
            last_decision(&acme)
        );
        let third = acme.next_push(1).unwrap();
        assert_eq!(third.message.describe(), "update (comment \"Two\")");
        acme.push_delivered(&third);
        assert!(acme.next_push(1).is_none());
        assert!(acme.waiting_pushes().is_empty());
        assert!(acme.begin_flush(1), "the finished flush let go");
    }

    #[test]
    fn a_kept_push_counts_its_failures_and_is_delivered_later_with_a_note() {
        let acme = three_waiting();
        let head = acme.next_push(1).unwrap();
        assert_eq!(acme.push_kept(&head), 3);
        assert_eq!(acme.push_kept(&head), 3);
        let again = acme.next_push(1).unwrap();
        assert_eq!((again.seq, again.failures), (head.seq, 2));
        acme.push_delivered(&again);
        assert_eq!(
            last_decision(&acme),
            "acme delivered its queued share of ticket 1 over agreement 1 after 2 failed attempt(s); 2 more wait"
        );
    }

    #[test]
    fn what_waits_is_dropped_when_the_agreement_or_the_share_ends() {
        // (how it ends) → pushes left over agreement 1.
        for (ending, left) in [
            ("ticket", 0),
            ("agreement", 0),
            ("inactive", 0),
            ("declined", 0),
            ("failed", 3),
        ] {
            let acme = three_waiting();
            match ending {
                "ticket" => acme.end_ticket_pushes(1, 1, "the partner unshared it"),
                "agreement" => acme.end_outbox(1, "the agreement was deleted"),
                status => {
                    let status = status.parse::<AgreementStatus>().unwrap();
                    acme.with_state(|state| state.change(1, |a| a.status = status));
                    // The next flush finds it: an ended agreement drops, a failed one waits.
                    assert!(acme.next_push(1).is_none(), "{ending}");
                }
            }
            let waiting = acme.read_state(|state| state.outbox().len(1));
            assert_eq!(waiting, left, "{ending}");
            if left == 0 {
                assert!(
                    last_decision(&acme).starts_with("acme dropped its queued"),
                    "{ending}"
                );
            }
        }
    }
}
