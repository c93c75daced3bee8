//! The ticket side of the REST API in the OpenAPI document: tickets (paged lists,
//! `safe_update`, follow-ups), comments, audits, ticket fields, the account settings
//! and users, with the views the handlers build as JSON.

use super::{errors, id_parameter, operation, response, rest_responses, schema_ref, with_body};
use crate::core::model::ticket::TicketStatus;
use crate::core::model::ticket::fields::FieldType;
use schemars::generate::SchemaGenerator;
use serde_json::{Map, Value, json};

fn ok(description: &str, schema: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("200".into(), response(description, schema_ref(schema)));
    map
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn include_users() -> Value {
    query(
        "include",
        "`users` sideloads the people the records name.",
        json!({ "type": "string" }),
    )
}

/// Every ticket path, in the document's `paths`.
pub(super) fn paths(paths: &mut Map<String, Value>) {
    let mut listed = ok(
        "One page of tickets, by id: offset style (next_page, previous_page, count) or, with page[size], cursor style (meta, links).",
        "TicketPage",
    );
    listed.insert(
        "400".into(),
        response(
            "An invalid page size, page or cursor (Zendesk's Invalid attribute).",
            schema_ref("InvalidAttribute"),
        ),
    );
    let mut tickets = operation(
        "List the account's tickets, a page at a time.",
        "zendeskToken",
        rest_responses(listed),
    );
    let size = json!({ "type": "integer", "minimum": 1, "maximum": 100 });
    tickets.insert(
        "parameters".into(),
        json!([
            query(
                "page",
                "Offset style: the page, from 1.",
                json!({ "type": "integer", "minimum": 1 })
            ),
            query(
                "per_page",
                "Offset style: tickets per page (over 100 is served as 100).",
                json!({ "type": "integer", "minimum": 1 })
            ),
            query("page[size]", "Cursor style: tickets per page.", size),
            query(
                "page[after]",
                "Cursor style: the after_cursor of the previous page.",
                json!({ "type": "string" })
            ),
            query(
                "page[before]",
                "Cursor style: the before_cursor of the next page.",
                json!({ "type": "string" })
            ),
            include_users(),
        ]),
    );
    let mut ticket_created = errors(&[
        ("400", "The body is not JSON."),
        ("422", "RecordInvalid: the field named in details."),
    ]);
    ticket_created.insert("201".into(), response("Created (and shared, when sharing_agreement_ids names an accepted outbound agreement; a follow-up when via_followup_source_id names a closed ticket).", schema_ref("TicketEnvelope")));
    let create_ticket = with_body(
        operation(
            "Create a ticket.",
            "zendeskToken",
            rest_responses(ticket_created),
        ),
        schema_ref("TicketCreate"),
    );
    for path in ["/api/v2/tickets", "/api/v2/tickets.json"] {
        paths.insert(
            path.into(),
            json!({ "get": tickets, "post": create_ticket }),
        );
    }
    let mut ticket_shown = ok("The ticket.", "TicketEnvelope");
    ticket_shown.extend(errors(&[("404", "RecordNotFound.")]));
    let mut ticket_updated = ok("The changed ticket.", "TicketEnvelope");
    ticket_updated.extend(errors(&[
        ("400", "The body is not JSON."),
        ("404", "RecordNotFound."),
        ("409", "UpdateConflict: safe_update with an updated_stamp the ticket has moved past."),
        ("422", "RecordInvalid: the field named in details (a closed ticket: `Status: closed prevents ticket update`)."),
    ]));
    let show = operation(
        "Show one ticket (`?include=users` sideloads the users it names).",
        "zendeskToken",
        rest_responses(ticket_shown),
    );
    let mut ticket = Map::new();
    ticket.insert("parameters".into(), id_parameter("The ticket's id."));
    ticket.insert("get".into(), Value::Object(show));
    ticket.insert(
        "put".into(),
        with_body(
            operation(
                "Change a ticket: comment, status, tags, custom fields, sharing_agreement_ids (replaces the set); never a closed one.",
                "zendeskToken",
                rest_responses(ticket_updated),
            ),
            schema_ref("TicketUpdate"),
        ),
    );
    paths.insert("/api/v2/tickets/{id}".into(), Value::Object(ticket));
    for (suffix, schema, summary) in [
        (
            "comments",
            "CommentList",
            "A ticket's comments, oldest first (`?include=users` sideloads their authors).",
        ),
        (
            "audits",
            "AuditList",
            "A ticket's audits, with TicketSharingEvents.",
        ),
    ] {
        let mut answers = ok(summary, schema);
        answers.extend(errors(&[("404", "RecordNotFound.")]));
        let get = operation(summary, "zendeskToken", rest_responses(answers));
        let item = json!({ "parameters": id_parameter("The ticket's id."), "get": get });
        paths.insert(format!("/api/v2/tickets/{{id}}/{suffix}"), item.clone());
        paths.insert(format!("/api/v2/tickets/{{id}}/{suffix}.json"), item);
    }
    fields_paths(paths);
    settings_and_users_paths(paths);
}

fn fields_paths(paths: &mut Map<String, Value>) {
    let list = operation(
        "List the account's custom ticket fields.",
        "zendeskToken",
        rest_responses(ok("The fields.", "TicketFieldList")),
    );
    let mut made = errors(&[
        ("400", "The body is not JSON."),
        ("403", "Only admins make ticket fields."),
        (
            "422",
            "RecordInvalid: a blank or taken title, an unknown type, options on a field that has none.",
        ),
    ]);
    made.insert(
        "201".into(),
        response("Made.", schema_ref("TicketFieldEnvelope")),
    );
    let create = with_body(
        operation(
            "Make a custom ticket field (admins). Partners match synced values by its title and type.",
            "zendeskToken",
            rest_responses(made),
        ),
        schema_ref("TicketFieldCreate"),
    );
    for path in ["/api/v2/ticket_fields", "/api/v2/ticket_fields.json"] {
        paths.insert(path.into(), json!({ "get": list, "post": create }));
    }
    let mut shown = ok("The field.", "TicketFieldEnvelope");
    shown.extend(errors(&[("404", "RecordNotFound.")]));
    paths.insert(
        "/api/v2/ticket_fields/{id}".into(),
        json!({
            "parameters": id_parameter("The field's id."),
            "get": operation("Show one ticket field.", "zendeskToken", rest_responses(shown)),
        }),
    );
}

fn settings_and_users_paths(paths: &mut Map<String, Value>) {
    let show = operation(
        "The account's settings sharesim models.",
        "zendeskToken",
        rest_responses(ok("The settings.", "Settings")),
    );
    let mut changed = ok("The settings now.", "Settings");
    changed.extend(errors(&[
        ("400", "The body is not JSON."),
        ("403", "Only admins change settings."),
        ("422", "RecordInvalid: a value of the wrong type."),
    ]));
    let update = with_body(
        operation(
            "Change settings (admins): `ticket_sharing.decline_all_invites`.",
            "zendeskToken",
            rest_responses(changed),
        ),
        schema_ref("Settings"),
    );
    for path in ["/api/v2/account/settings", "/api/v2/account/settings.json"] {
        paths.insert(path.into(), json!({ "get": show, "put": update }));
    }
    let mut user = ok("The user.", "UserEnvelope");
    user.extend(errors(&[("404", "RecordNotFound.")]));
    paths.insert(
        "/api/v2/users/{id}".into(),
        json!({
            "parameters": id_parameter("The user's id: a requester_id or author_id."),
            "get": operation("Show the account's admin, agent, or a partner's person.", "zendeskToken", rest_responses(user)),
        }),
    );
}

/// The ticket views, as `api::ticket_views` builds them, and the bodies the routes read.
pub(super) fn schemas(generator: &mut SchemaGenerator) -> Map<String, Value> {
    let ticket_status = generator.subschema_for::<TicketStatus>().to_value();
    let field_type = generator.subschema_for::<FieldType>().to_value();
    let timestamp = json!({ "type": "string", "format": "date-time" });
    let id = json!({ "type": "integer", "format": "int64" });
    let string = json!({ "type": "string" });
    let nullable_string = json!({ "type": ["string", "null"] });
    let nullable_url = json!({ "type": ["string", "null"] });
    let envelope = |key: &str, schema: Value| json!({ "type": "object", "properties": { key: schema }, "required": [key] });
    let list = |key: &str, item: &str| json!({ "type": "object", "properties": { key: { "type": "array", "items": schema_ref(item) }, "count": { "type": "integer" }, "users": { "type": "array", "items": schema_ref("User") } }, "required": [key] });
    let ticket = json!({
        "type": "object",
        "properties": {
            "created_at": timestamp,
            "custom_fields": { "type": "array", "items": { "type": "object", "properties": { "id": id, "value": true }, "required": ["id", "value"] } },
            "custom_status": nullable_string,
            "description": string, "id": id, "requester_id": id,
            "sharing_agreement_ids": { "type": "array", "items": id },
            "status": ticket_status, "subject": string,
            "tags": { "type": "array", "items": string },
            "updated_at": timestamp, "url": string,
            "via": {
                "type": "object",
                "properties": { "channel": string, "source": { "type": "object", "properties": { "from": { "type": "object" }, "to": { "type": "object" }, "rel": nullable_string }, "required": ["from", "to", "rel"] } },
                "required": ["channel", "source"],
            },
        },
        "required": ["created_at", "custom_fields", "custom_status", "description", "id", "requester_id", "sharing_agreement_ids", "status", "subject", "tags", "updated_at", "url", "via"],
    });
    let attachment = json!({
        "type": "object",
        "properties": { "content_type": nullable_string, "content_url": string, "file_name": string },
        "required": ["content_type", "content_url", "file_name"],
    });
    let comment = json!({
        "type": "object",
        "properties": {
            "attachments": { "type": "array", "items": attachment },
            "author_id": id, "body": string, "created_at": timestamp,
            "html_body": string, "id": id, "plain_body": string, "public": { "type": "boolean" },
        },
        "required": ["attachments", "author_id", "body", "created_at", "html_body", "id", "plain_body", "public"],
    });
    let audit = json!({
        "type": "object",
        "properties": {
            "author_id": { "type": "integer" }, "created_at": timestamp, "id": id, "ticket_id": id,
            "events": { "type": "array", "items": { "type": "object", "properties": { "type": string }, "required": ["type"] } },
        },
        "required": ["author_id", "created_at", "events", "id", "ticket_id"],
    });
    let mut schemas = Map::new();
    schemas.insert("Ticket".into(), ticket);
    schemas.insert("TicketEnvelope".into(), {
        let mut shown = envelope("ticket", schema_ref("Ticket"));
        shown["properties"]["users"] = json!({ "type": "array", "items": schema_ref("User") });
        shown
    });
    schemas.insert(
        "TicketPage".into(),
        json!({
            "type": "object",
            "properties": {
                "tickets": { "type": "array", "items": schema_ref("Ticket") },
                "next_page": nullable_url, "previous_page": nullable_url, "count": { "type": "integer" },
                "meta": { "type": "object", "properties": { "has_more": { "type": "boolean" }, "after_cursor": nullable_string, "before_cursor": nullable_string }, "required": ["has_more", "after_cursor", "before_cursor"] },
                "links": { "type": "object", "properties": { "next": nullable_url, "prev": nullable_url }, "required": ["next", "prev"] },
                "users": { "type": "array", "items": schema_ref("User") },
            },
            "required": ["tickets"],
        }),
    );
    schemas.insert(
        "TicketCreate".into(),
        envelope("ticket", ticket_fields(&ticket_status, true)),
    );
    schemas.insert(
        "TicketUpdate".into(),
        envelope("ticket", ticket_fields(&ticket_status, false)),
    );
    schemas.insert("Comment".into(), comment);
    schemas.insert("CommentList".into(), list("comments", "Comment"));
    schemas.insert("Audit".into(), audit);
    schemas.insert("AuditList".into(), list("audits", "Audit"));
    schemas.extend(field_schemas(&field_type));
    schemas.insert(
        "InvalidAttribute".into(),
        json!({
            "type": "object",
            "description": "Zendesk's answer to a query parameter it cannot use.",
            "properties": { "error": { "type": "object", "properties": { "title": string, "message": string }, "required": ["title", "message"] } },
            "required": ["error"],
        }),
    );
    schemas
}

/// A ticket body's writable fields; null means "unchanged". Bodies are read field by
/// field and unknown fields are ignored, as Zendesk ignores read-only ones, so request
/// schemas stay open.
fn ticket_fields(ticket_status: &Value, creating: bool) -> Value {
    let nullable = |schema: Value| json!({ "anyOf": [schema, { "type": "null" }] });
    let new_comment = json!({
        "type": "object",
        "properties": {
            "body": { "type": "string", "minLength": 1, "pattern": "\\S" },
            "public": { "type": "boolean" },
            "html_body": { "type": "string", "description": "HTML; gives the text too when body is absent." },
            "attachments": { "type": "array", "description": "sharesim's model of attaching: files as URLs.", "items": { "type": "object", "properties": { "url": { "type": "string", "pattern": "^https?://\\S+$" }, "filename": { "type": "string", "pattern": "\\S" }, "content_type": { "type": "string" } }, "required": ["url", "filename"] } },
        },
        "required": ["body"],
    });
    let comment = if creating {
        new_comment
    } else {
        nullable(new_comment)
    };
    let ids = json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX });
    let mut fields = json!({
        "type": "object",
        "properties": {
            "subject": nullable(json!({ "type": "string", "pattern": "\\S" })),
            "comment": comment,
            "status": nullable(ticket_status.clone()),
            "custom_status": nullable(json!({ "type": "string", "pattern": "\\S" })),
            "tags": nullable(json!({ "type": "array", "items": { "type": "string" } })),
            "requester_id": nullable(ids.clone()),
            "custom_fields": nullable(json!({ "type": "array", "description": "Values by the account's ticket field ids; each must fit its field's type.", "items": { "type": "object", "properties": { "id": ids, "value": true }, "required": ["id"] } })),
            "sharing_agreement_ids": nullable(json!({
                "type": "array",
                "description": "Replaces the set; each id must be one of the account's agreements (outbound and accepted to share). Zendesk documents this field read-only; writing it is sharesim's model of the agent interface's \"Share ticket with\".",
                "items": ids,
            })),
        },
    });
    if creating {
        fields["properties"]["via_followup_source_id"] = nullable(ids);
        fields["description"] = json!("`comment` is the first comment (Zendesk requires one).");
        fields["required"] = json!(["comment"]);
    } else {
        fields["properties"]["safe_update"] = nullable(json!({ "type": "boolean" }));
        fields["properties"]["updated_stamp"] =
            nullable(json!({ "type": "string", "format": "date-time" }));
    }
    fields
}

fn field_schemas(field_type: &Value) -> Map<String, Value> {
    let string = json!({ "type": "string" });
    let option = json!({ "type": "object", "properties": { "name": string, "value": string }, "required": ["name", "value"] });
    let field = json!({
        "type": "object",
        "properties": {
            "active": { "type": "boolean" }, "custom_field_options": { "type": "array", "items": option },
            "description": string, "id": { "type": "integer", "format": "int64" }, "position": { "type": "integer" },
            "raw_title": string, "removable": { "type": "boolean" }, "required": { "type": "boolean" },
            "title": string, "type": field_type, "url": string,
        },
        "required": ["active", "description", "id", "position", "raw_title", "removable", "required", "title", "type", "url"],
    });
    let user = json!({
        "type": "object",
        "properties": {
            "email": { "type": ["string", "null"] }, "id": { "type": "integer", "format": "int64" }, "name": string,
            "role": { "enum": ["admin", "agent", "end-user"] }, "shared_agent": { "type": "boolean" }, "url": string,
        },
        "required": ["email", "id", "name", "role", "shared_agent", "url"],
    });
    let settings = json!({
        "type": "object",
        "properties": { "settings": { "type": "object", "properties": { "ticket_sharing": { "anyOf": [{ "type": "object", "properties": { "decline_all_invites": { "type": ["boolean", "null"], "description": "null leaves it as it is." } } }, { "type": "null" }] } } } },
        "required": ["settings"],
    });
    let mut schemas = Map::new();
    schemas.insert("TicketField".into(), field);
    schemas.insert(
        "TicketFieldEnvelope".into(),
        json!({ "type": "object", "properties": { "ticket_field": schema_ref("TicketField") }, "required": ["ticket_field"] }),
    );
    schemas.insert(
        "TicketFieldList".into(),
        json!({ "type": "object", "properties": { "ticket_fields": { "type": "array", "items": schema_ref("TicketField") }, "count": { "type": "integer" } }, "required": ["ticket_fields"] }),
    );
    schemas.insert(
        "TicketFieldCreate".into(),
        json!({
            "type": "object",
            "properties": { "ticket_field": {
                "type": "object",
                "properties": { "title": { "type": "string", "pattern": "\\S" }, "type": field_type, "custom_field_options": { "anyOf": [{ "type": "array", "items": option }, { "type": "null" }] } },
                "required": ["title", "type"],
            } },
            "required": ["ticket_field"],
        }),
    );
    schemas.insert("Settings".into(), settings);
    schemas.insert("User".into(), user);
    schemas.insert(
        "UserEnvelope".into(),
        json!({ "type": "object", "properties": { "user": schema_ref("User") }, "required": ["user"] }),
    );
    schemas
}
