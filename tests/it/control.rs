//! The control API of `sharesim serve`, over real sockets against the built binary:
//! token, steps in the scenario language, journal, stream, verify, snapshot and reset.

use crate::support::{Served, next_event, serve_process};
use serde_json::{Value, json};
use std::time::Duration;

/// A control API client made from a serve process's ready file.
pub(crate) struct Ctl {
    url: String,
    token: String,
    http: reqwest::Client,
    ready: Value,
}

impl Ctl {
    pub(crate) fn of(served: &Served) -> Ctl {
        sharesim::core::tls::install_crypto_provider();
        let ready = served.ready_json();
        Ctl {
            url: ready["control_url"]
                .as_str()
                .expect("control_url")
                .to_string(),
            token: ready["control_token"]
                .as_str()
                .expect("control_token")
                .to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .tls_danger_accept_invalid_certs(true)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            ready,
        }
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("the control API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn steps(&self, steps: Value) -> (u16, Value) {
        self.call("POST", "/steps", Some(steps)).await
    }

    /// The agreements `subdomain`'s REST API lists, as an admin's client reads them.
    pub(crate) async fn listing(&self, subdomain: &str) -> Vec<Value> {
        let account = self.ready["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["subdomain"] == subdomain)
            .expect("the account is in the ready file");
        let response = self
            .http
            .get(format!(
                "{}/sharing_agreements.json",
                account["api_url"].as_str().unwrap()
            ))
            .basic_auth(
                format!("{}/token", account["admin_email"].as_str().unwrap()),
                Some(account["api_token"].as_str().unwrap()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        body["sharing_agreements"].as_array().unwrap().clone()
    }
}

pub(crate) fn statuses(listing: &[Value]) -> Vec<String> {
    listing
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_call_needs_the_bearer_token() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    assert_eq!(ctl.token.len(), 40, "a random 40-hex token: {}", ctl.token);
    let anonymous = ctl
        .http
        .get(format!("{}/accounts", ctl.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let wrong = ctl
        .http
        .post(format!("{}/steps", ctl.url))
        .bearer_auth("not-the-token")
        .body(r#"[{"stop": {"account": "acme"}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    // The refused step did not run: acme still answers.
    let (status, accounts) = ctl.call("GET", "/accounts", None).await;
    assert_eq!(status, 200);
    assert_eq!(accounts["accounts"][0]["subdomain"], "acme");
    assert_eq!(accounts["accounts"][0]["running"], true);
    assert_eq!(
        accounts["accounts"][1]["api_url"],
        ctl.ready["accounts"][1]["api_url"]
    );
}

#[tokio::test]
async fn a_chosen_token_and_port_are_used() {
    let port = {
        // An ephemeral port the OS just handed out and released.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let served = serve_process(&[
        "--control-token",
        "my-secret-of-16-chars",
        "--control-port",
        &port.to_string(),
    ]);
    let ctl = Ctl::of(&served);
    assert_eq!(ctl.token, "my-secret-of-16-chars");
    assert_eq!(ctl.url, format!("http://127.0.0.1:{port}"));
    assert_eq!(ctl.call("GET", "/accounts", None).await.0, 200);
}

#[tokio::test]
async fn steps_run_against_the_live_world_and_handles_persist_between_calls() {
    let served = serve_process(&["--tls"]);
    let ctl = Ctl::of(&served);
    let (status, outcome) = ctl
        .steps(json!([
            {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
            {"expect": {"account": "globex", "agreement": "esc", "status": "pending"}},
        ]))
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["passed"], true);
    assert_eq!(outcome["steps"][0]["action"], "invite");
    assert_eq!(statuses(&ctl.listing("acme").await), ["pending"]);

    // A later call uses the handle `esc`; the certificate flips for real, so the
    // re-sent invitation fails its handshake.
    let (status, outcome) = ctl
        .steps(json!([
            {"deactivate": {"account": "acme", "agreement": "esc"}},
            {"certificate": {"account": "globex", "mode": "expired"}},
            {"invite": {"from": "acme", "to": "globex", "as": "second"}},
            {"expect": {"account": "acme", "agreement": "second", "status": "ssl_error"}},
        ]))
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["passed"], true, "{outcome}");
    assert_eq!(
        statuses(&ctl.listing("acme").await),
        ["inactive", "ssl_error"]
    );
    let (_, outcome) = ctl
        .steps(json!([
            {"certificate": {"account": "globex", "mode": "valid"}},
            {"resend": {"agreement": "second"}},
            {"expect": {"account": "globex", "agreement": "second", "status": "pending"}},
            {"certificate": {"account": "globex", "mode": "expired"}},
        ]))
        .await;
    assert_eq!(outcome["passed"], true, "{outcome}");
    assert_eq!(
        statuses(&ctl.listing("acme").await),
        ["inactive", "pending"]
    );

    // A failing expectation is an outcome with a diff, and later steps do not run.
    let (status, outcome) = ctl
        .steps(json!([
            {"expect": {"account": "acme", "agreement": "esc", "status": "accepted"}},
            {"certificate": {"account": "globex", "mode": "valid"}},
        ]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(outcome["passed"], false);
    assert_eq!(outcome["skipped"], 1);
    assert_eq!(outcome["steps"][0]["diffs"][0]["field"], "status");
    assert_eq!(outcome["steps"][0]["diffs"][0]["expected"], "accepted");
    assert_eq!(outcome["steps"][0]["diffs"][0]["actual"], "inactive");
    let (_, accounts) = ctl.call("GET", "/accounts", None).await;
    assert_eq!(accounts["accounts"][1]["certificate"], "expired");
}

#[tokio::test]
async fn invalid_steps_name_the_step_and_field_and_change_nothing() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    let (status, error) = ctl
        .steps(json!([
            {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
            {"certificate": {"account": "globex", "mode": "rotten"}},
        ]))
        .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"], "invalid_step");
    assert_eq!(error["step"], 1);
    assert_eq!(error["field"], "certificate.mode");
    assert!(
        error["message"].as_str().unwrap().contains("`expired`"),
        "{error}"
    );
    // The valid first step did not run either.
    assert!(ctl.listing("acme").await.is_empty());

    let (status, error) = ctl
        .steps(
            json!([{"respond": {"account": "globex", "agreement": "esc", "status": "accepted"}}]),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        (error["step"].clone(), error["field"].clone()),
        (json!(0), json!("respond.agreement"))
    );
    let (status, error) = ctl.steps(json!([{"stop": {"account": "initech"}}])).await;
    assert_eq!(status, 422);
    assert_eq!(error["field"], "stop.account");
    let (status, error) = ctl.steps(json!({"stop": {"account": "acme"}})).await;
    assert_eq!(status, 422);
    assert!(error.get("step").is_none());

    let raw = ctl
        .http
        .post(format!("{}/steps", ctl.url))
        .bearer_auth(&ctl.token)
        .body("[{")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(ctl.call("GET", "/nowhere", None).await.0, 404);
    let (status, error) = ctl.call("DELETE", "/steps", None).await;
    assert_eq!(
        (status, error["error"].clone()),
        (405, json!("method_not_allowed"))
    );
    // Still nothing happened, and acme still answers.
    assert!(ctl.listing("acme").await.is_empty());
}

#[tokio::test]
async fn the_journal_pages_filters_and_verifies() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    let (_, outcome) = ctl
        .steps(json!([
            {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
            {"respond": {"account": "globex", "agreement": "esc", "status": "accepted"}},
        ]))
        .await;
    assert_eq!(outcome["passed"], true);
    let (status, page) = ctl
        .call("GET", "/journal?surface=partner&kind=request", None)
        .await;
    assert_eq!(status, 200);
    let paths: Vec<(String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("POST".to_string(), "globex".to_string()),
            ("PUT".to_string(), "acme".to_string())
        ]
    );
    // Pages: one event at a time, resuming with `next_since`.
    let (_, first) = ctl.call("GET", "/journal?limit=1", None).await;
    assert_eq!(first["events"][0]["seq"], 1);
    assert_eq!(first["more"], true);
    let next = first["next_since"].as_u64().unwrap();
    let (_, second) = ctl
        .call("GET", &format!("/journal?limit=1&since={next}"), None)
        .await;
    assert_eq!(second["events"][0]["seq"], next + 1);
    let (status, _) = ctl
        .call("GET", "/journal?surface=carrier-pigeon", None)
        .await;
    assert_eq!(status, 400);

    let (status, verdict) = ctl
        .call(
            "POST",
            "/verify",
            Some(json!({"surface": "partner", "kind": "request", "method": "PUT", "account": "acme", "count": 1})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (verdict["count"].clone(), verdict["passed"].clone()),
        (json!(1), json!(true))
    );
    let (_, verdict) = ctl
        .call(
            "POST",
            "/verify",
            Some(json!({"surface": "rest", "status": 201, "at_least": 2})),
        )
        .await;
    assert_eq!(
        (verdict["count"].clone(), verdict["passed"].clone()),
        (json!(1), json!(false))
    );
    let (status, error) = ctl
        .call("POST", "/verify", Some(json!({"colour": "red"})))
        .await;
    assert_eq!(status, 422);
    assert!(
        error["message"].as_str().unwrap().contains("colour"),
        "{error}"
    );
}

#[tokio::test]
async fn the_journal_stream_sends_events_as_they_happen() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    // Two streams with one filter (they share one reader of the journal) and one with
    // another.
    let mut streams = Vec::new();
    for query in ["kind=world", "kind=world", "kind=world&account=acme"] {
        let stream = ctl
            .http
            .get(format!("{}/journal/stream?{query}", ctl.url))
            .bearer_auth(&ctl.token)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status().as_u16(), 200);
        assert_eq!(
            stream.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        streams.push((stream, String::new()));
    }
    // The streams are open before the steps run, so the events can only come live.
    let (_, outcome) = ctl
        .steps(json!([
            {"fault": {"account": "globex", "status": 503}},
            {"fault": {"account": "acme", "status": 502}},
        ]))
        .await;
    assert_eq!(outcome["passed"], true);
    let mut seen = Vec::new();
    for (stream, text) in &mut streams[..2] {
        let event = next_event(stream, text).await;
        assert!(event.contains("event: world"), "{event}");
        let data = event
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .expect("a data line");
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["to"], "globex");
        assert!(data["detail"].as_str().unwrap().contains("503"), "{data}");
        let second = next_event(stream, text).await;
        assert!(second.contains("502"), "{second}");
        seen.push((event, second));
    }
    assert_eq!(
        seen[0], seen[1],
        "both streams of one filter got the same events"
    );
    let (stream, text) = &mut streams[2];
    let only = next_event(stream, text).await;
    assert!(only.contains("502") && !only.contains("503"), "{only}");
}

#[tokio::test]
async fn a_snapshot_restores_what_reset_emptied() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    let (_, outcome) = ctl
        .steps(json!([
            {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
            {"respond": {"account": "globex", "agreement": "esc", "status": "accepted"}},
            {"ticket": {"account": "acme", "as": "t1", "subject": "Printer on fire"}},
            {"share": {"ticket": "t1", "agreement": "esc"}},
            {"fault": {"account": "globex", "latency_ms": 5}},
        ]))
        .await;
    assert_eq!(outcome["passed"], true, "{outcome}");
    let (status, snapshot) = ctl.call("GET", "/snapshot", None).await;
    assert_eq!(status, 200);
    let acme = &snapshot["accounts"][0]["state"];
    assert_eq!(acme["agreements"][0]["status"], "accepted");
    assert_eq!(
        acme["agreements"][0]["access_key"].as_str().unwrap().len(),
        40
    );
    assert_eq!(acme["tickets"][0]["subject"], "Printer on fire");
    assert_eq!(
        snapshot["faults"],
        json!([{"account": "globex", "latency_ms": 5}])
    );
    assert_eq!(snapshot["handles"]["agreements"]["esc"]["account"], "acme");

    let (status, _) = ctl.call("POST", "/reset", None).await;
    assert_eq!(status, 200);
    assert!(ctl.listing("acme").await.is_empty());
    let (_, accounts) = ctl.call("GET", "/accounts", None).await;
    assert_eq!(accounts["accounts"][1]["faults"], json!([]));
    // After a reset the handle is gone.
    let (status, _) = ctl
        .steps(json!([{"expect": {"account": "acme", "agreement": "esc", "status": "accepted"}}]))
        .await;
    assert_eq!(status, 422);

    // A bad snapshot names its field and changes nothing.
    let mut bad = snapshot.clone();
    bad["accounts"][1]["subdomain"] = json!("initech");
    let (status, error) = ctl.call("PUT", "/snapshot", Some(bad)).await;
    assert_eq!(status, 422);
    assert_eq!(error["field"], "accounts[1].subdomain");
    let mut bad = snapshot.clone();
    bad["accounts"][0]["state"]["agreements"][0]["status"] = json!("sideways");
    let (status, error) = ctl.call("PUT", "/snapshot", Some(bad)).await;
    assert_eq!(status, 422);
    assert_eq!(error["field"], "accounts[0].state.agreements[0].status");
    assert!(ctl.listing("acme").await.is_empty());

    let (status, _) = ctl.call("PUT", "/snapshot", Some(snapshot.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(statuses(&ctl.listing("acme").await), ["accepted"]);
    assert_eq!(statuses(&ctl.listing("globex").await), ["accepted"]);
    let (_, again) = ctl.call("GET", "/snapshot", None).await;
    assert_eq!(again, snapshot);
    // The restored world works: handles and keys are live again.
    let (_, outcome) = ctl
        .steps(json!([
            {"comment": {"account": "acme", "ticket": "t1", "body": "Still burning"}},
            {"expect_ticket": {"account": "globex", "ticket": "t1", "comments": [{"body": "Printer on fire"}, {"body": "Still burning"}]}},
        ]))
        .await;
    assert_eq!(outcome["passed"], true, "{outcome}");
}

#[tokio::test]
async fn serve_runs_a_scenario_first_and_keeps_serving_its_world() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("situation.toml");
    std::fs::write(
        &file,
        r#"
name = "a customer's situation"
[accounts.initech]
[accounts.umbrella]
display_name = "Umbrella Corp"

[[steps]]
invite = { from = "initech", to = "umbrella", as = "deal" }
[[steps]]
fault = { account = "umbrella", status = 503 }
"#,
    )
    .unwrap();
    let served = serve_process(&["--scenario", file.to_str().unwrap()]);
    let ctl = Ctl::of(&served);
    let subdomains: Vec<&str> = ctl.ready["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subdomain"].as_str().unwrap())
        .collect();
    assert_eq!(subdomains, ["initech", "umbrella"]);
    assert_eq!(statuses(&ctl.listing("umbrella").await), ["pending"]);
    // The scenario's handle is usable through the control API.
    let (_, outcome) = ctl
        .steps(json!([
            {"respond": {"account": "umbrella", "agreement": "deal", "status": "accepted"}},
            {"expect": {"account": "initech", "agreement": "deal", "status": "failed"}},
        ]))
        .await;
    assert_eq!(outcome["passed"], false, "{outcome}");
    let (_, accounts) = ctl.call("GET", "/accounts", None).await;
    assert_eq!(accounts["accounts"][1]["display_name"], "Umbrella Corp");
    assert_eq!(
        accounts["accounts"][1]["faults"],
        json!([{"account": "umbrella", "status": 503}])
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_and_printed_alike() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    let (status, served_document) = ctl.call("GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(served_document, printed);
    assert_eq!(printed["openapi"], "3.1.0");
    // The control API's step schema is the scenario files' schema of a step.
    let step = &printed["components"]["schemas"]["Step"];
    let schema = sharesim::drivers::scenario::json_schema();
    let file_step = serde_json::to_value(&schema).unwrap()["$defs"]["Step"].clone();
    assert_eq!(
        step["oneOf"].as_array().map(Vec::len),
        file_step["oneOf"].as_array().map(Vec::len)
    );
    assert!(step["oneOf"].as_array().unwrap().len() >= 20);
}

#[tokio::test]
async fn rest_answers_have_exactly_the_fields_the_openapi_document_names() {
    let served = serve_process(&[]);
    let ctl = Ctl::of(&served);
    let (_, outcome) = ctl
        .steps(json!([
            {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
            {"respond": {"account": "globex", "agreement": "esc", "status": "accepted"}},
            {"ticket": {"account": "acme", "as": "t", "subject": "Fields"}},
            {"share": {"ticket": "t", "agreement": "esc"}},
        ]))
        .await;
    assert_eq!(outcome["passed"], true, "{outcome}");
    let document = sharesim::drivers::openapi::document();
    let schemas = &document["components"]["schemas"];
    let acme = &ctl.ready["accounts"][0];
    let get = |path: String| {
        let http = ctl.http.clone();
        let acme = acme.clone();
        async move {
            let response = http
                .get(format!("{}{path}", acme["api_url"].as_str().unwrap()))
                .basic_auth("admin@acme.test/token", Some("sharesim-token"))
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    let keys = |value: &Value| {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let documented = |name: &str| {
        let mut keys: Vec<String> = schemas[name]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let agreements = get("/sharing_agreements.json".into()).await;
    assert_eq!(
        keys(&agreements["sharing_agreements"][0]),
        documented("Agreement")
    );
    let tickets = get("/tickets.json".into()).await;
    assert_eq!(keys(&tickets["tickets"][0]), documented("Ticket"));
    let comments = get("/tickets/1/comments.json".into()).await;
    assert_eq!(keys(&comments["comments"][0]), documented("Comment"));
    let audits = get("/tickets/1/audits.json".into()).await;
    assert_eq!(keys(&audits["audits"][0]), documented("Audit"));
}
