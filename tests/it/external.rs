//! External partners: accounts outside the world, named by a sharing URL. Two worlds in
//! this process stand in for two processes (each knows the other's account only by its
//! URL); a scenario file names an external account; and two real `serve` processes
//! federate through `--partner`.

use crate::support::{TestWorld, start, start_with};
use serde_json::{Value, json};
use sharesim::core::directory::ExternalUrl;
use sharesim::core::faults::{Fault, FaultRule};
use sharesim::core::network::NetworkKind;
use sharesim::core::trace::{EventKind, Surface};
use sharesim::drivers::scenario::parse;
use sharesim::drivers::scenario::run::{RunSettings, run};
use sharesim::world::{AccountSpec, WorldConfig};
use std::time::Duration;

/// `world` learns `name` as an external account at `url`.
async fn learn(world: &TestWorld, name: &str, url: &str) {
    world
        .world
        .add_external(AccountSpec::external(
            name,
            ExternalUrl::parse(url).expect("a sharing URL"),
        ))
        .await
        .expect("the external account is added");
}

/// acme in one world, globex in another, each an external account of the other.
async fn two_worlds() -> (TestWorld, TestWorld) {
    let a = start(&["acme"]).await;
    let b = start(&["globex"]).await;
    learn(&a, "globex", &b.account("globex").loopback_sharing_url()).await;
    learn(&b, "acme", &a.account("acme").loopback_sharing_url()).await;
    (a, b)
}

async fn ticket(w: &TestWorld, sub: &str, id: u64, ticket: Value) -> Value {
    let answer = w
        .rest(
            sub,
            "admin",
            "PUT",
            &format!("/api/v2/tickets/{id}.json"),
            Some(json!({ "ticket": ticket })),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["ticket"].clone()
}

async fn comments(w: &TestWorld, sub: &str, id: u64) -> Vec<String> {
    let answer = w
        .rest(
            sub,
            "admin",
            "GET",
            &format!("/api/v2/tickets/{id}/comments.json"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .map(|c| c["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Partner events of a world's trace as `kind from -> to METHOD path status`.
fn partner_lines(w: &TestWorld) -> Vec<String> {
    w.world
        .trace()
        .events()
        .into_iter()
        .filter(|e| e.surface == Some(Surface::Partner))
        .map(|e| {
            format!(
                "{:?} {} -> {} {} {}{}",
                e.kind,
                e.from,
                e.to,
                e.method.unwrap_or_default(),
                e.path
                    .unwrap_or_default()
                    .split('/')
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("/"),
                e.status.map(|s| format!(" {s}")).unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn accounts_in_two_worlds_handshake_share_and_sync_through_their_urls() {
    let (a, b) = two_worlds().await;
    // acme invites globex, which lives in the other world.
    let sent = a.invite("acme", "globex").await;
    assert_eq!(sent["status"], "pending");
    let received = b.only_agreement("globex").await;
    assert_eq!(received["type"], "inbound");
    assert_eq!(received["status"], "pending");
    // Recognised by its sender_url: the agreement names acme, not a stranger.
    assert_eq!(received["remote_subdomain"], "acme");
    let answer = b.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(a.only_agreement("acme").await["status"], "accepted");

    // A ticket shared across, and comments both ways.
    let created = a
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/tickets.json",
            Some(
                json!({"ticket": {"subject": "Printer on fire", "comment": {"body": "Smoke"},
                                   "sharing_agreement_ids": [sent["id"]]}}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let copy = b
        .rest("globex", "admin", "GET", "/api/v2/tickets/1.json", None)
        .await;
    assert_eq!(copy.status, 200, "{}", copy.text);
    assert_eq!(copy.body["ticket"]["subject"], "Printer on fire");
    ticket(&a, "acme", 1, json!({"comment": {"body": "Which tray?"}})).await;
    ticket(&b, "globex", 1, json!({"comment": {"body": "Tray 2."}})).await;
    assert_eq!(
        comments(&a, "acme", 1).await,
        ["Smoke", "Which tray?", "Tray 2."]
    );
    assert_eq!(
        comments(&b, "globex", 1).await,
        ["Smoke", "Which tray?", "Tray 2."]
    );

    // Every message to and from the external account is in each world's trace: sent by
    // the world's transport, or recorded by the account that received it.
    let lines = partner_lines(&a);
    for expected in [
        "Request acme -> globex POST /sharing/agreements",
        "Response globex -> acme POST /sharing/agreements 201",
        "Request globex -> acme PUT /sharing/agreements",
        "Response acme -> globex PUT /sharing/agreements 200",
        "Request acme -> globex POST /sharing/tickets",
        "Request acme -> globex PUT /sharing/tickets",
        "Request globex -> acme PUT /sharing/tickets",
        "Response acme -> globex PUT /sharing/tickets 200",
    ] {
        assert!(
            lines.iter().any(|line| line == expected),
            "{expected} missing from:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn an_external_accounts_own_invitation_is_recognised_and_answered() {
    let (a, b) = two_worlds().await;
    // A fault on the link from the external account applies at acme's listener.
    a.world
        .set_fault(
            FaultRule::to("acme", Fault::Status(503))
                .from("globex")
                .times(1),
        )
        .await
        .unwrap();
    assert_eq!(b.invite("globex", "acme").await["status"], "failed");
    assert!(
        a.world_events()
            .iter()
            .any(|e| e.contains("acme answers globex's message with 503"))
    );
    let answer = b
        .set_status("globex", &b.only_agreement("globex").await["id"], "pending")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(b.only_agreement("globex").await["status"], "pending");
    let inbound = a.only_agreement("acme").await;
    assert_eq!(inbound["remote_subdomain"], "globex");
    assert_eq!(inbound["name"], "Globex @ Zendesk");
    let answer = a.set_status("acme", &inbound["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(b.only_agreement("globex").await["status"], "accepted");
    // A deactivation travels back the same way.
    let answer = b
        .set_status(
            "globex",
            &b.only_agreement("globex").await["id"],
            "inactive",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(a.only_agreement("acme").await["status"], "inactive");
}

#[tokio::test]
async fn nothing_is_sent_beyond_the_configured_url() {
    let (a, _b) = two_worlds().await;
    // A stranger's invitation claims a sender_url on the partner's host but outside its
    // configured path: it is stored as a stranger's, and the answer is never sent.
    let configured = a.world.services().directory.sharing_url("globex").unwrap();
    let host = configured.trim_end_matches("/sharing");
    let body = json!({
        "uuid": "0123456789abcdef0123456789abcdef01234567",
        "name": "Elsewhere @ Zendesk",
        "sender_url": format!("{host}/elsewhere"),
        "access_key": "00112233445566778899aabbccddeeff00112233",
        "status": "pending",
    });
    let posted = a
        .partner(
            "acme",
            "POST",
            "/agreements/0123456789abcdef0123456789abcdef01234567",
            &[("Content-Type", "application/json")],
            Some(body.to_string()),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    let inbound = a.only_agreement("acme").await;
    assert_eq!(inbound["remote_subdomain"], Value::Null);
    let refused = a.set_status("acme", &inbound["id"], "accepted").await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("not a simulated account"),
        "{}",
        refused.text
    );
    // The attempt is traced, and refused before any connection: no status came back.
    let failure = a.last_failure();
    assert_eq!(failure.outcome.as_deref(), Some("configuration_error"));
    assert_eq!(failure.status, None);
}

/// A scenario file naming globex of another world as `external`.
fn scenario(
    globex_url: &str,
    tls: bool,
    steps: &str,
) -> sharesim::drivers::scenario::format::Scenario {
    let text = format!(
        "name = \"external partner\"\ntls = {tls}\ntimeout_ms = 1500\n\n[accounts.acme]\n\n[accounts.globex]\nexternal = \"{globex_url}\"\n\n{steps}"
    );
    parse(&text, "external.toml").expect("the scenario is valid")
}

#[tokio::test]
async fn faults_holds_duplicates_and_lost_replies_act_on_the_link_to_an_external_account() {
    let b = start(&["globex"]).await;
    let url = b.account("globex").loopback_sharing_url();
    let steps = r#"
[[steps]]
fault = { account = "globex", status = 503, times = 1 }
[[steps]]
invite = { from = "acme", to = "globex", as = "a1" }
[[steps]]
expect = { account = "acme", agreement = "a1", status = "failed" }
[[steps]]
resend = { agreement = "a1" }
[[steps]]
expect = { account = "acme", agreement = "a1", status = "pending" }

[[steps]]
fault = { account = "globex", crash = "before_store", times = 1 }
[[steps]]
invite = { from = "acme", to = "globex", as = "lost" }
[[steps]]
expect = { account = "acme", agreement = "lost", status = "failed" }

[[steps]]
fault = { account = "globex", crash = "after_store", times = 1 }
[[steps]]
invite = { from = "acme", to = "globex", as = "stored" }
[[steps]]
expect = { account = "acme", agreement = "stored", status = "failed" }

[[steps]]
duplicate = { from = "acme", to = "globex" }
[[steps]]
invite = { from = "acme", to = "globex", as = "twice" }
[[steps]]
expect = { account = "acme", agreement = "twice", status = "pending" }

[[steps]]
lose_reply = { from = "acme", to = "globex" }
[[steps]]
invite = { from = "acme", to = "globex", as = "unanswered" }
[[steps]]
expect = { account = "acme", agreement = "unanswered", status = "failed" }

[[steps]]
hold = { from = "acme", to = "globex" }
[[steps]]
concurrently = [
  { invite = { from = "acme", to = "globex", as = "held" } },
  { release = { from = "acme", to = "globex" } },
]
[[steps]]
expect = { account = "acme", agreement = "held", status = "pending" }

[[steps]]
fault = { account = "globex", down = true }
[[steps]]
invite = { from = "acme", to = "globex", as = "down" }
[[steps]]
expect = { account = "acme", agreement = "down", status = "failed" }
"#;
    let settings = RunSettings {
        check_surfaces: true,
        ..RunSettings::default()
    };
    let outcome = run(&scenario(&url, false, steps), &settings).await;
    assert!(outcome.failure.is_none(), "{:#?}", outcome.failure);
    // What reached globex: a1 once (its re-send is the same invitation), `stored` (the
    // reply was dropped after globex stored it), `twice` once, `unanswered` and `held`;
    // never `lost` or `down`.
    let names: Vec<String> = b
        .account("globex")
        .agreements()
        .iter()
        .map(|a| a.status.to_string())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let details: Vec<String> = outcome.trace.iter().map(|e| e.detail.clone()).collect();
    for expected in [
        "globex answers acme's message with 503 without handling it (fault status = 503)",
        "the link to globex drops acme's message before it arrives (fault crash = \"before_store\")",
        "globex answered acme's message 201, and the link drops the reply (fault crash = \"after_store\")",
    ] {
        assert!(
            details.iter().any(|d| d == expected),
            "{expected} missing from {details:#?}"
        );
    }
    assert!(
        outcome
            .trace
            .iter()
            .any(|e| e.delivery == Some(sharesim::core::trace::Delivery::Duplicated))
    );
}

#[tokio::test]
async fn a_scenario_with_an_external_account_runs_on_loopback_and_refuses_the_simulated_network() {
    let file = scenario("http://127.0.0.1:9/sharing", false, "");
    assert_eq!(
        RunSettings::default().network_for(&file),
        NetworkKind::Loopback
    );
    let forced = RunSettings {
        network: Some(NetworkKind::Simulated),
        ..RunSettings::default()
    };
    let outcome = run(&file, &forced).await;
    let failure = outcome
        .failure
        .expect("it cannot start on the simulated network");
    assert!(
        failure.message.contains("loopback network"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn certificates_on_the_link_to_an_external_account_fail_the_handshake_for_real() {
    let b = start(&["globex"]).await;
    let url = b.account("globex").loopback_sharing_url();
    let steps = r#"
[[steps]]
certificate = { account = "globex", mode = "expired" }
[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "ssl_error" }
[[steps]]
certificate = { account = "globex", mode = "valid" }
[[steps]]
resend = { agreement = "esc" }
[[steps]]
expect = { account = "acme", agreement = "esc", status = "pending" }
"#;
    let outcome = run(&scenario(&url, true, steps), &RunSettings::default()).await;
    assert!(outcome.failure.is_none(), "{:#?}", outcome.failure);
    let cause = outcome
        .trace
        .iter()
        .find(|e| e.outcome.as_deref() == Some("ssl_error"))
        .expect("an ssl_error in the trace");
    assert!(
        cause.detail.contains("certificate expired"),
        "{}",
        cause.detail
    );
    assert_eq!(b.account("globex").agreements().len(), 1);
}

#[tokio::test]
async fn an_unreachable_external_account_is_a_failed_delivery_with_its_cause() {
    // Nothing listens at the configured URL: the relay answers for the link.
    let a = start_with(
        WorldConfig {
            timeout: Duration::from_millis(2_000),
            ..WorldConfig::default()
        },
        vec![
            AccountSpec::new("acme"),
            AccountSpec::external(
                "globex",
                ExternalUrl::parse("http://127.0.0.1:9/sharing").unwrap(),
            ),
        ],
    )
    .await;
    let sent = a.invite("acme", "globex").await;
    assert_eq!(sent["status"], "failed");
    let failure = a.last_failure();
    assert_eq!(failure.outcome.as_deref(), Some("failed"));
    assert!(
        failure.detail.contains("connection refused") && failure.detail.contains("127.0.0.1:9"),
        "{}",
        failure.detail
    );
    assert_eq!(failure.kind, EventKind::Response);
}
