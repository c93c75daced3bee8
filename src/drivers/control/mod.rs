//! The control API of `sharesim serve`: a second loopback listener, protected by a
//! bearer token, through which a test drives the live world in the scenario step
//! language (`POST /steps`), reads and follows the journal, counts events (`/verify`),
//! and takes, restores or resets the world's state (`/snapshot`, `/reset`).
//!
//! Handlers are thin: extract, call [`Control`], map the result; every refusal is a
//! [`ControlError`]. Steps run one call at a time, in order, through the scenario
//! runner's own code ([`crate::drivers::scenario::run::Session`]).

mod error;
pub(crate) mod journal;
pub(crate) mod live;

pub(crate) use error::{ControlError, ErrorBody};

use crate::core::tls::CertMode;
use crate::drivers::scenario::format::Step;
use crate::drivers::scenario::json_steps::parse_steps;
use crate::drivers::scenario::run::{Handles, Session, StepResult};
use crate::drivers::snapshot::WorldSnapshot;
use crate::world::World;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use journal::{EventFilter, JournalPage, JournalQuery, Verdict, Verification};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A hook called after every change the control API makes, with the session's handles
/// (durable state uses it). It may block: it runs on a blocking thread. On an error the
/// change is undone: the world is put back as [`DurableState`] says.
pub(crate) type ChangeHook = Arc<dyn Fn(Handles) -> Result<(), String> + Send + Sync>;

/// The last durable state of the world, which an undo restores.
pub(crate) type DurableState = Arc<dyn Fn() -> WorldSnapshot + Send + Sync>;

/// The control side of a served world: the world, the step session and the token.
pub(crate) struct Control {
    world: Arc<World>,
    session: tokio::sync::Mutex<Session>,
    token: String,
    shutdown: CancellationToken,
    after_change: Option<(ChangeHook, DurableState)>,
    /// What `GET /openapi.json` answers (the `openapi` module, above this one, makes it).
    openapi: Value,
    /// How the live view draws the journal (the `report` module, above this one).
    diagram: Option<live::DiagramRenderer>,
    /// How the live view draws a status grid (the `report` module too).
    grid: Option<live::GridRenderer>,
    /// The paths of agreements' pairs the live view has seen, for its grids.
    pairs: live::PairTracker,
    /// The address the API is bound to, which `Host` may name besides loopback.
    bound: Option<String>,
    /// The open journal streams, which share one reader per filter.
    streams: journal::Streams,
}

/// The answer of `POST /steps`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct StepsOutcome {
    /// Whether every step passed.
    pub passed: bool,
    /// What each step that ran did, in order; a failed step is the last one run.
    pub steps: Vec<StepOutcome>,
    /// How many steps after a failed one were not run.
    pub skipped: usize,
}

/// One step's outcome in `POST /steps`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct StepOutcome {
    /// Index of the step in the array, from 0.
    pub step: usize,
    /// The step's action key.
    pub action: String,
    /// Whether it did what it asked and its expectations held.
    pub passed: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Expected vs actual, field by field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<Diff>,
    /// First journal event the step recorded.
    pub first_event: u64,
    /// Last journal event when the step ended.
    pub last_event: u64,
}

/// One field that did not match.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Diff {
    /// The field.
    pub field: String,
    /// What the step expected.
    pub expected: String,
    /// What the world showed.
    pub actual: String,
}

impl StepOutcome {
    fn new(step: usize, result: StepResult) -> StepOutcome {
        StepOutcome {
            step,
            action: result.action,
            passed: result.passed,
            message: result.message,
            diffs: result
                .diffs
                .into_iter()
                .map(|d| Diff {
                    field: d.field,
                    expected: d.expected,
                    actual: d.actual,
                })
                .collect(),
            first_event: result.first_event,
            last_event: result.last_event,
        }
    }
}

/// One account as `GET /accounts` shows it: the ready file's entry plus its state.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct AccountInfo {
    /// The subdomain.
    pub subdomain: String,
    /// The name partners see.
    pub display_name: String,
    /// The REST API base URL on loopback.
    pub api_url: String,
    /// The partner protocol base URL on loopback.
    pub sharing_url: String,
    /// The admin's email (HTTP Basic `{email}/token:{api_token}`).
    pub admin_email: String,
    /// The agent's email.
    pub agent_email: String,
    /// The API token of both users.
    pub api_token: String,
    /// Whether its listener runs.
    pub running: bool,
    /// The certificate mode it presents.
    pub certificate: CertMode,
    /// Faults on the links into it, as `fault` step tables.
    pub faults: Vec<Value>,
    /// How many agreement copies it holds, by status.
    pub agreements: BTreeMap<String, usize>,
    /// How many tickets it holds.
    pub tickets: usize,
}

/// The body of `GET /accounts`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Accounts {
    /// Every account, in the world's order.
    pub accounts: Vec<AccountInfo>,
}

/// The answer of `POST /reset` and `PUT /snapshot`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Restored {
    /// The journal event that marks the change.
    pub seq: u64,
}

impl Control {
    /// The control side of `world`; `token` is what callers must present.
    pub(crate) fn new(world: Arc<World>, token: String, shutdown: CancellationToken) -> Control {
        Control {
            streams: journal::Streams::new(world.trace().clone()),
            world,
            session: tokio::sync::Mutex::new(Session::default()),
            token,
            shutdown,
            after_change: None,
            openapi: Value::Null,
            diagram: None,
            grid: None,
            pairs: live::PairTracker::default(),
            bound: None,
        }
    }

    /// Accepts `Host: ADDRESS` (with any port) besides loopback names.
    pub(crate) fn with_bound_address(mut self, address: std::net::IpAddr) -> Control {
        self.bound = Some(address.to_string());
        self
    }

    /// Serves `document` at `GET /openapi.json`.
    pub(crate) fn with_openapi(mut self, document: Value) -> Control {
        self.openapi = document;
        self
    }

    /// Draws the live view's diagram with `renderer`.
    pub(crate) fn with_diagram(mut self, renderer: live::DiagramRenderer) -> Control {
        self.diagram = Some(renderer);
        self
    }

    /// Draws the live view's status grids with `renderer`.
    pub(crate) fn with_grid(mut self, renderer: live::GridRenderer) -> Control {
        self.grid = Some(renderer);
        self
    }

    /// Calls `hook` after every change made through the control API; when it fails,
    /// puts the world back as `durable` says.
    pub(crate) fn with_after_change(mut self, hook: ChangeHook, durable: DurableState) -> Control {
        self.after_change = Some((hook, durable));
        self
    }

    /// Calls the change hook; the caller still holds the session, so changes are
    /// saved in the order they were made. A change that could not be saved is undone.
    async fn changed(&self, session: &mut Session) -> Result<(), ControlError> {
        let Some((hook, durable)) = self.after_change.clone() else {
            return Ok(());
        };
        let handles = session.handles();
        let saved = tokio::task::spawn_blocking(move || hook(handles))
            .await
            .map_err(|e| e.to_string())
            .and_then(|saved| saved);
        let Err(message) = saved else {
            return Ok(());
        };
        let snapshot = durable();
        let undone = self.put_back(session, &snapshot).await;
        self.world.trace().world(
            "world",
            format!("a change could not be made durable and was undone: {message}"),
        );
        Err(ControlError::NotDurable(match undone {
            Ok(()) => format!("the change could not be made durable and was undone: {message}"),
            Err(error) => format!(
                "the change could not be made durable ({message}), and undoing it failed too ({error}): restart serve on its state file"
            ),
        }))
    }

    /// Checks a JSON array of steps, then runs them in order, stopping at the first that
    /// fails. Nothing runs when any step is invalid.
    pub(crate) async fn run_json_steps(&self, steps: &Value) -> Result<StepsOutcome, ControlError> {
        let mut session = self.session.lock().await;
        let accounts = self.account_names();
        let externals = self.external_names();
        let steps = parse_steps(steps, &accounts, &externals, &session)
            .map_err(ControlError::InvalidStep)?;
        check_waits(&steps)?;
        let outcome = self.run_parsed(&mut session, &steps).await;
        self.changed(&mut session).await?;
        Ok(outcome)
    }

    /// Runs already checked steps (a scenario file's) in order, stopping at the first
    /// that fails.
    pub(crate) async fn run_steps(&self, steps: &[Step]) -> StepsOutcome {
        let mut session = self.session.lock().await;
        let outcome = self.run_parsed(&mut session, steps).await;
        // Only at start (a scenario's steps), where a failed write stops `serve` anyway.
        let _ = self.changed(&mut session).await;
        outcome
    }

    async fn run_parsed(&self, session: &mut Session, steps: &[Step]) -> StepsOutcome {
        let mut outcome = StepsOutcome {
            passed: true,
            steps: Vec::new(),
            skipped: 0,
        };
        for (index, step) in steps.iter().enumerate() {
            let result = session.run_step(&self.world, step).await;
            let passed = result.passed;
            outcome.steps.push(StepOutcome::new(index, result));
            if !passed {
                outcome.passed = false;
                outcome.skipped = steps.len() - index - 1;
                break;
            }
        }
        outcome
    }

    fn account_names(&self) -> Vec<String> {
        self.world
            .accounts()
            .iter()
            .map(|a| a.subdomain().to_string())
            .collect()
    }

    /// The accounts outside the process (`serve --partner`).
    fn external_names(&self) -> Vec<String> {
        self.world
            .externals()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Every account with its URLs, credentials and state.
    pub(crate) fn accounts(&self) -> Accounts {
        let accounts = self
            .world
            .account_views()
            .into_iter()
            .map(|view| {
                let account = &view.account;
                let mut agreements = BTreeMap::new();
                for agreement in &view.agreements {
                    *agreements.entry(agreement.status.to_string()).or_insert(0) += 1;
                }
                AccountInfo {
                    subdomain: account.subdomain().to_string(),
                    display_name: account.display_name().to_string(),
                    api_url: account.api_url(),
                    sharing_url: account.loopback_sharing_url(),
                    admin_email: account.admin_email().to_string(),
                    agent_email: account.agent_email().to_string(),
                    api_token: account.api_token().to_string(),
                    running: view.running,
                    certificate: view.certificate,
                    faults: view
                        .faults
                        .iter()
                        .map(crate::drivers::snapshot::fault_table)
                        .collect(),
                    agreements,
                    tickets: view.tickets.len(),
                }
            })
            .collect();
        Accounts { accounts }
    }

    /// The whole world's state, with the session's handles.
    pub(crate) async fn snapshot(&self) -> WorldSnapshot {
        let session = self.session.lock().await;
        WorldSnapshot::capture(&self.world, session.handles())
    }

    /// Restores `snapshot` (checked whole first: nothing changes if any part is invalid).
    pub(crate) async fn restore(&self, snapshot: &WorldSnapshot) -> Result<Restored, ControlError> {
        let mut session = self.session.lock().await;
        snapshot
            .check(&self.world)
            .map_err(ControlError::InvalidSnapshot)?;
        self.fault_steps(snapshot)?;
        self.put_back(&mut session, snapshot)
            .await
            .map_err(ControlError::Internal)?;
        self.world
            .trace()
            .world("world", "the world's state was restored from a snapshot");
        let seq = self.world.trace().last_seq();
        self.changed(&mut session).await?;
        Ok(Restored { seq })
    }

    /// The snapshot's faults as checked `fault` steps.
    fn fault_steps(&self, snapshot: &WorldSnapshot) -> Result<Vec<Step>, ControlError> {
        // Faults are restored as `fault` steps, so they are checked like steps are.
        let fault_steps: Vec<Value> = snapshot
            .faults
            .iter()
            .map(|table| serde_json::json!({ "fault": table }))
            .collect();
        parse_steps(
            &Value::Array(fault_steps),
            &self.account_names(),
            &self.external_names(),
            &Session::default(),
        )
        .map_err(|error| {
            ControlError::InvalidSnapshot(crate::drivers::snapshot::SnapshotError {
                field: match error.step {
                    Some(index) => {
                        format!("faults[{index}]{}", error.field.trim_start_matches("fault"))
                    }
                    None => "faults".to_string(),
                },
                message: error.message,
            })
        })
    }

    /// Puts the world and the session as a checked snapshot says, without saving.
    async fn put_back(
        &self,
        session: &mut Session,
        snapshot: &WorldSnapshot,
    ) -> Result<(), String> {
        let faults = self.fault_steps(snapshot).map_err(|e| e.to_string())?;
        snapshot.restore_accounts(&self.world).await?;
        *session = Session::from_handles(&snapshot.handles);
        for step in &faults {
            let result = session.run_step(&self.world, step).await;
            if !result.passed {
                return Err(result.message.unwrap_or_default());
            }
        }
        *session = Session::from_handles(&snapshot.handles);
        Ok(())
    }

    /// Empties every account, heals every fault, makes every certificate valid, starts
    /// every account and forgets every handle. The journal goes on.
    pub(crate) async fn reset(&self) -> Result<Restored, ControlError> {
        let empty = WorldSnapshot::empty(&self.world);
        self.restore(&empty).await?;
        self.pairs.clear();
        self.world
            .trace()
            .world("world", "reset: every account is empty again");
        Ok(Restored {
            seq: self.world.trace().last_seq(),
        })
    }
}

/// The longest `wait` a control call may ask for: a call holds the step session (and
/// with it `/steps`, `/snapshot` and `/reset`) while it waits.
pub(crate) const MAX_CONTROL_WAIT_MS: u64 = 60_000;

/// Refuses a `wait` longer than [`MAX_CONTROL_WAIT_MS`]; nothing runs.
fn check_waits(steps: &[Step]) -> Result<(), ControlError> {
    for (index, step) in steps.iter().enumerate() {
        if let crate::drivers::scenario::format::Action::Wait(wait) = &step.action
            && wait.timeout_ms.is_some_and(|ms| ms > MAX_CONTROL_WAIT_MS)
        {
            return Err(ControlError::InvalidStep(
                crate::drivers::scenario::json_steps::StepError {
                    step: Some(index),
                    field: "wait.timeout_ms".into(),
                    message: format!(
                        "through the control API a wait lasts at most {MAX_CONTROL_WAIT_MS} ms (it holds every other step meanwhile); wait again if it must be longer"
                    ),
                },
            ));
        }
    }
    Ok(())
}

/// The fewest characters a control token may have: a short one can be guessed.
pub(crate) const MIN_TOKEN_CHARS: usize = 16;

/// A fresh control token: 40 hex characters from the operating system's RNG.
pub(crate) fn random_token() -> String {
    use rand::TryRng;
    let mut bytes = [0u8; 20];
    if rand::rngs::SysRng.try_fill_bytes(&mut bytes).is_err() {
        // No OS RNG: fall back to the thread RNG (itself seeded from the OS).
        return crate::core::account::random_token();
    }
    hex::encode(bytes)
}

/// The control API's routes, behind the bearer-token check, and the live view's page.
pub(crate) fn router(control: Arc<Control>) -> Router {
    Router::new()
        .route("/steps", post(post_steps))
        .route("/accounts", get(get_accounts))
        .route("/journal", get(get_journal))
        .route("/journal/stream", get(get_journal_stream))
        .route("/verify", post(post_verify))
        .route("/reset", post(post_reset))
        .route("/snapshot", get(get_snapshot).put(put_snapshot))
        .route("/openapi.json", get(get_openapi))
        .route("/ui/view", get(live::view))
        .route("/ui/diagram.svg", get(live::diagram))
        .route("/ui/grids", get(live::grids))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(control.clone(), authorize))
        // Added after the bearer check: the page takes its token from the query (a
        // person opens it), and its script and style sheet carry no data.
        .route("/ui", get(live::page))
        .route("/ui/live.js", get(live::script))
        .route("/ui/live.css", get(live::style))
        // Outermost: a request under a name other than loopback's is refused before
        // anything else (DNS rebinding).
        .layer(middleware::from_fn_with_state(control.clone(), check_host))
        .with_state(control)
}

/// Serves the control API on `listener` until the world's shutdown, with the accounts'
/// connection cap and deadlines (`limits`). Shutdown waits for no request: open
/// connections get a short drain, then are closed.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    control: Arc<Control>,
    limits: crate::surfaces::listener::connection_limits::ConnectionLimits,
) {
    let shutdown = control.shutdown.clone();
    let tracker = tokio_util::task::TaskTracker::new();
    let listening = crate::surfaces::listener::ListenerControl::new(
        None,
        shutdown.clone(),
        crate::surfaces::listener::DRAIN,
    );
    crate::surfaces::listener::serve(
        crate::core::network::Listener::Tcp(listener),
        router(control),
        listening,
        shutdown,
        tracker.clone(),
        limits,
    )
    .await;
    tracker.close();
    tracker.wait().await;
}

/// Refuses a request whose `Host` is not loopback (`localhost`, `127.0.0.1`, `[::1]`)
/// or the address the API is bound to, with any port: a web page that rebinds its own
/// name to 127.0.0.1 still sends its own name.
async fn check_host(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().host().map(str::to_string));
    match host {
        Some(host)
            if crate::core::host::is_allowed(&host, control.bound.as_deref(), &[] as &[&str]) =>
        {
            next.run(request).await
        }
        _ => ControlError::WrongHost(format!(
            "the Host header {:?} is not this control API's address; call it at {}",
            host.unwrap_or_default(),
            control.bound.as_deref().unwrap_or("127.0.0.1")
        ))
        .into_response(),
    }
}

async fn authorize(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if same_secret(token, &control.token) => next.run(request).await,
        _ => ControlError::Unauthorized.into_response(),
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ControlError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ControlError::BadRequest(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(&value).map_err(|e| {
        ControlError::InvalidFilter(format!(
            "{}{}",
            match e.path().to_string().as_str() {
                "." => String::new(),
                path => format!("field `{path}`: "),
            },
            crate::drivers::scenario::parse::reword(&e.inner().to_string())
        ))
    })
}

async fn post_steps(
    State(control): State<Arc<Control>>,
    body: Bytes,
) -> Result<Json<StepsOutcome>, ControlError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ControlError::BadRequest(format!("the body is not JSON: {e}")))?;
    Ok(Json(control.run_json_steps(&value).await?))
}

async fn get_accounts(State(control): State<Arc<Control>>) -> Json<Accounts> {
    Json(control.accounts())
}

async fn get_journal(
    State(control): State<Arc<Control>>,
    query: Result<Query<JournalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JournalPage>, ControlError> {
    let Query(query) = query.map_err(|e| ControlError::BadRequest(e.body_text()))?;
    Ok(Json(journal::page(control.world.trace(), &query)))
}

async fn get_journal_stream(
    State(control): State<Arc<Control>>,
    headers: HeaderMap,
    query: Result<Query<EventFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ControlError> {
    let Query(mut filter) = query.map_err(|e| ControlError::BadRequest(e.body_text()))?;
    // A reconnecting EventSource resumes after the last event it saw.
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        filter.since = Some(last);
    }
    Ok(control
        .streams
        .stream(filter, control.shutdown.clone())
        .into_response())
}

async fn post_verify(
    State(control): State<Arc<Control>>,
    body: Bytes,
) -> Result<Json<Verdict>, ControlError> {
    let verification: Verification = json_body(&body)?;
    Ok(Json(journal::verify(control.world.trace(), &verification)))
}

async fn post_reset(State(control): State<Arc<Control>>) -> Result<Json<Restored>, ControlError> {
    Ok(Json(control.reset().await?))
}

async fn get_snapshot(State(control): State<Arc<Control>>) -> Json<WorldSnapshot> {
    Json(control.snapshot().await)
}

async fn put_snapshot(
    State(control): State<Arc<Control>>,
    body: Bytes,
) -> Result<Json<Restored>, ControlError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ControlError::BadRequest(format!("the body is not JSON: {e}")))?;
    let snapshot = WorldSnapshot::from_json(&value).map_err(ControlError::InvalidSnapshot)?;
    Ok(Json(control.restore(&snapshot).await?))
}

async fn get_openapi(State(control): State<Arc<Control>>) -> Json<Value> {
    Json(control.openapi.clone())
}

async fn unknown_path(uri: Uri) -> ControlError {
    ControlError::NotFound(uri.path().to_string())
}

async fn wrong_method(method: Method, uri: Uri) -> ControlError {
    ControlError::MethodNotAllowed(format!("{method} {}", uri.path()))
}
