//! The agreement and world actions: invite, respond, deactivate, delete, resend, raw
//! requests, waits, certificates, heals and an account's listener.

use super::*;

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

impl Terms {
    /// The terms a file sets, by their key in the file and on the REST API, in that
    /// order: what the runner sends and what explore writes back out.
    pub fn set(&self) -> impl Iterator<Item = (&'static str, bool)> {
        [
            ("sync_tags", self.sync_tags),
            ("sync_custom_fields", self.sync_custom_fields),
            ("allows_public_comments", self.allows_public_comments),
            ("sync_status", self.sync_status),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
    }
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
