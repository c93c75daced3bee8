//! `sharesim explore`: runs many random schedules against fresh worlds and checks
//! invariants after every step. A schedule is a list of the scenario language's own
//! step values (`steps`), drawn from the whole language (`language`, `draw`), checked
//! like a file and run by the scenario runner, so what the explorer runs is exactly
//! what `sharesim run` would run; a watcher on the runner (`scenario::run::watch`)
//! turns each step into an [`invariants::Observation`]. A broken invariant is shrunk
//! (`shrink`) and written as an ordinary scenario file that fails the same way.

pub mod draw;
pub mod invariants;
pub mod language;
pub mod reproduction;
pub mod schedule;
pub mod shrink;
pub mod steps;

use crate::account::planted::PlantedBugs;
use crate::consistency;
use crate::model::AgreementStatus;
use crate::network::NetworkKind;
use crate::scenario::outcome::Outcome;
use crate::scenario::run::watch::{StepView, StepWatcher, Watcher};
use crate::scenario::run::{RunSettings, run};
use invariants::{CopySeen, History, Invariant, Observation, PairSeen, TicketSeen, Violation};
use schedule::{Schedule, Shape};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How an exploration is set up.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// What each schedule is drawn from.
    pub shape: Shape,
    /// The seed schedules are drawn from (and every world's seed).
    pub seed: u64,
    /// How many schedules the whole exploration (all shards) has; None with a budget.
    pub schedules: Option<u64>,
    /// Stop drawing new schedules after this long.
    pub budget: Option<Duration>,
    /// Schedules run at once.
    pub jobs: usize,
    /// This machine's part: (I, N), 1-based.
    pub shard: (u64, u64),
    /// Where findings are written.
    pub out: PathBuf,
    /// The invariants checked.
    pub invariants: Vec<Invariant>,
    /// Test hook: rules broken on purpose (see `account/planted.rs`).
    pub planted_bugs: PlantedBugs,
    /// Shrink and write each finding (the command line always does; a test comparing
    /// shards only needs which schedules broke what).
    pub shrink: bool,
    /// The network schedules run on (a finding on the simulated network is rerun on
    /// loopback before it is reported).
    pub network: NetworkKind,
}

impl ExploreOptions {
    /// The `sharesim explore` command that draws the same schedules.
    pub fn command(&self) -> String {
        let faults: Vec<&str> = self.shape.faults.iter().map(|f| f.name()).collect();
        let mut command = format!(
            "sharesim explore --seed {} --accounts {} --steps {} --faults {}",
            self.seed,
            self.shape.accounts,
            self.shape.steps,
            faults.join(",")
        );
        if self.shape.tickets {
            command.push_str(" --tickets");
        }
        if self.network == NetworkKind::Loopback {
            command.push_str(" --network loopback");
        }
        command
    }
}

/// What one step did, as the reproduction file needs it.
#[derive(Clone, Debug, Default)]
pub struct StepLog {
    /// REST statuses of the step's calls.
    pub answers: Vec<u16>,
    /// Whether the step did not do what it says.
    pub refused: bool,
    /// Agreement handles whose copies disagree after the step (the runner's rule).
    pub diverged: BTreeSet<String>,
}

/// One schedule's run: the runner's outcome, each step's log, and the first violation
/// of each invariant.
#[derive(Clone, Debug)]
pub struct ScheduleRun {
    /// What the runner returned.
    pub outcome: Outcome,
    /// One entry per step that ran.
    pub log: Vec<StepLog>,
    /// First violation of each invariant, in the order seen.
    pub violations: Vec<Violation>,
}

impl ScheduleRun {
    /// The first violation of `invariant`, if any.
    pub fn violation(&self, invariant: Invariant) -> Option<&Violation> {
        self.violations.iter().find(|v| v.invariant == invariant)
    }
}

/// What the explorer checks and how a run is set up; shared by exploring and shrinking.
#[derive(Clone, Debug)]
pub struct Checks {
    /// The invariants checked.
    pub invariants: Vec<Invariant>,
    /// Test hook passed to every world.
    pub planted_bugs: PlantedBugs,
    /// The network schedules run on.
    pub network: NetworkKind,
}

#[derive(Default)]
struct Recorded {
    history: History,
    log: Vec<StepLog>,
    violations: Vec<Violation>,
}

/// The watcher: observes each step, checks the invariants, and (when shrinking) stops
/// the run at the first violation of the invariant sought.
struct Recorder {
    invariants: Vec<Invariant>,
    stop_at: Option<Invariant>,
    recorded: Mutex<Recorded>,
}

impl StepWatcher for Recorder {
    fn after_step(&self, view: &StepView<'_>) -> Result<(), String> {
        let seen = observe(view);
        let mut recorded = crate::trace::lock(&self.recorded);
        let mut found = Vec::new();
        for &invariant in &self.invariants {
            if recorded.violations.iter().any(|v| v.invariant == invariant) {
                continue;
            }
            if let Some(violation) = recorded.history.check(invariant, &seen) {
                found.push(violation);
            }
        }
        recorded.history.remember(&seen);
        recorded.log.push(StepLog {
            answers: seen.answers.clone(),
            refused: view.refusal.is_some(),
            diverged: seen
                .pairs
                .iter()
                .filter(|p| consistency::check(p.sender_copy, p.receiver_copy).is_err())
                .map(|p| p.handle.clone())
                .collect(),
        });
        recorded.violations.extend(found);
        match self.stop_at {
            Some(target) => match recorded.violations.iter().find(|v| v.invariant == target) {
                Some(violation) => Err(format!(
                    "invariant {} broken: {}",
                    target.name(),
                    violation.message
                )),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

/// Turns what the runner shows after a step into an observation.
fn observe(view: &StepView<'_>) -> Observation {
    let accounts = view.accounts();
    let by_name = |name: &str| accounts.iter().find(|a| a.subdomain() == name).cloned();
    let status = |account: &str, uuid: &str| -> Option<AgreementStatus> {
        by_name(account)?.agreement_by_uuid(uuid).map(|a| a.status)
    };
    let pairs = view
        .agreements
        .iter()
        .map(|(handle, sender, receiver, uuid)| PairSeen {
            handle: handle.clone(),
            sender: sender.clone(),
            receiver: receiver.clone(),
            sender_copy: status(sender, uuid),
            receiver_copy: status(receiver, uuid),
        })
        .collect();
    let copies = accounts
        .iter()
        .flat_map(|account| {
            account.agreements().into_iter().map(|copy| CopySeen {
                account: account.subdomain().to_string(),
                uuid: copy.uuid,
                status: copy.status,
            })
        })
        .collect();
    let comments = |ticket: &crate::model::ticket::Ticket| -> Vec<(String, String)> {
        ticket
            .comments
            .iter()
            .map(|c| (c.uuid.clone(), c.body.clone()))
            .collect()
    };
    let tickets = view
        .tickets
        .iter()
        .filter_map(|(handle, origin, uuid)| {
            let origin_account = by_name(origin)?;
            let ticket = origin_account.ticket_by_uuid(uuid)?;
            let live_copy = ticket.sent.as_ref().and_then(|share| {
                let agreement = origin_account.agreement_by_id(share.agreement_id)?;
                let receiver = by_name(agreement.remote_subdomain.as_deref()?)?;
                let theirs = receiver.agreement_by_uuid(&agreement.uuid)?;
                if agreement.status != AgreementStatus::Accepted
                    || theirs.status != AgreementStatus::Accepted
                {
                    return None;
                }
                let copy = receiver.tickets().into_iter().find(|t| {
                    t.received
                        .as_ref()
                        .is_some_and(|r| r.share.uuid == share.uuid && !r.orphaned)
                })?;
                Some((receiver.subdomain().to_string(), comments(&copy)))
            });
            Some(TicketSeen {
                handle: handle.clone(),
                origin: origin.clone(),
                origin_comments: comments(&ticket),
                live_copy,
            })
        })
        .collect();
    Observation {
        number: view.number,
        last: view.number == view.total,
        pairs,
        copies,
        tickets,
        answers: view.answers.clone(),
        // A listing that cannot be read (an account restarting under a fault) says
        // nothing about whether it equals the state.
        surface_mismatch: view
            .surface_mismatch
            .clone()
            .filter(|why| !why.starts_with("could not read")),
    }
}

/// Renders, parses and runs one schedule with the invariants watched. `stop_at` ends
/// the run at the first violation of that invariant (shrinking needs no more).
pub async fn run_schedule(
    schedule: &Schedule,
    checks: &Checks,
    stop_at: Option<Invariant>,
) -> Result<ScheduleRun, String> {
    let scenario = schedule.scenario()?;
    let recorder = Arc::new(Recorder {
        invariants: checks.invariants.clone(),
        stop_at,
        recorded: Mutex::new(Recorded::default()),
    });
    let settings = RunSettings {
        seed: None,
        check_surfaces: checks.invariants.contains(&Invariant::ListingEqualsState),
        watcher: Some(Watcher(recorder.clone())),
        planted_bugs: checks.planted_bugs,
        snapshots: false,
        choices: None,
        network: Some(checks.network),
    };
    let outcome = run(&scenario, &settings).await;
    let recorded = std::mem::take(&mut *crate::trace::lock(&recorder.recorded));
    if outcome.steps.is_empty()
        && let Some(failure) = &outcome.failure
    {
        return Err(format!(
            "a schedule's world did not start: {}",
            failure.message
        ));
    }
    Ok(ScheduleRun {
        outcome,
        log: recorded.log,
        violations: recorded.violations,
    })
}

/// A shrunk violation, written to a file.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The invariant's name.
    pub invariant: &'static str,
    /// What was seen in the original schedule.
    pub message: String,
    /// The schedule's seed and index.
    pub seed: u64,
    /// See `seed`.
    pub index: u64,
    /// How many schedules broke this invariant.
    pub schedules: u64,
    /// Steps of the original schedule (moves and repair round).
    pub original_steps: usize,
    /// Steps of the reproduction file.
    pub shrunk_steps: usize,
    /// Schedules run while shrinking.
    pub shrink_runs: usize,
    /// Where the reproduction file is.
    pub path: String,
    /// Whether `sharesim run` on the file fails (checked by running it).
    pub reproduced: bool,
    /// The network that found it.
    pub network: NetworkKind,
    /// For a finding of the simulated network: whether the file fails on loopback too.
    pub loopback_reproduced: Option<bool>,
    /// When a second run of the shrunk schedule wrote another trace: where they
    /// differ. Always a bug in sharesim, never a finding.
    pub rerun_differs: Option<String>,
    /// The last trace events of the reproduction's run, as lines.
    pub last_events: Vec<String>,
}

/// What an exploration found.
#[derive(Clone, Debug, Serialize)]
pub struct ExploreReport {
    /// The seed.
    pub seed: u64,
    /// This machine's shard, `I/N`.
    pub shard: String,
    /// Schedules run.
    pub schedules: u64,
    /// Schedules that broke at least one invariant.
    pub violating_schedules: u64,
    /// Wall time, s.
    pub seconds: f64,
    /// The indices run, in order (so shards can be compared with a single run).
    pub indices: Vec<u64>,
    /// Every schedule index that broke each invariant, by invariant name.
    pub broken: BTreeMap<&'static str, Vec<u64>>,
    /// One shrunk finding per broken invariant.
    pub findings: Vec<Finding>,
}

/// Progress after each schedule: (schedules run, violating schedules).
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Why an exploration could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// A schedule could not be run (a bug or a machine problem, not a finding).
    #[error("{0}")]
    Run(String),
    /// The findings could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Runs an exploration: every schedule index of the shard, `jobs` at a time, then a
/// shrink of the first schedule (lowest index) that broke each invariant.
pub async fn explore(
    options: &ExploreOptions,
    progress: ProgressFn<'_>,
) -> Result<ExploreReport, ExploreError> {
    let started = Instant::now();
    let checks = Checks {
        invariants: options.invariants.clone(),
        planted_bugs: options.planted_bugs,
        network: options.network,
    };
    let (shard, of) = options.shard;
    let mut indices = (0u64..)
        .filter(move |&index| schedule::in_shard(index, shard, of))
        .take_while(|&index| options.schedules.is_none_or(|total| index < total));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ran: Vec<u64> = Vec::new();
    let mut first: BTreeMap<Invariant, (u64, String, u64)> = BTreeMap::new();
    let mut broken: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    let mut violating = 0u64;
    let out_of_time = |started: &Instant| options.budget.is_some_and(|b| started.elapsed() >= b);
    let mut exhausted = false;
    loop {
        while !exhausted && tasks.len() < options.jobs.max(1) {
            if out_of_time(&started) {
                exhausted = true;
                break;
            }
            let Some(index) = indices.next() else {
                exhausted = true;
                break;
            };
            let schedule = Schedule::draw(options.seed, index, &options.shape);
            let checks = checks.clone();
            tasks.spawn(async move {
                let result = run_schedule(&schedule, &checks, None).await;
                (index, result.map(|run| run.violations))
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (index, result) = joined.map_err(|e| ExploreError::Run(e.to_string()))?;
        let violations = result.map_err(ExploreError::Run)?;
        ran.push(index);
        if !violations.is_empty() {
            violating += 1;
        }
        for violation in violations {
            broken
                .entry(violation.invariant.name())
                .or_default()
                .push(index);
            let entry =
                first
                    .entry(violation.invariant)
                    .or_insert((index, violation.message.clone(), 0));
            if index < entry.0 {
                entry.0 = index;
                entry.1 = violation.message.clone();
            }
            entry.2 += 1;
        }
        progress(ran.len() as u64, violating);
    }
    ran.sort_unstable();
    broken
        .values_mut()
        .for_each(|indices| indices.sort_unstable());
    let mut findings = Vec::new();
    for (invariant, (index, message, count)) in first {
        if !options.shrink {
            continue;
        }
        let schedule = Schedule::draw(options.seed, index, &options.shape);
        let shrunk = shrink::shrink(schedule.clone(), invariant, &checks)
            .await
            .map_err(ExploreError::Run)?;
        let name = format!("{}-{}-{}.toml", invariant.name(), options.seed, index);
        let path = options.out.join(&name);
        std::fs::create_dir_all(&options.out).map_err(|source| ExploreError::Write {
            path: options.out.display().to_string(),
            source,
        })?;
        let text = reproduction::render(
            &shrunk.schedule,
            &shrunk.run,
            invariant,
            schedule.step_count(),
            &options.command(),
        );
        std::fs::write(&path, &text).map_err(|source| ExploreError::Write {
            path: path.display().to_string(),
            source,
        })?;
        let file = path.display().to_string();
        let check = reproduction::check(
            &text,
            &file,
            invariant,
            checks.planted_bugs,
            options.network,
        )
        .await
        .map_err(ExploreError::Run)?;
        // A finding of the simulated network must hold on real sockets too; the report
        // says whether it did.
        let loopback_reproduced = match options.network {
            NetworkKind::Loopback => None,
            NetworkKind::Simulated => Some(
                reproduction::check(
                    &text,
                    &file,
                    invariant,
                    checks.planted_bugs,
                    NetworkKind::Loopback,
                )
                .await
                .map_err(ExploreError::Run)?
                .failed,
            ),
        };
        // The same schedule and seed must give the same run: a rerun that differs is a
        // bug in sharesim, not a finding.
        let rerun = run_schedule(&shrunk.schedule, &checks, Some(invariant))
            .await
            .map_err(ExploreError::Run)?;
        let rerun_differs =
            crate::scenario::determinism::first_difference(&shrunk.run.outcome, &rerun.outcome);
        findings.push(Finding {
            invariant: invariant.name(),
            message,
            seed: options.seed,
            index,
            schedules: count,
            original_steps: schedule.step_count(),
            shrunk_steps: check.steps,
            shrink_runs: shrunk.runs,
            path: path.display().to_string(),
            reproduced: check.failed,
            network: options.network,
            loopback_reproduced,
            rerun_differs,
            last_events: check.last_events,
        });
    }
    Ok(ExploreReport {
        seed: options.seed,
        shard: format!("{shard}/{of}"),
        schedules: ran.len() as u64,
        violating_schedules: violating,
        seconds: started.elapsed().as_secs_f64(),
        indices: ran,
        broken,
        findings,
    })
}
