//! `sharesim bench` as a smoke run: it starts, measures and writes its JSON. Timings are
//! never asserted; only that every expected key is there.

use std::process::Command;

#[test]
fn quick_startup_bench_writes_json_with_the_expected_keys() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args([
            "bench",
            "--quick",
            "--only",
            "startup",
            "--accounts",
            "20",
            "--json",
        ])
        .arg(&json)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("World start"), "{stdout}");
    assert!(stdout.contains("Targets"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args([
            "bench",
            "--quick",
            "--only",
            "soak",
            "--soak-secs",
            "1",
            "--json",
        ])
        .arg(&json)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Soak: serve under valid and hostile traffic"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let soak = &report["soak"];
    for key in [
        "seconds",
        "cycles",
        "hostile_requests",
        "slow_connections",
        "unexpected_answers",
        "peak_memory_mib",
        "diverged",
    ] {
        assert!(soak[key].is_number(), "no {key} in {soak}");
    }
    // Behaviour, not timing: whatever ran, nothing diverged and no hostile call got in.
    assert_eq!(soak["diverged"], 0, "{soak}");
    assert_eq!(soak["unexpected_answers"], 0, "{soak}");
    assert!(soak["hostile_requests"].as_u64().unwrap() > 0, "{soak}");
    assert_eq!(report["targets"].as_array().unwrap().len(), 2, "{report}");
}
