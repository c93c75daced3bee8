//! The live view's endpoints in the OpenAPI document: the page, its script and style
//! sheet, and the data it reads (the view with what is held, a window of the journal
//! drawn, the status grids). Held messages are released with `POST /steps` and a
//! `release` step naming the message, like any other step.

use super::{json_content, response};
use crate::drivers::control::ErrorBody;
use crate::drivers::control::live::{DiagramWindow, LiveGrids, LiveView};
use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

/// Adds `/ui`, `/ui/live.js`, `/ui/live.css`, `/ui/view`, `/ui/diagram.svg` and
/// `/ui/grids` to `paths`.
pub(super) fn paths(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let view = generator.subschema_for::<LiveView>().to_value();
    let grids = generator.subschema_for::<LiveGrids>().to_value();
    let error = generator.subschema_for::<ErrorBody>().to_value();
    let server = json!([{ "url": "{control_url}", "variables": { "control_url": { "default": "http://127.0.0.1:8800", "description": "The ready file's control_url." } } }]);
    let unauthorized = response("No control token, or the wrong one.", error.clone());
    let op = |summary: &str, security: bool, ok: Value, params: Option<Value>| {
        let mut op = json!({
            "summary": summary,
            "tags": ["live view"],
            "servers": server.clone(),
            "responses": { "200": ok },
        });
        if security {
            op["security"] = json!([{ "controlToken": [] }]);
            op["responses"]["401"] = unauthorized.clone();
        }
        if let Some(params) = params {
            op["parameters"] = params;
        }
        op
    };
    let content = |kind: &str, description: &str| json!({ "description": description, "content": { kind: { "schema": { "type": "string" } } } });
    let token = json!([{ "name": "token", "in": "query", "required": false, "schema": { "type": "string" }, "description": "The control token, for a person opening the page in a browser (a bearer header works too)." }]);
    let mut page = op(
        "The live view: accounts, held messages, status grids and the journal drawn, followed as it grows.",
        false,
        content(
            "text/html",
            "The page (Content-Security-Policy: only this server's script and connections).",
        ),
        Some(token),
    );
    page["responses"]["401"] = unauthorized.clone();
    paths.insert("/ui".into(), json!({ "get": page }));
    paths.insert(
        "/ui/live.js".into(),
        json!({ "get": op("The page's script (no data, no token needed).", false, content("text/javascript", "The script."), None) }),
    );
    paths.insert(
        "/ui/live.css".into(),
        json!({ "get": op("The page's style sheet (no data, no token needed).", false, content("text/css", "The style sheet."), None) }),
    );
    paths.insert(
        "/ui/view".into(),
        json!({ "get": op("Accounts with their agreements and tickets, the journal's kept range, and the messages held in flight (release one with a `release` step naming its `message`).", true, json!({ "description": "The view.", "content": json_content(view) }), None) }),
    );
    let window = generator.subschema_for::<DiagramWindow>().to_value();
    let window = generator
        .definitions()
        .get("DiagramWindow")
        .cloned()
        .unwrap_or(window);
    let window_params: Vec<Value> = window["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": schema["description"] }))
        .collect();
    let mut diagram = op(
        "A window of at most 200 journal events drawn as a sequence diagram: the newest by default, `from` a first event, `to` a last one.",
        true,
        content("image/svg+xml", "The drawn diagram."),
        Some(Value::Array(window_params)),
    );
    diagram["responses"]["400"] = response("A malformed or unknown query parameter.", error);
    paths.insert("/ui/diagram.svg".into(), json!({ "get": diagram }));
    paths.insert(
        "/ui/grids".into(),
        json!({ "get": op("The status grids of the most recently changed agreements: each pair's path as the live view saw it change.", true, json!({ "description": "The grids.", "content": json_content(grids) }), None) }),
    );
}
