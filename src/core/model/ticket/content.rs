//! What a ticket and its comments carry besides text: attachments (which travel as
//! URLs, as Zendesk sends them), and the `via` that says how the ticket came to be.

use serde::{Deserialize, Serialize};

/// A file on a comment. Zendesk's partner protocol carries attachments as URLs the
/// partner may fetch; sharesim stores and shows them, and never fetches them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attachment {
    /// Where the file is.
    pub url: String,
    /// The file's name.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub filename: String,
    /// Its MIME type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The name to show, when it differs from `filename`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_filename: Option<String>,
}

/// How a ticket came to be on this account (the REST `via` object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Via {
    /// Created through the REST API.
    #[default]
    Api,
    /// A follow-up of a closed ticket (`via_followup_source_id`).
    FollowUp {
        /// The closed ticket's local id.
        source_id: u64,
    },
    /// A partner shared it with this account.
    TicketSharing {
        /// The partner's subdomain, when the directory knows it.
        partner: Option<String>,
        /// The inbound agreement it arrived over.
        agreement_id: u64,
        /// The sharer's own ticket id (the protocol's `original_id`).
        original_id: Option<u64>,
    },
}

/// Reads a string that Zendesk's client may send as null (it writes every field of
/// its objects, set or not) as empty.
pub(crate) fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}
