//! `/api/v2/account/settings`: the account settings sharesim models, shown to agents and
//! changed by admins. Today one: "Decline all sharing agreement invites", which
//! Zendesk offers in Admin Center; its name and place in this API are our model.

use super::{ApiError, json_response, parse_envelope_of, require_admin};
use crate::core::account::{Account, AccountSettings, User};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// The settings routes, merged into [`super::router`] behind its auth and trace layers.
pub(super) fn routes() -> Router<Arc<Account>> {
    Router::new()
        .route(
            "/api/v2/account/settings",
            get(show_settings).put(update_settings),
        )
        .route(
            "/api/v2/account/settings.json",
            get(show_settings).put(update_settings),
        )
}

/// The settings as the REST API shows them.
pub(crate) fn settings_json(settings: AccountSettings) -> Value {
    json!({
        "settings": {
            "ticket_sharing": {
                "decline_all_invites": settings.decline_all_invites,
            }
        }
    })
}

async fn show_settings(State(account): State<Arc<Account>>) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &settings_json(account.settings()),
    ))
}

async fn update_settings(
    State(account): State<Arc<Account>>,
    axum::Extension(user): axum::Extension<User>,
    parsed: Option<super::ParsedBody>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&user)?;
    let settings = parse_envelope_of(&body, parsed.as_ref(), "settings")?;
    let mut changed = account.settings();
    if let Some(sharing) = settings.get("ticket_sharing").filter(|v| !v.is_null()) {
        let sharing = sharing.as_object().ok_or_else(|| {
            ApiError::invalid(
                "ticket_sharing",
                "InvalidValue",
                "Ticket sharing: must be an object like {\"decline_all_invites\": true}",
            )
        })?;
        let flag = sharing.get("decline_all_invites").filter(|v| !v.is_null());
        if let Some(flag) = flag {
            changed.decline_all_invites = flag.as_bool().ok_or_else(|| {
                ApiError::invalid(
                    "decline_all_invites",
                    "InvalidValue",
                    "Decline all invites: must be true or false",
                )
            })?;
        }
    }
    account.set_settings(changed);
    Ok(json_response(StatusCode::OK, &settings_json(changed)))
}
