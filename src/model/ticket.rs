//! Tickets as plain data, and the pure rules of sharing them: which agreement may
//! carry a share, what a write of `sharing_agreement_ids` means, and what an
//! agreement's terms let through to the partner.
//!
//! Nothing here does I/O: the account layer asks, and the tables below test every
//! direction × status combination.

pub mod content;
pub mod fields;
pub mod lifecycle;
pub mod sync;

pub use content::{Attachment, Via};
pub use sync::{
    FieldChanges, SentFields, SyncGate, SyncedFields, apply_synced_fields, sync_gate, synced_fields,
};

use super::{Agreement, AgreementStatus, Direction, Terms};
use crate::spelling::Spelled;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
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

/// Why a write of `sharing_agreement_ids` is refused; the text is the 422 description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareRefusal {
    /// No agreement with that id on this account.
    Unknown {
        /// The id asked for.
        agreement_id: u64,
    },
    /// Agreements are one way: the receiver cannot share over an inbound copy.
    Inbound {
        /// The inbound agreement.
        agreement_id: u64,
        /// This account.
        account: String,
        /// The agreement's sender.
        partner: String,
    },
    /// Only accepted agreements carry tickets.
    NotAccepted {
        /// The agreement.
        agreement_id: u64,
        /// Its status.
        status: AgreementStatus,
        /// The partner, for the hint.
        partner: String,
    },
    /// The product shares a ticket over at most one agreement at a time.
    MoreThanOne {
        /// The outbound ids asked for.
        agreement_ids: Vec<u64>,
    },
    /// The write dropped the inbound agreement a received ticket arrived over.
    KeepReceived {
        /// The inbound agreement.
        agreement_id: u64,
        /// Who shared the ticket.
        partner: String,
    },
}

impl fmt::Display for ShareRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareRefusal::Unknown { agreement_id } => {
                write!(f, "agreement {agreement_id} does not exist on this account")
            }
            ShareRefusal::Inbound {
                agreement_id,
                account,
                partner,
            } => write!(
                f,
                "agreement {agreement_id} is inbound: only its sender may share tickets over it; \
                 {account} needs its own agreement with {partner}"
            ),
            ShareRefusal::NotAccepted {
                agreement_id,
                status,
                partner,
            } => {
                let hint = match status {
                    AgreementStatus::Pending => format!("wait for {partner} to accept it"),
                    AgreementStatus::Declined => {
                        format!("{partner} declined it; send a new invitation")
                    }
                    AgreementStatus::Inactive => {
                        "it was deactivated and can never be reactivated; send a new invitation"
                            .to_string()
                    }
                    _ => format!(
                        "a delivery to {partner} failed; re-send the invitation (status pending) once {partner} is reachable"
                    ),
                };
                write!(
                    f,
                    "agreement {agreement_id} is {status}: tickets can only be shared over an accepted agreement; {hint}"
                )
            }
            ShareRefusal::MoreThanOne { agreement_ids } => {
                let ids: Vec<String> = agreement_ids.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "a ticket is shared over at most one agreement at a time, but agreements {} were given; keep one",
                    ids.join(" and ")
                )
            }
            ShareRefusal::KeepReceived {
                agreement_id,
                partner,
            } => write!(
                f,
                "the ticket arrived from {partner} over inbound agreement {agreement_id}; only {partner} can unshare it, so keep {agreement_id} in sharing_agreement_ids"
            ),
        }
    }
}

/// Decides whether `account` may share a ticket over `agreement`: only over an
/// accepted outbound copy. The refusal text teaches the rule.
pub fn allowed_share(agreement: &Agreement, account: &str) -> Result<(), ShareRefusal> {
    let partner = agreement
        .remote_subdomain
        .clone()
        .unwrap_or_else(|| "the partner".to_string());
    if agreement.direction == Direction::Inbound {
        return Err(ShareRefusal::Inbound {
            agreement_id: agreement.id,
            account: account.to_string(),
            partner,
        });
    }
    if agreement.status != AgreementStatus::Accepted {
        return Err(ShareRefusal::NotAccepted {
            agreement_id: agreement.id,
            status: agreement.status,
            partner,
        });
    }
    Ok(())
}

/// What a write of `sharing_agreement_ids` changes on the sending side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharingPlan {
    /// The outbound agreement to stop sharing over.
    pub unshare: Option<u64>,
    /// The outbound agreement to start sharing over.
    pub share: Option<u64>,
}

/// Decides what replacing a ticket's `sharing_agreement_ids` with `requested` means.
///
/// The agreement a received ticket arrived over must stay (only its sender unshares);
/// every other id is an outbound share, at most one; a new one must pass
/// [`allowed_share`]. The current outbound share may stay even if its agreement has
/// since left `accepted` (it just stops syncing).
pub fn plan_sharing(
    ticket: &Ticket,
    requested: &[u64],
    agreements: &BTreeMap<u64, Agreement>,
    account: &str,
) -> Result<SharingPlan, ShareRefusal> {
    let mut wanted: Vec<u64> = Vec::new();
    for id in requested {
        if !wanted.contains(id) {
            wanted.push(*id);
        }
    }
    if let Some(received) = ticket.received.as_ref().filter(|r| !r.orphaned) {
        let id = received.share.agreement_id;
        if !wanted.contains(&id) {
            let partner = agreements
                .get(&id)
                .and_then(|a| a.remote_subdomain.clone())
                .unwrap_or_else(|| "the sender".to_string());
            return Err(ShareRefusal::KeepReceived {
                agreement_id: id,
                partner,
            });
        }
        wanted.retain(|wanted_id| *wanted_id != id);
    }
    let current = ticket.sent.as_ref().map(|share| share.agreement_id);
    for id in &wanted {
        if Some(*id) == current {
            continue;
        }
        let agreement = agreements
            .get(id)
            .ok_or(ShareRefusal::Unknown { agreement_id: *id })?;
        allowed_share(agreement, account)?;
    }
    if wanted.len() > 1 {
        return Err(ShareRefusal::MoreThanOne {
            agreement_ids: wanted,
        });
    }
    let next = wanted.first().copied();
    if next == current {
        return Ok(SharingPlan::default());
    }
    Ok(SharingPlan {
        unshare: current,
        share: next,
    })
}

/// Whether a comment is public on the other side: an agreement that does not allow
/// public comments turns every comment private, in both directions *(model)*.
pub fn public_over(terms: &Terms, public: bool) -> bool {
    public && terms.allows_public_comments
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

/// Someone who acts on a ticket as the partner protocol names people: a stable uuid,
/// a display name and a role. The same shape travels on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    /// Stable identifier of the person.
    #[serde(default, deserialize_with = "content::null_as_empty")]
    pub uuid: String,
    /// Display name.
    #[serde(default, deserialize_with = "content::null_as_empty")]
    pub name: String,
    /// `admin` or `agent` (Zendesk's client writes null when it has none).
    #[serde(default, deserialize_with = "content::null_as_empty")]
    pub role: String,
}

/// What one change to a ticket must tell the partners it is shared with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// New comments, in order.
    pub comments: Vec<Comment>,
    /// A new status.
    pub status: Option<TicketStatus>,
    /// Whether the tags changed.
    pub tags: bool,
    /// Whether any custom field changed.
    pub custom_fields: bool,
    /// Whether the custom status changed.
    pub custom_status: bool,
    /// Whether the requester changed.
    pub requester: bool,
    /// The local id of who made the change.
    pub actor: Option<u64>,
}

impl Delta {
    /// Whether there is nothing for partners to hear.
    pub fn is_empty(&self) -> bool {
        self.comments.is_empty()
            && self.status.is_none()
            && !self.tags
            && !self.custom_fields
            && !self.custom_status
            && !self.requester
    }

    /// `comment 3, status open, tags`: what changed, for trace lines.
    pub fn describe(&self) -> String {
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
        if self.custom_status {
            parts.push("custom status".to_string());
        }
        if self.requester {
            parts.push("requester".to_string());
        }
        parts.join(", ")
    }
}

/// Carries out a [`SharingPlan`] on the sending side's copy, with its audit events.
pub fn apply_plan(ticket: &mut Ticket, plan: SharingPlan, events: &mut Vec<AuditEvent>) {
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

/// The audit event of a new comment.
pub fn comment_event(comment: &Comment) -> AuditEvent {
    AuditEvent::Comment {
        id: comment.id,
        body: comment.body.clone(),
        public: comment.public,
        author_id: comment.author_id,
    }
}

/// The audit event of a field change.
pub fn change_event(field: &str, value: Value, previous: Value) -> AuditEvent {
    AuditEvent::Change {
        field_name: field.to_string(),
        value,
        previous_value: previous,
    }
}

/// `comment 3, shared over agreement 1`: what an update did, for trace lines.
pub fn describe_plan(delta: &Delta, plan: SharingPlan) -> String {
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
            uuid: format!("uuid-{id}"),
            name: "Globex @ Zendesk".to_string(),
            remote_subdomain: Some("globex".to_string()),
            status,
            direction,
            access_key: "k".repeat(40),
            sender_url: "http://acme.sharesim.test/sharing".to_string(),
            receiver_url: "http://globex.sharesim.test/sharing".to_string(),
            terms: Terms::default(),
            deactivated_by: None,
            created_at: String::new(),
            updated_at: String::new(),
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
    use super::tests_support::{agreement, ticket};
    use super::*;
    use strum::VariantArray;

    fn book(list: &[Agreement]) -> BTreeMap<u64, Agreement> {
        list.iter().map(|a| (a.id, a.clone())).collect()
    }

    #[test]
    fn only_accepted_outbound_agreements_carry_a_share() {
        let mut allowed = 0;
        for direction in Direction::VARIANTS.iter().copied() {
            for status in AgreementStatus::VARIANTS.iter().copied() {
                let a = agreement(4, direction, status);
                let got = allowed_share(&a, "acme");
                match (direction, status) {
                    (Direction::Outbound, AgreementStatus::Accepted) => {
                        allowed += 1;
                        assert_eq!(got, Ok(()));
                    }
                    (Direction::Inbound, _) => {
                        let text = got.unwrap_err().to_string();
                        assert_eq!(
                            text,
                            "agreement 4 is inbound: only its sender may share tickets over it; acme needs its own agreement with globex"
                        );
                    }
                    (Direction::Outbound, status) => {
                        let refusal = got.unwrap_err();
                        assert!(
                            matches!(refusal, ShareRefusal::NotAccepted { status: s, .. } if s == status)
                        );
                        let text = refusal.to_string();
                        assert!(
                            text.starts_with(&format!("agreement 4 is {status}: ")),
                            "{text}"
                        );
                    }
                }
                // The plan over a fresh ticket agrees with the rule.
                let plan = plan_sharing(&ticket(), &[4], &book(&[a]), "acme");
                assert_eq!(
                    plan.is_ok(),
                    allowed_share(&agreement(4, direction, status), "acme").is_ok()
                );
            }
        }
        assert_eq!(allowed, 1);
    }

    #[test]
    fn plans_share_unshare_and_switch() {
        let agreements = book(&[
            agreement(1, Direction::Outbound, AgreementStatus::Accepted),
            agreement(2, Direction::Outbound, AgreementStatus::Accepted),
            agreement(3, Direction::Outbound, AgreementStatus::Inactive),
        ]);
        let mut t = ticket();
        assert_eq!(
            plan_sharing(&t, &[1], &agreements, "acme"),
            Ok(SharingPlan {
                unshare: None,
                share: Some(1)
            })
        );
        assert_eq!(
            plan_sharing(&t, &[1, 2], &agreements, "acme"),
            Err(ShareRefusal::MoreThanOne {
                agreement_ids: vec![1, 2]
            })
        );
        assert_eq!(
            plan_sharing(&t, &[9], &agreements, "acme"),
            Err(ShareRefusal::Unknown { agreement_id: 9 })
        );
        assert_eq!(
            plan_sharing(&t, &[], &agreements, "acme"),
            Ok(SharingPlan::default())
        );
        t.sent = Some(Share {
            agreement_id: 3,
            uuid: t.uuid.clone(),
        });
        // The current share stays even though its agreement is now inactive.
        assert_eq!(
            plan_sharing(&t, &[3, 3], &agreements, "acme"),
            Ok(SharingPlan::default())
        );
        assert_eq!(
            plan_sharing(&t, &[], &agreements, "acme"),
            Ok(SharingPlan {
                unshare: Some(3),
                share: None
            })
        );
        assert_eq!(
            plan_sharing(&t, &[2], &agreements, "acme"),
            Ok(SharingPlan {
                unshare: Some(3),
                share: Some(2)
            })
        );
    }

    #[test]
    fn a_received_ticket_keeps_its_inbound_agreement() {
        let agreements = book(&[
            agreement(1, Direction::Inbound, AgreementStatus::Accepted),
            agreement(2, Direction::Outbound, AgreementStatus::Accepted),
        ]);
        let mut t = ticket();
        t.received = Some(Received {
            share: Share {
                agreement_id: 1,
                uuid: "s".repeat(40),
            },
            orphaned: false,
        });
        assert_eq!(t.sharing_agreement_ids(), vec![1]);
        let refusal = plan_sharing(&t, &[], &agreements, "globex").unwrap_err();
        assert!(matches!(
            refusal,
            ShareRefusal::KeepReceived {
                agreement_id: 1,
                ..
            }
        ));
        assert!(
            refusal.to_string().contains("only globex can unshare it"),
            "{refusal}"
        );
        assert_eq!(
            plan_sharing(&t, &[1], &agreements, "globex"),
            Ok(SharingPlan::default())
        );
        // A chain: the receiver re-shares over its own outbound agreement.
        assert_eq!(
            plan_sharing(&t, &[1, 2], &agreements, "globex"),
            Ok(SharingPlan {
                unshare: None,
                share: Some(2)
            })
        );
        // An orphan no longer lists the agreement and may not name it again.
        t.received.as_mut().unwrap().orphaned = true;
        assert!(t.sharing_agreement_ids().is_empty());
        assert!(matches!(
            plan_sharing(&t, &[1], &agreements, "globex"),
            Err(ShareRefusal::Inbound {
                agreement_id: 1,
                ..
            })
        ));
    }

    #[test]
    fn terms_decide_what_stays_public() {
        let mut terms = Terms::default();
        assert!(public_over(&terms, true));
        assert!(!public_over(&terms, false));
        terms.allows_public_comments = false;
        assert!(!public_over(&terms, true));
        assert!(!public_over(&terms, false));
    }

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

    /// A plan's share and unshare set the sending copy's link and audit it.
    #[test]
    fn a_sharing_plan_moves_the_link_and_is_audited() {
        let cases = [
            (SharingPlan::default(), None, 0, "fields"),
            (
                SharingPlan {
                    unshare: None,
                    share: Some(2),
                },
                Some(2),
                1,
                "shared over agreement 2",
            ),
            (
                SharingPlan {
                    unshare: Some(2),
                    share: None,
                },
                None,
                1,
                "unshared from agreement 2",
            ),
            (
                SharingPlan {
                    unshare: Some(2),
                    share: Some(3),
                },
                Some(3),
                2,
                "unshared from agreement 2, shared over agreement 3",
            ),
        ];
        for (plan, linked, event_count, described) in cases {
            let mut copy = ticket();
            copy.sent = Some(Share {
                agreement_id: 2,
                uuid: copy.uuid.clone(),
            });
            let mut events = Vec::new();
            apply_plan(&mut copy, plan, &mut events);
            let expected_link = if plan == SharingPlan::default() {
                Some(2)
            } else {
                linked
            };
            assert_eq!(
                copy.sent.as_ref().map(|s| s.agreement_id),
                expected_link,
                "{plan:?}"
            );
            assert_eq!(events.len(), event_count);
            assert_eq!(describe_plan(&Delta::default(), plan), described);
        }
    }
}
