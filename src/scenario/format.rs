//! The typed tree of a scenario file: the accounts a scenario declares and the ordered
//! steps it runs. `parse` builds it from TOML and checks it; the runner only reads it.
//! Every account or handle reference keeps its byte span (`Ref`), and every step keeps its
//! span and 1-based position, so a failure can be reported as `file:line:col`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use toml::Spanned;

// The domain's own enums, spelled in files exactly as the REST API and protocol spell them.
pub use crate::faults::CrashPoint;
pub use crate::model::ticket::TicketStatus;
pub use crate::model::{AgreementStatus, Direction};
pub use crate::tls::CertMode;

/// A reference to an account, agreement handle or ticket handle, kept with the byte span
/// of where it was written so that errors (and the runner) can point back at it.
pub type Ref = Spanned<String>;

/// A 1-based line and column in a scenario file, what people read in error messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Position {
    /// Finds the position of a byte offset in `source`. Offsets past the end or inside a
    /// multi-byte character are moved back to the nearest character boundary, so any
    /// span (even a stale one) gives an answer instead of a panic.
    pub fn of_offset(source: &str, offset: usize) -> Position {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = source.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let col = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        Position { line, col }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

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
    /// The accounts, keyed by subdomain, in file order (the order they are started in).
    #[serde(deserialize_with = "non_empty_accounts")]
    #[schemars(schema_with = "accounts_schema")]
    pub accounts: IndexMap<Ref, Account>,
    /// The steps, run in order.
    #[serde(default)]
    pub steps: Vec<Step>,
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
        let lines = super::lines::LineIndex::new(source);
        for step in &mut self.steps {
            step.position = lines.position(step.span.start);
        }
    }
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
    expecting = "an account table: { display_name?, tls?, start?, fault? }"
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
}

fn yes() -> bool {
    true
}

/// One step: exactly one action plus the optional checks every step may carry.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step does.
    pub action: Action,
    /// Prose shown in reports and traces next to the step.
    pub note: Option<String>,
    /// The HTTP status the step's call must answer with (instead of plain success).
    pub expect_status: Option<u16>,
    /// A substring the refusal's error description must contain.
    pub expect_error: Option<String>,
    /// A JSON value the response body must contain (subset match).
    pub expect_body: Option<Value>,
    /// Byte span of the step's table in the source.
    pub span: Range<usize>,
    /// 1-based position of the step's table, filled in by `parse`.
    pub position: Position,
}

impl Step {
    /// The status this step expects, wherever it was written (`request` may carry its own).
    pub fn expected_status(&self) -> Option<u16> {
        match &self.action {
            Action::Request(request) => self.expect_status.or(request.expect_status),
            _ => self.expect_status,
        }
    }

    /// The body this step expects, wherever it was written (`request` may carry its own).
    pub fn expected_body(&self) -> Option<&Value> {
        match &self.action {
            Action::Request(request) => self.expect_body.as_ref().or(request.expect_body.as_ref()),
            _ => self.expect_body.as_ref(),
        }
    }
}

/// The keys any step may carry besides its action.
pub const STEP_COMMON_KEYS: &[&str] = &["note", "expect_status", "expect_error", "expect_body"];

/// Declares `Action` from one line per action, so that adding an action is one line here
/// (plus its handler in the runner): the enum, its key list, the step deserializer's
/// dispatch and the schema all come from the same list.
macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) = $key:literal, )*) => {
        /// What a step does; one variant per action key of the file format.
        #[derive(Debug, Clone)]
        pub enum Action {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Action {
            /// Every action key a step may hold, in documentation order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// The key this action is written under, for messages and traces.
            pub fn key(&self) -> &'static str {
                match self {
                    $( Action::$variant(_) => $key, )*
                }
            }

            /// Reads the value of action key `key` from a step table; `None` if `key` is
            /// not an action.
            fn next_from_map<'de, A: MapAccess<'de>>(
                key: &str,
                map: &mut A,
            ) -> Result<Option<Action>, A::Error> {
                Ok(Some(match key {
                    $( $key => Action::$variant(map.next_value()?), )*
                    _ => return Ok(None),
                }))
            }

            /// The schema of every action's value, keyed by action.
            fn schemas(generator: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
                vec![$( ($key, generator.subschema_for::<$ty>()), )*]
            }
        }
    };
}

actions! {
    /// An admin creates an outbound agreement; the partner is sent an invitation.
    Invite(Invite) = "invite",
    /// The receiver accepts or declines a pending invitation.
    Respond(Respond) = "respond",
    /// Either side deactivates an agreement (it can never be reactivated).
    Deactivate(AgreementTarget) = "deactivate",
    /// An admin deletes an agreement through the REST API.
    Delete(AgreementTarget) = "delete",
    /// The sender re-sends a failed invitation (`PUT status: "pending"`).
    Resend(Resend) = "resend",
    /// A raw REST call, for what the other actions do not cover.
    Request(Request) = "request",
    /// Waits until an expectation holds, or fails after a timeout.
    Wait(Wait) = "wait",
    /// Checks an expectation now.
    Expect(Expectation) = "expect",
    /// Swaps the certificate an account presents.
    Certificate(Certificate) = "certificate",
    /// Breaks the links into an account.
    Fault(Fault) = "fault",
    /// Removes faults from the links into an account.
    Heal(Heal) = "heal",
    /// Stops an account's listener (it refuses connections).
    Stop(AccountTarget) = "stop",
    /// Starts an account that was stopped or declared with `start = false`.
    Start(AccountTarget) = "start",
    /// Stops and starts an account again, keeping its state.
    Restart(AccountTarget) = "restart",
    /// Creates a ticket in an account.
    Ticket(NewTicket) = "ticket",
    /// Shares a ticket over an accepted outbound agreement.
    Share(Share) = "share",
    /// Stops sharing a ticket; the receiver keeps an orphan copy.
    Unshare(Unshare) = "unshare",
    /// Adds a comment to a ticket.
    Comment(Comment) = "comment",
    /// Changes a ticket's status.
    SetStatus(SetStatus) = "set_status",
    /// Checks a ticket's state in one account.
    ExpectTicket(ExpectTicket) = "expect_ticket",
}

impl<'de> Deserialize<'de> for Step {
    /// Takes the step's table, pulls the common keys and requires exactly one action key.
    /// Needs a TOML deserializer: the step's span comes from `toml::Spanned`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let body = Spanned::<StepBody>::deserialize(deserializer)?;
        let span = body.span();
        let body = body.into_inner();
        Ok(Step {
            action: body.action,
            note: body.note,
            expect_status: body.expect_status,
            expect_error: body.expect_error,
            expect_body: body.expect_body,
            span,
            position: Position::default(),
        })
    }
}

/// A step's content before its span is attached.
struct StepBody {
    action: Action,
    note: Option<String>,
    expect_status: Option<u16>,
    expect_error: Option<String>,
    expect_body: Option<Value>,
}

impl<'de> Deserialize<'de> for StepBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = StepBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a step table holding one action ({})",
            list(Action::KEYS)
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepBody, A::Error> {
        let mut action: Option<Action> = None;
        let mut note = None;
        let mut expect_status = None;
        let mut expect_error = None;
        let mut expect_body = None;
        loop {
            let first = action.as_ref().map(Action::key);
            let seed = KeySeed(&|key: &str| check_step_key(key, first));
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            match key.as_str() {
                "note" => note = Some(map.next_value()?),
                "expect_status" => expect_status = Some(map.next_value_seed(Checked(http_status))?),
                "expect_error" => expect_error = Some(map.next_value()?),
                "expect_body" => expect_body = Some(map.next_value()?),
                other => action = Action::next_from_map(other, &mut map)?,
            }
        }
        let Some(action) = action else {
            return Err(de::Error::custom(format!(
                "this step has no action; a step takes exactly one of {}",
                list(Action::KEYS)
            )));
        };
        Ok(StepBody {
            action,
            note,
            expect_status,
            expect_error,
            expect_body,
        })
    }
}

/// Says what is wrong with a key of a step table, given the action already seen.
fn check_step_key(key: &str, first_action: Option<&str>) -> Result<(), String> {
    if STEP_COMMON_KEYS.contains(&key) {
        return Ok(());
    }
    if !Action::KEYS.contains(&key) {
        return Err(format!(
            "unknown key `{key}` in a step; a step takes one action ({}) and optionally {}",
            list(Action::KEYS),
            list(STEP_COMMON_KEYS)
        ));
    }
    match first_action {
        Some(first) => Err(format!(
            "this step has two actions, `{first}` and `{key}`; a step takes exactly one \
             action, so split them into two `[[steps]]`"
        )),
        None => Ok(()),
    }
}

/// Deserializes a map key and vets it with a check, so that a bad key is reported at the
/// key itself (the TOML deserializer attaches the key's span to errors raised here).
struct KeySeed<'a>(&'a dyn Fn(&str) -> Result<(), String>);

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
struct Checked<T>(fn(&T) -> Result<(), String>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Checked<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let value = T::deserialize(deserializer)?;
        (self.0)(&value).map_err(de::Error::custom)?;
        Ok(value)
    }
}

fn http_status(status: &u16) -> Result<(), String> {
    if (100..=599).contains(status) {
        Ok(())
    } else {
        Err(format!(
            "{status} is not an HTTP status; expected a number from 100 to 599"
        ))
    }
}

fn optional_http_status<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u16>, D::Error> {
    Checked(http_status).deserialize(deserializer).map(Some)
}

fn absolute_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let path = String::deserialize(deserializer)?;
    if !path.starts_with('/') {
        return Err(de::Error::custom(format!(
            "the path `{path}` must start with `/`, e.g. `/api/v2/sharing_agreements.json`"
        )));
    }
    Ok(path)
}

/// Formats allowed names as `` `a`, `b`, `c` `` for messages.
pub(crate) fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Declares an enum written as one of a fixed set of strings, with messages and a schema
/// that list the allowed spellings.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
        }

        impl $name {
            /// Every spelling the file format accepts, in documentation order.
            pub const ALLOWED: &'static [&'static str] = &[$($text),*];

            /// The spelling used in scenario files and in Zendesk's JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $( $text => Ok($name::$variant), )*
                    _ => Err(format!(
                        "unknown value `{text}`; allowed values are {}",
                        list(Self::ALLOWED)
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = deserializer.deserialize_str(KeywordVisitor(Self::ALLOWED))?;
                text.parse().map_err(de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "enum": Self::ALLOWED })
            }
        }
    };
}

/// Teaches the file format the spellings of an enum the domain already defines (its
/// `as_str` is the same spelling), so the runner uses the domain type directly.
macro_rules! domain_keywords {
    ($name:ident { $( $variant:ident = $text:literal, )* }) => {
        impl $name {
            /// Every spelling the file format accepts, in documentation order.
            pub const ALLOWED: &'static [&'static str] = &[$($text),*];
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = deserializer.deserialize_str(KeywordVisitor(Self::ALLOWED))?;
                match text.as_str() {
                    $( $text => Ok($name::$variant), )*
                    _ => Err(de::Error::custom(format!(
                        "unknown value `{text}`; allowed values are {}",
                        list(Self::ALLOWED)
                    ))),
                }
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "enum": Self::ALLOWED })
            }
        }
    };
}

/// Reads a string, describing the allowed spellings when the value is not a string.
struct KeywordVisitor(&'static [&'static str]);

impl Visitor<'_> for KeywordVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of {}", list(self.0))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_owned())
    }
}

keyword_enum! {
    /// Which user of an account performs an action; permissions differ (only admins
    /// manage agreements).
    #[derive(Default)]
    pub enum User {
        /// An admin (the default).
        #[default]
        Admin = "admin",
        /// An agent.
        Agent = "agent",
    }
}

domain_keywords! {
    CertMode {
        Valid = "valid",
        SelfSigned = "self_signed",
        Expired = "expired",
        NotYetValid = "not_yet_valid",
        WrongHost = "wrong_host",
        UntrustedCa = "untrusted_ca",
        PlainHttp = "plain_http",
    }
}

keyword_enum! {
    /// The answer a receiver gives to an invitation.
    pub enum Answer {
        /// Accept the invitation.
        Accepted = "accepted",
        /// Decline it.
        Declined = "declined",
    }
}

domain_keywords! {
    AgreementStatus {
        Accepted = "accepted",
        Declined = "declined",
        Pending = "pending",
        Inactive = "inactive",
        Failed = "failed",
        SslError = "ssl_error",
        ConfigurationError = "configuration_error",
    }
}

domain_keywords! {
    Direction {
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

keyword_enum! {
    /// The HTTP methods a raw `request` may use.
    pub enum Method {
        /// GET.
        Get = "GET",
        /// POST.
        Post = "POST",
        /// PUT.
        Put = "PUT",
        /// DELETE.
        Delete = "DELETE",
        /// PATCH.
        Patch = "PATCH",
    }
}

domain_keywords! {
    TicketStatus {
        New = "new",
        Open = "open",
        Pending = "pending",
        Hold = "hold",
        Solved = "solved",
        Closed = "closed",
    }
}

domain_keywords! {
    CrashPoint {
        BeforeStore = "before_store",
        AfterStore = "after_store",
    }
}

/// `invite`: an admin of `from` creates an outbound agreement with `to`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an `invite` table: { from, to, as, name?, user?, terms? }"
)]
pub struct Invite {
    /// The sending account.
    #[schemars(with = "String")]
    pub from: Ref,
    /// The receiving account.
    #[schemars(with = "String")]
    pub to: Ref,
    /// The handle later steps use for this agreement (on both sides).
    #[serde(rename = "as")]
    #[schemars(with = "String")]
    pub handle: Ref,
    /// The agreement's name; the account's default otherwise.
    pub name: Option<String>,
    /// Who sends the invitation.
    #[serde(default)]
    pub user: User,
    /// The agreement's terms; unset ones take the model's defaults.
    #[serde(default)]
    pub terms: Terms,
}

/// The terms an invitation proposes; `None` leaves the model's default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `terms` table: { sync_tags?, sync_custom_fields?, allows_public_comments?, sync_status? }"
)]
pub struct Terms {
    /// Whether tags sync.
    pub sync_tags: Option<bool>,
    /// Whether custom fields sync.
    pub sync_custom_fields: Option<bool>,
    /// Whether the partner may add public comments.
    pub allows_public_comments: Option<bool>,
    /// Whether status changes sync.
    pub sync_status: Option<bool>,
}

/// `respond`: the receiver answers an invitation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `respond` table: { account, agreement, status, user? }"
)]
pub struct Respond {
    /// The answering account (the receiver).
    #[schemars(with = "String")]
    pub account: Ref,
    /// The agreement handle.
    #[schemars(with = "String")]
    pub agreement: Ref,
    /// The answer.
    pub status: Answer,
    /// Who answers.
    #[serde(default)]
    pub user: User,
}

/// `deactivate` and `delete`: one account acts on its side of an agreement.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: { account, agreement, user? }"
)]
pub struct AgreementTarget {
    /// The acting account (either side).
    #[schemars(with = "String")]
    pub account: Ref,
    /// The agreement handle.
    #[schemars(with = "String")]
    pub agreement: Ref,
    /// Who acts.
    #[serde(default)]
    pub user: User,
}

/// `resend`: the sender re-sends a failed invitation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `resend` table: { agreement, account?, user? }"
)]
pub struct Resend {
    /// The agreement handle.
    #[schemars(with = "String")]
    pub agreement: Ref,
    /// The acting account; the agreement's sender when omitted.
    #[schemars(with = "Option<String>")]
    pub account: Option<Ref>,
    /// Who acts.
    #[serde(default)]
    pub user: User,
}

/// `request`: a raw REST call to one account.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `request` table: { account, method, path, user?, body?, expect_status?, expect_body? }"
)]
pub struct Request {
    /// The account called.
    #[schemars(with = "String")]
    pub account: Ref,
    /// Whose credentials the call carries.
    #[serde(default)]
    pub user: User,
    /// The HTTP method.
    pub method: Method,
    /// The path, starting with `/` (with or without `.json`).
    #[serde(deserialize_with = "absolute_path")]
    #[schemars(pattern("^/"))]
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The status the call must answer with (same as the step's `expect_status`).
    #[serde(default, deserialize_with = "optional_http_status")]
    #[schemars(range(min = 100, max = 599))]
    pub expect_status: Option<u16>,
    /// A JSON value the answer must contain (same as the step's `expect_body`).
    pub expect_body: Option<Value>,
}

/// `wait`: polls an expectation until it holds.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `wait` table: { until, timeout_ms? }"
)]
pub struct Wait {
    /// What must become true.
    pub until: Expectation,
    /// How long to wait before failing; the runner's default otherwise.
    pub timeout_ms: Option<u64>,
}

/// `certificate`: swaps the certificate an account presents.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `certificate` table: { account, mode }"
)]
pub struct Certificate {
    /// The account.
    #[schemars(with = "String")]
    pub account: Ref,
    /// The new certificate.
    pub mode: CertMode,
}

/// `heal`: removes faults on the links into an account.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a `heal` table: { account, from? }")]
pub struct Heal {
    /// The account whose incoming links heal.
    #[schemars(with = "String")]
    pub account: Ref,
    /// Only the link from this account; every link when omitted.
    #[schemars(with = "Option<String>")]
    pub from: Option<Ref>,
}

/// `stop`, `start` and `restart`: act on one account's listener.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table: { account }")]
pub struct AccountTarget {
    /// The account.
    #[schemars(with = "String")]
    pub account: Ref,
}

/// `ticket`: creates a ticket.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `ticket` table: { account, as, subject, description?, status?, tags?, user? }"
)]
pub struct NewTicket {
    /// The account the ticket is created in.
    #[schemars(with = "String")]
    pub account: Ref,
    /// The handle later steps use for this ticket (and its copies in other accounts).
    #[serde(rename = "as")]
    #[schemars(with = "String")]
    pub handle: Ref,
    /// The subject.
    pub subject: String,
    /// The first comment's body.
    pub description: Option<String>,
    /// The initial status; the model's default otherwise.
    pub status: Option<TicketStatus>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Who creates it.
    #[serde(default)]
    pub user: User,
}

/// `share`: shares a ticket over an agreement.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `share` table: { ticket, agreement, account? }"
)]
pub struct Share {
    /// The ticket handle.
    #[schemars(with = "String")]
    pub ticket: Ref,
    /// The agreement handle.
    #[schemars(with = "String")]
    pub agreement: Ref,
    /// The sharing account; the ticket's account when omitted.
    #[schemars(with = "Option<String>")]
    pub account: Option<Ref>,
}

/// `unshare`: stops sharing a ticket.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an `unshare` table: { ticket, account? }"
)]
pub struct Unshare {
    /// The ticket handle.
    #[schemars(with = "String")]
    pub ticket: Ref,
    /// The acting account; the ticket's account when omitted.
    #[schemars(with = "Option<String>")]
    pub account: Option<Ref>,
}

/// `comment`: adds a comment to a ticket in one account.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `comment` table: { account, ticket, body, public? }"
)]
pub struct Comment {
    /// The account whose copy gets the comment.
    #[schemars(with = "String")]
    pub account: Ref,
    /// The ticket handle.
    #[schemars(with = "String")]
    pub ticket: Ref,
    /// The text.
    pub body: String,
    /// Public (default) or internal note.
    #[serde(default = "yes")]
    pub public: bool,
}

/// `set_status`: changes a ticket's status in one account.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `set_status` table: { account, ticket, status }"
)]
pub struct SetStatus {
    /// The account whose copy changes.
    #[schemars(with = "String")]
    pub account: Ref,
    /// The ticket handle.
    #[schemars(with = "String")]
    pub ticket: Ref,
    /// The new status.
    pub status: TicketStatus,
}

/// `expect_ticket`: checks a ticket's copy in one account; unset fields are not checked.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an `expect_ticket` table: { account, ticket, absent?, subject?, status?, comments?, shared_with?, orphan?, tags? }"
)]
pub struct ExpectTicket {
    /// The account whose copy is checked.
    #[schemars(with = "String")]
    pub account: Ref,
    /// The ticket handle.
    #[schemars(with = "String")]
    pub ticket: Ref,
    /// `true`: the account must have no copy (then no other field may be given).
    #[schemars(with = "Option<bool>")]
    pub absent: Option<Spanned<bool>>,
    /// The subject.
    pub subject: Option<String>,
    /// The status.
    pub status: Option<TicketStatus>,
    /// The comments, in order.
    pub comments: Option<Vec<ExpectedComment>>,
    /// The agreement handle the ticket is shared over, or `""` for not shared.
    #[schemars(with = "Option<String>")]
    pub shared_with: Option<Ref>,
    /// Whether the copy is an orphan (its sharer unshared it).
    pub orphan: Option<bool>,
    /// The tags.
    pub tags: Option<Vec<String>>,
}

impl ExpectTicket {
    /// Whether this checks that the ticket is absent.
    pub fn is_absent(&self) -> bool {
        self.absent.as_ref().is_some_and(|absent| *absent.get_ref())
    }

    /// Names of the field checks given, so `absent = true` can be refused next to them.
    pub(crate) fn checked_fields(&self) -> Vec<&'static str> {
        [
            ("subject", self.subject.is_some()),
            ("status", self.status.is_some()),
            ("comments", self.comments.is_some()),
            ("shared_with", self.shared_with.is_some()),
            ("orphan", self.orphan.is_some()),
            ("tags", self.tags.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

/// One comment an `expect_ticket` requires.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a comment table: { body, public? }")]
pub struct ExpectedComment {
    /// The text.
    pub body: String,
    /// Public or internal; not checked when omitted.
    pub public: Option<bool>,
}

/// What `expect` and `wait` check.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// One agreement, seen from one account.
    Agreement(AgreementCheck),
    /// How many agreements an account has.
    Count(CountCheck),
    /// That both sides of an agreement disagree (e.g. after a crash point).
    Divergence(Ref),
}

/// Checks one agreement in one account; unset fields are not checked.
#[derive(Debug, Clone)]
pub struct AgreementCheck {
    /// The account whose view is checked.
    pub account: Ref,
    /// The agreement handle.
    pub agreement: Ref,
    /// The account must have no such agreement.
    pub absent: bool,
    /// `id`.
    pub id: Option<i64>,
    /// `name`.
    pub name: Option<String>,
    /// `partner_name`; `""` means null (no partner integration).
    pub partner_name: Option<String>,
    /// `remote_subdomain`.
    pub remote_subdomain: Option<String>,
    /// `status`.
    pub status: Option<AgreementStatus>,
    /// `type`.
    pub direction: Option<Direction>,
    /// `url`.
    pub url: Option<String>,
    /// `created_at`.
    pub created_at: Option<String>,
    /// `updated_at`.
    pub updated_at: Option<String>,
}

/// Counts an account's agreements, optionally only those of one type and status.
#[derive(Debug, Clone)]
pub struct CountCheck {
    /// The account.
    pub account: Ref,
    /// The expected number.
    pub count: u32,
    /// Only agreements of this type.
    pub direction: Option<Direction>,
    /// Only agreements in this status.
    pub status: Option<AgreementStatus>,
}

/// Keys that only an agreement check takes (its field values).
const AGREEMENT_FIELD_KEYS: &[&str] = &[
    "id",
    "name",
    "partner_name",
    "remote_subdomain",
    "url",
    "created_at",
    "updated_at",
];

/// Every key an expectation table may hold.
const EXPECTATION_KEYS: &[&str] = &[
    "account",
    "agreement",
    "absent",
    "id",
    "name",
    "partner_name",
    "remote_subdomain",
    "status",
    "type",
    "url",
    "created_at",
    "updated_at",
    "count",
    "divergence",
];

/// Says why `key` cannot join the keys already seen in an expectation table.
fn check_expectation_key(key: &str, seen: &[String]) -> Result<(), String> {
    if !EXPECTATION_KEYS.contains(&key) {
        return Err(format!(
            "unknown key `{key}` in an expectation; allowed keys are {}",
            list(EXPECTATION_KEYS)
        ));
    }
    for other in seen {
        let pair = [key, other.as_str()];
        let has = |name: &str| pair.contains(&name);
        let field = pair.iter().find(|k| AGREEMENT_FIELD_KEYS.contains(k));
        if has("divergence") {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: a divergence check is only \
                 `{{ divergence = \"<agreement>\" }}`"
            ));
        }
        if has("count") && (has("agreement") || has("absent") || field.is_some()) {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: a count check takes only \
                 `account`, `count`, `type` and `status`"
            ));
        }
        if has("absent") && (field.is_some() || has("status") || has("type")) {
            return Err(format!(
                "`{key}` cannot be combined with `{other}`: an absent agreement has no \
                 fields to check"
            ));
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Expectation {
    /// Reads the keys one by one so that a key which does not fit the others is reported
    /// where it is written.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ExpectationVisitor)
    }
}

struct ExpectationVisitor;

impl<'de> Visitor<'de> for ExpectationVisitor {
    type Value = Expectation;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an expectation table: { account, agreement, <fields>? }, \
             { account, count, type?, status? } or { divergence }",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expectation, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut account = None;
        let mut agreement = None;
        let mut absent = None;
        let mut id = None;
        let mut name = None;
        let mut partner_name = None;
        let mut remote_subdomain = None;
        let mut status = None;
        let mut direction = None;
        let mut url = None;
        let mut created_at = None;
        let mut updated_at = None;
        let mut count = None;
        let mut divergence = None;
        loop {
            let seed = KeySeed(&|key: &str| check_expectation_key(key, &seen));
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            match key.as_str() {
                "account" => account = Some(map.next_value()?),
                "agreement" => agreement = Some(map.next_value()?),
                "absent" => absent = Some(map.next_value()?),
                "id" => id = Some(map.next_value()?),
                "name" => name = Some(map.next_value()?),
                "partner_name" => partner_name = Some(map.next_value()?),
                "remote_subdomain" => remote_subdomain = Some(map.next_value()?),
                "status" => status = Some(map.next_value()?),
                "type" => direction = Some(map.next_value()?),
                "url" => url = Some(map.next_value()?),
                "created_at" => created_at = Some(map.next_value()?),
                "updated_at" => updated_at = Some(map.next_value()?),
                "count" => count = Some(map.next_value()?),
                _ => divergence = Some(map.next_value()?),
            }
            seen.push(key);
        }
        if let Some(handle) = divergence {
            return Ok(Expectation::Divergence(handle));
        }
        let Some(account) = account else {
            return Err(if count.is_none() && agreement.is_none() {
                missing_expectation_kind()
            } else {
                de::Error::missing_field("account")
            });
        };
        if let Some(count) = count {
            return Ok(Expectation::Count(CountCheck {
                account,
                count,
                direction,
                status,
            }));
        }
        let Some(agreement) = agreement else {
            return Err(missing_expectation_kind());
        };
        Ok(Expectation::Agreement(AgreementCheck {
            account,
            agreement,
            absent: absent.unwrap_or(false),
            id,
            name,
            partner_name,
            remote_subdomain,
            status,
            direction,
            url,
            created_at,
            updated_at,
        }))
    }
}

fn missing_expectation_kind<E: de::Error>() -> E {
    E::custom(
        "an expectation needs `account` and `agreement` (check one agreement), `account` \
         and `count` (count agreements), or `divergence`",
    )
}

/// `fault`: breaks the links into `account` (from every account, or only from `from`).
#[derive(Debug, Clone)]
pub struct Fault {
    /// The account whose incoming links break.
    pub account: Ref,
    /// How they break.
    pub rule: FaultRule,
}

/// How links into an account break; also what an account's `fault` key declares.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Only the link from this account; every link when omitted.
    pub from: Option<Ref>,
    /// Only the next `times` calls; every call when omitted.
    pub times: Option<u32>,
    /// What goes wrong.
    pub kind: FaultKind,
}

/// What goes wrong on a faulty link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Connections are refused.
    Down,
    /// The connection is accepted and never answered (the caller's timeout fires).
    Hang,
    /// The connection is reset.
    Reset,
    /// The partner redirects forever.
    RedirectLoop,
    /// Every answer is delayed by this many milliseconds.
    LatencyMs(u64),
    /// Every answer is this error status (400–599).
    Status(u16),
    /// The receiver crashes at this point while handling the call.
    Crash(CrashPoint),
}

/// The keys naming a fault's kind, exactly one of which a fault holds.
pub const FAULT_KINDS: &[&str] = &[
    "down",
    "hang",
    "reset",
    "redirect_loop",
    "latency_ms",
    "status",
    "crash",
];

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (account, rule) = deserializer.deserialize_map(FaultVisitor { in_step: true })?;
        match account {
            Some(account) => Ok(Fault { account, rule }),
            None => Err(de::Error::missing_field("account")),
        }
    }
}

impl<'de> Deserialize<'de> for FaultRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (_, rule) = deserializer.deserialize_map(FaultVisitor { in_step: false })?;
        Ok(rule)
    }
}

/// Reads a fault table; `in_step` says whether it names its account (a `fault` step) or
/// belongs to an account's table (which names it already).
struct FaultVisitor {
    in_step: bool,
}

impl FaultVisitor {
    fn allowed_keys(&self) -> Vec<&'static str> {
        let mut keys = if self.in_step {
            vec!["account"]
        } else {
            Vec::new()
        };
        keys.extend(["from", "times"]);
        keys.extend(FAULT_KINDS);
        keys
    }

    fn check_key(&self, key: &str, kind_seen: Option<&str>) -> Result<(), String> {
        if !self.allowed_keys().contains(&key) {
            return Err(format!(
                "unknown key `{key}` in a fault; allowed keys are {}",
                list(&self.allowed_keys())
            ));
        }
        match kind_seen {
            Some(first) if FAULT_KINDS.contains(&key) => Err(format!(
                "this fault has two kinds, `{first}` and `{key}`; a fault takes exactly one \
                 of {}",
                list(FAULT_KINDS)
            )),
            _ => Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = (Option<Ref>, FaultRule);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a fault table with keys among {}",
            list(&self.allowed_keys())
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut account = None;
        let mut from = None;
        let mut times = None;
        let mut kind: Option<(&'static str, FaultKind)> = None;
        loop {
            let kind_seen = kind.map(|(key, _)| key);
            let seed = KeySeed(&|key: &str| self.check_key(key, kind_seen));
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            let new_kind = match key.as_str() {
                "account" => {
                    account = Some(map.next_value()?);
                    continue;
                }
                "from" => {
                    from = Some(map.next_value()?);
                    continue;
                }
                "times" => {
                    times = Some(map.next_value_seed(Checked(at_least_once))?);
                    continue;
                }
                "down" => ("down", read_true(&mut map, FaultKind::Down)?),
                "hang" => ("hang", read_true(&mut map, FaultKind::Hang)?),
                "reset" => ("reset", read_true(&mut map, FaultKind::Reset)?),
                "redirect_loop" => (
                    "redirect_loop",
                    read_true(&mut map, FaultKind::RedirectLoop)?,
                ),
                "latency_ms" => ("latency_ms", FaultKind::LatencyMs(map.next_value()?)),
                "status" => (
                    "status",
                    FaultKind::Status(map.next_value_seed(Checked(error_status))?),
                ),
                _ => ("crash", FaultKind::Crash(map.next_value()?)),
            };
            kind = Some(new_kind);
        }
        if self.in_step && account.is_none() {
            return Err(de::Error::missing_field("account"));
        }
        let Some((_, kind)) = kind else {
            return Err(de::Error::custom(
                "this fault has no kind; give exactly one of `down = true`, `hang = true`, \
                 `reset = true`, `redirect_loop = true`, `latency_ms = <ms>`, \
                 `status = <400..599>` or `crash = \"before_store\"|\"after_store\"`",
            ));
        };
        Ok((account, FaultRule { from, times, kind }))
    }
}

/// Reads a fault kind written as `<kind> = true`; `false` would be a fault that is not one.
fn read_true<'de, A: MapAccess<'de>>(map: &mut A, kind: FaultKind) -> Result<FaultKind, A::Error> {
    map.next_value_seed(Checked(|on: &bool| {
        if *on {
            Ok(())
        } else {
            Err("this fault kind only takes `true`; remove the key (or use `heal`) to have no fault".to_owned())
        }
    }))?;
    Ok(kind)
}

fn at_least_once(times: &u32) -> Result<(), String> {
    if *times == 0 {
        Err(
            "`times = 0` would never fault; use at least 1, or omit it to fault every call"
                .to_owned(),
        )
    } else {
        Ok(())
    }
}

fn error_status(status: &u16) -> Result<(), String> {
    if (400..=599).contains(status) {
        Ok(())
    } else {
        Err(format!(
            "a fault's status must be an error status from 400 to 599, not {status}"
        ))
    }
}

/// The schema of a fault table: one branch per kind, each with the shared keys.
fn fault_schema(generator: &mut SchemaGenerator, in_step: bool) -> Schema {
    let reference = generator.subschema_for::<String>().to_value();
    let times = json!({ "type": "integer", "minimum": 1 });
    let kinds: [(&str, Value); 7] = [
        ("down", json!({ "const": true })),
        ("hang", json!({ "const": true })),
        ("reset", json!({ "const": true })),
        ("redirect_loop", json!({ "const": true })),
        ("latency_ms", json!({ "type": "integer", "minimum": 0 })),
        (
            "status",
            json!({ "type": "integer", "minimum": 400, "maximum": 599 }),
        ),
        ("crash", generator.subschema_for::<CrashPoint>().to_value()),
    ];
    let branches: Vec<Value> = kinds
        .into_iter()
        .map(|(kind, schema)| {
            let mut properties = Map::new();
            let mut required = vec![json!(kind)];
            if in_step {
                properties.insert("account".into(), reference.clone());
                required.push(json!("account"));
            }
            properties.insert("from".into(), reference.clone());
            properties.insert("times".into(), times.clone());
            properties.insert(kind.into(), schema);
            json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            })
        })
        .collect();
    json_schema!({ "oneOf": branches })
}

fn account_fault_schema(generator: &mut SchemaGenerator) -> Schema {
    let rule = generator.subschema_for::<FaultRule>().to_value();
    json_schema!({ "anyOf": [rule, { "type": "null" }] })
}

impl JsonSchema for Fault {
    fn schema_name() -> Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        fault_schema(generator, true)
    }
}

impl JsonSchema for FaultRule {
    fn schema_name() -> Cow<'static, str> {
        "FaultRule".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        fault_schema(generator, false)
    }
}

impl JsonSchema for Expectation {
    fn schema_name() -> Cow<'static, str> {
        "Expectation".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let string = generator.subschema_for::<String>().to_value();
        let status = generator.subschema_for::<AgreementStatus>().to_value();
        let direction = generator.subschema_for::<Direction>().to_value();
        json_schema!({
            "oneOf": [
                {
                    "description": "One agreement, seen from one account.",
                    "type": "object",
                    "properties": {
                        "account": string, "agreement": string,
                        "absent": { "type": "boolean" },
                        "id": { "type": "integer" },
                        "name": string, "partner_name": string, "remote_subdomain": string,
                        "status": status, "type": direction,
                        "url": string, "created_at": string, "updated_at": string,
                    },
                    "required": ["account", "agreement"],
                    "additionalProperties": false,
                },
                {
                    "description": "How many agreements an account has.",
                    "type": "object",
                    "properties": {
                        "account": string,
                        "count": { "type": "integer", "minimum": 0 },
                        "type": direction, "status": status,
                    },
                    "required": ["account", "count"],
                    "additionalProperties": false,
                },
                {
                    "description": "Both sides of an agreement disagree.",
                    "type": "object",
                    "properties": { "divergence": string },
                    "required": ["divergence"],
                    "additionalProperties": false,
                },
            ]
        })
    }
}

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let common = [
            ("note", json!({ "type": "string" })),
            (
                "expect_status",
                json!({ "type": "integer", "minimum": 100, "maximum": 599 }),
            ),
            ("expect_error", json!({ "type": "string" })),
            ("expect_body", json!(true)),
        ];
        let branches: Vec<Value> = Action::schemas(generator)
            .into_iter()
            .map(|(key, schema)| {
                let mut properties = Map::new();
                properties.insert(key.into(), schema.to_value());
                for (name, schema) in &common {
                    properties.insert((*name).into(), schema.clone());
                }
                json!({
                    "type": "object",
                    "properties": properties,
                    "required": [key],
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "Exactly one action key, plus optional common keys.",
            "oneOf": branches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file format spells the domain's enums exactly as the domain does.
    #[test]
    fn file_spellings_match_the_domain() {
        // Same set of words; the order of ALLOWED is the documentation's.
        fn same<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, allowed: &[&str]) {
            let mut domain: Vec<&str> = all.iter().map(|value| as_str(*value)).collect();
            let mut file = allowed.to_vec();
            domain.sort_unstable();
            file.sort_unstable();
            assert_eq!(domain, file);
        }
        same(
            &AgreementStatus::ALL,
            AgreementStatus::as_str,
            AgreementStatus::ALLOWED,
        );
        same(&Direction::ALL, Direction::as_str, Direction::ALLOWED);
        same(
            &TicketStatus::ALL,
            TicketStatus::as_str,
            TicketStatus::ALLOWED,
        );
        same(
            &CertMode::ALL,
            |mode: CertMode| mode.as_str(),
            CertMode::ALLOWED,
        );
        for text in CrashPoint::ALLOWED {
            assert_eq!(text.parse::<CrashPoint>().map(|p| p.as_str()), Ok(*text));
        }
    }
}
