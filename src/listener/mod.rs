//! An account's listener: accepts loopback connections (HTTP, or HTTPS through
//! rustls), serves the account's router on each, and stops when its cancellation token
//! fires. Every connection task is spawned through the world's tracker, so shutdown
//! waits for all of them.

pub mod faults;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// A response extension that makes the listener drop the connection instead of
/// answering: how crash points ("the connection dies before the reply") are real.
#[derive(Clone, Copy, Debug)]
pub struct AbortConnection;

/// A request extension carrying the account's cancellation token, so a handler that
/// never answers (the `hang` fault) still ends when the account stops.
#[derive(Clone, Debug)]
pub struct Stopping(pub CancellationToken);

#[derive(Debug, thiserror::Error)]
#[error("connection aborted by a crash point")]
struct Aborted;

/// How long in-flight requests may take to finish once the account stops.
const DRAIN: Duration = Duration::from_millis(500);

/// What a running listener serves, changeable while it runs: whether (and with which
/// certificate) connections speak TLS, and the current generation of connections.
/// Switching ends every open connection, so the next message makes a new handshake,
/// while the listening socket (and its port) stays as it is.
#[derive(Debug)]
pub struct ListenerControl {
    listener: CancellationToken,
    current: std::sync::Mutex<(Option<Arc<rustls::ServerConfig>>, CancellationToken)>,
}

impl ListenerControl {
    /// Control for a listener that stops with `listener`.
    pub fn new(tls: Option<Arc<rustls::ServerConfig>>, listener: CancellationToken) -> Arc<Self> {
        let connections = listener.child_token();
        Arc::new(ListenerControl {
            listener,
            current: std::sync::Mutex::new((tls, connections)),
        })
    }

    /// Serves later connections with `tls` (None: plain HTTP) and closes the open ones.
    pub fn switch(&self, tls: Option<Arc<rustls::ServerConfig>>) {
        let old = {
            let mut current = crate::trace::lock(&self.current);
            let fresh = self.listener.child_token();
            let (_, old) = std::mem::replace(&mut *current, (tls, fresh));
            old
        };
        old.cancel();
    }

    fn for_new_connection(&self) -> (Option<tokio_rustls::TlsAcceptor>, CancellationToken) {
        let current = crate::trace::lock(&self.current);
        (
            current.0.clone().map(tokio_rustls::TlsAcceptor::from),
            current.1.clone(),
        )
    }
}

/// Serves `app` on `listener` until `cancel` fires. Each connection is served as
/// `control` says at the time it arrives: with TLS, it completes a real handshake first.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    control: Arc<ListenerControl>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let (acceptor, cancel) = control.for_new_connection();
        tracker.spawn(async move {
            match acceptor {
                None => serve_connection(stream, false, app, cancel).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        _ = cancel.cancelled() => return,
                        handshake = acceptor.accept(stream) => handshake,
                    };
                    match handshake {
                        Ok(stream) => {
                            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            serve_connection(stream, http2, app, cancel).await
                        }
                        Err(error) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                        }
                    }
                }
            }
        });
    }
}

async fn serve_connection<S>(stream: S, http2: bool, app: Router, cancel: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stopping = cancel.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let app = app.clone();
        request.extensions_mut().insert(Stopping(stopping.clone()));
        async move {
            let response = match app.oneshot(request.map(axum::body::Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<AbortConnection>().is_some() {
                Err(Aborted)
            } else {
                Ok(response)
            }
        }
    });
    let io = TokioIo::new(stream);
    // HTTP/2 only where TLS negotiated it (ALPN `h2`); plain connections speak HTTP/1.1,
    // which spares every request the protocol sniffing of an auto-detecting server.
    if http2 {
        let connection = http2::Builder::new(TokioExecutor::new()).serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            _ = cancel.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(DRAIN, connection).await;
            }
        }
    } else {
        let connection = http1::Builder::new().serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            _ = cancel.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(DRAIN, connection).await;
            }
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
