//! One simulated Zendesk account: its users and token, its state behind a lock, and
//! the listener that serves both of its surfaces (REST API and partner protocol).
//!
//! State changes are decided under the lock, recorded in the trace, and only then are
//! partner messages sent, with the lock released: two accounts calling each other can
//! never deadlock.

pub(crate) mod agreements;
mod delivery;
pub(crate) mod outbox;
pub mod planted;
pub(crate) mod state;
pub(crate) mod tap;
pub(crate) mod tickets;

pub use state::{AccountSettings, AccountState, ItemsDelta, StateRecord};

use crate::core::directory::Directory;
use crate::core::faults::FaultTable;
use crate::core::model::{Agreement, default_display_name, protocol_uuid};
use crate::core::rate_limit::RateLimiter;
use crate::core::trace::{Text, Trace, lock};
use crate::core::transport::Transport;
use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a receiving account refuses a partner's message, in the account's terms; the
/// partner protocol maps each to its status (404, 403, 422, or a dropped connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// No agreement (or ticket) with that uuid.
    #[error("{0}")]
    NotFound(String),
    /// The token's key is wrong, or the agreement does not allow the call.
    #[error("{0}")]
    Forbidden(String),
    /// The message is not valid for the agreement as this account holds it.
    #[error("{0}")]
    Invalid(String),
    /// The account holds as many of these as it accepts from this sender
    /// ([`crate::core::limits::MAX_PENDING_INBOUND`]).
    #[error("{0}")]
    TooMany(String),
    /// A crash point fired: the account dies before answering.
    #[error("the account crashed while handling the message")]
    Crashed,
}

/// What a user may do: agents read agreements and work tickets, admins also manage agreements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// May read agreements, and create, update and share tickets.
    Agent,
    /// May also create, change and delete agreements.
    Admin,
}

/// A user of an account, as authenticated from a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// `admin@{subdomain}.test` or `agent@{subdomain}.test`, shared with the trace.
    pub email: Text,
    /// What the user may do.
    pub role: Role,
}

/// Everything the accounts of one world share: trace, directory, transport and the RNG.
///
/// Our model of secrets: a seeded world (scenarios, `serve --seed N`) is reproducible
/// and therefore predictable: access keys come from the seed and agreement uuids are
/// the documented SHA-1 of `{sharing url}/agreements/{id}`. An unseeded world (`serve`
/// by default) draws keys from the OS RNG and mixes a secret drawn the same way into
/// every agreement uuid, so a stranger can neither forge a token nor claim the uuid of
/// an agreement that does not exist yet.
#[derive(Debug)]
pub struct WorldServices {
    /// The world's ordered trace (and its clock).
    pub trace: Trace,
    /// Who exists and where.
    pub directory: Directory,
    /// Outbound partner messages.
    pub transport: Transport,
    /// What is broken on the wire, read by receiving accounts and the transport.
    pub faults: Arc<FaultTable>,
    rng: Mutex<ChaCha8Rng>,
    /// Mixed into agreement uuids in an unseeded world (None when seeded).
    uuid_secret: Option<String>,
    /// Unlocks [`SURFACE_CHECK_HEADER`]: drawn from the OS, never from the seed, so only
    /// this process's runner can read a listing without leaving a trace.
    surface_check_key: String,
    /// Test hook: rules broken on purpose (all off unless a test sets them).
    pub planted: planted::PlantedSwitches,
    /// Copies of what external accounts send, for `sharesim conform` (see `tap`).
    pub inbound_tap: tap::InboundTap,
}

/// A REST call carrying this header with the world's key is the runner comparing what
/// the REST API answers with the account's state: it still needs valid credentials, but
/// is neither traced nor counted against the rate limit, so checking changes nothing.
pub const SURFACE_CHECK_HEADER: &str = "X-Sharesim-Surface-Check";

impl WorldServices {
    /// Bundles the shared services; `seed` fixes every key the world draws, None draws
    /// them (and a uuid secret) from the OS RNG.
    pub fn new(
        trace: Trace,
        directory: Directory,
        transport: Transport,
        faults: Arc<FaultTable>,
        seed: Option<u64>,
    ) -> Self {
        let (rng, uuid_secret) = match seed {
            Some(seed) => (ChaCha8Rng::seed_from_u64(seed), None),
            None => {
                let mut os = rand::rng();
                let mut secret = [0u8; 20];
                os.fill_bytes(&mut secret);
                (ChaCha8Rng::from_rng(&mut os), Some(hex::encode(secret)))
            }
        };
        WorldServices {
            trace,
            directory,
            transport,
            faults,
            rng: Mutex::new(rng),
            uuid_secret,
            surface_check_key: random_token(),
            planted: planted::PlantedSwitches::default(),
            inbound_tap: tap::InboundTap::default(),
        }
    }

    /// The uuid of the agreement `local_id` sent from `sharing_url`: the documented
    /// SHA-1 of the URL and id in a seeded world, with the world's secret appended in
    /// an unseeded one (see the type's doc).
    pub fn agreement_uuid(&self, sharing_url: &str, local_id: u64) -> String {
        match &self.uuid_secret {
            None => protocol_uuid(sharing_url, "agreements", local_id),
            Some(secret) => crate::core::model::sha1_hex(
                &[sharing_url, "/agreements/"],
                local_id,
                &["/", secret],
            ),
        }
    }

    /// The key that marks the runner's own surface checks ([`SURFACE_CHECK_HEADER`]).
    pub fn surface_check_key(&self) -> &str {
        &self.surface_check_key
    }

    /// 40 hex characters from the world's seeded RNG (access keys, tokens).
    pub fn random_hex40(&self) -> String {
        let mut bytes = [0u8; 20];
        lock(&self.rng).fill_bytes(&mut bytes);
        crate::core::model::hex40(&bytes)
    }
}

/// How an account is set up.
#[derive(Clone, Debug)]
pub struct AccountConfig {
    /// Lower-case `[a-z0-9-]`, 1–63 characters.
    pub subdomain: String,
    /// Shown in agreement names; defaults to the subdomain capitalised.
    pub display_name: Option<String>,
    /// The API token both users authenticate with.
    pub api_token: String,
    /// REST calls allowed per minute; None never refuses (see `core::rate_limit`).
    pub rate_limit: Option<u32>,
    /// How it takes invitations from the start.
    pub settings: AccountSettings,
}

/// A simulated account. Shared as `Arc<Account>` by its listener and the world.
#[derive(Debug)]
pub struct Account {
    subdomain: String,
    /// The subdomain as the trace names it, shared by every event.
    subdomain_text: Text,
    display_name: String,
    api_token: String,
    services: Arc<WorldServices>,
    state: Mutex<AccountState>,
    /// See [`Account::changes`].
    changes: AtomicU64,
    listening: Mutex<Option<Listening>>,
    https: bool,
    /// [`Account::sharing_url`], built once: every invitation and agreement message
    /// names it.
    sharing_url: String,
    /// The protocol uuid of the account's admin (user 1), which every invitation
    /// names as its current actor: a SHA-1, worked out once.
    admin_uuid: String,
    admin_email: Text,
    agent_email: Text,
    /// The `Authorization` values of the admin and the agent as clients send them,
    /// encoded once: a call that matches one byte for byte is authenticated without
    /// decoding anything.
    authorizations: [String; 2],
    rate_limiter: RateLimiter,
    /// Changes whose rollback found another change on top: (the copy as the change
    /// left it, what a rollback to that copy restores instead). See `roll_back`.
    undone: Mutex<Vec<(Agreement, Agreement)>>,
}

/// Where and how an account's listener serves.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listening {
    addr: SocketAddr,
    tls: bool,
    /// `{scheme}://{addr}/api/v2`, built once: every REST answer's `url` fields need it,
    /// and the agreement list takes it with a reference count rather than a copy.
    api_url: Arc<str>,
}

impl Account {
    /// A new account with no agreements, not yet listening.
    pub fn new(config: AccountConfig, https: bool, services: Arc<WorldServices>) -> Account {
        let display_name = config
            .display_name
            .unwrap_or_else(|| default_display_name(&config.subdomain));
        let admin_email = format!("admin@{}.test", config.subdomain);
        let agent_email = format!("agent@{}.test", config.subdomain);
        let basic = |email: &str| {
            let credentials = base64::engine::general_purpose::STANDARD
                .encode(format!("{email}/token:{}", config.api_token));
            format!("Basic {credentials}")
        };
        let sharing_url = format!(
            "{}://{}/sharing",
            if https { "https" } else { "http" },
            crate::core::directory::host_name(&config.subdomain)
        );
        Account {
            rate_limiter: RateLimiter::new(config.rate_limit),
            authorizations: [basic(&admin_email), basic(&agent_email)],
            admin_email: admin_email.into(),
            agent_email: agent_email.into(),
            subdomain_text: config.subdomain.as_str().into(),
            subdomain: config.subdomain,
            display_name,
            api_token: config.api_token,
            services,
            state: Mutex::new({
                let mut state = AccountState::default();
                state.set_settings(config.settings);
                state
            }),
            changes: AtomicU64::new(0),
            listening: Mutex::new(None),
            admin_uuid: crate::core::model::protocol_uuid(&sharing_url, "users", 1),
            sharing_url,
            https,
            undone: Mutex::new(Vec::new()),
        }
    }

    /// The account's subdomain.
    pub fn subdomain(&self) -> &str {
        &self.subdomain
    }

    /// The subdomain as trace events name it: shared, so naming it copies nothing.
    pub fn subdomain_text(&self) -> &Text {
        &self.subdomain_text
    }

    /// The account's display name.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The API token of both users.
    pub fn api_token(&self) -> &str {
        &self.api_token
    }

    /// The admin's email.
    pub fn admin_email(&self) -> &str {
        &self.admin_email
    }

    /// The agent's email.
    pub fn agent_email(&self) -> &str {
        &self.agent_email
    }

    /// Counts REST calls against the account's per-minute allowance.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }

    /// The shared world services.
    pub fn services(&self) -> &Arc<WorldServices> {
        &self.services
    }

    /// The world's trace.
    pub fn trace(&self) -> &Trace {
        &self.services.trace
    }

    /// Where the listener is bound, while it runs (or last ran).
    pub fn addr(&self) -> Option<SocketAddr> {
        lock(&self.listening)
            .as_ref()
            .map(|listening| listening.addr)
    }

    /// Records where the listener is bound and whether it speaks TLS there.
    pub(crate) fn set_listening(&self, addr: SocketAddr, tls: bool) {
        let scheme = if tls { "https" } else { "http" };
        *lock(&self.listening) = Some(Listening {
            addr,
            tls,
            api_url: format!("{scheme}://{addr}/api/v2").into(),
        });
    }

    /// Whether partners expect HTTPS from this account (the world's setting).
    pub fn https(&self) -> bool {
        self.https
    }

    /// The scheme the listener really serves (`plain_http` serves http in an HTTPS world).
    fn served_scheme(&self) -> &'static str {
        match *lock(&self.listening) {
            Some(Listening { tls: true, .. }) => "https",
            Some(Listening { tls: false, .. }) => "http",
            None => self.scheme(),
        }
    }

    /// The REST API base URL as real clients reach it (`http://127.0.0.1:PORT/api/v2`).
    pub fn api_url(&self) -> String {
        self.shared_api_url().to_string()
    }

    /// [`Account::api_url`], shared: while the listener runs, a reference count instead
    /// of a copy (the agreement list asks for it on every call).
    pub fn shared_api_url(&self) -> Arc<str> {
        match &*lock(&self.listening) {
            Some(listening) => listening.api_url.clone(),
            None => format!(
                "{}://{}/api/v2",
                self.scheme(),
                crate::core::directory::host_name(&self.subdomain)
            )
            .into(),
        }
    }

    /// The partner protocol base URL on loopback (`http://127.0.0.1:PORT/sharing`).
    pub fn loopback_sharing_url(&self) -> String {
        match self.addr() {
            Some(addr) => format!("{}://{addr}/sharing", self.served_scheme()),
            None => self.sharing_url(),
        }
    }

    /// The sharing URL the account advertises to partners (`http://acme.sharesim.test/sharing`).
    pub fn sharing_url(&self) -> String {
        self.sharing_url.clone()
    }

    /// The protocol uuid of the account's admin, user 1 under its sharing URL.
    pub fn admin_uuid(&self) -> &str {
        &self.admin_uuid
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// Checks HTTP Basic credentials `{email}/token:{api_token}`.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<User> {
        let authorization = authorization?;
        // The common case: the exact credentials, as every client encodes them.
        for (expected, email, role) in [
            (&self.authorizations[0], &self.admin_email, Role::Admin),
            (&self.authorizations[1], &self.agent_email, Role::Agent),
        ] {
            if authorization == expected {
                return Some(User {
                    email: email.clone(),
                    role,
                });
            }
        }
        let encoded = authorization.strip_prefix("Basic ")?.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (login, secret) = text.split_once(':')?;
        let email = login.strip_suffix("/token")?;
        if secret != self.api_token {
            return None;
        }
        let role = if email.eq_ignore_ascii_case(self.admin_email()) {
            Role::Admin
        } else if email.eq_ignore_ascii_case(self.agent_email()) {
            Role::Agent
        } else {
            return None;
        };
        Some(User {
            email: email.to_ascii_lowercase().into(),
            role,
        })
    }

    /// Runs `f` with the account's state locked, to change it. Never await inside `f`.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut AccountState) -> R) -> R {
        let mut state = lock(&self.state);
        self.changes.fetch_add(1, Ordering::Relaxed);
        f(&mut state)
    }

    /// Runs `f` with the account's state locked, for bookkeeping that changes nothing the
    /// surfaces show (what `serve --state` takes as saved), so it is not counted in
    /// [`Account::changes`]. Never await inside `f`.
    pub fn with_state_uncounted<R>(&self, f: impl FnOnce(&mut AccountState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// Runs `f` with the account's state locked, to read it. Never await inside `f`.
    pub fn read_state<R>(&self, f: impl FnOnce(&AccountState) -> R) -> R {
        f(&lock(&self.state))
    }

    /// Counts the times the state was opened for a change. While it stays the same,
    /// every surface of the account answers as before, so a check that already compared
    /// them need not read them again.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// A snapshot of every agreement copy, by id.
    pub fn agreements(&self) -> Vec<Agreement> {
        self.read_state(|state| state.agreements().values().cloned().collect())
    }

    /// How the account takes invitations.
    pub fn settings(&self) -> AccountSettings {
        self.read_state(|state| state.settings())
    }

    /// Changes how the account takes invitations, and records it.
    pub fn set_settings(&self, settings: AccountSettings) {
        let before = self.with_state(|state| {
            let before = state.settings();
            state.set_settings(settings);
            before
        });
        if before != settings {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} {} all sharing agreement invites",
                    self.subdomain(),
                    if settings.decline_all_invites {
                        "now declines"
                    } else {
                        "no longer declines"
                    }
                ),
            );
        }
    }

    /// The copy of the agreement with this uuid, if this account holds one.
    pub fn agreement_by_uuid(&self, uuid: &str) -> Option<Agreement> {
        self.read_state(|state| state.by_uuid(uuid).cloned())
    }

    /// Checks a partner's token (`{uuid}:{access key}`) against the agreement `uuid`:
    /// unknown uuid, or a key that does not match.
    pub fn authorize(&self, uuid: &str, token: &str) -> Result<Agreement, ReceiveError> {
        self.authorized(uuid, token, Agreement::clone)
    }

    /// [`Account::authorize`], keeping only what `read` takes from the copy: a handler
    /// that needs a field or two does not copy the whole agreement.
    pub fn authorized<R>(
        &self,
        uuid: &str,
        token: &str,
        read: impl FnOnce(&Agreement) -> R,
    ) -> Result<R, ReceiveError> {
        self.read_state(|state| {
            let agreement = state
                .by_uuid(uuid)
                .ok_or_else(|| ReceiveError::NotFound(no_agreement(uuid)))?;
            let (token_uuid, key) = token.split_once(':').unwrap_or((token, ""));
            if token_uuid != agreement.uuid || key != agreement.access_key {
                return Err(ReceiveError::Forbidden(
                    "the X-Ticket-Sharing-Token does not match this agreement's access key"
                        .to_string(),
                ));
            }
            Ok(read(agreement))
        })
    }
}

/// Why a receiver refuses a message about a uuid it holds no copy of: the partner
/// protocol answers it as "not found", and a sender recognises it by these words.
pub(crate) fn no_agreement(uuid: &str) -> String {
    format!("no agreement {uuid}")
}

/// Generates a fresh API token when the user did not choose one.
pub fn random_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Accounts for unit tests of decisions: a seeded world's services on no network, and
/// accounts that never listen (deciding needs neither sockets nor a router).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::core::faults::FaultTable;
    use crate::core::network::Network;
    use crate::core::trace::Clock;
    use crate::core::transport::TransportConfig;

    /// One seeded world's services (trace on the logical clock, empty directory).
    pub(crate) fn services() -> Arc<WorldServices> {
        let trace = Trace::new(Clock::logical());
        let directory = Directory::new();
        let faults = Arc::new(FaultTable::new());
        let transport = Transport::new(
            directory.clone(),
            trace.clone(),
            faults.clone(),
            TransportConfig {
                timeout: std::time::Duration::from_secs(1),
                retries: 0,
                tls: crate::core::tls::untrusting_client_config().expect("a TLS client"),
                seed: 7,
                network: Network::Loopback,
            },
        )
        .expect("a transport");
        Arc::new(WorldServices::new(
            trace,
            directory,
            transport,
            faults,
            Some(7),
        ))
    }

    /// An account of `services`, listed in its directory.
    pub(crate) fn account(subdomain: &str, services: &Arc<WorldServices>) -> Arc<Account> {
        services.directory.insert(
            subdomain,
            crate::core::directory::Listing {
                display_name: default_display_name(subdomain),
                addr: None,
                https: false,
                external: None,
            },
        );
        Arc::new(Account::new(
            AccountConfig {
                subdomain: subdomain.to_string(),
                display_name: None,
                api_token: "token".to_string(),
                rate_limit: None,
                settings: AccountSettings::default(),
            },
            false,
            services.clone(),
        ))
    }

    /// acme and globex in one world.
    pub(crate) fn acme_and_globex() -> (Arc<Account>, Arc<Account>) {
        let services = services();
        (account("acme", &services), account("globex", &services))
    }

    /// The last decision `account` recorded, in words.
    pub(crate) fn last_decision(account: &Account) -> String {
        account
            .trace()
            .events_since(0)
            .into_iter()
            .rev()
            .find(|e| {
                e.kind == crate::core::trace::EventKind::Decision && e.from == account.subdomain()
            })
            .map(|e| e.detail)
            .unwrap_or_default()
    }
}
