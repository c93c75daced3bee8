//! What travels between partners about a shared ticket and what a partner's message
//! may change: an agreement's state decides whether a push goes now, waits in the
//! outbox or is skipped; its terms decide which synced fields a message brings.

use super::fields::SyncedValue;
use super::{AuditEvent, Delta, Ticket, TicketStatus, change_event, normalize_tags};
use crate::core::model::{Agreement, AgreementStatus, Terms};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What happens to a push over an agreement, by the state of the sender's copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncGate {
    /// Accepted: the push goes now.
    Send,
    /// A failure status or a re-sent invitation: the push waits in the agreement's
    /// outbox until the agreement is repaired *(model)*.
    Queue(String),
    /// The agreement ended (inactive, declined, deleted): nothing travels any more.
    Skip(String),
}

impl SyncGate {
    /// Why the push does not go now (empty for [`SyncGate::Send`]).
    pub fn reason(&self) -> &str {
        match self {
            SyncGate::Send => "",
            SyncGate::Queue(reason) | SyncGate::Skip(reason) => reason,
        }
    }
}

/// Decides a push's fate over agreement `id`: only an accepted agreement carries
/// ticket changes now; a failed one keeps them for later; an ended one carries nothing.
pub fn sync_gate(agreement: Option<&Agreement>, id: u64) -> SyncGate {
    let Some(a) = agreement else {
        return SyncGate::Skip(format!("agreement {id} no longer exists"));
    };
    match a.status {
        AgreementStatus::Accepted => SyncGate::Send,
        AgreementStatus::Inactive | AgreementStatus::Declined => {
            SyncGate::Skip(match &a.deactivated_by {
                Some(by) => format!(
                    "agreement {id} is {} (deactivated by the {by}), so shared tickets no longer sync",
                    a.status
                ),
                None => format!(
                    "agreement {id} is {}, so shared tickets do not sync",
                    a.status
                ),
            })
        }
        status => SyncGate::Queue(format!(
            "agreement {id} is {status}: the push waits in its outbox until the agreement is repaired"
        )),
    }
}

/// The fields of a partner's ticket message that an agreement's terms let in; both
/// sides hold the terms, so the receiver enforces them too.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncedFields {
    /// A new status, if the terms sync status.
    pub status: Option<TicketStatus>,
    /// A new custom status, if the terms sync status *(model: it travels with status)*.
    pub custom_status: Option<String>,
    /// A new tag set, normalised, if the terms sync tags.
    pub tags: Option<Vec<String>>,
    /// Custom field values as sent, if the terms sync custom fields.
    pub custom_fields: Option<Vec<SyncedValue>>,
    /// What was sent but is not synced (`status`, `tags`, `custom fields`), for the trace.
    pub ignored: Vec<&'static str>,
}

/// What a partner sent of the fields the terms govern.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SentFields {
    /// Ticket status.
    pub status: Option<TicketStatus>,
    /// Custom status label.
    pub custom_status: Option<String>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Custom field values.
    pub custom_fields: Option<Vec<SyncedValue>>,
}

/// Filters what a partner sent by the agreement's terms.
pub fn synced_fields(terms: &Terms, sent: SentFields) -> SyncedFields {
    let mut ignored = Vec::new();
    let mut keep = |allowed: bool, present: bool, name: &'static str| {
        if present && !allowed {
            ignored.push(name);
        }
        allowed
    };
    let status_sent = sent.status.is_some() || sent.custom_status.is_some();
    let sync_status = keep(terms.sync_status, status_sent, "status");
    let tags = if keep(terms.sync_tags, sent.tags.is_some(), "tags") {
        sent.tags.as_deref().map(normalize_tags)
    } else {
        None
    };
    let custom_fields = if keep(
        terms.sync_custom_fields,
        sent.custom_fields.is_some(),
        "custom fields",
    ) {
        sent.custom_fields
    } else {
        None
    };
    SyncedFields {
        status: sent.status.filter(|_| sync_status),
        custom_status: sent.custom_status.filter(|_| sync_status),
        tags,
        custom_fields,
        ignored,
    }
}

/// Changes to the fields that sync between partners; None leaves a field as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct FieldChanges<'a> {
    /// A new status.
    pub status: Option<TicketStatus>,
    /// A new custom status label.
    pub custom_status: Option<&'a str>,
    /// A new tag set (already normalised).
    pub tags: Option<&'a Vec<String>>,
    /// Custom field values by this account's field id.
    pub custom_fields: Option<&'a BTreeMap<u64, Value>>,
}

/// Sets the fields that sync between partners, recording an audit event for each
/// change and noting in `delta` what the partners must hear.
pub fn apply_synced_fields(
    ticket: &mut Ticket,
    changes: FieldChanges,
    events: &mut Vec<AuditEvent>,
    delta: &mut Delta,
) {
    if let Some(status) = changes.status
        && status != ticket.status
    {
        events.push(change_event("status", json!(status), json!(ticket.status)));
        ticket.status = status;
        delta.status = Some(status);
    }
    if let Some(label) = changes.custom_status
        && ticket.custom_status.as_deref() != Some(label)
    {
        events.push(change_event(
            "custom_status",
            json!(label),
            json!(ticket.custom_status),
        ));
        ticket.custom_status = Some(label.to_string());
        delta.custom_status = true;
    }
    if let Some(tags) = changes.tags
        && *tags != ticket.tags
    {
        events.push(change_event("tags", json!(tags), json!(ticket.tags)));
        ticket.tags = tags.clone();
        delta.tags = true;
    }
    for (field, value) in changes.custom_fields.into_iter().flatten() {
        let previous = ticket.custom_fields.insert(*field, value.clone());
        if previous.as_ref() != Some(value) {
            events.push(change_event(
                &field.to_string(),
                value.clone(),
                previous.unwrap_or(Value::Null),
            ));
            delta.custom_fields = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{agreement, ticket};
    use super::*;
    use crate::core::model::Direction;
    use strum::VariantArray;

    /// Every (terms, what was sent) pair: what the receiver takes and what it ignores.
    #[test]
    fn terms_decide_which_synced_fields_a_partner_message_brings() {
        let tags = vec!["Urgent".to_string(), "urgent".to_string(), "b".to_string()];
        let fields = vec![SyncedValue {
            title: "Serial".to_string(),
            field_type: None,
            value: json!("x"),
        }];
        for sync_status in [true, false] {
            for sync_tags in [true, false] {
                for sync_custom_fields in [true, false] {
                    let terms = Terms {
                        sync_status,
                        sync_tags,
                        sync_custom_fields,
                        ..Terms::default()
                    };
                    let taken = synced_fields(
                        &terms,
                        SentFields {
                            status: Some(TicketStatus::Open),
                            custom_status: Some("Waiting on parts".to_string()),
                            tags: Some(tags.clone()),
                            custom_fields: Some(fields.clone()),
                        },
                    );
                    assert_eq!(taken.status, sync_status.then_some(TicketStatus::Open));
                    assert_eq!(
                        taken.custom_status.as_deref(),
                        sync_status.then_some("Waiting on parts")
                    );
                    assert_eq!(
                        taken.tags,
                        sync_tags.then(|| vec!["urgent".to_string(), "b".to_string()])
                    );
                    assert_eq!(
                        taken.custom_fields,
                        sync_custom_fields.then(|| fields.clone())
                    );
                    let mut ignored = Vec::new();
                    if !sync_status {
                        ignored.push("status");
                    }
                    if !sync_tags {
                        ignored.push("tags");
                    }
                    if !sync_custom_fields {
                        ignored.push("custom fields");
                    }
                    assert_eq!(taken.ignored, ignored, "{terms:?}");
                    // What was not sent is never "ignored".
                    let nothing = synced_fields(&terms, SentFields::default());
                    assert_eq!(nothing, SyncedFields::default());
                }
            }
        }
    }

    /// Only an accepted agreement carries changes now; a failed or re-sent one keeps
    /// them queued; an ended one carries nothing, and every answer says why.
    #[test]
    fn an_accepted_agreement_sends_a_failed_one_queues_an_ended_one_skips() {
        assert_eq!(
            sync_gate(None, 4),
            SyncGate::Skip("agreement 4 no longer exists".to_string())
        );
        for direction in Direction::VARIANTS.iter().copied() {
            for status in AgreementStatus::VARIANTS.iter().copied() {
                let copy = agreement(4, direction, status);
                let expected = match status {
                    AgreementStatus::Accepted => SyncGate::Send,
                    AgreementStatus::Inactive | AgreementStatus::Declined => SyncGate::Skip(
                        format!("agreement 4 is {status}, so shared tickets do not sync"),
                    ),
                    _ => SyncGate::Queue(format!(
                        "agreement 4 is {status}: the push waits in its outbox until the agreement is repaired"
                    )),
                };
                assert_eq!(sync_gate(Some(&copy), 4), expected, "{direction} {status}");
            }
        }
        let mut deactivated = agreement(4, Direction::Outbound, AgreementStatus::Inactive);
        deactivated.deactivated_by = Some("receiver".into());
        assert_eq!(
            sync_gate(Some(&deactivated), 4),
            SyncGate::Skip(
                "agreement 4 is inactive (deactivated by the receiver), so shared tickets no longer sync"
                    .to_string()
            )
        );
    }

    /// Each synced field that changes gives one audit event and one note in the delta;
    /// a field set to its current value gives neither.
    #[test]
    fn synced_fields_record_what_changed_and_nothing_else() {
        /// Sent status, tags and fields; audit events expected; the delta described.
        type Case = (
            Option<TicketStatus>,
            Option<Vec<String>>,
            Option<BTreeMap<u64, Value>>,
            usize,
            &'static str,
        );
        let cases: [Case; 5] = [
            (None, None, None, 0, ""),
            (
                Some(TicketStatus::New),
                Some(Vec::new()),
                Some(BTreeMap::new()),
                0,
                "",
            ),
            (Some(TicketStatus::Open), None, None, 1, "status open"),
            (None, Some(vec!["a".to_string()]), None, 1, "tags"),
            (
                Some(TicketStatus::Solved),
                Some(vec!["a".to_string()]),
                Some([(1, json!(2))].into()),
                3,
                "status solved, tags, custom fields",
            ),
        ];
        for (status, tags, fields, events_expected, described) in cases {
            let mut copy = ticket();
            let mut events = Vec::new();
            let mut delta = Delta::default();
            apply_synced_fields(
                &mut copy,
                FieldChanges {
                    status,
                    tags: tags.as_ref(),
                    custom_fields: fields.as_ref(),
                    ..FieldChanges::default()
                },
                &mut events,
                &mut delta,
            );
            assert_eq!(
                events.len(),
                events_expected,
                "{status:?} {tags:?} {fields:?}"
            );
            assert_eq!(delta.describe(), described);
            assert_eq!(delta.is_empty(), events_expected == 0);
            if let Some(status) = status {
                assert_eq!(copy.status, status);
            }
        }
    }
}
