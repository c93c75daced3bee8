//! `sharesim bench` as a smoke run: it starts, measures and writes its JSON. Timings are
//! never asserted; only that every expected key is there.

use std::process::Command;

#[test]
fn quick_startup_bench_writes_json_with_the_expected_keys() {
    let (stdout, report) = bench_report(&["--quick", "--only", "startup", "--accounts", "20"]);
    assert!(stdout.contains("World start"), "{stdout}");
    assert!(stdout.contains("Targets"), "{stdout}");
    for key in ["machine", "duration_secs", "startup", "targets"] {
        assert!(report.get(key).is_some(), "no {key} in {report}");
    }
    for key in ["api", "handshake", "suite"] {
        assert!(
            report.get(key).is_none(),
            "{key} was not asked for: {report}"
        );
    }
    let startup = &report["startup"];
    assert!(startup["two_accounts_https_ms"].is_number(), "{startup}");
    let large = startup["large"].as_array().unwrap();
    assert_eq!(large.len(), 2, "{startup}");
    for (world, scheme) in large.iter().zip(["http", "https"]) {
        assert_eq!(world["scheme"], scheme);
        assert_eq!(world["accounts"], 20);
        for key in ["start_ms", "rss_growth_kib", "rss_per_account_kib"] {
            assert!(world[key].is_number(), "no {key} in {world}");
        }
    }
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "{targets:?}");
    for target in targets {
        assert!(
            target["name"].is_string() && target["pass"].is_boolean(),
            "{target}"
        );
    }
}

#[test]
fn quick_soak_bench_reports_memory_and_divergence() {
    let (stdout, report) = bench_report(&["--quick", "--only", "soak", "--soak-secs", "1"]);
    assert!(
        stdout.contains("Soak: serve under valid and hostile traffic"),
        "{stdout}"
    );
    let soak = &report["soak"];
    for key in [
        "seconds",
        "cycles",
        "failed_calls",
        "abandoned_cycles",
        "hostile_requests",
        "slow_connections",
        "unexpected_answers",
        "peak_memory_mib",
        "growth_from_secs",
        "resident_from_mib",
        "resident_end_mib",
        "growth_percent",
        "retained_agreements",
        "diverged",
    ] {
        assert!(soak[key].is_number(), "no {key} in {soak}");
    }
    // When the journal reached its bound: a number, or null when it never did.
    assert!(
        soak.get("journal_full_secs")
            .is_some_and(|at| at.is_number() || at.is_null()),
        "{soak}"
    );
    // The valid client deletes both copies of each agreement it made: what is left is
    // at most the strangers' pending invitations, which stop at their limit.
    assert!(
        soak["retained_agreements"].as_u64().unwrap() <= 100,
        "{soak}"
    );
    // Behaviour, not timing: whatever ran, nothing diverged and no hostile call got in.
    assert_eq!(soak["diverged"], 0, "{soak}");
    assert_eq!(soak["unexpected_answers"], 0, "{soak}");
    assert!(soak["hostile_requests"].as_u64().unwrap() > 0, "{soak}");
    assert_eq!(report["targets"].as_array().unwrap().len(), 3, "{report}");
}

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .arg("bench")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

/// Runs `sharesim bench` with `args` and `--json` into a temporary file, asserts that it
/// ran, and gives back what it printed and the results it wrote.
fn bench_report(args: &[&str]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = bench(&[args, &["--json", json.to_str().unwrap()]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, report)
}

#[test]
fn the_api_part_loads_serve_and_the_baseline_from_other_processes() {
    let (stdout, report) = bench_report(&[
        "--quick",
        "--only",
        "api",
        "--connections",
        "2",
        "--duration-secs",
        "0.4",
        "--pairs",
        "3",
    ]);
    let figures = report["api"]["figures"].as_array().unwrap();
    let keys: Vec<&str> = figures.iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["list_1", "list_10", "write_mix"], "{report}");
    for figure in figures {
        // Behaviour, not speed: every answer of both servers was the expected one, and
        // both were actually loaded.
        for server in ["sharesim", "baseline"] {
            assert_eq!(figure[server]["errors"], 0, "{server}: {figure}");
            assert!(figure[server]["requests"].as_u64().unwrap() > 0, "{figure}");
        }
        // Three pairs of rounds, judged by the median of their ratios.
        assert_judged_by_the_median(figure, "ratio", "pair_ratios", 3);
        assert!(figure["overall_ratio"].as_f64().unwrap() > 0.0, "{figure}");
    }
    // With wrk installed, its rounds ran in the same three pairs.
    if let Some(wrk) = report["api"].get("wrk") {
        assert_judged_by_the_median(wrk, "ratio", "pair_ratios", 3);
        assert_judged_by_the_median(wrk, "generator_over_wrk", "generator_over_wrk_pairs", 3);
    }
    // The write mix's cycles are three requests each: create, accept, delete.
    let mix = &figures[2]["sharesim"];
    assert!(mix["cycles"].as_u64().unwrap() > 0, "{mix}");
    assert!(
        mix["requests"].as_u64().unwrap() >= 3 * mix["cycles"].as_u64().unwrap(),
        "{mix}"
    );
    assert!(
        stdout.contains("one-item list >= 0.85x bare hyper"),
        "{stdout}"
    );
    assert!(stdout.contains("the median of 3 pair(s)"), "{stdout}");
}

/// `figure[judged]` is the median of the `pairs` ratios in `figure[listed]`, each a
/// real ratio of two measured rates.
fn assert_judged_by_the_median(
    figure: &serde_json::Value,
    judged: &str,
    listed: &str,
    pairs: usize,
) {
    let mut ratios: Vec<f64> = figure[listed]
        .as_array()
        .unwrap_or_else(|| panic!("no {listed} in {figure}"))
        .iter()
        .map(|r| r.as_f64().unwrap())
        .collect();
    assert_eq!(ratios.len(), pairs, "{figure}");
    assert!(ratios.iter().all(|r| r.is_finite() && *r > 0.0), "{figure}");
    ratios.sort_by(f64::total_cmp);
    let median = match pairs % 2 {
        1 => ratios[pairs / 2],
        _ => (ratios[pairs / 2 - 1] + ratios[pairs / 2]) / 2.0,
    };
    assert_eq!(figure[judged].as_f64().unwrap(), median, "{figure}");
}

#[test]
fn the_handshake_target_judges_the_median_of_alternating_pairs() {
    let (_, report) = bench_report(&["--quick", "--only", "handshake", "--pairs", "3"]);
    let ratios = report["handshake_ratios"].as_array().unwrap();
    let senders: Vec<u64> = ratios
        .iter()
        .map(|r| r["senders"].as_u64().unwrap())
        .collect();
    assert_eq!(senders, [1, 16], "{report}");
    for ratio in ratios {
        assert_judged_by_the_median(ratio, "ratio", "pair_ratios", 3);
    }
    // Each round of the HTTP handshakes ran a world of its own; HTTPS ran once. Reuse is
    // judged per world: behaviour, so every run passes it.
    for run in report["handshake"].as_array().unwrap() {
        let expected = match (run["network"].as_str(), run["scheme"].as_str()) {
            (Some("loopback"), Some("http")) => 3,
            _ => 1,
        };
        assert_eq!(run["worlds"], expected, "{run}");
    }
    for target in report["targets"].as_array().unwrap() {
        if target["name"]
            .as_str()
            .unwrap()
            .ends_with("connections reused")
        {
            assert_eq!(target["pass"], true, "{target}");
        }
    }
    // The target reads the median, and says of how many pairs.
    let target = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["name"]
                .as_str()
                .unwrap()
                .starts_with("HTTP handshakes >= 0.5x")
        })
        .unwrap_or_else(|| panic!("no handshake ratio target: {report}"));
    let measured = target["measured"].as_str().unwrap();
    assert!(measured.contains("median of 3 pairs"), "{measured}");
    assert_eq!(
        target["pass"].as_bool().unwrap(),
        ratios[1]["ratio"].as_f64().unwrap() >= 0.5,
        "{report}"
    );
}

#[test]
fn pairs_out_of_range_are_refused() {
    for pairs in ["0", "51"] {
        let refused = bench(&["--quick", "--only", "api", "--pairs", pairs]);
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains(&format!("--pairs {pairs} is out of range")),
            "{stderr}"
        );
    }
}

#[test]
fn compare_flags_a_worse_figure_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.json");
    let args = ["--quick", "--only", "startup", "--accounts", "5", "--json"];
    let first = bench(&[&args[..], &[saved.to_str().unwrap()]].concat());
    assert!(first.status.success(), "{first:?}");
    // A saved result whose start times no machine can match: this run is worse.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    for world in value["startup"]["large"].as_array_mut().unwrap() {
        world["start_ms"] = serde_json::json!(1e-9);
    }
    std::fs::write(&saved, value.to_string()).unwrap();
    let now = dir.path().join("now.json");
    let compared = bench(
        &[
            &args[..],
            &[now.to_str().unwrap(), "--compare", saved.to_str().unwrap()],
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&compared.stdout);
    assert_eq!(compared.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("REGRESSED  startup.large[http 5].start_ms"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let refused = bench(&["--only", "startup", "--compare", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bad.json is not JSON"), "{stderr}");
}

#[test]
fn profile_handshakes_measures_one_side_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (side, measured, absent) in [
        ("sharesim", "handshake", "handshake_bare"),
        ("bare", "handshake_bare", "handshake"),
    ] {
        let json = dir.path().join(format!("{side}.json"));
        let output = bench(&[
            "--quick",
            "--profile-handshakes",
            side,
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "{side}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let runs = report[measured].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{side}: one run, {report}");
        assert_eq!(runs[0]["senders"], 16, "{side}: {report}");
        assert!(runs[0]["cycles"].as_u64().unwrap() > 0, "{side}: {report}");
        let other = report.get(absent).and_then(|v| v.as_array());
        assert!(other.is_none_or(|v| v.is_empty()), "{side}: {report}");
        for part in ["api", "startup", "suite"] {
            assert!(report.get(part).is_none(), "{side}: {part} ran: {report}");
        }
    }
    // With --only, which parts run would be ambiguous: refused as a usage error.
    let refused = bench(&["--quick", "--only", "api", "--profile-handshakes", "bare"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}
