//! Handshakes on the simulated network: the same invite → accept cycles as
//! [`super::handshake`], driven through the accounts' REST APIs by the world's own
//! client, in memory, on the world's paused current-thread runtime. Beside the loopback
//! figure it shows what the sockets cost.

use super::handshake::{HandshakeResult, RECEIVER, SENDER, both_accepted};
use super::{BenchError, BenchOptions, load, percentile_ms};
use crate::core::account::Account;
use crate::core::network::NetworkKind;
use crate::world::{AccountSpec, World, WorldConfig};
use axum::http::{Method, Request, header};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `senders` concurrent drivers for the options' duration (wall time).
pub(crate) async fn measure(
    options: &BenchOptions,
    https: bool,
    senders: usize,
) -> Result<HandshakeResult, BenchError> {
    let duration = options.duration;
    let cpu_before = super::process_cpu_seconds();
    let measured = tokio::task::spawn_blocking(move || {
        crate::core::network::run_simulated(drive(duration, https, senders.max(1)))
    })
    .await
    .map_err(|e| BenchError::Setup(format!("the simulated run failed: {e}")))??;
    let (cycles, errors, latency, seconds, consistent) = measured?;
    let cpu_seconds = super::process_cpu_seconds() - cpu_before;
    Ok(HandshakeResult {
        network: NetworkKind::Simulated,
        scheme: if https { "https" } else { "http" },
        senders,
        cycles,
        errors,
        seconds,
        per_second: cycles as f64 / seconds.max(1e-9),
        cpu_seconds,
        per_cpu_second: cycles as f64 / cpu_seconds.max(1e-9),
        p50_ms: percentile_ms(&latency, 50.0),
        p99_ms: percentile_ms(&latency, 99.0),
        consistent,
        partner_messages: 2 * (cycles + errors),
        // In memory there is no socket table to read.
        partner_connections: 0,
        worlds: 1,
    })
}

type Measured = (u64, u64, hdrhistogram::Histogram<u64>, f64, bool);

async fn drive(duration: Duration, https: bool, senders: usize) -> Result<Measured, BenchError> {
    let world = Arc::new(
        World::start(
            WorldConfig {
                https,
                timeout: Duration::from_secs(10),
                network: NetworkKind::Simulated,
                ..WorldConfig::default()
            },
            vec![AccountSpec::new(SENDER), AccountSpec::new(RECEIVER)],
        )
        .await?,
    );
    world.trace().set_capacity(Some(super::TRACE_CAPACITY));
    // As `serve` keeps it: summaries, no wires.
    world.trace().keep_wires(false);
    let started = Instant::now();
    // Wall time: the world's own clock does not move while it works.
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = load::new_histogram();
            let (mut cycles, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let began = Instant::now();
                match cycle(&world).await {
                    Ok(()) => {
                        cycles += 1;
                        load::record(&mut latency, began.elapsed());
                    }
                    Err(_) => errors += 1,
                }
            }
            (cycles, errors, latency)
        }));
    }
    let mut latency = load::new_histogram();
    let (mut cycles, mut errors) = (0u64, 0u64);
    for task in tasks {
        let (c, e, l) = task
            .await
            .map_err(|e| BenchError::Setup(format!("a driver task failed: {e}")))?;
        cycles += c;
        errors += e;
        let _ = latency.add(&l);
    }
    let seconds = started.elapsed().as_secs_f64();
    let (sender, receiver) = (account(&world, SENDER)?, account(&world, RECEIVER)?);
    let consistent = both_accepted(&sender, &receiver, cycles);
    world.shutdown().await;
    Ok((cycles, errors, latency, seconds, consistent))
}

fn account(world: &World, subdomain: &str) -> Result<Arc<Account>, BenchError> {
    world
        .account(subdomain)
        .ok_or_else(|| BenchError::Setup(format!("{subdomain} is missing")))
}

/// One invite → accept cycle through both REST APIs.
async fn cycle(world: &World) -> Result<(), BenchError> {
    let (sender, receiver) = (account(world, SENDER)?, account(world, RECEIVER)?);
    let created = call(
        world,
        &sender,
        Method::POST,
        "/api/v2/sharing_agreements.json".to_string(),
        r#"{"sharing_agreement":{"remote_subdomain":"globex"}}"#,
        201,
    )
    .await?;
    let uuid = sender
        .agreement_by_id(created)
        .map(|a| a.uuid)
        .ok_or_else(|| BenchError::Unexpected(format!("{SENDER} lost agreement {created}")))?;
    let inbound = receiver
        .agreement_by_uuid(&uuid)
        .ok_or_else(|| BenchError::Unexpected(format!("{RECEIVER} holds no copy of {uuid}")))?;
    call(
        world,
        &receiver,
        Method::PUT,
        format!("/api/v2/sharing_agreements/{}.json", inbound.id),
        r#"{"sharing_agreement":{"status":"accepted"}}"#,
        200,
    )
    .await?;
    Ok(())
}

/// An admin's REST call; the agreement id of a good answer.
async fn call(
    world: &World,
    account: &Account,
    method: Method,
    path: String,
    body: &'static str,
    expected: u16,
) -> Result<u64, BenchError> {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}/token:{}",
        account.admin_email(),
        account.api_token()
    ));
    let origin = account.api_url();
    let request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", origin.trim_end_matches("/api/v2")))
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let answer = world
        .rest_client()
        .send(request)
        .await
        .map_err(|e| BenchError::Unexpected(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if answer.status != expected {
        return Err(BenchError::Unexpected(format!(
            "expected {expected}, got {}: {value}",
            answer.status
        )));
    }
    value["sharing_agreement"]["id"]
        .as_u64()
        .ok_or_else(|| BenchError::Unexpected("the answer carries no id".to_string()))
}
