//! Soak: a real `sharesim serve` process under mixed valid and hostile traffic for a
//! bounded time — invite → accept cycles beside anonymous floods, forged tokens,
//! stranger invitations, oversized bodies and slowloris connections — then its peak
//! resident memory, how its memory grew from the end of warm-up (minute 1 of a long
//! soak) to the end, and whether any agreement's two copies disagree. The valid client
//! cleans up after each cycle (deactivate, delete on both sides), so what the accounts
//! retain stays flat and any growth left is a leak.

use super::served::{Served, TOKEN};
use super::{BenchError, BenchOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What one soak run measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SoakResult {
    /// Seconds under load.
    pub seconds: f64,
    /// Invite → accept → deactivate → delete cycles completed by the valid client.
    pub cycles: u64,
    /// Hostile requests sent (each answered with a refusal or cut off).
    pub hostile_requests: u64,
    /// Slowloris connections opened.
    pub slow_connections: u64,
    /// Hostile requests that were answered 2xx where a refusal was due, or 5xx.
    pub unexpected_answers: u64,
    /// Peak resident memory of the serve process (`VmHWM`), MiB.
    pub peak_memory_mib: f64,
    /// When the growth window starts: 60 s into a soak of 2 minutes or more, a third
    /// of the way into a shorter one.
    pub growth_from_secs: f64,
    /// Resident memory (`VmRSS`) at the start of the growth window, MiB.
    pub resident_from_mib: f64,
    /// Resident memory at the end, MiB.
    pub resident_end_mib: f64,
    /// Growth from the window's start to the end, percent.
    pub growth_percent: f64,
    /// Agreement copies left on acme and globex at the end (the valid client deletes
    /// its own; strangers' pending invitations stay, up to their limit).
    pub retained_agreements: u64,
    /// Outbound copies on acme and inbound copies on globex that disagree in number or
    /// status after the run (copies still live must both be accepted).
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
    let pid = served.pid;
    let sampler = tokio::spawn(async move {
        // The resident size at the start of the growth window.
        tokio::time::sleep_until((started + growth_from).into()).await;
        super::served::resident_kib_of(pid)
    });
    let cycles = valid_cycles(&http, &acme_api, &globex_api, until).await;
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let resident_from = sampler.await.unwrap_or(0) as f64 / 1024.0;
    let resident_end = served.resident_kib() as f64 / 1024.0;
    let (diverged, retained_agreements) = divergences(&http, &acme_api, &globex_api).await;
    Ok(SoakResult {
        seconds,
        cycles,
        hostile_requests: hostile.load(Ordering::Relaxed),
        slow_connections: slow.load(Ordering::Relaxed),
        unexpected_answers: unexpected.load(Ordering::Relaxed),
        peak_memory_mib: served.peak_resident_kib() as f64 / 1024.0,
        growth_from_secs: growth_from.as_secs_f64(),
        resident_from_mib: resident_from,
        resident_end_mib: resident_end,
        growth_percent: 100.0 * (resident_end - resident_from) / resident_from.max(1e-9),
        retained_agreements,
        diverged,
    })
}

/// One sender inviting and one receiver accepting, in turn, then the sender
/// deactivating and both deleting their copies. globex's ids follow the invitations
/// (strangers only write to acme), so the k-th invitation is globex's id k.
async fn valid_cycles(http: &reqwest::Client, acme: &str, globex: &str, until: Instant) -> u64 {
    let call = |method: reqwest::Method, url: String, email: &str, body: Option<Value>| {
        let mut request = http
            .request(method, url)
            .basic_auth(format!("{email}/token"), Some(TOKEN));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let answer = request.send().await.ok()?;
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            Some((status, body))
        }
    };
    let (mut cycles, mut invited) = (0u64, 0u64);
    while Instant::now() < until {
        use reqwest::Method;
        let created = call(
            Method::POST,
            format!("{acme}/sharing_agreements.json"),
            "admin@acme.test",
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex"}})),
        )
        .await;
        let Some((201, created)) = created else {
            continue;
        };
        invited += 1;
        let Some(id) = created["sharing_agreement"]["id"].as_u64() else {
            break;
        };
        let status = |status: &str| Some(json!({"sharing_agreement": {"status": status}}));
        let ours = format!("{acme}/sharing_agreements/{id}.json");
        let theirs = format!("{globex}/sharing_agreements/{invited}.json");
        let steps = [
            (
                Method::PUT,
                theirs.clone(),
                "admin@globex.test",
                status("accepted"),
                200,
            ),
            (
                Method::PUT,
                ours.clone(),
                "admin@acme.test",
                status("inactive"),
                200,
            ),
            (Method::DELETE, ours, "admin@acme.test", None, 204),
            (Method::DELETE, theirs, "admin@globex.test", None, 204),
        ];
        for (method, url, email, body, expected) in steps {
            match call(method, url, email, body).await {
                Some((status, _)) if status == expected => {}
                _ => return cycles,
            }
        }
        cycles += 1;
    }
    cycles
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

/// Counts disagreements between acme's outbound copies and globex's inbound copies
/// from acme (their numbers, then each status: every copy left must be accepted), and
/// the copies both accounts retain.
async fn divergences(http: &reqwest::Client, acme: &str, globex: &str) -> (u64, u64) {
    let list = |api: String, email: &'static str| {
        let http = http.clone();
        async move {
            let answer = http
                .get(format!("{api}/sharing_agreements.json"))
                .basic_auth(format!("{email}/token"), Some(TOKEN))
                .send()
                .await
                .ok()?;
            let body: Value = answer.json().await.ok()?;
            body["sharing_agreements"].as_array().cloned()
        }
    };
    let (Some(sent), Some(received)) = (
        list(acme.to_string(), "admin@acme.test").await,
        list(globex.to_string(), "admin@globex.test").await,
    ) else {
        return (u64::MAX, 0);
    };
    let retained = (sent.len() + received.len()) as u64;
    let statuses = |copies: &[Value], direction: &str, remote: &str| -> Vec<String> {
        copies
            .iter()
            .filter(|c| c["type"] == direction && c["remote_subdomain"] == remote)
            .map(|c| c["status"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let sent = statuses(&sent, "outbound", "globex");
    let received = statuses(&received, "inbound", "acme");
    let count_gap = sent.len().abs_diff(received.len()) as u64;
    let not_accepted = sent
        .iter()
        .chain(&received)
        .filter(|status| *status != "accepted")
        .count() as u64;
    (count_gap + not_accepted, retained)
}
