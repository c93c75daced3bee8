//! `/api/v2/ticket_fields`: an account's custom ticket fields, listed and shown to
//! agents and made by admins, in Zendesk's shape. Partners match synced values to
//! them by title and type.

use super::{ApiError, json_response, parse_envelope_of, parse_id, require_admin};
use crate::core::account::{Account, User};
use crate::core::model::ticket::fields::{FieldDefinition, FieldType, TicketField};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// The ticket field routes, merged into [`super::router`] behind its auth and trace layers.
pub(super) fn routes() -> Router<Arc<Account>> {
    Router::new()
        .route("/api/v2/ticket_fields", get(list_fields).post(create_field))
        .route(
            "/api/v2/ticket_fields.json",
            get(list_fields).post(create_field),
        )
        .route("/api/v2/ticket_fields/{id}", get(show_field))
}

/// A ticket field as Zendesk's REST API shows it. Our model: every field is active,
/// optional and custom; `position` is its place in the list.
pub(crate) fn field_json(account: &Account, field: &TicketField, position: usize) -> Value {
    let options: Vec<Value> = field
        .options
        .iter()
        .map(|option| json!({"name": option, "value": option}))
        .collect();
    let mut object = json!({
        "active": true,
        "description": "",
        "id": field.id,
        "position": position,
        "raw_title": field.title,
        "removable": true,
        "required": false,
        "title": field.title,
        "type": field.field_type.as_str(),
        "url": format!("{}/ticket_fields/{}.json", account.api_url(), field.id),
    });
    if field.field_type.has_options()
        && let Value::Object(map) = &mut object
    {
        map.insert("custom_field_options".into(), Value::Array(options));
    }
    object
}

async fn list_fields(State(account): State<Arc<Account>>) -> Result<Response, ApiError> {
    let fields: Vec<Value> = account
        .ticket_fields()
        .iter()
        .enumerate()
        .map(|(position, field)| field_json(&account, field, position))
        .collect();
    let count = fields.len();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ticket_fields": fields, "count": count }),
    ))
}

async fn show_field(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw_id)?;
    let fields = account.ticket_fields();
    let (position, field) = fields
        .iter()
        .enumerate()
        .find(|(_, field)| field.id == id)
        .ok_or(ApiError::NotFound)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ticket_field": field_json(&account, field, position) }),
    ))
}

async fn create_field(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    parsed: Option<super::ParsedBody>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&user)?;
    let fields = parse_envelope_of(&body, parsed.as_ref(), "ticket_field")?;
    let definition = parse_definition(&fields)?;
    let field = account.add_ticket_field(definition)?;
    let position = account.ticket_fields().len().saturating_sub(1);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "ticket_field": field_json(&account, &field, position) }),
    ))
}

/// `{"type": "tagger", "title": "Product", "custom_field_options": [{"name", "value"}]}`.
fn parse_definition(fields: &serde_json::Map<String, Value>) -> Result<FieldDefinition, ApiError> {
    let title = match fields.get("title") {
        Some(Value::String(title)) if !title.trim().is_empty() => title.trim().to_string(),
        _ => {
            return Err(ApiError::invalid(
                "title",
                "BlankValue",
                "Title: cannot be blank",
            ));
        }
    };
    let field_type = fields
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid(
                "type",
                "BlankValue",
                format!("Type: cannot be blank; one of {}", allowed_types()),
            )
        })?
        .parse::<FieldType>()
        .map_err(|why| ApiError::invalid("type", "InvalidValue", format!("Type: {why}")))?;
    let options = match fields.get("custom_field_options") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.get("value")
                    .and_then(Value::as_str)
                    .filter(|value| !value.trim().is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "custom_field_options",
                            "InvalidValue",
                            "Custom field options: each needs a \"value\" (and a \"name\")",
                        )
                    })
            })
            .collect::<Result<Vec<String>, ApiError>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "custom_field_options",
                "InvalidValue",
                "Custom field options: must be an array of {\"name\", \"value\"}",
            ));
        }
    };
    Ok(FieldDefinition {
        id: None,
        title,
        field_type,
        options,
    })
}

fn allowed_types() -> String {
    use crate::core::spelling::Spelled;
    FieldType::spelled_list()
}
