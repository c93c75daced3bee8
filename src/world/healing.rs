//! Faults and healing: the `fault` and `heal` steps, and the listeners a `down` closed.

use super::{World, WorldError};
use crate::core::faults::{Fault, FaultRule};
use crate::core::trace::lock;

impl World {
    /// Applies a fault rule (a `fault` step). It replaces the rule with the same target
    /// and sender. `down` on a whole account, with no `times`, really closes the
    /// account's listener until healed; every other fault acts message by message:
    /// `down` on a link or for `times` messages in the sender's transport (a real
    /// refused connection), the rest in the receiving account.
    pub async fn set_fault(&self, rule: FaultRule) -> Result<(), WorldError> {
        self.check_fault(&rule)?;
        self.record_fault(&rule);
        if rule.from.is_none() {
            // An account-wide rule replaces a `down` that closed the listener.
            self.reopen(&rule.target).await?;
        }
        if closes_listener(&rule) {
            self.services.faults.heal(&rule.target, None);
            lock(&self.down).insert(rule.target.clone());
            self.stop_account(&rule.target).await?;
        } else {
            self.services.faults.set(rule);
        }
        Ok(())
    }

    /// Removes faults (a `heal` step): with `from`, the rule on that link; without, every
    /// rule on `target`, and a listener closed by `down` is opened again on its port.
    /// A `duplicate` or `lose_reply` still armed on those links is disarmed too: the
    /// network is healthy again. Returns the rules removed.
    pub async fn heal(
        &self,
        target: &str,
        from: Option<&str>,
    ) -> Result<Vec<FaultRule>, WorldError> {
        self.ensure_account(target)?;
        let mut healed = self.services.faults.heal(target, from);
        if from.is_none() && self.reopen(target).await? {
            healed.push(FaultRule::to(target, Fault::Down));
        }
        let scope = match from {
            Some(from) => format!("messages from {from} to {target}"),
            None => format!("everything sent to {target}"),
        };
        let removed = if healed.is_empty() {
            "no fault was set".to_string()
        } else {
            healed
                .iter()
                .map(|rule| rule.fault.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.services
            .trace
            .world(target, format!("healed {scope} ({removed})"));
        let disarmed = self.services.transport.scheduler().disarm(target, from);
        if !disarmed.is_empty() {
            self.services.trace.world(
                target,
                format!(
                    "the heal also disarmed what waited for the next message: {}",
                    disarmed.join(", ")
                ),
            );
        }
        if !healed.is_empty() {
            self.retry_waiting_pushes().await;
        }
        Ok(healed)
    }

    /// Every fault in force: listeners closed by `down`, then the rules in the order set.
    pub fn faults(&self) -> Vec<FaultRule> {
        let mut rules: Vec<FaultRule> = lock(&self.down)
            .iter()
            .map(|target| FaultRule::to(target, Fault::Down))
            .collect();
        rules.extend(self.services.faults.rules());
        rules
    }

    /// Starts an account again if a `down` fault closed it; true if it did.
    pub(super) async fn reopen(&self, target: &str) -> Result<bool, WorldError> {
        let was_down = lock(&self.down).remove(target);
        if was_down {
            self.start_account(target).await?;
        }
        Ok(was_down)
    }

    pub(super) fn ensure_account(&self, subdomain: &str) -> Result<(), WorldError> {
        self.is_running(subdomain).map(|_| ())
    }

    pub(super) fn check_fault(&self, rule: &FaultRule) -> Result<(), WorldError> {
        self.ensure_account(&rule.target)?;
        if let Some(from) = &rule.from {
            self.ensure_account(from)?;
        }
        rule.fault
            .check()
            .map_err(|reason| self.invalid_fault(rule, reason))
    }

    pub(super) fn invalid_fault(&self, rule: &FaultRule, reason: String) -> WorldError {
        WorldError::InvalidFault {
            fault: rule.fault,
            scope: rule.scope(),
            reason,
        }
    }

    pub(super) fn record_fault(&self, rule: &FaultRule) {
        self.services.trace.world(
            &rule.target,
            format!("fault {} on {}", rule.fault, rule.scope()),
        );
    }
}

/// `down` on a whole account for good closes its listener; any other rule is applied
/// message by message.
pub(super) fn closes_listener(rule: &FaultRule) -> bool {
    rule.fault == Fault::Down && rule.from.is_none() && rule.remaining.is_none()
}
