//! Soak: a real `sharesim serve` process under mixed valid and hostile traffic for a
//! bounded time — invite → accept cycles beside anonymous floods, forged tokens,
//! stranger invitations, oversized bodies and slowloris connections — then its peak
//! resident memory, how its memory grew from the end of warm-up (minute 1 of a long
//! soak) to the end, and whether any agreement's two copies disagree. The valid client
//! cleans up after each cycle (deactivate, delete on both sides), so what the accounts
//! retain stays flat and any growth left is a leak.

use super::served::Served;
use super::{BenchError, BenchOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

mod valid;

/// What one soak run measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SoakResult {
    /// Seconds under load.
    pub seconds: f64,
    /// Invite → accept → deactivate → delete cycles completed by the valid client.
    pub cycles: u64,
    /// The valid client's calls that failed (no answer in 10 s, or not the status due)
    /// and were tried again.
    pub failed_calls: u64,
    /// The valid client's cycles given up on after a step failed every attempt (their
    /// copies deleted).
    pub abandoned_cycles: u64,
    /// Hostile requests sent (each answered with a refusal or cut off).
    pub hostile_requests: u64,
    /// Slowloris connections opened.
    pub slow_connections: u64,
    /// Hostile requests that were answered 2xx where a refusal was due, or 5xx.
    pub unexpected_answers: u64,
    /// Peak resident memory of the serve process (`VmHWM`), MiB.
    pub peak_memory_mib: f64,
    /// When the growth window starts: once the journal is at its bound (it drops its
    /// oldest events), and no earlier than 60 s into a soak of 2 minutes or more, a
    /// third of the way into a shorter one.
    pub growth_from_secs: f64,
    /// When serve's journal first dropped an event (reached its bound of events or
    /// bytes); None when it never did, and then part of any growth is the journal.
    pub journal_full_secs: Option<f64>,
    /// Resident memory (`VmRSS`) at the start of the growth window, MiB.
    pub resident_from_mib: f64,
    /// Resident memory at the end, MiB.
    pub resident_end_mib: f64,
    /// Growth from the window's start to the end, percent.
    pub growth_percent: f64,
    /// Agreement copies left on acme and globex at the end (the valid client deletes
    /// its own; strangers' pending invitations stay, up to their limit).
    pub retained_agreements: u64,
    /// Live copies between acme and globex left apart at the end, after a settle of up
    /// to 5 s: pending or accepted on one side without a copy in the same status on
    /// the other.
    pub diverged: u64,
}

/// Runs the soak for `options.soak_duration`.
pub(crate) async fn measure(options: &BenchOptions) -> Result<SoakResult, BenchError> {
    let served = Served::start(
        &["acme".to_string(), "globex".to_string()],
        &["--header-timeout-ms", "2000"],
    )
    .await?;
    let result = soak(options, &served).await;
    served.stop().await;
    result
}

async fn soak(options: &BenchOptions, served: &Served) -> Result<SoakResult, BenchError> {
    let (acme, globex) = (served.account("acme")?, served.account("globex")?);
    let (acme_api, acme_sharing, globex_api) = (
        acme.api_url.clone(),
        acme.sharing_url.clone(),
        globex.api_url.clone(),
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let started = Instant::now();
    let until = started + options.soak_duration;
    let growth_from = if options.soak_duration >= Duration::from_secs(120) {
        Duration::from_secs(60)
    } else {
        options.soak_duration / 3
    };
    let hostile = Arc::new(AtomicU64::new(0));
    let unexpected = Arc::new(AtomicU64::new(0));
    let slow = Arc::new(AtomicU64::new(0));
    let tasks = vec![
        tokio::spawn(hostile_calls(
            http.clone(),
            acme_api.clone(),
            acme_sharing.clone(),
            until,
            hostile.clone(),
            unexpected.clone(),
        )),
        tokio::spawn(slowloris(acme_api.clone(), until, slow.clone())),
    ];
    let sampler = tokio::spawn(window_start(
        http.clone(),
        served.pid,
        served.control.clone(),
        started + growth_from,
        until,
    ));
    let tally = valid::run(&http, &acme_api, &globex_api, until).await;
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let window = sampler.await.unwrap_or_default();
    let resident_from = window.resident_kib as f64 / 1024.0;
    let resident_end = served.resident_kib() as f64 / 1024.0;
    let (diverged, retained_agreements) = settle(&http, &acme_api, &globex_api).await;
    let since = |at: Instant| at.saturating_duration_since(started).as_secs_f64();
    Ok(SoakResult {
        seconds,
        cycles: tally.cycles,
        failed_calls: tally.failed_calls,
        abandoned_cycles: tally.abandoned,
        hostile_requests: hostile.load(Ordering::Relaxed),
        slow_connections: slow.load(Ordering::Relaxed),
        unexpected_answers: unexpected.load(Ordering::Relaxed),
        peak_memory_mib: served.peak_resident_kib() as f64 / 1024.0,
        growth_from_secs: window.at.map_or(growth_from.as_secs_f64(), since),
        journal_full_secs: window.journal_full.map(since),
        resident_from_mib: resident_from,
        resident_end_mib: resident_end,
        growth_percent: 100.0 * (resident_end - resident_from) / resident_from.max(1e-9),
        retained_agreements,
        diverged,
    })
}

/// Where the growth window starts, and what serve's memory was there.
#[derive(Debug, Default)]
struct WindowStart {
    at: Option<Instant>,
    resident_kib: u64,
    journal_full: Option<Instant>,
}

/// Samples serve once a second from `earliest`: the window starts at the first sample
/// at which its journal has dropped an event (it then holds all it ever will), or at
/// `earliest` when the journal never fills before `until`.
async fn window_start(
    http: reqwest::Client,
    pid: u32,
    control: Option<(String, String)>,
    earliest: Instant,
    until: Instant,
) -> WindowStart {
    tokio::time::sleep_until(earliest.into()).await;
    let fallback = WindowStart {
        at: Some(Instant::now()),
        resident_kib: super::served::resident_kib_of(pid),
        journal_full: None,
    };
    let Some((url, token)) = control else {
        return fallback;
    };
    while Instant::now() < until {
        let view = http
            .get(format!("{url}/ui/view"))
            .bearer_auth(&token)
            .send()
            .await;
        let first_seq = match view {
            Ok(answer) => answer
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["first_seq"].as_u64()),
            Err(_) => None,
        };
        if first_seq.is_some_and(|first| first > 1) {
            let now = Instant::now();
            return WindowStart {
                at: Some(now),
                resident_kib: super::served::resident_kib_of(pid),
                journal_full: Some(now),
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    fallback
}

/// The copies left apart once the traffic stopped: read until none are (a partner
/// message may still be on its way), for up to 5 s.
async fn settle(http: &reqwest::Client, acme: &str, globex: &str) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = valid::apart(http, acme, globex).await;
        match found {
            Some((0, retained)) => return (0, retained),
            _ if Instant::now() >= deadline => return found.unwrap_or((u64::MAX, 0)),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Anonymous 1 MB bodies, stranger invitations (valid, then over the pending limit, and
/// with overlong names), forged tokens and oversized bodies, round-robin.
async fn hostile_calls(
    http: reqwest::Client,
    acme_api: String,
    acme_sharing: String,
    until: Instant,
    sent: Arc<AtomicU64>,
    unexpected: Arc<AtomicU64>,
) {
    let megabyte = format!(
        "{{\"sharing_agreement\":{{\"name\":\"{}\"}}}}",
        "x".repeat(1 << 20)
    );
    let oversized = "y".repeat(3 << 20);
    let mut round: u64 = 0;
    while Instant::now() < until {
        round += 1;
        let uuid = format!("{round:040x}");
        let name = if round.is_multiple_of(3) {
            "n".repeat(300)
        } else {
            "Stranger".to_string()
        };
        let (request, refusal_due) = match round % 4 {
            0 => (
                http.post(format!("{acme_api}/sharing_agreements.json"))
                    .body(megabyte.clone()),
                true,
            ),
            1 => (
                http.post(format!("{acme_sharing}/agreements/{uuid}"))
                    .json(&json!({
                        "uuid": uuid,
                        "name": name,
                        "sender_url": "http://stranger.example/sharing",
                        "access_key": "a".repeat(40),
                    })),
                // The first 100 valid stranger invitations are stored, by design.
                round.is_multiple_of(3),
            ),
            2 => (
                http.put(format!("{acme_sharing}/agreements/{uuid}"))
                    .header(
                        "X-Ticket-Sharing-Token",
                        format!("{uuid}:{}", "b".repeat(40)),
                    )
                    .json(&json!({"status": "inactive"})),
                true,
            ),
            _ => (
                http.post(format!("{acme_sharing}/agreements/{uuid}"))
                    .body(oversized.clone()),
                true,
            ),
        };
        sent.fetch_add(1, Ordering::Relaxed);
        // An oversized body may be cut off mid-send (an error here): a refusal too.
        if let Ok(answer) = request.send().await {
            let status = answer.status().as_u16();
            if status >= 500 || (refusal_due && status < 400) {
                unexpected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Keeps 50 slowloris connections open, replacing each one serve cuts off.
async fn slowloris(acme_api: String, until: Instant, opened: Arc<AtomicU64>) {
    let addr = acme_api
        .trim_start_matches("http://")
        .trim_end_matches("/api/v2")
        .to_string();
    let mut handles = Vec::new();
    for _ in 0..50 {
        let addr = addr.clone();
        let opened = opened.clone();
        handles.push(tokio::spawn(async move {
            while Instant::now() < until {
                let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else {
                    break;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let _ = stream
                    .write_all(b"GET /api/v2/sharing_agreements.json HTTP/1.1\r\n")
                    .await;
                while Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        break;
                    }
                }
            }
        }));
    }
    for handle in handles {
        let _ = handle.await;
    }
}
