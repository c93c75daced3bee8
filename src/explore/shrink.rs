//! Shrinking: makes a schedule that breaks an invariant smaller while the same
//! invariant still breaks. It cuts the steps after the violation, removes accounts
//! (with every step naming them), removes runs of steps (halves, quarters… single
//! steps), then simplifies values (no `from`, no `times`, status 500, accept rather
//! than decline, no retries, plain HTTP). Each candidate is run like any schedule; the
//! repair round is derived from the remaining moves, so it is never cut off.

use super::invariants::Invariant;
use super::schedule::{FaultMove, Move, Schedule};
use super::{Checks, ScheduleRun, run_schedule};

/// Candidates run at most, so a shrink always ends.
pub const MAX_RUNS: usize = 600;

/// A shrunk schedule and its run.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest schedule found that breaks the invariant.
    pub schedule: Schedule,
    /// Its run (stopped at the violation).
    pub run: ScheduleRun,
    /// Candidates run while shrinking.
    pub runs: usize,
}

struct Shrinker<'a> {
    target: Invariant,
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
        Ok(run.violation(self.target).is_some().then_some(run))
    }
}

/// Shrinks `schedule` while `target` still breaks.
pub async fn shrink(
    schedule: Schedule,
    target: Invariant,
    checks: &Checks,
) -> Result<Shrunk, String> {
    let mut shrinker = Shrinker {
        target,
        checks,
        runs: 0,
    };
    let mut best = schedule;
    let mut best_run = run_schedule(&best, checks, Some(target)).await?;
    shrinker.runs += 1;
    if best_run.violation(target).is_none() {
        // Not reproduced on a second run (a timing fault): keep the schedule as it is.
        return Ok(Shrunk {
            schedule: best,
            run: best_run,
            runs: shrinker.runs,
        });
    }
    loop {
        let before = (best.moves.len(), best.accounts.len(), simplicity(&best));
        // Everything after the violating step is not needed for it.
        if let Some(violation) = best_run.violation(target)
            && violation.step < best.moves.len()
        {
            let mut candidate = best.clone();
            candidate.moves.truncate(violation.step);
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
                .moves
                .retain(|m| !m.accounts().contains(&account.as_str()));
            if let Some(run) = shrinker.attempt(&mut candidate).await? {
                (best, best_run) = (candidate, run);
            }
        }
        // Fewer steps: runs of steps, from half the schedule down to one step.
        let mut size = best.moves.len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < best.moves.len() {
                let mut candidate = best.clone();
                let end = (start + size).min(candidate.moves.len());
                candidate.moves.drain(start..end);
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
        for position in 0..best.moves.len() {
            for simpler in simplified(&best.moves[position]) {
                let mut candidate = best.clone();
                candidate.moves[position] = simpler;
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
        let after = (best.moves.len(), best.accounts.len(), simplicity(&best));
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
    let values: usize = schedule.moves.iter().map(|m| simplified(m).len()).sum();
    values + schedule.retries as usize + usize::from(schedule.tls)
}

/// Simpler versions of one move, simplest first.
fn simplified(step: &Move) -> Vec<Move> {
    let mut out = Vec::new();
    match step {
        Move::Fault {
            account,
            from,
            times,
            kind,
        } => {
            if from.is_some() {
                out.push(Move::Fault {
                    account: account.clone(),
                    from: None,
                    times: *times,
                    kind: *kind,
                });
            }
            if times.is_some() {
                out.push(Move::Fault {
                    account: account.clone(),
                    from: from.clone(),
                    times: None,
                    kind: *kind,
                });
            }
            if matches!(kind, FaultMove::Status(status) if *status != 500) {
                out.push(Move::Fault {
                    account: account.clone(),
                    from: from.clone(),
                    times: *times,
                    kind: FaultMove::Status(500),
                });
            }
        }
        Move::Respond {
            account,
            handle,
            accept: false,
        } => out.push(Move::Respond {
            account: account.clone(),
            handle: *handle,
            accept: true,
        }),
        Move::Concurrently(moves) => out.extend(moves.iter().cloned()),
        _ => {}
    }
    out
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
            .moves
            .iter()
            .any(|m| matches!(m, Move::Certificate { .. }))
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
        let fault = Move::Fault {
            account: "acme".into(),
            from: Some("globex".into()),
            times: Some(1),
            kind: FaultMove::Status(503),
        };
        let simpler: Vec<String> = simplified(&fault).iter().map(Move::toml).collect();
        assert_eq!(
            simpler,
            [
                "fault = { account = \"acme\", times = 1, status = 503 }",
                "fault = { account = \"acme\", from = \"globex\", status = 503 }",
                "fault = { account = \"acme\", from = \"globex\", times = 1, status = 500 }",
            ]
        );
        assert!(simplified(&Move::Resend { handle: 1 }).is_empty());
    }
}
