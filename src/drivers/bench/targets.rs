//! The targets `sharesim bench` checks, one function per part, each with pass or fail.

use super::{BenchReport, TargetCheck, api, serve_soak};
use crate::core::network::NetworkKind;

/// Every target of the parts that ran, each with pass or fail.
pub(crate) fn check_targets(report: &BenchReport) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let mut check = |name: String, measured: String, pass: bool| {
        checks.push(TargetCheck {
            name,
            measured,
            pass,
        });
    };
    api_targets(report, &mut check);
    handshake_targets(report, &mut check);
    startup_targets(report, &mut check);
    suite_targets(report, &mut check);
    soak_targets(report, &mut check);
    if let Some(serve_soak) = &report.serve_soak {
        serve_soak::targets(serve_soak, &mut check);
    }
    explore_targets(report, &mut check);
    checks
}

/// REST throughput against the bare baseline.
fn api_targets(report: &BenchReport, check: &mut impl FnMut(String, String, bool)) {
    if let Some(api) = &report.api {
        for target in api::targets(api) {
            check(target.name, target.measured, target.pass);
        }
    }
}

/// Handshake rates against their targets and the bare exchanges, and each run's consistency.
fn handshake_targets(report: &BenchReport, check: &mut impl FnMut(String, String, bool)) {
    let busiest = |scheme: &str| {
        report
            .handshake
            .iter()
            .filter(|h| h.scheme == scheme && h.network == NetworkKind::Loopback)
            .max_by_key(|h| h.senders)
    };
    if let Some(http) = busiest("http") {
        check(
            format!(
                "HTTP handshakes >= 5000 cycles/s ({} senders)",
                http.senders
            ),
            format!("{:.0}/s", http.per_second),
            http.per_second >= 5_000.0 && http.consistent,
        );
        if let Some((bare, ratio)) = report
            .handshake_bare
            .iter()
            .find(|b| b.senders == http.senders)
            .zip(
                report
                    .handshake_ratios
                    .iter()
                    .find(|r| r.senders == http.senders),
            )
        {
            check(
                format!(
                    "HTTP handshakes >= 0.5x 4 bare exchanges per cycle ({} senders)",
                    http.senders
                ),
                format!(
                    "{:.2}x, median of {} pairs ({:.0} of {:.0} bare cycles/s in all)",
                    ratio.ratio,
                    ratio.pair_ratios.len(),
                    http.per_second,
                    bare.per_second
                ),
                ratio.ratio >= 0.5,
            );
        }
        if let Some(https) = busiest("https") {
            check(
                "HTTPS handshakes >= 50% of HTTP".to_string(),
                format!(
                    "{:.0}%",
                    100.0 * https.per_second / http.per_second.max(1e-9)
                ),
                https.per_second >= 0.5 * http.per_second && https.consistent,
            );
        }
    }
    for run in &report.handshake {
        let reused = match run.network {
            // Each world opens its own connections.
            NetworkKind::Loopback => {
                run.partner_connections <= 4 * run.senders as u64 * run.worlds.max(1)
            }
            // No socket table to count in memory; the pool is the same code.
            NetworkKind::Simulated => true,
        };
        check(
            format!(
                "{} {} x{}: every copy accepted on both sides{}",
                run.network,
                run.scheme,
                run.senders,
                if run.network == NetworkKind::Loopback {
                    ", connections reused"
                } else {
                    ""
                }
            ),
            format!(
                "{} cycles, {} errors, {} connections for {} messages{}",
                run.cycles,
                run.errors,
                run.partner_connections,
                run.partner_messages,
                match run.worlds {
                    0 | 1 => String::new(),
                    worlds => format!(" in {worlds} worlds"),
                }
            ),
            run.consistent && run.errors == 0 && reused,
        );
    }
}

/// World start time and memory per account.
fn startup_targets(report: &BenchReport, check: &mut impl FnMut(String, String, bool)) {
    if let Some(startup) = &report.startup {
        check(
            "2-account HTTPS world up in < 20 ms".to_string(),
            format!("{:.1} ms", startup.two_accounts_https_ms),
            startup.two_accounts_https_ms < 20.0,
        );
        for large in &startup.large {
            check(
                format!(
                    "{} {} accounts up in < 1 s",
                    large.accounts,
                    large.scheme.to_uppercase()
                ),
                format!("{:.0} ms", large.start_ms),
                large.start_ms < 1_000.0,
            );
            check(
                format!(
                    "{} idle account < 100 KiB resident",
                    large.scheme.to_uppercase()
                ),
                format!("{:.1} KiB", large.rss_per_account_kib),
                large.rss_per_account_kib < 100.0,
            );
        }
    }
}

/// The bundled library on each network.
fn suite_targets(report: &BenchReport, check: &mut impl FnMut(String, String, bool)) {
    for suite in &report.suite {
        let measured = format!(
            "{:.0} ms ({}/{} runs passed)",
            suite.wall_ms, suite.passed, suite.runs
        );
        match suite.network {
            NetworkKind::Simulated => check(
                "scenario library, every seed, simulated, in < 1 s wall".to_string(),
                measured,
                suite.wall_ms < 1_000.0 && suite.passed == suite.runs,
            ),
            // Loopback waits out real timeouts; only its verdicts are a target.
            NetworkKind::Loopback => check(
                "scenario library, every seed, loopback: every run passes".to_string(),
                measured,
                suite.passed == suite.runs,
            ),
        }
    }
}

/// The soak: peak memory, growth, divergence and refusals.
fn soak_targets(report: &BenchReport, check: &mut impl FnMut(String, String, bool)) {
    if let Some(soak) = &report.soak {
        check(
            "soak: serve peak memory < 200 MB".to_string(),
            format!("{:.1} MiB", soak.peak_memory_mib),
            soak.peak_memory_mib > 0.0 && soak.peak_memory_mib < 200.0 * 1e6 / (1024.0 * 1024.0),
        );
        check(
            format!(
                "soak: memory growth < 5% from {:.0} s to the end ({:.0} s soak)",
                soak.growth_from_secs, soak.seconds
            ),
            format!(
                "{:+.1}% ({:.1} -> {:.1} MiB)",
                soak.growth_percent, soak.resident_from_mib, soak.resident_end_mib
            ),
            soak.resident_from_mib > 0.0 && soak.growth_percent < 5.0,
        );
        check(
            "soak: no copies diverged, every hostile call refused".to_string(),
            format!(
                "{} cycles, {} diverged, {} of {} hostile calls not refused",
                soak.cycles, soak.diverged, soak.unexpected_answers, soak.hostile_requests
            ),
            soak.diverged == 0 && soak.unexpected_answers == 0,
        );
    }
}

/// Explore's rate on the simulated network (loopback beside it) and the shrink time.
fn explore_targets(report: &BenchReport, check: &mut impl FnMut(String, String, bool)) {
    if let Some(explore) = report
        .explore
        .iter()
        .find(|e| e.network == NetworkKind::Simulated)
    {
        let loopback = report
            .explore
            .iter()
            .find(|e| e.network == NetworkKind::Loopback)
            .map_or(String::new(), |l| {
                format!(" (loopback {:.1}/s)", l.per_second)
            });
        check(
            "explore >= 1000 schedules/s, simulated (2 accounts, 8 steps, faults, --jobs 2)"
                .to_string(),
            format!("{:.1}/s{loopback}", explore.per_second),
            explore.per_second >= 1_000.0,
        );
        if let Some(shrink) = &explore.shrink {
            check(
                "shrink of a 40-step schedule < 5 s".to_string(),
                format!("{:.0} ms ({} runs)", shrink.wall_ms, shrink.runs),
                shrink.wall_ms < 5_000.0,
            );
        }
    }
}
