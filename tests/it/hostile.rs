//! Attacks a stranger on the host can make against a served world, each reproduced
//! over real loopback sockets, and shown to do no harm.

use crate::support::{TestWorld, serve_process, start_with};
use serde_json::{Value, json};
use sharesim::world::{AccountSpec, WorldConfig};
use std::time::Duration;

/// A client for a served world, as a stranger or an admin would use it.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// The REST base and sharing URL of one account in a ready file.
fn urls(ready: &Value, index: usize) -> (String, String) {
    let account = &ready["accounts"][index];
    (
        account["api_url"].as_str().expect("api_url").to_string(),
        account["sharing_url"]
            .as_str()
            .expect("sharing_url")
            .to_string(),
    )
}

/// What a stranger predicts for acme's first agreement: they run the same step in a
/// world of their own with the default seed, and read the uuid and key it drew.
async fn predicted_uuid_and_key(seed: Option<u64>) -> (String, String) {
    let w = world_with_seed(seed).await;
    w.invite("acme", "globex").await;
    let copy = w.account("acme").agreements().remove(0);
    w.world.shutdown().await;
    (copy.uuid.to_string(), copy.access_key.to_string())
}

async fn world_with_seed(seed: Option<u64>) -> TestWorld {
    start_with(
        WorldConfig {
            seed,
            timeout: Duration::from_millis(2_000),
            ..WorldConfig::default()
        },
        vec![AccountSpec::new("acme"), AccountSpec::new("globex")],
    )
    .await
}

/// Invites globex from acme through a served world's REST API.
async fn invite_on_served(http: &reqwest::Client, acme_api: &str) -> Value {
    let created = http
        .post(format!("{acme_api}/sharing_agreements.json"))
        .basic_auth("admin@acme.test/token", Some("sharesim-token"))
        .json(&json!({"sharing_agreement": {"remote_subdomain": "globex"}}))
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), 201);
    created.json().await.expect("json")
}

async fn status_on_served(http: &reqwest::Client, api: &str, email: &str) -> Vec<String> {
    let list: Value = http
        .get(format!("{api}/sharing_agreements.json"))
        .basic_auth(format!("{email}/token"), Some("sharesim-token"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    list["sharing_agreements"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The forged acceptance a stranger sends to acme, claiming to be globex.
async fn forge_acceptance(
    http: &reqwest::Client,
    acme_sharing: &str,
    uuid: &str,
    key: &str,
) -> u16 {
    http.put(format!("{acme_sharing}/agreements/{uuid}"))
        .header("X-Ticket-Sharing-Version", "1")
        .header("X-Ticket-Sharing-Token", format!("{uuid}:{key}"))
        .json(&json!({"uuid": uuid, "status": "accepted"}))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[tokio::test]
async fn with_a_seed_tokens_are_predictable_so_the_ready_file_says_so() {
    // The attack itself: `--seed 0` is reproducible, so a stranger can predict the token
    // and accept on globex's behalf. This is why it is not the default.
    let served = serve_process(&["--seed", "0"]);
    let ready = served.ready_json();
    assert_eq!(ready["seed"], json!(0));
    let (acme_api, acme_sharing) = urls(&ready, 0);
    let http = client();
    invite_on_served(&http, &acme_api).await;
    let (uuid, key) = predicted_uuid_and_key(Some(0)).await;
    assert_eq!(
        forge_acceptance(&http, &acme_sharing, &uuid, &key).await,
        200
    );
    assert_eq!(
        status_on_served(&http, &acme_api, "admin@acme.test").await,
        ["accepted"]
    );
}

#[tokio::test]
async fn without_a_seed_a_stranger_cannot_forge_a_partner_token() {
    let served = serve_process(&[]);
    let ready = served.ready_json();
    assert_eq!(ready["seed"], Value::Null, "{ready}");
    let (acme_api, acme_sharing) = urls(&ready, 0);
    let (globex_api, globex_sharing) = urls(&ready, 1);
    let http = client();
    invite_on_served(&http, &acme_api).await;
    let (uuid, key) = predicted_uuid_and_key(Some(0)).await;
    // Neither the documented uuid formula nor the seed-0 key names the real agreement.
    assert_eq!(
        forge_acceptance(&http, &acme_sharing, &uuid, &key).await,
        404
    );
    let deactivation = http
        .put(format!("{globex_sharing}/agreements/{uuid}"))
        .header("X-Ticket-Sharing-Token", format!("{uuid}:{key}"))
        .json(&json!({"uuid": uuid, "status": "inactive", "deactivated_by": "sender"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(deactivation.status(), 404);
    assert_eq!(
        status_on_served(&http, &acme_api, "admin@acme.test").await,
        ["pending"]
    );
    assert_eq!(
        status_on_served(&http, &globex_api, "admin@globex.test").await,
        ["pending"]
    );
}

#[tokio::test]
async fn unseeded_worlds_draw_different_keys_and_uuids_every_time() {
    let first = predicted_uuid_and_key(None).await;
    let second = predicted_uuid_and_key(None).await;
    let seeded = predicted_uuid_and_key(Some(0)).await;
    assert_ne!(first.0, second.0);
    assert_ne!(first.1, second.1);
    assert_ne!(first.0, seeded.0);
    assert_ne!(first.1, seeded.1);
    // Seeded worlds stay reproducible.
    assert_eq!(seeded, predicted_uuid_and_key(Some(0)).await);
}

#[tokio::test]
async fn a_squatted_uuid_does_not_block_the_real_invitation() {
    let w = world_with_seed(None).await;
    let acme = w.account("acme");
    // The stranger claims the uuid the documented formula gives acme's next agreement.
    let guessed = sharesim::core::model::protocol_uuid(&acme.sharing_url(), "agreements", 1);
    let squat = w
        .partner(
            "globex",
            "POST",
            &format!("/agreements/{guessed}"),
            &[("Content-Type", "application/json")],
            Some(
                json!({
                    "uuid": guessed,
                    "name": "Acme @ Zendesk",
                    "sender_url": acme.sharing_url(),
                    "access_key": "f".repeat(40),
                    "status": "pending",
                })
                .to_string(),
            ),
        )
        .await;
    assert_eq!(squat.status, 201, "{}", squat.text);
    let sent = w.invite("acme", "globex").await;
    assert_eq!(sent["status"], "pending", "{sent}");
    let real_uuid = acme.agreements()[0].uuid.clone();
    assert_ne!(real_uuid, guessed);
    // globex holds both invitations; answering the real one reaches acme.
    let globex = w.account("globex");
    let real_id = globex
        .agreement_by_uuid(&real_uuid)
        .expect("the real invitation arrived")
        .id;
    let accepted = w.set_status("globex", &json!(real_id), "accepted").await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let acme_view = w.only_agreement("acme").await;
    assert_eq!(acme_view["status"], "accepted");
    // The only copy without a partner is the stranger's own.
    let divergences = w.world.divergences();
    assert!(
        divergences.iter().all(|d| d.uuid == guessed),
        "{divergences:?}"
    );
}

/// A loopback listener that counts the connections it accepts and answers every request
/// with `answer(path)`; stands in for a hostile partner or a bystander service.
struct Bystander {
    addr: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn bystander(
    answer: impl Fn(&str) -> axum::response::Response + Clone + Send + Sync + 'static,
) -> Bystander {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    let response = answer(request.uri().path());
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Bystander { addr, connections }
}

impl Bystander {
    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn redirect_to(location: String) -> axum::response::Response {
    axum::response::Response::builder()
        .status(307)
        .header("Location", location)
        .body(axum::body::Body::empty())
        .expect("a response")
}

#[tokio::test]
async fn a_stranger_sender_url_outside_the_world_is_never_contacted() {
    let w = world_with_seed(None).await;
    let victim = bystander(|_| axum::response::Response::new(axum::body::Body::empty())).await;
    let uuid = "b".repeat(40);
    let invited = w
        .partner(
            "acme",
            "POST",
            &format!("/agreements/{uuid}"),
            &[("Content-Type", "application/json")],
            Some(
                json!({
                    "uuid": uuid,
                    "name": "Evil @ Zendesk",
                    "sender_url": format!("http://{}/sharing", victim.addr),
                    "access_key": "e".repeat(40),
                })
                .to_string(),
            ),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let copy = w.only_agreement("acme").await;
    assert_eq!(copy["remote_subdomain"], Value::Null);
    // The admin accepts: the answer would go to the bystander, so it is refused.
    let accepted = w.set_status("acme", &copy["id"], "accepted").await;
    assert_eq!(accepted.status, 422, "{}", accepted.text);
    assert!(
        accepted.text.contains("is not a simulated account"),
        "{}",
        accepted.text
    );
    assert_eq!(w.only_agreement("acme").await["status"], "pending");
    assert_eq!(victim.connections(), 0);
}

#[tokio::test]
async fn redirects_may_not_leave_the_partners_own_host() {
    let w = world_with_seed(None).await;
    let victim = bystander(|_| axum::response::Response::new(axum::body::Body::empty())).await;
    let victim_url = format!("http://{}/steal", victim.addr);
    let globex_url = format!(
        "{}/agreements/x",
        w.account("globex").loopback_sharing_url()
    );
    // A partner in the directory that answers with redirects chosen by the path.
    let evil = bystander(move |path| match path {
        "/sharing/to-victim" => redirect_to(victim_url.clone()),
        "/sharing/to-globex" => redirect_to(globex_url.clone()),
        "/sharing/to-self" => redirect_to("/sharing/landed".to_string()),
        _ => axum::response::Response::new(axum::body::Body::from("{}")),
    })
    .await;
    let directory = &w.world.services().directory;
    directory.insert(
        "evil",
        sharesim::core::directory::Listing {
            display_name: "Evil".into(),
            addr: Some(evil.addr),
            https: false,
            external: None,
        },
    );
    let transport = &w.world.services().transport;
    let send = |path: &str| sharesim::core::transport::Message {
        from: "acme".into(),
        method: reqwest::Method::PUT,
        url: sharesim::core::transport::Destination::parse(format!(
            "http://evil.sharesim.test/sharing/{path}"
        )),
        token: Some("secret-token".to_string()),
        body: Some(sharesim::core::transport::Body::json(
            &json!({"status": "accepted"}),
            sharesim::core::transport::Shown {
                status: Some("accepted".into()),
                ..Default::default()
            },
        )),
    };
    let to_victim = transport
        .deliver(&send("to-victim"))
        .await
        .expect_err("refused");
    assert_eq!(to_victim.status.to_string(), "configuration_error");
    assert!(
        to_victim.cause.contains("refused to follow the redirect"),
        "{}",
        to_victim.cause
    );
    assert_eq!(victim.connections(), 0);
    let globex_before = w.world.trace().events().len();
    let to_globex = transport
        .deliver(&send("to-globex"))
        .await
        .expect_err("refused");
    assert!(
        to_globex
            .cause
            .contains("may only redirect to its own host"),
        "{}",
        to_globex.cause
    );
    // globex never saw the message: no REST or partner request reached it.
    assert!(
        w.world.trace().events()[globex_before..]
            .iter()
            .all(|e| e.to != "globex"),
    );
    // A redirect on the partner's own host is followed, as the reference client does.
    let own = transport.deliver(&send("to-self")).await;
    assert!(own.is_ok(), "{own:?}");
}

#[tokio::test]
async fn a_strangers_host_name_is_never_resolved() {
    let w = world_with_seed(None).await;
    let acme_port = w.account("acme").addr().expect("listening").port();
    // `localhost` resolves to acme's address through the system resolver; through the
    // directory it names nobody, so the copy is not tied to acme.
    for (uuid, sender_url) in [
        (
            "c".repeat(40),
            format!("http://localhost:{acme_port}/sharing"),
        ),
        (
            "d".repeat(40),
            "http://resolver-probe.invalid/sharing".to_string(),
        ),
    ] {
        let invited = w
            .partner(
                "globex",
                "POST",
                &format!("/agreements/{uuid}"),
                &[("Content-Type", "application/json")],
                Some(
                    json!({
                        "uuid": uuid,
                        "name": "Who @ Zendesk",
                        "sender_url": sender_url,
                        "access_key": "a".repeat(40),
                    })
                    .to_string(),
                ),
            )
            .await;
        assert_eq!(invited.status, 201, "{}", invited.text);
    }
    let list = w
        .rest(
            "globex",
            "admin",
            "GET",
            "/api/v2/sharing_agreements.json",
            None,
        )
        .await;
    let subdomains: Vec<&Value> = list.body["sharing_agreements"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| &a["remote_subdomain"])
        .collect();
    assert_eq!(subdomains, [&Value::Null, &Value::Null], "{}", list.text);
}

/// A 1.9 MB JSON body with ~150,000 fields under the agreement envelope.
fn huge_body() -> String {
    let mut fields = serde_json::Map::new();
    for index in 0..88_000 {
        fields.insert(format!("k{index}"), json!([index, "x"]));
    }
    json!({ "sharing_agreement": fields }).to_string()
}

/// Bytes one event may retain whatever the call: its clipped strings (at most four
/// bytes a character) and the event itself.
fn event_bound() -> usize {
    use sharesim::core::limits::*;
    // The strings, and the wire the exchange view keeps: the body's first bytes and a
    // few clipped headers.
    std::mem::size_of::<sharesim::core::trace::Event>()
        + 4 * (5 * (MAX_TRACE_NAME_CHARS + 1) + MAX_TRACE_PATH_CHARS + MAX_TRACE_DETAIL_CHARS + 3)
        + MAX_TRACE_BODY_BYTES
        + 8 * (4 * 256 + 64)
}

#[tokio::test]
async fn a_flood_of_large_calls_leaves_a_bounded_trace() {
    let w = world_with_seed(None).await;
    let body = huge_body();
    assert!(
        (1_800_000..2_000_000).contains(&body.len()),
        "{}",
        body.len()
    );
    let long_path = format!("/api/v2/sharing_agreements/{}", "p".repeat(8_000));
    let calls = 20;
    for index in 0..calls {
        let path = if index % 2 == 0 {
            "/api/v2/sharing_agreements.json"
        } else {
            long_path.as_str()
        };
        let anonymous = w
            .rest_as("acme", None, "POST", path, Some(body.clone()))
            .await;
        assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    }
    // Admins' large bodies are read, refused, and summarised in a few fields.
    let admin = w
        .rest_as(
            "acme",
            Some(("admin@acme.test", "sharesim-token")),
            "POST",
            "/api/v2/sharing_agreements.json",
            Some(body.clone()),
        )
        .await;
    assert_eq!(admin.status, 422, "{}", admin.text);
    let trace = w.world.trace();
    let events = trace.events();
    assert_eq!(events.len(), 2 * (calls + 1));
    assert!(
        events.iter().all(|e| e.retained_bytes() <= event_bound()),
        "an event over {} bytes",
        event_bound()
    );
    assert!(trace.retained_bytes() <= events.len() * event_bound());
    let summary = &events[events.len() - 2].detail;
    assert!(summary.ends_with("more)"), "{summary}");
    // Nothing was stored.
    assert!(w.account("acme").agreements().is_empty());
}

fn stranger_invitation(index: usize, name: &str) -> (String, String) {
    let uuid = format!("{index:040x}");
    let body = json!({
        "uuid": uuid,
        "name": name,
        "sender_url": "http://stranger.example/sharing",
        "access_key": "a".repeat(40),
    })
    .to_string();
    (uuid, body)
}

#[tokio::test]
async fn pending_invitations_and_their_strings_are_bounded() {
    let w = world_with_seed(None).await;
    let limit = sharesim::core::limits::MAX_PENDING_INBOUND;
    let post = |index: usize, name: String| {
        let (uuid, body) = stranger_invitation(index, &name);
        let w = &w;
        async move {
            w.partner(
                "globex",
                "POST",
                &format!("/agreements/{uuid}"),
                &[],
                Some(body),
            )
            .await
        }
    };
    let too_long = post(0, "n".repeat(sharesim::core::limits::MAX_NAME_CHARS + 1)).await;
    assert_eq!(too_long.status, 422, "{}", too_long.text);
    assert!(
        too_long.text.contains("name is 256 characters long"),
        "{}",
        too_long.text
    );
    assert!(w.account("globex").agreements().is_empty());
    for index in 1..=limit {
        assert_eq!(post(index, "Stranger".into()).await.status, 201);
    }
    let refused = post(limit + 1, "Stranger".into()).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.text.contains("already pending"), "{}", refused.text);
    let listed = w
        .rest(
            "globex",
            "admin",
            "GET",
            "/api/v2/sharing_agreements.json",
            None,
        )
        .await;
    assert_eq!(
        listed.body["sharing_agreements"].as_array().map(Vec::len),
        Some(limit)
    );
    // Declining one makes room again; other senders' invitations are never refused.
    let declined = w.set_status("globex", &json!(1), "declined").await;
    assert_eq!(declined.status, 422, "{}", declined.text); // its sender cannot be told
    let deleted = w
        .rest(
            "globex",
            "admin",
            "DELETE",
            "/api/v2/sharing_agreements/1.json",
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(post(limit + 2, "Stranger".into()).await.status, 201);
    w.invite("acme", "globex").await;
    assert_eq!(w.account("globex").agreements().len(), limit + 1);
}

#[tokio::test]
async fn rest_strings_over_their_limits_are_422_and_change_nothing() {
    let w = world_with_seed(None).await;
    let long_name = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/sharing_agreements.json",
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex", "name": "n".repeat(256)}})),
        )
        .await;
    assert_eq!(long_name.status, 422, "{}", long_name.text);
    assert_eq!(long_name.body["details"]["name"][0]["error"], "TooLong");
    let long_subject = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/tickets.json",
            Some(json!({"ticket": {"subject": "s".repeat(1_025), "comment": {"body": "hi"}}})),
        )
        .await;
    assert_eq!(long_subject.status, 422, "{}", long_subject.text);
    assert_eq!(
        long_subject.body["details"]["subject"][0]["error"],
        "TooLong"
    );
    let many_tags = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/tickets.json",
            Some(json!({"ticket": {"subject": "s", "tags": vec!["t"; 101], "comment": {"body": "hi"}}})),
        )
        .await;
    assert_eq!(many_tags.status, 422, "{}", many_tags.text);
    assert!(w.account("acme").agreements().is_empty());
    let tickets = w
        .rest("acme", "admin", "GET", "/api/v2/tickets.json", None)
        .await;
    assert_eq!(tickets.body["tickets"], json!([]), "{}", tickets.text);
}

#[tokio::test]
async fn strangers_do_not_spend_the_rate_limit_and_unknown_paths_carry_its_headers() {
    let w = start_with(
        WorldConfig {
            rate_limit: Some(3),
            ..WorldConfig::default()
        },
        vec![AccountSpec::new("acme")],
    )
    .await;
    for _ in 0..10 {
        let anonymous = w
            .rest_as("acme", None, "GET", "/api/v2/sharing_agreements.json", None)
            .await;
        assert_eq!(anonymous.status, 401);
        assert_eq!(anonymous.headers["x-rate-limit-remaining"], "3");
    }
    let unknown = w
        .rest("acme", "admin", "GET", "/api/v2/nothing_here", None)
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.headers["x-rate-limit"], "3");
    assert_eq!(unknown.headers["x-rate-limit-remaining"], "2");
    let listed = w
        .rest(
            "acme",
            "agent",
            "GET",
            "/api/v2/sharing_agreements.json",
            None,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.headers["x-rate-limit-remaining"], "1");
}

#[tokio::test]
async fn a_kelvin_sign_is_not_the_subdomain_k() {
    let w = world_with_seed(None).await;
    let kelvin = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/sharing_agreements.json",
            Some(json!({"sharing_agreement": {"remote_subdomain": "\u{212A}"}})),
        )
        .await;
    assert_eq!(kelvin.status, 422, "{}", kelvin.text);
    assert_eq!(
        kelvin.body["details"]["remote_subdomain"][0]["error"],
        "InvalidValue"
    );
    assert!(w.account("acme").agreements().is_empty());
}
