//! API throughput: `GET /api/v2/sharing_agreements.json` on an account holding ten
//! agreements, against a bare hyper server that answers the same bytes and headers. Both
//! are loaded by the same generator in alternating rounds, so noise from other processes
//! on the machine falls on both.

use super::load::{self, RequestTemplate, Target};
use super::{BenchError, BenchOptions, percentile_ms};
use crate::world::{AccountSpec, World, WorldConfig};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How many agreements the listed account holds.
pub const AGREEMENTS: usize = 10;
/// Alternating rounds (baseline, sharesim) the duration is split into.
const ROUNDS: u32 = 2;

/// One server's measured rate.
#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    /// Successful requests.
    pub requests: u64,
    /// Failed requests (wrong status or broken connection).
    pub errors: u64,
    /// Seconds under load.
    pub seconds: f64,
    /// Requests per second.
    pub per_second: f64,
    /// CPU seconds the whole process used meanwhile (server and load generator).
    pub cpu_seconds: f64,
    /// Requests per CPU second.
    pub per_cpu_second: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// The API throughput measurement.
#[derive(Clone, Debug, Serialize)]
pub struct ApiResult {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Bytes of the list answer's body.
    pub body_bytes: usize,
    /// sharesim's REST API.
    pub sharesim: Rate,
    /// The bare hyper server with the same answer.
    pub baseline: Rate,
    /// sharesim's rate over the baseline's.
    pub ratio: f64,
}

/// Runs the API throughput measurement.
pub async fn measure(options: &BenchOptions) -> Result<ApiResult, BenchError> {
    let world = World::start(
        WorldConfig::default(),
        vec![AccountSpec::new("acme"), AccountSpec::new("globex")],
    )
    .await?;
    // Under sustained load the trace would grow without end; keep the newest events only,
    // as `serve` does.
    world.trace().set_capacity(Some(super::TRACE_CAPACITY));
    let acme = world
        .account("acme")
        .ok_or_else(|| BenchError::Setup("acme is missing".to_string()))?;
    let addr = acme
        .addr()
        .ok_or_else(|| BenchError::Setup("acme is not listening".to_string()))?;
    let target = Target::http(addr);
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}/token:{}",
        acme.admin_email(),
        acme.api_token()
    ));
    let authorization = HeaderValue::from_str(&format!("Basic {credentials}"))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut connection = target.connect().await?;
    for _ in 0..AGREEMENTS {
        let create = RequestTemplate {
            method: Method::POST,
            path: "/api/v2/sharing_agreements.json".to_string(),
            headers: vec![
                (header::AUTHORIZATION, authorization.clone()),
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
            ],
            body: Bytes::from_static(br#"{"sharing_agreement":{"remote_subdomain":"globex"}}"#),
        };
        let (status, body) = load::exchange(&mut connection, create.build(&target.host)?).await?;
        if status != StatusCode::CREATED {
            return Err(BenchError::Unexpected(format!(
                "creating an agreement answered {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
    }
    let list = RequestTemplate {
        method: Method::GET,
        path: "/api/v2/sharing_agreements.json".to_string(),
        headers: vec![(header::AUTHORIZATION, authorization)],
        body: Bytes::new(),
    };
    // The baseline answers exactly what sharesim answers: same body, same headers.
    connection.ready().await?;
    let sample = connection.send_request(list.build(&target.host)?).await?;
    let (parts, body) = sample.into_parts();
    let body = http_body_util::BodyExt::collect(body).await?.to_bytes();
    let listed = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["sharing_agreements"].as_array().map(Vec::len));
    if parts.status != StatusCode::OK || listed != Some(AGREEMENTS) {
        return Err(BenchError::Unexpected(format!(
            "listing answered {} with {listed:?} agreements",
            parts.status
        )));
    }
    drop(connection);
    let mut headers = parts.headers;
    // hyper sets these itself on every answer.
    headers.remove(header::DATE);
    headers.remove(header::CONTENT_LENGTH);
    let baseline = Baseline::start(body.clone(), headers).await?;

    let round = options.duration / ROUNDS;
    let mut sharesim_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    for _ in 0..ROUNDS {
        let cpu = super::process_cpu_seconds();
        baseline_runs.push((
            load::run(
                &Target::http(baseline.addr),
                &list,
                StatusCode::OK,
                options.connections,
                round,
            )
            .await?,
            super::process_cpu_seconds() - cpu,
        ));
        let cpu = super::process_cpu_seconds();
        let run = load::run(&target, &list, StatusCode::OK, options.connections, round).await?;
        sharesim_runs.push((run, super::process_cpu_seconds() - cpu));
    }
    baseline.stop().await;
    world.shutdown().await;
    let sharesim = combine(sharesim_runs);
    let baseline = combine(baseline_runs);
    Ok(ApiResult {
        connections: options.connections,
        body_bytes: body.len(),
        ratio: sharesim.per_second / baseline.per_second.max(1e-9),
        sharesim,
        baseline,
    })
}

fn combine(runs: Vec<(load::LoadResult, f64)>) -> Rate {
    let mut latency = load::new_histogram();
    let (mut requests, mut errors, mut seconds, mut cpu_seconds) = (0, 0, 0.0, 0.0);
    for (run, cpu) in runs {
        cpu_seconds += cpu;
        requests += run.ok;
        errors += run.errors;
        seconds += run.elapsed.as_secs_f64();
        let _ = latency.add(&run.latency);
    }
    Rate {
        requests,
        errors,
        seconds,
        per_second: requests as f64 / f64::max(seconds, 1e-9),
        cpu_seconds,
        per_cpu_second: requests as f64 / f64::max(cpu_seconds, 1e-9),
        p50_ms: percentile_ms(&latency, 50.0),
        p99_ms: percentile_ms(&latency, 99.0),
    }
}

/// The bare hyper server: HTTP/1.1 keep-alive, one task per connection, every request
/// answered with the same precomputed body and headers.
struct Baseline {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Baseline {
    async fn start(body: Bytes, headers: HeaderMap) -> Result<Baseline, BenchError> {
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
                let (body, headers, stop) = (body.clone(), headers.clone(), stop.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        let mut response = Response::new(Full::new(body.clone()));
                        *response.headers_mut() = headers.clone();
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

    async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.wait()).await;
    }
}
