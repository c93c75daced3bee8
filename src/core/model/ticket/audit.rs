//! What a change to a ticket tells its partners and writes in its audit: who acted,
//! what changed, and the audit events of comments and field changes.

use super::{AuditEvent, Comment, TicketStatus, content};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Someone who acts on a ticket as the partner protocol names people: a stable uuid,
/// a display name and a role. The same shape travels on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    /// Stable identifier of the person.
    #[serde(default, deserialize_with = "content::null_as_empty")]
    pub uuid: String,
    /// Display name.
    #[serde(default, deserialize_with = "content::null_as_empty")]
    pub name: String,
    /// `admin` or `agent` (Zendesk's client writes null when it has none).
    #[serde(default, deserialize_with = "content::null_as_empty")]
    pub role: String,
}

/// What one change to a ticket must tell the partners it is shared with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// New comments, in order.
    pub comments: Vec<Comment>,
    /// A new status.
    pub status: Option<TicketStatus>,
    /// Whether the tags changed.
    pub tags: bool,
    /// Whether any custom field changed.
    pub custom_fields: bool,
    /// Whether the custom status changed.
    pub custom_status: bool,
    /// Whether the requester changed.
    pub requester: bool,
    /// The local id of who made the change.
    pub actor: Option<u64>,
}

impl Delta {
    /// Whether there is nothing for partners to hear.
    pub fn is_empty(&self) -> bool {
        self.comments.is_empty()
            && self.status.is_none()
            && !self.tags
            && !self.custom_fields
            && !self.custom_status
            && !self.requester
    }

    /// `comment 3, status open, tags`: what changed, for trace lines.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .comments
            .iter()
            .map(|c| format!("comment {}", c.id))
            .collect();
        if let Some(status) = self.status {
            parts.push(format!("status {status}"));
        }
        if self.tags {
            parts.push("tags".to_string());
        }
        if self.custom_fields {
            parts.push("custom fields".to_string());
        }
        if self.custom_status {
            parts.push("custom status".to_string());
        }
        if self.requester {
            parts.push("requester".to_string());
        }
        parts.join(", ")
    }
}

/// The audit event of a new comment.
pub fn comment_event(comment: &Comment) -> AuditEvent {
    AuditEvent::Comment {
        id: comment.id,
        body: comment.body.clone(),
        public: comment.public,
        author_id: comment.author_id,
    }
}

/// The audit event of a field change.
pub fn change_event(field: &str, value: Value, previous: Value) -> AuditEvent {
    AuditEvent::Change {
        field_name: field.to_string(),
        value,
        previous_value: previous,
    }
}
