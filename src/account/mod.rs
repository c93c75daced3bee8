//! One simulated Zendesk account: its users and token, its state behind a lock, and
//! the listener that serves both of its surfaces (REST API and partner protocol).
//!
//! State changes are decided under the lock, recorded in the trace, and only then are
//! partner messages sent, with the lock released: two accounts calling each other can
//! never deadlock.

pub mod agreements;
pub mod connection_limits;
pub mod listener;
pub mod tickets;

use crate::directory::Directory;
use crate::faults::FaultTable;
use crate::model::{Agreement, default_display_name};
use crate::rate_limit::RateLimiter;
use crate::trace::{Trace, lock};
use crate::transport::Transport;
use base64::Engine;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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
    /// `admin@{subdomain}.test` or `agent@{subdomain}.test`.
    pub email: String,
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
}

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
        }
    }

    /// The uuid of the agreement `local_id` sent from `sharing_url`: the documented
    /// SHA-1 of the URL and id in a seeded world, with the world's secret appended in
    /// an unseeded one (see the type's doc).
    pub fn agreement_uuid(&self, sharing_url: &str, local_id: u64) -> String {
        match &self.uuid_secret {
            None => agreements::protocol_uuid(sharing_url, "agreements", local_id),
            Some(secret) => {
                use sha1::Digest;
                let text = format!("{sharing_url}/agreements/{local_id}/{secret}");
                hex::encode(sha1::Sha1::digest(text.as_bytes()))
            }
        }
    }

    /// 40 hex characters from the world's seeded RNG (access keys, tokens).
    pub fn random_hex40(&self) -> String {
        let mut bytes = [0u8; 20];
        lock(&self.rng).fill_bytes(&mut bytes);
        hex::encode(bytes)
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
    /// REST calls allowed per minute; None never refuses (see [`crate::rate_limit`]).
    pub rate_limit: Option<u32>,
}

/// The mutable part of an account: what its REST API shows.
#[derive(Debug, Default)]
pub struct AccountState {
    /// Agreements by local id; private so that every insert and removal goes through
    /// [`AccountState::insert`] and [`AccountState::remove`], which keep the uuid index.
    agreements: BTreeMap<u64, Agreement>,
    /// The id the next agreement gets.
    pub next_agreement_id: u64,
    /// Tickets, comments and the people partners told us about.
    pub tickets: tickets::TicketBook,
    /// Local id by protocol uuid: every partner message names its agreement by uuid, and
    /// a scan of every copy per message made handshakes slower the more agreements an
    /// account held.
    ids_by_uuid: HashMap<String, u64>,
    /// The serialised `GET /sharing_agreements` body and the API URL it was built for.
    /// Listing is the hottest read; every change to a copy drops the cache.
    listing: Option<(String, bytes::Bytes)>,
    /// Uuids of copies changed since last taken, while someone watches (the scenario
    /// runner, which then re-checks only those pairs instead of every agreement after
    /// every step).
    changed: Option<std::collections::BTreeSet<String>>,
}

impl AccountState {
    /// The list body for `api_url`, serialised once per change rather than per request.
    pub fn listing(
        &mut self,
        api_url: &str,
        build: impl FnOnce(&Self) -> bytes::Bytes,
    ) -> bytes::Bytes {
        match &self.listing {
            Some((url, body)) if url == api_url => body.clone(),
            _ => {
                let body = build(self);
                self.listing = Some((api_url.to_string(), body.clone()));
                body
            }
        }
    }

    /// Starts recording which copies change (see [`AccountState::take_changed`]).
    pub fn watch_changes(&mut self) {
        self.changed.get_or_insert_with(Default::default);
    }

    /// The uuids of copies inserted, changed or removed since the last call (empty
    /// unless [`AccountState::watch_changes`] was called).
    pub fn take_changed(&mut self) -> std::collections::BTreeSet<String> {
        self.changed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn mark_changed(&mut self, uuid: &str) {
        if let Some(changed) = &mut self.changed {
            changed.insert(uuid.to_string());
        }
    }

    /// Stores a copy (replacing the one with the same id) and indexes its uuid.
    pub fn insert(&mut self, agreement: Agreement) {
        self.listing = None;
        self.mark_changed(&agreement.uuid);
        if let Some(old) = self.agreements.get(&agreement.id)
            && old.uuid != agreement.uuid
        {
            let old = old.uuid.clone();
            self.mark_changed(&old);
            self.ids_by_uuid.remove(&old);
        }
        self.ids_by_uuid
            .insert(agreement.uuid.clone(), agreement.id);
        self.agreements.insert(agreement.id, agreement);
    }

    /// Removes the copy with this id.
    pub fn remove(&mut self, id: u64) -> Option<Agreement> {
        self.listing = None;
        let removed = self.agreements.remove(&id)?;
        self.ids_by_uuid.remove(&removed.uuid);
        self.mark_changed(&removed.uuid);
        Some(removed)
    }

    /// The local id of the copy with this uuid.
    pub fn id_by_uuid(&self, uuid: &str) -> Option<u64> {
        self.ids_by_uuid.get(uuid).copied()
    }

    /// The copy with this local id.
    pub fn agreement(&self, id: u64) -> Option<&Agreement> {
        self.agreements.get(&id)
    }

    /// The copy with this local id, to change it (never its uuid: the index keys on it).
    pub fn agreement_mut(&mut self, id: u64) -> Option<&mut Agreement> {
        self.listing = None;
        if self.changed.is_some()
            && let Some(uuid) = self.agreements.get(&id).map(|a| a.uuid.clone())
        {
            self.mark_changed(&uuid);
        }
        self.agreements.get_mut(&id)
    }

    /// Every copy, by local id.
    pub fn all_agreements(&self) -> impl Iterator<Item = &Agreement> {
        self.agreements.values()
    }

    /// The copy with this uuid.
    pub fn by_uuid(&self, uuid: &str) -> Option<&Agreement> {
        self.id_by_uuid(uuid)
            .and_then(|id| self.agreements.get(&id))
    }

    /// The copy with this uuid, to change it.
    pub fn by_uuid_mut(&mut self, uuid: &str) -> Option<&mut Agreement> {
        self.listing = None;
        let id = self.id_by_uuid(uuid)?;
        self.mark_changed(uuid);
        self.agreements.get_mut(&id)
    }
}

/// A simulated account. Shared as `Arc<Account>` by its listener and the world.
#[derive(Debug)]
pub struct Account {
    subdomain: String,
    display_name: String,
    api_token: String,
    services: Arc<WorldServices>,
    state: Mutex<AccountState>,
    listening: Mutex<Option<Listening>>,
    https: bool,
    admin_email: String,
    agent_email: String,
    rate_limiter: RateLimiter,
}

/// Where and how an account's listener serves.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listening {
    addr: SocketAddr,
    tls: bool,
    /// `{scheme}://{addr}/api/v2`, built once: every REST answer's `url` fields need it.
    api_url: String,
}

impl Account {
    /// A new account with no agreements, not yet listening.
    pub fn new(config: AccountConfig, https: bool, services: Arc<WorldServices>) -> Account {
        let display_name = config
            .display_name
            .unwrap_or_else(|| default_display_name(&config.subdomain));
        Account {
            rate_limiter: RateLimiter::new(config.rate_limit),
            admin_email: format!("admin@{}.test", config.subdomain),
            agent_email: format!("agent@{}.test", config.subdomain),
            subdomain: config.subdomain,
            display_name,
            api_token: config.api_token,
            services,
            state: Mutex::new(AccountState {
                next_agreement_id: 1,
                tickets: tickets::TicketBook::default(),
                ..AccountState::default()
            }),
            listening: Mutex::new(None),
            https,
        }
    }

    /// The account's subdomain.
    pub fn subdomain(&self) -> &str {
        &self.subdomain
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
            api_url: format!("{scheme}://{addr}/api/v2"),
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
        match &*lock(&self.listening) {
            Some(listening) => listening.api_url.clone(),
            None => format!(
                "{}://{}/api/v2",
                self.scheme(),
                crate::directory::host_name(&self.subdomain)
            ),
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
        format!(
            "{}://{}/sharing",
            self.scheme(),
            crate::directory::host_name(&self.subdomain)
        )
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// Checks HTTP Basic credentials `{email}/token:{api_token}`.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<User> {
        let encoded = authorization?.strip_prefix("Basic ")?.trim();
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
            email: email.to_ascii_lowercase(),
            role,
        })
    }

    /// Runs `f` with the account's state locked. Never await inside `f`.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut AccountState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// A snapshot of every agreement copy, by id.
    pub fn agreements(&self) -> Vec<Agreement> {
        self.with_state(|state| state.all_agreements().cloned().collect())
    }

    /// The copy of the agreement with this uuid, if this account holds one.
    pub fn agreement_by_uuid(&self, uuid: &str) -> Option<Agreement> {
        self.with_state(|state| state.by_uuid(uuid).cloned())
    }

    /// The REST API's JSON object for an agreement copy, with all nine documented fields.
    pub fn agreement_json(&self, agreement: &Agreement) -> Value {
        serde_json::to_value(AgreementView::new(agreement, &self.api_url())).unwrap_or_default()
    }
}

/// An agreement copy as the REST API shows it: the nine documented fields, in this
/// order. Serialised straight from the copy, so a listing builds no intermediate JSON.
#[derive(Debug, Serialize)]
pub struct AgreementView<'a> {
    created_at: &'a str,
    id: u64,
    name: &'a str,
    /// Our model: sharesim only simulates Zendesk-to-Zendesk agreements, never Jira.
    partner_name: Option<&'a str>,
    remote_subdomain: Option<&'a str>,
    status: &'static str,
    #[serde(rename = "type")]
    direction: &'static str,
    updated_at: &'a str,
    url: RecordUrl<'a>,
}

impl<'a> AgreementView<'a> {
    /// The view of `agreement` on the account whose API lives at `api_url`
    /// ([`Account::api_url`]).
    pub fn new(agreement: &'a Agreement, api_url: &'a str) -> AgreementView<'a> {
        AgreementView {
            created_at: &agreement.created_at,
            id: agreement.id,
            name: &agreement.name,
            partner_name: None,
            remote_subdomain: agreement.remote_subdomain.as_deref(),
            status: agreement.status.as_str(),
            direction: agreement.direction.as_str(),
            updated_at: &agreement.updated_at,
            url: RecordUrl {
                api_url,
                id: agreement.id,
            },
        }
    }
}

/// `{api_url}/sharing_agreements/{id}.json`, written while serialising.
#[derive(Debug)]
struct RecordUrl<'a> {
    api_url: &'a str,
    id: u64,
}

impl Serialize for RecordUrl<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!(
            "{}/sharing_agreements/{}.json",
            self.api_url, self.id
        ))
    }
}

/// Generates a fresh API token when the user did not choose one.
pub fn random_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgreementStatus, Direction, Terms};

    fn copy(id: u64, uuid: &str) -> Agreement {
        Agreement {
            id,
            uuid: uuid.to_string(),
            name: String::new(),
            remote_subdomain: None,
            status: AgreementStatus::Pending,
            direction: Direction::Inbound,
            access_key: String::new(),
            sender_url: String::new(),
            receiver_url: String::new(),
            terms: Terms::default(),
            deactivated_by: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn the_uuid_index_follows_inserts_replacements_and_removals() {
        let mut state = AccountState::default();
        state.insert(copy(1, "a"));
        state.insert(copy(2, "b"));
        assert_eq!(state.id_by_uuid("a"), Some(1));
        assert_eq!(state.by_uuid("b").map(|a| a.id), Some(2));
        // Replacing copy 1 with another uuid forgets the old one.
        state.insert(copy(1, "c"));
        assert_eq!(state.id_by_uuid("a"), None);
        assert_eq!(state.id_by_uuid("c"), Some(1));
        assert_eq!(state.remove(2).map(|a| a.uuid), Some("b".to_string()));
        assert_eq!(state.id_by_uuid("b"), None);
        assert_eq!(state.all_agreements().count(), 1);
        assert!(state.remove(2).is_none());
    }

    #[test]
    fn the_cached_listing_is_rebuilt_after_every_change() {
        let mut state = AccountState::default();
        let build = |state: &AccountState| -> bytes::Bytes {
            state
                .all_agreements()
                .map(|a| a.uuid.clone())
                .collect::<String>()
                .into()
        };
        state.insert(copy(1, "a"));
        assert_eq!(state.listing("u", build), "a");
        state.insert(copy(2, "b"));
        assert_eq!(state.listing("u", build), "ab");
        if let Some(agreement) = state.agreement_mut(1) {
            agreement.status = AgreementStatus::Accepted;
        }
        // A cached body is reused only while nothing changed and for the same API URL.
        let mut built = 0;
        let mut counting = |state: &AccountState| {
            built += 1;
            build(state)
        };
        assert_eq!(state.listing("u", &mut counting), "ab");
        assert_eq!(state.listing("u", &mut counting), "ab");
        assert_eq!(state.listing("v", &mut counting), "ab");
        state.remove(1);
        assert_eq!(state.listing("v", &mut counting), "b");
        assert_eq!(built, 3);
    }
}
