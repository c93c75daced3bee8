//! The outbox: ticket pushes an account has decided but not yet delivered, one ordered
//! queue per agreement. A push leaves its queue only when the partner took it, when the
//! partner refused it for what it says, or when the agreement (or the ticket's share
//! over it) ends; each of those is a trace event. One flush at a time drains a queue,
//! head first, so messages about one ticket never overtake each other.
//!
//! Our model of Zendesk's background delivery: a push that could not be delivered is
//! kept and tried again whenever it could now get through (the agreement is accepted
//! again after a re-sent invitation, a later push over the same agreement, a message
//! from the partner, a repaired link); Zendesk does not document its retry policy.

use super::tickets::{Push, TicketMessage};
use super::{Account, AccountState};
use crate::model::AgreementStatus;
use crate::transport::DeliveryFailure;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One push waiting in an agreement's queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedPush {
    /// Order of decision across the account (the queue is in this order).
    pub seq: u64,
    /// The local ticket id, for trace lines.
    pub ticket_id: u64,
    /// The ticket's uuid on the agreement.
    pub uuid: String,
    /// What to tell the partner.
    pub message: TicketMessage,
    /// Failed delivery attempts so far.
    #[serde(default)]
    pub failures: u32,
}

/// Every queue of one account. Which queues are being flushed is not state: it lives
/// only while a flush runs.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    queues: BTreeMap<u64, VecDeque<QueuedPush>>,
    next_seq: u64,
    flushing: BTreeSet<u64>,
}

/// The outbox as snapshots hold it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxRecord {
    /// Queued pushes by local agreement id, oldest first.
    pub queues: BTreeMap<u64, Vec<QueuedPush>>,
    /// The sequence number the next push gets.
    pub next_seq: u64,
}

impl Outbox {
    /// The outbox as data.
    pub fn record(&self) -> OutboxRecord {
        OutboxRecord {
            queues: self
                .queues
                .iter()
                .filter(|(_, queue)| !queue.is_empty())
                .map(|(id, queue)| (*id, queue.iter().cloned().collect()))
                .collect(),
            next_seq: self.next_seq,
        }
    }

    /// An outbox holding exactly `record`.
    pub fn from_record(record: &OutboxRecord) -> Outbox {
        Outbox {
            queues: record
                .queues
                .iter()
                .map(|(id, queue)| (*id, queue.iter().cloned().collect()))
                .collect(),
            next_seq: record.next_seq,
            flushing: BTreeSet::new(),
        }
    }

    /// Appends a push to the agreement's queue.
    pub fn enqueue(
        &mut self,
        agreement_id: u64,
        ticket_id: u64,
        uuid: String,
        message: TicketMessage,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queues
            .entry(agreement_id)
            .or_default()
            .push_back(QueuedPush {
                seq,
                ticket_id,
                uuid,
                message,
                failures: 0,
            });
    }

    /// How many pushes wait over the agreement.
    pub fn len(&self, agreement_id: u64) -> usize {
        self.queues.get(&agreement_id).map_or(0, VecDeque::len)
    }

    /// The agreements with pushes waiting.
    pub fn waiting(&self) -> Vec<u64> {
        self.queues
            .iter()
            .filter(|(_, queue)| !queue.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Removes every push over the agreement (it ended).
    fn drain(&mut self, agreement_id: u64) -> Vec<QueuedPush> {
        self.queues
            .remove(&agreement_id)
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// Removes the pushes about one ticket over the agreement (its share ended).
    fn drain_ticket(&mut self, agreement_id: u64, ticket_id: u64) -> Vec<QueuedPush> {
        let Some(queue) = self.queues.get_mut(&agreement_id) else {
            return Vec::new();
        };
        let (gone, kept): (Vec<QueuedPush>, Vec<QueuedPush>) = queue
            .drain(..)
            .partition(|push| push.ticket_id == ticket_id);
        queue.extend(kept);
        gone
    }
}

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

/// Queues a decided push under the lock that decided it, so two changes to one ticket
/// are queued in the order they were made.
pub(crate) fn enqueue(state: &mut AccountState, push: Push) {
    state
        .outbox_mut()
        .enqueue(push.agreement.id, push.ticket_id, push.uuid, push.message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> TicketMessage {
        TicketMessage::Unshare
    }

    #[test]
    fn queues_keep_order_per_agreement_and_drop_by_ticket_or_agreement() {
        let mut outbox = Outbox::default();
        outbox.enqueue(1, 10, "a".into(), message());
        outbox.enqueue(2, 20, "b".into(), message());
        outbox.enqueue(1, 11, "c".into(), message());
        outbox.enqueue(1, 10, "a".into(), message());
        assert_eq!(outbox.len(1), 3);
        assert_eq!(outbox.waiting(), vec![1, 2]);
        let seqs: Vec<u64> = outbox.queues[&1].iter().map(|p| p.seq).collect();
        assert_eq!(seqs, vec![0, 2, 3], "decision order within the agreement");
        let gone = outbox.drain_ticket(1, 10);
        assert_eq!(gone.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(outbox.len(1), 1);
        let record = outbox.record();
        assert_eq!(Outbox::from_record(&record).record(), record);
        assert_eq!(outbox.drain(2).len(), 1);
        assert_eq!(outbox.waiting(), vec![1]);
        assert!(outbox.drain(7).is_empty());
    }
}
