//! The in-process HTTP/1.1 client of the handshake parts: hyper's client over
//! keep-alive connections (plain TCP or TLS), with the latency histogram every part
//! shares. The API part loads from outside instead (see [`super::generator`]).

use super::BenchError;
use crate::core::network::body::{ReadError, read_to_bytes};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// A keep-alive HTTP/1.1 connection: send a request, await its answer, repeat.
pub(crate) type Connection = SendRequest<Full<Bytes>>;

/// Where the load goes: a loopback address, optionally behind TLS.
#[derive(Clone)]
pub(crate) struct Target {
    /// The listener's address (always loopback).
    pub addr: SocketAddr,
    /// The `Host` header sent with every request.
    pub host: String,
    /// TLS settings and the name to verify, for HTTPS targets.
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl Target {
    /// A plain-HTTP target.
    pub(crate) fn http(addr: SocketAddr) -> Target {
        Target {
            addr,
            host: addr.to_string(),
            tls: None,
        }
    }

    /// Opens one connection (TCP, then TLS when configured) and spawns its driver task,
    /// which ends when the returned handle is dropped.
    pub(crate) async fn connect(&self) -> Result<Connection, BenchError> {
        Ok(self.connect_from().await?.0)
    }

    /// Like [`Target::connect`], also returning the connection's local port.
    pub(crate) async fn connect_from(&self) -> Result<(Connection, u16), BenchError> {
        if !self.addr.ip().is_loopback() {
            return Err(BenchError::Setup(format!(
                "{} is not a loopback address: the benchmark only loads loopback",
                self.addr
            )));
        }
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let port = tcp.local_addr()?.port();
        let connection = match &self.tls {
            None => handshake(tcp).await?,
            Some((config, name)) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await?;
                handshake(tls).await?
            }
        };
        Ok((connection, port))
    }
}

async fn handshake<S>(stream: S) -> Result<Connection, BenchError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the benchmark drops its sender; errors after that are
        // of no interest.
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request the generator sends over and over.
#[derive(Clone, Debug)]
pub(crate) struct RequestTemplate {
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Extra headers (e.g. `Authorization`).
    pub headers: Vec<(header::HeaderName, header::HeaderValue)>,
    /// Request body (empty for GET).
    pub body: Bytes,
}

impl RequestTemplate {
    /// Builds the request for `host`.
    pub(crate) fn build(&self, host: &str) -> Result<Request<Full<Bytes>>, BenchError> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(header::HOST, host);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(self.body.clone()))
            .map_err(|e| BenchError::Setup(format!("could not build a request: {e}")))
    }
}

/// Sends `request` on `connection` and reads the whole answer.
pub(crate) async fn exchange(
    connection: &mut Connection,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), BenchError> {
    connection.ready().await?;
    let response = connection.send_request(request).await?;
    let status = response.status();
    let body = read_to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge => BenchError::Unexpected("an endless answer".to_string()),
            ReadError::Body(error) => error.into(),
        })?;
    Ok((status, body))
}

/// A histogram of microseconds from 1 µs to 60 s with 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("the bounds are valid")
}

/// Records a latency, clamped into the histogram's range.
pub(crate) fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = (elapsed.as_micros() as u64).clamp(1, 60_000_000);
    let _ = histogram.record(micros);
}
