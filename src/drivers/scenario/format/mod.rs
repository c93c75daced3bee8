//! The typed tree of a scenario file: the accounts a scenario declares and the ordered
//! steps it runs. `parse` builds it from TOML and checks it; the runner only reads it.
//! Every account or handle reference keeps its byte span (`Ref`), and every step keeps its
//! span and 1-based position, so a failure can be reported as `file:line:col`.

mod actions;
mod expectations;
mod faults;
mod keywords;
mod races;
mod step;
mod tickets;

pub use actions::*;
pub use expectations::*;
pub use faults::*;
pub use keywords::*;
pub use races::*;
pub use step::*;
pub use tickets::*;

use faults::account_fault_schema;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::core::spelling::Spelled;
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use toml::Spanned;

// The domain's own enums, spelled in files exactly as the REST API and protocol spell them.
pub use crate::core::faults::CrashPoint;
pub use crate::core::model::ticket::TicketStatus;
pub use crate::core::model::{AgreementStatus, Direction};
pub use crate::core::network::NetworkKind;
pub use crate::core::tls::CertMode;
pub use crate::core::transport::scheduler::ReleaseOrder;

use super::lines::LineIndex;
/// Where a step or reference sits in its file.
pub use super::lines::Position;

/// A reference to an account, agreement handle or ticket handle, kept with the byte span
/// of where it was written so that errors (and the runner) can point back at it.
pub type Ref = Spanned<String>;

/// A whole scenario file: settings for the world, the accounts in it, and the steps to run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a scenario table")]
#[schemars(title = "sharesim scenario")]
pub struct Scenario {
    /// One line saying what the scenario shows; reports use it as the title.
    pub name: String,
    /// Longer prose for people reading the file or the report.
    pub description: Option<String>,
    /// Seed for the world's RNG; the command line's `--seed` overrides it.
    pub seed: Option<u64>,
    /// Require the scenario to pass under every seed from 0 to `seeds - 1` (races:
    /// each seed may interleave `concurrently` groups differently); `sharesim run`
    /// and the test suite run it that many times.
    pub seeds: Option<u32>,
    /// Whether accounts serve HTTPS (true) or plain HTTP (false, the default).
    #[serde(default)]
    pub tls: bool,
    /// Timeout of every outbound partner call in this world, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// How many times a failed partner call is retried (0 by default, like the reference
    /// client, which never retries).
    #[serde(default)]
    pub retries: u32,
    /// REST calls each account allows per minute before answering 429 with
    /// `Retry-After`; no limit when omitted.
    pub rate_limit: Option<u32>,
    /// The network the world runs on: `simulated` (in memory, on the world's paused
    /// clock: the default) or `loopback` (real sockets and the wall clock). The command
    /// line's `--network` overrides it.
    pub network: Option<NetworkKind>,
    /// The accounts, keyed by subdomain, in file order (the order they are started in).
    #[serde(deserialize_with = "non_empty_accounts")]
    #[schemars(schema_with = "accounts_schema")]
    pub accounts: IndexMap<Ref, Account>,
    /// The steps, run in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// For a file that keeps a protocol limit `sharesim explore` found
    /// (`scenarios/found/`): how explore recognises the limit when it finds it again.
    /// The runner ignores it.
    pub signature: Option<Signature>,
    /// The scheduler's choices, in order, instead of drawing them from the seed: at
    /// each point where it chooses (which action of a `concurrently` group starts,
    /// which parked message goes, each place of a `seeded` release), the 0-based pick;
    /// 0 once the list runs out. `sharesim explore --orders exhaustive` writes it.
    pub orders: Option<Vec<usize>>,
    /// Name of the file, as given to `parse`; used in every message.
    #[serde(skip)]
    #[schemars(skip)]
    file: String,
    /// The source text, kept so spans can be turned into positions later.
    #[serde(skip)]
    #[schemars(skip)]
    source: String,
}

impl Scenario {
    /// A scenario built from values instead of read from a file (explore's schedules):
    /// no seed, plain HTTP, no retries; set the public fields, then check it with
    /// `parse::check_built`, which applies a file's checks.
    pub fn built(name: String, accounts: IndexMap<Ref, Account>, steps: Vec<Step>) -> Scenario {
        Scenario {
            name,
            description: None,
            seed: None,
            seeds: None,
            tls: false,
            timeout_ms: None,
            retries: 0,
            rate_limit: None,
            network: None,
            accounts,
            steps,
            signature: None,
            orders: None,
            file: String::new(),
            source: String::new(),
        }
    }

    /// The file name this scenario was parsed from, as errors and reports show it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The source text, for rendering diagnostics that point into the file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Turns a byte span (of a `Ref`, a step…) into the 1-based position people read.
    pub fn position(&self, span: &Range<usize>) -> Position {
        Position::of_offset(&self.source, span.start)
    }

    /// The 1-based line of step `index` (0-based), for `file:line` in failure reports.
    pub fn step_line(&self, index: usize) -> Option<usize> {
        self.steps.get(index).map(|step| step.position.line)
    }

    /// Looks up a declared account by subdomain.
    pub fn account(&self, subdomain: &str) -> Option<&Account> {
        self.accounts.get(subdomain)
    }

    /// Records where the scenario came from and fills in every step's position; only
    /// `parse` calls it, once serde has built the tree.
    pub(crate) fn locate(&mut self, file: &str, source: &str) {
        self.file = file.to_owned();
        self.source = source.to_owned();
        let lines = LineIndex::new(source);
        for step in &mut self.steps {
            step.position = lines.position(step.span.start);
            if let Action::Concurrently(Concurrently(group)) = &mut step.action {
                for inner in group {
                    inner.position = lines.position(inner.span.start);
                    inner.in_group = true;
                }
            }
        }
    }
}

/// What a protocol limit found by `sharesim explore` looks like, so that explore labels
/// a violation matching it as known rather than new.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a signature table: { invariants, pair, steps }"
)]
pub struct Signature {
    /// The explorer invariants the limit breaks (`copies_agree`, …).
    pub invariants: Vec<String>,
    /// The agreement's two copies when the shrunk schedule ends (when the invariant
    /// broke), `"<sender>/<receiver>"`, each a status or `none`, `a|b` for either;
    /// `"-"` when the invariant is not about an agreement.
    pub pair: String,
    /// The kinds of step the shrunk schedule needs: action keys, a fault written as its
    /// kind (`crash`, `hang`…); `a|b` when either does.
    pub steps: Vec<String>,
}

/// Rejects an empty `[accounts]` table where it is written, since a scenario with no
/// account cannot do anything.
fn non_empty_accounts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<IndexMap<Ref, Account>, D::Error> {
    let accounts = IndexMap::<Ref, Account>::deserialize(deserializer)?;
    if accounts.is_empty() {
        return Err(de::Error::custom(
            "a scenario needs at least one account, e.g. `[accounts.acme]`",
        ));
    }
    Ok(accounts)
}

fn accounts_schema(generator: &mut SchemaGenerator) -> Schema {
    let account = generator.subschema_for::<Account>();
    json_schema!({
        "type": "object",
        "description": "The accounts, keyed by subdomain.",
        "minProperties": 1,
        "propertyNames": { "pattern": SUBDOMAIN_PATTERN },
        "additionalProperties": account,
    })
}

/// What an account's subdomain must look like (checked by `parse`, published in the schema).
pub const SUBDOMAIN_PATTERN: &str = "^[a-z0-9-]{1,63}$";

/// One simulated account, as declared under `[accounts.<subdomain>]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an account table: { display_name?, tls?, start?, fault?, external?, decline_all_invites?, ticket_fields? }"
)]
pub struct Account {
    /// The name partners see on invitations (`"Acme @ Zendesk"` style); defaults to the
    /// subdomain.
    pub display_name: Option<String>,
    /// The certificate this account presents; `None` means a valid one.
    pub tls: Option<CertMode>,
    /// Whether the account is up when the scenario starts; `false` means a later `start`
    /// step brings it up.
    #[serde(default = "yes")]
    pub start: bool,
    /// A fault active from the start, on the links into this account.
    #[serde(default)]
    #[schemars(schema_with = "account_fault_schema")]
    pub fault: Option<FaultRule>,
    /// The sharing URL of an account outside sharesim (another `sharesim serve`, a
    /// helpdesk bridge, an endpoint under test). sharesim runs only its end of the link:
    /// steps may invite it, share with it and break the messages sent to it, but not act
    /// inside it. A scenario with one runs on the loopback network.
    #[schemars(with = "Option<String>")]
    pub external: Option<Ref>,
    /// "Decline all sharing agreement invites": every invitation this account receives
    /// is declined at once.
    #[serde(default)]
    pub decline_all_invites: bool,
    /// The account's custom ticket fields; partners' synced values land in the field
    /// with the same title and type.
    #[serde(default)]
    pub ticket_fields: Vec<TicketFieldSpec>,
}

/// One custom ticket field an account declares.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a ticket field table: { title, type, id?, options? }"
)]
pub struct TicketFieldSpec {
    /// The title partners match on.
    #[schemars(with = "String")]
    pub title: Ref,
    /// The data type partners match on.
    #[serde(rename = "type")]
    pub field_type: crate::core::model::ticket::fields::FieldType,
    /// The field's id on this account; the next free one when omitted.
    pub id: Option<u64>,
    /// The values of a `tagger` or `multiselect` field.
    #[serde(default)]
    pub options: Vec<String>,
}

impl Account {
    /// An account as `[accounts.<subdomain>]` alone declares it: up from the start, no
    /// fault, no custom fields.
    pub fn plain() -> Account {
        Account {
            display_name: None,
            tls: None,
            start: true,
            fault: None,
            external: None,
            decline_all_invites: false,
            ticket_fields: Vec::new(),
        }
    }
}

impl TicketFieldSpec {
    /// The definition the account is given.
    pub fn definition(&self) -> crate::core::model::ticket::fields::FieldDefinition {
        crate::core::model::ticket::fields::FieldDefinition {
            id: self.id,
            title: self.title.get_ref().clone(),
            field_type: self.field_type,
            options: self.options.clone(),
        }
    }
}

fn yes() -> bool {
    true
}

/// Formats allowed names as `` `a`, `b`, `c` `` for messages.
pub(crate) fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deserializes a map key and vets it with a check, so that a bad key is reported at the
/// key itself (the TOML deserializer attaches the key's span to errors raised here).
pub(super) struct KeySeed<'a>(pub(super) &'a dyn Fn(&str) -> Result<(), String>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let key = String::deserialize(deserializer)?;
        (self.0)(&key).map_err(de::Error::custom)?;
        Ok(key)
    }
}

/// Deserializes a value and vets it with a check, so that a bad value is reported at the
/// value itself.
pub(super) struct Checked<T>(pub(super) fn(&T) -> Result<(), String>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Checked<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let value = T::deserialize(deserializer)?;
        (self.0)(&value).map_err(de::Error::custom)?;
        Ok(value)
    }
}

pub(super) fn http_status(status: &u16) -> Result<(), String> {
    if (100..=599).contains(status) {
        Ok(())
    } else {
        Err(format!(
            "{status} is not an HTTP status; expected a number from 100 to 599"
        ))
    }
}

pub(super) fn optional_http_status<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u16>, D::Error> {
    Checked(http_status).deserialize(deserializer).map(Some)
}

pub(super) fn absolute_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let path = String::deserialize(deserializer)?;
    if !path.starts_with('/') {
        return Err(de::Error::custom(format!(
            "the path `{path}` must start with `/`, e.g. `/api/v2/sharing_agreements.json`"
        )));
    }
    Ok(path)
}
