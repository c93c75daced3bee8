//! Whether the two copies of each agreement agree. The sender's outbound copy and the
//! receiver's inbound copy may only be in certain pairs; any other pair is a
//! [`Divergence`], the bug class that faults (above all `crash = "after_store"`) expose.
//!
//! The allowed pairs are our model (DESIGN.md §2): Zendesk documents no such rule.

use crate::account::Account;
use crate::model::{AgreementStatus, Direction};
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
/// sides (pending, accepted, declined, inactive); inactive on one side and deleted on
/// the other; a delivery failure (failed, ssl_error, configuration_error) on the
/// sender with no copy on the receiver; and no copy anywhere.
pub fn check(
    sender_copy: Option<AgreementStatus>,
    receiver_copy: Option<AgreementStatus>,
) -> Result<(), Divergence> {
    use AgreementStatus::*;
    let allowed = match (sender_copy, receiver_copy) {
        (Some(s), Some(r)) => s == r && matches!(s, Pending | Accepted | Declined | Inactive),
        (Some(Inactive), None) | (None, Some(Inactive)) => true,
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
            crate::model::short_uuid(&self.uuid),
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
pub fn divergences(accounts: &[Arc<Account>]) -> Vec<AgreementDivergence> {
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
            let pair = pairs.entry(copy.uuid.clone()).or_default();
            let me = Some(account.subdomain().to_string());
            match copy.direction {
                Direction::Outbound => {
                    pair.sender = me;
                    pair.sender_copy = Some(copy.status);
                    pair.receiver = pair.receiver.take().or(copy.remote_subdomain);
                }
                Direction::Inbound => {
                    pair.receiver = me;
                    pair.receiver_copy = Some(copy.status);
                    pair.sender = pair.sender.take().or(copy.remote_subdomain);
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
