//! Runs one parsed scenario: starts its world on ephemeral loopback ports, performs each
//! step through the accounts' real REST API (or the world's controls for faults and
//! certificates), checks expectations, and returns an [`Outcome`].
//!
//! Steps run in order; each REST call returns only once the handshake it started has
//! settled (accounts deliver partner messages before answering), so no step needs to
//! sleep. After every step the runner checks that both copies of every agreement agree.

mod agreements;
mod answers;
mod copies;
mod expect;
mod live;
mod races;
mod rest;
mod surfaces;
mod ticket_writes;
mod tickets;
pub(crate) mod watch;
mod world_changes;

pub use live::{HandleRecord, Handles, Session, StepResult};

use super::format::{self, Action, Scenario, Step};
use super::outcome::{
    AccountSnapshot, AgreementRow, Failure, FieldDiff, Outcome, Paused, StepRecord,
};
use crate::core::account::Account;
use crate::core::faults::FaultRule;
use crate::core::model::Agreement;
use crate::core::network::NetworkKind;
use crate::core::tls::CertMode;
use crate::core::trace::{EventDraft, EventKind};
use crate::world::{AccountSpec, World, WorldConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Partner-message timeout when a scenario does not set `timeout_ms`: short, so a
/// scenario that provokes a timeout stays fast.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// How long `wait` waits when the step does not say.
pub const DEFAULT_WAIT_MS: u64 = 2_000;

/// Settings that come from the command line rather than the file.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    /// Overrides every scenario's `seed`.
    pub seed: Option<u64>,
    /// After every step, compare each account's REST listings with its state
    /// (see `run/surfaces.rs`); a mismatch fails the scenario at that step.
    pub check_surfaces: bool,
    /// Keep every account's agreements after each step (what `explain` shows). Off for
    /// `run`: a snapshot per step grows with steps × agreements.
    pub snapshots: bool,
    /// Hands every step's result to a watcher instead of failing on refusals and
    /// unasserted divergences (`sharesim explore`; see `run/watch.rs`).
    pub watcher: Option<watch::Watcher>,
    /// Test hook: rules the world breaks on purpose (see `account/planted.rs`).
    pub planted_bugs: crate::core::account::planted::PlantedBugs,
    /// Lessons: a learner's choices of which held message goes next, each a position
    /// (from 1) in the list of everything held when the choice is made. A step whose
    /// actions all wait on held messages then releases the chosen ones instead of its
    /// own plain `release`s, and the run pauses there (see [`Outcome::paused`]) when the
    /// choices run out while messages are still held. None for every other run.
    pub choices: Option<Vec<usize>>,
    /// Overrides every scenario's `network` (`--network`).
    pub network: Option<NetworkKind>,
}

impl RunSettings {
    /// The network `scenario` runs on: the command line's, else the file's, else the
    /// simulated network; a scenario with an external account runs on loopback unless
    /// the command line says otherwise (and then fails at start, saying why).
    pub fn network_for(&self, scenario: &Scenario) -> NetworkKind {
        let external = scenario.accounts.values().any(|a| a.external.is_some());
        self.network.or(scenario.network).unwrap_or(if external {
            NetworkKind::Loopback
        } else {
            NetworkKind::Simulated
        })
    }
}

/// Runs a scenario from start to finish, on the network its settings or file choose. A
/// simulated world gets a thread and a current-thread runtime of its own, whose clock is
/// paused, so its timers cost no wall time and its schedule is the same on every run.
pub async fn run(scenario: &Scenario, settings: &RunSettings) -> Outcome {
    match settings.network_for(scenario) {
        NetworkKind::Loopback => run_here(scenario, settings).await,
        NetworkKind::Simulated => {
            let started = Instant::now();
            let (owned, owned_settings) = (scenario.clone(), settings.clone());
            let isolated = tokio::task::spawn_blocking(move || {
                crate::core::network::run_simulated(run_here(&owned, &owned_settings))
            })
            .await;
            match isolated {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(error)) => {
                    let message = format!("the simulated network could not start: {error}");
                    not_started(scenario, settings, message, started)
                }
                Err(error) => {
                    let message = format!("sharesim failed while running the scenario: {error}");
                    not_started(scenario, settings, message, started)
                }
            }
        }
    }
}

/// An outcome that failed before its first step.
fn not_started(
    scenario: &Scenario,
    settings: &RunSettings,
    message: String,
    started: Instant,
) -> Outcome {
    let mut outcome = empty_outcome(scenario, settings);
    outcome.failure = Some(Failure {
        step: 0,
        action: "start".to_string(),
        location: format!("{}:1", scenario.file()),
        message,
        diffs: Vec::new(),
    });
    outcome.duration = started.elapsed();
    outcome
}

fn empty_outcome(scenario: &Scenario, settings: &RunSettings) -> Outcome {
    Outcome {
        name: scenario.name.clone(),
        file: scenario.file().to_string(),
        seed: settings.seed.or(scenario.seed).unwrap_or(0),
        network: settings.network_for(scenario),
        duration: Duration::ZERO,
        failure: None,
        steps: Vec::new(),
        paused: None,
        tables_left_out_after: None,
        trace: Vec::new(),
    }
}

/// Runs a scenario on the calling task's runtime. On the simulated network that must be
/// a current-thread runtime with a paused clock ([`crate::core::network::run_simulated`]);
/// [`run`] makes one.
pub async fn run_here(scenario: &Scenario, settings: &RunSettings) -> Outcome {
    let started = Instant::now();
    let mut outcome = empty_outcome(scenario, settings);
    let seed = outcome.seed;
    let network = outcome.network;
    let world = match start_world(scenario, seed, network).await {
        Ok(world) => world,
        Err(message) => return not_started(scenario, settings, message, started),
    };
    world.services().planted.set(settings.planted_bugs);
    if let Some(picks) = &scenario.orders {
        world.services().transport.scheduler().script(picks);
    }
    let mut runner = Runner::new(&world, Session::default());
    runner.choices = settings
        .choices
        .as_ref()
        .map(|picks| Arc::new(races::Choices::new(picks)));
    // The runner re-checks only the agreements whose copies a step changed, so the
    // accounts record which ones did.
    for account in world.accounts() {
        account.with_state(|state| state.watch_changes());
    }
    let mut kept_rows = 0;
    for (index, step) in scenario.steps.iter().enumerate() {
        let number = index + 1;
        let location = format!("{}:{}", scenario.file(), step.position.line);
        if let Some(note) = &step.note {
            world.trace().record(
                EventKind::Note,
                EventDraft {
                    from: "scenario".into(),
                    to: "scenario".into(),
                    detail: note.clone(),
                    ..EventDraft::default()
                },
            );
        }
        let first_event = world.trace().last_seq() + 1;
        let result = runner.step(step).await;
        let result = match &settings.watcher {
            Some(watcher) => {
                runner
                    .watched(
                        watcher,
                        settings,
                        result,
                        number,
                        scenario.steps.len(),
                        step,
                    )
                    .await
            }
            None => {
                let mut result = result.and_then(|()| runner.check_consistency(number, step));
                if result.is_ok() && settings.check_surfaces {
                    result = runner.check_surfaces(number).await;
                }
                result
            }
        };
        let accounts = if settings.snapshots {
            outcome.keep_tables(number, runner.snapshot(), &mut kept_rows)
        } else {
            Vec::new()
        };
        outcome.steps.push(StepRecord {
            number,
            action: step.action.key().to_string(),
            location: location.clone(),
            note: step.note.clone(),
            first_event,
            last_event: world.trace().last_seq(),
            accounts,
        });
        if let Err(problem) = result {
            if let Some(held) = runner.choices.as_ref().and_then(|c| c.paused()) {
                outcome.paused = Some(Paused { step: number, held });
                break;
            }
            outcome.failure = Some(Failure {
                step: number,
                action: step.action.key().to_string(),
                location,
                message: problem.message,
                diffs: problem.diffs,
            });
            break;
        }
    }
    if outcome.failure.is_none()
        && settings.watcher.is_none()
        && let Some((handle, cause)) = runner.session.unasserted.iter().next()
    {
        outcome.failure = Some(Failure {
            step: *cause,
            action: "consistency".to_string(),
            location: format!(
                "{}:{}",
                scenario.file(),
                scenario.step_line(cause - 1).unwrap_or(1)
            ),
            message: format!(
                "agreement {handle:?} diverged after step {cause} and no `expect = {{ divergence = {handle:?} }}` asserted it"
            ),
            diffs: Vec::new(),
        });
    }
    world.shutdown().await;
    outcome.trace = world.trace().events();
    outcome.duration = started.elapsed();
    outcome
}

async fn start_world(
    scenario: &Scenario,
    seed: u64,
    network: NetworkKind,
) -> Result<World, String> {
    let specs = account_specs(scenario)?;
    let external = specs.iter().any(|spec| spec.external.is_some());
    let config = WorldConfig {
        seed: Some(seed),
        https: scenario.tls,
        timeout: Duration::from_millis(scenario.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
        retries: scenario.retries,
        rate_limit: scenario.rate_limit,
        logical_clock: true,
        network,
        // An external account reaches the world's accounts at their addresses, and
        // checks their certificates by the name it dials.
        extra_cert_names: if external {
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        } else {
            Vec::new()
        },
        ..WorldConfig::default()
    };
    World::start(config, specs)
        .await
        .map_err(|e| format!("the world could not start: {e}"))
}

/// The accounts a scenario declares, as the world starts them (`serve --scenario` too).
pub fn account_specs(scenario: &Scenario) -> Result<Vec<AccountSpec>, String> {
    let mut specs = Vec::new();
    for (subdomain, account) in &scenario.accounts {
        let cert_mode = account.tls.unwrap_or(CertMode::Valid);
        let external = match &account.external {
            Some(url) => Some(
                crate::core::directory::ExternalUrl::parse(url.get_ref())
                    .map_err(|why| format!("account {}: `external`: {why}", subdomain.get_ref()))?,
            ),
            None => None,
        };
        specs.push(AccountSpec {
            external,
            subdomain: subdomain.get_ref().clone(),
            display_name: account.display_name.clone(),
            port: None,
            start: account.start,
            cert_mode,
            fault: account
                .fault
                .as_ref()
                .map(|rule| fault_rule(subdomain.get_ref(), rule)),
            settings: crate::core::account::AccountSettings {
                decline_all_invites: account.decline_all_invites,
            },
            ticket_fields: account
                .ticket_fields
                .iter()
                .map(format::TicketFieldSpec::definition)
                .collect(),
        });
    }
    Ok(specs)
}

/// The world's fault rule for a scenario's fault on the links into `target`.
fn fault_rule(target: &str, rule: &format::FaultRule) -> FaultRule {
    let mut world_rule = FaultRule::to(target, rule.fault);
    if let Some(from) = &rule.from {
        world_rule = world_rule.from(from.get_ref());
    }
    if let Some(times) = rule.times {
        world_rule = world_rule.times(times);
    }
    world_rule
}

/// An agreement handle: which accounts hold its two copies and the uuid they share.
#[derive(Clone, Debug)]
struct AgreementHandle {
    sender: String,
    receiver: String,
    uuid: String,
}

/// A ticket handle: the account that created it and the uuid it shares under.
#[derive(Clone, Debug)]
struct TicketHandle {
    origin: String,
    uuid: String,
}

/// Why a step failed, before it is placed in the outcome.
struct Problem {
    message: String,
    diffs: Vec<FieldDiff>,
}

impl Problem {
    /// A step handed to the wrong family's runner: a bug in the dispatch, reported as a
    /// failed step rather than a panic.
    fn misrouted(action: &Action, family: &str) -> Problem {
        Problem::new(format!("`{}` is not a {family} step", action.key()))
    }

    fn new(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            diffs: Vec::new(),
        }
    }
}

/// An HTTP answer from an account's REST API.
struct Answer {
    status: u16,
    body: Value,
}

/// Runs steps on one world. What it learns and must remember between steps (handles,
/// divergences) is its [`Session`], so a file's run and a live world's steps keep the
/// same state in the same place.
struct Runner<'a> {
    world: &'a World,
    session: Session,
    /// The HTTP status of every REST call of the current step (for a watcher); the
    /// runners of a group's actions share their group's.
    answers: Arc<std::sync::Mutex<Vec<u16>>>,
    /// This runner drives one action of a `concurrently` group.
    in_group: bool,
    /// The `updated_at` each (account, ticket handle) had when the current group
    /// began: what a `safe_update` in the group read.
    read_stamps: BTreeMap<ticket_writes::ReadKey, String>,
    /// A learner's choices of held messages (lessons), shared with the run's outcome.
    choices: Option<Arc<races::Choices>>,
}

impl<'a> Runner<'a> {
    fn new(world: &'a World, session: Session) -> Runner<'a> {
        Runner {
            world,
            session,
            answers: Arc::default(),
            in_group: false,
            read_stamps: BTreeMap::new(),
            choices: None,
        }
    }
}

impl Runner<'_> {
    /// Runs one step: the dispatch by action family, each family in its own file.
    async fn step(&mut self, step: &Step) -> Result<(), Problem> {
        use Action::*;
        match &step.action {
            Invite(_) | Respond(_) | Deactivate(_) | Delete(_) | Resend(_) | Request(_) => {
                self.agreement_step(step).await
            }
            Wait(_) | Expect(_) | ExpectTicket(_) => self.check_step(step).await,
            Certificate(_) | Fault(_) | Heal(_) | Stop(_) | Start(_) | Restart(_) => {
                self.world_step(step).await
            }
            Ticket(_) | Share(_) | Unshare(_) | Comment(_) | SetStatus(_) => {
                self.ticket_step(step).await
            }
            Concurrently(_) | Hold(_) | Duplicate(_) | LoseReply(_) | Release(_) => {
                self.race_step(step).await
            }
        }
    }

    fn account(&self, subdomain: &str) -> Result<Arc<Account>, Problem> {
        self.world
            .account(subdomain)
            .ok_or_else(|| Problem::new(format!("no account {subdomain:?} in this world")))
    }

    fn handle(&self, handle: &format::Ref) -> Result<AgreementHandle, Problem> {
        self.session.agreements.get(handle.get_ref()).cloned().ok_or_else(|| {
            Problem::new(format!(
                "agreement {:?} does not exist: the invite that defines it did not create an agreement",
                handle.get_ref()
            ))
        })
    }

    /// The copy of `handle` on `account`, if that account holds one.
    fn copy(&self, account: &str, handle: &format::Ref) -> Result<Option<Agreement>, Problem> {
        let handle = self.handle(handle)?;
        Ok(self.account(account)?.agreement_by_uuid(&handle.uuid))
    }

    fn copy_id(&self, account: &format::Ref, handle: &format::Ref) -> Result<u64, Problem> {
        self.copy_id_on(account.get_ref(), handle)
    }

    fn copy_id_on(&self, account: &str, handle: &format::Ref) -> Result<u64, Problem> {
        self.copy(account, handle)?
            .map(|copy| copy.id)
            .ok_or_else(|| {
                Problem::new(format!(
                    "{account} holds no copy of agreement {:?}",
                    handle.get_ref()
                ))
            })
    }

    /// A REST call as `user` of `subdomain`, like an API client would make it.
    async fn call(
        &self,
        subdomain: &str,
        user: format::User,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, Problem> {
        let account = self.account(subdomain)?;
        let email = match user {
            format::User::Admin => account.admin_email(),
            format::User::Agent => account.agent_email(),
        };
        let call = rest::RestCall {
            method,
            path,
            email,
            body: body.map(|body| body.to_string().into_bytes()),
            surface_check: false,
        };
        let answer = rest::send(self.world, &account, call).await.map_err(|e| {
            Problem::new(format!(
                "could not reach {subdomain}'s REST API (is it stopped?): {e}"
            ))
        })?;
        crate::core::trace::lock(&self.answers).push(answer.status);
        let body = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        Ok(Answer {
            status: answer.status,
            body,
        })
    }

    fn snapshot(&self) -> Vec<AccountSnapshot> {
        let handles: BTreeMap<&str, &str> = self
            .session
            .agreements
            .iter()
            .map(|(name, handle)| (handle.uuid.as_str(), name.as_str()))
            .collect();
        let ticket_names = self.ticket_handle_names();
        self.world
            .account_views()
            .into_iter()
            .map(|view| AccountSnapshot {
                subdomain: view.subdomain().to_string(),
                tickets: self.ticket_rows(view.subdomain(), &view.tickets, &ticket_names),
                agreements: view
                    .agreements
                    .into_iter()
                    .map(|a| AgreementRow {
                        handle: handles.get(a.uuid.as_str()).map(|h| h.to_string()),
                        id: a.id,
                        direction: a.direction.to_string(),
                        status: a.status.to_string(),
                        remote_subdomain: a.remote_subdomain.map(String::from),
                        name: a.name.to_string(),
                        uuid: a.uuid.to_string(),
                    })
                    .collect(),
            })
            .collect()
    }
}
