//! An account's listener: accepts connections on the world's network, loopback sockets
//! or in-memory (HTTP, or HTTPS through rustls), serves the account's router on each, and stops when its cancellation token
//! fires. Every connection task is spawned through the world's tracker, so shutdown
//! waits for all of them. Each connection is held to the listener's
//! [`ConnectionLimits`]: a cap, deadlines, and a whole body read before any handler runs.

pub mod connection_limits;
pub(crate) mod faults;
pub(crate) mod host_gate;

use crate::core::network::Listener;
use crate::core::network::body::{ReadError, read_to_bytes};
use axum::extract::Request;
use connection_limits::{AcceptBackoff, Activity, ConnectionLimits, Expired, Watched};
use futures_util::FutureExt;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
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

/// How long in-flight requests may take to finish once a listener stops, unless its
/// [`ListenerControl`] says otherwise.
pub const DRAIN: Duration = Duration::from_millis(500);

/// What a running listener serves, changeable while it runs: whether (and with which
/// certificate) connections speak TLS, and the current generation of connections.
/// Switching ends every open connection, so the next message makes a new handshake,
/// while the listening socket (and its port) stays as it is.
#[derive(Debug)]
pub struct ListenerControl {
    listener: CancellationToken,
    current: std::sync::Mutex<(Option<Arc<rustls::ServerConfig>>, CancellationToken)>,
    drain: Duration,
}

impl ListenerControl {
    /// Control for a listener that stops with `listener`. A connection it closes
    /// (the listener stops, or `switch`) stops taking requests at once, and the
    /// requests in flight on it get `drain` to finish. An account's listener drains for
    /// as long as a REST call may take: a handler cut in the middle of a status change
    /// would leave a change the partner was neither told of nor rolled back.
    pub fn new(
        tls: Option<Arc<rustls::ServerConfig>>,
        listener: CancellationToken,
        drain: Duration,
    ) -> Arc<Self> {
        let connections = listener.child_token();
        Arc::new(ListenerControl {
            listener,
            current: std::sync::Mutex::new((tls, connections)),
            drain,
        })
    }

    /// Serves later connections with `tls` (None: plain HTTP) and closes the open ones.
    pub fn switch(&self, tls: Option<Arc<rustls::ServerConfig>>) {
        let old = {
            let mut current = crate::core::trace::lock(&self.current);
            let fresh = self.listener.child_token();
            let (_, old) = std::mem::replace(&mut *current, (tls, fresh));
            old
        };
        old.cancel();
    }

    fn for_new_connection(&self) -> (Option<tokio_rustls::TlsAcceptor>, CancellationToken) {
        let current = crate::core::trace::lock(&self.current);
        (
            current.0.clone().map(tokio_rustls::TlsAcceptor::from),
            current.1.clone(),
        )
    }
}

/// What a listener serves: an account's surfaces, a relay, or any `axum::Router` (the
/// control API). Taken as the service itself, so an account's requests reach its
/// surfaces without a router in front.
pub trait App:
    tower::Service<Request, Response = axum::response::Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<A> App for A where
    A: tower::Service<
            Request,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `app` on `listener` until `cancel` fires, then hands the listener back (a
/// stopped account keeps its port). Each connection is served as `control` says at the
/// time it arrives: with TLS, it completes a real handshake first.
pub async fn serve<A: App>(
    listener: Listener,
    app: A,
    control: Arc<ListenerControl>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    limits: ConnectionLimits,
) -> Listener {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = AcceptBackoff::default();
    loop {
        // A free slot first: at the cap, new connections wait in the kernel's backlog
        // rather than being accepted and starved.
        let slot = tokio::select! {
            _ = cancel.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.on_success();
                accepted
            }
            Err(error) => {
                let pause = backoff.on_error(&error, tokio::time::Instant::now());
                if let Some(warning) = pause.warning {
                    tracing::warn!(%error, "{warning}");
                }
                if !pause.delay.is_zero() {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(pause.delay) => {}
                    }
                }
                continue;
            }
        };
        let app = app.clone();
        let (acceptor, cancel) = control.for_new_connection();
        let drain = control.drain;
        tracker.spawn(async move {
            let _slot = slot;
            let activity = Activity::new();
            let stream = Watched::new(stream, activity.clone());
            match acceptor {
                None => {
                    serve_connection(stream, false, app, (cancel, drain), limits, activity).await
                }
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        _ = cancel.cancelled() => return,
                        handshake = tokio::time::timeout(
                            limits.tls_handshake_timeout,
                            acceptor.accept(stream),
                        ) => handshake,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            serve_connection(stream, http2, app, (cancel, drain), limits, activity)
                                .await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
    listener
}

/// Why a connection was closed before its request was whole.
#[derive(Debug, thiserror::Error)]
enum Unread {
    #[error("the request body did not arrive within {0:?}")]
    TooSlow(Duration),
    #[error("the request body could not be read: {0}")]
    Broken(String),
}

/// A request as it arrives: whole already, or with a body still to read.
enum Arrival {
    /// A request without a body (a GET): taken as it is, with no deadline and no
    /// buffer, so the future hyper keeps per request holds no body reader.
    Whole(Request),
    /// A request with a body, for [`read_body`] (boxed, and built only for such a
    /// request).
    WithBody(Request<Incoming>),
}

impl Arrival {
    fn of(request: Request<Incoming>) -> Arrival {
        if hyper::body::Body::is_end_stream(request.body()) {
            let (parts, _) = request.into_parts();
            Arrival::Whole(Request::from_parts(parts, axum::body::Body::empty()))
        } else {
            Arrival::WithBody(request)
        }
    }
}

/// Reads the whole body, within the header deadline and the body size limit: handlers
/// then never wait on a slow client, and a client can hold a connection only as long as
/// the limits say. A body over the limit is answered 413.
async fn read_body(
    request: Request<Incoming>,
    limits: ConnectionLimits,
) -> Result<Result<Request<axum::body::Body>, axum::response::Response>, Unread> {
    // A declared length over the limit is refused at once, before a byte of it is read.
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u128>().ok());
    if declared.is_some_and(|length| length > crate::core::limits::MAX_BODY_BYTES as u128) {
        return Ok(Err(too_large()));
    }
    let (parts, body) = request.into_parts();
    let read = read_to_bytes(body, crate::core::limits::MAX_BODY_BYTES);
    match tokio::time::timeout(limits.header_timeout, read).await {
        Err(_) => Err(Unread::TooSlow(limits.header_timeout)),
        Ok(Ok(bytes)) => Ok(Ok(Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))),
        Ok(Err(ReadError::TooLarge)) => Ok(Err(too_large())),
        Ok(Err(ReadError::Body(error))) => Err(Unread::Broken(error.to_string())),
    }
}

/// The 413 for a body over [`crate::core::limits::MAX_BODY_BYTES`].
fn too_large() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        format!(
            "the request body is larger than {} bytes\n",
            crate::core::limits::MAX_BODY_BYTES
        ),
    )
        .into_response();
    // The rest of the body is not read: the connection cannot carry another request.
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

async fn serve_connection<S, A: App>(
    stream: S,
    http2: bool,
    app: A,
    (cancel, drain): (CancellationToken, Duration),
    limits: ConnectionLimits,
    activity: Arc<Activity>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stopping = cancel.clone();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let mut app = app.clone();
        let in_flight = requests.request();
        // Only partner messages can meet a fault that waits (see `faults`); REST calls
        // are spared the extension map.
        if request.uri().path().starts_with("/sharing") {
            request.extensions_mut().insert(Stopping(stopping.clone()));
        }
        let activity = requests.clone();
        let request = match Arrival::of(request) {
            // A request taken whole goes to the app at once, when it is ready (the
            // listener's apps always are): what hyper keeps and moves per request is the
            // app's own future, not one sized for a body read as well.
            Arrival::Whole(request) if app.poll_ready(&mut noop_context()).is_ready() => {
                let answer = app.call(request);
                let guards = (in_flight, activity.handling());
                return Either::Left(answer.map(move |answer| {
                    let _guards = guards;
                    let response = match answer {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    unless_aborted(response)
                }));
            }
            request => request,
        };
        let served: Served = Box::pin(async move {
            let _in_flight = in_flight;
            let request = match request {
                Arrival::Whole(request) => request,
                Arrival::WithBody(request) => match Box::pin(read_body(request, limits)).await {
                    Ok(Ok(request)) => request,
                    Ok(Err(refusal)) => return Ok(refusal),
                    Err(unread) => return Err(ConnectionError::Unread(unread)),
                },
            };
            let _handling = activity.handling();
            let response = match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            unless_aborted(response)
        });
        Either::Right(served)
    });
    let io = TokioIo::new(stream);
    // One watchdog per connection enforces the head and idle deadlines (HTTP/1's head
    // deadline too, which hyper would arm as a timer for every request).
    let head = (!http2).then_some(limits.header_timeout);
    let idle = activity.watch(head, limits.idle_timeout);
    tokio::pin!(idle);
    // HTTP/2 only where TLS negotiated it (ALPN `h2`); plain connections speak HTTP/1.1,
    // which spares every request the protocol sniffing of an auto-detecting server.
    if http2 {
        let connection = http2::Builder::new(TokioExecutor::new()).serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            expired = &mut idle => log_expired(expired),
            _ = cancel.cancelled() => {
                connection.as_mut().graceful_shutdown();
                drain_out(connection, &activity, drain).await;
            }
        }
    } else {
        // No timer of hyper's: the watchdog above enforces the head deadline.
        let connection = http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            expired = &mut idle => log_expired(expired),
            _ = cancel.cancelled() => {
                connection.as_mut().graceful_shutdown();
                drain_out(connection, &activity, drain).await;
            }
        }
    }
}

/// Waits for a connection told to close: [`DRAIN`] for a request still arriving, and
/// up to `drain` while a handler runs, so that what it decided is carried through.
async fn drain_out<F: std::future::Future>(
    mut connection: std::pin::Pin<&mut F>,
    activity: &Activity,
    drain: Duration,
) {
    let short = DRAIN.min(drain);
    if tokio::time::timeout(short, connection.as_mut())
        .await
        .is_err()
        && activity.is_handling()
    {
        let _ = tokio::time::timeout(drain - short, connection).await;
    }
}

/// The answer to a request that had to wait (a body to read, an app not ready): boxed,
/// so the future of a request taken whole need not hold room for it.
type Served = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<axum::response::Response, ConnectionError>> + Send>,
>;

/// A context for asking an app whether it is ready now, without waiting to be woken.
fn noop_context() -> std::task::Context<'static> {
    std::task::Context::from_waker(std::task::Waker::noop())
}

/// `response`, unless it asks for the connection to be dropped (a crash point).
fn unless_aborted(
    response: axum::response::Response,
) -> Result<axum::response::Response, ConnectionError> {
    if response.extensions().get::<AbortConnection>().is_some() {
        Err(ConnectionError::Aborted(Aborted))
    } else {
        Ok(response)
    }
}

/// Why a connection is dropped without an answer.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error(transparent)]
    Aborted(Aborted),
    #[error(transparent)]
    Unread(Unread),
}

fn log_expired(expired: Expired) {
    match expired {
        Expired::Head => tracing::debug!("closing a connection whose request head is late"),
        Expired::Idle => tracing::debug!("closing an idle connection"),
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
