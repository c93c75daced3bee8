//! Soak: a real `sharesim serve` process under mixed valid and hostile traffic for a
//! bounded time — invite → accept cycles beside anonymous floods, forged tokens,
//! stranger invitations, oversized bodies and slowloris connections — then its peak
//! resident memory and whether any agreement's two copies disagree.

use super::{BenchError, BenchOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// What one soak run measured.
#[derive(Clone, Debug, Serialize)]
pub struct SoakResult {
    /// Seconds under load.
    pub seconds: f64,
    /// Invite → accept cycles completed by the valid client.
    pub cycles: u64,
    /// Hostile requests sent (each answered with a refusal or cut off).
    pub hostile_requests: u64,
    /// Slowloris connections opened.
    pub slow_connections: u64,
    /// Hostile requests that were answered 2xx where a refusal was due, or 5xx.
    pub unexpected_answers: u64,
    /// Peak resident memory of the serve process (`VmHWM`), MiB.
    pub peak_memory_mib: f64,
    /// Outbound copies on acme and inbound copies on globex that disagree in number or
    /// status after the run.
    pub diverged: u64,
}

const TOKEN: &str = "sharesim-token";

/// Runs the soak for `options.soak_duration`.
pub async fn measure(options: &BenchOptions) -> Result<SoakResult, BenchError> {
    let dir = std::env::temp_dir().join(format!("sharesim-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ready = dir.join("ready.json");
    let _ = std::fs::remove_file(&ready);
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "acme", "globex", "--header-timeout-ms", "2000"])
        .arg("--ready-file")
        .arg(&ready)
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        if Instant::now() > deadline {
            return Err(BenchError::Setup(
                "serve did not write its ready file".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&ready)?;
    let ready: Value = serde_json::from_str(&text).map_err(|e| BenchError::Setup(e.to_string()))?;
    let url = |index: usize, key: &str| ready["accounts"][index][key].as_str().map(str::to_string);
    let (Some(acme_api), Some(acme_sharing), Some(globex_api)) =
        (url(0, "api_url"), url(0, "sharing_url"), url(1, "api_url"))
    else {
        return Err(BenchError::Setup("the ready file lacks URLs".into()));
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let started = Instant::now();
    let until = started + options.soak_duration;
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
    let cycles = valid_cycles(&http, &acme_api, &globex_api, until).await;
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let diverged = divergences(&http, &acme_api, &globex_api).await;
    let peak_memory_mib = peak_resident_kib(pid) as f64 / 1024.0;
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SoakResult {
        seconds,
        cycles,
        hostile_requests: hostile.load(Ordering::Relaxed),
        slow_connections: slow.load(Ordering::Relaxed),
        unexpected_answers: unexpected.load(Ordering::Relaxed),
        peak_memory_mib,
        diverged,
    })
}

/// One sender inviting and one receiver accepting, in turn: globex's ids follow the
/// invitations (strangers only write to acme), so the k-th invitation is globex's id k.
async fn valid_cycles(http: &reqwest::Client, acme: &str, globex: &str, until: Instant) -> u64 {
    let mut cycles = 0;
    while Instant::now() < until {
        let invited = http
            .post(format!("{acme}/sharing_agreements.json"))
            .basic_auth("admin@acme.test/token", Some(TOKEN))
            .json(&json!({"sharing_agreement": {"remote_subdomain": "globex"}}))
            .send()
            .await;
        if !matches!(&invited, Ok(answer) if answer.status() == 201) {
            continue;
        }
        let accepted = http
            .put(format!("{globex}/sharing_agreements/{}.json", cycles + 1))
            .basic_auth("admin@globex.test/token", Some(TOKEN))
            .json(&json!({"sharing_agreement": {"status": "accepted"}}))
            .send()
            .await;
        if matches!(&accepted, Ok(answer) if answer.status() == 200) {
            cycles += 1;
        } else {
            break;
        }
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
/// from acme: their numbers, then each status (every valid cycle ends accepted).
async fn divergences(http: &reqwest::Client, acme: &str, globex: &str) -> u64 {
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
        return u64::MAX;
    };
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
    count_gap + not_accepted
}

/// `VmHWM` (peak resident set) of process `pid`, in KiB.
fn peak_resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}
