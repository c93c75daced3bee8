//! The drawn reports: SVG sequence diagrams and the HTML page, pinned as golden files for
//! a handshake, a TLS failure and a crash, and rendered for every bundled scenario.

use crate::support::{mask_ports, sharesim};
use quick_xml::Reader;
use quick_xml::events::Event as XmlEvent;
use sharesim::core::trace::{EventKind, Surface};
use sharesim::drivers::report;
use sharesim::drivers::report::html::Section;
use sharesim::drivers::scenario::outcome::Outcome;
use sharesim::drivers::scenario::run::{RunSettings, run};
use sharesim::drivers::scenario::{Scenario, discover, load};
use std::path::PathBuf;
use std::time::Duration;

fn scenario_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

async fn run_scenario(file: &std::path::Path) -> (Scenario, Outcome) {
    let scenario = load(file).unwrap_or_else(|e| panic!("{e}"));
    // As `run --html` does: keep each account's state after every step.
    let settings = RunSettings {
        snapshots: true,
        ..RunSettings::default()
    };
    let outcome = run(&scenario, &settings).await;
    (scenario, outcome)
}

/// Masks the wall-clock readings that TLS validity errors quote: Unix times (runs of
/// nine or more digits) and the `(N seconds ago)` between them become `<N>`.
fn mask_clock_readings(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after = &tail[digits..];
        if digits >= 9 || (out.ends_with('(') && after.starts_with(" seconds")) {
            out.push_str("<N>");
        } else {
            out.push_str(&tail[..digits]);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Parses `text` as XML from start to end; returns the names of the elements met, or
/// the parser's error with its position.
fn xml_elements(text: &str) -> Result<Vec<String>, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut names = Vec::new();
    let mut depth = 0i64;
    loop {
        let (element, opens) = match reader.read_event() {
            Ok(XmlEvent::Start(e)) => (e.into_owned(), true),
            Ok(XmlEvent::Empty(e)) => (e.into_owned(), false),
            Ok(XmlEvent::End(_)) => {
                depth -= 1;
                continue;
            }
            Ok(XmlEvent::Eof) => break,
            Ok(_) => continue,
            Err(e) => return Err(format!("at byte {}: {e}", reader.error_position())),
        };
        for attribute in element.attributes() {
            let attribute = attribute.map_err(|e| format!("attribute: {e}"))?;
            attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("attribute value: {e}"))?;
        }
        depth += i64::from(opens);
        names.push(String::from_utf8_lossy(element.name().as_ref().as_bytes()).into_owned());
    }
    if depth != 0 {
        return Err(format!("{depth} element(s) left open"));
    }
    Ok(names)
}

/// How many arrows of partner messages a diagram draws.
fn partner_arrows(svg: &str) -> usize {
    svg.matches("<g class=\"sd-msg sd-partner ").count()
}

/// How many partner messages (requests and answers) a trace holds.
fn partner_messages(outcome: &Outcome) -> usize {
    outcome
        .trace
        .iter()
        .filter(|e| e.surface == Some(Surface::Partner))
        .filter(|e| matches!(e.kind, EventKind::Request | EventKind::Response))
        .count()
}

#[tokio::test]
async fn the_svg_of_a_handshake_a_tls_failure_and_a_crash_is_pinned() {
    for (name, file) in [
        (
            "svg_invite_and_accept",
            "scenarios/agreements/01-invite-and-accept.toml",
        ),
        ("svg_tls_expired", "scenarios/failures/02-tls-expired.toml"),
        (
            "svg_crash_after_store",
            "scenarios/failures/15-crash-after-store.toml",
        ),
    ] {
        let (_, outcome) = run_scenario(&scenario_file(file)).await;
        assert!(outcome.passed(), "{file}");
        let svg = report::svg::diagram(&outcome);
        xml_elements(&svg).unwrap_or_else(|e| panic!("{file}: not well-formed XML: {e}"));
        assert_eq!(partner_arrows(&svg), partner_messages(&outcome), "{file}");
        insta::assert_snapshot!(name, mask_clock_readings(&svg));
    }
}

#[tokio::test]
async fn the_drawn_failure_names_its_status_and_cause() {
    let (_, outcome) = run_scenario(&scenario_file("scenarios/failures/02-tls-expired.toml")).await;
    let svg = report::svg::diagram(&outcome);
    assert!(
        svg.contains("<g class=\"sd-msg sd-partner sd-failed\""),
        "a failed partner arrow is drawn"
    );
    assert!(svg.contains(">no answer ⇒ ssl_error</text>"), "{svg}");
    assert!(svg.contains("TLS handshake failed"), "{svg}");
    let (_, crash) = run_scenario(&scenario_file(
        "scenarios/failures/15-crash-after-store.toml",
    ))
    .await;
    let svg = report::svg::diagram(&crash);
    assert!(svg.contains("<g class=\"sd-note sd-divergence\""), "{svg}");
    assert!(svg.contains("<g class=\"sd-note sd-fault\""), "{svg}");
}

#[tokio::test]
async fn the_html_report_of_a_handshake_is_pinned() {
    let (scenario, mut outcome) = run_scenario(&scenario_file(
        "scenarios/agreements/01-invite-and-accept.toml",
    ))
    .await;
    outcome.duration = Duration::ZERO;
    let page = report::html::report(
        "sharesim report",
        &[Section {
            outcome: &outcome,
            description: scenario.description.as_deref(),
        }],
    );
    // The exchanges carry the REST answers' bodies, whose `url` names the port. The
    // player's script is its own file (src/drivers/report/player/player.js), pinned by the
    // browser tests that run it; here it and its hash stand for themselves.
    assert_eq!(page.matches(report::player::SCRIPT).count(), 1);
    let page = page
        .replace(report::player::SCRIPT, "<player.js>")
        .replace(&report::player::script_source(), "<player.js hash>");
    insta::assert_snapshot!(
        "html_invite_and_accept",
        mask_ports(&page.replace(env!("CARGO_MANIFEST_DIR"), "<root>"))
    );
}

#[tokio::test]
async fn every_bundled_scenario_renders_to_svg_and_html() {
    let root = scenario_file("scenarios");
    let files = discover(&[root]).expect("the bundled library is readable");
    assert!(files.len() >= 12, "found {} scenarios", files.len());
    let mut scenarios = Vec::new();
    let mut outcomes = Vec::new();
    for file in &files {
        let (scenario, outcome) = run_scenario(file).await;
        let svg = report::svg::diagram(&outcome);
        let elements = xml_elements(&svg)
            .unwrap_or_else(|e| panic!("{}: SVG is not well-formed: {e}", file.display()));
        assert_eq!(elements.first().map(String::as_str), Some("svg"));
        assert!(elements.iter().all(|e| e != "script"), "no script");
        assert_eq!(
            partner_arrows(&svg),
            partner_messages(&outcome),
            "{}: one arrow per partner message",
            file.display()
        );
        for path in report::grid::paths(&outcome) {
            let grid = report::grid::svg(&path);
            xml_elements(&grid).unwrap_or_else(|e| {
                panic!("{}: the grid SVG is not well-formed: {e}", file.display())
            });
        }
        scenarios.push(scenario);
        outcomes.push(outcome);
    }
    let sections: Vec<Section<'_>> = scenarios
        .iter()
        .zip(&outcomes)
        .map(|(scenario, outcome)| Section {
            outcome,
            description: scenario.description.as_deref(),
        })
        .collect();
    let page = report::html::report("sharesim report", &sections);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        page.matches("<section class=\"scenario ").count(),
        files.len()
    );
    assert_eq!(
        page.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sd\"")
            .count(),
        files.len()
    );
    assert!(
        page.contains(&format!(
            "<span class=\"badge pass\">{} passed</span>",
            files.len()
        )),
        "the summary counts every scenario"
    );
    // The only scripts are the player (allowed by its hash) and one data island per
    // scenario, which is never executed.
    assert_eq!(page.matches("<script>").count(), 1);
    assert_eq!(
        page.matches("<script type=\"application/json\" class=\"player-data\"")
            .count(),
        files.len()
    );
    assert_eq!(page.matches("<script").count(), 1 + files.len());
    assert!(page.contains(&format!("script-src {}", report::player::script_source())));
    assert!(!page.contains("http-equiv=\"refresh\""));
    for attribute in ["src=\"http", "href=\"http", "url("] {
        assert!(!page.contains(attribute), "no external load: {attribute}");
    }
}

#[test]
fn the_xml_check_can_fail() {
    assert!(xml_elements("<svg><g></svg>").is_err());
    assert!(xml_elements("<svg><text>a & b</text></svg>").is_err());
    assert!(xml_elements("<svg><g class=\"a\"b\"/></svg>").is_err());
    assert!(xml_elements("<svg><text>a &amp; b</text></svg>").is_ok());
    assert_eq!(
        mask_clock_readings("t 1796005850 (86400 seconds ago) x=580 #111827"),
        "t <N> (<N> seconds ago) x=580 #111827"
    );
}

#[test]
fn diagram_format_chooses_svg_or_mermaid_and_html_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file("scenarios/agreements/01-invite-and-accept.toml");
    let file = file.to_str().unwrap();
    let output = sharesim(&["run", file, "--diagram-dir", "mmd"], dir.path());
    assert_eq!(output.status.code(), Some(0));
    let mermaid = std::fs::read_to_string(dir.path().join("mmd/01-invite-and-accept.mmd"))
        .expect("Mermaid stays the default");
    assert!(mermaid.starts_with("sequenceDiagram\n"));
    let output = sharesim(
        &[
            "run",
            file,
            "--diagram-dir",
            "svg",
            "--diagram-format",
            "svg",
            "--html",
            "report.html",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(!dir.path().join("svg/01-invite-and-accept.mmd").exists());
    let svg = std::fs::read_to_string(dir.path().join("svg/01-invite-and-accept.svg")).unwrap();
    xml_elements(&svg).expect("the written SVG is well-formed");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.contains("<span class=\"badge pass\">1 passed</span>"));
    assert!(page.contains(&svg), "the page inlines the same drawing");

    let output = sharesim(
        &["run", file, "--diagram-dir", "d", "--diagram-format", "png"],
        dir.path(),
    );
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown format is a usage error"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'png'"), "{stderr}");
    let output = sharesim(&["run", file, "--diagram-format", "svg"], dir.path());
    assert_eq!(
        output.status.code(),
        Some(2),
        "a format without a folder is a usage error"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--diagram-dir"), "{stderr}");
}

#[test]
fn explain_writes_its_narration_as_html_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file("scenarios/failures/15-crash-after-store.toml");
    let output = sharesim(
        &["explain", file.to_str().unwrap(), "--html", "explain.html"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("## Step 2: invite"),
        "the terminal narration stays"
    );
    let page = std::fs::read_to_string(dir.path().join("explain.html")).unwrap();
    assert!(page.contains(
        "<title>sharesim explain: Crash after store: the receiver holds the invitation the sender thinks failed</title>"
    ));
    assert!(page.contains("<p class=\"note\">The repair: the same invitation again.</p>"));
    assert!(page.contains("<g class=\"sd-note sd-divergence\""));

    let output = sharesim(
        &[
            "explain",
            file.to_str().unwrap(),
            "--html",
            "no/such/dir/x.html",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sharesim: could not write no/such/dir/x.html"),
        "{stderr}"
    );
}
