//! The JSON shapes the ticket routes answer with, as Zendesk's REST API shows them:
//! tickets (with `via` and `custom_status`), comments (with `html_body` and
//! attachments), audits, a paged listing, and the users a `?include=users` sideloads.

use super::pagination::{PageSlice, Paging, encode_cursor, slice};
use crate::core::account::Account;
use crate::core::account::state::{ADMIN_ID, AGENT_ID};
use crate::core::model::ticket::{Audit, Comment, Ticket, Via};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The REST API's JSON object for a ticket on `account`.
pub(crate) fn ticket_json(account: &Account, ticket: &Ticket) -> Value {
    let custom_fields: Vec<Value> = ticket
        .custom_fields
        .iter()
        .map(|(id, value)| json!({"id": id, "value": value}))
        .collect();
    json!({
        "created_at": ticket.created_at,
        "custom_fields": custom_fields,
        "custom_status": ticket.custom_status,
        "description": ticket.description,
        "id": ticket.id,
        "requester_id": ticket.requester_id,
        "sharing_agreement_ids": ticket.sharing_agreement_ids(),
        "status": ticket.status.as_str(),
        "subject": ticket.subject,
        "tags": ticket.tags,
        "updated_at": ticket.updated_at,
        "url": format!("{}/tickets/{}.json", account.api_url(), ticket.id),
        "via": via_json(&ticket.via),
    })
}

/// Zendesk's `via` object: how the ticket came to be here. The channel names are
/// Zendesk's; what `source.from` holds for a shared ticket is our model.
pub(crate) fn via_json(via: &Via) -> Value {
    let (channel, from, rel) = match via {
        Via::Api => ("api", json!({}), Value::Null),
        Via::FollowUp { source_id } => ("api", json!({"ticket_id": source_id}), json!("follow_up")),
        Via::TicketSharing {
            partner,
            agreement_id,
            original_id,
        } => (
            "ticket_sharing",
            json!({
                "subdomain": partner,
                "sharing_agreement_id": agreement_id,
                "ticket_id": original_id,
            }),
            Value::Null,
        ),
    };
    json!({"channel": channel, "source": {"from": from, "to": {}, "rel": rel}})
}

/// The REST API's JSON object for a comment.
pub(crate) fn comment_json(comment: &Comment) -> Value {
    let attachments: Vec<Value> = comment
        .attachments
        .iter()
        .map(|file| {
            json!({
                "content_type": file.content_type,
                "content_url": file.url,
                "file_name": file.display_filename.as_deref().unwrap_or(&file.filename),
            })
        })
        .collect();
    let mut object = json!({
        "attachments": attachments,
        "author_id": comment.author_id,
        "body": comment.body,
        "created_at": comment.created_at,
        "html_body": comment
            .html_body
            .clone()
            .unwrap_or_else(|| rendered_html(&comment.body)),
        "id": comment.id,
        "plain_body": comment.body,
        "public": comment.public,
    });
    if let (Some(fields), Value::Object(map)) = (&comment.custom_fields, &mut object) {
        // Our model: the protocol's comment custom fields, shown as they arrived.
        map.insert("custom_fields".into(), Value::Object(fields.clone()));
    }
    object
}

/// A plain body as HTML, escaped, one paragraph *(model: Zendesk renders Markdown)*.
fn rendered_html(body: &str) -> String {
    let escaped = body
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!("<p>{escaped}</p>")
}

/// The REST API's JSON object for an audit of ticket `ticket_id`.
pub(crate) fn audit_json(ticket_id: u64, audit: &Audit) -> Value {
    json!({
        "author_id": audit.author_id,
        "created_at": audit.created_at,
        "events": audit.events,
        "id": audit.id,
        "ticket_id": ticket_id,
    })
}

/// `GET /tickets` as Zendesk pages it: offset (`next_page`, `previous_page`, `count`)
/// or cursor (`meta`, `links`), over the tickets sorted by id.
pub(crate) fn ticket_listing(account: &Account, tickets: &[Ticket], paging: Paging) -> Value {
    let ids: Vec<u64> = tickets.iter().map(|t| t.id).collect();
    let PageSlice {
        range,
        more_after,
        more_before,
    } = slice(&ids, paging);
    let page = &tickets[range];
    let list: Vec<Value> = page.iter().map(|t| ticket_json(account, t)).collect();
    let base = format!("{}/tickets.json", account.api_url());
    match paging {
        Paging::Offset {
            page: number,
            per_page,
        } => {
            let link = |n: usize| json!(format!("{base}?page={n}&per_page={per_page}"));
            json!({
                "tickets": list,
                "next_page": if more_after { link(number + 1) } else { Value::Null },
                "previous_page": if more_before { link(number - 1) } else { Value::Null },
                "count": tickets.len(),
            })
        }
        Paging::Cursor { size, before, .. } => {
            let first = page.first().map(|t| encode_cursor(t.id));
            let last = page.last().map(|t| encode_cursor(t.id));
            let link = |key: &str, cursor: &Option<String>| match cursor {
                Some(cursor) => json!(format!("{base}?page[size]={size}&page[{key}]={cursor}")),
                None => Value::Null,
            };
            // Forward paging (the default) has more when items follow; backward paging
            // when items precede.
            let forward = before.is_none();
            json!({
                "tickets": list,
                "meta": {
                    "has_more": if forward { more_after } else { more_before },
                    "after_cursor": last,
                    "before_cursor": first,
                },
                "links": {
                    "next": if more_after { link("after", &last) } else { Value::Null },
                    "prev": if more_before { link("before", &first) } else { Value::Null },
                },
            })
        }
    }
}

/// The users a ticket or its comments name (requester, authors), as `include=users`
/// sideloads them.
pub(crate) fn sideloaded_users(account: &Account, tickets: &[Ticket]) -> Vec<Value> {
    let mut ids = BTreeSet::new();
    for ticket in tickets {
        ids.insert(ticket.requester_id);
        ids.extend(ticket.comments.iter().map(|c| c.author_id));
        ids.extend(
            ticket
                .audits
                .iter()
                .filter_map(|a| u64::try_from(a.author_id).ok()),
        );
    }
    ids.into_iter()
        .filter_map(|id| user_json(account, id))
        .collect()
}

/// A user as the REST API shows it: the account's admin and agent, or a partner's
/// person, whom Zendesk marks `shared_agent` when they are an agent of the partner.
pub(crate) fn user_json(account: &Account, id: u64) -> Option<Value> {
    let url = format!("{}/users/{id}.json", account.api_url());
    let local = |name: &str, email: &str, role: &str| {
        json!({
            "email": email,
            "id": id,
            "name": format!("{} {name}", account.display_name()),
            "role": role,
            "shared_agent": false,
            "url": url,
        })
    };
    match id {
        ADMIN_ID => Some(local("admin", account.admin_email(), "admin")),
        AGENT_ID => Some(local("agent", account.agent_email(), "agent")),
        _ => account.person(id).map(|person| {
            let agent = matches!(person.role.as_str(), "agent" | "admin");
            json!({
                "email": Value::Null,
                "id": id,
                "name": person.name,
                "role": if agent { "agent" } else { "end-user" },
                "shared_agent": agent,
                "url": url,
            })
        }),
    }
}

/// Adds `users` to a body when the query asks for `include=users`.
pub(crate) fn with_users(
    mut body: Value,
    account: &Account,
    tickets: &[Ticket],
    query: Option<&str>,
) -> Value {
    let wanted = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(key, value)| key == "include" && value.split(',').any(|v| v.trim() == "users"));
    if wanted && let Value::Object(map) = &mut body {
        map.insert(
            "users".into(),
            Value::Array(sideloaded_users(account, tickets)),
        );
    }
    body
}
