//! The runner's steps that change the world rather than call an account's REST API:
//! a certificate, a fault and its healing, and an account's listener (stop, start,
//! restart).

use super::{Problem, Runner, fault_rule};
use crate::drivers::scenario::format::{Action, Step};

impl Runner<'_> {
    /// Runs a world step (see the module's list).
    pub(super) async fn world_step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Certificate(change) => self
                .world
                .set_certificate(change.account.get_ref(), change.mode)
                .await
                .map_err(|e| Problem::new(e.to_string())),
            Action::Fault(fault) => self
                .world
                .set_fault(fault_rule(fault.account.get_ref(), &fault.rule))
                .await
                .map_err(|e| Problem::new(e.to_string())),
            Action::Heal(heal) => self
                .world
                .heal(
                    heal.account.get_ref(),
                    heal.from.as_ref().map(|from| from.get_ref().as_str()),
                )
                .await
                .map(|_| ())
                .map_err(|e| Problem::new(e.to_string())),
            Action::Stop(target) => self
                .world
                .stop_account(target.account.get_ref())
                .await
                .map_err(|e| Problem::new(e.to_string())),
            Action::Start(target) => self
                .world
                .start_account(target.account.get_ref())
                .await
                .map_err(|e| Problem::new(e.to_string())),
            Action::Restart(target) => self
                .world
                .restart_account(target.account.get_ref())
                .await
                .map_err(|e| Problem::new(e.to_string())),
            other => Err(Problem::misrouted(other, "world")),
        }
    }
}
