//! Federation across processes: two `sharesim serve` processes naming each other's
//! accounts with `--partner`, and `serve` with an endpoint written from the README alone
//! (tests/partners/readme_endpoint.py), each in its own process, over real sockets, with
//! everything checked through the REST API, the endpoint's own state and the journal.

use crate::conform::readme_endpoint;
use crate::support::serve_process;
use serde_json::{Value, json};

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
        let http = http_client();
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
        let http = http_client();
        let sent = acme_invites_and_the_bridge_accepts(&http, &ready, &bridge).await;
        a_shared_ticket_syncs_with_the_bridge(&http, &ready, &bridge, &sent).await;
        the_bridges_own_invitation_is_answered(&http, &ready, &bridge).await;
        // A step that would act inside the bridge is refused, and says why.
        let refused = http
            .post(format!("{}/steps", ready["control_url"].as_str().unwrap()))
            .bearer_auth(ready["control_token"].as_str().unwrap())
            .json(&json!([{"ticket": {"account": "bridge", "as": "t", "subject": "No"}}]))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422);
        let refusal: Value = refused.json().await.unwrap();
        assert!(
            refusal["message"]
                .as_str()
                .unwrap()
                .contains("`bridge` is an external account"),
            "{refusal}"
        );
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

/// acme invites the bridge; a person there accepts. Returns acme's copy.
async fn acme_invites_and_the_bridge_accepts(
    http: &reqwest::Client,
    ready: &Value,
    bridge: &Value,
) -> Value {
    let sent = served_rest(
        http,
        ready,
        "POST",
        "/sharing_agreements.json",
        Some(json!({"sharing_agreement": {"remote_subdomain": "bridge"}})),
    )
    .await;
    let state = endpoint_admin(http, bridge, "state", Value::Null).await;
    let uuid = state["agreements"][0]["uuid"].as_str().unwrap().to_string();
    assert_eq!(state["agreements"][0]["status"], "pending");
    let answered = endpoint_admin(
        http,
        bridge,
        "answer",
        json!({"uuid": uuid, "status": "accepted"}),
    )
    .await;
    assert_eq!(answered["status"], 200, "{answered}");
    let copy = served_rest(http, ready, "GET", "/sharing_agreements/1.json", None).await;
    assert_eq!(copy["sharing_agreement"]["status"], "accepted");
    sent
}

fn bodies(comments: &Value) -> Vec<String> {
    comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_string())
        .collect()
}

/// A shared ticket, and comments both ways.
async fn a_shared_ticket_syncs_with_the_bridge(
    http: &reqwest::Client,
    ready: &Value,
    bridge: &Value,
    sent: &Value,
) {
    let ticket = json!({"ticket": {"subject": "Bridged", "comment": {"body": "From acme"},
                                   "sharing_agreement_ids": [sent["sharing_agreement"]["id"]]}});
    served_rest(http, ready, "POST", "/tickets.json", Some(ticket)).await;
    let more = json!({"ticket": {"comment": {"body": "More from acme"}}});
    served_rest(http, ready, "PUT", "/tickets/1.json", Some(more)).await;
    let state = endpoint_admin(http, bridge, "state", Value::Null).await;
    let ticket = &state["tickets"][0];
    assert_eq!(bodies(&ticket["comments"]), ["From acme", "More from acme"]);
    let pushed = endpoint_admin(
        http,
        bridge,
        "comment",
        json!({"ticket": ticket["uuid"], "body": "From the bridge"}),
    )
    .await;
    assert_eq!(pushed["status"], 200, "{pushed}");
    let listed = served_rest(http, ready, "GET", "/tickets/1/comments.json", None).await;
    assert_eq!(
        bodies(&listed["comments"]),
        ["From acme", "More from acme", "From the bridge"]
    );
}

/// The bridge's own invitation is recognised by its sender_url and answered.
async fn the_bridges_own_invitation_is_answered(
    http: &reqwest::Client,
    ready: &Value,
    bridge: &Value,
) {
    let invited = endpoint_admin(
        http,
        bridge,
        "invite",
        json!({"receiver_url": ready["accounts"][0]["sharing_url"]}),
    )
    .await;
    assert_eq!(invited["status"], 201, "{invited}");
    let listing = served_rest(http, ready, "GET", "/sharing_agreements.json", None).await;
    let inbound = listing["sharing_agreements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "inbound")
        .cloned()
        .expect("the bridge's invitation");
    assert_eq!(inbound["remote_subdomain"], "bridge");
    let accept = json!({"sharing_agreement": {"status": "accepted"}});
    let path = format!("/sharing_agreements/{}.json", inbound["id"]);
    served_rest(http, ready, "PUT", &path, Some(accept)).await;
    let state = endpoint_admin(http, bridge, "state", Value::Null).await;
    let theirs = state["agreements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["uuid"] == invited["uuid"])
        .cloned()
        .unwrap();
    assert_eq!(theirs["status"], "accepted");
}

/// A plain HTTP client, as an integrator's tests would use.
fn http_client() -> reqwest::Client {
    sharesim::core::tls::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}
