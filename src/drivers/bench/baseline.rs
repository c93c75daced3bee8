//! The bare hyper baseline: HTTP/1.1 keep-alive, one task per connection, every request
//! answered with precomputed bytes (status, headers and body copied from sharesim's own
//! answer), so the gap between the two is what sharesim does per request. The API part
//! runs it as a child process (`sharesim bench baseline`, hidden) so it is loaded from
//! outside exactly as `serve` is; the handshake part runs it in-process beside its world.

use super::BenchError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One canned answer, given for every request with its method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Answer {
    /// The method it answers (`GET`, `POST`…).
    pub method: String,
    /// Its status.
    pub status: u16,
    /// Its headers, less `Date` and `Content-Length`, which hyper writes itself.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
}

/// A prepared answer.
#[derive(Clone)]
struct Prepared {
    method: hyper::Method,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

fn prepare(answers: &[Answer]) -> Result<Vec<Prepared>, BenchError> {
    let bad = |what: String| BenchError::Setup(format!("a baseline answer is malformed: {what}"));
    answers
        .iter()
        .map(|answer| {
            let mut headers = HeaderMap::new();
            for (name, value) in &answer.headers {
                let name = HeaderName::try_from(name.as_str()).map_err(|e| bad(e.to_string()))?;
                if name == hyper::header::DATE || name == hyper::header::CONTENT_LENGTH {
                    continue;
                }
                let value =
                    HeaderValue::try_from(value.as_str()).map_err(|e| bad(e.to_string()))?;
                headers.append(name, value);
            }
            Ok(Prepared {
                method: answer
                    .method
                    .parse()
                    .map_err(|_| bad(format!("method {:?}", answer.method)))?,
                status: StatusCode::from_u16(answer.status)
                    .map_err(|_| bad(format!("status {}", answer.status)))?,
                headers,
                body: Bytes::from(answer.body.clone()),
            })
        })
        .collect()
}

/// A running baseline server.
pub(crate) struct Baseline {
    /// Where it listens (loopback).
    pub addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Baseline {
    /// Starts serving `answers` on a loopback port of this process.
    pub(crate) async fn start(answers: &[Answer]) -> Result<Baseline, BenchError> {
        let answers: Arc<[Prepared]> = prepare(answers)?.into();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let connections = tracker.clone();
        let stop = cancel.clone();
        tracker.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (answers, stop) = (answers.clone(), stop.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                        let response = answer(&answers, request.method());
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = stop.cancelled() => {}
                    }
                });
            }
        });
        Ok(Baseline {
            addr,
            cancel,
            tracker,
        })
    }

    /// Stops it and waits (briefly) for its connections to end.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.wait()).await;
    }
}

fn answer(answers: &[Prepared], method: &hyper::Method) -> Response<Full<Bytes>> {
    match answers.iter().find(|a| a.method == *method) {
        Some(prepared) => {
            let mut response = Response::new(Full::new(prepared.body.clone()));
            *response.status_mut() = prepared.status;
            *response.headers_mut() = prepared.headers.clone();
            response
        }
        None => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
        }
    }
}

/// `sharesim bench baseline`: reads the answers (one JSON line) from stdin, serves them,
/// prints `{"addr": …}` on stdout, and stops when stdin closes.
pub(crate) async fn serve_process() -> Result<(), BenchError> {
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = String::new();
    stdin.read_line(&mut line).await?;
    let answers: Vec<Answer> = serde_json::from_str(&line)
        .map_err(|e| BenchError::Setup(format!("the baseline's answers are not JSON: {e}")))?;
    let baseline = Baseline::start(&answers).await?;
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("{}\n", serde_json::json!({ "addr": baseline.addr })).as_bytes())
        .await?;
    stdout.flush().await?;
    // The parent holds stdin open while it needs the server.
    let mut rest = Vec::new();
    let _ = stdin.read_to_end(&mut rest).await;
    baseline.stop().await;
    Ok(())
}

/// A baseline running as a child process; it ends when this is dropped.
pub(crate) struct BaselineProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    child: tokio::process::Child,
}

impl BaselineProcess {
    /// Starts `sharesim bench baseline` with `answers`.
    pub(crate) async fn start(answers: &[Answer]) -> Result<BaselineProcess, BenchError> {
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .args(["bench", "baseline"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let json = serde_json::to_string(answers).map_err(|e| BenchError::Setup(e.to_string()))?;
        let stdin = child
            .stdin
            .as_mut()
            .ok_or_else(|| BenchError::Setup("the baseline has no stdin".to_string()))?;
        stdin.write_all(format!("{json}\n").as_bytes()).await?;
        stdin.flush().await?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Setup("the baseline has no stdout".to_string()))?;
        let mut line = String::new();
        let mut stdout = tokio::io::BufReader::new(stdout);
        let read = stdout.read_line(&mut line);
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .map_err(|_| BenchError::Setup("the baseline did not start in 20 s".to_string()))??;
        #[derive(Deserialize)]
        struct Ready {
            addr: SocketAddr,
        }
        let ready: Ready = serde_json::from_str(&line).map_err(|e| {
            BenchError::Setup(format!(
                "the baseline did not say where it listens ({e}): {line:?}"
            ))
        })?;
        Ok(BaselineProcess {
            addr: ready.addr,
            child,
        })
    }

    /// Stops the child: its stdin closes, and it is killed if it lingers.
    pub(crate) async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
