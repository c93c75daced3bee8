//! The soak parts of issue 23, each against a real `sharesim serve` or `sharesim run`
//! process: `--state` throughput under a mixed flood (reads, 401s, 400s and writes)
//! against the same flood without it; REST throughput with 200 journal-stream
//! subscribers that must each receive their share of the flood, against none; and the
//! peak resident memory of a 5,000-step `run --html` whose state grows with every step.

use super::{BenchError, BenchOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod process;
pub(crate) mod readers;
mod streams;
use process::{Served, client};
pub(crate) use streams::{SUBSCRIBERS, StreamCounts};
/// Steps of the `run --html` part.
pub(crate) const HTML_STEPS: usize = 5_000;

/// What the parts measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ServeSoakResult {
    /// Alternating pairs of floods in each comparison (see [`ROUNDS`]).
    pub rounds: u32,
    /// Mixed-flood requests per second without `--state` (and without subscribers).
    pub baseline_per_second: f64,
    /// The same flood with `--state`.
    pub state_per_second: f64,
    /// `state_per_second / baseline_per_second`.
    pub state_ratio: f64,
    /// Bytes the state's files held after the flood (snapshot plus journal).
    pub state_bytes: u64,
    /// Tickets the flood created with `--state` (each one written durably).
    pub state_writes: u64,
    /// The same flood (no `--state`) with [`SUBSCRIBERS`] streams open.
    pub streams_per_second: f64,
    /// The same flood on a `serve` without streams, in rounds alternating with the
    /// streams' (the machine's load moves).
    pub unstreamed_per_second: f64,
    /// `streams_per_second / unstreamed_per_second`.
    pub streams_ratio: f64,
    /// What the streams received against what they should have.
    pub streams: StreamCounts,
    /// CPU microseconds `serve` spent per completed request of the flood without
    /// streams: compared with the next field, what the streams cost `serve` itself,
    /// which the rest of the machine's load disturbs much less than the throughput.
    pub plain_cpu_us_per_request: f64,
    /// The same with the streams open.
    pub streams_cpu_us_per_request: f64,
    /// Steps of the `run --html` part.
    pub html_steps: usize,
    /// Peak resident memory of that run (`VmHWM`), MiB.
    pub html_peak_rss_mib: f64,
    /// Size of the report it wrote, MiB.
    pub html_report_mib: f64,
    /// Its wall time, seconds.
    pub html_seconds: f64,
}

/// Floods of each comparison: with and without (`--state`, or the streams) alternate,
/// each side taking half the rounds first, so that the machine's moving load falls on
/// both alike.
pub(crate) const ROUNDS: u32 = 4;

/// Runs the three parts.
pub(crate) async fn measure(options: &BenchOptions) -> Result<ServeSoakResult, BenchError> {
    let dir = std::env::temp_dir().join(format!("sharesim-serve-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let duration = options.duration.max(Duration::from_millis(300));
    let connections = options.connections;
    // Each comparison loads two fresh `serve`s, the same world and the same empty
    // trace, the same number of times.
    let state_dir = dir.join("state");
    let (without_state, state) = {
        std::fs::create_dir_all(&state_dir)?;
        let state = state_dir.join("state.json");
        let state_arg = state.to_string_lossy().into_owned();
        let plain = Served::start(&dir.join("plain"), &[]).await?;
        let served = Served::start(&state_dir, &["--state", &state_arg]).await?;
        alternate(&plain, &served, connections, duration).await?
    };
    let state_bytes = files_size(&state_dir);
    let (without_streams, streamed, streams) = {
        let plain = Served::start(&dir.join("unstreamed"), &[]).await?;
        let served = Served::start(&dir.join("streams"), &[]).await?;
        let subscribers = streams::Subscribers::open(&served, SUBSCRIBERS).await?;
        let (without, with) = alternate(&plain, &served, connections, duration).await?;
        let created = [with.created, with.created_tens];
        let counts = subscribers
            .close(&served, created, Duration::from_secs(10))
            .await;
        (without, with, counts)
    };
    let steps = if options.smoke { 500 } else { HTML_STEPS };
    let html = html_run(&dir.join("html"), steps).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ServeSoakResult {
        rounds: ROUNDS,
        baseline_per_second: without_state.per_second(),
        state_per_second: state.per_second(),
        state_ratio: state.per_second() / without_state.per_second().max(1e-9),
        state_bytes,
        state_writes: state.created,
        streams_per_second: streamed.per_second(),
        unstreamed_per_second: without_streams.per_second(),
        streams_ratio: streamed.per_second() / without_streams.per_second().max(1e-9),
        streams,
        plain_cpu_us_per_request: without_streams.cpu_us_per_request(),
        streams_cpu_us_per_request: streamed.cpu_us_per_request(),
        html_steps: steps,
        html_peak_rss_mib: html.0,
        html_report_mib: html.1,
        html_seconds: html.2,
    })
}

/// Floods `without` and `with` in [`ROUNDS`] alternating pairs (without first, then
/// with first, …), `duration` in all for each; what each side did, summed.
async fn alternate(
    without: &Served,
    with: &Served,
    connections: usize,
    duration: Duration,
) -> Result<(FloodTally, FloodTally), BenchError> {
    let round = duration / ROUNDS;
    let (mut plain, mut other) = (FloodTally::default(), FloodTally::default());
    for index in 0..ROUNDS {
        for with_first in [index % 2 == 1, index % 2 == 0] {
            if with_first {
                other.add(flood(with, connections, round).await?);
            } else {
                plain.add(flood(without, connections, round).await?);
            }
        }
    }
    Ok((plain, other))
}

/// The targets of issue 23.
pub(crate) fn targets(result: &ServeSoakResult, check: &mut impl FnMut(String, String, bool)) {
    check(
        "serve --state under a mixed flood >= 50% of without".to_string(),
        format!(
            "{:.0}% ({:.0}/s vs {:.0}/s, {} durable writes, {} alternating pairs)",
            result.state_ratio * 100.0,
            result.state_per_second,
            result.baseline_per_second,
            result.state_writes,
            result.rounds,
        ),
        result.state_ratio >= 0.5,
    );
    let streams = &result.streams;
    check(
        format!("REST throughput with {SUBSCRIBERS} stream subscribers within 10% of none"),
        format!(
            "{:.0}% ({:.0}/s vs {:.0}/s without, {} alternating pairs; serve {:.0} vs {:.0} CPU µs a request; readers {:.1} CPU s{})",
            result.streams_ratio * 100.0,
            result.streams_per_second,
            result.unstreamed_per_second,
            result.rounds,
            result.streams_cpu_us_per_request,
            result.plain_cpu_us_per_request,
            streams.readers_cpu_seconds,
            streams
                .readers_cpu
                .map_or(", not pinned".to_string(), |c| format!(" on CPU {c}")),
        ),
        result.streams_ratio >= 0.9,
    );
    check(
        format!("every one of {SUBSCRIBERS} streams open and received every event it should"),
        format!(
            "{} of {SUBSCRIBERS} open, {} complete ({} decisions, {} rarer events each; {} received in all){}",
            streams.open,
            streams.complete,
            streams.decisions,
            streams.rare,
            streams.received,
            streams
                .first_problem
                .as_ref()
                .map(|p| format!("; {p}"))
                .unwrap_or_default()
        ),
        streams.open == SUBSCRIBERS && streams.complete == SUBSCRIBERS && streams.decisions > 0,
    );
    check(
        format!("{}-step run --html < 300 MB resident", result.html_steps),
        format!(
            "{:.1} MiB peak, {:.1} MiB report, {:.1} s",
            result.html_peak_rss_mib, result.html_report_mib, result.html_seconds
        ),
        result.html_peak_rss_mib > 0.0 && result.html_peak_rss_mib < 300.0 * 1e6 / 1048576.0,
    );
}

/// `connections` clients send a mixed flood to acme for `duration`: six listings in
/// ten, two anonymous POSTs (401), one malformed POST (400) and one new ticket (201).
/// Counts what completed, and the tickets created.
async fn flood(
    served: &Served,
    connections: usize,
    duration: Duration,
) -> Result<FloodTally, BenchError> {
    let api = served.text("/accounts/0/api_url");
    let user = format!("{}/token", served.text("/accounts/0/admin_email"));
    let token = served.text("/accounts/0/api_token");
    let done = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let tens = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + duration;
    let started = Instant::now();
    let cpu = served.cpu_seconds();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (http, api, user, token) = (client()?, api.clone(), user.clone(), token.clone());
        let (done, writes, tens) = (done.clone(), writes.clone(), tens.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while Instant::now() < until {
                let tickets = format!("{api}/tickets.json");
                let request = match n % 10 {
                    0..=5 => http
                        .get(format!("{api}/sharing_agreements.json"))
                        .basic_auth(&user, Some(&token)),
                    6 | 7 => http.post(&tickets).json(&json!({"ticket": {"subject": "x"}})),
                    8 => http
                        .post(&tickets)
                        .basic_auth(&user, Some(&token))
                        .header("Content-Type", "application/json")
                        .body("{not json"),
                    _ => http
                        .post(&tickets)
                        .basic_auth(&user, Some(&token))
                        .json(&json!({"ticket": {"subject": format!("soak {n}"), "comment": {"body": "b"}}})),
                };
                n += 1;
                if let Ok(response) = request.send().await {
                    let created = response.status() == reqwest::StatusCode::CREATED;
                    if let Ok(body) = response.bytes().await {
                        done.fetch_add(1, Ordering::Relaxed);
                        if created {
                            writes.fetch_add(1, Ordering::Relaxed);
                            if ticket_id(&body).is_some_and(|id| id % 10 == 0) {
                                tens.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(FloodTally {
        serve_cpu_seconds: served.cpu_seconds() - cpu,
        requests: done.load(Ordering::Relaxed),
        seconds,
        created: writes.load(Ordering::Relaxed),
        created_tens: tens.load(Ordering::Relaxed),
    })
}

/// What a flood (or several, added) did.
#[derive(Default)]
struct FloodTally {
    /// Completed requests.
    requests: u64,
    /// Seconds it lasted.
    seconds: f64,
    /// CPU seconds `serve` used meanwhile.
    serve_cpu_seconds: f64,
    /// Tickets created (answered 201).
    created: u64,
    /// Of those, the tickets whose id ends in 0.
    created_tens: u64,
}

impl FloodTally {
    fn add(&mut self, other: FloodTally) {
        self.requests += other.requests;
        self.seconds += other.seconds;
        self.serve_cpu_seconds += other.serve_cpu_seconds;
        self.created += other.created;
        self.created_tens += other.created_tens;
    }

    /// Completed requests per second.
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    /// `serve`'s CPU microseconds per completed request.
    fn cpu_us_per_request(&self) -> f64 {
        self.serve_cpu_seconds * 1e6 / self.requests.max(1) as f64
    }
}

/// The id of the ticket a 201 answer created.
fn ticket_id(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(body).ok()?["ticket"]["id"].as_u64()
}

fn files_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("state.json"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A scenario of `steps` invitations: every step adds two agreement copies, so the
/// state (and any per-step table) grows with the steps.
fn growing_scenario(steps: usize) -> String {
    let mut text = String::from("name = \"growing\"\n[accounts.acme]\n[accounts.globex]\n");
    for index in 0..steps {
        text.push_str(&format!(
            "[[steps]]\ninvite = {{ from = \"acme\", to = \"globex\", as = \"a{index}\" }}\n"
        ));
    }
    text
}

/// Runs `sharesim run FILE --html OUT` on a growing scenario; (peak RSS MiB, report
/// MiB, seconds). The peak is the process's own high-water mark, read until it exits.
async fn html_run(dir: &Path, steps: usize) -> Result<(f64, f64, f64), BenchError> {
    std::fs::create_dir_all(dir)?;
    let scenario: PathBuf = dir.join("growing.toml");
    std::fs::write(&scenario, growing_scenario(steps))?;
    let report = dir.join("growing.html");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("run")
        .arg(&scenario)
        .arg("--html")
        .arg(&report)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id().unwrap_or_default());
    let mut peak_kib = 0u64;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|text| high_water_kib(&text))
        {
            peak_kib = peak_kib.max(kib);
        }
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                if !status.success() {
                    return Err(BenchError::Unexpected(format!("run --html exited {status}")));
                }
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let report_bytes = std::fs::metadata(&report).map_or(0, |m| m.len());
    Ok((
        peak_kib as f64 / 1024.0,
        report_bytes as f64 / 1048576.0,
        seconds,
    ))
}

/// `VmHWM` of a `/proc/PID/status` text, KiB.
fn high_water_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_high_water_mark_is_read_from_proc_status() {
        let status = "Name:\tsharesim\nVmPeak:\t  900 kB\nVmHWM:\t  12345 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(super::high_water_kib(status), Some(12345));
        assert_eq!(super::high_water_kib("Name: x\n"), None);
        assert!(super::growing_scenario(3).matches("[[steps]]").count() == 3);
    }
}
