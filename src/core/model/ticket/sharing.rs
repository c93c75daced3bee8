//! Which agreement may carry a share, what a write of `sharing_agreement_ids`
//! means on the sending side, and what an agreement's terms let through to the partner.

use super::audit::Delta;
use super::{AuditEvent, Share, SharingAction, Ticket};
use crate::core::model::{Agreement, AgreementStatus, Direction, Terms};
use std::collections::BTreeMap;
use std::fmt;

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
        .unwrap_or_else(|| "the partner".into());
    if agreement.direction == Direction::Inbound {
        return Err(ShareRefusal::Inbound {
            agreement_id: agreement.id,
            account: account.to_string(),
            partner: partner.to_string(),
        });
    }
    if agreement.status != AgreementStatus::Accepted {
        return Err(ShareRefusal::NotAccepted {
            agreement_id: agreement.id,
            status: agreement.status,
            partner: partner.to_string(),
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
                .unwrap_or_else(|| "the sender".into());
            return Err(ShareRefusal::KeepReceived {
                agreement_id: id,
                partner: partner.to_string(),
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

#[cfg(test)]
mod tests {
    use super::super::Received;
    use super::super::tests_support::{agreement, ticket};
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
