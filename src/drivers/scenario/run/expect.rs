//! The runner's checking steps (`wait`, `expect`, `expect_ticket`) and its checks of
//! agreements: one copy's fields, counts, and divergence.

use super::copies::describe;
use super::{DEFAULT_WAIT_MS, Problem, Runner};
use crate::core::model::AgreementStatus;
use crate::drivers::scenario::format::{self, Expectation};
use crate::drivers::scenario::format::{Action, Step};
use crate::drivers::scenario::outcome::FieldDiff;
use serde_json::Value;
use std::time::Duration;

impl Runner<'_> {
    /// Runs a checking step: `wait` (polls an expectation on the world's clock),
    /// `expect` and `expect_ticket`.
    pub(super) async fn check_step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Wait(wait) => {
                let limit = Duration::from_millis(wait.timeout_ms.unwrap_or(DEFAULT_WAIT_MS));
                // The world's clock: on the simulated network a long wait costs nothing.
                let deadline = tokio::time::Instant::now() + limit;
                loop {
                    match self.expect(&wait.until) {
                        Ok(()) => return Ok(()),
                        Err(problem) if tokio::time::Instant::now() >= deadline => {
                            return Err(Problem {
                                message: format!(
                                    "waited {} ms and it never held: {}",
                                    limit.as_millis(),
                                    problem.message
                                ),
                                diffs: problem.diffs,
                            });
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
            Action::Expect(expectation) => self.expect(expectation),
            Action::ExpectTicket(check) => self.expect_ticket(check),
            other => Err(Problem::misrouted(other, "checking")),
        }
    }

    pub(super) fn expect(&self, expectation: &Expectation) -> Result<(), Problem> {
        match expectation {
            Expectation::Agreement(check) => self.expect_agreement(check),
            Expectation::Count(check) => {
                let account = self.account(check.account.get_ref())?;
                let count = account
                    .agreements()
                    .iter()
                    .filter(|a| check.direction.is_none_or(|d| d == a.direction))
                    .filter(|a| check.status.is_none_or(|s| s == a.status))
                    .count();
                if count == check.count as usize {
                    Ok(())
                } else {
                    let mut what = "agreements".to_string();
                    if let Some(status) = check.status {
                        what = format!("{status} {what}");
                    }
                    if let Some(direction) = check.direction {
                        what = format!("{direction} {what}");
                    }
                    Err(Problem {
                        message: format!(
                            "{} has {count} {what}, expected {}",
                            check.account.get_ref(),
                            check.count
                        ),
                        diffs: vec![FieldDiff {
                            field: "count".into(),
                            expected: check.count.to_string(),
                            actual: count.to_string(),
                        }],
                    })
                }
            }
            Expectation::Pair(check) => self.expect_pair(check),
            Expectation::InFlight(check) => self.expect_in_flight(check),
            Expectation::Divergence(handle) => {
                if self.session.diverged.contains(handle.get_ref()) {
                    Ok(())
                } else {
                    let (sender, receiver) = self.copy_statuses(handle)?;
                    Err(Problem {
                        message: format!(
                            "agreement {:?} has not diverged: its copies are consistent",
                            handle.get_ref()
                        ),
                        diffs: vec![FieldDiff {
                            field: "copies (sender ↔ receiver)".into(),
                            expected: "a divergent pair".into(),
                            actual: format!("{} ↔ {}", describe(sender), describe(receiver)),
                        }],
                    })
                }
            }
        }
    }

    pub(super) fn expect_agreement(&self, check: &format::AgreementCheck) -> Result<(), Problem> {
        let account_name = check.account.get_ref();
        let account = self.account(account_name)?;
        let copy = self.copy(account_name, &check.agreement)?;
        let handle = check.agreement.get_ref();
        let Some(copy) = copy else {
            return if check.absent {
                Ok(())
            } else {
                Err(Problem {
                    message: format!("{account_name} holds no copy of agreement {handle:?}"),
                    diffs: vec![FieldDiff {
                        field: "copy".into(),
                        expected: "present".into(),
                        actual: "absent".into(),
                    }],
                })
            };
        };
        if check.absent {
            return Err(Problem {
                message: format!(
                    "{account_name} still holds agreement {handle:?} (id {}, {})",
                    copy.id, copy.status
                ),
                diffs: vec![FieldDiff {
                    field: "copy".into(),
                    expected: "absent".into(),
                    actual: format!("present ({})", copy.status),
                }],
            });
        }
        let json = crate::surfaces::api::agreements::agreement_json(&account, &copy);
        let text = |key: &str| match &json[key] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut wanted: Vec<(&str, String)> = Vec::new();
        if let Some(id) = check.id {
            wanted.push(("id", id.to_string()));
        }
        if let Some(name) = &check.name {
            wanted.push(("name", name.clone()));
        }
        if let Some(partner) = &check.partner_name {
            wanted.push(("partner_name", partner.clone()));
        }
        if let Some(remote) = &check.remote_subdomain {
            wanted.push(("remote_subdomain", remote.clone()));
        }
        if let Some(status) = check.status {
            wanted.push(("status", status.as_str().to_string()));
        }
        if let Some(direction) = check.direction {
            wanted.push(("type", direction.as_str().to_string()));
        }
        if let Some(url) = &check.url {
            wanted.push(("url", url.clone()));
        }
        if let Some(created) = &check.created_at {
            wanted.push(("created_at", created.clone()));
        }
        if let Some(updated) = &check.updated_at {
            wanted.push(("updated_at", updated.clone()));
        }
        let diffs: Vec<FieldDiff> = wanted
            .into_iter()
            .filter(|(key, expected)| text(key) != *expected)
            .map(|(key, expected)| FieldDiff {
                field: key.to_string(),
                expected,
                actual: text(key),
            })
            .collect();
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(Problem {
                message: format!(
                    "{account_name}'s copy of agreement {handle:?} (id {}) does not match",
                    copy.id
                ),
                diffs,
            })
        }
    }

    /// The status of each side's copy of `handle` (None: that side holds none).
    pub(super) fn copy_statuses(
        &self,
        handle: &format::Ref,
    ) -> Result<(Option<AgreementStatus>, Option<AgreementStatus>), Problem> {
        let known = self.handle(handle)?;
        let status = |account: &str| {
            self.world
                .account(account)
                .and_then(|a| a.agreement_by_uuid(&known.uuid))
                .map(|a| a.status)
        };
        Ok((status(&known.sender), status(&known.receiver)))
    }
}
