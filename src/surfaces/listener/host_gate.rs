//! Who may call an account at all: requests must name the account by a loopback name,
//! the bound address or the world's own host names (a DNS-rebinding page names itself
//! and is refused 421), and the partner surface takes no request from a web page (a
//! browser's cross-origin POST carries `Origin`; partners are servers and never send it).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The names an account answers to besides loopback's.
#[derive(Clone, Debug)]
pub(crate) struct HostGate {
    /// The address listened on.
    pub bound: String,
    /// Host names (and suffixes) that are the world's own.
    pub names: Arc<Vec<String>>,
}

/// The middleware: 421 for a foreign `Host`, 403 for a web page on `/sharing`.
pub(crate) async fn check(State(gate): State<HostGate>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    let names: Vec<&str> = gate.names.iter().map(String::as_str).collect();
    let allowed = host
        .as_deref()
        .is_some_and(|host| crate::core::host::is_allowed(host, Some(&gate.bound), &names));
    if !allowed {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "the Host header {:?} is not this account's address: call it at {} (a web page's own name is refused: DNS rebinding)\n",
                host.unwrap_or_default(),
                gate.bound
            ),
        )
            .into_response();
    }
    if request.uri().path().starts_with("/sharing")
        && request.headers().contains_key(header::ORIGIN)
    {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "partner messages come from partners' servers, not from web pages (this request carries an Origin header)\n",
        )
            .into_response();
    }
    next.run(request).await
}
