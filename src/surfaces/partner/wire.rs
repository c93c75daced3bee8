//! The partner protocol's wire shapes (Networked Help Desk 1.0) and their translation
//! to and from what accounts decide: the one place that knows how an agreement, a
//! ticket and a comment travel.
//!
//! Incoming bodies are checked for shape here (a uuid that matches the path, the
//! fields an invitation needs, comments with a uuid and a body, parsable statuses)
//! before an account sees them; absent or null fields in an update mean "unchanged".

use super::PartnerError;
use crate::core::account::Account;
use crate::core::account::agreements::InvitationOffer;
use crate::core::account::tickets::{
    CommentMessage, IncomingComment, IncomingTicket, SharedTicket, TicketMessage, TicketUpdate,
};
use crate::core::model::ticket::fields::{FieldType, SyncedValue};
use crate::core::model::ticket::{Actor, Attachment, Ticket, TicketStatus};
use crate::core::model::{Agreement, AgreementStatus, Terms, default_agreement_name};
use crate::core::text::Text;
use crate::core::transport::{Body, Reply, Shown};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An agreement as it travels between accounts. Every field is optional (an update
/// names only what changes), and invitations are checked for the ones they need.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct WireAgreement {
    /// Shared identifier: SHA-1 hex of `{sender sharing url}/agreements/{local id}`
    /// (with the world's secret appended in an unseeded world, see `WorldServices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The sending side's display name, e.g. `Acme @ Zendesk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The sender's sharing URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_url: Option<String>,
    /// The receiver's sharing URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_url: Option<String>,
    /// 40 hex characters shared by both copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// The status the sender (or answerer) states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_actor: Option<Actor>,
    /// Term: tags travel with tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_tags: Option<bool>,
    /// Term: custom fields travel with tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_custom_fields: Option<bool>,
    /// Term: public comments stay public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows_public_comments: Option<bool>,
    /// Term (sharesim extension): ticket status syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<bool>,
    /// `sender` or `receiver`, on deactivation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_by: Option<String>,
}

/// A ticket as it travels between accounts. Absent or null fields in an update mean
/// "unchanged"; a share carries the whole ticket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct WireTicket {
    /// The sharer's ticket uuid: SHA-1 hex of `{sharer's sharing url}/tickets/{local id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When the ticket was created, protocol format (`2011-01-02 13:01:01 -0500`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// Ticket status; sent only when the agreement's terms sync status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Actor>,
    /// All comments on a share; only new ones on an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<WireComment>>,
    /// Who made this change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_actor: Option<Actor>,
    /// Tags; sent only when the terms sync tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The sharer's local ticket id (a number, or digits in a string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_id"
    )]
    pub original_id: Option<u64>,
    /// Custom field values by the sender's field title; sent only when the terms sync
    /// custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<BTreeMap<String, WireFieldValue>>,
    /// The custom status label (Zendesk's client carries it since v2.1.0); sent when
    /// the terms sync status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_status: Option<String>,
}

/// One custom field value on the wire, keyed by the sender's title. sharesim sends the
/// sender's field type beside the value so the receiver can match title and type;
/// a bare value (no type) is accepted too, and must then fit the receiver's field
/// *(model: Zendesk does not document the shape of `custom_fields`)*.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum WireFieldValue {
    /// `{"type": "text", "value": "X-1"}`.
    Typed {
        /// The sender's field type.
        #[serde(rename = "type")]
        field_type: FieldType,
        /// The value.
        value: Value,
    },
    /// Just the value.
    Bare(Value),
}

/// A comment as it travels between accounts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct WireComment {
    /// SHA-1 hex of `{writer's sharing url}/comments/{local id}`; duplicates are
    /// recognised by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Actor>,
    /// Plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTML rendering, stored and shown beside the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// When it was written, protocol format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_at: Option<String>,
    /// Absent means true, as the protocol says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Files, as URLs (`url`, `filename`, `content_type`, `display_filename`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// The comment's own custom fields, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Map<String, Value>>,
}

/// An id that may arrive as a number or as digits in a string (Zendesk's client passes
/// through whatever its caller set).
fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{number} is not an id"))),
        Some(Value::String(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an id"))),
        Some(other) => Err(serde::de::Error::custom(format!("{other} is not an id"))),
    }
}

/// Appends `text` as a JSON string, as serde_json writes it: a text with nothing to
/// escape (no control character, quote or backslash, the common case) is copied
/// whole; any other goes through serde_json.
pub(crate) fn push_json_str(out: &mut Vec<u8>, text: &str) {
    if !needs_escape(text.as_bytes()) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

/// Whether serde_json would escape a byte of `text` (a control character, a quote or a
/// backslash), tested eight bytes at a time: every field of every agreement body the
/// REST API and the partner protocol write passes here.
pub(crate) fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether a byte of `x` is below `n` (n <= 0x80): exact as a yes or no.
    let any_below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let (chunks, rest) = text.as_chunks::<8>();
    chunks.iter().any(|chunk| {
        let x = u64::from_ne_bytes(*chunk);
        any_below(x, 0x20)
            || any_below(x ^ (ONES * u64::from(b'"')), 1)
            || any_below(x ^ (ONES * u64::from(b'\\')), 1)
    }) || rest.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Appends `"key":` for a key that needs no escaping.
pub(crate) fn push_json_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A JSON object written field by field, as serde writes a struct: the braces, and a
/// comma before every field but the first. The partner messages and replies written by
/// hand (see [`WireAgreement::write`]) go through it.
pub(crate) struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> JsonObject<'a> {
    /// Opens an object at the end of `out`.
    pub(crate) fn start(out: &'a mut Vec<u8>) -> JsonObject<'a> {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.empty) {
            self.out.push(b',');
        }
        push_json_key(self.out, key);
    }

    /// `"key":"text"`, escaped as serde escapes it.
    pub(crate) fn text(&mut self, key: &str, text: &str) {
        self.key(key);
        push_json_str(self.out, text);
    }

    /// `"key":true` or `"key":false`.
    pub(crate) fn flag(&mut self, key: &str, flag: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if flag { b"true" } else { b"false" });
    }

    /// An object as the value of `key`, to be ended before this one goes on.
    pub(crate) fn object(&mut self, key: &str) -> JsonObject<'_> {
        self.key(key);
        JsonObject::start(self.out)
    }

    /// Closes the object.
    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}

/// Parses a JSON body into a wire agreement: 400 if it is not a JSON object of that shape.
pub(crate) fn parse_agreement(body: &[u8]) -> Result<WireAgreement, PartnerError> {
    let wire = crate::core::json::from_bytes(body)
        .map_err(|e| PartnerError::BadRequest(format!("the body is not a valid agreement: {e}")))?;
    agreement_within_limits(&wire)?;
    Ok(wire)
}

/// [`within_limits`] for an agreement, field by field in the order its JSON lists them
/// (so the first field over its limit is the one named), without building that JSON:
/// every handshake message is checked, and the tree cost more than the parse.
fn agreement_within_limits(wire: &WireAgreement) -> Result<(), PartnerError> {
    let actor = wire.current_actor.as_ref();
    let strings = [
        ("uuid", "uuid", wire.uuid.as_deref()),
        ("name", "name", wire.name.as_deref()),
        ("sender_url", "sender_url", wire.sender_url.as_deref()),
        ("receiver_url", "receiver_url", wire.receiver_url.as_deref()),
        ("access_key", "access_key", wire.access_key.as_deref()),
        ("status", "status", wire.status.as_deref()),
        ("current_actor.uuid", "uuid", actor.map(|a| a.uuid.as_str())),
        ("current_actor.name", "name", actor.map(|a| a.name.as_str())),
        ("current_actor.role", "role", actor.map(|a| a.role.as_str())),
        (
            "deactivated_by",
            "deactivated_by",
            wire.deactivated_by.as_deref(),
        ),
    ];
    strings
        .into_iter()
        .filter_map(|(path, key, text)| Some((path, key, text?)))
        .try_for_each(|(path, key, text)| crate::core::limits::check_string(path, key, text))
        .map_err(|error| PartnerError::Invalid(format!("{}: {}", error.field, error.message)))
}

/// 422 when what a message would store breaks a documented limit ([`crate::core::limits`]).
pub(crate) fn within_limits(wire: &impl Serialize) -> Result<(), PartnerError> {
    let value = serde_json::to_value(wire).unwrap_or_default();
    crate::core::limits::check_body(&value)
        .map_err(|error| PartnerError::Invalid(format!("{}: {}", error.field, error.message)))
}

/// Parses a JSON body into a wire ticket: 400 if it is not a JSON object of that shape.
pub(crate) fn parse_ticket(body: &[u8]) -> Result<WireTicket, PartnerError> {
    let wire = crate::core::json::from_bytes(body)
        .map_err(|e| PartnerError::BadRequest(format!("the body is not a valid ticket: {e}")))?;
    within_limits(&wire)?;
    Ok(wire)
}

/// Parses a status the partner stated, or 422.
pub(crate) fn parse_status(status: Option<&str>) -> Result<AgreementStatus, PartnerError> {
    let text = status.ok_or_else(|| PartnerError::Invalid("status is required".to_string()))?;
    text.parse::<AgreementStatus>()
        .map_err(PartnerError::Invalid)
}

/// 422 unless the body's uuid, when it names one, is the path's.
pub(crate) fn check_uuid(body_uuid: Option<&str>, path_uuid: &str) -> Result<(), PartnerError> {
    match body_uuid {
        Some(uuid) if uuid != path_uuid => Err(PartnerError::Invalid(format!(
            "uuid {uuid:?} in the body differs from {path_uuid:?} in the path"
        ))),
        _ => Ok(()),
    }
}

/// An invitation's body, checked for what a receiver needs to store it.
pub(crate) fn invitation_offer(
    path_uuid: &str,
    mut invitation: WireAgreement,
) -> Result<InvitationOffer, PartnerError> {
    let uuid = invitation
        .uuid
        .take()
        .unwrap_or_else(|| path_uuid.to_string());
    check_uuid(Some(&uuid), path_uuid)?;
    let missing: Vec<&str> = [
        ("access_key", invitation.access_key.is_none()),
        ("sender_url", invitation.sender_url.is_none()),
        ("name", invitation.name.is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(field, _)| *field)
    .collect();
    if !missing.is_empty() {
        return Err(PartnerError::Invalid(format!(
            "an invitation needs {}",
            missing.join(", ")
        )));
    }
    if let Some(status) = invitation.status.as_deref()
        && status != AgreementStatus::Pending.as_str()
    {
        return Err(PartnerError::Invalid(format!(
            "an invitation's status must be pending, not {status:?}"
        )));
    }
    let access_key = invitation.access_key.unwrap_or_default();
    if access_key.len() != 40 || !access_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PartnerError::Invalid(
            "access_key must be 40 hexadecimal characters".to_string(),
        ));
    }
    let defaults = Terms::default();
    Ok(InvitationOffer {
        uuid,
        name: invitation.name.unwrap_or_default(),
        sender_url: invitation.sender_url.unwrap_or_default(),
        receiver_url: invitation.receiver_url,
        access_key,
        // The endpoint proves it (or not) from the headers.
        verified: false,
        terms: Terms {
            sync_tags: invitation.sync_tags.unwrap_or(defaults.sync_tags),
            sync_custom_fields: invitation
                .sync_custom_fields
                .unwrap_or(defaults.sync_custom_fields),
            allows_public_comments: invitation
                .allows_public_comments
                .unwrap_or(defaults.allows_public_comments),
            sync_status: invitation.sync_status.unwrap_or(defaults.sync_status),
        },
    })
}

/// The invitation `account` sends for its outbound copy `agreement`.
pub(crate) fn invitation(account: &Account, agreement: &Agreement) -> WireAgreement {
    WireAgreement {
        uuid: Some(agreement.uuid.to_string()),
        name: Some(default_agreement_name(account.display_name())),
        sender_url: Some(agreement.sender_url.to_string()),
        receiver_url: Some(agreement.receiver_url.to_string()),
        access_key: Some(agreement.access_key.to_string()),
        status: Some(AgreementStatus::Pending.to_string()),
        current_actor: Some(Actor {
            uuid: account.admin_uuid().to_string(),
            name: format!("{} admin", account.display_name()),
            role: "admin".to_string(),
        }),
        sync_tags: Some(agreement.terms.sync_tags),
        sync_custom_fields: Some(agreement.terms.sync_custom_fields),
        allows_public_comments: Some(agreement.terms.allows_public_comments),
        sync_status: Some(agreement.terms.sync_status),
        deactivated_by: None,
    }
}

/// An agreement message's body: written straight from its wire type (the bytes its
/// `Serialize` gives, see [`WireAgreement::write`]), with the fields the trace shows.
pub(crate) fn agreement_body(agreement: &WireAgreement) -> Body {
    // Room for an invitation at once, instead of doubling up to it.
    let mut bytes = Vec::with_capacity(512);
    agreement.write(&mut bytes);
    Body {
        bytes: bytes.into(),
        shown: Shown {
            status: agreement.status.as_deref().map(Text::from),
            deactivated_by: agreement.deactivated_by.as_deref().map(Text::from),
            name: agreement.name.as_deref().map(Text::from),
            subject: None,
        },
    }
}

impl WireAgreement {
    /// The agreement as JSON, the same bytes its `Serialize` gives (the fields present,
    /// in the struct's order), written without serde's machinery: every invitation and
    /// status change a handshake sends is one.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut object = JsonObject::start(out);
        for (key, text) in [
            ("uuid", &self.uuid),
            ("name", &self.name),
            ("sender_url", &self.sender_url),
            ("receiver_url", &self.receiver_url),
            ("access_key", &self.access_key),
            ("status", &self.status),
        ] {
            if let Some(text) = text {
                object.text(key, text);
            }
        }
        if let Some(actor) = &self.current_actor {
            let mut inner = object.object("current_actor");
            inner.text("uuid", &actor.uuid);
            inner.text("name", &actor.name);
            inner.text("role", &actor.role);
            inner.end();
        }
        for (key, flag) in [
            ("sync_tags", self.sync_tags),
            ("sync_custom_fields", self.sync_custom_fields),
            ("allows_public_comments", self.allows_public_comments),
            ("sync_status", self.sync_status),
        ] {
            if let Some(flag) = flag {
                object.flag(key, flag);
            }
        }
        if let Some(by) = &self.deactivated_by {
            object.text("deactivated_by", by);
        }
        object.end();
    }
}

/// A ticket message's body: serialised straight from its wire type, with the fields
/// the trace shows.
pub(crate) fn ticket_body(ticket: &WireTicket) -> Body {
    Body::json(
        ticket,
        Shown {
            status: ticket.status.as_deref().map(Text::from),
            subject: ticket.subject.as_deref().map(Text::from),
            ..Shown::default()
        },
    )
}

/// The status a receiver's answer to an invitation states: read as the agreement it
/// answers with, or, from a partner whose answer has another shape, its `status` text.
pub(crate) fn answered_status(reply: &Reply) -> Option<AgreementStatus> {
    let body = &reply.body[..];
    // A JSON object: its `status` text is what both readings find (the agreement
    // parses only when no key is given twice, and then the shown field is its status;
    // otherwise the shown field is read anyway), so the fields the transport already
    // read for the trace say it. Only another shape is parsed again.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return reply.shown.status.as_deref()?.parse().ok();
    }
    match crate::core::json::from_bytes::<WireAgreement>(body) {
        Ok(answer) => answer.status?.parse().ok(),
        Err(_) => Shown::of_json(body).status?.parse().ok(),
    }
}

/// A status change for the partner: an answer, or a deactivation with who did it.
pub(crate) fn status_change(agreement: &Agreement, status: AgreementStatus) -> WireAgreement {
    WireAgreement {
        uuid: Some(agreement.uuid.to_string()),
        status: Some(status.to_string()),
        deactivated_by: agreement.deactivated_by.clone().map(String::from),
        ..WireAgreement::default()
    }
}

/// The agreement as a receiver answers with it (never its key): what the endpoint's
/// borrowed reply view (`agreements::ReplyView`) is checked to serialise the same as.
#[cfg(test)]
pub(crate) fn agreement_view(agreement: &Agreement) -> WireAgreement {
    WireAgreement {
        uuid: Some(agreement.uuid.to_string()),
        name: Some(agreement.name.to_string()),
        sender_url: Some(agreement.sender_url.to_string()),
        receiver_url: Some(agreement.receiver_url.to_string()),
        access_key: None,
        status: Some(agreement.status.to_string()),
        current_actor: None,
        sync_tags: Some(agreement.terms.sync_tags),
        sync_custom_fields: Some(agreement.terms.sync_custom_fields),
        allows_public_comments: Some(agreement.terms.allows_public_comments),
        sync_status: Some(agreement.terms.sync_status),
        deactivated_by: agreement.deactivated_by.clone().map(String::from),
    }
}

/// A ticket message's body, checked for shape.
pub(crate) fn incoming_ticket(
    path_uuid: &str,
    wire: WireTicket,
) -> Result<IncomingTicket, PartnerError> {
    check_uuid(wire.uuid.as_deref(), path_uuid)?;
    let comments = wire.comments.unwrap_or_default();
    if comments.iter().any(|c| {
        c.uuid.as_deref().is_none_or(str::is_empty) || c.body.as_deref().is_none_or(str::is_empty)
    }) {
        return Err(PartnerError::Invalid(
            "every comment needs a uuid and a body".to_string(),
        ));
    }
    let status = wire
        .status
        .as_deref()
        .map(str::parse::<TicketStatus>)
        .transpose()
        .map_err(PartnerError::Invalid)?;
    let custom_fields = wire.custom_fields.map(|fields| {
        fields
            .into_iter()
            .map(|(title, sent)| match sent {
                WireFieldValue::Typed { field_type, value } => SyncedValue {
                    title,
                    field_type: Some(field_type),
                    value,
                },
                WireFieldValue::Bare(value) => SyncedValue {
                    title,
                    field_type: None,
                    value,
                },
            })
            .collect()
    });
    Ok(IncomingTicket {
        subject: wire.subject,
        status,
        requester: wire.requester,
        comments: comments
            .into_iter()
            .map(|c| IncomingComment {
                uuid: c.uuid.unwrap_or_default(),
                author: c.author,
                body: c.body.unwrap_or_default(),
                authored_at: c.authored_at,
                public: c.public,
                html_body: c.html_body,
                attachments: c.attachments.unwrap_or_default(),
                custom_fields: c.custom_fields,
            })
            .collect(),
        actor: wire.current_actor,
        tags: wire.tags,
        custom_fields,
        custom_status: wire.custom_status,
        original_id: wire.original_id,
    })
}

/// What a receiver answers a ticket call with: the uuid, subject and status it holds.
pub(crate) fn ticket_reply(ticket: &Ticket, uuid: &str) -> WireTicket {
    WireTicket {
        uuid: Some(uuid.to_string()),
        subject: Some(ticket.subject.clone()),
        status: Some(ticket.status.to_string()),
        ..WireTicket::default()
    }
}

/// The body of a ticket message (none for an unshare).
pub(crate) fn ticket_message(uuid: &str, message: &TicketMessage) -> Option<WireTicket> {
    match message {
        TicketMessage::Share(share) => Some(shared_ticket(uuid, share)),
        TicketMessage::Update(update) => Some(ticket_update(uuid, update)),
        TicketMessage::Unshare => None,
    }
}

fn shared_ticket(uuid: &str, share: &SharedTicket) -> WireTicket {
    WireTicket {
        uuid: Some(uuid.to_string()),
        subject: Some(share.subject.clone()),
        requested_at: Some(share.requested_at.clone()),
        status: share.status.map(|s| s.to_string()),
        requester: Some(share.requester.clone()),
        comments: Some(share.comments.iter().map(comment).collect()),
        current_actor: Some(share.actor.clone()),
        tags: share.tags.clone(),
        original_id: Some(share.original_id),
        custom_fields: share.custom_fields.as_deref().map(custom_fields),
        custom_status: share.custom_status.clone(),
    }
}

fn ticket_update(uuid: &str, update: &TicketUpdate) -> WireTicket {
    WireTicket {
        uuid: Some(uuid.to_string()),
        comments: (!update.comments.is_empty())
            .then(|| update.comments.iter().map(comment).collect()),
        status: update.status.map(|s| s.to_string()),
        custom_status: update.custom_status.clone(),
        tags: update.tags.clone(),
        custom_fields: update.custom_fields.as_deref().map(custom_fields),
        requester: update.requester.clone(),
        current_actor: Some(update.actor.clone()),
        ..WireTicket::default()
    }
}

fn comment(comment: &CommentMessage) -> WireComment {
    WireComment {
        uuid: Some(comment.uuid.clone()),
        author: Some(comment.author.clone()),
        body: Some(comment.body.clone()),
        html_body: comment.html_body.clone(),
        authored_at: Some(comment.authored_at.clone()),
        public: Some(comment.public),
        attachments: (!comment.attachments.is_empty()).then(|| comment.attachments.clone()),
        custom_fields: comment.custom_fields.clone(),
    }
}

fn custom_fields(values: &[SyncedValue]) -> BTreeMap<String, WireFieldValue> {
    values
        .iter()
        .map(|synced| {
            let value = match synced.field_type {
                Some(field_type) => WireFieldValue::Typed {
                    field_type,
                    value: synced.value.clone(),
                },
                None => WireFieldValue::Bare(synced.value.clone()),
            };
            (synced.title.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests;
