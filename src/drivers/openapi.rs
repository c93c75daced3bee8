//! The OpenAPI 3.1 document of everything `serve` answers: the REST API (agreements and
//! tickets, as Zendesk documents them), the partner protocol (Networked Help Desk 1.0)
//! and the control API. Schemas of typed bodies come from the types the handlers
//! (de)serialise, through schemars; the REST views, built as JSON by the accounts, are
//! written here once and checked against real answers by schemathesis (`.ci/run`) and
//! the integration tests.

use crate::core::model::{AgreementStatus, Direction};
use crate::drivers::control::journal::{
    EventFilter, JournalPage, JournalQuery, Verdict, Verification,
};
use crate::drivers::control::{Accounts, ErrorBody, Restored, StepsOutcome};
use crate::drivers::scenario::format::Step;
use crate::surfaces::partner::wire::{WireAgreement, WireTicket};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

mod tickets;

/// The whole document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = SchemaGenerator::new(settings);
    let mut paths = Map::new();
    rest_paths(&mut generator, &mut paths);
    partner_paths(&mut generator, &mut paths);
    control_paths(&mut generator, &mut paths);
    live::paths(&mut generator, &mut paths);
    let mut schemas = generator.take_definitions(true);
    schemas.extend(rest_schemas(&mut generator));
    schemas.extend(generator.take_definitions(true));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sharesim",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Simulated Zendesk accounts that share tickets. Each account serves the REST API under /api/v2 and the partner protocol under /sharing on its own loopback port (see the ready file's api_url and sharing_url); the control API of `sharesim serve` is on its own port (control_url). Every REST path also answers without the .json suffix.",
        },
        "servers": [{ "url": "{api_origin}", "variables": { "api_origin": { "default": "http://127.0.0.1:8700", "description": "An account's origin (its api_url without /api/v2)." } } }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "zendeskToken": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "`{email}/token` and the API token, e.g. `admin@acme.test/token:sharesim-token`.",
                },
                "controlToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The ready file's `control_token`.",
                },
                "sharingToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Ticket-Sharing-Token",
                    "description": "`{agreement uuid}:{access key}`; every partner call after the invitation.",
                },
            },
        },
    })
}

mod live;

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

/// The REST answers every authenticated call may get besides its own.
fn rest_responses(mut responses: Map<String, Value>) -> Value {
    let error = schema_ref("ZendeskError");
    responses.insert(
        "401".into(),
        response("Couldn't authenticate you.", error.clone()),
    );
    responses.insert(
        "429".into(),
        json!({
            "description": "The account's per-minute allowance is spent (serve --rate-limit).",
            "headers": { "Retry-After": { "schema": { "type": "integer" } } },
            "content": { "text/plain": { "schema": { "type": "string" } } },
        }),
    );
    for (name, description) in [
        ("X-Rate-Limit", "Calls allowed per minute."),
        ("X-Rate-Limit-Remaining", "Calls left this minute."),
    ] {
        for (status, answer) in responses.iter_mut() {
            if status.starts_with('2')
                && let Some(object) = answer.as_object_mut()
            {
                object
                    .entry("headers")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .map(|headers| {
                        headers.insert(
                            name.into(),
                            json!({ "description": description, "schema": { "type": "integer" } }),
                        )
                    });
            }
        }
    }
    Value::Object(responses)
}

fn errors(statuses: &[(&str, &str)]) -> Map<String, Value> {
    statuses
        .iter()
        .map(|(status, description)| {
            (
                status.to_string(),
                response(description, schema_ref("ZendeskError")),
            )
        })
        .collect()
}

fn operation(summary: &str, security: &str, responses: Value) -> Map<String, Value> {
    let mut op = Map::new();
    op.insert("summary".into(), json!(summary));
    op.insert("security".into(), json!([{ security: [] }]));
    op.insert("responses".into(), responses);
    op
}

fn with_body(mut op: Map<String, Value>, schema: Value) -> Value {
    op.insert(
        "requestBody".into(),
        json!({ "required": true, "content": json_content(schema) }),
    );
    Value::Object(op)
}

fn id_parameter(description: &str) -> Value {
    json!([{
        "name": "id", "in": "path", "required": true, "description": description,
        "schema": { "type": "integer", "minimum": 1, "format": "int64" },
    }])
}

fn rest_paths(_generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let ok = |description: &str, schema: &str| {
        let mut map = Map::new();
        map.insert("200".into(), response(description, schema_ref(schema)));
        map
    };
    let list = operation(
        "List the account's sharing agreements (agents and admins).",
        "zendeskToken",
        rest_responses(ok("The agreements.", "AgreementList")),
    );
    let mut created = errors(&[
        ("400", "The body is not JSON."),
        ("403", "Only admins manage agreements."),
        ("422", "RecordInvalid: the field named in details."),
    ]);
    created.insert("201".into(), response("Created; the invitation was sent (status pending, or a failure status saying why not).", schema_ref("AgreementEnvelope")));
    let create = with_body(
        operation(
            "Invite another account (admins).",
            "zendeskToken",
            rest_responses(created),
        ),
        schema_ref("AgreementCreate"),
    );
    for path in [
        "/api/v2/sharing_agreements",
        "/api/v2/sharing_agreements.json",
    ] {
        paths.insert(path.into(), json!({ "get": list, "post": create }));
    }
    let mut shown = ok("The agreement.", "AgreementEnvelope");
    shown.extend(errors(&[("404", "RecordNotFound.")]));
    let mut updated = ok("The changed agreement.", "AgreementEnvelope");
    updated.extend(errors(&[
        ("400", "The body is not JSON."),
        ("403", "Only admins manage agreements."),
        ("404", "RecordNotFound."),
        ("422", "RecordInvalid: a change the lifecycle does not allow, or the partner could not be told."),
    ]));
    let mut deleted = errors(&[
        ("403", "Only admins manage agreements."),
        ("404", "RecordNotFound."),
    ]);
    deleted.insert(
        "204".into(),
        json!({ "description": "Deleted; empty body." }),
    );
    let mut item = Map::new();
    item.insert(
        "parameters".into(),
        id_parameter("The agreement's id (a `.json` suffix is accepted too)."),
    );
    item.insert(
        "get".into(),
        Value::Object(operation(
            "Show one agreement.",
            "zendeskToken",
            rest_responses(shown),
        )),
    );
    item.insert(
        "put".into(),
        with_body(
            operation(
                "Change an agreement's status (accept, decline, deactivate, re-send).",
                "zendeskToken",
                rest_responses(updated),
            ),
            schema_ref("AgreementUpdate"),
        ),
    );
    item.insert(
        "delete".into(),
        Value::Object(operation(
            "Delete an agreement.",
            "zendeskToken",
            rest_responses(deleted),
        )),
    );
    paths.insert(
        "/api/v2/sharing_agreements/{id}".into(),
        Value::Object(item),
    );

    tickets::paths(paths);
}

/// The REST views, as `Account::agreement_json`/`ticket_json` and friends build them.
fn rest_schemas(generator: &mut SchemaGenerator) -> Map<String, Value> {
    let status = generator.subschema_for::<AgreementStatus>().to_value();
    let direction = generator.subschema_for::<Direction>().to_value();
    let timestamp = json!({ "type": "string", "format": "date-time" });
    let id = json!({ "type": "integer", "format": "int64" });
    let nullable_string = json!({ "type": ["string", "null"] });
    let terms = json!({
        "type": "object",
        "description": "The terms the sender proposes; unset ones take the defaults (all true).",
        "properties": {
            "sync_tags": { "type": "boolean" }, "sync_custom_fields": { "type": "boolean" },
            "allows_public_comments": { "type": "boolean" }, "sync_status": { "type": "boolean" },
        },
        "additionalProperties": false,
    });
    let agreement = json!({
        "type": "object",
        "properties": {
            "created_at": timestamp, "id": id, "name": { "type": "string" },
            "partner_name": nullable_string, "remote_subdomain": nullable_string,
            "status": status, "type": direction, "updated_at": timestamp,
            "url": { "type": "string" },
        },
        "required": ["created_at", "id", "name", "partner_name", "remote_subdomain", "status", "type", "updated_at", "url"],
    });
    let envelope = |key: &str, schema: Value| json!({ "type": "object", "properties": { key: schema }, "required": [key] });
    let error = json!({
        "type": "object",
        "description": "Zendesk's error body: `error`, and usually `description` and `details`.",
        "properties": {
            "error": { "type": "string" }, "description": { "type": "string" },
            "details": { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "object", "properties": { "description": { "type": "string" }, "error": { "type": "string" } } } } },
        },
        "required": ["error"],
    });
    let mut schemas = Map::new();
    schemas.insert("Agreement".into(), agreement);
    schemas.insert(
        "AgreementEnvelope".into(),
        envelope("sharing_agreement", schema_ref("Agreement")),
    );
    schemas.insert(
        "AgreementList".into(),
        envelope(
            "sharing_agreements",
            json!({ "type": "array", "items": schema_ref("Agreement") }),
        ),
    );
    schemas.insert(
        "AgreementCreate".into(),
        envelope(
            "sharing_agreement",
            json!({
                "type": "object",
                "properties": {
                    "remote_subdomain": { "type": "string", "description": "The partner's subdomain (case-insensitive). An account cannot invite itself.", "pattern": "^[A-Za-z0-9-]{1,63}$" },
                    "name": { "type": ["string", "null"] },
                    "terms": terms,
                },
                "required": ["remote_subdomain"],
            }),
        ),
    );
    schemas.insert(
        "AgreementUpdate".into(),
        envelope(
            "sharing_agreement",
            json!({ "type": "object", "properties": { "status": status }, "required": ["status"] }),
        ),
    );
    schemas.extend(tickets::schemas(generator));
    schemas.insert("ZendeskError".into(), error);
    schemas
}

fn partner_paths(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let agreement = generator.subschema_for::<WireAgreement>().to_value();
    let ticket = generator.subschema_for::<WireTicket>().to_value();
    let uuid = json!([
        { "name": "uuid", "in": "path", "required": true, "schema": { "type": "string" }, "description": "The agreement's or ticket's protocol uuid." },
        { "name": "X-Ticket-Sharing-Version", "in": "header", "required": true, "schema": { "const": "1" } },
    ]);
    let text = |description: &str| json!({ "description": description, "content": { "text/plain": { "schema": { "type": "string" } } } });
    let refusals = |created: bool| {
        let mut map = Map::new();
        map.insert(
            if created { "201" } else { "200" }.into(),
            text(if created { "Stored." } else { "Applied." }),
        );
        for (status, description) in [
            ("400", "The body is not the protocol's JSON."),
            (
                "401",
                "No X-Ticket-Sharing-Token (WWW-Authenticate: X-Ticket-Sharing).",
            ),
            (
                "403",
                "Wrong key, or the agreement is not accepted (tickets).",
            ),
            ("404", "Unknown uuid."),
            ("412", "X-Ticket-Sharing-Version is not 1."),
            ("422", "Invalid or duplicate."),
        ] {
            map.insert(status.into(), text(description));
        }
        Value::Object(map)
    };
    let partner_op = |summary: &str, body: Option<&Value>, created: bool, invitation: bool| {
        let mut op = Map::new();
        op.insert("summary".into(), json!(summary));
        op.insert("tags".into(), json!(["partner protocol"]));
        if !invitation {
            op.insert("security".into(), json!([{ "sharingToken": [] }]));
        } else {
            op.insert("security".into(), json!([]));
        }
        if let Some(body) = body {
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": json_content(body.clone()) }),
            );
        }
        op.insert("responses".into(), refusals(created));
        Value::Object(op)
    };
    paths.insert(
        "/sharing/agreements/{uuid}".into(),
        json!({
            "parameters": uuid,
            "post": partner_op("Invitation: the receiver stores an inbound pending copy.", Some(&agreement), true, true),
            "put": partner_op("Answer or change: accepted, declined, inactive.", Some(&agreement), false, false),
        }),
    );
    paths.insert(
        "/sharing/tickets/{uuid}".into(),
        json!({
            "parameters": uuid,
            "post": partner_op("Share a ticket (full payload).", Some(&ticket), true, false),
            "put": partner_op("Push changes: status, new comments (deduplicated by uuid).", Some(&ticket), false, false),
            "delete": partner_op("Unshare: the receiver keeps its copy as an orphan.", None, false, false),
        }),
    );
}

fn control_paths(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let schema = |generator: &mut SchemaGenerator,
                  f: fn(&mut SchemaGenerator) -> schemars::Schema| {
        f(generator).to_value()
    };
    let steps =
        json!({ "type": "array", "items": schema(generator, |g| g.subschema_for::<Step>()) });
    let outcome = schema(generator, |g| g.subschema_for::<StepsOutcome>());
    let accounts = schema(generator, |g| g.subschema_for::<Accounts>());
    let page = schema(generator, |g| g.subschema_for::<JournalPage>());
    let verification = schema(generator, |g| g.subschema_for::<Verification>());
    let verdict = schema(generator, |g| g.subschema_for::<Verdict>());
    let restored = schema(generator, |g| g.subschema_for::<Restored>());
    let error = schema(generator, |g| g.subschema_for::<ErrorBody>());
    let snapshot = json!({
        "type": "object",
        "description": "The whole world: accounts (running, certificate, agreements with uuids and access keys, tickets, counters), faults as `fault` step tables, and handles. Take it with GET, give it back with PUT.",
        "properties": {
            "format": { "const": crate::drivers::snapshot::SNAPSHOT_FORMAT },
            "accounts": { "type": "array", "items": { "type": "object" } },
            "faults": { "type": "array", "items": { "type": "object" } },
            "handles": { "type": "object" },
        },
        "required": ["format", "accounts"],
    });
    let query = |schema: Value| -> Value {
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Value::Array(
            properties
                .into_iter()
                .map(|(name, schema)| json!({ "name": name, "in": "query", "required": false, "schema": schema }))
                .collect(),
        )
    };
    let inline = |generator: &mut SchemaGenerator,
                  f: fn(&mut SchemaGenerator) -> schemars::Schema| {
        let mut schema = f(generator).to_value();
        // Inline the properties of a `$ref` so they can become query parameters.
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
        {
            let definitions = generator.definitions();
            if let Some(found) = definitions.get(name) {
                schema = found.clone();
            }
        }
        schema
    };
    let journal_query = inline(generator, |g| g.subschema_for::<JournalQuery>());
    let filter_query = inline(generator, |g| g.subschema_for::<EventFilter>());
    let journal_params = query(journal_query);
    let filter_params = query(filter_query);
    let control_server = json!([{ "url": "{control_url}", "variables": { "control_url": { "default": "http://127.0.0.1:8800", "description": "The ready file's control_url." } } }]);
    let refusals = |extra: &[(&str, &str)]| {
        let mut map = Map::new();
        map.insert(
            "401".into(),
            response("No bearer token, or the wrong one.", error.clone()),
        );
        for (status, description) in extra {
            map.insert(status.to_string(), response(description, error.clone()));
        }
        map
    };
    let op = |summary: &str, ok: (&str, Value), extra: &[(&str, &str)], body: Option<Value>| {
        let mut responses = refusals(extra);
        responses.insert("200".into(), response(ok.0, ok.1));
        let mut op = Map::new();
        op.insert("summary".into(), json!(summary));
        op.insert("tags".into(), json!(["control API"]));
        op.insert("security".into(), json!([{ "controlToken": [] }]));
        op.insert("servers".into(), control_server.clone());
        if let Some(body) = body {
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": json_content(body) }),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        Value::Object(op)
    };
    let bad_json = ("400", "The body is not JSON.");
    paths.insert("/steps".into(), json!({ "post": op(
        "Run scenario steps on the live world, in order; stops at the first that fails. Nothing runs if any step is invalid (422 names the step index and field).",
        ("Each step's outcome: passed, or the diff.", outcome), &[bad_json, ("422", "A step is invalid: `step` is its index, `field` the path inside it.")], Some(steps)) }));
    paths.insert("/accounts".into(), json!({ "get": op("Every account: the ready file's entry plus running, certificate, faults and counts.", ("The accounts.", accounts), &[], None) }));
    let mut journal = op(
        "A page of journal events (the world's trace), oldest first.",
        ("A page; pass next_since as since for the next.", page),
        &[("400", "A malformed query parameter.")],
        None,
    );
    journal["parameters"] = journal_params;
    paths.insert("/journal".into(), json!({ "get": journal }));
    let mut stream = op(
        "Journal events as server-sent events: those kept after `since`, then each new one live. Honours Last-Event-ID.",
        (
            "text/event-stream; each event's data is one journal event.",
            json!({ "type": "string" }),
        ),
        &[("400", "A malformed query parameter.")],
        None,
    );
    stream["responses"]["200"] = json!({ "description": "Server-sent events: id = seq, event = kind, data = the event's JSON.", "content": { "text/event-stream": { "schema": { "type": "string" } } } });
    stream["parameters"] = filter_params;
    paths.insert("/journal/stream".into(), json!({ "get": stream }));
    paths.insert("/verify".into(), json!({ "post": op("Count the kept journal events that match a filter; `count`/`at_least` decide `passed`.", ("The count.", verdict), &[bad_json, ("422", "An unknown field or a malformed value.")], Some(verification)) }));
    paths.insert("/reset".into(), json!({ "post": op("Empty every account, heal every fault, make every certificate valid, start every account, forget every handle. The journal goes on.", ("The journal event marking the reset.", restored.clone()), &[], None) }));
    paths.insert("/snapshot".into(), json!({
        "get": op("The whole world's state.", ("The snapshot.", snapshot.clone()), &[], None),
        "put": op("Restore a snapshot (checked whole first; nothing changes if any part is invalid).", ("The journal event marking the restore.", restored), &[bad_json, ("422", "The snapshot does not fit this world: `field` says where.")], Some(snapshot)),
    }));
    paths.insert("/openapi.json".into(), json!({ "get": op("This document.", ("The OpenAPI document.", json!({ "type": "object" })), &[], None) }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_surface() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().unwrap();
        for path in [
            "/api/v2/sharing_agreements.json",
            "/api/v2/sharing_agreements/{id}",
            "/api/v2/tickets/{id}",
            "/api/v2/ticket_fields",
            "/api/v2/account/settings",
            "/api/v2/users/{id}",
            "/sharing/agreements/{uuid}",
            "/sharing/tickets/{uuid}",
            "/steps",
            "/journal",
            "/journal/stream",
            "/snapshot",
            "/ui",
            "/ui/view",
            "/ui/diagram.svg",
            "/ui/grids",
        ] {
            assert!(paths.contains_key(path), "{path}");
        }
        // Every reference resolves.
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "unresolved reference {name}");
        }
        // The step schema is the scenario files' own.
        assert!(schemas.contains_key("Step"));
        assert!(schemas.contains_key("WireAgreement"));
    }

    #[test]
    fn the_agreement_schema_names_exactly_the_fields_the_rest_api_answers() {
        let document = document();
        let schema = &document["components"]["schemas"]["Agreement"];
        let mut documented: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        let agreement = crate::core::model::Agreement {
            id: 1,
            uuid: "u".into(),
            name: "n".into(),
            remote_subdomain: None,
            status: AgreementStatus::Pending,
            direction: Direction::Outbound,
            access_key: "k".into(),
            sender_url: "s".into(),
            receiver_url: "r".into(),
            terms: crate::core::model::Terms::default(),
            deactivated_by: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            unverified_sender: false,
        };
        let view = serde_json::to_value(crate::surfaces::api::agreements::AgreementView::new(
            &agreement,
            "http://127.0.0.1:1/api/v2",
        ))
        .unwrap();
        let mut answered: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        answered.sort_unstable();
        assert_eq!(documented, answered);
    }
}
