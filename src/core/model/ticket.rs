//! Tickets as plain data, and the pure rules around them, one topic a child:
//! `sharing` (which agreement may carry a share), `sync` (what crosses to a partner),
//! `audit` (what a change records and tells), `fields`, `content` and `lifecycle`.
//!
//! Nothing here does I/O: the account layer asks, and the tables in the children test
//! every direction × status combination.

pub(crate) mod audit;
pub(crate) mod content;
pub mod fields;
pub(crate) mod lifecycle;
pub(crate) mod sharing;
pub(crate) mod sync;

pub use audit::{Actor, Delta, change_event, comment_event};
pub use content::{Attachment, Via};
pub use sharing::{
    ShareRefusal, SharingPlan, allowed_share, apply_plan, describe_plan, plan_sharing, public_over,
};
pub use sync::{
    FieldChanges, SentFields, SyncGate, SyncedFields, apply_synced_fields, sync_gate, synced_fields,
};

#[cfg(test)]
use super::{Agreement, AgreementStatus, Direction, Terms};
use crate::core::spelling::Spelled;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use std::str::FromStr;

/// The six ticket statuses Zendesk documents.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum TicketStatus {
    /// Nobody has worked on it yet.
    New,
    /// Being worked on.
    Open,
    /// Waiting on the requester.
    Pending,
    /// Waiting on a third party.
    Hold,
    /// Answered.
    Solved,
    /// Archived.
    Closed,
}

impl TicketStatus {
    /// The one spelling (REST, wire, files).
    pub fn as_str(self) -> &'static str {
        self.spelling()
    }

    /// All statuses spelled for an error message.
    pub fn allowed_list() -> String {
        TicketStatus::spelled_list()
    }
}

impl FromStr for TicketStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TicketStatus::from_spelling(s).ok_or_else(|| {
            format!(
                "{s:?} is not a ticket status; expected one of {}",
                TicketStatus::allowed_list()
            )
        })
    }
}

/// One comment on one account's copy of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Comment {
    /// The account-local id (REST `id`).
    pub id: u64,
    /// The protocol identity, kept as it travels: SHA-1 of the writer's
    /// `{sharing url}/comments/{id}`. Duplicates are recognised by it.
    pub uuid: String,
    /// The text.
    pub body: String,
    /// Whether the requester sees it (false: an internal note).
    pub public: bool,
    /// The local id of the person who wrote it (REST `author_id`).
    pub author_id: u64,
    /// When this account stored it (UTC, `…Z`).
    pub created_at: String,
    /// When its writer wrote it, as the protocol spells it (`2011-01-02 13:01:01 -0500`).
    pub authored_at: String,
    /// The local agreement id it arrived over; None when written on this account.
    /// A comment is never pushed back over the agreement it came from.
    pub arrived_over: Option<u64>,
    /// The HTML rendering, when its writer gave one.
    #[serde(default)]
    pub html_body: Option<String>,
    /// Files, as URLs.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The protocol's comment `custom_fields`, kept as they travel *(model: Zendesk
    /// does not document what they hold)*.
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
}

/// A ticket's link to a partner: the local agreement and the ticket's protocol uuid.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    /// The local id of the agreement the ticket travels over.
    pub agreement_id: u64,
    /// The ticket's uuid on that agreement (the sharer's).
    pub uuid: String,
}

/// Where a received ticket came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Received {
    /// The inbound agreement and the sender's ticket uuid.
    pub share: Share,
    /// True once the sender unshared it: the copy stays, but no longer syncs.
    pub orphaned: bool,
}

/// What a `TicketSharingEvent` says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharingAction {
    /// The ticket started travelling over the agreement.
    Shared,
    /// It stopped.
    Unshared,
}

/// One event of an audit, serialised as the REST API shows it (`type` first).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "type")]
pub enum AuditEvent {
    /// A field's value when the ticket was created.
    Create {
        /// The field.
        field_name: String,
        /// Its first value.
        value: Value,
    },
    /// A comment was added.
    Comment {
        /// The comment's local id.
        id: u64,
        /// Its text.
        body: String,
        /// Whether it is public.
        public: bool,
        /// Who wrote it.
        author_id: u64,
    },
    /// A field changed.
    Change {
        /// The field.
        field_name: String,
        /// The new value.
        value: Value,
        /// The value before.
        previous_value: Value,
    },
    /// The ticket was shared or unshared over an agreement.
    #[serde(rename = "TicketSharingEvent")]
    TicketSharing {
        /// The local agreement id.
        agreement_id: u64,
        /// Shared or unshared.
        action: SharingAction,
    },
}

/// One change to a ticket, with its events.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Audit {
    /// The account-local id.
    pub id: u64,
    /// Who made the change; -1 when the system did (Zendesk's convention).
    pub author_id: i64,
    /// When (UTC, `…Z`).
    pub created_at: String,
    /// What changed.
    pub events: Vec<AuditEvent>,
}

/// One account's copy of a ticket.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    /// The account-local id.
    pub id: u64,
    /// The uuid this account uses when it shares the ticket: SHA-1 of
    /// `{own sharing url}/tickets/{id}`. A received ticket also knows the sender's
    /// uuid, in [`Ticket::received`].
    pub uuid: String,
    /// The subject line.
    pub subject: String,
    /// The first comment's text.
    pub description: String,
    /// Where the ticket stands.
    pub status: TicketStatus,
    /// The local id of the requester.
    pub requester_id: u64,
    /// Lower-case tags, in the order first given.
    pub tags: Vec<String>,
    /// Custom field values by this account's field id.
    pub custom_fields: BTreeMap<u64, Value>,
    /// The custom status label, as the protocol carries it.
    #[serde(default)]
    pub custom_status: Option<String>,
    /// How the ticket came to be here.
    #[serde(default)]
    pub via: Via,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Changes, oldest first.
    pub audits: Vec<Audit>,
    /// The outbound agreement this account shares the ticket over, if any.
    pub sent: Option<Share>,
    /// Where the ticket came from, when a partner shared it with this account.
    pub received: Option<Received>,
    /// When it was created (UTC, `…Z`).
    pub created_at: String,
    /// When it last changed (UTC, `…Z`).
    pub updated_at: String,
}

impl Ticket {
    /// The shares that still sync: the received one (unless orphaned), then the sent one.
    pub fn live_shares(&self) -> Vec<&Share> {
        let received = self
            .received
            .as_ref()
            .filter(|received| !received.orphaned)
            .map(|received| &received.share);
        received.into_iter().chain(self.sent.as_ref()).collect()
    }

    /// The REST field `sharing_agreement_ids`: every agreement the ticket syncs over.
    pub fn sharing_agreement_ids(&self) -> Vec<u64> {
        self.live_shares()
            .iter()
            .map(|share| share.agreement_id)
            .collect()
    }

    /// The live share over `agreement_id`, if the ticket travels over it.
    pub fn share_over(&self, agreement_id: u64) -> Option<&Share> {
        self.live_shares()
            .into_iter()
            .find(|share| share.agreement_id == agreement_id)
    }

    /// Whether a comment with this protocol uuid is already on the ticket.
    pub fn has_comment(&self, uuid: &str) -> bool {
        self.comments.iter().any(|comment| comment.uuid == uuid)
    }
}

/// Zendesk's tag rules: lower-case, split on whitespace, each tag once, in order.
pub fn normalize_tags<S: AsRef<str>>(tags: &[S]) -> Vec<String> {
    let mut normalized: Vec<String> = Vec::new();
    for tag in tags.iter().flat_map(|t| t.as_ref().split_whitespace()) {
        let tag = tag.to_lowercase();
        if !normalized.contains(&tag) {
            normalized.push(tag);
        }
    }
    normalized
}

/// The subject a ticket gets when none is given *(model)*: the description's first
/// line, cut to 50 characters.
pub fn default_subject(description: &str) -> String {
    description
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(50)
        .collect()
}

/// A REST timestamp (`2012-02-20T22:55:29Z`).
pub fn rest_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A protocol timestamp (`2011-01-02 13:01:01 -0500`).
pub fn protocol_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M:%S %z").to_string()
}

/// A plain ticket for the unit tests of this module and its children.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// Agreement `id` between acme (sender) and globex, default terms.
    pub(crate) fn agreement(id: u64, direction: Direction, status: AgreementStatus) -> Agreement {
        Agreement {
            id,
            uuid: format!("uuid-{id}").into(),
            name: "Globex @ Zendesk".into(),
            remote_subdomain: Some("globex".into()),
            status,
            direction,
            access_key: "k".repeat(40).into(),
            sender_url: "http://acme.sharesim.test/sharing".into(),
            receiver_url: "http://globex.sharesim.test/sharing".into(),
            terms: Terms::default(),
            deactivated_by: None,
            created_at: Default::default(),
            updated_at: Default::default(),
            unverified_sender: false,
        }
    }

    /// Ticket 1, new, no comments, not shared.
    pub(crate) fn ticket() -> Ticket {
        Ticket {
            id: 1,
            uuid: "t".repeat(40),
            subject: "Printer on fire".to_string(),
            description: "Help".to_string(),
            status: TicketStatus::New,
            requester_id: 1,
            tags: Vec::new(),
            custom_fields: BTreeMap::new(),
            custom_status: None,
            via: Via::Api,
            comments: Vec::new(),
            audits: Vec::new(),
            sent: None,
            received: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn tags_and_subjects_follow_zendesk() {
        assert_eq!(
            normalize_tags(&["VIP", "needs reply", "vip"]),
            vec!["vip", "needs", "reply"]
        );
        assert_eq!(
            default_subject("\n  Printer on fire\nsecond line"),
            "Printer on fire"
        );
        assert_eq!(default_subject(&"x".repeat(80)).len(), 50);
    }

    #[test]
    fn statuses_round_trip() {
        for status in TicketStatus::VARIANTS.iter().copied() {
            assert_eq!(status.as_str().parse::<TicketStatus>(), Ok(status));
        }
        assert!(
            "active"
                .parse::<TicketStatus>()
                .unwrap_err()
                .contains("hold")
        );
    }

    #[test]
    fn audit_events_serialise_with_their_type() {
        let event = AuditEvent::TicketSharing {
            agreement_id: 4,
            action: SharingAction::Unshared,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"type":"TicketSharingEvent","agreement_id":4,"action":"unshared"}"#
        );
    }
}
