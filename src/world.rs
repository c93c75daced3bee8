//! A world: a set of simulated accounts with their directory, clock, seeded RNG,
//! transport and trace. `serve` runs one until Ctrl-C; the scenario runner starts one
//! per scenario.
//!
//! Listeners are bound first and recorded in the directory, and only then are the
//! servers spawned: no sleeps, no retries, no fixed ports. One root cancellation token
//! covers the world, with a child per account, so stopping an account is cancelling its
//! child and shutdown is cancelling the root.

mod externals;
mod healing;
mod lifecycle;
mod occupant;
mod routing;
mod surfaces;
mod view;

use crate::core::account::{Account, AccountSettings, WorldServices};
use crate::core::clock::WorldClock;
use crate::core::consistency::AgreementDivergence;
use crate::core::directory::Directory;
use crate::core::directory::ExternalUrl;
use crate::core::faults::{Fault, FaultRule, FaultTable};
use crate::core::model::is_valid_subdomain;
use crate::core::model::ticket::fields::FieldDefinition;
use crate::core::network::client::{HttpClient, Resolve};
use crate::core::network::{Listener, Network, NetworkKind, Reservation};
use crate::core::tls::{
    CertMode, CertificateAuthority, ServerCertificate, TlsError, server_config,
};
use crate::core::trace::{Clock, Trace, lock};
use crate::core::transport::{Transport, TransportConfig, TransportError};
use crate::surfaces::external::Relay as External;
use crate::surfaces::listener;
use crate::surfaces::listener::connection_limits::ConnectionLimits;
use healing::closes_listener;
use indexmap::IndexMap;
use occupant::Occupant;
use routing::{account_router, after_write, after_write_with, write_hook_for};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
pub use view::{AccountView, TicketView};

/// Partner messages one REST call may wait on before the runner gives up on it (a
/// ticket update pushes to every agreement it is shared on, and each may be retried).
const MESSAGES_PER_CALL: u32 = 64;
/// The retry backoff one message may add, at most (see the transport).
const RETRY_BACKOFF_ALLOWANCE: Duration = Duration::from_secs(2);
/// The runner never waits less than this for a REST answer.
const MIN_PATIENCE: Duration = Duration::from_secs(60);

/// The API token every account gets unless told otherwise (documented in the README).
pub const DEFAULT_API_TOKEN: &str = "sharesim-token";

/// How a world is set up.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    /// Fixes access keys and every other random draw, and keeps agreement uuids the
    /// documented SHA-1 of a URL. None (what `serve` uses without `--seed`): keys come
    /// from the OS RNG and agreement uuids carry a secret, so no stranger can predict
    /// either (see [`crate::core::account::WorldServices`]).
    pub seed: Option<u64>,
    /// Serve every account over HTTPS.
    pub https: bool,
    /// Limit on each outbound partner message.
    pub timeout: Duration,
    /// Extra attempts after a failed partner message.
    pub retries: u32,
    /// Logical clock (deterministic traces) or wall clock (`serve`).
    pub logical_clock: bool,
    /// The loopback address listeners bind to.
    pub bind: IpAddr,
    /// The API token of every account.
    pub api_token: String,
    /// REST calls each account allows per minute before answering 429 (None: no limit).
    pub rate_limit: Option<u32>,
    /// The cap on connections and the deadlines each account's listener applies.
    pub connection_limits: ConnectionLimits,
    /// Names certificates carry besides `{subdomain}.sharesim.test` (`serve` adds
    /// `localhost` and `127.0.0.1` so real clients can verify by address).
    pub extra_cert_names: Vec<String>,
    /// The network accounts listen on and messages travel on. `Simulated` needs a
    /// current-thread runtime with a paused clock ([`crate::core::network::run_simulated`]).
    pub network: NetworkKind,
    /// Certificates (PEM) of the CAs whose HTTPS external accounts the relays trust,
    /// besides the world's own CA (`serve --partner-ca`).
    pub partner_ca_pem: Vec<String>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: Some(0),
            https: false,
            timeout: Duration::from_secs(10),
            retries: 0,
            logical_clock: true,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_token: DEFAULT_API_TOKEN.to_string(),
            extra_cert_names: Vec::new(),
            rate_limit: None,
            connection_limits: ConnectionLimits::default(),
            network: NetworkKind::Loopback,
            partner_ca_pem: Vec::new(),
        }
    }
}

/// One account to create in a world.
#[derive(Clone, Debug)]
pub struct AccountSpec {
    /// Lower-case `[a-z0-9-]`, 1–63 characters.
    pub subdomain: String,
    /// Shown in agreement names; defaults to the subdomain capitalised.
    pub display_name: Option<String>,
    /// Port to bind (0 or None: ephemeral).
    pub port: Option<u16>,
    /// Whether it listens from the start (false: it appears later via `start_account`).
    pub start: bool,
    /// The certificate it presents in an HTTPS world.
    pub cert_mode: CertMode,
    /// A fault on what is sent to it from the start (the accounts table's `fault`);
    /// its target must be this account.
    pub fault: Option<FaultRule>,
    /// An account outside the process at this sharing URL (see `surfaces::external`):
    /// the world runs only the relay to it.
    pub external: Option<ExternalUrl>,
    /// How it takes invitations (e.g. declining them all).
    pub settings: AccountSettings,
    /// Its custom ticket fields.
    pub ticket_fields: Vec<FieldDefinition>,
}

impl AccountSpec {
    /// An account that starts at once on an ephemeral port.
    pub fn new(subdomain: &str) -> AccountSpec {
        AccountSpec {
            subdomain: subdomain.to_string(),
            display_name: None,
            port: None,
            start: true,
            cert_mode: CertMode::Valid,
            fault: None,
            external: None,
            settings: AccountSettings::default(),
            ticket_fields: Vec::new(),
        }
    }

    /// An account outside the process at `url`, reached through the world's relay.
    pub fn external(subdomain: &str, url: ExternalUrl) -> AccountSpec {
        AccountSpec {
            external: Some(url),
            ..AccountSpec::new(subdomain)
        }
    }
}

/// Why a world or one of its accounts could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The subdomain breaks Zendesk's rules.
    #[error("{0:?} is not a valid subdomain: use 1 to 63 of a-z, 0-9 and -")]
    InvalidSubdomain(String),
    /// Two accounts with one subdomain.
    #[error("account {0:?} is declared twice")]
    Duplicate(String),
    /// No such account in this world.
    #[error("no account {0:?} in this world")]
    UnknownAccount(String),
    /// The runner's REST client could not be configured.
    #[error("could not configure the REST client's TLS: {0}")]
    RestClient(#[from] rustls::Error),
    /// The listener could not be bound.
    #[error("could not listen on {addr} for {subdomain}: {source}")]
    Bind {
        /// The account.
        subdomain: String,
        /// Where it tried to listen.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bind address is not loopback.
    #[error("{0} is not a loopback address: sharesim only listens on loopback")]
    NotLoopback(IpAddr),
    /// The outbound client could not be built.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Certificates could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An external account that cannot be set up.
    #[error("the external account {subdomain:?} cannot be added: {reason}")]
    External {
        /// The account.
        subdomain: String,
        /// Why not.
        reason: String,
    },
    /// A ticket field declared with an account cannot be made.
    #[error("account {subdomain:?} cannot have ticket field {title:?}: {reason}")]
    InvalidTicketField {
        /// The account.
        subdomain: String,
        /// The field's title.
        title: String,
        /// Why not.
        reason: String,
    },
    /// A fault that cannot be applied.
    #[error("the fault {fault} on {scope} cannot be applied: {reason}")]
    InvalidFault {
        /// The fault as a scenario spells it.
        fault: Fault,
        /// What it was meant to apply to.
        scope: String,
        /// Why not.
        reason: String,
    },
}

struct Slot {
    occupant: Occupant,
    port: u16,
    running: Option<CancellationToken>,
    cert_mode: CertMode,
    /// The certificate the listener presents (None: no TLS, either an HTTP world or `plain_http`).
    certificate: Option<Arc<ServerCertificate>>,
    /// The task that owns the listener; it hands the listener back when it ends.
    listener_task: Option<tokio::task::JoinHandle<Listener>>,
    /// Switches a running listener's TLS setting without closing its port.
    control: Option<Arc<listener::ListenerControl>>,
    /// While stopped, down or restarting: the port kept (connections are refused) so
    /// nothing can take it before the account starts again (see [`Network::park`]).
    reservation: Option<Reservation>,
}

/// Where a world keeps its [`WriteHook`], shared with every listener's router.
type WriteHookSlot = Arc<Mutex<Option<WriteHook>>>;

/// Called after every request that may have changed an account (any method but GET and
/// HEAD), before its answer leaves. `serve --state` keeps its file current with it, so
/// every answer a client saw is on disk, and a change that could not be saved is undone
/// and answered 503.
pub trait DurableWrites: Send + Sync {
    /// Whether some account may have changed since the last save (cheap: it runs on the
    /// request's task, and a refused request must cost next to nothing).
    fn dirty(&self) -> bool;
    /// How many times unsaved changes were undone so far.
    fn undo_count(&self) -> u64;
    /// The batch that will hold every change made so far: read once a request's change
    /// is made, and pass it to [`DurableWrites::save`].
    fn next_batch(&self) -> u64;
    /// Returns once `batch` is durable: concurrent requests share one write and one sync
    /// (whoever finds it unwritten writes every change made so far). Blocking. An error
    /// means the changes were undone.
    fn save(&self, batch: u64) -> Result<(), String>;
}

/// See [`DurableWrites`].
pub type WriteHook = Arc<dyn DurableWrites>;

/// A running set of accounts. Dropping it without `shutdown` cancels everything too.
pub struct World {
    services: Arc<WorldServices>,
    authority: Option<CertificateAuthority>,
    config: WorldConfig,
    network: Network,
    clock: WorldClock,
    /// The admin's REST client on this world's network (see [`World::rest_client`]).
    rest: HttpClient,
    slots: Mutex<IndexMap<String, Slot>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Accounts whose listener a `down` fault closed, to reopen on `heal`.
    down: Mutex<BTreeSet<String>>,
    /// See [`WriteHook`]; shared with every listener's router.
    after_write: Arc<Mutex<Option<WriteHook>>>,
    /// The client of every relay: it reaches external accounts' configured URLs only.
    relay_client: Arc<HttpClient>,
}

impl World {
    /// Starts a world: binds every listener that starts now, records them in the
    /// directory, then spawns the servers.
    pub async fn start(config: WorldConfig, specs: Vec<AccountSpec>) -> Result<World, WorldError> {
        if !config.bind.is_loopback() {
            return Err(WorldError::NotLoopback(config.bind));
        }
        crate::core::tls::install_crypto_provider();
        let network = Network::new(config.network);
        let clock = match config.network {
            NetworkKind::Simulated => WorldClock::simulated(),
            NetworkKind::Loopback => WorldClock::Wall,
        };
        let trace_clock = if config.logical_clock {
            Clock::logical_on(clock.clone())
        } else {
            Clock::Wall
        };
        let trace = Trace::new(trace_clock);
        let directory = Directory::new();
        let authority = if config.https {
            Some(CertificateAuthority::new(clock.clone())?)
        } else {
            None
        };
        let tls = match &authority {
            Some(authority) => authority.client_config(),
            None => crate::core::tls::untrusting_client_config()?,
        };
        let faults = Arc::new(FaultTable::new());
        let transport = Transport::new(
            directory.clone(),
            trace.clone(),
            faults.clone(),
            TransportConfig {
                timeout: config.timeout,
                retries: config.retries,
                tls,
                // An unseeded world's interleavings need no reproducing.
                seed: config.seed.unwrap_or_else(rand::random),
                network: network.clone(),
            },
        )?;
        let rest = HttpClient::new(
            network.clone(),
            Resolve::Literal,
            crate::core::tls::admin_client_config()?,
            crate::core::limits::MAX_REST_ANSWER_BYTES,
        );
        let relay_client = Arc::new(HttpClient::new(
            Network::Loopback,
            Resolve::Partners(directory.clone()),
            crate::core::tls::partner_client_config(authority.as_ref(), &config.partner_ca_pem)?,
            crate::core::limits::MAX_BODY_BYTES,
        ));
        let services = Arc::new(WorldServices::new(
            trace,
            directory.clone(),
            transport,
            faults,
            config.seed,
        ));
        let world = World {
            services,
            authority,
            config,
            network,
            clock,
            rest,
            slots: Mutex::new(IndexMap::new()),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            down: Mutex::new(BTreeSet::new()),
            after_write: Arc::new(Mutex::new(None)),
            relay_client,
        };
        for spec in &specs {
            world.add_account(spec)?;
        }
        for spec in &specs {
            if let Some(rule) = &spec.fault {
                if rule.target != spec.subdomain {
                    return Err(world.invalid_fault(
                        rule,
                        format!("it is declared on account {:?}", spec.subdomain),
                    ));
                }
                world.check_fault(rule)?;
                world.record_fault(rule);
                if closes_listener(rule) {
                    lock(&world.down).insert(rule.target.clone());
                } else {
                    world.services.faults.set(rule.clone());
                }
            }
        }
        // Bind everything first so every address is in the directory before any
        // server can receive a message that names another account.
        let mut bound = Vec::new();
        let down = lock(&world.down).clone();
        for spec in specs
            .iter()
            .filter(|spec| spec.start && !down.contains(&spec.subdomain))
        {
            bound.push((spec.subdomain.clone(), world.bind(&spec.subdomain).await?));
        }
        for (subdomain, listener) in bound {
            world.spawn(&subdomain, listener)?;
        }
        Ok(world)
    }

    fn add_account(&self, spec: &AccountSpec) -> Result<(), WorldError> {
        if !is_valid_subdomain(&spec.subdomain) {
            return Err(WorldError::InvalidSubdomain(spec.subdomain.clone()));
        }
        let mut slots = lock(&self.slots);
        if slots.contains_key(&spec.subdomain) {
            return Err(WorldError::Duplicate(spec.subdomain.clone()));
        }
        let occupant = self.occupant(spec)?;
        if let Occupant::Account(account) = &occupant {
            for definition in &spec.ticket_fields {
                account
                    .add_ticket_field(definition.clone())
                    .map_err(|error| WorldError::InvalidTicketField {
                        subdomain: spec.subdomain.clone(),
                        title: definition.title.clone(),
                        reason: error.to_string(),
                    })?;
            }
        }
        // Our model: an account declared with `start = false` does not exist yet, so its
        // subdomain is unknown (configuration_error) until it first starts; an account
        // that was stopped is known but refuses connections (failed).
        if spec.start {
            self.list(&occupant, None);
        }
        let certificate = self.issue(&spec.subdomain, spec.cert_mode)?;
        slots.insert(
            spec.subdomain.clone(),
            Slot {
                occupant,
                port: spec.port.unwrap_or(0),
                running: None,
                cert_mode: spec.cert_mode,
                certificate,
                listener_task: None,
                control: None,
                reservation: None,
            },
        );
        Ok(())
    }

    /// A certificate for the account in `mode`; None in an HTTP world or for `plain_http`.
    fn issue(
        &self,
        subdomain: &str,
        mode: CertMode,
    ) -> Result<Option<Arc<ServerCertificate>>, WorldError> {
        let Some(authority) = &self.authority else {
            return Ok(None);
        };
        Ok(authority.issue(subdomain, mode, &self.config.extra_cert_names)?)
    }

    /// Switches an account's certificate. Open connections end, so the next message makes
    /// a new handshake against the new certificate; the listener keeps its port.
    pub async fn set_certificate(&self, subdomain: &str, mode: CertMode) -> Result<(), WorldError> {
        let certificate = self.issue(subdomain, mode)?;
        {
            let mut slots = lock(&self.slots);
            let slot = slots
                .get_mut(subdomain)
                .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))?;
            slot.cert_mode = mode;
            slot.certificate = certificate.clone();
            if let (Some(control), Some(addr)) = (&slot.control, slot.occupant.addr()) {
                control.switch(
                    certificate
                        .clone()
                        .map(|cert| server_config(cert, &self.clock)),
                );
                slot.occupant.set_listening(addr, certificate.is_some());
            }
        }
        // Pooled connections to the old certificate are gone; start afresh.
        self.forget_connections(subdomain);
        self.services.trace.world(
            subdomain,
            format!("{subdomain} now presents a certificate in mode {mode}"),
        );
        if mode == CertMode::Valid {
            self.retry_waiting_pushes().await;
        }
        Ok(())
    }

    /// Drops both of the world's clients' pooled connections to `subdomain` (partner
    /// messages and the admin's REST calls) once its listener closed its connections: on
    /// real sockets a pooled connection can be picked just before its close arrives.
    fn forget_connections(&self, subdomain: &str) {
        let mut hosts = vec![crate::core::directory::host_name(subdomain)];
        if let Some(addr) = self.account(subdomain).and_then(|a| a.addr()) {
            hosts.push(addr.to_string());
        }
        self.services.transport.forget_connections(&hosts);
        for host in &hosts {
            self.rest.forget_connections(host);
        }
    }

    /// A link was repaired (healed, started, a valid certificate): every account tries
    /// its waiting ticket pushes again *(model: Zendesk retries undelivered pushes in
    /// the background; sharesim retries them when they could now get through)*.
    async fn retry_waiting_pushes(&self) {
        for account in self.accounts() {
            crate::surfaces::partner::outbound::flush_all(&account).await;
        }
    }

    /// Sets the hook called after every request that may have changed an account.
    pub fn set_after_write(&self, hook: WriteHook) {
        *lock(&self.after_write) = Some(hook);
    }

    /// The certificate mode an account presents (set at start or by a `certificate` step).
    pub fn cert_mode(&self, subdomain: &str) -> Option<CertMode> {
        lock(&self.slots).get(subdomain).map(|slot| slot.cert_mode)
    }

    /// The PEM of the world's CA, in an HTTPS world.
    pub fn ca_cert_pem(&self) -> Option<String> {
        self.authority
            .as_ref()
            .map(CertificateAuthority::ca_cert_pem)
    }

    /// Every pair of agreement copies that diverges (see `core::consistency`); the
    /// scenario runner checks this after each step.
    pub fn divergences(&self) -> Vec<AgreementDivergence> {
        // An external account's copy is out of sight: its pairs cannot be judged.
        let mut found = crate::core::consistency::divergences(&self.accounts());
        found.retain(|d| !self.is_external(&d.sender) && !self.is_external(&d.receiver));
        found
    }

    /// An account of this process by subdomain (None for an external account).
    pub fn account(&self, subdomain: &str) -> Option<Arc<Account>> {
        lock(&self.slots)
            .get(subdomain)
            .and_then(|slot| slot.occupant.account().cloned())
    }

    /// Every account of this process, in the order they were declared.
    pub fn accounts(&self) -> Vec<Arc<Account>> {
        lock(&self.slots)
            .values()
            .filter_map(|slot| slot.occupant.account().cloned())
            .collect()
    }

    /// The world's trace.
    pub fn trace(&self) -> &Trace {
        &self.services.trace
    }

    /// The shared services (directory, transport, RNG).
    pub fn services(&self) -> &Arc<WorldServices> {
        &self.services
    }

    /// The configuration the world was started with.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// An HTTP client on this world's network that plays an admin's browser: it
    /// reaches accounts at their listening addresses and accepts whatever certificate
    /// they present. The scenario runner makes every REST call with it, so on the
    /// simulated network its calls, like every partner message, stay in memory.
    pub fn rest_client(&self) -> &HttpClient {
        &self.rest
    }

    /// The longest a REST call may have to wait on the world: every partner message it
    /// can cause, each retried and timed out, with room to spare. The runner waits this
    /// long, so no scenario fails for the runner's own impatience; on the simulated
    /// network the wait costs no wall time.
    pub fn patience(&self) -> Duration {
        let per_message =
            (self.config.timeout + RETRY_BACKOFF_ALLOWANCE) * (self.config.retries + 1);
        (per_message * MESSAGES_PER_CALL).max(MIN_PATIENCE)
    }

    /// Stops every listener and waits for every connection task to finish.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        // A listener task hands its socket back when it ends; dropping it closes the
        // port, so nothing reaches a backlog that will never be served.
        let listeners: Vec<_> = lock(&self.slots)
            .values_mut()
            .filter_map(|slot| slot.listener_task.take())
            .collect();
        for task in listeners {
            let _ = task.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
        // Every parked port too, so that a shut-down world holds no port.
        for slot in lock(&self.slots).values_mut() {
            slot.reservation.take();
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests;
