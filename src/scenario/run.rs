//! Runs one parsed scenario: starts its world on ephemeral loopback ports, performs each
//! step through the accounts' real REST API (or the world's controls for faults and
//! certificates), checks expectations, and returns an [`Outcome`].
//!
//! Steps run in order; each REST call returns only once the handshake it started has
//! settled (accounts deliver partner messages before answering), so no step needs to
//! sleep. After every step the runner checks that both copies of every agreement agree.

mod expect;
mod live;
mod races;
mod rest;
mod surfaces;
mod ticket_writes;
mod tickets;
pub mod watch;

pub use live::{HandleRecord, Handles, Session, StepResult};

use super::format::{self, Action, Expectation, Scenario, Step};
use super::outcome::{
    AccountSnapshot, AgreementRow, Failure, FieldDiff, Outcome, Paused, StepRecord,
};
use crate::account::Account;
use crate::consistency;
use crate::faults::FaultRule;
use crate::model::{Agreement, AgreementStatus};
use crate::network::NetworkKind;
use crate::tls::CertMode;
use crate::trace::{EventDraft, EventKind};
use crate::world::{AccountSpec, World, WorldConfig};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
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
    pub planted_bugs: crate::account::planted::PlantedBugs,
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
                crate::network::run_simulated(run_here(&owned, &owned_settings))
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
        trace: Vec::new(),
    }
}

/// Runs a scenario on the calling task's runtime. On the simulated network that must be
/// a current-thread runtime with a paused clock ([`crate::network::run_simulated`]);
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
    for (index, step) in scenario.steps.iter().enumerate() {
        let number = index + 1;
        let location = format!("{}:{}", scenario.file(), step.position.line);
        if let Some(note) = &step.note {
            world.trace().record(
                EventKind::Note,
                EventDraft {
                    from: "scenario".to_string(),
                    to: "scenario".to_string(),
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
        outcome.steps.push(StepRecord {
            number,
            action: step.action.key().to_string(),
            location: location.clone(),
            note: step.note.clone(),
            first_event,
            last_event: world.trace().last_seq(),
            accounts: if settings.snapshots {
                runner.snapshot()
            } else {
                Vec::new()
            },
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
                crate::directory::ExternalUrl::parse(url.get_ref())
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
            settings: crate::account::AccountSettings {
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
    /// The HTTP status of every REST call of the current step (for a watcher).
    answers: std::sync::Mutex<Vec<u16>>,
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
            answers: std::sync::Mutex::new(Vec::new()),
            in_group: false,
            read_stamps: BTreeMap::new(),
            choices: None,
        }
    }
}

impl Runner<'_> {
    async fn step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Invite(invite) => self.invite(step, invite).await,
            Action::Respond(respond) => {
                let status = respond.status.as_str();
                self.put_status(
                    step,
                    &respond.account,
                    &respond.agreement,
                    respond.user,
                    status,
                )
                .await
            }
            Action::Deactivate(target) => {
                self.put_status(
                    step,
                    &target.account,
                    &target.agreement,
                    target.user,
                    "inactive",
                )
                .await
            }
            Action::Delete(target) => {
                let id = self.copy_id(&target.account, &target.agreement)?;
                let answer = self
                    .call(
                        target.account.get_ref(),
                        target.user,
                        "DELETE",
                        &format!("/api/v2/sharing_agreements/{id}.json"),
                        None,
                    )
                    .await?;
                check_answer(step, &answer)
            }
            Action::Resend(resend) => {
                let handle = self.handle(&resend.agreement)?;
                let account = resend
                    .account
                    .as_ref()
                    .map(|a| a.get_ref().clone())
                    .unwrap_or(handle.sender);
                let id = self.copy_id_on(&account, &resend.agreement)?;
                let answer = self
                    .call(
                        &account,
                        resend.user,
                        "PUT",
                        &format!("/api/v2/sharing_agreements/{id}.json"),
                        Some(json!({"sharing_agreement": {"status": "pending"}})),
                    )
                    .await?;
                check_answer(step, &answer)
            }
            Action::Request(request) => {
                let answer = self
                    .call(
                        request.account.get_ref(),
                        request.user,
                        request.method.as_str(),
                        &request.path,
                        request.body.clone(),
                    )
                    .await?;
                check_answer(step, &answer)
            }
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
            Action::Ticket(ticket) => self.create_ticket(step, ticket).await,
            Action::Share(share) => {
                let (account, ticket) =
                    self.ticket_action_target(&share.ticket, share.account.as_ref())?;
                let agreement = self.copy_id_on(&account, &share.agreement)?;
                let mut ids = ticket.sharing_agreement_ids();
                if !ids.contains(&agreement) {
                    ids.push(agreement);
                }
                self.update_ticket(
                    step,
                    &account,
                    ticket.id,
                    json!({ "sharing_agreement_ids": ids }),
                )
                .await
            }
            Action::Unshare(unshare) => {
                let (account, ticket) =
                    self.ticket_action_target(&unshare.ticket, unshare.account.as_ref())?;
                let sent = ticket.sent.as_ref().map(|share| share.agreement_id);
                let ids: Vec<u64> = ticket
                    .sharing_agreement_ids()
                    .into_iter()
                    .filter(|id| Some(*id) != sent)
                    .collect();
                self.update_ticket(
                    step,
                    &account,
                    ticket.id,
                    json!({ "sharing_agreement_ids": ids }),
                )
                .await
            }
            Action::Comment(comment) => self.comment(step, comment).await,
            Action::SetStatus(change) => self.set_status(step, change).await,
            Action::ExpectTicket(check) => self.expect_ticket(check),
            Action::Concurrently(format::Concurrently(group)) => self.concurrently(group).await,
            Action::Hold(_) | Action::Duplicate(_) | Action::LoseReply(_) => {
                self.control_link(&step.action);
                Ok(())
            }
            Action::Release(release) => self.release(release).await,
        }
    }

    async fn invite(&mut self, step: &Step, invite: &format::Invite) -> Result<(), Problem> {
        let mut fields = serde_json::Map::new();
        fields.insert("remote_subdomain".into(), json!(invite.to.get_ref()));
        if let Some(name) = &invite.name {
            fields.insert("name".into(), json!(name));
        }
        let terms = &invite.terms;
        let mut term_fields = serde_json::Map::new();
        for (key, value) in [
            ("sync_tags", terms.sync_tags),
            ("sync_custom_fields", terms.sync_custom_fields),
            ("allows_public_comments", terms.allows_public_comments),
            ("sync_status", terms.sync_status),
        ] {
            if let Some(value) = value {
                term_fields.insert(key.into(), json!(value));
            }
        }
        if !term_fields.is_empty() {
            fields.insert("terms".into(), Value::Object(term_fields));
        }
        let from = invite.from.get_ref();
        let answer = self
            .call(
                from,
                invite.user,
                "POST",
                "/api/v2/sharing_agreements.json",
                Some(json!({ "sharing_agreement": fields })),
            )
            .await?;
        check_answer(step, &answer)?;
        if let Some(id) = answer.body["sharing_agreement"]["id"].as_u64() {
            let account = self.account(from)?;
            if let Some(copy) = account.agreement_by_id(id) {
                self.session
                    .handles_by_uuid
                    .insert(copy.uuid.clone(), invite.handle.get_ref().clone());
                self.session.agreements.insert(
                    invite.handle.get_ref().clone(),
                    AgreementHandle {
                        sender: from.clone(),
                        receiver: invite.to.get_ref().clone(),
                        uuid: copy.uuid,
                    },
                );
            }
        }
        Ok(())
    }

    async fn put_status(
        &mut self,
        step: &Step,
        account: &format::Ref,
        agreement: &format::Ref,
        user: format::User,
        status: &str,
    ) -> Result<(), Problem> {
        let id = self.copy_id(account, agreement)?;
        let answer = self
            .call(
                account.get_ref(),
                user,
                "PUT",
                &format!("/api/v2/sharing_agreements/{id}.json"),
                Some(json!({"sharing_agreement": {"status": status}})),
            )
            .await?;
        check_answer(step, &answer)
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
        crate::trace::lock(&self.answers).push(answer.status);
        let body = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        Ok(Answer {
            status: answer.status,
            body,
        })
    }

    /// Compares both copies of every agreement; a new divergence must be asserted by an
    /// `expect = { divergence = … }` before any other kind of step runs.
    fn check_consistency(&mut self, number: usize, step: &Step) -> Result<(), Problem> {
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

    fn snapshot(&self) -> Vec<AccountSnapshot> {
        let handles: BTreeMap<&str, &str> = self
            .session
            .agreements
            .iter()
            .map(|(name, handle)| (handle.uuid.as_str(), name.as_str()))
            .collect();
        let ticket_names = self.ticket_handle_names();
        self.world
            .accounts()
            .iter()
            .map(|account| AccountSnapshot {
                subdomain: account.subdomain().to_string(),
                agreements: account
                    .agreements()
                    .into_iter()
                    .map(|a| AgreementRow {
                        handle: handles.get(a.uuid.as_str()).map(|h| h.to_string()),
                        id: a.id,
                        direction: a.direction.to_string(),
                        status: a.status.to_string(),
                        remote_subdomain: a.remote_subdomain.clone(),
                        name: a.name.clone(),
                        uuid: a.uuid.clone(),
                    })
                    .collect(),
                tickets: self.ticket_rows(account, &ticket_names),
            })
            .collect()
    }
}

fn describe(status: Option<AgreementStatus>) -> String {
    status.map_or("absent".to_string(), |s| s.to_string())
}

/// Checks a REST answer against the step: `expect_status`, `expect_error` (a substring of
/// the error's descriptions), `expect_body` (JSON subset); success (2xx) otherwise.
fn check_answer(step: &Step, answer: &Answer) -> Result<(), Problem> {
    let mut diffs = Vec::new();
    let ok = (200..300).contains(&answer.status);
    match (step.expected_status(), &step.expect_error) {
        (Some(expected), _) if expected != answer.status => diffs.push(FieldDiff {
            field: "http status".into(),
            expected: expected.to_string(),
            actual: answer.status.to_string(),
        }),
        (None, Some(_)) if ok => diffs.push(FieldDiff {
            field: "http status".into(),
            expected: "a refusal (4xx)".into(),
            actual: answer.status.to_string(),
        }),
        // In a race, a refusal is one of the outcomes the seed may pick.
        (None, None) if !ok && !race_refusal(step, answer) => diffs.push(FieldDiff {
            field: "http status".into(),
            expected: "success (2xx)".into(),
            actual: format!("{} {}", answer.status, error_text(&answer.body)),
        }),
        _ => {}
    }
    if let Some(words) = &step.expect_error {
        let text = error_text(&answer.body);
        if !text.contains(words.as_str()) {
            diffs.push(FieldDiff {
                field: "error".into(),
                expected: format!("contains {words:?}"),
                actual: if text.is_empty() {
                    "(no error)".into()
                } else {
                    text
                },
            });
        }
    }
    if let Some(expected) = step.expected_body()
        && let Some(path) = subset_mismatch(expected, &answer.body, "body")
    {
        diffs.push(FieldDiff {
            field: path.0,
            expected: path.1,
            actual: path.2,
        });
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Problem {
            message: format!(
                "the `{}` call was answered {}",
                step.action.key(),
                answer.status
            ),
            diffs,
        })
    }
}

/// A refusal (4xx) of an action inside a `concurrently` group that states no
/// expectation of its own: one outcome the seed may pick, not a failure.
fn race_refusal(step: &Step, answer: &Answer) -> bool {
    step.in_group && (400..500).contains(&answer.status)
}

/// Every `error` and `description` string in a Zendesk error body, joined.
fn error_text(body: &Value) -> String {
    let mut parts = Vec::new();
    collect_descriptions(body, &mut parts);
    parts.join(" | ")
}

fn collect_descriptions(value: &Value, parts: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("error" | "description", Value::String(text)) => parts.push(text.clone()),
                    _ => collect_descriptions(value, parts),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_descriptions(item, parts)),
        _ => {}
    }
}

/// The first place where `expected` is not contained in `actual`: objects match when
/// every expected key matches, arrays element by element, scalars by equality.
/// Returns (path, expected, actual).
pub fn subset_mismatch(
    expected: &Value,
    actual: &Value,
    path: &str,
) -> Option<(String, String, String)> {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let path = format!("{path}.{key}");
            match have.get(key) {
                Some(actual) => subset_mismatch(value, actual, &path),
                None => Some((path, value.to_string(), "(missing)".into())),
            }
        }),
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                return Some((
                    format!("{path}.length"),
                    want.len().to_string(),
                    have.len().to_string(),
                ));
            }
            want.iter()
                .zip(have)
                .enumerate()
                .find_map(|(i, (w, h))| subset_mismatch(w, h, &format!("{path}[{i}]")))
        }
        (want, have) if want == have => None,
        // TOML has no null and integers may be compared with floats.
        (Value::Number(w), Value::Number(h)) if w.as_f64() == h.as_f64() => None,
        (want, have) => Some((path.to_string(), want.to_string(), have.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_matching_reports_the_first_difference() {
        let actual = json!({"a": {"b": [1, 2], "c": "x"}, "d": true});
        assert_eq!(
            subset_mismatch(&json!({"a": {"c": "x"}}), &actual, "body"),
            None
        );
        assert_eq!(
            subset_mismatch(&json!({"a": {"c": "y"}}), &actual, "body"),
            Some(("body.a.c".into(), "\"y\"".into(), "\"x\"".into()))
        );
        assert_eq!(
            subset_mismatch(&json!({"e": 1}), &actual, "body"),
            Some(("body.e".into(), "1".into(), "(missing)".into()))
        );
        assert_eq!(
            subset_mismatch(&json!({"a": {"b": [1]}}), &actual, "body"),
            Some(("body.a.b.length".into(), "1".into(), "2".into()))
        );
    }

    #[test]
    fn error_text_gathers_every_description() {
        let body = json!({"error": "RecordInvalid", "description": "Record validation errors", "details": {"status": [{"description": "final", "error": "InvalidValue"}]}});
        assert_eq!(
            error_text(&body),
            "RecordInvalid | Record validation errors | final | InvalidValue"
        );
    }
}
