//! The world's end of the link to an external account: a router, served by a listener of
//! the world at `{subdomain}.sharesim.test`, that forwards every partner message reaching
//! it to the same path under the account's configured sharing URL and hands the answer
//! back unchanged.
//!
//! The listener in front of it applies the receiving side's faults (hang, latency, a
//! status, a reset, a redirect loop) and presents the world's certificate in the account's
//! mode, so what breaks on the link breaks for real before the message leaves the
//! process. A crash point is where the link drops the message: before it is forwarded
//! (the partner never sees it), or after the partner answered (the partner stored it and
//! the reply is lost). The relay never follows a redirect and never sends anywhere but
//! under the configured URL.

use crate::core::directory::ExternalUrl;
use crate::core::faults::CrashPoint;
use crate::core::network::client::HttpClient;
use crate::core::trace::{Trace, lock};
use crate::core::transport::redirects::SendError;
use crate::core::transport::{RELAY_FAILURE_HEADER, WORLD_HEADER, classify_error};
use crate::surfaces::listener::AbortConnection;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One external account as the world holds it: its name, its configured URL, and the
/// client that alone may reach that URL.
#[derive(Debug)]
pub(crate) struct Relay {
    subdomain: String,
    display_name: String,
    url: ExternalUrl,
    client: Arc<HttpClient>,
    trace: Trace,
    timeout: Duration,
    listening: Mutex<Option<SocketAddr>>,
}

impl Relay {
    /// The relay for `subdomain` at `url`. `client` resolves only configured URLs;
    /// `timeout` bounds each forwarded exchange (the world's partner timeout).
    pub(crate) fn new(
        subdomain: &str,
        display_name: &str,
        url: ExternalUrl,
        client: Arc<HttpClient>,
        trace: Trace,
        timeout: Duration,
    ) -> Relay {
        Relay {
            subdomain: subdomain.to_string(),
            display_name: display_name.to_string(),
            url,
            client,
            trace,
            timeout,
            listening: Mutex::new(None),
        }
    }

    /// The external account's name in this world.
    pub(crate) fn subdomain(&self) -> &str {
        &self.subdomain
    }

    /// Its display name (agreement names use it).
    pub(crate) fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The sharing URL it was configured with.
    pub(crate) fn url(&self) -> &ExternalUrl {
        &self.url
    }

    /// Where the relay listens, while it runs (or last ran).
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        *lock(&self.listening)
    }

    /// Records where the relay listens.
    pub(crate) fn set_listening(&self, addr: SocketAddr) {
        *lock(&self.listening) = Some(addr);
    }
}

/// Every path of the relay's listener forwards.
pub(crate) fn router(relay: Arc<Relay>) -> Router {
    Router::new().fallback(forward).with_state(relay)
}

/// Headers that belong to one connection (or to sharesim alone) and never cross the relay.
const NOT_FORWARDED: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    WORLD_HEADER,
];

async fn forward(
    State(relay): State<Arc<Relay>>,
    crash: Option<Extension<CrashPoint>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let sub = relay.subdomain.as_str();
    let Some(rest) = parts.uri.path().strip_prefix("/sharing") else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("no such sharing endpoint {}", parts.uri.path()),
        );
    };
    let rest = match parts.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_string(),
    };
    let target = match relay.url.join(&rest) {
        Ok(target) => target,
        Err(why) => return plain(StatusCode::NOT_FOUND, why),
    };
    let from = parts
        .headers
        .get(crate::core::transport::FROM_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("a sender")
        .to_string();
    let crash = crash.map(|Extension(point)| point);
    if crash == Some(CrashPoint::BeforeStore) {
        relay.trace.world(
            sub,
            format!(
                "the link to {sub} drops {from}'s message before it arrives (fault crash = \"before_store\")"
            ),
        );
        return abort();
    }
    // The listener has read the body whole already.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut outgoing = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(target.as_str());
    for (name, value) in &parts.headers {
        if forwarded(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let outgoing = match outgoing.body(Full::new(body)) {
        Ok(outgoing) => outgoing,
        Err(error) => return plain(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let answer = match tokio::time::timeout(relay.timeout, relay.client.send(outgoing)).await {
        Err(_) => {
            return relay_failure(
                "failed",
                format!(
                    "timed out after {} ms: {sub} at {target} did not answer",
                    relay.timeout.as_millis()
                ),
            );
        }
        Ok(Err(error)) => {
            let failure = classify_error(&SendError::Client(error));
            return relay_failure(
                failure.status.as_str(),
                format!("{sub} at {}: {}", relay.url, failure.cause),
            );
        }
        Ok(Ok(answer)) => answer,
    };
    if crash == Some(CrashPoint::AfterStore) {
        relay.trace.world(
            sub,
            format!(
                "{sub} answered {from}'s message {}, and the link drops the reply (fault crash = \"after_store\")",
                answer.status
            ),
        );
        return abort();
    }
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_answer_headers(&relay.url, &target, &answer.headers, response.headers_mut());
    response
}

fn forwarded(name: &HeaderName) -> bool {
    !NOT_FORWARDED
        .iter()
        .any(|never| name.as_str().eq_ignore_ascii_case(never))
}

/// The partner's headers, but a `Location` under its configured URL points back at the
/// relay (so a sender follows it over the same link), and nothing that only sharesim may
/// say is taken from the partner.
fn copy_answer_headers(
    configured: &ExternalUrl,
    target: &url::Url,
    from: &HeaderMap,
    to: &mut HeaderMap,
) {
    for (name, value) in from {
        if !forwarded(name) || name.as_str().eq_ignore_ascii_case(RELAY_FAILURE_HEADER) {
            continue;
        }
        if name == header::LOCATION {
            let under = value
                .to_str()
                .ok()
                .and_then(|location| target.join(location).ok())
                .and_then(|location| configured.rest_of(&location));
            if let Some(rest) = under
                && let Ok(value) = HeaderValue::from_str(&format!("/sharing{rest}"))
            {
                to.append(header::LOCATION, value);
                continue;
            }
        }
        to.append(name.clone(), value.clone());
    }
}

/// The relay's own answer when the partner could not be reached: 502, with the status
/// the sender records for it in [`RELAY_FAILURE_HEADER`] and the cause as the body.
fn relay_failure(status: &str, cause: String) -> Response {
    let mut response = plain(StatusCode::BAD_GATEWAY, cause);
    if let Ok(value) = HeaderValue::from_str(status) {
        response.headers_mut().insert(RELAY_FAILURE_HEADER, value);
    }
    response
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

fn abort() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(AbortConnection);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_under_the_partner_point_back_at_the_relay_and_others_pass_unchanged() {
        let configured = ExternalUrl::parse("http://127.0.0.1:9000/sharing").unwrap();
        let target = url::Url::parse("http://127.0.0.1:9000/sharing/agreements/a").unwrap();
        let mut from = HeaderMap::new();
        from.append(
            header::LOCATION,
            HeaderValue::from_static("http://127.0.0.1:9000/sharing/agreements/b"),
        );
        from.append(RELAY_FAILURE_HEADER, HeaderValue::from_static("ssl_error"));
        from.append("x-partner", HeaderValue::from_static("kept"));
        from.append(WORLD_HEADER, HeaderValue::from_static("never passed on"));
        let mut to = HeaderMap::new();
        copy_answer_headers(&configured, &target, &from, &mut to);
        assert_eq!(to[header::LOCATION], "/sharing/agreements/b");
        assert!(to.get(RELAY_FAILURE_HEADER).is_none());
        assert_eq!(to["x-partner"], "kept");
        assert!(to.get(WORLD_HEADER).is_none());
        let mut elsewhere = HeaderMap::new();
        elsewhere.append(
            header::LOCATION,
            HeaderValue::from_static("http://10.0.0.9/sharing"),
        );
        let mut to = HeaderMap::new();
        copy_answer_headers(&configured, &target, &elsewhere, &mut to);
        assert_eq!(to[header::LOCATION], "http://10.0.0.9/sharing");
    }
}
