//! `sharesim explore`: runs many random schedules against fresh worlds and checks
//! invariants after every step. A schedule is a list of the scenario language's own
//! step values (`steps`), drawn from the whole language (`language`, `draw`), checked
//! like a file and run by the scenario runner, so what the explorer runs is exactly
//! what `sharesim run` would run; a watcher on the runner (`scenario::run::watch`)
//! turns each step into an [`invariants::Observation`]. A broken invariant is shrunk
//! (`shrink`) and written as an ordinary scenario file that fails the same way.

pub mod corpus;
pub(crate) mod coverage;
pub(crate) mod draw;
pub(crate) mod findings;
pub mod invariants;
pub(crate) mod known;
pub(crate) mod language;
pub mod orders;
pub(crate) mod reproduction;
pub mod schedule;
pub(crate) mod shrink;
pub mod steps;

use crate::core::account::planted::PlantedBugs;
use crate::core::consistency;
use crate::core::model::AgreementStatus;
use crate::core::network::NetworkKind;
use crate::drivers::scenario::outcome::Outcome;
use crate::drivers::scenario::run::watch::{StepView, StepWatcher, Watcher};
use crate::drivers::scenario::run::{RunSettings, run};
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
    /// One order per schedule drawn from the seed, or every order.
    pub orders: orders::Orders,
    /// Label violations that match a limit of `scenarios/found/` as known (the command
    /// line always does; a test may treat every violation as new).
    pub known_limits: bool,
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
        if self.orders == orders::Orders::Exhaustive {
            command.push_str(" --orders exhaustive");
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
    /// Each agreement's copies after the last step that ran.
    pub final_pairs: coverage::Pairs,
    /// The pair of copies of the agreement each violation is about, when it was seen
    /// (what the shrunk schedule ends in), by invariant.
    pub violation_pairs: BTreeMap<Invariant, String>,
    /// What the run reached.
    pub coverage: coverage::Coverage,
    /// Every choice the scheduler made: (how many choices, which was taken).
    pub choice_points: Vec<(usize, usize)>,
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
    pairs: coverage::Pairs,
    coverage: coverage::Coverage,
    fired: BTreeMap<&'static str, u64>,
    points: Vec<(usize, usize)>,
    violation_pairs: BTreeMap<Invariant, String>,
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
        let mut recorded = crate::core::trace::lock(&self.recorded);
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
        let pairs: coverage::Pairs = seen
            .pairs
            .iter()
            .map(|p| (p.handle.clone(), (p.sender_copy, p.receiver_copy)))
            .collect();
        let before = std::mem::replace(&mut recorded.pairs, pairs);
        let Recorded {
            coverage, pairs, ..
        } = &mut *recorded;
        coverage.observe(&before, pairs);
        recorded.fired = view.world.services().faults.fired();
        recorded.points = view.world.services().transport.scheduler().choice_points();
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
        for violation in &found {
            let pair = violation
                .handle()
                .and_then(|handle| seen.pairs.iter().find(|p| p.handle == handle))
                .map_or_else(
                    || "-".to_string(),
                    |p| known::pair_text(p.sender_copy, p.receiver_copy),
                );
            recorded.violation_pairs.insert(violation.invariant, pair);
        }
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
                uuid: copy.uuid.to_string(),
                status: copy.status,
            })
        })
        .collect();
    let comments = |ticket: &crate::core::model::ticket::Ticket| -> Vec<(String, String)> {
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
    let mut recorded = std::mem::take(&mut *crate::core::trace::lock(&recorder.recorded));
    recorded.coverage.trace(&outcome.trace);
    recorded.coverage.faults(&recorded.fired);
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
        final_pairs: recorded.pairs,
        violation_pairs: recorded.violation_pairs,
        coverage: recorded.coverage,
        choice_points: recorded.points,
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
    /// How many schedules broke this invariant with this signature.
    pub schedules: u64,
    /// Steps of the original schedule (steps and repair round).
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
    /// The invariant, the final pair and the kinds of step of the shrunk schedule.
    pub signature: known::Seen,
}

/// A known limit found again.
#[derive(Clone, Debug, Serialize)]
pub struct KnownFound {
    /// Its file in `scenarios/found/`.
    pub file: String,
    /// The invariant broken.
    pub invariant: String,
    /// The final pair.
    pub pair: String,
    /// Schedules that broke it this way.
    pub schedules: u64,
    /// The first of them: (seed, index).
    pub first: (u64, u64),
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
    /// Schedules with at least one violation that matches no known limit.
    pub new_schedules: u64,
    /// Schedules with at least one violation that matches a known limit.
    pub known_schedules: u64,
    /// Wall time, s.
    pub seconds: f64,
    /// The indices run, in order (so shards can be compared with a single run).
    pub indices: Vec<u64>,
    /// Every schedule index that broke each invariant, by invariant name.
    pub broken: BTreeMap<&'static str, Vec<u64>>,
    /// Every violation group: its key and its schedules.
    #[serde(skip)]
    pub groups: BTreeMap<findings::GroupKey, findings::Group>,
    /// One shrunk finding per new group (when shrinking).
    pub findings: Vec<Finding>,
    /// New groups the corpus (`--out`) already held from an earlier schedule: not
    /// shrunk again, still new.
    pub in_corpus: Vec<corpus::Entry>,
    /// The known limits found again.
    pub known: Vec<KnownFound>,
    /// What the run reached.
    pub coverage: coverage::Coverage,
    /// The pair grid of `coverage`: rows by sender status, cells by receiver status.
    pub grid: Vec<Vec<coverage::Cell>>,
}

impl ExploreReport {
    /// Whether some violation matches no known limit.
    pub fn found_new(&self) -> bool {
        self.new_schedules > 0
    }
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

/// What the schedules of one exploration added up to.
#[derive(Default)]
struct Tally {
    ran: Vec<u64>,
    broken: BTreeMap<&'static str, Vec<u64>>,
    groups: BTreeMap<findings::GroupKey, findings::Group>,
    violating: u64,
    new: u64,
    known: u64,
    coverage: coverage::Coverage,
}

impl Tally {
    fn add(&mut self, limits: &[known::KnownLimit], explored: &orders::Explored) {
        let (schedule, run) = (&explored.schedule, &explored.run);
        self.ran.push(schedule.index);
        self.coverage.merge(&explored.coverage);
        let keys: Vec<String> = schedule
            .steps
            .iter()
            .flat_map(|step| {
                let mut keys = vec![step.action.key().to_string()];
                if let crate::drivers::scenario::Action::Concurrently(group) = &step.action {
                    keys.extend(group.0.iter().map(|s| s.action.key().to_string()));
                }
                keys
            })
            .collect();
        self.coverage.schedule(&keys, explored.orders);
        if run.violations.is_empty() {
            return;
        }
        self.violating += 1;
        for violation in &run.violations {
            self.broken
                .entry(violation.invariant.name())
                .or_default()
                .push(schedule.index);
        }
        let groups = findings::classify(limits, schedule, run);
        if groups.iter().any(|(key, _)| key.known.is_none()) {
            self.new += 1;
        }
        if groups.iter().any(|(key, _)| key.known.is_some()) {
            self.known += 1;
        }
        for (key, message) in groups {
            let mut group = findings::Group::new(
                schedule.seed,
                schedule.index,
                schedule.step_count(),
                message,
            );
            group.orders.clone_from(&schedule.orders);
            match self.groups.get_mut(&key) {
                Some(existing) => existing.merge(&group),
                None => {
                    self.groups.insert(key, group);
                }
            }
        }
    }
}

/// Runs an exploration: every schedule index of the shard, `jobs` at a time, then a
/// shrink of the first schedule (lowest index) of each new violation group.
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
    let limits = if options.known_limits {
        known::known_limits()
    } else {
        Vec::new()
    };
    let (shard, of) = options.shard;
    let mut indices = (0u64..)
        .filter(move |&index| schedule::in_shard(index, shard, of))
        .take_while(|&index| options.schedules.is_none_or(|total| index < total));
    let mut tasks = tokio::task::JoinSet::new();
    let mut tally = Tally::default();
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
            let schedule = crate::drivers::explore::draw::draw(options.seed, index, &options.shape);
            let checks = checks.clone();
            let mode = options.orders;
            tasks.spawn(async move {
                match mode {
                    orders::Orders::Random => {
                        run_schedule(&schedule, &checks, None)
                            .await
                            .map(|run| orders::Explored {
                                coverage: run.coverage.clone(),
                                schedule,
                                run,
                                orders: 1,
                            })
                    }
                    orders::Orders::Exhaustive => orders::every_order(&schedule, &checks).await,
                }
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let result = joined.map_err(|e| ExploreError::Run(e.to_string()))?;
        let explored = result.map_err(ExploreError::Run)?;
        tally.add(&limits, &explored);
        progress(tally.ran.len() as u64, tally.violating);
    }
    tally.ran.sort_unstable();
    tally
        .broken
        .values_mut()
        .for_each(|indices| indices.sort_unstable());
    let (found, known, in_corpus) = if options.shrink {
        write_corpus(options, &checks, &limits, &tally).await?
    } else {
        (Vec::new(), known_found(&tally), Vec::new())
    };
    Ok(ExploreReport {
        seed: options.seed,
        shard: format!("{shard}/{of}"),
        schedules: tally.ran.len() as u64,
        violating_schedules: tally.violating,
        new_schedules: tally.new,
        known_schedules: tally.known,
        seconds: started.elapsed().as_secs_f64(),
        indices: tally.ran,
        broken: tally.broken,
        groups: tally.groups,
        findings: found,
        in_corpus,
        known,
        grid: tally.coverage.grid(),
        coverage: tally.coverage,
    })
}

/// The known limits found again.
fn known_found(tally: &Tally) -> Vec<KnownFound> {
    tally
        .groups
        .iter()
        .filter_map(|(key, group)| {
            Some(KnownFound {
                file: key.known.clone()?,
                invariant: key.invariant.clone(),
                pair: key.pair.clone(),
                schedules: group.schedules,
                first: group.first,
            })
        })
        .collect()
}

/// Shrinks and writes each new group the corpus does not already hold from an earlier
/// schedule, copies each known limit's file into it, and merges this run into its
/// index.
async fn write_corpus(
    options: &ExploreOptions,
    checks: &Checks,
    limits: &[known::KnownLimit],
    tally: &Tally,
) -> Result<(Vec<Finding>, Vec<KnownFound>, Vec<corpus::Entry>), ExploreError> {
    let mut index = corpus::Index::read(&options.out)?;
    let mut this_run = corpus::Index {
        schedules: tally.ran.len() as u64,
        coverage: tally.coverage.clone(),
        ..corpus::Index::new()
    };
    let mut found = Vec::new();
    let mut in_corpus = Vec::new();
    for (key, group) in &tally.groups {
        let signature = match &key.known {
            Some(file) => {
                let limit = limits.iter().find(|l| l.file == file.as_str());
                let path = options.out.join(key.file_name());
                if let Some(limit) = limit
                    && !path.exists()
                {
                    std::fs::create_dir_all(&options.out)
                        .and_then(|()| std::fs::write(&path, limit.text))
                        .map_err(|source| ExploreError::Write {
                            path: path.display().to_string(),
                            source,
                        })?;
                }
                known::Seen {
                    invariant: key.invariant.clone(),
                    pair: key.pair.clone(),
                    steps: limit.map(|l| l.signature.steps.clone()).unwrap_or_default(),
                }
            }
            None => match index.get(key) {
                Some(entry) if (entry.first.seed, entry.first.index) <= group.first => {
                    in_corpus.push(entry.clone());
                    entry.signature.clone()
                }
                _ => {
                    let finding = findings::shrink_and_write(options, checks, key, group).await?;
                    let signature = finding.signature.clone();
                    found.push(finding);
                    signature
                }
            },
        };
        this_run
            .entries
            .push(corpus::Entry::new(key, group, signature));
    }
    index.merge(&this_run);
    index.sharesim = env!("CARGO_PKG_VERSION").to_string();
    index.write(&options.out)?;
    Ok((found, known_found(tally), in_corpus))
}
