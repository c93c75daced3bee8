//! The runner's REST calls: what an admin's or agent's API client sends an account, on
//! the world's own network (in memory on the simulated network), waiting as long as the
//! world may make it wait (see [`crate::world::World::patience`]).

use crate::core::account::{Account, SURFACE_CHECK_HEADER};
use crate::world::World;
use axum::http::{HeaderValue, Method, Request, header};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;

/// One REST call as the runner makes it.
pub(super) struct RestCall<'c> {
    /// The method, as a scenario spells it.
    pub method: &'c str,
    /// The path under the account's origin (`/api/v2/…`).
    pub path: &'c str,
    /// Who calls: the user's email (the account's API token authenticates it).
    pub email: &'c str,
    /// A JSON body, if any.
    pub body: Option<Vec<u8>>,
    /// The runner comparing surfaces: untraced, unlimited (see `surfaces.rs`).
    pub surface_check: bool,
}

/// What came back: the status and the body's bytes.
pub(super) struct RestAnswer {
    pub status: u16,
    pub body: Bytes,
}

/// Sends `call` to `account` and reads the whole answer; the error says, in words, why
/// no answer came.
pub(super) async fn send(
    world: &World,
    account: &Account,
    call: RestCall<'_>,
) -> Result<RestAnswer, String> {
    let origin = account.api_url();
    let origin = origin.trim_end_matches("/api/v2");
    let method = Method::from_bytes(call.method.as_bytes())
        .map_err(|e| format!("bad method {}: {e}", call.method))?;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}/token:{}",
        call.email,
        account.api_token()
    ));
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{origin}{}", call.path))
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .header(header::ACCEPT, "application/json");
    if call.surface_check {
        let key = HeaderValue::from_str(account.services().surface_check_key())
            .map_err(|e| e.to_string())?;
        request = request.header(SURFACE_CHECK_HEADER, key);
    }
    if call.body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(call.body.unwrap_or_default())))
        .map_err(|e| format!("the call to {} cannot be made: {e}", call.path))?;
    let patience = world.patience();
    match tokio::time::timeout(patience, world.rest_client().send(request)).await {
        Err(_) => Err(format!(
            "no answer within {} s, longer than anything the world may wait on",
            patience.as_secs()
        )),
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(answer)) => Ok(RestAnswer {
            status: answer.status,
            body: answer.body,
        }),
    }
}
