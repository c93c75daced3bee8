//! The routers of an account's listener and the write hook around every request that
//! may change an account.

use super::{WriteHookSlot, surfaces};
use crate::core::account::Account;
use crate::core::trace::lock;
use axum::Router;
use std::sync::Arc;

/// The routes of both surfaces with Zendesk-shaped answers for unknown paths, built
/// once per process: routing is the same for every account, only the state differs.
pub(super) fn shared_routes() -> Router<Arc<Account>> {
    static ROUTES: std::sync::OnceLock<Router<Arc<Account>>> = std::sync::OnceLock::new();
    ROUTES
        .get_or_init(|| {
            crate::surfaces::api::routes()
                .merge(crate::surfaces::partner::routes())
                .fallback(unknown_path)
        })
        .clone()
}

/// Both surfaces of one account: the shared routes with the account's state, inside
/// the REST API's recording, the world's faults on every partner message it receives,
/// the recording of messages from external accounts (see `external::inbound`), and the
/// write hook, as one service (see [`surfaces`]). It wraps the whole router once rather
/// than each route, so a world starts its accounts without rebuilding any routing.
pub(super) fn account_router(account: Arc<Account>, hook: WriteHookSlot) -> surfaces::Served {
    let routes = shared_routes().with_state(account.clone());
    surfaces::Served::Account(surfaces::AccountSurfaces::new(account, hook, routes))
}

/// Middleware form of [`after_write_with`], for the relays' routers.
pub(super) async fn after_write(
    axum::extract::State(hook): axum::extract::State<WriteHookSlot>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    after_write_with(&hook, request, |request| next.run(request)).await
}

/// The write hook `request` meets: a write's, when one is set (reads never meet it).
pub(super) fn write_hook_for(
    hook: &WriteHookSlot,
    request: &axum::extract::Request,
) -> Option<super::WriteHook> {
    use axum::http::Method;
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if writes { lock(hook).clone() } else { None }
}

/// Runs `next`, then the write hook when the request may have changed something.
pub(super) async fn after_write_with<F, Fut>(
    hook: &WriteHookSlot,
    request: axum::extract::Request,
    next: F,
) -> axum::response::Response
where
    F: FnOnce(axum::extract::Request) -> Fut,
    Fut: std::future::Future<Output = axum::response::Response>,
{
    let Some(hook) = write_hook_for(hook, &request) else {
        return next(request).await;
    };
    let undone_before = hook.undo_count();
    let response = next(request).await;
    let batch = hook.next_batch();
    if !hook.dirty() && hook.undo_count() == undone_before {
        return response;
    }
    let saver = hook.clone();
    let saved = match tokio::task::spawn_blocking(move || saver.save(batch)).await {
        Ok(saved) => saved,
        Err(_) => Err("saving failed".to_string()),
    };
    match saved {
        Err(message) => {
            tracing::error!(error = %message, "the state could not be made durable");
            not_durable(format!(
                "sharesim: this change could not be made durable and was undone: {message}"
            ))
        }
        Ok(()) if hook.undo_count() != undone_before => not_durable(
            "sharesim: another change could not be made durable while this one ran; unsaved changes (perhaps this one) were undone: read the state again"
                .to_string(),
        ),
        Ok(()) => response,
    }
}

/// The answer to a request whose change is not on disk: 503, with why.
pub(super) fn not_durable(message: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        message,
    )
        .into_response()
}

pub(super) async fn unknown_path(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/sharing") {
        crate::surfaces::partner::PartnerError::NotFound(format!(
            "no such sharing endpoint {}",
            uri.path()
        ))
        .into_response()
    } else {
        crate::surfaces::api::ApiError::InvalidEndpoint.into_response()
    }
}
