//! The `sharesim` binary as a user runs it: exit codes, stdout/stderr, report files.

use crate::support::sharesim;
use std::path::Path;
use std::process::Command;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const PASSING: &str = r#"
name = "accept"
description = "acme invites globex, globex accepts."
[accounts.acme]
[accounts.globex]
[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
[[steps]]
respond = { account = "globex", agreement = "esc", status = "accepted" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "accepted" }
"#;

const FAILING: &str = r#"
name = "expects the wrong status"
[accounts.acme]
[accounts.globex]
[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "accepted" }
"#;

#[test]
fn run_reports_each_scenario_and_exits_1_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("s")).unwrap();
    std::fs::write(dir.path().join("s/a.toml"), PASSING).unwrap();
    std::fs::write(dir.path().join("s/b.toml"), FAILING).unwrap();
    let output = sharesim(
        &[
            "run",
            "s",
            "--junit",
            "junit.xml",
            "--trace-dir",
            "traces",
            "--diagram-dir",
            "diagrams",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("PASS accept (s/a.toml, "), "{stdout}");
    assert!(
        lines[1].starts_with("FAIL expects the wrong status (s/b.toml, "),
        "{stdout}"
    );
    assert_eq!(lines[2], "     at s/b.toml:7 (step 2, expect)");
    assert!(
        stdout.contains("status  expected accepted, actual pending"),
        "{stdout}"
    );
    assert!(stdout.contains("last trace events:"), "{stdout}");
    assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
    assert!(!stdout.contains('\u{1b}'), "no colour with NO_COLOR");

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuites name="sharesim" tests="2" failures="1""#),
        "{junit}"
    );
    assert!(
        junit.contains("status: expected accepted, actual pending"),
        "{junit}"
    );
    let trace = std::fs::read_to_string(dir.path().join("traces/a.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(trace.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 1);
    let diagram = std::fs::read_to_string(dir.path().join("diagrams/b.mmd")).unwrap();
    assert!(diagram.starts_with("sequenceDiagram\n"), "{diagram}");
    assert!(
        diagram.contains("acme->>globex: POST /sharing/agreements/"),
        "{diagram}"
    );
}

const HANGS: &str = r#"
name = "a 30 s hang"
timeout_ms = 30000
[accounts.acme]
[accounts.globex]
fault = { hang = true }
[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "failed" }
"#;

#[test]
fn run_checks_determinism_and_says_which_network_each_world_ran_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hang.toml"), HANGS).unwrap();
    std::fs::write(dir.path().join("accept.toml"), PASSING).unwrap();
    let output = sharesim(
        &["run", ".", "--check-determinism", "--format", "json"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], 2, "{report}");
    for scenario in report["scenarios"].as_array().unwrap() {
        assert_eq!(scenario["network"], "simulated", "{scenario}");
    }
    // The same files on real sockets (the hang is left out: it waits 30 s there).
    let output = sharesim(
        &[
            "run",
            "accept.toml",
            "--network",
            "loopback",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scenarios"][0]["network"], "loopback", "{report}");
    let bad = sharesim(&["run", ".", "--network", "carrier-pigeon"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("simulated") && text(&bad.stderr).contains("loopback"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn run_exits_0_when_everything_passes_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), PASSING).unwrap();
    std::fs::write(dir.path().join("b.toml"), FAILING).unwrap();
    let output = sharesim(
        &["run", ".", "--filter", "accept", "--format", "json"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["scenarios"][0]["name"], "accept");
}

#[test]
fn fail_fast_stops_after_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), FAILING).unwrap();
    std::fs::write(dir.path().join("b.toml"), PASSING).unwrap();
    let output = sharesim(&["run", ".", "--fail-fast", "--jobs", "1"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("0 passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_file_stops_everything_with_exit_2_and_a_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), PASSING).unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"x\"\n[accounts.acme]\n[[steps]]\nexpect = { account = \"nobody\", count = 1 }\n",
    )
    .unwrap();
    let output = sharesim(&["run", "."], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        output.stdout.is_empty(),
        "nothing ran: {}",
        text(&output.stdout)
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("sharesim: ./bad.toml:4:22: unknown account `nobody`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("^^^^^^^^"),
        "a caret under the column: {stderr}"
    );

    let check = sharesim(&["check", "."], dir.path());
    assert_eq!(check.status.code(), Some(2));
    let ok = sharesim(&["check", "a.toml"], dir.path());
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(
        text(&ok.stdout),
        "ok a.toml (accept)\n1 scenario file(s) valid\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        sharesim(&["run", "--no-such-flag"], dir.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        sharesim(&["run", "missing-folder"], dir.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(sharesim(&["frobnicate"], dir.path()).status.code(), Some(2));
}

#[test]
fn schema_is_json_naming_every_action() {
    let dir = tempfile::tempdir().unwrap();
    let output = sharesim(&["schema"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = schema.to_string();
    for action in sharesim::drivers::scenario::Action::KEYS {
        assert!(
            text.contains(&format!("\"{action}\"")),
            "{action} is in the schema"
        );
    }
}

#[test]
fn explain_narrates_a_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), PASSING).unwrap();
    let output = sharesim(&["explain", "a.toml"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("# accept\n\nacme invites globex, globex accepts.\n"),
        "{stdout}"
    );
    assert!(stdout.contains("## Step 2: respond (a.toml:"), "{stdout}");
    assert!(
        stdout.contains("globex → acme: PUT /sharing/agreements/"),
        "{stdout}"
    );
    assert!(stdout.contains("Result: passed (3 steps)."), "{stdout}");
}

#[test]
fn explain_grid_shows_where_each_pair_sits_after_each_step_and_its_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = sharesim(
        &[
            "explain",
            "scenarios/failures/15-crash-after-store.toml",
            "--grid",
        ],
        root,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    // After the crash, the pair is a divergence; after the re-send, allowed again.
    assert!(
        stdout.contains("  grid: esc (acme → globex) is now failed ↔ pending: a divergence"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  grid: esc (acme → globex) is now pending ↔ pending: allowed"),
        "{stdout}"
    );
    let grid = stdout
        .split("## Status grid\n\n")
        .nth(1)
        .expect("the grids follow the narration");
    let row = |name: &str| {
        // Past the grid's title and column heads.
        grid.lines()
            .skip(2)
            .find(|line| line.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}: {grid}"))
            .to_string()
    };
    assert!(row("failed").contains("✗ 2"), "{grid}");
    assert!(row("pending").contains("[✓ 6]"), "{grid}");
    assert!(row("no copy").trim_end().ends_with("✓ 0"), "{grid}");
    // Without the flag, the narration has no grid.
    let plain = sharesim(
        &["explain", "scenarios/failures/15-crash-after-store.toml"],
        root,
    );
    assert!(!text(&plain.stdout).contains("Status grid"));
}

#[test]
fn serve_writes_a_ready_file_and_stops_on_sigterm() {
    let served = crate::support::serve_process(&["acme", "globex"]);
    let json = served.ready_json();
    let accounts = json["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["subdomain"], "acme");
    assert_eq!(accounts[1]["admin_email"], "admin@globex.test");
    assert_eq!(accounts[0]["api_token"], "sharesim-token");
    let api = accounts[0]["api_url"].as_str().unwrap();
    assert!(
        api.starts_with("http://127.0.0.1:") && api.ends_with("/api/v2"),
        "{api}"
    );
    let keys: Vec<&String> = accounts[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "subdomain",
            "api_url",
            "sharing_url",
            "admin_email",
            "agent_email",
            "api_token"
        ]
    );
    // A real HTTP call against the served account.
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "admin@acme.test/token:sharesim-token",
        ])
        .arg(format!("{api}/sharing_agreements.json"))
        .output();
    if let Ok(status) = status {
        assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
    }
    assert_eq!(served.terminate(), Some(0), "a clean shutdown on SIGTERM");
}

#[test]
fn serve_tls_writes_the_ca_and_real_clients_can_verify_it() {
    let served = crate::support::serve_process(&["--tls"]);
    let json = served.ready_json();
    let ca = json["ca_cert"]
        .as_str()
        .expect("the ready file names the CA");
    let pem = std::fs::read_to_string(served.dir.path().join(ca)).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let api = json["accounts"][0]["api_url"].as_str().unwrap();
    assert!(api.starts_with("https://127.0.0.1:"), "{api}");
    // curl verifies the certificate against the world's CA, by IP and by localhost.
    let localhost = api.replace("127.0.0.1", "localhost");
    for url in [api.to_string(), localhost] {
        let output = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                ca,
            ])
            .args(["-u", "admin@acme.test/token:sharesim-token"])
            .arg(format!("{url}/sharing_agreements.json"))
            .current_dir(served.dir.path())
            .output();
        if let Ok(output) = output {
            assert_eq!(String::from_utf8_lossy(&output.stdout), "200", "{url}");
        }
    }
    assert_eq!(served.terminate(), Some(0));
}

#[test]
fn two_scenarios_with_one_file_name_keep_their_own_report_files() {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["one", "two"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
    }
    std::fs::write(dir.path().join("one/accept.toml"), PASSING).unwrap();
    std::fs::write(dir.path().join("two/accept.toml"), FAILING).unwrap();
    let output = sharesim(
        &[
            "run",
            "one",
            "two",
            "--trace-dir",
            "traces",
            "--diagram-dir",
            "diagrams",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let mut traces: Vec<String> = std::fs::read_dir(dir.path().join("traces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    traces.sort();
    assert_eq!(traces, ["one-accept.jsonl", "two-accept.jsonl"]);
    // Each file holds its own scenario: the failing one ends on its expectation.
    let failing = std::fs::read_to_string(dir.path().join("traces/two-accept.jsonl")).unwrap();
    let passing = std::fs::read_to_string(dir.path().join("traces/one-accept.jsonl")).unwrap();
    assert_ne!(failing, passing);
    assert!(dir.path().join("diagrams/one-accept.mmd").is_file());
    assert!(dir.path().join("diagrams/two-accept.mmd").is_file());
}

#[test]
fn every_example_path_in_the_help_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["explain", "--help"],
        &["check", "--help"],
        &["serve", "--help"],
        &["learn", "--help"],
    ] {
        let output = sharesim(args, root);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        for word in text(&output.stdout).split_whitespace() {
            if word.starts_with("scenarios/") && word.ends_with(".toml") {
                assert!(
                    root.join(word).is_file(),
                    "`sharesim {args:?}` shows {word}, which does not exist"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "the help shows example scenario paths");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_without_a_panic() {
    use std::io::Read;
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    // Each output is larger than a pipe's buffer, so the writer meets the closed pipe.
    for (args, starts) in [
        (vec!["openapi"], "{"),
        (vec!["run", scenarios], "PASS "),
        (vec!["run", "--format", "json", scenarios], "{"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sharesim"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sharesim starts");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut first = [0u8; 1024];
        stdout.read_exact(&mut first).expect("the output starts");
        assert!(
            text(&first).starts_with(starts),
            "{args:?}: {}",
            text(&first)
        );
        drop(stdout);
        let output = child.wait_with_output().expect("sharesim ends");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_full_disk_under_stdout_is_an_error_that_says_so_not_a_panic() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/agreements/01-invite-and-accept.toml"
    );
    for args in [
        vec!["openapi"],
        vec!["run", scenario],
        vec!["check", scenario],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full opens");
        let output = Command::new(env!("CARGO_BIN_EXE_sharesim"))
            .args(&args)
            .stdout(full)
            .output()
            .expect("sharesim runs");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("could not write to stdout: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
