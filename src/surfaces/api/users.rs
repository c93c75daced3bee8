//! `/api/v2/users/{id}`: who a ticket's `requester_id`, a comment's `author_id` or an
//! audit's `author_id` names: the account's admin and agent, or a partner's person
//! first seen on a shared ticket (Zendesk's `shared_agent`).

use super::ticket_views::user_json;
use super::{ApiError, json_response, parse_id};
use crate::core::account::Account;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;

/// The user routes, merged into [`super::router`] behind its auth and trace layers.
pub(super) fn routes() -> Router<Arc<Account>> {
    Router::new().route("/api/v2/users/{id}", get(show_user))
}

async fn show_user(
    State(account): State<Arc<Account>>,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw_id)?;
    let user = user_json(&account, id).ok_or(ApiError::NotFound)?;
    Ok(json_response(StatusCode::OK, &json!({ "user": user })))
}
