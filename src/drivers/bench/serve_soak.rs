//! The soak parts of issue 23, each against a real `sharesim serve` or `sharesim run`
//! process: `--state` throughput under a mixed flood (reads, 401s, 400s and writes)
//! against the same flood without it; REST throughput with 200 journal-stream
//! subscribers against none; and the peak resident memory of a 5,000-step
//! `run --html` whose state grows with every step.

use super::{BenchError, BenchOptions};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Journal-stream subscribers of the stream part.
pub(crate) const SUBSCRIBERS: usize = 200;
/// Steps of the `run --html` part.
pub(crate) const HTML_STEPS: usize = 5_000;

/// What the parts measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ServeSoakResult {
    /// Mixed-flood requests per second without `--state` and without subscribers.
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
    /// `streams_per_second / baseline_per_second`.
    pub streams_ratio: f64,
    /// Streams still open (not ended as too slow) when the flood ended.
    pub streams_open_at_end: usize,
    /// Steps of the `run --html` part.
    pub html_steps: usize,
    /// Peak resident memory of that run (`VmHWM`), MiB.
    pub html_peak_rss_mib: f64,
    /// Size of the report it wrote, MiB.
    pub html_report_mib: f64,
    /// Its wall time, seconds.
    pub html_seconds: f64,
}

/// Runs the three parts.
pub(crate) async fn measure(options: &BenchOptions) -> Result<ServeSoakResult, BenchError> {
    let dir = std::env::temp_dir().join(format!("sharesim-serve-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let duration = options.duration.max(Duration::from_millis(300));
    let baseline = {
        let served = Served::start(&dir.join("plain"), &[]).await?;
        flood(&served, options.connections, duration).await?.0
    };
    let state_dir = dir.join("state");
    let (state_per_second, state_writes) = {
        std::fs::create_dir_all(&state_dir)?;
        let state = state_dir.join("state.json");
        let state_arg = state.to_string_lossy().into_owned();
        let served = Served::start(&state_dir, &["--state", &state_arg]).await?;
        flood(&served, options.connections, duration).await?
    };
    let state_bytes = files_size(&state_dir);
    let (streams_per_second, streams_open_at_end) = {
        let served = Served::start(&dir.join("streams"), &[]).await?;
        let subscribers = Subscribers::open(&served, SUBSCRIBERS).await?;
        let (per_second, _) = flood(&served, options.connections, duration).await?;
        (per_second, subscribers.close().await)
    };
    let steps = if options.smoke { 500 } else { HTML_STEPS };
    let html = html_run(&dir.join("html"), steps).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ServeSoakResult {
        baseline_per_second: baseline,
        state_per_second,
        state_ratio: state_per_second / baseline.max(1e-9),
        state_bytes,
        state_writes,
        streams_per_second,
        streams_ratio: streams_per_second / baseline.max(1e-9),
        streams_open_at_end,
        html_steps: steps,
        html_peak_rss_mib: html.0,
        html_report_mib: html.1,
        html_seconds: html.2,
    })
}

/// The targets of issue 23.
pub(crate) fn targets(result: &ServeSoakResult, check: &mut impl FnMut(String, String, bool)) {
    check(
        "serve --state under a mixed flood >= 50% of without".to_string(),
        format!(
            "{:.0}% ({:.0}/s vs {:.0}/s, {} durable writes)",
            result.state_ratio * 100.0,
            result.state_per_second,
            result.baseline_per_second,
            result.state_writes
        ),
        result.state_ratio >= 0.5,
    );
    check(
        format!("REST throughput with {SUBSCRIBERS} stream subscribers within 10% of none"),
        format!(
            "{:.0}% ({:.0}/s vs {:.0}/s, {} of {SUBSCRIBERS} streams open at the end)",
            result.streams_ratio * 100.0,
            result.streams_per_second,
            result.baseline_per_second,
            result.streams_open_at_end
        ),
        result.streams_ratio >= 0.9 && result.streams_open_at_end == SUBSCRIBERS,
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

/// A `sharesim serve` process, killed when dropped.
struct Served {
    _child: tokio::process::Child,
    ready: Value,
}

impl Served {
    async fn start(dir: &Path, args: &[&str]) -> Result<Served, BenchError> {
        std::fs::create_dir_all(dir)?;
        let ready = dir.join("ready.json");
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .args(args)
            .arg("--ready-file")
            .arg(&ready)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
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
        let ready = serde_json::from_str(&text).map_err(|e| BenchError::Setup(e.to_string()))?;
        Ok(Served {
            _child: child,
            ready,
        })
    }

    fn text(&self, pointer: &str) -> String {
        self.ready
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

fn client() -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))
}

/// `connections` clients send a mixed flood to acme for `duration`: six listings in
/// ten, two anonymous POSTs (401), one malformed POST (400) and one new ticket (201).
/// Returns completed requests per second and the tickets created.
async fn flood(
    served: &Served,
    connections: usize,
    duration: Duration,
) -> Result<(f64, u64), BenchError> {
    let api = served.text("/accounts/0/api_url");
    let user = format!("{}/token", served.text("/accounts/0/admin_email"));
    let token = served.text("/accounts/0/api_token");
    let done = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (http, api, user, token) = (client()?, api.clone(), user.clone(), token.clone());
        let (done, writes) = (done.clone(), writes.clone());
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
                    if response.bytes().await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                        if created {
                            writes.fetch_add(1, Ordering::Relaxed);
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
    Ok((
        done.load(Ordering::Relaxed) as f64 / seconds,
        writes.load(Ordering::Relaxed),
    ))
}

/// Open journal streams, each read as it arrives.
struct Subscribers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<bool>>,
}

impl Subscribers {
    /// Opens `count` streams following what the flood does not touch, as a test
    /// follows its own part of the journal: half follow `world` events, half follow
    /// globex (every event is read and checked, none matches).
    async fn open(served: &Served, count: usize) -> Result<Subscribers, BenchError> {
        let control = served.text("/control_url");
        let token = served.text("/control_token");
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for index in 0..count {
            let filter = if index % 2 == 0 {
                "kind=world"
            } else {
                "account=globex"
            };
            let response = reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| BenchError::Setup(e.to_string()))?
                .get(format!("{control}/journal/stream?{filter}"))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| BenchError::Setup(format!("a stream did not open: {e}")))?;
            if !response.status().is_success() {
                return Err(BenchError::Unexpected(format!(
                    "a stream answered {}",
                    response.status()
                )));
            }
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut response = response;
                let mut ended = false;
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        chunk = response.chunk() => match chunk {
                            Ok(Some(bytes)) => {
                                if bytes.windows(10).any(|w| w == b"event: end") {
                                    ended = true;
                                }
                            }
                            _ => return false,
                        },
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                !ended
            }));
        }
        Ok(Subscribers { stop, tasks })
    }

    /// Closes every stream; how many were still open and never ended.
    async fn close(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let mut open = 0;
        for task in self.tasks {
            if task.await.unwrap_or(false) {
                open += 1;
            }
        }
        open
    }
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
