//! The ticket actions (create, share, unshare, comment, set a status) and the
//! `expect_ticket` check.

use super::*;

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
