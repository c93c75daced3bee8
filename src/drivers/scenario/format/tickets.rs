//! The ticket actions (create, share, unshare, comment, set a status) and the
//! `expect_ticket` check.

use super::*;

/// Custom field values by field title, as a scenario writes them: the runner finds
/// the account's field with that title.
pub type FieldValues = std::collections::BTreeMap<String, Value>;

/// `ticket`: creates a ticket.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `ticket` table: { account, as, subject, description?, status?, tags?, custom_fields?, custom_status?, follow_up?, user? }"
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
    /// Custom field values by the account's field titles.
    #[serde(default)]
    pub custom_fields: FieldValues,
    /// The custom status label.
    pub custom_status: Option<String>,
    /// The closed ticket this one follows up (`via_followup_source_id`).
    #[schemars(with = "Option<String>")]
    pub follow_up: Option<Ref>,
    /// Who creates it.
    #[serde(default)]
    pub user: User,
}

/// A file on a comment, as a URL.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an attachment table: { url, filename, content_type? }"
)]
pub struct AttachmentSpec {
    /// Where the file is.
    pub url: String,
    /// Its name.
    pub filename: String,
    /// Its MIME type.
    pub content_type: Option<String>,
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
    expecting = "a `comment` table: { account, ticket, body, public?, html_body?, attachments?, user?, safe_update? }"
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
    /// The HTML rendering.
    pub html_body: Option<String>,
    /// Files, as URLs.
    #[serde(default)]
    pub attachments: Vec<AttachmentSpec>,
    /// Who writes it.
    #[serde(default)]
    pub user: User,
    /// Send `safe_update` with the `updated_at` the user read when the step (or its
    /// `concurrently` group) began: refused 409 if the ticket changed since.
    #[serde(default)]
    pub safe_update: bool,
}

/// `set_status`: changes a ticket's status in one account.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a `set_status` table: { account, ticket, status, custom_status?, user?, safe_update? }"
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
    /// A custom status label to set with it.
    pub custom_status: Option<String>,
    /// Who changes it.
    #[serde(default)]
    pub user: User,
    /// As for `comment`: refused 409 if the ticket changed since the step began.
    #[serde(default)]
    pub safe_update: bool,
}

/// `expect_ticket`: checks a ticket's copy in one account; unset fields are not checked.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an `expect_ticket` table: { account, ticket, absent?, subject?, status?, comments?, shared_with?, orphan?, tags?, custom_fields?, custom_status? }"
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
    /// Custom field values by the account's field titles (only those named are checked).
    pub custom_fields: Option<FieldValues>,
    /// The custom status label.
    pub custom_status: Option<String>,
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
            ("custom_fields", self.custom_fields.is_some()),
            ("custom_status", self.custom_status.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

/// One comment an `expect_ticket` requires.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a comment table: { body, public?, html_body?, attachments? }"
)]
pub struct ExpectedComment {
    /// The text.
    pub body: String,
    /// Public or internal; not checked when omitted.
    pub public: Option<bool>,
    /// The HTML rendering; not checked when omitted.
    pub html_body: Option<String>,
    /// The attachments' file names, in order; not checked when omitted.
    pub attachments: Option<Vec<String>>,
}
