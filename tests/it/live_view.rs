//! The live view of `sharesim serve` (`{control_url}/ui`): refused without the control
//! token, and, in headless Chromium driven over the DevTools protocol while the page
//! stays open, showing an agreement a REST client just made and a certificate changed
//! from one of its own controls, without console errors. Screenshots (wide, phone-width,
//! dark) go to `target/tmp/browser/`; `live-view.png` there is the README's picture.
//! (The DevTools harness is `devtools.rs`.)

use crate::browser::{brightness, chromium, pixel};
use crate::devtools::{Browser, shows};
use crate::support::serve_process;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// reqwest is built without a default TLS provider: every client needs one installed.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A REST client that trusts the served world's CA.
fn rest_client(ca_pem: &[u8]) -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).expect("a PEM certificate")])
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// acme invites globex through acme's REST API, as any API client would.
async fn invite(client: &reqwest::Client, acme: &Value) -> Value {
    let response = client
        .post(format!(
            "{}/sharing_agreements.json",
            acme["api_url"].as_str().unwrap()
        ))
        .basic_auth(
            format!("{}/token", acme["admin_email"].as_str().unwrap()),
            acme["api_token"].as_str(),
        )
        .json(&json!({"sharing_agreement": {"remote_subdomain": "globex"}}))
        .send()
        .await
        .expect("acme answers");
    assert_eq!(response.status(), 201);
    response.json().await.expect("a JSON agreement")
}

/// How many journal events mention `text` (the control API's `GET /journal`).
async fn journal_mentions(control_url: &str, token: &str, text: &str) -> usize {
    let page: Value = reqwest::Client::new()
        .get(format!("{control_url}/journal"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| event["detail"].as_str().is_some_and(|d| d.contains(text)))
        .count()
}

/// Opens the live view and waits until it shows both accounts and follows the stream.
async fn open_live_view(browser: &mut Browser, control_url: &str, token: &str) {
    browser
        .call(
            "Page.navigate",
            json!({"url": format!("{control_url}/ui?token={token}")}),
        )
        .await;
    browser
        .wait_until(
            "both accounts, following the stream",
            &format!(
                "{} && {} && {}",
                shows("article[data-account=acme]"),
                shows("article[data-account=globex]"),
                shows("#connection[data-state=live]")
            ),
        )
        .await;
    assert_eq!(
        browser
            .evaluate("document.querySelectorAll('li.agreement').length")
            .await,
        json!(0),
        "a fresh world has no agreements"
    );
}

/// A REST call makes an agreement; the open page shows both copies.
async fn a_rest_call_shows_both_copies(
    browser: &mut Browser,
    client: &reqwest::Client,
    acme: &Value,
) {
    let made = invite(client, acme).await;
    let called = Instant::now();
    let id = made["sharing_agreement"]["id"].as_u64().expect("an id");
    browser
        .wait_until(
            "acme's new outbound agreement",
            &shows(&format!(
                "article[data-account=acme] li.agreement[data-id='{id}'][data-type=outbound]"
            )),
        )
        .await;
    let latency = called.elapsed();
    eprintln!("live view: the new agreement showed {latency:?} after the REST call answered");
    println!("live view latency: {} ms", latency.as_millis());
    browser
        .wait_until(
            "globex's inbound pending copy and the partner arrows",
            &format!(
                "{} && document.querySelectorAll('#diagram g.sd-msg.sd-partner').length >= 2",
                shows("article[data-account=globex] li.agreement[data-type=inbound][data-status=pending]")
            ),
        )
        .await;
}

/// One of the page's own controls: globex's certificate becomes expired.
async fn the_certificate_control_runs_a_step(
    browser: &mut Browser,
    control_url: &str,
    token: &str,
) {
    assert_eq!(
        browser
            .evaluate(
                "(() => { const s = document.querySelector('article[data-account=globex] select.certificate'); \
                 s.value = 'expired'; s.dispatchEvent(new Event('change')); return s.value; })()"
            )
            .await,
        json!("expired")
    );
    browser
        .wait_until(
            "globex's expired certificate",
            &shows("article[data-account=globex] .badge.cert[data-certificate=expired]"),
        )
        .await;
    // The control ran a real step: the control API says so too.
    let accounts: Value = reqwest::Client::new()
        .get(format!("{control_url}/accounts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts["accounts"][1]["certificate"], "expired");
}

/// The link controls: holding acme → globex is a real `hold` step (the journal
/// records it); releasing it runs a `release` step, whose answer the page shows
/// (nothing was held, so the step says so, and the link stops holding).
async fn the_link_controls_hold_and_release(browser: &mut Browser, control_url: &str, token: &str) {
    let held_before = journal_mentions(control_url, token, "holds messages in flight").await;
    for control in ["hold", "release"] {
        browser
            .evaluate(&format!(
                "document.querySelector('article[data-account=globex] button.{control}[data-from=acme]').click()"
            ))
            .await;
        browser
            .wait_until(
                &format!("the page's answer to the {control} control"),
                &format!(
                    "document.getElementById('message').textContent.startsWith('{control} acme → globex:')"
                ),
            )
            .await;
    }
    assert_eq!(
        journal_mentions(control_url, token, "holds messages in flight").await,
        held_before + 1
    );
}

/// The next invitation fails its handshake; the page learns it from the journal.
async fn a_failed_handshake_shows(browser: &mut Browser, client: &reqwest::Client, acme: &Value) {
    let second = invite(client, acme).await;
    let second_id = second["sharing_agreement"]["id"].as_u64().unwrap();
    browser
        .wait_until(
            "acme's second agreement with ssl_error and a failed arrow",
            &format!(
                "{} && {}",
                shows(&format!(
                    "article[data-account=acme] li.agreement[data-id='{second_id}'][data-status=ssl_error]"
                )),
                shows("#diagram g.sd-msg.sd-partner.sd-failed")
            ),
        )
        .await;
}

/// Screenshots: the README's picture, phone width, dark.
async fn light_phone_and_dark_screenshots(browser: &mut Browser) {
    let wide = browser.screenshot("live-view.png").await;
    let ((width, _), light) = pixel(&wide, 2, 2);
    assert_eq!(width, 1200);
    assert!(brightness(light) > 200, "light page: {light:?}");
    browser.emulate((390, 1200), false).await;
    let phone = browser.screenshot("live-view-phone.png").await;
    let ((width, _), _) = pixel(&phone, 2, 2);
    assert_eq!(width, 390);
    let overflow = browser
        .evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(
        overflow,
        json!(true),
        "nothing but the diagram scrolls sideways"
    );
    browser.emulate((1200, 1500), true).await;
    let dark = browser.screenshot("live-view-dark.png").await;
    let (_, corner) = pixel(&dark, 2, 2);
    assert!(brightness(corner) < 60, "dark page: {corner:?}");
}

#[tokio::test]
async fn the_live_view_follows_rest_clients_and_its_controls_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let served = serve_process(&["--tls"]);
    let ready = served.ready_json();
    let control_url = ready["control_url"].as_str().unwrap().to_string();
    let token = ready["control_token"].as_str().unwrap().to_string();
    let ca = std::fs::read(served.dir.path().join(ready["ca_cert"].as_str().unwrap()))
        .expect("the CA file");
    let client = rest_client(&ca);
    let acme = ready["accounts"][0].clone();
    assert_eq!(acme["subdomain"], "acme");

    let mut browser = Browser::launch(&chromium).await;
    browser.emulate((1200, 1500), false).await;
    open_live_view(&mut browser, &control_url, &token).await;
    a_rest_call_shows_both_copies(&mut browser, &client, &acme).await;
    the_certificate_control_runs_a_step(&mut browser, &control_url, &token).await;
    the_link_controls_hold_and_release(&mut browser, &control_url, &token).await;
    a_failed_handshake_shows(&mut browser, &client, &acme).await;
    light_phone_and_dark_screenshots(&mut browser).await;

    let problems = std::mem::take(&mut browser.problems);
    browser.close().await;
    assert!(
        problems.is_empty(),
        "the page logs no errors: {problems:#?}"
    );
    assert_eq!(served.terminate(), Some(0));
}

#[tokio::test]
async fn the_live_view_and_its_data_are_refused_without_the_token() {
    let served = serve_process(&[]);
    let ready = served.ready_json();
    let control_url = ready["control_url"].as_str().unwrap();
    let token = ready["control_token"].as_str().unwrap();
    install_tls_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.expect("the control API answers");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    };

    for path in [
        "/ui".to_string(),
        "/ui?token=".to_string(),
        format!("/ui?token={}", "0".repeat(token.len())),
        "/ui/view".to_string(),
        format!("/ui/view?token={token}"),
        "/ui/diagram.svg".to_string(),
        format!("/journal/stream?token={token}"),
    ] {
        let (code, body) = status(client.get(format!("{control_url}{path}"))).await;
        assert_eq!(code, 401, "{path}: {body}");
        assert!(!body.contains("acme"), "{path} shows no data: {body}");
    }
    let (code, _) = status(
        client
            .get(format!("{control_url}/ui/view"))
            .bearer_auth("wrong"),
    )
    .await;
    assert_eq!(code, 401);

    // With the token: the page (with its policy), its data and its diagram.
    let page = client
        .get(format!("{control_url}/ui?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("<script src=\"/ui/live.js\" defer></script>"));
    assert!(!html.contains(token), "the page does not repeat the token");
    let (code, view) = status(
        client
            .get(format!("{control_url}/ui/view"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(code, 200);
    let view: Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["accounts"][0]["subdomain"], "acme");
    assert_eq!(view["tls"], false);
    let (code, svg) = status(
        client
            .get(format!("{control_url}/ui/diagram.svg"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(code, 200);
    assert!(svg.starts_with("<svg "), "{svg}");

    // The script and style sheet hold no data, so they need no token.
    for (path, kind) in [
        ("/ui/live.js", "text/javascript"),
        ("/ui/live.css", "text/css"),
    ] {
        let response = client
            .get(format!("{control_url}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
    assert_eq!(served.terminate(), Some(0));
}

/// The journal's partner events, one line each, to explain a failed expectation.
async fn journal_tail(control_url: &str, token: &str) -> String {
    let page: Value = reqwest::Client::new()
        .get(format!("{control_url}/journal?surface=partner"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "\n  {} {} {} {} {}",
                e["seq"], e["kind"], e["path"], e["status"], e["detail"]
            )
        })
        .collect()
}

/// acme invites globex through plain HTTP, returning the answer's status and body.
async fn invite_plain(acme: Value) -> (u16, Value) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!(
            "{}/sharing_agreements.json",
            acme["api_url"].as_str().unwrap()
        ))
        .basic_auth(
            format!("{}/token", acme["admin_email"].as_str().unwrap()),
            acme["api_token"].as_str(),
        )
        .json(&json!({"sharing_agreement": {"remote_subdomain": "globex"}}))
        .send()
        .await
        .expect("acme answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Opens the live view; its own Hold control holds acme → globex.
async fn open_and_hold(browser: &mut Browser, control_url: &str, token: &str) {
    browser
        .open(
            &format!("{control_url}/ui?token={token}"),
            &shows("#connection[data-state=live]"),
        )
        .await;
    browser
        .click("article[data-account=globex] button.hold[data-from=acme]")
        .await;
    browser
        .wait_until(
            "the hold step's answer",
            "document.getElementById('message').textContent.startsWith('hold acme → globex: done')",
        )
        .await;
}

/// Two invitations, one after the other, each waiting in flight.
async fn two_held_invitations(browser: &mut Browser, acme: &Value) -> (Invitation, Invitation) {
    let first = tokio::spawn(invite_plain(acme.clone()));
    browser
        .wait_until(
            "one held message",
            "document.querySelectorAll('#held li.held-message').length === 1",
        )
        .await;
    let second = tokio::spawn(invite_plain(acme.clone()));
    browser
        .wait_until(
            "two held messages",
            "document.querySelectorAll('#held li.held-message').length === 2",
        )
        .await;
    assert!(
        !first.is_finished() && !second.is_finished(),
        "both senders wait"
    );
    (first, second)
}

/// The learner delivers the second one first; a release step names it.
async fn the_second_is_delivered_first(
    browser: &mut Browser,
    control_url: &str,
    token: &str,
    first: &Invitation,
    second: Invitation,
) {
    browser
        .click("#held li.held-message[data-position='2'] button.deliver")
        .await;
    let (status, body) = second.await.expect("the second invitation returns");
    assert_eq!(status, 201);
    assert_eq!(
        body["sharing_agreement"]["status"], "pending",
        "delivered: {body}"
    );
    assert_eq!(body["sharing_agreement"]["id"], 2);
    assert!(!first.is_finished(), "the first is still held");
    browser
        .wait_until(
            "one message left, and the sequence's link",
            "document.querySelectorAll('#held li.held-message').length === 1 && document.getElementById('sequence-link') !== null",
        )
        .await;
    assert_eq!(
        journal_mentions(control_url, token, "release acme → globex (message 2 of 2)").await,
        1,
        "a release step named the chosen message"
    );
}

/// The first invitation, delivered second; both grids reach pending ↔ pending.
async fn the_first_is_delivered_second(
    browser: &mut Browser,
    control_url: &str,
    token: &str,
    first: Invitation,
) {
    browser
        .click("#held li.held-message[data-position='1'] button.deliver")
        .await;
    let (status, body) = first.await.expect("the first invitation returns");
    assert_eq!(
        (status, &body["sharing_agreement"]["status"]),
        (201, &json!("pending")),
        "the first invitation, delivered second: {body}; the journal's partner events: {}",
        journal_tail(control_url, token).await
    );
    browser
        .wait_until(
            "nothing held, two grids at pending ↔ pending",
            "document.querySelectorAll('#held li.held-message').length === 0 && \
             document.querySelectorAll('#grids svg.gr').length === 2 && \
             Array.from(document.querySelectorAll('#grids svg.gr .gr-cell.gr-now')).every(c => c.dataset.cell === '0-0')",
        )
        .await;
}

/// The link reopens the chosen sequence: the diagram shows those journal events.
async fn the_sequence_link_reopens_it(browser: &mut Browser) {
    let href = browser
        .evaluate("document.getElementById('sequence-link').getAttribute('href')")
        .await;
    let range = href
        .as_str()
        .and_then(|h| h.split("#events=").nth(1))
        .expect("the link names a journal range")
        .to_string();
    browser.click("#sequence-link").await;
    browser
        .wait_until(
            "the diagram on the chosen sequence",
            &format!(
                "document.body.dataset.window === '{range}' && document.getElementById('follow').getAttribute('aria-pressed') === 'false'"
            ),
        )
        .await;
    let (first_seq, last_seq) = range.split_once('-').unwrap();
    let drawn = browser
        .evaluate("Array.from(document.querySelectorAll('#diagram [data-seq]')).map(e => Number(e.dataset.seq))")
        .await;
    let drawn: Vec<u64> = drawn
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let (first_seq, last_seq): (u64, u64) = (first_seq.parse().unwrap(), last_seq.parse().unwrap());
    assert!(
        !drawn.is_empty() && drawn.iter().all(|s| (first_seq..=last_seq).contains(s)),
        "{range}: {drawn:?}"
    );
    browser.screenshot("live-view-held.png").await;
}

/// An invitation sent in the background, answering with its status and body.
type Invitation = tokio::task::JoinHandle<(u16, Value)>;

#[tokio::test]
async fn the_learner_chooses_which_held_message_is_delivered_next_in_the_live_view() {
    let Some(chromium) = chromium() else { return };
    // An hour's partner timeout: the held invitations wait for the learner, not the
    // clock. (With two minutes, a machine loaded by parallel builds once let the first
    // invitation time out before the browser delivered it.)
    let served = serve_process(&["--timeout-ms", "3600000"]);
    let ready = served.ready_json();
    let control_url = ready["control_url"].as_str().unwrap().to_string();
    let token = ready["control_token"].as_str().unwrap().to_string();
    let acme = ready["accounts"][0].clone();
    install_tls_provider();

    let mut browser = Browser::launch(&chromium).await;
    browser.emulate((1200, 1400), false).await;
    open_and_hold(&mut browser, &control_url, &token).await;
    let (first, second) = two_held_invitations(&mut browser, &acme).await;
    the_second_is_delivered_first(&mut browser, &control_url, &token, &first, second).await;
    the_first_is_delivered_second(&mut browser, &control_url, &token, first).await;
    the_sequence_link_reopens_it(&mut browser).await;

    let problems = browser.take_problems();
    browser.close().await;
    assert!(
        problems.is_empty(),
        "the page logs no errors: {problems:#?}"
    );
    assert_eq!(served.terminate(), Some(0));
}
