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

use crate::core::model::Agreement;
use crate::core::model::ticket::fields::SyncedValue;
use crate::core::model::ticket::{Actor, Attachment, TicketStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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
    pub(super) queues: BTreeMap<u64, VecDeque<QueuedPush>>,
    next_seq: u64,
    pub(super) flushing: BTreeSet<u64>,
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
    pub(super) fn drain(&mut self, agreement_id: u64) -> Vec<QueuedPush> {
        self.queues
            .remove(&agreement_id)
            .map(Vec::from)
            .unwrap_or_default()
    }

    /// Removes the pushes about one ticket over the agreement (its share ended).
    pub(super) fn drain_ticket(&mut self, agreement_id: u64, ticket_id: u64) -> Vec<QueuedPush> {
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

/// A queued ticket message on its way: the head of an agreement's outbox, with the
/// agreement as it is now (its partner URL and token).
#[derive(Debug, Clone)]
pub struct Push {
    /// The agreement it travels over.
    pub agreement: Agreement,
    /// The local ticket id, for trace lines.
    pub ticket_id: u64,
    /// The ticket's uuid on that agreement.
    pub uuid: String,
    /// What to tell the partner.
    pub message: TicketMessage,
    /// Its place in the outbox.
    pub seq: u64,
    /// Failed attempts so far.
    pub failures: u32,
}

/// The three ticket calls of the protocol, with what each carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum TicketMessage {
    /// The whole ticket, to a partner that does not have it yet.
    Share(Box<SharedTicket>),
    /// Only what changed.
    Update(Box<TicketUpdate>),
    /// Stop syncing; the partner keeps its copy.
    Unshare,
}

impl TicketMessage {
    /// `share`, `update (comment, status open)`, `unshare`: for trace lines.
    pub fn describe(&self) -> String {
        match self {
            TicketMessage::Share(_) => "share".to_string(),
            TicketMessage::Unshare => "unshare".to_string(),
            TicketMessage::Update(update) => {
                let mut parts: Vec<String> = update
                    .comments
                    .iter()
                    .map(|c| format!("comment {:?}", c.body.chars().take(24).collect::<String>()))
                    .collect();
                if let Some(status) = update.status {
                    parts.push(format!("status {status}"));
                }
                if update.custom_status.is_some() {
                    parts.push("custom status".to_string());
                }
                if update.tags.is_some() {
                    parts.push("tags".to_string());
                }
                if update.custom_fields.is_some() {
                    parts.push("custom fields".to_string());
                }
                if update.requester.is_some() {
                    parts.push("requester".to_string());
                }
                format!("update ({})", parts.join(", "))
            }
        }
    }
}

/// A ticket as a share carries it, within the agreement's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedTicket {
    /// Subject line.
    pub subject: String,
    /// When the ticket was created, protocol format.
    pub requested_at: String,
    /// Status, when the terms sync it.
    pub status: Option<TicketStatus>,
    /// The custom status label, when the terms sync status.
    #[serde(default)]
    pub custom_status: Option<String>,
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
    /// Custom field values, titled and typed, when the terms sync them.
    pub custom_fields: Option<Vec<SyncedValue>>,
}

/// What changed on a shared ticket, within the agreement's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdate {
    /// New comments the partner has not seen.
    pub comments: Vec<CommentMessage>,
    /// A new status, when the terms sync it.
    pub status: Option<TicketStatus>,
    /// A new custom status label, when the terms sync status.
    #[serde(default)]
    pub custom_status: Option<String>,
    /// The new tags, when they changed and the terms sync them.
    pub tags: Option<Vec<String>>,
    /// All custom field values, when one changed and the terms sync them.
    pub custom_fields: Option<Vec<SyncedValue>>,
    /// The new requester, when it changed.
    #[serde(default)]
    pub requester: Option<Actor>,
    /// Who made the change.
    pub actor: Actor,
}

/// A comment as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentMessage {
    /// Its protocol uuid (duplicates are recognised by it).
    pub uuid: String,
    /// Who wrote it.
    pub author: Actor,
    /// Plain text.
    pub body: String,
    /// The HTML rendering, when there is one.
    #[serde(default)]
    pub html_body: Option<String>,
    /// When its writer wrote it, protocol format.
    pub authored_at: String,
    /// Whether it is public on the other side (the terms may make it private).
    pub public: bool,
    /// Files, as URLs.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The comment's custom fields, as its writer gave them.
    #[serde(default)]
    pub custom_fields: Option<Map<String, Value>>,
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
