//! Real Zendesk API clients, unmodified, against `sharesim serve`: node-zendesk and zenpy.
//! `.ci/run` installs them (tests/clients); where they are missing the test says so and
//! skips, unless SHARESIM_REQUIRE_CLIENTS=1 makes their absence a failure.

use std::path::PathBuf;
use std::process::Command;

use crate::support::serve_process;

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn required() -> bool {
    std::env::var("SHARESIM_REQUIRE_CLIENTS").is_ok_and(|v| v == "1")
}

fn available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            !required(),
            "{what} is required (SHARESIM_REQUIRE_CLIENTS=1) but not installed"
        );
        eprintln!("skipping: {what} is not installed (see tests/clients and .ci/run)");
    }
    present
}

fn run_json(command: &mut Command) -> serde_json::Value {
    let output = command.output().expect("the client runs");
    assert!(
        output.status.success(),
        "client failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the client prints JSON")
}

/// node-zendesk's modules folder, when node and the client are installed.
fn node_zendesk() -> Option<PathBuf> {
    let modules = clients_dir().join("node_modules");
    let node = Command::new("node").arg("--version").output().is_ok();
    available(
        "node-zendesk",
        node && modules.join("node-zendesk").exists(),
    )
    .then_some(modules)
}

/// Whether zenpy imports.
fn zenpy() -> bool {
    let zenpy = Command::new("python3")
        .args(["-c", "import zenpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    available("zenpy", zenpy)
}

#[test]
fn node_zendesk_invites_accepts_and_reads_back() {
    let Some(modules) = node_zendesk() else {
        return;
    };
    let served = serve_process(&["acme", "globex"]);
    let result = run_json(
        Command::new("node")
            .arg(clients_dir().join("node_zendesk_check.js"))
            .arg(&served.ready)
            .env("NODE_PATH", &modules),
    );
    assert_eq!(
        result,
        serde_json::json!({
            "sent_status": "pending",
            "inbound_type": "inbound",
            "inbound_remote": "acme",
            "answered_status": "accepted",
            "final_status": "accepted"
        })
    );
}

#[test]
fn zenpy_lists_and_shows_agreements() {
    if !zenpy() {
        return;
    }
    let served = serve_process(&["acme", "globex"]);
    // Create one agreement over plain HTTP first, as an admin would.
    let ready = served.ready_json();
    let api = ready["accounts"][0]["api_url"]
        .as_str()
        .unwrap()
        .to_string();
    let created = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "admin@acme.test/token:sharesim-token",
        ])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"sharing_agreement":{"remote_subdomain":"globex"}}"#,
        ])
        .arg(format!("{api}/sharing_agreements.json"))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&created.stdout), "201");
    let result = run_json(
        Command::new("python3")
            .arg(clients_dir().join("zenpy_check.py"))
            .arg(&served.ready)
            .env("ZENPY_FORCE_SCHEME", "http"),
    );
    assert_eq!(
        result,
        serde_json::json!({"count": 1, "status": "pending", "type": "outbound", "remote_subdomain": "globex"})
    );
}

/// The issue's "done when": a real client, a certificate flipped through the control
/// API while `serve` runs, `ssl_error` on re-send, healed, `pending` again.
#[test]
fn node_zendesk_sees_ssl_error_and_recovery_driven_through_the_control_api() {
    let Some(modules) = node_zendesk() else {
        return;
    };
    let served = serve_process(&["--tls"]);
    let result = run_json(
        Command::new("node")
            .arg(clients_dir().join("node_zendesk_control.js"))
            .arg(&served.ready)
            .env("NODE_PATH", &modules)
            .env(
                "NODE_EXTRA_CA_CERTS",
                served.dir.path().join("sharesim-ca.pem"),
            ),
    );
    assert_eq!(
        result,
        serde_json::json!({
            "created": "failed",
            "resent_to_expired": "ssl_error",
            "read_back": "ssl_error",
            "resent_after_heal": "pending",
            "inbound_on_globex": ["pending"]
        })
    );
}

/// Creates `count` tickets on the first account of a running `serve`.
async fn create_tickets(served: &crate::support::Served, count: usize) {
    let ready = served.ready_json();
    let account = &ready["accounts"][0];
    let api = account["api_url"].as_str().unwrap();
    let email = format!("{}/token", account["admin_email"].as_str().unwrap());
    sharesim::core::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    for n in 1..=count {
        let answer = client
            .post(format!("{api}/tickets.json"))
            .basic_auth(&email, account["api_token"].as_str())
            .json(&serde_json::json!({"ticket": {"comment": {"body": format!("Ticket {n}")}}}))
            .send()
            .await
            .expect("the ticket is created");
        assert_eq!(answer.status(), 201);
    }
}

/// How many REST calls listed tickets, read through the control API's journal.
async fn list_calls(served: &crate::support::Served) -> usize {
    let ready = served.ready_json();
    let control = ready["control_url"].as_str().unwrap();
    let token = ready["control_token"].as_str().unwrap();
    sharesim::core::tls::install_crypto_provider();
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{control}/journal?surface=rest&kind=request&method=GET&limit=1000"
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("the journal answers")
        .json()
        .await
        .expect("the journal is JSON");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == "/api/v2/tickets.json")
        .count()
}

fn one_to(n: u64) -> serde_json::Value {
    serde_json::json!((1..=n).collect::<Vec<u64>>())
}

/// The issue's "done when": zenpy pages through 250 tickets in both styles, following
/// sharesim's links with its own paging code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenpy_pages_through_250_tickets_by_offset_and_by_cursor() {
    if !zenpy() {
        return;
    }
    let served = serve_process(&["acme"]);
    create_tickets(&served, 250).await;
    let before = list_calls(&served).await;
    let result = run_json(
        Command::new("python3")
            .arg(clients_dir().join("zenpy_pages.py"))
            .arg(&served.ready)
            .env("ZENPY_FORCE_SCHEME", "http"),
    );
    assert_eq!(
        result["offset"],
        one_to(250),
        "offset style: every ticket once, in order"
    );
    assert_eq!(
        result["cursor"],
        one_to(250),
        "cursor style: every ticket once, in order"
    );
    // 100 per offset page (3 pages) and 50 per cursor page (5 pages): the client paged.
    assert_eq!(list_calls(&served).await - before, 3 + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_zendesk_lists_250_tickets_following_cursor_links() {
    let Some(modules) = node_zendesk() else {
        return;
    };
    let served = serve_process(&["acme"]);
    create_tickets(&served, 250).await;
    let before = list_calls(&served).await;
    let result = run_json(
        Command::new("node")
            .arg(clients_dir().join("node_zendesk_pages.js"))
            .arg(&served.ready)
            .env("NODE_PATH", &modules),
    );
    assert_eq!(result["ids"], one_to(250));
    assert_eq!(
        list_calls(&served).await - before,
        3,
        "three cursor pages of 100"
    );
}
