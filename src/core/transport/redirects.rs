//! Where a partner message may go, and the exchange that carries it there: the first
//! URL and every redirect hop pass one check, at most [`MAX_REDIRECTS`] redirects are
//! followed (the reference client's limit), and each only to the host and port the
//! message was first sent to. Nothing is ever sent outside the world.

use super::{
    FROM_HEADER, MAX_REDIRECTS, Message, PROTOCOL_VERSION, TOKEN_HEADER, VERSION_HEADER,
    WORLD_HEADER,
};
use crate::core::directory::{Directory, subdomain_of_host};
use crate::core::network::client::{Answer, ClientError, HttpClient};
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use bytes::Bytes;
use http_body_util::Full;
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// Why an exchange ended without an answer to hand back.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The connection, the handshake or the HTTP exchange failed.
    #[error(transparent)]
    Client(ClientError),
    /// More redirects than the reference client follows.
    #[error("too many redirects")]
    TooManyRedirects,
    /// A redirect to somewhere a partner may not send us.
    #[error("refused to follow the redirect to {location:?}: {reason}")]
    RedirectRefused {
        /// The `Location` the partner answered.
        location: String,
        /// Why it was not followed.
        reason: String,
    },
    /// The request could not be put on the wire.
    #[error("the request could not be built: {0}")]
    Malformed(String),
}

/// Where a message goes, as far as the transport cares.
pub(super) enum Target {
    /// A simulated account by name; `running` is false until it first listens.
    Account { subdomain: String, running: bool },
    /// A simulated account's loopback address given literally.
    Literal,
}

/// The one check every URL a message is sent to passes, the first and every redirect
/// hop: HTTP(S) to `{subdomain}.sharesim.test` of an account in the directory, or to
/// the literal loopback address an account listens on. No other host, no other port,
/// and no name ever reaches a resolver other than the directory. `parsed` has the URL's
/// scheme, host and port (it may be its base); `url` is the whole URL, as errors name it.
pub(super) fn allowed_target(
    directory: &Directory,
    parsed: &Url,
    url: &str,
) -> Result<Target, String> {
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("the sharing URL {url:?} is not HTTP(S)"));
    }
    let not_ours = || {
        format!(
            "the sharing URL {url:?} is not a simulated account: sharesim only sends to *.sharesim.test and the loopback addresses its accounts listen on"
        )
    };
    match parsed.host() {
        Some(url::Host::Domain(host)) => {
            let subdomain = subdomain_of_host(host).ok_or_else(not_ours)?;
            match directory.is_listening(subdomain) {
                None => Err(format!(
                    "unknown subdomain {subdomain:?}: no account answers at {host}"
                )),
                Some(running) => Ok(Target::Account {
                    subdomain: subdomain.to_string(),
                    running,
                }),
            }
        }
        Some(url::Host::Ipv4(ip)) => literal_target(directory, IpAddr::V4(ip), parsed, not_ours),
        Some(url::Host::Ipv6(ip)) => literal_target(directory, IpAddr::V6(ip), parsed, not_ours),
        None => Err(not_ours()),
    }
}

fn literal_target(
    directory: &Directory,
    ip: IpAddr,
    parsed: &Url,
    not_ours: impl Fn() -> String,
) -> Result<Target, String> {
    let port = parsed.port_or_known_default().ok_or_else(&not_ours)?;
    let addr = SocketAddr::new(ip, port);
    if ip.is_loopback() && directory.subdomain_at(addr).is_some() {
        Ok(Target::Literal)
    } else {
        Err(not_ours())
    }
}

/// Sends `message` to its destination (whose target check passed) with `client` and
/// follows redirects as the reference client does, after the target check on every
/// hop. A followed redirect names the URL it came from in `Referer`, which is how a
/// receiving listener knows it is the same message (see `listener::faults`). The
/// destination's whole URL is parsed only when a redirect is to be resolved against it.
pub(super) async fn exchange(
    client: &HttpClient,
    directory: &Directory,
    message: &Message,
    world: &HeaderValue,
    body: Option<Bytes>,
) -> Result<Answer, SendError> {
    let destination = &message.url;
    let first = destination.origin().map_err(malformed)?;
    // None: the destination itself.
    let mut hop_url: Option<Url> = None;
    let mut method = message.method.clone();
    let mut body = body;
    let mut referer: Option<String> = None;
    for hop in 0.. {
        let target = match &hop_url {
            Some(url) => axum::http::Uri::try_from(url.as_str()).map_err(|error| error.to_string()),
            None => destination.uri(),
        };
        let request = build(
            message,
            world,
            &method,
            target,
            body.clone(),
            referer.as_deref(),
        )?;
        let answer = client.send(request).await.map_err(SendError::Client)?;
        let location = answer
            .headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok());
        let (true, Some(location)) = (is_redirect(answer.status), location) else {
            return Ok(answer);
        };
        if hop >= MAX_REDIRECTS {
            return Err(SendError::TooManyRedirects);
        }
        let refuse = |reason: String| SendError::RedirectRefused {
            location: location.to_string(),
            reason,
        };
        let url = match &hop_url {
            Some(url) => url,
            None => destination.url().map_err(malformed)?,
        };
        let next = url
            .join(location)
            .map_err(|error| refuse(format!("it is not a URL: {error}")))?;
        if next.host() != first.host()
            || next.port_or_known_default() != first.port_or_known_default()
        {
            return Err(refuse(format!(
                "a partner may only redirect to its own host {}",
                first.host_str().unwrap_or_default()
            )));
        }
        allowed_target(directory, &next, next.as_str()).map_err(refuse)?;
        // 303, and 301/302 after a POST, turn into a GET without a body, as browsers
        // and reqwest do; 307 and 308 repeat the same method and body.
        if answer.status == 303 || (matches!(answer.status, 301 | 302) && method == Method::POST) {
            method = Method::GET;
            body = None;
        }
        referer = Some(url.to_string());
        hop_url = Some(next);
    }
    unreachable!("the loop returns on every path")
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn build(
    message: &Message,
    world: &HeaderValue,
    method: &Method,
    uri: Result<axum::http::Uri, String>,
    body: Option<Bytes>,
    referer: Option<&str>,
) -> Result<Request<Full<Bytes>>, SendError> {
    // Names as constants and the request filled in place: a builder moves the whole
    // request on every header and parses (and allocates) each custom name, per message.
    const VERSION: HeaderName = HeaderName::from_static("x-ticket-sharing-version");
    const FROM: HeaderName = HeaderName::from_static("x-sharesim-from");
    const WORLD: HeaderName = HeaderName::from_static("x-sharesim-world");
    const TOKEN: HeaderName = HeaderName::from_static("x-ticket-sharing-token");
    debug_assert!(VERSION == VERSION_HEADER && FROM == FROM_HEADER);
    debug_assert!(WORLD == WORLD_HEADER && TOKEN == TOKEN_HEADER);
    // Header values first: a value that cannot be sent is the error named, as before.
    let from = header_value(&message.from)?;
    let token = message.token.as_deref().map(header_value).transpose()?;
    let referer = referer.map(header_value).transpose()?;
    let uri = uri.map_err(SendError::Malformed)?;
    let json = body.is_some();
    let mut request = Request::new(Full::new(body.unwrap_or_default()));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    // Room for every header, and the client's Host, without growing the map.
    *request.headers_mut() = axum::http::HeaderMap::with_capacity(10);
    let headers = request.headers_mut();
    headers.append(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    headers.append(header::ACCEPT, HeaderValue::from_static("*/*"));
    headers.append(VERSION, HeaderValue::from_static(PROTOCOL_VERSION));
    headers.append(FROM, from);
    headers.append(WORLD, world.clone());
    if let Some(token) = token {
        headers.append(TOKEN, token);
    }
    if let Some(referer) = referer {
        headers.append(header::REFERER, referer);
    }
    if json {
        headers.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(request)
}

fn malformed(error: &str) -> SendError {
    SendError::Malformed(error.to_string())
}

const USER_AGENT: &str = concat!("sharesim/", env!("CARGO_PKG_VERSION"));

fn header_value(text: &str) -> Result<HeaderValue, SendError> {
    HeaderValue::from_str(text)
        .map_err(|_| SendError::Malformed(format!("{text:?} cannot be sent in a header")))
}
