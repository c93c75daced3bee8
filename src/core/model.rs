//! The agreement lifecycle as plain data and pure functions.
//!
//! This is the one place that says which status changes may happen, who may make
//! them, and what the partner must be told. The REST API, the partner protocol and
//! the scenario runner all ask it; nothing here does I/O, so every combination is
//! tested in a table below. Tickets and the rules of sharing them are in [`ticket`].

pub mod ticket;

use crate::core::spelling::Spelled;
use crate::core::text::Text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an agreement copy sits: the sender holds the outbound copy, the receiver the inbound one.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum Direction {
    /// The receiver's copy: it may accept or decline, never share tickets over it.
    Inbound,
    /// The sender's copy: the only one tickets may be shared over.
    Outbound,
}

impl Direction {
    /// The one spelling (`type` field of the REST object).
    pub fn as_str(self) -> &'static str {
        self.spelling()
    }

    /// Which party holds this copy, as the protocol's `deactivated_by` spells it.
    pub fn party(self) -> &'static str {
        match self {
            Direction::Inbound => "receiver",
            Direction::Outbound => "sender",
        }
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Direction::from_spelling(s).ok_or_else(|| {
            format!(
                "`{s}` is not a type; expected {}",
                Direction::spellings().join(" or ")
            )
        })
    }
}

/// The seven statuses Zendesk documents for a sharing agreement.
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
pub enum AgreementStatus {
    /// Invited, not yet answered.
    Pending,
    /// The receiver said yes: the sender may share tickets.
    Accepted,
    /// The receiver said no; final.
    Declined,
    /// Deactivated by either side; final.
    Inactive,
    /// The invitation reached the partner but was refused or broke (our model:
    /// docs/design.md, *Failure statuses*).
    Failed,
    /// The TLS handshake to the partner failed (our model: docs/design.md, *Failure
    /// statuses*).
    SslError,
    /// The partner cannot be addressed as a sharing endpoint (our model:
    /// docs/design.md, *Failure statuses*).
    ConfigurationError,
}

impl AgreementStatus {
    /// The one spelling (files, wire, trace).
    pub fn as_str(self) -> &'static str {
        self.spelling()
    }

    /// True for the three statuses a sender records when delivery failed.
    pub fn is_delivery_failure(self) -> bool {
        matches!(
            self,
            AgreementStatus::Failed
                | AgreementStatus::SslError
                | AgreementStatus::ConfigurationError
        )
    }

    /// True for the statuses an agreement never leaves (inactive, declined): nothing
    /// travels over it again.
    pub fn is_final(self) -> bool {
        matches!(self, AgreementStatus::Inactive | AgreementStatus::Declined)
    }

    /// True while the partner still holds a live copy it should hear about (deactivation, deletion).
    pub fn is_live(self) -> bool {
        matches!(self, AgreementStatus::Pending | AgreementStatus::Accepted)
    }

    /// All statuses spelled for an error message.
    pub fn allowed_list() -> String {
        AgreementStatus::spelled_list()
    }
}

impl FromStr for AgreementStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgreementStatus::from_spelling(s).ok_or_else(|| {
            format!(
                "`{s}` is not a status; expected one of {}",
                AgreementStatus::allowed_list()
            )
        })
    }
}

/// What a status change made through the REST API requires of the partner protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalChange {
    /// The receiver answers the invitation: PUT the new status to the sender.
    Answer(AgreementStatus),
    /// Either side deactivates: PUT `inactive` with `deactivated_by` to the partner.
    Deactivate,
    /// The sender re-sends a failed invitation: POST it again (idempotent on the receiver).
    Resend,
    /// Nothing changes (the requested status is the current one); nothing is sent.
    Unchanged,
}

/// Why a status change is refused; its text is the 422 description users read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The status the copy has now.
    pub from: AgreementStatus,
    /// The status that was asked for.
    pub to: AgreementStatus,
    /// Why not, as a sentence fragment that also says what to do instead.
    pub reason: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Status cannot change from {} to {}: {}",
            self.from, self.to, self.reason
        )
    }
}

/// Decides whether an admin may move this copy from `current` to `requested`
/// through the REST API, and what must then be sent to the partner.
pub fn allowed_transition(
    direction: Direction,
    current: AgreementStatus,
    requested: AgreementStatus,
) -> Result<LocalChange, Refusal> {
    use AgreementStatus::*;
    let refuse = |reason| {
        Err(Refusal {
            from: current,
            to: requested,
            reason,
        })
    };
    match (current, requested) {
        (Inactive, _) => refuse(
            "an inactive agreement is final and can never be reactivated; send a new invitation instead",
        ),
        (Declined, _) => {
            refuse("a declined agreement is final; the sender must send a new invitation instead")
        }
        (current, requested) if current == requested && current.is_live() => {
            Ok(LocalChange::Unchanged)
        }
        (Pending | Accepted, Inactive) => Ok(LocalChange::Deactivate),
        (Pending, Accepted | Declined) => match direction {
            Direction::Inbound => Ok(LocalChange::Answer(requested)),
            Direction::Outbound => refuse(
                "only the receiver answers an invitation; the sender may only deactivate or delete it",
            ),
        },
        (Accepted, Declined) => refuse(
            "an accepted agreement cannot be declined; deactivate it (status inactive) instead",
        ),
        (Accepted, Pending) => refuse(
            "an accepted agreement cannot go back to pending; deactivate it and send a new invitation",
        ),
        (failed, Pending) if failed.is_delivery_failure() => match direction {
            Direction::Outbound => Ok(LocalChange::Resend),
            Direction::Inbound => refuse("only the sender can re-send an invitation"),
        },
        (failed, _) if failed.is_delivery_failure() => {
            refuse("the invitation was never delivered; re-send it (status pending) or delete it")
        }
        (_, Failed | SslError | ConfigurationError) => refuse(
            "failure statuses are recorded by the simulator when delivery fails; they cannot be set",
        ),
        _ => refuse("that change is not part of the agreement lifecycle"),
    }
}

/// Decides whether the partner may move our copy from `current` to `requested`
/// (a PUT on the partner protocol). `direction` is that of our local copy.
pub fn allowed_partner_update(
    direction: Direction,
    current: AgreementStatus,
    requested: AgreementStatus,
) -> Result<LocalChange, Refusal> {
    use AgreementStatus::*;
    let refuse = |reason| {
        Err(Refusal {
            from: current,
            to: requested,
            reason,
        })
    };
    if !matches!(requested, Accepted | Declined | Inactive) {
        return refuse("a partner may only send accepted, declined or inactive");
    }
    match (direction, current, requested) {
        // A repeated answer (e.g. re-delivered after a lost reply) is accepted as is.
        (_, current, requested) if current == requested && current != Pending => {
            Ok(LocalChange::Unchanged)
        }
        (_, Inactive, _) => refuse("an inactive agreement is final"),
        (_, Declined, _) => refuse("a declined agreement is final"),
        (_, Pending | Accepted, Inactive) => Ok(LocalChange::Deactivate),
        (Direction::Outbound, Pending, Accepted | Declined) => Ok(LocalChange::Answer(requested)),
        // Our model: a sender whose copy records a failed delivery still takes the
        // receiver's answer, because the receiver evidently holds the invitation.
        (Direction::Outbound, failed, Accepted | Declined) if failed.is_delivery_failure() => {
            Ok(LocalChange::Answer(requested))
        }
        (Direction::Inbound, _, Accepted | Declined) => {
            refuse("only the receiver answers an invitation, and this account is the receiver")
        }
        _ => refuse("the partner may only answer a pending invitation or deactivate"),
    }
}

/// Terms the sender sets on an agreement and carries in the invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Whether ticket tags travel with shared tickets.
    pub sync_tags: bool,
    /// Whether custom fields travel with shared tickets.
    pub sync_custom_fields: bool,
    /// Whether public comments stay public on the partner (false: they arrive private).
    pub allows_public_comments: bool,
    /// Whether ticket status changes sync (a sharesim extension of the protocol's terms).
    pub sync_status: bool,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            sync_tags: true,
            sync_custom_fields: true,
            allows_public_comments: true,
            sync_status: true,
        }
    }
}

/// One account's copy of a sharing agreement. Its text is shared ([`Text`]): copies are
/// handed out on every call that reads one, and copying one copies no string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// The account-local id (the REST API's `id`).
    pub id: u64,
    /// Shared by both copies: SHA-1 of the sender's sharing URL and local id.
    pub uuid: Text,
    /// Display name of this copy.
    pub name: Text,
    /// The partner's subdomain, when the partner is a known account.
    pub remote_subdomain: Option<Text>,
    /// Where this copy stands.
    pub status: AgreementStatus,
    /// Which side of the agreement this account is.
    pub direction: Direction,
    /// The secret both copies share; part of `X-Ticket-Sharing-Token`.
    pub access_key: Text,
    /// The sender's sharing URL.
    pub sender_url: Text,
    /// The receiver's sharing URL.
    pub receiver_url: Text,
    /// The terms set by the sender.
    pub terms: Terms,
    /// Who deactivated it, when inactive (`sender` or `receiver`).
    pub deactivated_by: Option<Text>,
    /// When this copy was made (UTC, `…Z`).
    pub created_at: Text,
    /// When this copy last changed (UTC, `…Z`).
    pub updated_at: Text,
    /// An inbound copy whose invitation did not come from this world's own transport:
    /// its claimed sender is unproven, so it counts against the pending quota that
    /// every unproven sender shares, never against the claimed sender's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified_sender: bool,
}

impl Agreement {
    /// The partner's sharing URL: where messages about this agreement go.
    pub fn partner_url(&self) -> &str {
        match self.direction {
            Direction::Inbound => &self.sender_url,
            Direction::Outbound => &self.receiver_url,
        }
    }

    /// The protocol's authentication header value for this agreement.
    pub fn token(&self) -> String {
        format!("{}:{}", self.uuid, self.access_key)
    }
}

/// Whether `candidate` is a valid Zendesk subdomain: lower-case `[a-z0-9-]`, 1–63 chars.
pub fn is_valid_subdomain(candidate: &str) -> bool {
    (1..=63).contains(&candidate.len())
        && candidate
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The default display name of an account: its subdomain, capitalised.
pub fn default_display_name(subdomain: &str) -> String {
    let mut chars = subdomain.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// SHA-1 hex of `{sharing url}/{kind}/{local id}`: the protocol's shared identifier of
/// an agreement, a ticket, a comment or a user.
pub fn protocol_uuid(sharing_url: &str, kind: &str, local_id: u64) -> String {
    sha1_hex(&[sharing_url, "/", kind, "/"], local_id, &[])
}

/// SHA-1 hex of `pieces`, then `number` in decimal, then `tail`: the text of a
/// protocol uuid hashed piece by piece, with nothing formatted or allocated but the
/// hex itself.
pub fn sha1_hex(pieces: &[&str], number: u64, tail: &[&str]) -> String {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    for piece in pieces {
        hasher.update(piece.as_bytes());
    }
    hasher.update(itoa::Buffer::new().format(number).as_bytes());
    for piece in tail {
        hasher.update(piece.as_bytes());
    }
    hex40(&hasher.finalize().into())
}

/// Twenty bytes as forty lower-case hex digits, as `hex::encode` writes them, through a
/// table into one allocation of the right size (the crate pushes char by char).
pub fn hex40(bytes: &[u8; 20]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 40];
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    // Hex digits are ASCII.
    std::str::from_utf8(&text).unwrap_or_default().to_owned()
}

/// The first 8 characters of a uuid, for readable trace lines.
pub fn short_uuid(uuid: &str) -> &str {
    uuid.get(..8).unwrap_or(uuid)
}

/// The name each side's copy gets unless its creator chose one.
pub fn default_agreement_name(partner_display_name: &str) -> String {
    [partner_display_name, " @ Zendesk"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn hex40_writes_what_the_hex_crate_writes() {
        for bytes in [
            [0u8; 20],
            [0xff; 20],
            std::array::from_fn(|i| (i * 37 + 5) as u8),
        ] {
            assert_eq!(hex40(&bytes), hex::encode(bytes));
        }
    }

    #[test]
    fn sha1_hex_hashes_the_text_a_format_would_write() {
        use sha1::{Digest, Sha1};
        for number in [0, 7, 10, 1234567890, u64::MAX] {
            assert_eq!(
                sha1_hex(&["http://a/sharing", "/agreements/"], number, &["/", "s"]),
                hex::encode(Sha1::digest(
                    format!("http://a/sharing/agreements/{number}/s").as_bytes()
                ))
            );
        }
    }

    #[test]
    fn uuids_are_sha1_of_the_sharing_url_kind_and_id() {
        use sha1::{Digest, Sha1};
        let uuid = protocol_uuid("http://acme.sharesim.test/sharing", "agreements", 1);
        assert_eq!(uuid.len(), 40);
        assert_eq!(
            uuid,
            hex::encode(Sha1::digest(
                b"http://acme.sharesim.test/sharing/agreements/1"
            ))
        );
        assert_ne!(
            uuid,
            protocol_uuid("http://acme.sharesim.test/sharing", "agreements", 2)
        );
        assert_ne!(
            uuid,
            protocol_uuid("http://acme.sharesim.test/sharing", "tickets", 1)
        );
        assert_eq!(short_uuid(&uuid), &uuid[..8]);
        assert_eq!(short_uuid("abc"), "abc");
    }
    use AgreementStatus::*;
    use LocalChange::*;

    /// The whole REST transition table: (direction, from, to) → allowed change.
    /// Anything not listed must be refused.
    fn expected_local(
        d: Direction,
        from: AgreementStatus,
        to: AgreementStatus,
    ) -> Option<LocalChange> {
        match (d, from, to) {
            (_, Pending, Pending) | (_, Accepted, Accepted) => Some(Unchanged),
            (_, Pending, Inactive) | (_, Accepted, Inactive) => Some(Deactivate),
            (Direction::Inbound, Pending, Accepted) => Some(Answer(Accepted)),
            (Direction::Inbound, Pending, Declined) => Some(Answer(Declined)),
            (Direction::Outbound, Failed | SslError | ConfigurationError, Pending) => Some(Resend),
            _ => None,
        }
    }

    #[test]
    fn every_rest_transition_matches_the_table() {
        let mut allowed = 0;
        for d in Direction::VARIANTS.iter().copied() {
            for from in AgreementStatus::VARIANTS.iter().copied() {
                for to in AgreementStatus::VARIANTS.iter().copied() {
                    let got = allowed_transition(d, from, to);
                    match expected_local(d, from, to) {
                        Some(change) => {
                            allowed += 1;
                            assert_eq!(got, Ok(change), "{d} {from}->{to}");
                        }
                        None => {
                            let refusal =
                                got.expect_err(&format!("{d} {from}->{to} must be refused"));
                            assert_eq!((refusal.from, refusal.to), (from, to));
                            let text = refusal.to_string();
                            assert!(
                                text.contains(from.as_str()) && text.contains(to.as_str()),
                                "{text}"
                            );
                        }
                    }
                }
            }
        }
        // 4 unchanged + 4 deactivations + 2 answers + 3 resends.
        assert_eq!(allowed, 13);
    }

    #[test]
    fn final_statuses_explain_the_way_back() {
        let refusal = allowed_transition(Direction::Outbound, Inactive, Pending).unwrap_err();
        assert!(refusal.to_string().contains("new invitation"), "{refusal}");
        let refusal = allowed_transition(Direction::Inbound, Declined, Accepted).unwrap_err();
        assert!(refusal.to_string().contains("final"), "{refusal}");
    }

    fn expected_partner(
        d: Direction,
        from: AgreementStatus,
        to: AgreementStatus,
    ) -> Option<LocalChange> {
        match (d, from, to) {
            (_, _, Pending | Failed | SslError | ConfigurationError) => None,
            (_, from, to) if from == to => Some(Unchanged),
            (_, Pending | Accepted, Inactive) => Some(Deactivate),
            (
                Direction::Outbound,
                Pending | Failed | SslError | ConfigurationError,
                Accepted | Declined,
            ) => Some(Answer(to)),
            _ => None,
        }
    }

    #[test]
    fn every_partner_update_matches_the_table() {
        for d in Direction::VARIANTS.iter().copied() {
            for from in AgreementStatus::VARIANTS.iter().copied() {
                for to in AgreementStatus::VARIANTS.iter().copied() {
                    let got = allowed_partner_update(d, from, to);
                    match expected_partner(d, from, to) {
                        Some(change) => assert_eq!(got, Ok(change), "{d} {from}->{to}"),
                        None => assert!(got.is_err(), "{d} {from}->{to} must be refused"),
                    }
                }
            }
        }
    }

    #[test]
    fn statuses_round_trip_and_reject_unknown_words() {
        for status in AgreementStatus::VARIANTS.iter().copied() {
            assert_eq!(status.as_str().parse::<AgreementStatus>(), Ok(status));
        }
        let err = "active".parse::<AgreementStatus>().unwrap_err();
        assert!(err.contains("configuration_error"), "{err}");
    }

    #[test]
    fn subdomains_follow_zendesk_rules() {
        assert!(is_valid_subdomain("acme-2"));
        assert!(!is_valid_subdomain(""));
        assert!(!is_valid_subdomain("Acme"));
        assert!(!is_valid_subdomain("a.b"));
        assert!(!is_valid_subdomain(&"a".repeat(64)));
        assert!(is_valid_subdomain(&"a".repeat(63)));
    }

    #[test]
    fn display_names_capitalise_the_subdomain() {
        assert_eq!(default_display_name("globex"), "Globex");
        assert_eq!(default_agreement_name("Acme"), "Acme @ Zendesk");
    }
}
