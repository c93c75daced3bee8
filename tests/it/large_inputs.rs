//! Large and endless scenario inputs: refused at once with exit 2, or run without
//! per-step copies of the whole world.

use crate::support::acme_and_globex;
use sharesim::core::limits::{MAX_SCENARIO_BYTES, MAX_SCENARIO_STEPS};
use sharesim::drivers::scenario::run::{RunSettings, run};
use std::process::Command;

fn invites(steps: usize) -> String {
    let mut text = acme_and_globex("big", "");
    for index in 0..steps {
        text.push_str(&format!(
            "[[steps]]\ninvite = {{ from = \"acme\", to = \"globex\", as = \"a{index}\" }}\n"
        ));
    }
    text
}

fn check(path: &std::path::Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .arg("check")
        .arg(path)
        .env("NO_COLOR", "1")
        .output()
        .expect("check runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_endless_file_is_refused_without_reading_it_all() {
    let (code, stderr) = check(std::path::Path::new("/dev/zero"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("sharesim: /dev/zero:1:1: the scenario file is larger than 16 MiB"),
        "{stderr}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("huge.toml");
    let mut text = invites(1);
    text.push_str(&"# padding\n".repeat((MAX_SCENARIO_BYTES / 10) as usize + 1));
    std::fs::write(&path, text).expect("written");
    let (code, stderr) = check(&path);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("larger than 16 MiB"), "{stderr}");
}

#[test]
fn too_many_steps_are_refused_at_the_first_step_over_the_limit() {
    let source = invites(MAX_SCENARIO_STEPS + 1);
    let error = sharesim::drivers::scenario::parse(&source, "many.toml").expect_err("refused");
    // Four header lines, then two lines a step: the first step over the limit.
    assert_eq!(error.line, 5 + 2 * MAX_SCENARIO_STEPS, "{error}");
    assert!(
        error.message.starts_with(&format!(
            "this scenario has {} steps; at most",
            MAX_SCENARIO_STEPS + 1
        )),
        "{error}"
    );
    assert!(sharesim::drivers::scenario::parse(&invites(2_000), "ok.toml").is_ok());
}

#[tokio::test]
async fn a_run_keeps_no_per_step_copy_of_the_world() {
    let steps = 300;
    let scenario = sharesim::drivers::scenario::parse(&invites(steps), "big.toml").expect("valid");
    let settings = RunSettings::default();
    assert!(!settings.snapshots);
    let outcome = run(&scenario, &settings).await;
    assert!(outcome.passed(), "{:?}", outcome.failure);
    assert_eq!(outcome.steps.len(), steps);
    assert!(outcome.steps.iter().all(|step| step.accounts.is_empty()));
    // The trace grows by a bounded amount a step, not with the agreements so far.
    let bytes: usize = outcome.trace.iter().map(|e| e.retained_bytes()).sum();
    assert!(bytes / steps < 8 * 1024, "{} bytes a step", bytes / steps);
}

/// `run --html` and `explain` of a scenario whose state grows with its steps: the
/// report's size (and the tables behind it) grows linearly, not with steps², past
/// `MAX_TABLE_ROWS`, and says where tables were left out (issue 23, point 10).
#[test]
fn html_reports_and_explain_stay_linear_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    let report = |steps: usize| {
        let path = dir.path().join(format!("grow-{steps}.toml"));
        std::fs::write(&path, invites(steps)).unwrap();
        let html = dir.path().join(format!("grow-{steps}.html"));
        let output = Command::new(env!("CARGO_BIN_EXE_sharesim"))
            .arg("run")
            .arg(&path)
            .arg("--html")
            .arg(&html)
            .env("NO_COLOR", "1")
            .output()
            .expect("run runs");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let explained = Command::new(env!("CARGO_BIN_EXE_sharesim"))
            .arg("explain")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .expect("explain runs");
        assert_eq!(explained.status.code(), Some(0));
        let text = String::from_utf8_lossy(&explained.stdout).into_owned();
        (std::fs::read_to_string(&html).unwrap(), text)
    };
    let (small_html, small_text) = report(400);
    let (large_html, large_text) = report(800);
    assert!(large_html.contains("Tables are left out from here on"));
    assert!(large_text.contains("tables are left out from here on"));
    // Twice the steps: quadratic tables would be four times the size.
    assert!(
        large_html.len() < 3 * small_html.len(),
        "{} vs {}",
        large_html.len(),
        small_html.len()
    );
    assert!(large_text.len() < 3 * small_text.len());
    // The state at the end is still shown: the last agreement is in the last tables.
    assert!(large_html.contains("a799"));
}
