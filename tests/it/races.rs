//! Races and message control: every race scenario under seeds 0..64, interleavings that
//! come from the seed and nothing else, the scheduler's marks in every rendering, and
//! `run --seeds`.

use crate::support::{acme_and_globex, mask_ports, sharesim};
use futures_util::StreamExt;
use sharesim::drivers::report;
use sharesim::drivers::scenario::outcome::Outcome;
use sharesim::drivers::scenario::run::{RunSettings, run};
use sharesim::drivers::scenario::{Scenario, discover, load, parse};
use std::path::{Path, PathBuf};
use std::process::Output;

fn races() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/races");
    discover(&[root]).expect("the race library is readable")
}

fn race(name: &str) -> Scenario {
    let file = races()
        .into_iter()
        .find(|file| file.to_string_lossy().contains(name))
        .unwrap_or_else(|| panic!("no race scenario {name}"));
    load(&file).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs as the suite runs every scenario: REST listings checked against state after
/// every step.
async fn run_seed(scenario: &Scenario, seed: u64) -> Outcome {
    let settings = RunSettings {
        seed: Some(seed),
        check_surfaces: true,
        ..RunSettings::default()
    };
    run(scenario, &settings).await
}

/// The JSON lines of the events of step `number`.
fn step_events(outcome: &Outcome, number: usize) -> String {
    let step = &outcome.steps[number - 1];
    outcome
        .trace
        .iter()
        .filter(|e| e.seq >= step.first_event && e.seq <= step.last_event)
        .map(|e| serde_json::to_string(e).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_race_scenario_passes_under_seeds_0_to_64() {
    let files = races();
    assert!(files.len() >= 12, "found {} race scenarios", files.len());
    let scenarios: Vec<Scenario> = files.iter().map(|f| load(f).unwrap()).collect();
    for scenario in &scenarios {
        assert!(
            scenario
                .description
                .as_deref()
                .is_some_and(|d| d.len() > 200),
            "{} teaches what happens and why in its description",
            scenario.file()
        );
    }
    let jobs: Vec<(&Scenario, u64)> = scenarios
        .iter()
        .flat_map(|scenario| (0..64).map(move |seed| (scenario, seed)))
        .collect();
    let runs = jobs.len();
    let failures: Vec<String> = futures_util::stream::iter(jobs)
        .map(|(scenario, seed)| async move { (seed, run_seed(scenario, seed).await) })
        .buffer_unordered(8)
        .filter_map(|(seed, outcome)| async move {
            (!outcome.passed()).then(|| {
                format!(
                    "seed {seed}: {}",
                    report::human::scenario(&outcome, report::human::Palette::new(false))
                )
            })
        })
        .collect()
        .await;
    assert!(runs >= 12 * 64);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn two_seeds_interleave_a_group_differently_and_each_seed_repeats_itself() {
    let scenario = race("01-accept-crosses-sender-deactivation");
    let group = scenario
        .steps
        .iter()
        .position(|step| step.action.key() == "concurrently")
        .expect("the scenario has a group")
        + 1;
    let mut seen: Vec<(u64, String)> = Vec::new();
    for seed in 0..16 {
        let outcome = run_seed(&scenario, seed).await;
        assert!(outcome.passed(), "seed {seed} fails");
        let events = step_events(&outcome, group);
        if !seen.iter().any(|(_, known)| *known == events) {
            seen.push((seed, events));
        }
    }
    assert!(
        seen.len() >= 2,
        "16 seeds all gave the same interleaving of the group"
    );
    let (first, second) = (seen[0].0, seen[1].0);
    // The two differ in the order of what happened, not only in drawn values.
    let order = |events: &str| -> Vec<String> {
        events
            .lines()
            .map(|line| {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                format!("{} {} {}", event["kind"], event["from"], event["to"])
            })
            .collect()
    };
    assert_ne!(order(&seen[0].1), order(&seen[1].1));
    for seed in [first, second] {
        let a = run_seed(&scenario, seed).await;
        let b = run_seed(&scenario, seed).await;
        let (a, b) = (
            mask_ports(&report::trace_file::jsonl(&a)),
            mask_ports(&report::trace_file::jsonl(&b)),
        );
        assert_eq!(a, b, "seed {seed} gave two different traces");
    }
}

#[tokio::test]
async fn held_duplicated_and_lost_messages_show_in_every_rendering() {
    for (name, mark, class, json) in [
        (
            "07-answers-released",
            "⏸ held:",
            "sd-held",
            "\"delivery\":\"held\"",
        ),
        (
            "05-duplicated-invitation",
            "⧉ duplicate:",
            "sd-duplicated",
            "\"delivery\":\"duplicated\"",
        ),
        (
            "09-lost-reply",
            "✂ reply lost:",
            "sd-lost",
            "\"delivery\":\"lost\"",
        ),
        (
            "01-accept-crosses",
            "⇄ in flight:",
            "sd-held",
            "\"delivery\":\"crossing\"",
        ),
    ] {
        let scenario = race(name);
        let outcome = run_seed(&scenario, 1).await;
        assert!(outcome.passed(), "{name}");
        let explain = report::explain::narrate(&outcome, scenario.description.as_deref());
        assert!(explain.contains(mark), "{name}: explain shows {mark}");
        let mermaid = report::mermaid::diagram(&outcome);
        assert!(mermaid.contains(mark), "{name}: Mermaid shows {mark}");
        let svg = report::svg::diagram(&outcome);
        assert!(
            svg.contains(&format!("sd-partner {class}")),
            "{name}: the SVG draws {class}"
        );
        let trace = report::trace_file::jsonl(&outcome);
        assert!(trace.contains(json), "{name}: the trace records {json}");
    }
    let released = run_seed(&race("14-delete-notice"), 0).await;
    assert!(report::mermaid::diagram(&released).contains("-)"));
    assert!(report::explain::narrate(&released, None).contains("▶ released:"));
}

#[tokio::test]
async fn a_disagreement_with_a_message_in_flight_is_transient_and_one_without_is_not() {
    let outcome = run_seed(&race("14-delete-notice"), 0).await;
    assert!(outcome.passed());
    let transient: Vec<_> = outcome
        .trace
        .iter()
        .filter(|e| e.detail.starts_with("transient:"))
        .collect();
    assert_eq!(transient.len(), 1, "said once, when it starts");
    assert!(
        !outcome
            .trace
            .iter()
            .any(|e| e.detail.starts_with("divergence"))
    );

    // The same copies with nothing in flight: a divergence the file must assert.
    let source = acme_and_globex(
        "a lost reply nobody asserts",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }

[[steps]]
lose_reply = { from = "globex", to = "acme" }

[[steps]]
respond = { account = "globex", agreement = "esc", status = "accepted" }
expect_status = 422

[[steps]]
expect = { agreement = "esc", converged = true }
"#,
    );
    let scenario = parse(&source, "unasserted.toml").unwrap();
    let outcome = run_seed(&scenario, 0).await;
    let failure = outcome.failure.expect("a divergence is not convergence");
    assert_eq!(failure.step, 4);
    assert_eq!(failure.diffs[0].field, "converged");
    assert!(
        failure.diffs[0]
            .actual
            .starts_with("diverged for good: accepted ↔ pending"),
        "{:?}",
        failure.diffs
    );
}

#[tokio::test]
async fn a_release_with_nothing_held_fails_and_says_why() {
    let source = acme_and_globex(
        "nothing to release",
        r#"[[steps]]
release = { from = "acme", to = "globex", order = "seeded" }
"#,
    );
    let scenario = parse(&source, "release.toml").unwrap();
    let outcome = run_seed(&scenario, 0).await;
    let failure = outcome.failure.expect("nothing held is a failure");
    assert_eq!(
        failure.message,
        "nothing is held on acme → globex to release (hold the link first, and let a message reach it)"
    );
}

#[test]
fn run_seeds_reports_each_failing_seed() {
    let passing = sharesim_here(&[
        "run",
        "--seeds",
        "0..4",
        "scenarios/races/01-accept-crosses-sender-deactivation.toml",
    ]);
    let stdout = String::from_utf8_lossy(&passing.stdout);
    assert_eq!(passing.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("seeds 0..4: 4 of 4 passed"), "{stdout}");
    assert!(stdout.ends_with("4 passed, 0 failed\n"), "{stdout}");

    // Who wins between two admins depends on the seed: require one, and some seeds fail.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accept-wins.toml");
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/races/04-two-admins-accept-and-decline.toml"),
    )
    .unwrap()
    .replace(
        "status = [\"accepted\", \"declined\"]",
        "status = [\"accepted\"]",
    );
    std::fs::write(&file, source).unwrap();
    let output = sharesim_here(&["run", "--seeds", "0..16", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let failing = stdout
        .lines()
        .filter(|l| l.starts_with("seed ") && l.contains("FAIL"))
        .count();
    assert!(failing > 0 && failing < 16, "{stdout}");
    assert!(
        stdout.contains(&format!("seeds 0..16: {} of 16 passed", 16 - failing)),
        "{stdout}"
    );

    for bad in [
        vec!["run", "--seeds", "5..5", "scenarios/races"],
        vec!["run", "--seeds", "x..4", "scenarios/races"],
        vec!["run", "--seed", "1", "--seeds", "0..2", "scenarios/races"],
    ] {
        let output = sharesim_here(&bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("--seed"));
    }
}

#[test]
fn a_file_with_seeds_runs_under_each_of_them() {
    let output = sharesim_here(&["run", "scenarios/races/14-delete-notice-held.toml"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("seeds 0..4: 4 of 4 passed"), "{stdout}");
    let one = sharesim_here(&[
        "run",
        "--seed",
        "9",
        "scenarios/races/14-delete-notice-held.toml",
    ]);
    assert!(String::from_utf8_lossy(&one.stdout).ends_with("1 passed, 0 failed\n"));
}

/// The binary, run from the repository (where the bundled scenarios are).
fn sharesim_here(args: &[&str]) -> Output {
    sharesim(args, std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
}
