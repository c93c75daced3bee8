//! External partners: accounts outside the world, named by a sharing URL. Two worlds in
//! this process stand in for two processes (each knows the other's account only by its
//! URL); a scenario file names an external account; and two real `serve` processes
//! federate through `--partner`.

use crate::conform::readme_endpoint;
use crate::support::{TestWorld, serve_process, start, start_with};
use serde_json::{Value, json};
use sharesim::directory::ExternalUrl;
use sharesim::scenario::parse;
use sharesim::scenario::run::{RunSettings, run};
use sharesim::trace::{EventKind, Surface};
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
    // globex (external to acme's world) invites acme.
    b.invite("globex", "acme").await;
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
fn scenario(globex_url: &str, tls: bool, steps: &str) -> sharesim::scenario::format::Scenario {
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
            .any(|e| e.delivery == Some(sharesim::trace::Delivery::Duplicated))
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

#[test]
fn two_serve_processes_federate_through_partner() {
    // globex's port is picked first and held until acme's process is up, so acme can
    // name it; then globex's process takes it and names acme's.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let globex_port = held.local_addr().unwrap().port();
    let globex_url = format!("http://127.0.0.1:{globex_port}/sharing");
    let acme = serve_process(&["acme", "--partner", &format!("globex={globex_url}")]);
    let acme_ready = acme.ready_json();
    let acme_url = acme_ready["accounts"][0]["sharing_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        acme_ready["partners"][0]["sharing_url"],
        globex_url.as_str()
    );
    drop(held);
    let globex = serve_process(&[
        "globex",
        "--port",
        &globex_port.to_string(),
        "--partner",
        &format!("acme={acme_url}"),
    ]);
    let globex_ready = globex.ready_json();
    assert_eq!(
        globex_ready["accounts"][0]["sharing_url"],
        globex_url.as_str()
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let rest = async |ready: &Value, method: &str, path: &str, body: Option<Value>| {
            served_rest(&http, ready, method, path, body).await
        };
        let sent = rest(
            &acme_ready,
            "POST",
            "/sharing_agreements.json",
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex"}})),
        )
        .await;
        let inbound = rest(&globex_ready, "GET", "/sharing_agreements.json", None).await;
        let inbound = &inbound["sharing_agreements"][0];
        assert_eq!(inbound["remote_subdomain"], "acme");
        rest(
            &globex_ready,
            "PUT",
            &format!("/sharing_agreements/{}.json", inbound["id"]),
            Some(json!({"sharing_agreement": {"status": "accepted"}})),
        )
        .await;
        let outbound = rest(&acme_ready, "GET", "/sharing_agreements/1.json", None).await;
        assert_eq!(outbound["sharing_agreement"]["status"], "accepted");
        rest(
            &acme_ready,
            "POST",
            "/tickets.json",
            Some(
                json!({"ticket": {"subject": "Across processes", "comment": {"body": "Hello"},
                                   "sharing_agreement_ids": [sent["sharing_agreement"]["id"]]}}),
            ),
        )
        .await;
        rest(
            &globex_ready,
            "PUT",
            "/tickets/1.json",
            Some(json!({"ticket": {"comment": {"body": "Hello back"}}})),
        )
        .await;
        rest(
            &acme_ready,
            "PUT",
            "/tickets/1.json",
            Some(json!({"ticket": {"comment": {"body": "Thanks"}, "status": "pending"}})),
        )
        .await;
        for ready in [&acme_ready, &globex_ready] {
            let listed = rest(ready, "GET", "/tickets/1/comments.json", None).await;
            let bodies: Vec<&str> = listed["comments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["body"].as_str().unwrap())
                .collect();
            assert_eq!(bodies, ["Hello", "Hello back", "Thanks"]);
        }
        let copy = rest(&globex_ready, "GET", "/tickets/1.json", None).await;
        assert_eq!(copy["ticket"]["status"], "pending");

        // Each process's journal holds both directions of the link.
        for (ready, me, partner) in [
            (&acme_ready, "acme", "globex"),
            (&globex_ready, "globex", "acme"),
        ] {
            let events = journal(&http, ready).await;
            let count = |from: &str, to: &str, path: &str| count_requests(&events, from, to, path);
            assert!(count(me, partner, "/sharing/") >= 2, "{me}: {events:#?}");
            assert!(count(partner, me, "/sharing/") >= 2, "{me}: {events:#?}");
            assert!(
                count(me, partner, "/sharing/tickets/") + count(partner, me, "/sharing/tickets/")
                    >= 3
            );
        }
    });
}

/// A REST call as the admin of the first account of a served world's ready file; the
/// call must succeed.
async fn served_rest(
    http: &reqwest::Client,
    ready: &Value,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let account = &ready["accounts"][0];
    let mut request = http
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", account["api_url"].as_str().unwrap()),
        )
        .basic_auth(
            format!("{}/token", account["admin_email"].as_str().unwrap()),
            Some(account["api_token"].as_str().unwrap()),
        );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.expect("answered");
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    assert!(status < 300, "{method} {path}: {status} {body}");
    body
}

/// Every partner request in a served world's journal.
async fn journal(http: &reqwest::Client, ready: &Value) -> Vec<Value> {
    let page = http
        .get(format!(
            "{}/journal?surface=partner&kind=request&limit=1000",
            ready["control_url"].as_str().unwrap()
        ))
        .bearer_auth(ready["control_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    page["events"].as_array().expect("events").clone()
}

fn count_requests(events: &[Value], from: &str, to: &str, path: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            e["from"] == from
                && e["to"] == to
                && e["path"].as_str().unwrap_or_default().starts_with(path)
        })
        .count()
}

/// A call to the README endpoint's own users' surface (`/admin/...`).
async fn endpoint_admin(
    http: &reqwest::Client,
    endpoint: &Value,
    call: &str,
    body: Value,
) -> Value {
    let url = format!("{}/{call}", endpoint["admin_url"].as_str().unwrap());
    let request = if call == "state" {
        http.get(url)
    } else {
        http.post(url).json(&body)
    };
    request.send().await.unwrap().json::<Value>().await.unwrap()
}

#[test]
fn an_endpoint_written_from_the_readme_alone_federates_with_serve() {
    let endpoint = readme_endpoint(&[]);
    let bridge = endpoint.ready.clone();
    let served = serve_process(&[
        "acme",
        "--partner",
        &format!("bridge={}", endpoint.sharing_url()),
    ]);
    let ready = served.ready_json();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let rest = async |method: &str, path: &str, body: Option<Value>| {
            served_rest(&http, &ready, method, path, body).await
        };
        // acme invites the bridge; a person there accepts.
        let sent = rest(
            "POST",
            "/sharing_agreements.json",
            Some(json!({"sharing_agreement": {"remote_subdomain": "bridge"}})),
        )
        .await;
        let state = endpoint_admin(&http, &bridge, "state", Value::Null).await;
        let uuid = state["agreements"][0]["uuid"].as_str().unwrap().to_string();
        assert_eq!(state["agreements"][0]["status"], "pending");
        let answered = endpoint_admin(
            &http,
            &bridge,
            "answer",
            json!({"uuid": uuid, "status": "accepted"}),
        )
        .await;
        assert_eq!(answered["status"], 200, "{answered}");
        let copy = rest("GET", "/sharing_agreements/1.json", None).await;
        assert_eq!(copy["sharing_agreement"]["status"], "accepted");

        // A shared ticket, and comments both ways.
        rest(
            "POST",
            "/tickets.json",
            Some(
                json!({"ticket": {"subject": "Bridged", "comment": {"body": "From acme"},
                                   "sharing_agreement_ids": [sent["sharing_agreement"]["id"]]}}),
            ),
        )
        .await;
        rest(
            "PUT",
            "/tickets/1.json",
            Some(json!({"ticket": {"comment": {"body": "More from acme"}}})),
        )
        .await;
        let state = endpoint_admin(&http, &bridge, "state", Value::Null).await;
        let ticket = &state["tickets"][0];
        let bodies: Vec<&str> = ticket["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, ["From acme", "More from acme"]);
        let pushed = endpoint_admin(
            &http,
            &bridge,
            "comment",
            json!({"ticket": ticket["uuid"], "body": "From the bridge"}),
        )
        .await;
        assert_eq!(pushed["status"], 200, "{pushed}");
        let listed = rest("GET", "/tickets/1/comments.json", None).await;
        let bodies: Vec<&str> = listed["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, ["From acme", "More from acme", "From the bridge"]);

        // The bridge's own invitation is recognised by its sender_url and answered.
        let invited = endpoint_admin(
            &http,
            &bridge,
            "invite",
            json!({"receiver_url": ready["accounts"][0]["sharing_url"]}),
        )
        .await;
        assert_eq!(invited["status"], 201, "{invited}");
        let listing = rest("GET", "/sharing_agreements.json", None).await;
        let inbound = listing["sharing_agreements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "inbound")
            .cloned()
            .expect("the bridge's invitation");
        assert_eq!(inbound["remote_subdomain"], "bridge");
        rest(
            "PUT",
            &format!("/sharing_agreements/{}.json", inbound["id"]),
            Some(json!({"sharing_agreement": {"status": "accepted"}})),
        )
        .await;
        let state = endpoint_admin(&http, &bridge, "state", Value::Null).await;
        let theirs = state["agreements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["uuid"] == invited["uuid"])
            .cloned()
            .unwrap();
        assert_eq!(theirs["status"], "accepted");

        // All of it is in the journal, both directions.
        let events = journal(&http, &ready).await;
        for (from, to, path, at_least) in [
            ("acme", "bridge", "/sharing/agreements/", 2),
            ("acme", "bridge", "/sharing/tickets/", 2),
            ("bridge", "acme", "/sharing/agreements/", 2),
            ("bridge", "acme", "/sharing/tickets/", 1),
        ] {
            assert!(
                count_requests(&events, from, to, path) >= at_least,
                "{from} -> {to} {path}: {events:#?}"
            );
        }
    });
}
