//! Goldens for every output a user reads or parses: the console report of `sharesim run`
//! (passing and failing), `--format json`, JUnit, `--help` of every command and
//! subcommand, `schema` and `openapi`. Each is compared byte for byte with its file in
//! `tests/it/goldens/`, after masking what legitimately differs between two runs: ports,
//! and the wall-clock durations a run measures.
//!
//! `SHARESIM_BLESS=1 cargo test goldens` rewrites the files on purpose; review the diff.

use crate::support::{acme_and_globex, mask_ports, sharesim};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn goldens() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/goldens")
}

/// Compares `actual` with the golden file `name`, or writes it under `SHARESIM_BLESS`.
fn golden(name: &str, actual: &str) {
    let path = goldens().join(name);
    if std::env::var_os("SHARESIM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("goldens/ is writable");
        std::fs::write(&path, actual).expect("the golden is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with SHARESIM_BLESS=1 to write it, then review it",
            path.display()
        )
    });
    if expected != actual {
        let (number, (want, got)) = expected
            .lines()
            .chain(std::iter::repeat("<end of file>"))
            .zip(actual.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (want, got))| want != got)
            .unwrap_or((0, ("(line endings)", "(line endings)")));
        panic!(
            "{name} differs from its golden at line {}:\n  golden: {want}\n  actual: {got}\n\
             (SHARESIM_BLESS=1 rewrites it on purpose)\n--- actual ---\n{actual}",
            number + 1
        );
    }
}

/// Replaces the number between `before` and `after` (digits and dots) with `<mask>`.
fn mask_number(text: &str, before: &str, after: &str, mask: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(before) {
        let (head, tail) = rest.split_at(at + before.len());
        out.push_str(head);
        let number = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        if number > 0 && tail[number..].starts_with(after) {
            out.push_str(mask);
            rest = &tail[number..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Ports and measured durations masked: what differs between two runs of one file.
fn masked(text: &str) -> String {
    let text = mask_ports(text);
    let text = mask_number(&text, ", ", " ms)", "<ms>");
    let text = mask_number(&text, "\"duration_ms\": ", ",", "<ms>");
    mask_number(&text, "time=\"", "\"", "<seconds>")
}

fn passing() -> String {
    acme_and_globex(
        "accept",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
[[steps]]
respond = { account = "globex", agreement = "esc", status = "accepted" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "accepted" }
"#,
    )
}

fn failing() -> String {
    acme_and_globex(
        "expects the wrong status",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "accepted" }
"#,
    )
}

/// A folder holding one passing (`s/a.toml`) and one failing (`s/b.toml`) scenario.
fn two_scenarios() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::create_dir(dir.path().join("s")).expect("s/");
    std::fs::write(dir.path().join("s/a.toml"), passing()).expect("a.toml");
    std::fs::write(dir.path().join("s/b.toml"), failing()).expect("b.toml");
    dir
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

#[test]
fn the_console_report_of_a_passing_run() {
    let dir = two_scenarios();
    let output = sharesim(&["run", "s/a.toml"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    golden("run-passing.txt", &masked(&stdout(&output)));
}

#[test]
fn the_console_report_and_junit_of_a_failing_run() {
    let dir = two_scenarios();
    let output = sharesim(&["run", "s", "--junit", "junit.xml"], dir.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    golden("run-failing.txt", &masked(&stdout(&output)));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    golden("run-failing.junit.xml", &masked(&junit));
}

#[test]
fn the_json_report_of_a_failing_run() {
    let dir = two_scenarios();
    let output = sharesim(&["run", "s", "--format", "json"], dir.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    serde_json::from_str::<serde_json::Value>(&text).expect("one JSON document");
    golden("run-failing.json", &masked(&text));
}

#[test]
fn schema_and_openapi() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for command in ["schema", "openapi"] {
        let output = sharesim(&[command], dir.path());
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let text = stdout(&output);
        serde_json::from_str::<serde_json::Value>(&text).expect("one JSON document");
        golden(&format!("{command}.json"), &text);
    }
}

/// The subcommands a `--help` text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn help_of_every_command_and_subcommand() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = BTreeSet::new();
    while let Some(command) = queue.pop() {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let output = sharesim(&args, dir.path());
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        let help = stdout(&output);
        let name = std::iter::once("sharesim")
            .chain(command.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        golden(&format!("help/{name}.txt"), &help);
        seen.insert(name);
        for sub in subcommands(&help) {
            let mut next = command.clone();
            next.push(sub);
            queue.push(next);
        }
    }
    assert!(seen.len() > 12, "found the commands: {seen:?}");
    for expected in [
        "sharesim",
        "sharesim-run",
        "sharesim-ctl-step",
        "sharesim-schema",
    ] {
        assert!(seen.contains(expected), "{expected} in {seen:?}");
    }
}

#[test]
fn masking_keeps_everything_but_ports_and_durations() {
    assert_eq!(
        masked("PASS a (s/a.toml, 24 ms)\nat 127.0.0.1:41234, 3 ms) x"),
        "PASS a (s/a.toml, <ms> ms)\nat 127.0.0.1:<port>, <ms> ms) x"
    );
    assert_eq!(
        masked(r#""duration_ms": 10, "steps_run": 3, <t time="0.025"/> step 2, expect)"#),
        r#""duration_ms": <ms>, "steps_run": 3, <t time="<seconds>"/> step 2, expect)"#
    );
    assert_eq!(
        subcommands("x\nCommands:\n  run  Run\n  help  Print\n\nOptions:\n  -v"),
        ["run"]
    );
}
