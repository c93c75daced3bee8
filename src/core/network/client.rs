//! The HTTP client both networks share: hyper's HTTP/1.1 connections, kept per host
//! (see `pool`), over connections the world's [`Network`] opens, with real rustls
//! handshakes for `https` URLs.
//!
//! Names resolve only through the world's directory (or as loopback literals), so no
//! lookup ever leaves the world. Every failure comes back as a [`ClientError`] whose
//! text does not depend on which network carried it: a refused connection reads the
//! same on a socket and in memory, which is what lets traces of the two networks be
//! compared byte for byte.

use super::body::ReadError;
use super::pool::{HostPool, Sender};
use super::{Network, Stream};
use crate::core::directory::{Directory, subdomain_of_host};
use axum::http::HeaderValue;
use axum::http::{HeaderMap, Request, Uri};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a pooled connection may sit idle: shorter than any listener keeps an idle
/// connection (the header timeout, 20 s by default), so a pooled connection is not
/// reused just as the partner closes it.
const POOL_IDLE: Duration = Duration::from_secs(10);

/// How the client finds the address behind a URL's host.
#[derive(Clone, Debug)]
pub enum Resolve {
    /// `{subdomain}.sharesim.test` through the directory; loopback literals as written.
    Directory(Directory),
    /// Every host to one address where nothing listens: how a `down` link, or an
    /// account that never started, gives its sender a real refused connection.
    Nowhere(SocketAddr),
    /// Loopback literals only (the REST client, which is given accounts' addresses).
    Literal,
    /// External accounts' configured URLs only (the world's relays): a URL at or under
    /// one of them is dialed at its host, an IP literal as written and a name through the
    /// system resolver, because an operator named it; every other host is refused. Nothing
    /// a partner sends is ever looked up.
    Partners(Directory),
}

/// Why a connection could not be opened (the address, the socket or the handshake).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConnectError {
    /// The host is no account of this world, or not a loopback address.
    #[error("no simulated account listens at {host}")]
    Unresolved {
        /// The host as the URL spells it.
        host: String,
    },
    /// The connection itself failed.
    #[error("{}: could not connect to {authority}", describe_io(*kind))]
    Io {
        /// Host and port as the URL spells them.
        authority: String,
        /// What went wrong, in the terms both networks share.
        kind: io::ErrorKind,
    },
    /// rustls refused the handshake (or the partner's answer to it).
    #[error("{error}")]
    Tls {
        /// rustls's own error, whose text says why.
        error: rustls::Error,
    },
}

/// The words for an I/O failure, the same whichever network produced it (the OS adds
/// its own text and error number; the in-memory network has neither).
pub(crate) fn describe_io(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::UnexpectedEof => "connection closed",
        io::ErrorKind::TimedOut => "timed out",
        _ => "connection failed",
    }
}

/// Why an exchange did not produce a whole answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// No connection (or no TLS session) could be made.
    #[error(transparent)]
    Connect(ConnectError),
    /// The request went out and the connection closed before any answer.
    #[error("{0}")]
    Closed(String),
    /// The status line and headers arrived, then the body broke off.
    #[error("{0}")]
    Body(String),
    /// The body was larger than the caller accepts.
    #[error("the answer's body is larger than {0} bytes")]
    TooLarge(usize),
    /// The request could not be built or the exchange broke some other way.
    #[error("{0}")]
    Other(String),
}

/// A whole answer: status, headers and every byte of the body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A pooled client over one world's network. Cheap to share behind an `Arc`.
///
/// Each host gets a pool of its own, so that when one account's listener closes its
/// connections (a new certificate, a restart) only that account's pooled connections
/// are dropped: every other connection, and its TLS session, lives on.
#[derive(Debug)]
pub struct HttpClient {
    connector: Connector,
    pools: Mutex<HashMap<String, Arc<HostPool>>>,
    max_body: usize,
}

impl HttpClient {
    /// A client that opens connections on `network`, finds hosts as `resolve` says, and
    /// verifies `https` partners with `tls`. Answers larger than `max_body` are refused.
    pub fn new(
        network: Network,
        resolve: Resolve,
        tls: Arc<rustls::ClientConfig>,
        max_body: usize,
    ) -> HttpClient {
        let connector = Connector {
            network,
            resolve,
            tls: tokio_rustls::TlsConnector::from(tls),
        };
        HttpClient {
            pools: Mutex::new(HashMap::new()),
            connector,
            max_body,
        }
    }

    /// Drops the pooled connections to `host` (as URLs spell it: a name, or an address
    /// with its port): the next request there opens a new connection and makes a new
    /// handshake.
    pub fn forget_connections(&self, host: &str) {
        if let Some(pool) = crate::core::trace::lock(&self.pools).remove(host) {
            pool.forget();
        }
    }

    /// Sends `request` and reads its whole answer. No redirect is followed and no
    /// deadline applied: callers decide both.
    pub async fn send(&self, mut request: Request<Full<Bytes>>) -> Result<Answer, ClientError> {
        let uri = request.uri().clone();
        let (Some(authority), Some(_)) = (uri.authority(), uri.scheme()) else {
            return Err(ClientError::Other(
                "client error (UserAbsoluteUriRequired)".to_string(),
            ));
        };
        let https = uri.scheme_str() == Some("https");
        let (pool, as_written) = self.pool(authority.as_str());
        // What hyper-util's client does to an HTTP/1.1 request: a Host header unless
        // the caller set one, and the target in origin form.
        if let axum::http::header::Entry::Vacant(entry) =
            request.headers_mut().entry(axum::http::header::HOST)
        {
            entry.insert(if as_written {
                pool.host_header(https, || host_header(&uri, https))
            } else {
                host_header(&uri, https)
            });
        }
        *request.uri_mut() = origin_form(&uri);
        let response = loop {
            let (mut sender, reused) = match pool.checkout(https, POOL_IDLE) {
                Some(sender) => (sender, true),
                None => (self.connect(&uri).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => break (response, sender),
                Err(mut error) => match error.take_message() {
                    // The connection closed before the request went out: a kept
                    // connection the partner had just closed, so try a new one.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(hyper_error(&error.into_error())),
                },
            }
        };
        let (response, sender) = response;
        let (parts, body) = response.into_parts();
        let body = super::body::read_to_bytes(body, self.max_body)
            .await
            .map_err(|error| match error {
                ReadError::TooLarge => ClientError::TooLarge(self.max_body),
                ReadError::Body(error) => ClientError::Body(error_text(&error)),
            })?;
        pool.put(sender, https);
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// The pool of connections to `host`, and whether its key is `host` as written. It
    /// is looked up as written when it has no capitals (every URL sharesim builds), so
    /// a message allocates no key for a pool that exists.
    fn pool(&self, host: &str) -> (Arc<HostPool>, bool) {
        let as_written = !host.bytes().any(|b| b.is_ascii_uppercase());
        let host = if as_written {
            std::borrow::Cow::Borrowed(host)
        } else {
            std::borrow::Cow::Owned(host.to_ascii_lowercase())
        };
        let mut pools = crate::core::trace::lock(&self.pools);
        let pool = match pools.get(host.as_ref()) {
            Some(pool) => pool.clone(),
            None => pools.entry(host.into_owned()).or_default().clone(),
        };
        (pool, as_written)
    }

    /// A new connection to `uri`'s host, its HTTP/1.1 I/O running in a task of its own,
    /// ready for a request.
    async fn connect(&self, uri: &Uri) -> Result<Sender, ClientError> {
        let io = self
            .connector
            .clone()
            .connect(uri.clone())
            .await
            .map_err(ClientError::Connect)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|error| hyper_error(&error))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "client connection error");
            }
        });
        sender.ready().await.map_err(|error| hyper_error(&error))?;
        Ok(sender)
    }
}

/// The `Host` header hyper-util's client writes: the host, with the port when it is
/// not the scheme's default.
fn host_header(uri: &Uri, https: bool) -> HeaderValue {
    let host = uri.host().unwrap_or_default();
    let value = match uri.port() {
        Some(port) if port.as_u16() != if https { 443 } else { 80 } => {
            HeaderValue::from_maybe_shared(Bytes::from(format!("{host}:{port}")))
        }
        _ => HeaderValue::from_str(host),
    };
    value.unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The request target as an HTTP/1.1 client writes it: the path and query only.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => {
            let mut parts = axum::http::uri::Parts::default();
            parts.path_and_query = Some(path.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    }
}

/// What hyper's own error means for the caller.
fn hyper_error(error: &hyper::Error) -> ClientError {
    if error.is_incomplete_message() {
        ClientError::Closed(error.to_string())
    } else {
        ClientError::Other(error_text(error))
    }
}

/// An error and its sources, joined with ": ", each text once.
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The first error of type `T` in `error`'s chain, looking inside `io::Error`s too.
pub(crate) fn find_source<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        // io::Error::source() skips the error it wraps (it returns that error's own
        // source), so look at the wrapped error itself: that is where rustls's error is.
        current = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    None
}

/// Opens connections for hyper's pool: resolve, connect on the world's network, and
/// make a TLS handshake for `https`.
#[derive(Clone)]
struct Connector {
    network: Network,
    resolve: Resolve,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("network", &self.network.kind())
            .field("resolve", &self.resolve)
            .finish_non_exhaustive()
    }
}

impl Connector {
    fn address(&self, uri: &Uri) -> Result<SocketAddr, ConnectError> {
        let host = uri.host().unwrap_or_default();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let unresolved = || ConnectError::Unresolved {
            host: host.to_string(),
        };
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()
            .filter(IpAddr::is_loopback)
            .map(|ip| SocketAddr::new(ip, port));
        match &self.resolve {
            Resolve::Partners(_) => Err(unresolved()),
            Resolve::Nowhere(addr) => Ok(*addr),
            Resolve::Literal => literal.ok_or_else(unresolved),
            Resolve::Directory(directory) => match literal {
                Some(addr) => Ok(addr),
                None => subdomain_of_host(host)
                    .and_then(|subdomain| directory.get(subdomain))
                    .and_then(|listing| listing.addr)
                    .ok_or_else(unresolved),
            },
        }
    }

    /// Where an external account's configured URL points (see [`Resolve::Partners`]).
    async fn partner_address(directory: &Directory, uri: &Uri) -> Result<SocketAddr, ConnectError> {
        let host = uri.host().unwrap_or_default();
        let unresolved = || ConnectError::Unresolved {
            host: host.to_string(),
        };
        // Only the origin is compared; the relay has checked the path against the
        // configured URL already.
        let url = url::Url::parse(&uri.to_string()).map_err(|_| unresolved())?;
        if !directory.is_external_origin(&url) {
            return Err(unresolved());
        }
        let port = url.port_or_known_default().ok_or_else(unresolved)?;
        match url.host().ok_or_else(unresolved)? {
            url::Host::Ipv4(ip) => Ok(SocketAddr::new(IpAddr::V4(ip), port)),
            url::Host::Ipv6(ip) => Ok(SocketAddr::new(IpAddr::V6(ip), port)),
            url::Host::Domain(name) => tokio::net::lookup_host((name, port))
                .await
                .ok()
                .and_then(|mut found| found.next())
                .ok_or_else(unresolved),
        }
    }

    async fn connect(self, uri: Uri) -> Result<Io, ConnectError> {
        let addr = match &self.resolve {
            Resolve::Partners(directory) => Self::partner_address(directory, &uri).await?,
            _ => self.address(&uri)?,
        };
        let authority = uri
            .authority()
            .map_or_else(String::new, |a| a.as_str().to_string());
        let stream = self
            .network
            .connect(addr)
            .await
            .map_err(|error| ConnectError::Io {
                authority: authority.clone(),
                kind: error.kind(),
            })?;
        if uri.scheme_str() != Some("https") {
            return Ok(Io::Plain(stream));
        }
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| {
            ConnectError::Unresolved {
                host: host.to_string(),
            }
        })?;
        match self.tls.connect(name, stream).await {
            Ok(tls) => Ok(Io::Tls(Box::new(tls))),
            Err(error) => Err(match find_source::<rustls::Error>(&error) {
                Some(tls) => ConnectError::Tls { error: tls.clone() },
                None => ConnectError::Io {
                    authority,
                    kind: error.kind(),
                },
            }),
        }
    }
}

/// One client connection: plain or TLS, on either network.
enum Io {
    Plain(Stream),
    Tls(Box<tokio_rustls::client::TlsStream<Stream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Io::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_failures_read_the_same_on_both_networks() {
        let refused = ConnectError::Io {
            authority: "globex.sharesim.test".into(),
            kind: io::ErrorKind::ConnectionRefused,
        };
        assert_eq!(
            refused.to_string(),
            "connection refused: could not connect to globex.sharesim.test"
        );
        assert_eq!(describe_io(io::ErrorKind::Other), "connection failed");
    }

    #[test]
    fn hosts_resolve_through_the_directory_or_as_loopback_literals_only() {
        let directory = Directory::new();
        let listed: SocketAddr = "127.0.0.1:49152".parse().unwrap();
        directory.insert(
            "acme",
            crate::core::directory::Listing {
                display_name: "Acme".into(),
                addr: Some(listed),
                https: false,
                external: None,
            },
        );
        let connector = |resolve| Connector {
            network: Network::Loopback,
            resolve,
            tls: tokio_rustls::TlsConnector::from(
                crate::core::tls::untrusting_client_config().expect("a config"),
            ),
        };
        let by_directory = connector(Resolve::Directory(directory));
        let uri = |text: &str| text.parse::<Uri>().unwrap();
        assert_eq!(
            by_directory.address(&uri("http://acme.sharesim.test/sharing")),
            Ok(listed)
        );
        assert_eq!(
            by_directory.address(&uri("http://127.0.0.1:8000/x")),
            Ok("127.0.0.1:8000".parse().unwrap())
        );
        assert!(
            by_directory
                .address(&uri("http://10.0.0.1:8000/x"))
                .is_err()
        );
        assert!(
            by_directory
                .address(&uri("http://globex.sharesim.test/x"))
                .is_err()
        );
        let literal = connector(Resolve::Literal);
        assert!(
            literal
                .address(&uri("http://acme.sharesim.test/sharing"))
                .is_err()
        );
        assert_eq!(
            literal.address(&uri("https://[::1]/x")),
            Ok("[::1]:443".parse().unwrap())
        );
    }
}
