//! The rules every schedule must keep, each with a name and a one-line meaning (shown
//! by `sharesim explore --help` and the README). They are pure functions of what the
//! runner observed after a step ([`Observation`]) and of what earlier steps showed
//! ([`History`]), so each can be tested on hand-made observations.

use crate::core::consistency;
use crate::core::model::AgreementStatus;
use std::collections::{BTreeMap, BTreeSet};

/// A rule the explorer checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
pub enum Invariant {
    /// See [`Invariant::meaning`].
    CopiesAgree,
    /// See [`Invariant::meaning`].
    FinalStatusKept,
    /// See [`Invariant::meaning`].
    OneCopyPerInvitation,
    /// See [`Invariant::meaning`].
    ConvergesAfterRepair,
    /// See [`Invariant::meaning`].
    CommentsConverge,
    /// See [`Invariant::meaning`].
    NoServerError,
    /// See [`Invariant::meaning`].
    ListingEqualsState,
}

impl Invariant {
    /// Every invariant, in the order they are checked and documented.
    pub const ALL: [Invariant; 7] = [
        Invariant::CopiesAgree,
        Invariant::FinalStatusKept,
        Invariant::OneCopyPerInvitation,
        Invariant::ConvergesAfterRepair,
        Invariant::CommentsConverge,
        Invariant::NoServerError,
        Invariant::ListingEqualsState,
    ];

    /// The name used on the command line, in file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::CopiesAgree => "copies_agree",
            Invariant::FinalStatusKept => "final_status_kept",
            Invariant::OneCopyPerInvitation => "one_copy_per_invitation",
            Invariant::ConvergesAfterRepair => "converges_after_repair",
            Invariant::CommentsConverge => "comments_converge",
            Invariant::NoServerError => "no_server_error",
            Invariant::ListingEqualsState => "listing_equals_state",
        }
    }

    /// What the invariant means, in one line.
    pub fn meaning(self) -> &'static str {
        match self {
            Invariant::CopiesAgree => {
                "after every step the two copies of an agreement are an allowed pair, or a transient one whose side recorded the failed delivery (failed, ssl_error, configuration_error)"
            }
            Invariant::FinalStatusKept => {
                "a copy that reached a final status (inactive, declined) never changes status again; it may only be deleted"
            }
            Invariant::OneCopyPerInvitation => {
                "a re-sent or repeated invitation never makes a second copy: an account holds at most one copy per agreement"
            }
            Invariant::ConvergesAfterRepair => {
                "once every fault is healed and one repair round has run (resend, retries), both copies of every agreement agree"
            }
            Invariant::CommentsConverge => {
                "after the repair round a shared ticket's copies hold the same comments, none stored twice and none echoed back as a new comment"
            }
            Invariant::NoServerError => "no REST call answers 5xx",
            Invariant::ListingEqualsState => {
                "after every step each account's REST listings equal its state"
            }
        }
    }

    /// The `--help` text listing every invariant with its meaning.
    pub fn help() -> String {
        let mut text = String::from("Invariants:\n");
        for invariant in Invariant::ALL {
            text.push_str(&format!(
                "  {:<24} {}\n",
                invariant.name(),
                invariant.meaning()
            ));
        }
        text
    }
}

/// One agreement handle after a step: who holds which copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairSeen {
    /// The scenario's handle (`a1`).
    pub handle: String,
    /// The sending account.
    pub sender: String,
    /// The receiving account.
    pub receiver: String,
    /// The sender's copy, if it holds one.
    pub sender_copy: Option<AgreementStatus>,
    /// The receiver's copy, if it holds one.
    pub receiver_copy: Option<AgreementStatus>,
}

/// One copy of an agreement in one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySeen {
    /// The account holding it.
    pub account: String,
    /// Its protocol uuid.
    pub uuid: String,
    /// Its status.
    pub status: AgreementStatus,
}

/// One ticket handle: the origin's comments and, while it is shared and live, the
/// receiver's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketSeen {
    /// The scenario's handle (`t1`).
    pub handle: String,
    /// The account that created it.
    pub origin: String,
    /// Comments of the origin's copy: (uuid, body).
    pub origin_comments: Vec<(String, String)>,
    /// The receiving account and its copy's comments, when the ticket is shared over an
    /// agreement both sides hold as accepted and the copy is not an orphan.
    pub live_copy: Option<(String, Vec<(String, String)>)>,
}

/// What the runner showed after one step.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// 1-based step number.
    pub number: usize,
    /// Whether this is the schedule's last step (the end of the repair round).
    pub last: bool,
    /// Every agreement handle.
    pub pairs: Vec<PairSeen>,
    /// Every agreement copy in every account.
    pub copies: Vec<CopySeen>,
    /// Every ticket handle.
    pub tickets: Vec<TicketSeen>,
    /// The HTTP status of each REST call of the step.
    pub answers: Vec<u16>,
    /// Why a REST listing differed from the state, when surfaces are checked.
    pub surface_mismatch: Option<String>,
}

/// A check a reproduction file ends with, so that `sharesim run` fails the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closing {
    /// `expect = { account, agreement, status }`, or `absent = true` when None.
    Agreement {
        /// The account checked.
        account: String,
        /// The handle.
        handle: String,
        /// The status its copy should have had (None: no copy).
        status: Option<AgreementStatus>,
    },
    /// `expect = { account, count }`.
    Count {
        /// The account checked.
        account: String,
        /// How many copies it should hold.
        count: usize,
    },
    /// `expect_ticket = { account, ticket, comments }`.
    Comments {
        /// The account checked.
        account: String,
        /// The ticket handle.
        handle: String,
        /// The comment bodies it should hold.
        bodies: Vec<String>,
    },
    /// The failing step is its own check (it is rendered without `expect_status`).
    StepItself,
    /// Checked only by `--check-surfaces`; named in the file's description.
    Surfaces,
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which one.
    pub invariant: Invariant,
    /// The 1-based step after which it was seen.
    pub step: usize,
    /// What was seen, as a sentence.
    pub message: String,
    /// The check that fails the same way in a reproduction file.
    pub closing: Closing,
}

impl Violation {
    /// The agreement handle the violation is about, when it is about one.
    pub fn handle(&self) -> Option<&str> {
        match &self.closing {
            Closing::Agreement { handle, .. } => Some(handle),
            _ => None,
        }
    }
}

/// What earlier steps showed that later checks need.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Copies that reached a final status: (account, uuid) → status.
    finals: BTreeMap<(String, String), AgreementStatus>,
}

fn describe(copy: Option<AgreementStatus>) -> String {
    copy.map_or_else(|| "no copy".to_string(), |status| status.to_string())
}

/// Whether a pair is allowed after a step: consistent, or a side knows its message
/// was not delivered (the repair round's resend is what fixes that).
pub fn allowed_in_passing(
    sender: Option<AgreementStatus>,
    receiver: Option<AgreementStatus>,
) -> bool {
    consistency::check(sender, receiver).is_ok()
        || sender.is_some_and(|s| s.is_delivery_failure())
        || receiver.is_some_and(|r| r.is_delivery_failure())
}

/// The closing check for a pair that disagrees: the receiver should hold what the
/// sender holds (or the sender what the receiver holds, when the sender has none).
fn pair_closing(pair: &PairSeen) -> Closing {
    match pair.sender_copy {
        Some(status) => Closing::Agreement {
            account: pair.receiver.clone(),
            handle: pair.handle.clone(),
            status: Some(status),
        },
        None => Closing::Agreement {
            account: pair.sender.clone(),
            handle: pair.handle.clone(),
            status: pair.receiver_copy,
        },
    }
}

impl History {
    /// Checks `invariant` against one observation, then remembers what later checks need
    /// (call [`History::remember`] once per observation, after every check).
    pub fn check(&self, invariant: Invariant, seen: &Observation) -> Option<Violation> {
        let violation = |message: String, closing: Closing| Violation {
            invariant,
            step: seen.number,
            message,
            closing,
        };
        match invariant {
            Invariant::CopiesAgree => seen.pairs.iter().find_map(|pair| {
                (!allowed_in_passing(pair.sender_copy, pair.receiver_copy)).then(|| {
                    violation(
                        format!(
                            "after step {}, agreement {:?}: {} holds {} while {} holds {}",
                            seen.number,
                            pair.handle,
                            pair.sender,
                            describe(pair.sender_copy),
                            pair.receiver,
                            describe(pair.receiver_copy)
                        ),
                        pair_closing(pair),
                    )
                })
            }),
            Invariant::ConvergesAfterRepair if seen.last => seen.pairs.iter().find_map(|pair| {
                consistency::check(pair.sender_copy, pair.receiver_copy)
                    .is_err()
                    .then(|| {
                        violation(
                            format!(
                                "after the repair round, agreement {:?} still disagrees: {} holds {} while {} holds {}",
                                pair.handle,
                                pair.sender,
                                describe(pair.sender_copy),
                                pair.receiver,
                                describe(pair.receiver_copy)
                            ),
                            pair_closing(pair),
                        )
                    })
            }),
            Invariant::ConvergesAfterRepair => None,
            Invariant::FinalStatusKept => seen.copies.iter().find_map(|copy| {
                let before = self.finals.get(&(copy.account.clone(), copy.uuid.clone()))?;
                (*before != copy.status).then(|| {
                    let handle = seen
                        .pairs
                        .iter()
                        .find(|pair| {
                            pair.sender == copy.account || pair.receiver == copy.account
                        })
                        .map(|pair| pair.handle.clone());
                    violation(
                        format!(
                            "after step {}, {}'s copy of agreement {} went from the final status {before} to {}",
                            seen.number,
                            copy.account,
                            handle.as_deref().unwrap_or("(no handle)"),
                            copy.status
                        ),
                        match handle {
                            Some(handle) => Closing::Agreement {
                                account: copy.account.clone(),
                                handle,
                                status: Some(*before),
                            },
                            None => Closing::StepItself,
                        },
                    )
                })
            }),
            Invariant::OneCopyPerInvitation => {
                let mut per_account: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
                for copy in &seen.copies {
                    let entry = per_account.entry(&copy.account).or_default();
                    entry.0.insert(&copy.uuid);
                    entry.1 += 1;
                }
                per_account.into_iter().find_map(|(account, (uuids, copies))| {
                    (copies > uuids.len()).then(|| {
                        violation(
                            format!(
                                "after step {}, {account} holds {copies} agreement copies for {} agreements: an invitation was stored twice",
                                seen.number,
                                uuids.len()
                            ),
                            Closing::Count {
                                account: account.to_string(),
                                count: uuids.len(),
                            },
                        )
                    })
                })
            }
            Invariant::CommentsConverge => seen.tickets.iter().find_map(|ticket| {
                comments_problem(ticket, seen.last).map(|(message, closing)| {
                    violation(format!("after step {}, {message}", seen.number), closing)
                })
            }),
            Invariant::NoServerError => seen.answers.iter().find(|s| **s >= 500).map(|status| {
                violation(
                    format!("step {} got a {status} answer from a REST call", seen.number),
                    Closing::StepItself,
                )
            }),
            Invariant::ListingEqualsState => seen.surface_mismatch.as_ref().map(|why| {
                violation(
                    format!("after step {}: {why}", seen.number),
                    Closing::Surfaces,
                )
            }),
        }
    }

    /// Remembers the final statuses seen.
    pub fn remember(&mut self, seen: &Observation) {
        for copy in &seen.copies {
            if matches!(
                copy.status,
                AgreementStatus::Inactive | AgreementStatus::Declined
            ) {
                self.finals
                    .entry((copy.account.clone(), copy.uuid.clone()))
                    .or_insert(copy.status);
            }
        }
        // A deleted copy's final status no longer applies to anything.
        let live: BTreeSet<(String, String)> = seen
            .copies
            .iter()
            .map(|c| (c.account.clone(), c.uuid.clone()))
            .collect();
        self.finals.retain(|key, _| live.contains(key));
    }
}

/// Duplicates and echoes at any step; after the repair round, also missing comments.
fn comments_problem(ticket: &TicketSeen, last: bool) -> Option<(String, Closing)> {
    let bodies = |comments: &[(String, String)]| -> Vec<String> {
        comments.iter().map(|(_, body)| body.clone()).collect()
    };
    let unique = |comments: &[(String, String)]| -> Vec<String> {
        let mut seen = BTreeSet::new();
        comments
            .iter()
            .filter(|(_, body)| seen.insert(body.clone()))
            .map(|(_, body)| body.clone())
            .collect()
    };
    let mut copies = vec![(ticket.origin.clone(), &ticket.origin_comments)];
    if let Some((account, comments)) = &ticket.live_copy {
        copies.push((account.clone(), comments));
    }
    for (account, comments) in &copies {
        let distinct: BTreeSet<&str> = comments.iter().map(|(_, b)| b.as_str()).collect();
        if distinct.len() < comments.len() {
            return Some((
                format!(
                    "{account}'s copy of ticket {:?} holds a comment twice: {}",
                    ticket.handle,
                    bodies(comments).join(", ")
                ),
                Closing::Comments {
                    account: account.clone(),
                    handle: ticket.handle.clone(),
                    bodies: unique(comments),
                },
            ));
        }
    }
    if let (true, Some((account, comments))) = (last, &ticket.live_copy) {
        let origin: BTreeSet<&str> = ticket
            .origin_comments
            .iter()
            .map(|(_, b)| b.as_str())
            .collect();
        let copy: BTreeSet<&str> = comments.iter().map(|(_, b)| b.as_str()).collect();
        if origin != copy {
            return Some((
                format!(
                    "ticket {:?}'s comments did not converge: {} holds [{}] while {account} holds [{}]",
                    ticket.handle,
                    ticket.origin,
                    bodies(&ticket.origin_comments).join(", "),
                    bodies(comments).join(", ")
                ),
                Closing::Comments {
                    account: account.clone(),
                    handle: ticket.handle.clone(),
                    bodies: bodies(&ticket.origin_comments),
                },
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgreementStatus::*;

    fn pair(sender: Option<AgreementStatus>, receiver: Option<AgreementStatus>) -> PairSeen {
        PairSeen {
            handle: "a1".into(),
            sender: "acme".into(),
            receiver: "globex".into(),
            sender_copy: sender,
            receiver_copy: receiver,
        }
    }

    fn copy(account: &str, uuid: &str, status: AgreementStatus) -> CopySeen {
        CopySeen {
            account: account.into(),
            uuid: uuid.into(),
            status,
        }
    }

    fn seen(number: usize) -> Observation {
        Observation {
            number,
            ..Observation::default()
        }
    }

    #[test]
    fn copies_agree_allows_a_known_failure_and_catches_a_silent_disagreement() {
        let history = History::default();
        let mut ok = seen(1);
        ok.pairs = vec![pair(Some(Failed), Some(Pending))];
        assert_eq!(history.check(Invariant::CopiesAgree, &ok), None);
        let mut bad = seen(2);
        bad.pairs = vec![pair(Some(Accepted), Some(Pending))];
        let violation = history.check(Invariant::CopiesAgree, &bad).unwrap();
        assert_eq!(
            violation.message,
            "after step 2, agreement \"a1\": acme holds accepted while globex holds pending"
        );
        assert_eq!(
            violation.closing,
            Closing::Agreement {
                account: "globex".into(),
                handle: "a1".into(),
                status: Some(Accepted)
            }
        );
    }

    #[test]
    fn convergence_is_only_required_after_the_repair_round() {
        let history = History::default();
        let mut during = seen(3);
        during.pairs = vec![pair(Some(Failed), Some(Pending))];
        assert_eq!(
            history.check(Invariant::ConvergesAfterRepair, &during),
            None
        );
        during.last = true;
        let violation = history
            .check(Invariant::ConvergesAfterRepair, &during)
            .unwrap();
        assert!(
            violation.message.contains("still disagrees"),
            "{}",
            violation.message
        );
    }

    #[test]
    fn a_final_status_may_be_deleted_but_never_changed() {
        let mut history = History::default();
        let mut first = seen(1);
        first.copies = vec![copy("acme", "u1", Inactive)];
        first.pairs = vec![pair(Some(Inactive), None)];
        history.remember(&first);
        let mut changed = seen(2);
        changed.copies = vec![copy("acme", "u1", Pending)];
        changed.pairs = first.pairs.clone();
        let violation = history.check(Invariant::FinalStatusKept, &changed).unwrap();
        assert_eq!(violation.invariant, Invariant::FinalStatusKept);
        assert!(
            violation
                .message
                .contains("from the final status inactive to pending")
        );
        let mut kept = seen(2);
        kept.copies = vec![copy("acme", "u1", Inactive)];
        assert_eq!(history.check(Invariant::FinalStatusKept, &kept), None);
        history.remember(&seen(3));
        assert_eq!(history.check(Invariant::FinalStatusKept, &changed), None);
    }

    #[test]
    fn a_second_copy_of_one_invitation_is_caught() {
        let history = History::default();
        let mut twice = seen(4);
        twice.copies = vec![copy("globex", "u1", Pending), copy("globex", "u1", Pending)];
        let violation = history
            .check(Invariant::OneCopyPerInvitation, &twice)
            .unwrap();
        assert_eq!(
            violation.closing,
            Closing::Count {
                account: "globex".into(),
                count: 1
            }
        );
        let mut once = seen(4);
        once.copies = vec![copy("globex", "u1", Pending), copy("acme", "u1", Pending)];
        assert_eq!(history.check(Invariant::OneCopyPerInvitation, &once), None);
    }

    #[test]
    fn comments_must_not_repeat_and_must_converge_at_the_end() {
        let history = History::default();
        let comment = |uuid: &str, body: &str| (uuid.to_string(), body.to_string());
        let mut echoed = seen(5);
        echoed.tickets = vec![TicketSeen {
            handle: "t1".into(),
            origin: "acme".into(),
            origin_comments: vec![comment("c1", "comment 1"), comment("c9", "comment 1")],
            live_copy: None,
        }];
        let violation = history.check(Invariant::CommentsConverge, &echoed).unwrap();
        assert!(violation.message.contains("holds a comment twice"));
        let mut apart = seen(6);
        apart.tickets = vec![TicketSeen {
            handle: "t1".into(),
            origin: "acme".into(),
            origin_comments: vec![comment("c1", "comment 1")],
            live_copy: Some(("globex".into(), Vec::new())),
        }];
        assert_eq!(history.check(Invariant::CommentsConverge, &apart), None);
        apart.last = true;
        let violation = history.check(Invariant::CommentsConverge, &apart).unwrap();
        assert!(violation.message.contains("did not converge"));
    }

    #[test]
    fn a_server_error_and_a_stale_listing_are_caught() {
        let history = History::default();
        let mut answered = seen(1);
        answered.answers = vec![201, 422];
        assert_eq!(history.check(Invariant::NoServerError, &answered), None);
        answered.answers.push(500);
        assert_eq!(
            history
                .check(Invariant::NoServerError, &answered)
                .unwrap()
                .message,
            "step 1 got a 500 answer from a REST call"
        );
        let mut stale = seen(2);
        assert_eq!(history.check(Invariant::ListingEqualsState, &stale), None);
        stale.surface_mismatch = Some("acme's listing says pending".into());
        assert!(
            history
                .check(Invariant::ListingEqualsState, &stale)
                .is_some()
        );
    }

    #[test]
    fn every_invariant_has_a_distinct_name_and_a_meaning() {
        let names: BTreeSet<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
        assert_eq!(names.len(), Invariant::ALL.len());
        for invariant in Invariant::ALL {
            assert!(Invariant::help().contains(invariant.meaning()));
            use clap::ValueEnum;
            assert_eq!(
                invariant.to_possible_value().unwrap().get_name(),
                invariant.name()
            );
        }
    }
}
