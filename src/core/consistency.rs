//! Whether the two copies of each agreement agree. The sender's outbound copy and the
//! receiver's inbound copy may only be in certain pairs; any other pair is a
//! [`Divergence`], the bug class that faults (above all `crash = "after_store"`) expose.
//!
//! The allowed pairs are our model (docs/design.md, *Which pairs of copies may coexist*):
//! Zendesk documents no such rule.

use crate::core::account::Account;
use crate::core::model::{AgreementStatus, Direction, LocalChange};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Two copies of one agreement in a pair that should never be seen together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The sender's (outbound) copy; None when it holds none.
    pub sender_copy: Option<AgreementStatus>,
    /// The receiver's (inbound) copy; None when it holds none.
    pub receiver_copy: Option<AgreementStatus>,
}

fn describe(copy: Option<AgreementStatus>) -> String {
    match copy {
        Some(status) => status.to_string(),
        None => "no copy".to_string(),
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the sender holds {} while the receiver holds {}",
            describe(self.sender_copy),
            describe(self.receiver_copy)
        )
    }
}

/// Checks one agreement's pair of copies. Allowed: the same live or final status on both
/// sides (pending, accepted, declined, inactive); a final status (inactive or declined)
/// on one side and no copy on the other, since an agreement that is over may be
/// deleted by either side without telling the other (one rule for both final
/// statuses); a delivery failure (failed, ssl_error, configuration_error) on the
/// sender with no copy on the receiver; and no copy anywhere.
pub(crate) fn check(
    sender_copy: Option<AgreementStatus>,
    receiver_copy: Option<AgreementStatus>,
) -> Result<(), Divergence> {
    use AgreementStatus::*;
    let allowed = match (sender_copy, receiver_copy) {
        (Some(s), Some(r)) => s == r && matches!(s, Pending | Accepted | Declined | Inactive),
        // One rule for both final statuses: once a side holds a final status (the
        // agreement is over), the other side may have deleted its copy.
        (Some(s), None) if s.is_final() => true,
        (None, Some(r)) if r.is_final() => true,
        (Some(s), None) => s.is_delivery_failure(),
        (None, Some(_)) => false,
        (None, None) => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(Divergence {
            sender_copy,
            receiver_copy,
        })
    }
}

/// Whether a pair that is not allowed is one the protocol passes through while a message
/// is in flight: one side made a change it is telling the other about (an invitation
/// or a re-sent one, an answer, a deactivation), and the partner has not heard it yet.
/// Derived from the lifecycle rules in `model`, so it can never disagree with them.
pub(crate) fn transient(
    sender_copy: Option<AgreementStatus>,
    receiver_copy: Option<AgreementStatus>,
) -> bool {
    check(sender_copy, receiver_copy).is_err() && one_message_away(sender_copy, receiver_copy)
}

/// Some allowed pair becomes `(sender, receiver)` by one side's change that sends a message.
fn one_message_away(sender: Option<AgreementStatus>, receiver: Option<AgreementStatus>) -> bool {
    use AgreementStatus::Pending;
    use strum::VariantArray;
    let mut copies: Vec<Option<AgreementStatus>> = vec![None];
    copies.extend(AgreementStatus::VARIANTS.iter().copied().map(Some));
    // The status a copy takes when its own admin makes a change the partner must hear.
    let told =
        |direction: Direction, from: Option<AgreementStatus>| -> Vec<Option<AgreementStatus>> {
            let Some(from) = from else {
                // Only the sender creates a copy (the invitation); the receiver's comes by message.
                return match direction {
                    Direction::Outbound => vec![Some(Pending)],
                    Direction::Inbound => Vec::new(),
                };
            };
            AgreementStatus::VARIANTS
                .iter()
                .filter_map(|&to| {
                    match crate::core::model::allowed_transition(direction, from, to) {
                        Ok(LocalChange::Answer(status)) => Some(Some(status)),
                        Ok(LocalChange::Deactivate) => Some(Some(AgreementStatus::Inactive)),
                        Ok(LocalChange::Resend) => Some(Some(Pending)),
                        Ok(LocalChange::Unchanged) | Err(_) => None,
                    }
                })
                .collect()
        };
    copies.iter().any(|&before_sender| {
        copies.iter().any(|&before_receiver| {
            check(before_sender, before_receiver).is_ok()
                && ((before_receiver == receiver
                    && told(Direction::Outbound, before_sender).contains(&sender))
                    || (before_sender == sender
                        && told(Direction::Inbound, before_receiver).contains(&receiver)))
        })
    })
}

/// How one moment of an agreement's life looks on the status grid: the sender's copy
/// against the receiver's, at a step of a scenario (or an event of a live world).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairPoint {
    /// The step number (or journal event) at which the pair took these values.
    pub at: u64,
    /// The sender's (outbound) copy; None when it holds none.
    pub sender_copy: Option<AgreementStatus>,
    /// The receiver's (inbound) copy; None when it holds none.
    pub receiver_copy: Option<AgreementStatus>,
}

/// The path one agreement's pair of copies took, for the status grid: each change, in
/// order (a repeated pair is not a new point).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairPath {
    /// What readers call the agreement: its scenario handle, or its short uuid.
    pub label: String,
    /// The sending account.
    pub sender: String,
    /// The receiving account.
    pub receiver: String,
    /// Where the pair has been, oldest first.
    pub points: Vec<PairPoint>,
}

impl PairPath {
    /// Adds the pair seen at `at`, unless it is the pair the path already ends on.
    pub fn observe(
        &mut self,
        at: u64,
        sender_copy: Option<AgreementStatus>,
        receiver_copy: Option<AgreementStatus>,
    ) {
        let same = self
            .points
            .last()
            .is_some_and(|p| p.sender_copy == sender_copy && p.receiver_copy == receiver_copy);
        if !same {
            self.points.push(PairPoint {
                at,
                sender_copy,
                receiver_copy,
            });
        }
    }
}

/// A divergence found in a world, naming the agreement and both accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementDivergence {
    /// The agreement's protocol uuid, shared by both copies.
    pub uuid: String,
    /// The sending account.
    pub sender: String,
    /// The receiving account.
    pub receiver: String,
    /// The pair of copies.
    pub divergence: Divergence,
}

impl fmt::Display for AgreementDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "agreement {} from {} to {} diverges: {} holds {}, {} holds {}",
            crate::core::model::short_uuid(&self.uuid),
            self.sender,
            self.receiver,
            self.sender,
            describe(self.divergence.sender_copy),
            self.receiver,
            describe(self.divergence.receiver_copy)
        )
    }
}

/// Every divergence among `accounts`, by agreement uuid. Copies are paired by uuid; a
/// partner that is not among `accounts` (an unknown subdomain) holds no copy.
pub(crate) fn divergences(accounts: &[Arc<Account>]) -> Vec<AgreementDivergence> {
    #[derive(Default)]
    struct Pair {
        sender: Option<String>,
        receiver: Option<String>,
        sender_copy: Option<AgreementStatus>,
        receiver_copy: Option<AgreementStatus>,
    }
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for account in accounts {
        for copy in account.agreements() {
            let pair = pairs.entry(copy.uuid.to_string()).or_default();
            let me = Some(account.subdomain().to_string());
            match copy.direction {
                Direction::Outbound => {
                    pair.sender = me;
                    pair.sender_copy = Some(copy.status);
                    pair.receiver = pair
                        .receiver
                        .take()
                        .or(copy.remote_subdomain.map(String::from));
                }
                Direction::Inbound => {
                    pair.receiver = me;
                    pair.receiver_copy = Some(copy.status);
                    pair.sender = pair
                        .sender
                        .take()
                        .or(copy.remote_subdomain.map(String::from));
                }
            }
        }
    }
    pairs
        .into_iter()
        .filter_map(|(uuid, pair)| {
            let divergence = check(pair.sender_copy, pair.receiver_copy).err()?;
            Some(AgreementDivergence {
                uuid,
                sender: pair
                    .sender
                    .unwrap_or_else(|| "an unknown sender".to_string()),
                receiver: pair
                    .receiver
                    .unwrap_or_else(|| "an unknown receiver".to_string()),
                divergence,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgreementStatus::*;
    use strum::VariantArray;

    #[test]
    fn only_the_documented_pairs_are_allowed() {
        let allowed: Vec<(Option<AgreementStatus>, Option<AgreementStatus>)> = vec![
            (Some(Pending), Some(Pending)),
            (Some(Accepted), Some(Accepted)),
            (Some(Declined), Some(Declined)),
            (Some(Inactive), Some(Inactive)),
            (Some(Inactive), None),
            (None, Some(Inactive)),
            (Some(Declined), None),
            (None, Some(Declined)),
            (Some(Failed), None),
            (Some(SslError), None),
            (Some(ConfigurationError), None),
            (None, None),
        ];
        let mut copies: Vec<Option<AgreementStatus>> = vec![None];
        copies.extend(AgreementStatus::VARIANTS.iter().copied().map(Some));
        for &sender in &copies {
            for &receiver in &copies {
                let expected = allowed.contains(&(sender, receiver));
                assert_eq!(
                    check(sender, receiver).is_ok(),
                    expected,
                    "sender {sender:?}, receiver {receiver:?}"
                );
            }
        }
    }

    #[test]
    fn transient_pairs_are_those_one_message_away_from_an_allowed_pair() {
        let mut copies: Vec<Option<AgreementStatus>> = vec![None];
        copies.extend(AgreementStatus::VARIANTS.iter().copied().map(Some));
        let mut found = Vec::new();
        for &sender in &copies {
            for &receiver in &copies {
                if transient(sender, receiver) {
                    found.push((sender, receiver));
                }
            }
        }
        assert_eq!(
            found,
            vec![
                // An invitation, or a re-sent one, on its way.
                (Some(Pending), None),
                // The receiver's answer, or its deactivation, on its way to the sender.
                (Some(Pending), Some(Accepted)),
                (Some(Pending), Some(Declined)),
                (Some(Pending), Some(Inactive)),
                (Some(Accepted), Some(Inactive)),
                // The sender's deactivation on its way to the receiver.
                (Some(Inactive), Some(Pending)),
                (Some(Inactive), Some(Accepted)),
            ]
        );
        assert!(
            !transient(Some(Pending), Some(Pending)),
            "allowed, not transient"
        );
        assert!(!transient(Some(Failed), Some(Pending)), "a real divergence");
    }

    #[test]
    fn a_path_records_each_change_once() {
        let mut path = PairPath::default();
        path.observe(1, Some(Pending), None);
        path.observe(2, Some(Pending), Some(Pending));
        path.observe(3, Some(Pending), Some(Pending));
        path.observe(4, Some(Accepted), Some(Accepted));
        assert_eq!(
            path.points.iter().map(|p| p.at).collect::<Vec<_>>(),
            vec![1, 2, 4]
        );
    }

    #[test]
    fn the_classic_handshake_bug_is_a_divergence() {
        let divergence = check(Some(Failed), Some(Pending)).unwrap_err();
        assert_eq!(
            divergence.to_string(),
            "the sender holds failed while the receiver holds pending"
        );
        assert_eq!(
            check(None, Some(Pending)).unwrap_err().to_string(),
            "the sender holds no copy while the receiver holds pending"
        );
    }
}
