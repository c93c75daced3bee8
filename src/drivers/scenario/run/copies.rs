//! After every step the runner compares both copies of every agreement: a new
//! divergence must be asserted (`expect = { divergence = … }`) before any other kind of
//! step runs; a pair that disagrees while a message about it is in flight is transient.

use super::{Problem, Runner};
use crate::core::consistency;
use crate::core::model::AgreementStatus;
use crate::drivers::scenario::format::{Action, Expectation, Step};
use crate::drivers::scenario::outcome::FieldDiff;
use std::collections::BTreeSet;

impl Runner<'_> {
    /// Compares both copies of every agreement; a new divergence must be asserted by an
    /// `expect = { divergence = … }` before any other kind of step runs.
    pub(super) fn check_consistency(&mut self, number: usize, step: &Step) -> Result<(), Problem> {
        // Only pairs with a copy changed since the last step, a message about them in
        // flight, or a transient disagreement last time can have changed verdict.
        let changed: BTreeSet<String> = self
            .world
            .accounts()
            .iter()
            .flat_map(|account| account.with_state(|state| state.take_changed()))
            .collect();
        let in_flight = self
            .world
            .services()
            .transport
            .scheduler()
            .uuids_in_flight();
        let mut names: BTreeSet<String> = changed
            .iter()
            .chain(in_flight.iter())
            .filter_map(|uuid| self.session.handles_by_uuid.get(uuid))
            .cloned()
            .collect();
        names.extend(self.session.transient.iter().cloned());
        let mut newly = BTreeSet::new();
        for name in names {
            let Some(handle) = self.session.agreements.get(&name) else {
                continue;
            };
            // An external account's copy is out of sight: its pairs cannot be judged.
            if self.world.is_external(&handle.sender) || self.world.is_external(&handle.receiver) {
                continue;
            }
            let status = |account: &str| {
                self.world.account(account).and_then(|a| {
                    a.read_state(|state| state.by_uuid(&handle.uuid).map(|copy| copy.status))
                })
            };
            let (sender, receiver) = (status(&handle.sender), status(&handle.receiver));
            let disagree = consistency::check(sender, receiver).is_err();
            if disagree && in_flight.contains(&handle.uuid) {
                // Not a divergence yet: a message about it is still on its way, and its
                // delivery decides how the pair ends (see `expect = { converged }`).
                if self.session.transient.insert(name.clone()) {
                    self.world.trace().world(
                        "scenario",
                        format!(
                            "transient: the copies of agreement {name:?} disagree ({} ↔ {}) while a message about it is in flight",
                            describe(sender),
                            describe(receiver)
                        ),
                    );
                }
                self.session.divergence_details.remove(&name);
                if self.session.diverged.remove(&name) {
                    self.session.unasserted.remove(&name);
                }
                continue;
            }
            self.session.transient.remove(&name);
            if disagree {
                self.session.divergence_details.insert(
                    name.clone(),
                    FieldDiff {
                        field: format!("{name} ({} ↔ {})", handle.sender, handle.receiver),
                        expected: "a consistent pair".into(),
                        actual: format!("{} ↔ {}", describe(sender), describe(receiver)),
                    },
                );
                if self.session.diverged.insert(name.clone()) {
                    newly.insert(name.clone());
                }
            } else {
                self.session.divergence_details.remove(&name);
                if self.session.diverged.remove(&name) {
                    self.session.unasserted.remove(&name);
                }
            }
        }
        for name in newly {
            self.world.trace().world(
                "scenario",
                format!(
                    "divergence: the two copies of agreement {name:?} disagree after step {number}"
                ),
            );
            self.session.unasserted.insert(name, number);
        }
        let details: Vec<FieldDiff> = self.session.divergence_details.values().cloned().collect();
        if let Action::Expect(Expectation::Divergence(handle)) = &step.action {
            self.session.unasserted.remove(handle.get_ref());
        }
        let is_check = matches!(step.action, Action::Expect(_) | Action::Wait(_));
        if !is_check {
            // A divergence caused by an earlier step must have been asserted by now.
            if let Some((name, cause)) = self
                .session
                .unasserted
                .iter()
                .find(|(_, cause)| **cause < number)
            {
                return Err(Problem {
                    message: format!(
                        "unexpected divergence: agreement {name:?} diverged after step {cause} and was not asserted with `expect = {{ divergence = {name:?} }}`"
                    ),
                    diffs: details,
                });
            }
        }
        Ok(())
    }
}

/// A copy's status, or `absent`.
pub(super) fn describe(status: Option<AgreementStatus>) -> String {
    status.map_or("absent".to_string(), |s| s.to_string())
}
