//! Shrinking: makes a schedule that breaks an invariant smaller while the same
//! invariant still breaks, ending in the same pair of copies when one is given (so a
//! finding does not drift to another signature, such as a known limit). It cuts the steps after the violation, removes accounts
//! (with every step naming them), removes runs of steps (halves, quarters… single
//! steps), then simplifies values (no `from`, no `times`, status 500, accept rather
//! than decline, no retries, plain HTTP). Each candidate is run like any schedule; the
//! repair round is derived from the remaining steps, so it is never cut off.

use super::invariants::Invariant;
use super::schedule::Schedule;
use super::steps;
use super::{Checks, ScheduleRun, run_schedule};
use crate::core::faults::Fault;
use crate::drivers::scenario::format::Concurrently;
use crate::drivers::scenario::{Action, Answer, Step, Terms};

/// Candidates run at most, so a shrink always ends.
pub(crate) const MAX_RUNS: usize = 600;

/// A shrunk schedule and its run.
#[derive(Clone, Debug)]
pub(crate) struct Shrunk {
    /// The smallest schedule found that breaks the invariant.
    pub schedule: Schedule,
    /// Its run (stopped at the violation).
    pub run: ScheduleRun,
    /// Candidates run while shrinking.
    pub runs: usize,
}

struct Shrinker<'a> {
    target: Invariant,
    pair: Option<&'a str>,
    checks: &'a Checks,
    runs: usize,
}

impl Shrinker<'_> {
    /// Runs a candidate; its run when it still breaks the target invariant.
    async fn attempt(&mut self, candidate: &mut Schedule) -> Result<Option<ScheduleRun>, String> {
        if self.runs >= MAX_RUNS {
            return Ok(None);
        }
        self.runs += 1;
        *candidate = candidate.clone().without_dangling_handles();
        // A candidate that cannot run (it should not happen: dangling handles are
        // dropped above) simply does not reproduce.
        let Ok(run) = run_schedule(candidate, self.checks, Some(self.target)).await else {
            return Ok(None);
        };
        Ok(self.breaks(&run).then_some(run))
    }

    /// Whether `run` breaks the target invariant, ending in the pair sought.
    fn breaks(&self, run: &ScheduleRun) -> bool {
        run.violation(self.target).is_some()
            && self.pair.is_none_or(|pair| {
                run.violation_pairs.get(&self.target).map(String::as_str) == Some(pair)
            })
    }
}

/// Shrinks `schedule` while `target` still breaks (ending in `pair`, when given: the
/// `sender/receiver` statuses of the agreement the violation is about).
pub(crate) async fn shrink(
    schedule: Schedule,
    target: Invariant,
    pair: Option<&str>,
    checks: &Checks,
) -> Result<Shrunk, String> {
    let mut shrinker = Shrinker {
        target,
        pair,
        checks,
        runs: 0,
    };
    let mut best = schedule;
    let mut best_run = run_schedule(&best, checks, Some(target)).await?;
    shrinker.runs += 1;
    if !shrinker.breaks(&best_run) {
        // Not reproduced on a second run (a timing fault): keep the schedule as it is.
        return Ok(Shrunk {
            schedule: best,
            run: best_run,
            runs: shrinker.runs,
        });
    }
    loop {
        let before = (best.steps.len(), best.accounts.len(), simplicity(&best));
        // Everything after the violating step is not needed for it.
        if let Some(violation) = best_run.violation(target)
            && violation.step < best.steps.len()
        {
            let mut candidate = best.clone();
            candidate.steps.truncate(violation.step);
            if let Some(run) = shrinker.attempt(&mut candidate).await? {
                (best, best_run) = (candidate, run);
            }
        }
        // Fewer accounts.
        for account in best.accounts.clone() {
            if best.accounts.len() <= 1 {
                break;
            }
            let mut candidate = best.clone();
            candidate.accounts.retain(|a| *a != account);
            candidate
                .steps
                .retain(|s| !steps::accounts(s).contains(&account.as_str()));
            if let Some(run) = shrinker.attempt(&mut candidate).await? {
                (best, best_run) = (candidate, run);
            }
        }
        // Fewer steps: runs of steps, from half the schedule down to one step.
        let mut size = best.steps.len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < best.steps.len() {
                let mut candidate = best.clone();
                let end = (start + size).min(candidate.steps.len());
                candidate.steps.drain(start..end);
                match shrinker.attempt(&mut candidate).await? {
                    Some(run) => (best, best_run) = (candidate, run),
                    None => start += size,
                }
            }
            if size == 1 {
                break;
            }
            size = size.div_ceil(2);
        }
        // Simpler values.
        for position in 0..best.steps.len() {
            for simpler in simplified(&best.steps[position]) {
                let mut candidate = best.clone();
                candidate.steps[position] = simpler;
                if let Some(run) = shrinker.attempt(&mut candidate).await? {
                    (best, best_run) = (candidate, run);
                    break;
                }
            }
        }
        for mut candidate in simpler_settings(&best) {
            if let Some(run) = shrinker.attempt(&mut candidate).await? {
                (best, best_run) = (candidate, run);
            }
        }
        let after = (best.steps.len(), best.accounts.len(), simplicity(&best));
        if after == before || shrinker.runs >= MAX_RUNS {
            break;
        }
    }
    Ok(Shrunk {
        schedule: best,
        run: best_run,
        runs: shrinker.runs,
    })
}

/// A measure that only goes down as values get simpler.
fn simplicity(schedule: &Schedule) -> usize {
    let values: usize = schedule.steps.iter().map(|s| simplified(s).len()).sum();
    values + schedule.retries as usize + usize::from(schedule.tls)
}

/// Simpler versions of one step, simplest first: a group's actions alone, a fault
/// without `from` or `times` or with status 500, accept rather than decline, a public
/// comment, a ticket without tags or fields, an invitation with the default terms.
fn simplified(step: &Step) -> Vec<Step> {
    let mut out = Vec::new();
    let mut with = |change: &dyn Fn(&mut Action) -> bool| {
        let mut simpler = step.clone();
        if change(&mut simpler.action) {
            out.push(simpler);
        }
    };
    match &step.action {
        Action::Concurrently(Concurrently(group)) => return group.clone(),
        Action::Fault(_) => {
            with(&|a| match a {
                Action::Fault(f) => f.rule.from.take().is_some(),
                _ => false,
            });
            with(&|a| match a {
                Action::Fault(f) => f.rule.times.take().is_some(),
                _ => false,
            });
            with(&|a| match a {
                Action::Fault(f) if matches!(f.rule.fault, Fault::Status(s) if s != 500) => {
                    f.rule.fault = Fault::Status(500);
                    true
                }
                _ => false,
            });
        }
        Action::Respond(_) => with(&|a| match a {
            Action::Respond(r) if r.status == Answer::Declined => {
                r.status = Answer::Accepted;
                true
            }
            _ => false,
        }),
        Action::Comment(_) => with(&|a| match a {
            Action::Comment(c) if !c.public => {
                c.public = true;
                true
            }
            _ => false,
        }),
        Action::Ticket(_) => {
            with(&|a| match a {
                Action::Ticket(t) => !std::mem::take(&mut t.tags).is_empty(),
                _ => false,
            });
            with(&|a| match a {
                Action::Ticket(t) => !std::mem::take(&mut t.custom_fields).is_empty(),
                _ => false,
            });
        }
        Action::Invite(_) => with(&|a| match a {
            Action::Invite(i) if terms_set(&i.terms) => {
                i.terms = Terms::default();
                true
            }
            _ => false,
        }),
        _ => {}
    }
    out
}

fn terms_set(terms: &Terms) -> bool {
    terms.sync_tags.is_some()
        || terms.sync_custom_fields.is_some()
        || terms.allows_public_comments.is_some()
        || terms.sync_status.is_some()
}

/// The same schedule with simpler world settings.
fn simpler_settings(schedule: &Schedule) -> Vec<Schedule> {
    let mut out = Vec::new();
    if schedule.retries > 0 {
        let mut candidate = schedule.clone();
        candidate.retries = 0;
        out.push(candidate);
    }
    if schedule.tls
        && !schedule
            .steps
            .iter()
            .flat_map(steps::flat)
            .any(|s| matches!(s.action, Action::Certificate(_)))
    {
        let mut candidate = schedule.clone();
        candidate.tls = false;
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simpler_values_lose_options_and_keep_the_kind() {
        let fault = steps::fault("acme", Some("globex"), Some(1), Fault::Status(503));
        let simpler: Vec<String> = simplified(&fault).iter().filter_map(steps::line).collect();
        assert_eq!(
            simpler,
            [
                "fault = { account = \"acme\", times = 1, status = 503 }",
                "fault = { account = \"acme\", from = \"globex\", status = 503 }",
                "fault = { account = \"acme\", from = \"globex\", times = 1, status = 500 }",
            ]
        );
        assert!(simplified(&steps::resend("a1")).is_empty());
        let private = steps::comment("acme", "t1", "c", false);
        assert_eq!(
            simplified(&private)
                .iter()
                .filter_map(steps::line)
                .collect::<Vec<_>>(),
            ["comment = { account = \"acme\", ticket = \"t1\", body = \"c\" }"]
        );
    }
}
