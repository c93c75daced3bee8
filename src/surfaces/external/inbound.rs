//! Partner messages an account receives from an external account. The world's own
//! messages are recorded by the sending transport; an external account's are recorded
//! here, by the receiving account's router, so every message to and from it is in the
//! trace (and the journal) all the same: a request event from it, and a response event
//! with the answer it got.
//!
//! The sender is recognised, never trusted by name: by the agreement its
//! `X-Ticket-Sharing-Token` names, or for an invitation by the `sender_url` in its body,
//! which must be at or under an external account's configured URL. The recorder then
//! names it in `X-Sharesim-From` for the fault layer inside, so a fault on the link from
//! it (`fault = { account, from }`) applies as on any link. Messages from strangers are
//! left as they were: unrecorded and unnamed.

use crate::core::account::Account;
use crate::core::account::tap::Inbound;
use crate::core::trace::{EventDraft, EventKind, Surface, Text, method_text};
use crate::core::transport::{FROM_HEADER, TOKEN_HEADER, summarize_body};
use crate::surfaces::listener::AbortConnection;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;

/// How much of an answer's body the trace and the tap keep.
const ANSWER_KEPT: usize = 64 * 1024;

/// The receiving account, for the middleware.
#[derive(Clone, Debug)]
pub(crate) struct InboundGate {
    /// The account whose router this guards.
    pub account: Arc<Account>,
}

/// Whether [`record`] passes `request` straight on, recording nothing: anything but a
/// partner message from an external account. The world's surfaces ask first, so the
/// common request's future need not hold room for this step.
pub(crate) fn passes(gate: &InboundGate, request: &Request) -> bool {
    let services = gate.account.services();
    !request.uri().path().starts_with("/sharing")
        || services.transport.is_own_message(request.headers())
        || !services.directory.has_externals()
}

/// The step on an account's router (see `world::surfaces`) that recognises, names and
/// records messages from external accounts (see the module's doc); everything else
/// passes untouched.
pub(crate) async fn record<F, Fut>(gate: &InboundGate, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if passes(gate, &request) {
        return next(request).await;
    }
    let account = &gate.account;
    let services = account.services();
    let (mut parts, body) = request.into_parts();
    // The listener has read the body whole already.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Some(from) = sender(
        account,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        &body,
    ) else {
        return next(Request::from_parts(parts, Body::from(body))).await;
    };
    if let Ok(value) = HeaderValue::from_str(&from) {
        parts.headers.insert(FROM_HEADER, value);
    }
    let to = account.subdomain().to_string();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
    // Shared by the request's event and its answer's.
    let shown = (
        Text::from(&from),
        account.subdomain_text().clone(),
        method_text(&parts.method),
        Text::from(&path),
    );
    account.trace().record(
        EventKind::Request,
        EventDraft {
            surface: Some(Surface::Partner),
            from: shown.0.clone(),
            to: shown.1.clone(),
            method: Some(shown.2.clone()),
            path: Some(shown.3.clone()),
            detail: summarize_body(json.as_ref()),
            ..EventDraft::default()
        },
    );
    let tapped = services.inbound_tap.is_listening().then(|| Inbound {
        from: from.clone(),
        to: to.clone(),
        method: method.clone(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| path.clone(), |p| p.as_str().to_string()),
        headers: parts
            .headers
            .iter()
            .filter(|(name, _)| !name.as_str().eq_ignore_ascii_case(FROM_HEADER))
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        status: None,
        answer: String::new(),
    });
    let response = next(Request::from_parts(parts, Body::from(body))).await;
    let (response, status, answer) = answered(response).await;
    let detail = match (&status, serde_json::from_str::<serde_json::Value>(&answer)) {
        (None, _) => "no answer: the connection is dropped".to_string(),
        (Some(_), Ok(json)) => summarize_body(Some(&json)),
        (Some(_), Err(_)) => answer
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
    };
    account.trace().record(
        EventKind::Response,
        EventDraft {
            surface: Some(Surface::Partner),
            from: shown.1,
            to: shown.0,
            method: Some(shown.2),
            path: Some(shown.3),
            status,
            detail,
            ..EventDraft::default()
        },
    );
    if let Some(mut tapped) = tapped {
        tapped.status = status;
        tapped.answer = answer;
        services.inbound_tap.send(tapped);
    }
    response
}

/// The external account that sent this message, if it is one.
fn sender(
    account: &Account,
    method: &Method,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: &Bytes,
) -> Option<String> {
    let directory = &account.services().directory;
    let external = |name: Option<String>| name.filter(|name| directory.is_external(name));
    if let Some(token) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        let uuid = token.split_once(':').map_or(token, |(uuid, _)| uuid);
        if let Some(agreement) = account.agreement_by_uuid(uuid) {
            return external(agreement.remote_subdomain.map(String::from));
        }
    }
    if *method == Method::POST && path.starts_with("/sharing/agreements/") {
        let sender_url = serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .get("sender_url")?
            .as_str()?
            .to_string();
        return external(directory.subdomain_of_url(&sender_url));
    }
    None
}

/// The answer's status and the start of its body (None: the connection is dropped), with
/// the response rebuilt to go out unchanged. A body that streams (a fault breaking it
/// off mid-answer) is not read.
async fn answered(response: Response) -> (Response, Option<u16>, String) {
    if response.extensions().get::<AbortConnection>().is_some() {
        return (response, None, String::new());
    }
    let status = response.status().as_u16();
    let known_size = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some_and(|size| size as usize <= ANSWER_KEPT);
    if !known_size {
        return (response, Some(status), String::new());
    }
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let answer = String::from_utf8_lossy(&bytes).into_owned();
    (
        Response::from_parts(parts, Body::from(bytes)),
        Some(status),
        answer,
    )
}
