//! `sharesim conform` against real endpoints in their own processes: an honest one written
//! from the README alone (Python), the same one broken on purpose one rule at a time, an
//! endpoint built on Zendesk's `ticket_sharing` gem (Ruby), and a sharesim account.

use crate::support::{TestWorld, sharesim, start};
use serde_json::{Value, json};
use sharesim::core::directory::ExternalUrl;
use sharesim::world::AccountSpec;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn partners_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/partners")
}

/// An endpoint process, killed when dropped.
pub struct Endpoint {
    child: Child,
    /// What it wrote to its ready file.
    pub ready: Value,
    _dir: tempfile::TempDir,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Endpoint {
    pub fn sharing_url(&self) -> String {
        self.ready["sharing_url"].as_str().unwrap().to_string()
    }
}

/// Starts `command` with `--ready-file`-style READY (the last argument) and waits for it.
fn endpoint(program: &str, args: &[&str], ready_last: bool) -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut command = Command::new(program);
    command.args(args);
    if ready_last {
        command.arg(&ready);
    } else {
        command.arg("--ready-file").arg(&ready);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    crate::support::wait_for_file(&mut child, &ready, Duration::from_secs(20));
    let text = std::fs::read_to_string(&ready).expect("the endpoint wrote its ready file");
    Endpoint {
        child,
        ready: serde_json::from_str(&text).unwrap(),
        _dir: dir,
    }
}

/// The endpoint written from the README alone, with `extra` flags.
pub fn readme_endpoint(extra: &[&str]) -> Endpoint {
    let script = partners_dir().join("readme_endpoint.py");
    let mut args = vec![script.to_str().unwrap()];
    args.extend_from_slice(extra);
    endpoint("python3", &args, false)
}

/// Runs `sharesim conform URL ARGS --format json`; returns (exit code, report).
fn conform(url: &str, args: &[&str]) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["conform", url, "--format", "json"];
    all.extend_from_slice(args);
    let output = sharesim(&all, dir.path());
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "conform printed JSON: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

fn names(report: &Value, pick: impl Fn(&Value) -> bool) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| pick(c))
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn failed(report: &Value) -> Vec<String> {
    names(report, |c| c["passed"] == false && c["skipped"] == false)
}

/// Every check passed: none failed, none skipped, and there are many.
fn assert_conforms(code: i32, report: &Value) {
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 15, "only {} checks", checks.len());
    assert_eq!(failed(report), Vec::<String>::new(), "{report:#}");
    assert_eq!(
        names(report, |c| c["skipped"] == true),
        Vec::<String>::new(),
        "{report:#}"
    );
    assert_eq!(code, 0);
    for check in checks {
        for field in [
            "name", "family", "passed", "skipped", "reason", "sent", "received",
        ] {
            assert!(check.get(field).is_some(), "{field} missing in {check}");
        }
    }
}

#[test]
fn an_honest_endpoint_written_from_the_readme_passes_every_check() {
    let endpoint = readme_endpoint(&["--auto-accept", "--auto-reply"]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("conform.xml");
    let (code, report) = conform(
        &endpoint.sharing_url(),
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--answer-timeout-secs",
            "10",
        ],
    );
    assert_conforms(code, &report);
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert_eq!(
        xml.matches("<testcase ").count(),
        report["checks"].as_array().unwrap().len()
    );
    assert!(!xml.contains("<failure"), "{xml}");
}

/// Each deliberately broken rule, and the check that must name it.
const BROKEN: [(&str, &str); 26] = [
    ("new-answers-200", "invitation.new"),
    ("repeat-is-new", "invitation.repeated"),
    ("other-key-accepted", "invitation.other_key"),
    ("ignore-uuid-mismatch", "invitation.uuid_mismatch"),
    ("accept-missing-fields", "invitation.missing_fields"),
    ("malformed-500", "invitation.malformed_body"),
    ("no-www-authenticate", "token.missing"),
    ("wrong-key-accepted", "token.wrong_key"),
    ("unknown-uuid-403", "token.unknown_uuid"),
    ("ignore-version", "token.unsupported_version"),
    ("no-size-limit", "token.oversized_body"),
    ("patch-allowed", "token.method_not_allowed"),
    ("never-answers", "answer.arrives"),
    ("answer-wrong-token", "answer.token"),
    ("answer-bad-shape", "answer.shape"),
    ("share-500", "ticket.share"),
    ("comment-422", "ticket.comment_push"),
    ("repeat-comment-422", "ticket.comment_repeat"),
    ("status-422", "ticket.status_push"),
    ("unknown-ticket-200", "ticket.unknown_uuid"),
    ("reply-without-uuid", "ticket.endpoint_comment"),
    ("unshare-404", "ticket.unshare"),
    ("deactivate-422", "ticket.deactivation"),
    ("push-after-deactivation", "ticket.not_accepted"),
    ("echo-comments", "ticket.no_echo"),
    ("iso-times", "time.format"),
];

#[test]
fn each_deliberately_broken_endpoint_fails_with_its_rule_named() {
    // Four at a time: each is two short-lived processes.
    let mismatches: Vec<String> = BROKEN
        .chunks(4)
        .flat_map(|chunk| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&(rule, check)| {
                    std::thread::spawn(move || {
                        let endpoint = readme_endpoint(&["--auto-accept", "--auto-reply", "--break", rule]);
                        let (code, report) = conform(
                            &endpoint.sharing_url(),
                            &["--answer-timeout-secs", "3"],
                        );
                        let failed = failed(&report);
                        let named = report["checks"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|c| c["name"] == check)
                            .cloned()
                            .unwrap_or(Value::Null);
                        let reason = named["reason"].as_str().unwrap_or_default().to_string();
                        if code != 1 || !failed.iter().any(|name| name == check) || reason.is_empty() {
                            Some(format!("--break {rule}: expected {check} to fail (exit 1); exit {code}, failed {failed:?}"))
                        } else {
                            None
                        }
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn a_failure_says_what_was_sent_what_came_back_and_why_in_every_format() {
    let endpoint = readme_endpoint(&[
        "--auto-accept",
        "--auto-reply",
        "--break",
        "no-www-authenticate",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let output = sharesim(
        &[
            "conform",
            &endpoint.sharing_url(),
            "--as",
            "acme",
            "--answer-timeout-secs",
            "5",
            "--junit",
            "conform.xml",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("(sharesim plays acme at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("  FAIL  token.missing\n"), "{text}");
    assert!(
        text.contains("        sent      PUT http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("without X-Ticket-Sharing-Token"), "{text}");
    assert!(
        text.contains("        received  401, no www-authenticate header"),
        "{text}"
    );
    assert!(
        text.contains("        why       a 401 must carry `WWW-Authenticate: X-Ticket-Sharing`"),
        "{text}"
    );
    assert!(
        text.contains("26 checks: 25 passed, 1 failed, 0 skipped"),
        "{text}"
    );
    let xml = std::fs::read_to_string(dir.path().join("conform.xml")).unwrap();
    assert!(
        xml.contains(r#"<testcase name="token.missing" classname="conform.tokens">"#),
        "{xml}"
    );
    assert!(xml.contains("<failure message=\"a 401 must carry"), "{xml}");
}

fn ruby_with_faraday() -> bool {
    Command::new("ruby")
        .args(["-e", "require 'faraday'"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn zendesks_ticket_sharing_gem_as_an_endpoint_passes_every_check() {
    if !ruby_with_faraday() {
        assert!(
            std::env::var("SHARESIM_REQUIRE_RUBY").as_deref() != Ok("1"),
            "ruby and ruby-faraday are required (SHARESIM_REQUIRE_RUBY=1) but missing"
        );
        eprintln!(
            "skipping: ruby with faraday is not installed (apt-get install ruby ruby-faraday)"
        );
        return;
    }
    let gem = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vendor/ticket_sharing/lib");
    let script = partners_dir().join("gem_endpoint.rb");
    let endpoint = endpoint(
        "ruby",
        &["-I", gem.to_str().unwrap(), script.to_str().unwrap()],
        true,
    );
    let (code, report) = conform(&endpoint.sharing_url(), &["--answer-timeout-secs", "10"]);
    assert_conforms(code, &report);
}

/// Polls `probe` until it gives a value (the endpoint's people act when they see work).
async fn eventually<T>(mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "nothing arrived within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_sharesim_account_passes_every_check_when_its_people_answer() {
    // globex knows conform's account by the port conform is told to listen on.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let w: TestWorld = start(&["globex"]).await;
    w.world
        .add_external(AccountSpec::external(
            "conform",
            ExternalUrl::parse(&format!("http://127.0.0.1:{port}/sharing")).unwrap(),
        ))
        .await
        .unwrap();
    drop(held);
    let url = w.account("globex").loopback_sharing_url();
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args([
            "conform",
            &url,
            "--port",
            &port.to_string(),
            "--format",
            "json",
            "--answer-timeout-secs",
            "20",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // globex's admin accepts the invitation once it is there…
    let inbound = eventually(async || {
        let listed = w.listed("globex", "sharing_agreements").await;
        listed
            .into_iter()
            .find(|a| a["remote_subdomain"] == "conform")
    })
    .await;
    let answer = w.set_status("globex", &inbound["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // …and an agent comments on the shared ticket once it has arrived.
    let ticket = eventually(async || w.listed("globex", "tickets").await.into_iter().next()).await;
    let commented = w
        .rest(
            "globex",
            "agent",
            "PUT",
            &format!("/api/v2/tickets/{}.json", ticket["id"]),
            Some(json!({"ticket": {"comment": {"body": "Tray 2, says globex."}}})),
        )
        .await;
    assert_eq!(commented.status, 200, "{}", commented.text);
    let output = tokio::task::spawn_blocking(move || run.wait_with_output().unwrap())
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    assert_conforms(output.status.code().unwrap_or(-1), &report);
    // sharesim's account saw every message from conform as from its partner `conform`.
    assert!(
        w.partner_requests()
            .iter()
            .any(|line| line.starts_with("conform -> globex POST")),
        "{:#?}",
        w.partner_requests()
    );
}

#[test]
fn usage_errors_exit_2_and_an_unreachable_endpoint_fails() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["conform", "ftp://127.0.0.1/sharing"],
        vec![
            "conform",
            "http://127.0.0.1:9/sharing",
            "--as",
            "Not A Subdomain",
        ],
        vec!["conform", "http://127.0.0.1:9/sharing", "--format", "yaml"],
        vec!["conform"],
    ] {
        let output = sharesim(&args, dir.path());
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (code, report) = conform(
        "http://127.0.0.1:9/sharing",
        &["--answer-timeout-secs", "1"],
    );
    assert_eq!(code, 1);
    assert!(
        failed(&report).contains(&"invitation.new".to_string()),
        "{report:#}"
    );
    let new = &report["checks"][0];
    assert!(
        new["received"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{new}"
    );
}
