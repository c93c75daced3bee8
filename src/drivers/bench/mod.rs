//! `sharesim bench`: measures what makes the simulator usable in CI and load tests —
//! REST throughput of a `serve` process against a bare hyper baseline, both loaded by a
//! generator in another process (`api`), invite → accept cycles against four bare
//! exchanges per cycle (`handshake`), world start time and memory (`startup`), the
//! scenario library's wall time (`suite`), `serve` under mixed valid and hostile traffic
//! (`soak`) and the explorer's speed (`explore`) — and checks each against its target.
//! Load is bounded in time and count and goes to loopback only. Timings are reported,
//! never asserted by tests; `--compare` flags figures worse than a saved result.

pub(crate) mod api;
pub(crate) mod baseline;
pub(crate) mod compare;
pub(crate) mod explore;
pub(crate) mod generator;
pub(crate) mod handshake;
pub(crate) mod handshake_simulated;
pub(crate) mod load;
pub(crate) mod paired;
pub(crate) mod serve_soak;
pub(crate) mod served;
pub(crate) mod soak;
pub(crate) mod startup;
pub(crate) mod suite;
mod targets;
pub(crate) mod wrk;

pub(crate) use targets::check_targets;

use crate::core::network::NetworkKind;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Events a benchmarked world's trace keeps: enough to inspect the end of a run without
/// the trace growing with the load.
pub(crate) const TRACE_CAPACITY: usize = 10_000;

/// The parts of the benchmark, named the same on the command line (`--only`) and in
/// the JSON results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// REST throughput against a bare hyper server.
    Api,
    /// Invite → accept cycles over HTTP and HTTPS.
    Handshake,
    /// World start time and resident memory per account.
    Startup,
    /// Wall time of the scenario library.
    Suite,
    /// `serve` under mixed valid and hostile traffic: peak memory, divergence.
    Soak,
    /// Explorer schedules per second and the time to shrink a 40-step schedule.
    Explore,
    /// `serve --state` and 200 journal streams under a flood; a 5,000-step `run --html`.
    ServeSoak,
}

impl Part {
    /// Every part, in the order they run (startup first: its memory reading is cleanest
    /// before anything else has allocated).
    pub const ALL: [Part; 7] = [
        Part::Startup,
        Part::Api,
        Part::Handshake,
        Part::Suite,
        Part::Soak,
        Part::Explore,
        Part::ServeSoak,
    ];
}

/// One side of the handshake target's comparison, measured alone (`--profile-handshakes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HandshakeSide {
    /// The bare exchanges: 4 sequential requests per cycle to a bare hyper server.
    Bare,
    /// sharesim's invite → accept cycles over HTTP on loopback.
    Sharesim,
}

/// Pairs of rounds a comparison runs unless `--pairs` says otherwise: with two, a run
/// takes as long as it took before there were pairs; the median needs more to set an
/// outlying pair aside (see [`paired`] and the README's *Pairs and medians*).
pub(crate) const DEFAULT_PAIRS: u32 = 2;

/// How a benchmark run is set up.
#[derive(Clone, Debug)]
pub(crate) struct BenchOptions {
    /// How long each load run lasts (API: split between sharesim and the baseline).
    pub duration: Duration,
    /// Pairs of rounds (the baseline, then sharesim; each round half of `duration`) a
    /// comparison with a bare baseline is measured in (see [`paired`]).
    pub pairs: u32,
    /// Concurrent keep-alive connections for the API throughput run.
    pub connections: usize,
    /// Accounts in the large world of the start measurement.
    pub accounts: usize,
    /// Concurrent senders of the handshake runs.
    pub senders: Vec<usize>,
    /// The scenario directory the suite measurement runs.
    pub scenarios: PathBuf,
    /// Which parts to run.
    pub parts: Vec<Part>,
    /// How long the soak part loads `serve`.
    pub soak_duration: Duration,
    /// A smoke run (`--quick`): the slowest measurements are left out.
    pub smoke: bool,
    /// The handshake part measures only this side, with the most senders, in one run of
    /// `duration`: a process a profiler watches then does nothing else.
    pub handshake_side: Option<HandshakeSide>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            duration: Duration::from_secs(3),
            pairs: DEFAULT_PAIRS,
            connections: 32,
            accounts: 1_000,
            senders: vec![1, 16],
            scenarios: PathBuf::from("scenarios"),
            parts: Part::ALL.to_vec(),
            soak_duration: Duration::from_secs(30),
            smoke: false,
            handshake_side: None,
        }
    }
}

impl BenchOptions {
    /// A smoke run: short loads and a small large world. Numbers are not meaningful.
    pub(crate) fn quick() -> BenchOptions {
        BenchOptions {
            duration: Duration::from_millis(300),
            accounts: 100,
            soak_duration: Duration::from_secs(2),
            smoke: true,
            ..BenchOptions::default()
        }
    }
}

/// Why the benchmark could not run (a missed target is not an error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// A world could not start.
    #[error(transparent)]
    World(#[from] crate::world::WorldError),
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client failed.
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    /// The benchmark's own setup failed.
    #[error("{0}")]
    Setup(String),
    /// A server answered something the benchmark did not expect.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// One target and whether this run met it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TargetCheck {
    /// What is measured, with the target.
    pub name: String,
    /// The measured value, in words.
    pub measured: String,
    /// Whether the target was met.
    pub pass: bool,
}

/// Where and how the run happened, so numbers can be compared with care.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Machine {
    /// Cores available to the process.
    pub cores: usize,
    /// 1-minute load average when the run began (other processes compete for the cores).
    pub load_average_1m: Option<f64>,
    /// Whether this was built with optimisations.
    pub release_build: bool,
    /// The open-file limit after raising it.
    pub open_file_limit: Option<u64>,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BenchReport {
    /// The machine.
    pub machine: Machine,
    /// Seconds per load run.
    pub duration_secs: f64,
    /// API throughput, when run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<api::ApiResult>,
    /// Handshake runs, when run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handshake: Vec<handshake::HandshakeResult>,
    /// The bare exchange rate the handshakes are held to, measured in the same run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handshake_bare: Vec<handshake::BareCycles>,
    /// The HTTP handshakes over the bare exchanges, pair by pair, per sender count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handshake_ratios: Vec<handshake::HandshakeRatio>,
    /// World start, when run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup: Option<startup::StartupResult>,
    /// Scenario library runs (simulated, then loopback), when run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suite: Vec<suite::SuiteResult>,
    /// Soak, when run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<soak::SoakResult>,
    /// Explorer speed on each network (simulated first), when run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explore: Vec<explore::ExploreResult>,
    /// `serve --state`, streams and a long `run --html`, when run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve_soak: Option<serve_soak::ServeSoakResult>,
    /// Each target with pass or fail.
    pub targets: Vec<TargetCheck>,
}

/// Runs the chosen parts, one after another, and checks the targets.
pub(crate) async fn run(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    crate::core::tls::install_crypto_provider();
    let open_file_limit = raise_open_file_limit();
    let mut report = BenchReport {
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average_1m: load_average(),
            release_build: !cfg!(debug_assertions),
            open_file_limit,
        },
        duration_secs: options.duration.as_secs_f64(),
        api: None,
        handshake: Vec::new(),
        handshake_bare: Vec::new(),
        handshake_ratios: Vec::new(),
        startup: None,
        suite: Vec::new(),
        soak: None,
        explore: Vec::new(),
        serve_soak: None,
        targets: Vec::new(),
    };
    for part in Part::ALL {
        if !options.parts.contains(&part) {
            continue;
        }
        match part {
            Part::Startup => report.startup = Some(startup::measure(options).await?),
            Part::Api => report.api = Some(api::measure(options).await?),
            Part::Handshake if options.handshake_side.is_some() => {
                let senders = options.senders.iter().copied().max().unwrap_or(16);
                match options.handshake_side {
                    Some(HandshakeSide::Bare) => report
                        .handshake_bare
                        .push(handshake::measure_bare(options, senders).await?),
                    _ => report
                        .handshake
                        .push(handshake::measure(options, false, senders).await?),
                }
            }
            Part::Handshake => {
                // HTTP against the bare exchanges in alternating rounds, so that the
                // machine's moving load falls on both alike; then HTTPS.
                for &senders in &options.senders {
                    let (bare, http, ratio) =
                        handshake::measure_alternating(options, senders).await?;
                    report.handshake_bare.push(bare);
                    report.handshake.push(http);
                    report.handshake_ratios.push(ratio);
                }
                for &senders in &options.senders {
                    report
                        .handshake
                        .push(handshake::measure(options, true, senders).await?);
                }
                for https in [false, true] {
                    for &senders in &options.senders {
                        report
                            .handshake
                            .push(handshake_simulated::measure(options, https, senders).await?);
                    }
                }
            }
            Part::Suite => {
                report
                    .suite
                    .push(suite::measure(options, NetworkKind::Simulated).await?);
                // On loopback the library waits out its real timeouts (a minute of them):
                // a smoke run leaves it out.
                if !options.smoke {
                    report
                        .suite
                        .push(suite::measure(options, NetworkKind::Loopback).await?);
                }
            }
            Part::Soak => report.soak = Some(soak::measure(options).await?),
            Part::ServeSoak => report.serve_soak = Some(serve_soak::measure(options).await?),
            Part::Explore => {
                for network in [NetworkKind::Simulated, NetworkKind::Loopback] {
                    report
                        .explore
                        .push(explore::measure(options, network).await?);
                }
            }
        }
    }
    report.targets = check_targets(&report);
    Ok(report)
}

/// The report as a plain-text table for people.
pub(crate) fn render_table(report: &BenchReport) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "sharesim bench: {} cores, load average {} at start, {} build, {:.1} s per load run",
        m.cores,
        m.load_average_1m
            .map_or("unknown".to_string(), |l| format!("{l:.2}")),
        if m.release_build { "release" } else { "debug" },
        report.duration_secs
    );
    if let Some(api) = &report.api {
        api::render(&mut out, api);
    }
    render_handshakes(&mut out, report);
    if let Some(startup) = &report.startup {
        let _ = writeln!(out, "\nWorld start");
        let _ = writeln!(
            out,
            "  2 accounts, HTTPS (CA + certificates)  {:>8.1} ms (median of {})",
            startup.two_accounts_https_ms,
            startup.two_accounts_runs_ms.len()
        );
        for large in &startup.large {
            let _ = writeln!(
                out,
                "  {} accounts, {:<5}                  {:>8.1} ms, {:.1} KiB resident per account",
                large.accounts,
                large.scheme.to_uppercase(),
                large.start_ms,
                large.rss_per_account_kib
            );
        }
    }
    for suite in &report.suite {
        let _ = writeln!(
            out,
            "\nSuite ({}): {} scenarios under {}, every seed ({} runs), in {:.0} ms wall ({} passed)",
            suite.network, suite.scenarios, suite.path, suite.runs, suite.wall_ms, suite.passed
        );
    }
    if let Some(soak) = &report.soak {
        let journal = match soak.journal_full_secs {
            Some(at) => format!("the journal at its bound from {at:.0} s"),
            None => "the journal never reached its bound".to_string(),
        };
        let _ = writeln!(
            out,
            "\nSoak: serve under valid and hostile traffic for {:.1} s\n  {} invite -> accept -> deactivate -> delete cycles ({} calls retried, {} cycles abandoned and cleaned up), {} hostile calls, {} slowloris connections, {} diverged, {} copies retained\n  peak memory {:.1} MiB; resident {:.1} MiB at {:.0} s ({journal}), {:.1} MiB at the end ({:+.1}%)",
            soak.seconds,
            soak.cycles,
            soak.failed_calls,
            soak.abandoned_cycles,
            soak.hostile_requests,
            soak.slow_connections,
            soak.diverged,
            soak.retained_agreements,
            soak.peak_memory_mib,
            soak.resident_from_mib,
            soak.growth_from_secs,
            soak.resident_end_mib,
            soak.growth_percent
        );
    }
    for explore in &report.explore {
        let _ = writeln!(
            out,
            "\nExplore ({}): {} schedules (2 accounts, 8 steps, faults, 2 jobs) in {:.1} s: {:.1}/s, {:.2} ms of CPU per schedule, {} broke an invariant",
            explore.network,
            explore.schedules,
            explore.seconds,
            explore.per_second,
            1_000.0 * explore.cpu_seconds / (explore.schedules.max(1) as f64),
            explore.violating
        );
        let _ = writeln!(out, "  where the time goes: {}", explore.network_cost());
        match &explore.shrink {
            Some(shrink) => {
                let _ = writeln!(
                    out,
                    "  shrink: schedule {} ({} moves, broke {}) shrunk to {} moves in {:.0} ms ({} runs)",
                    shrink.index,
                    shrink.moves_before,
                    shrink.invariant,
                    shrink.moves_after,
                    shrink.wall_ms,
                    shrink.runs
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  shrink: none of the first {} 40-step schedules broke an invariant",
                    explore::SHRINK_SEARCH
                );
            }
        }
    }
    if !report.targets.is_empty() {
        let _ = writeln!(out, "\nTargets");
        for target in &report.targets {
            let _ = writeln!(
                out,
                "  {}  {:<62} {}",
                if target.pass { "PASS" } else { "FAIL" },
                target.name,
                target.measured
            );
        }
    }
    out
}

/// The handshake table of both networks, and the bare exchanges beside it.
fn render_handshakes(out: &mut String, report: &BenchReport) {
    if !report.handshake.is_empty() {
        let _ = writeln!(
            out,
            "\nHandshakes: invite -> accept cycles between two accounts"
        );
        let _ = writeln!(
            out,
            "  {:<9} {:<6} {:>7} {:>8} {:>9} {:>11} {:>8} {:>8} {:>10} {:>12}",
            "network",
            "scheme",
            "senders",
            "cycles",
            "cycles/s",
            "cyc/CPU-s",
            "p50 ms",
            "p99 ms",
            "consistent",
            "conns/msgs"
        );
        for run in &report.handshake {
            let _ = writeln!(
                out,
                "  {:<9} {:<6} {:>7} {:>8} {:>9.0} {:>11.0} {:>8.3} {:>8.3} {:>10} {:>12}",
                run.network.to_string(),
                run.scheme,
                run.senders,
                run.cycles,
                run.per_second,
                run.per_cpu_second,
                run.p50_ms,
                run.p99_ms,
                if run.consistent { "yes" } else { "NO" },
                format!("{}/{}", run.partner_connections, run.partner_messages)
            );
        }
        for bare in &report.handshake_bare {
            let _ = writeln!(
                out,
                "  bare hyper, 4 sequential exchanges per cycle, {} senders: {:.0} cycles/s",
                bare.senders, bare.per_second
            );
        }
        for ratio in &report.handshake_ratios {
            let _ = writeln!(
                out,
                "  http over bare, {} senders: {:.2}x, the median of {} pair(s) of rounds: {}  (all: {:.2}x)",
                ratio.senders,
                ratio.ratio,
                ratio.pair_ratios.len(),
                paired::Paired::spell(&ratio.pair_ratios),
                ratio.overall_ratio
            );
        }
    }
}

/// A latency percentile in milliseconds (0 when nothing was recorded).
pub(crate) fn percentile_ms(histogram: &Histogram<u64>, percentile: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    histogram.value_at_percentile(percentile) as f64 / 1e3
}

/// Raises the soft open-file limit to the hard limit (a large world needs one listener
/// per account) and returns the limit now in force.
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        // Refused (e.g. by a container's policy): the current limit stays, and a world too
        // large for it reports "too many open files" with what to do.
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current
}

/// CPU time (user + system) this process has used so far, in seconds, from
/// `/proc/self/stat` (in USER_HZ ticks, which Linux fixes at 100 per second).
pub(crate) fn process_cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// CPU time (user + system) process `pid` ("self": this one) has used so far, in
/// seconds (0 when it cannot be read).
pub(crate) fn cpu_seconds_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The client ports of TCP connections on this host to one of `ports`, in any state but
/// LISTEN (TIME_WAIT included), read from the kernel's socket table. Both ends of a
/// loopback connection are in the table; either one is enough to find it.
pub(crate) fn client_ports_to(ports: &[u16]) -> HashSet<u16> {
    let mut found = HashSet::new();
    let port = |address: &str| {
        address
            .rsplit(':')
            .next()
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace().skip(1);
            let (Some(local), Some(remote), Some(state)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Some(local), Some(remote)) = (port(local), port(remote)) else {
                continue;
            };
            if state == "0A" {
                continue;
            }
            if ports.contains(&remote) {
                found.insert(local);
            } else if ports.contains(&local) {
                found.insert(remote);
            }
        }
    }
    found
}
