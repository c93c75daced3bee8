//! The bundled library runs green, deterministically, and failures are reported as data.

use crate::support::{acme_and_globex, mask_ports};
use sharesim::drivers::report;
use sharesim::drivers::scenario::outcome::Outcome;
use sharesim::drivers::scenario::run::{RunSettings, run};
use sharesim::drivers::scenario::{discover, load, parse};
use std::path::PathBuf;

fn bundled() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    discover(&[root]).expect("the bundled library is readable")
}

/// Settings that keep per-step snapshots, as `explain` does.
fn explaining() -> RunSettings {
    RunSettings {
        snapshots: true,
        ..RunSettings::default()
    }
}

/// Runs a file as the suite runs every bundled scenario: checking after every step
/// that each account's REST listings equal its state, keeping per-step snapshots.
async fn run_file(path: &std::path::Path, seed: Option<u64>) -> Outcome {
    let scenario = load(path).unwrap_or_else(|e| panic!("{e}"));
    let settings = RunSettings {
        seed,
        check_surfaces: true,
        snapshots: true,
        ..RunSettings::default()
    };
    run(&scenario, &settings).await
}

/// The trace with what legitimately changes between runs removed: ports, and the
/// wall-clock readings that TLS validity errors quote.
fn normalised_trace(outcome: &Outcome) -> String {
    let text = report::trace_file::jsonl(outcome);
    let mut out = mask_ports(&text);
    for (prefix, suffix) in [
        ("verification time ", " "),
        ("not valid after ", " "),
        ("not valid before ", " "),
        ("(", " seconds"),
    ] {
        out = mask_numbers_after(&out, prefix, suffix);
    }
    out
}

/// Replaces the number in every `{prefix}{digits}{suffix}` with `<N>`.
fn mask_numbers_after(text: &str, prefix: &str, suffix: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let (head, tail) = rest.split_at(at + prefix.len());
        out.push_str(head);
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && tail[digits..].starts_with(suffix) {
            out.push_str("<N>");
            rest = &tail[digits..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Runs an inline scenario that must fail, and returns the outcome and its failure.
async fn failing(
    source: &str,
    file: &str,
) -> (Outcome, sharesim::drivers::scenario::outcome::Failure) {
    let scenario = parse(source, file).unwrap_or_else(|e| panic!("{e}"));
    let outcome = run(&scenario, &explaining()).await;
    let failure = outcome.failure.clone().expect("the scenario fails");
    (outcome, failure)
}

#[tokio::test]
async fn every_bundled_scenario_passes() {
    let files = bundled();
    assert!(
        files.len() >= 12,
        "the library has at least 12 scenarios, found {}",
        files.len()
    );
    for file in &files {
        let outcome = run_file(file, None).await;
        assert!(
            outcome.passed(),
            "{}",
            report::human::scenario(&outcome, report::human::Palette::new(false))
        );
        let scenario = load(file).unwrap();
        assert!(
            scenario
                .description
                .as_deref()
                .is_some_and(|d| d.len() > 40),
            "{} teaches one thing in its description",
            file.display()
        );
    }
}

#[tokio::test]
async fn the_same_file_and_seed_give_the_same_trace() {
    for file in bundled() {
        let first = run_file(&file, Some(42)).await;
        let second = run_file(&file, Some(42)).await;
        assert!(!first.trace.is_empty());
        let (a, b) = (normalised_trace(&first), normalised_trace(&second));
        let differs = a.lines().zip(b.lines()).find(|(x, y)| x != y);
        assert!(
            differs.is_none() && a.lines().count() == b.lines().count(),
            "{}: {differs:#?}",
            file.display()
        );
    }
}

#[tokio::test]
async fn a_failed_expectation_is_an_outcome_with_a_field_diff() {
    let source = acme_and_globex(
        "wrong on purpose",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }

[[steps]]
expect = { account = "globex", agreement = "esc", status = "accepted", type = "outbound" }

[[steps]]
invite = { from = "acme", to = "globex", as = "never-run" }
"#,
    );
    let (outcome, failure) = failing(&source, "wrong.toml").await;
    assert_eq!(failure.step, 2);
    assert_eq!(failure.location, "wrong.toml:8");
    assert_eq!(failure.action, "expect");
    let diffs: Vec<(String, String, String)> = failure
        .diffs
        .iter()
        .map(|d| (d.field.clone(), d.expected.clone(), d.actual.clone()))
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("status".into(), "accepted".into(), "pending".into()),
            ("type".into(), "outbound".into(), "inbound".into()),
        ]
    );
    assert_eq!(outcome.steps.len(), 2, "steps after a failure do not run");
}

#[tokio::test]
async fn a_refusal_that_was_not_expected_fails_with_the_error_text() {
    let source = acme_and_globex(
        "agent writes",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc", user = "agent" }
"#,
    );
    let (_, failure) = failing(&source, "agent.toml").await;
    assert_eq!(failure.diffs[0].field, "http status");
    assert!(
        failure.diffs[0].actual.starts_with("403 Forbidden"),
        "{:?}",
        failure.diffs
    );
}

#[tokio::test]
async fn expect_error_must_match_the_description() {
    let source = acme_and_globex(
        "wrong reason",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }

[[steps]]
resend = { agreement = "esc" }
expect_error = "some other reason"
"#,
    );
    let (_, failure) = failing(&source, "reason.toml").await;
    // A pending agreement re-sent is unchanged (200), so both the status and the text differ.
    let fields: Vec<&str> = failure.diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["http status", "error"]);
}

#[tokio::test]
async fn explain_narrates_notes_calls_and_tables() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/agreements/01-invite-and-accept.toml");
    let scenario = load(&file).unwrap();
    let outcome = run(&scenario, &explaining()).await;
    let text = report::explain::narrate(&outcome, scenario.description.as_deref());
    insta::assert_snapshot!(
        "explain_invite_and_accept",
        text.replace(env!("CARGO_MANIFEST_DIR"), "<root>")
    );
    let diagram = report::mermaid::diagram(&outcome);
    insta::assert_snapshot!("diagram_invite_and_accept", diagram);
    insta::assert_snapshot!("trace_invite_and_accept", normalised_trace(&outcome));
}

#[tokio::test]
async fn an_unasserted_divergence_fails_the_scenario_at_the_next_action() {
    let source = acme_and_globex(
        "crash after store, not asserted",
        r#"[[steps]]
fault = { account = "globex", crash = "after_store", times = 1 }

[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }

[[steps]]
expect = { account = "globex", agreement = "esc", status = "pending" }

[[steps]]
invite = { from = "globex", to = "acme", as = "back" }
"#,
    );
    let (_, failure) = failing(&source, "diverge.toml").await;
    assert_eq!(failure.step, 4);
    assert!(
        failure
            .message
            .contains("unexpected divergence: agreement \"esc\" diverged after step 2"),
        "{}",
        failure.message
    );
    assert_eq!(failure.diffs[0].actual, "failed ↔ pending");
}

#[tokio::test]
async fn a_divergence_expected_where_there_is_none_fails() {
    let source = acme_and_globex(
        "no divergence",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }

[[steps]]
expect = { divergence = "esc" }
"#,
    );
    let (_, failure) = failing(&source, "nodiv.toml").await;
    assert_eq!(failure.step, 2);
    assert_eq!(failure.diffs[0].actual, "pending ↔ pending");
}

#[tokio::test]
async fn failure_scenarios_record_the_cause_in_the_trace() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/failures");
    let expectations = [
        ("01-tls-self-signed.toml", "UnknownIssuer"),
        ("02-tls-expired.toml", "certificate expired"),
        ("03-tls-not-yet-valid.toml", "certificate not valid yet"),
        ("04-tls-wrong-host.toml", "not valid for name"),
        ("06-tls-plain-http.toml", "does not speak TLS"),
        ("09-partner-hangs.toml", "timed out after 300 ms"),
        ("14-redirect-loop.toml", "too many redirects"),
        (
            "15-crash-after-store.toml",
            "connection closed before the reply",
        ),
    ];
    for (file, cause) in expectations {
        let outcome = run_file(&root.join(file), None).await;
        assert!(outcome.passed(), "{file}");
        assert!(
            outcome
                .trace
                .iter()
                .any(|e| e.outcome.is_some() && e.detail.contains(cause)),
            "{file}: no failed delivery names {cause:?}"
        );
    }
}

#[tokio::test]
async fn diagrams_and_explain_show_failures_with_their_cause() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/failures/15-crash-after-store.toml");
    let scenario = load(&file).unwrap();
    let outcome = run(&scenario, &explaining()).await;
    assert!(outcome.passed());
    let diagram = report::mermaid::diagram(&outcome);
    assert!(
        diagram.contains("globex--xacme: failed: connection closed before the reply"),
        "{diagram}"
    );
    assert!(diagram.contains("⚡ divergence"), "{diagram}");
    let text = report::explain::narrate(&outcome, scenario.description.as_deref());
    assert!(
        text.contains("⇒ failed: connection closed before the reply"),
        "{text}"
    );
}

#[tokio::test]
async fn a_ticket_expectation_reports_each_field_that_differs() {
    let source = acme_and_globex(
        "ticket diff",
        r#"[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }

[[steps]]
respond = { account = "globex", agreement = "esc", status = "accepted" }

[[steps]]
ticket = { account = "acme", as = "t", subject = "Real subject", description = "First." }

[[steps]]
share = { ticket = "t", agreement = "esc" }

[[steps]]
expect_ticket = { account = "globex", ticket = "t", subject = "Other", comments = [{ body = "First.", public = false }], orphan = true, shared_with = "" }
"#,
    );
    let (_, failure) = failing(&source, "ticket.toml").await;
    assert_eq!(failure.step, 5);
    let diffs: Vec<(String, String, String)> = failure
        .diffs
        .iter()
        .map(|d| (d.field.clone(), d.expected.clone(), d.actual.clone()))
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("subject".into(), "Other".into(), "Real subject".into()),
            (
                "comments".into(),
                "\"First.\" (private)".into(),
                "\"First.\" (public)".into()
            ),
            ("shared_with".into(), "(not shared)".into(), "esc".into()),
            ("orphan".into(), "true".into(), "false".into()),
        ]
    );
}

#[tokio::test]
async fn explain_shows_each_accounts_tickets_by_handle() {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/tickets/09-chain-re-share.toml");
    let scenario = load(&file).unwrap();
    let outcome = run(&scenario, &explaining()).await;
    assert!(outcome.passed());
    let text = report::explain::narrate(&outcome, scenario.description.as_deref());
    let last_step = text.rsplit("## Step").next().unwrap();
    assert!(
        last_step.contains("t       #1  new     a2g, g2i     2         Escalate twice"),
        "{last_step}"
    );
    assert!(
        last_step.contains("t       #1  new     g2i          2         Escalate twice"),
        "{last_step}"
    );
    assert!(last_step.contains("✓ the expectation held"), "{last_step}");
}
