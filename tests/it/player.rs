//! The step-through player of the HTML report, in headless Chromium driven over the
//! DevTools protocol: real key presses and mouse clicks step through a report that
//! `sharesim run --html` wrote; each step must highlight the trace events the step
//! recorded (read back from the run's JSON-lines trace), show the accounts as they were
//! after it, put the status grid's pair on the right cell, and open the exchange behind
//! an arrow. Screenshots go to `target/tmp/browser/` (`player.png` is the README's).

use crate::browser::chromium;
use crate::devtools::Browser;
use crate::support::sharesim;
use serde_json::{Value, json};
use std::path::Path;

/// The sequence numbers of the events one step recorded, from the run's trace file and
/// the step ranges the page's data island carries.
fn trace_seqs(dir: &Path, stem: &str) -> Vec<u64> {
    std::fs::read_to_string(dir.join(format!("traces/{stem}.jsonl")))
        .expect("the trace was written")
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON event"))
        .filter_map(|event| event["seq"].as_u64())
        .collect()
}

/// The player's state for one section, read from the page.
async fn now(browser: &mut Browser, section: &str) -> Value {
    browser
        .evaluate(&format!(
            "(() => {{ const s = document.getElementById({section}); \
             const box = s.querySelector('figure.diagram .scroll'); \
             return {{ step: Number(s.dataset.step), \
               position: s.querySelector('.player-position').textContent, \
               lit: Array.from(s.querySelectorAll('figure.diagram [data-seq].sd-now')).map(e => Number(e.dataset.seq)), \
               grid: s.querySelector('svg.gr').dataset.now, \
               cell: (s.querySelector('svg.gr .gr-cell.gr-now') || {{dataset: {{}}}}).dataset.cell || '', \
               state: s.querySelector('.player-state').innerText, \
               scrolled: box.scrollTop }}; }})()",
            section = json!(section)
        ))
        .await
}

/// Runs two scenarios into an HTML report and their traces, from the repository as a
/// user would (the page names `scenarios/…` files).
fn write_report(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let html = dir.join("report.html");
    let traces = dir.join("traces");
    let output = sharesim(
        &[
            "run",
            "scenarios/agreements/01-invite-and-accept.toml",
            "scenarios/failures/15-crash-after-store.toml",
            "--jobs",
            "1",
            "--html",
            html.to_str().unwrap(),
            "--trace-dir",
            traces.to_str().unwrap(),
        ],
        root,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

/// The trace events step `n` recorded (from just before its first event when it has a
/// note), of those in `seqs`.
fn step_seqs(steps: &Value, seqs: &[u64], n: usize) -> Vec<u64> {
    let step = &steps[n - 1];
    let from = step["first"].as_u64().unwrap() - u64::from(step["note"] == json!(true));
    let to = step["last"].as_u64().unwrap();
    seqs.iter()
        .copied()
        .filter(|s| (from..=to).contains(s))
        .collect()
}

/// The sequence numbers the player lights, from a state `now` read.
fn lit(state: &Value) -> Vec<u64> {
    state["lit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

/// Steps 1 and 3 light their own events and show the pair's state; the arrow key and
/// the next button move on.
async fn steps_light_their_events(
    browser: &mut Browser,
    accept: &str,
    steps: &Value,
    seqs: &[u64],
) {
    // Step 1: the invitation. Its events are lit, the rest of the diagram is not.
    let first = now(browser, accept).await;
    assert_eq!(first["step"], 1);
    assert_eq!(first["position"], "step 1 of 5");
    let lit_first = lit(&first);
    let range = step_seqs(steps, seqs, 1);
    assert!(!lit_first.is_empty());
    assert!(
        lit_first.iter().all(|seq| range.contains(seq)),
        "{lit_first:?}"
    );
    assert_eq!(
        first["grid"], "0-0",
        "pending ↔ pending after the invitation"
    );
    assert_eq!(first["cell"], "0-0");
    let state = first["state"].as_str().unwrap();
    assert!(
        state.contains("after step 1") && state.contains("pending"),
        "{state}"
    );

    // The arrow key and the next button move on; the answer makes the pair accepted.
    browser.press("ArrowRight", "ArrowRight", 39).await;
    assert_eq!(now(browser, accept).await["step"], 2);
    browser
        .click(&format!("#{accept}-player button[data-go=next]"))
        .await;
    let third = now(browser, accept).await;
    assert_eq!(third["step"], 3);
    assert_eq!(third["grid"], "1-1", "accepted ↔ accepted after the answer");
    let state = third["state"].as_str().unwrap();
    assert!(
        state.contains("accepted") && !state.contains("pending"),
        "{state}"
    );
    let lit_third = lit(&third);
    let range = step_seqs(steps, seqs, 3);
    assert!(!lit_third.is_empty() && lit_third.iter().all(|seq| range.contains(seq)));
}

/// End and Home; the diagram box scrolls to the last step and back.
async fn end_and_home_scroll_the_diagram(browser: &mut Browser, accept: &str) {
    browser.press("End", "End", 35).await;
    let last = now(browser, accept).await;
    assert_eq!(last["step"], 5);
    browser
        .wait_until(
            "the diagram scrolled to the last step",
            &format!(
                "(() => {{ const s = document.getElementById('{accept}'); const box = s.querySelector('figure.diagram .scroll'); \
                 const rule = s.querySelector('g.sd-step[data-step=\"5\"]'); const b = box.getBoundingClientRect(), r = rule.getBoundingClientRect(); \
                 return box.scrollTop > 0 && r.top >= b.top && r.bottom <= b.bottom; }})()"
            ),
        )
        .await;
    browser.press("Home", "Home", 36).await;
    assert_eq!(now(browser, accept).await["step"], 1);
}

/// The crash scenario: after step 2 the receiver holds pending while the sender
/// recorded failed, a divergence cell; a link to a step opens the player there.
async fn a_step_link_opens_the_divergence(browser: &mut Browser, crash: &str) {
    browser
        .call(
            "Runtime.evaluate",
            json!({"expression": format!("location.hash = '#{crash}-step-2'")}),
        )
        .await;
    browser
        .wait_until(
            "the crash scenario at step 2",
            &format!("document.getElementById('{crash}').dataset.step === '2'"),
        )
        .await;
    let crashed = now(browser, crash).await;
    assert_eq!(crashed["cell"], "4-0", "failed ↔ pending");
    let divergence = browser
        .evaluate(&format!(
            "document.querySelector('#{crash} svg.gr .gr-cell.gr-now').classList.contains('gr-divergence')"
        ))
        .await;
    assert_eq!(divergence, json!(true));
    browser.screenshot("player.png").await;
}

/// The exchange behind the invitation's arrow: method, path, headers, both bodies.
async fn a_partner_arrow_opens_its_exchange(browser: &mut Browser, accept: &str) {
    browser
        .click(&format!(
            "#{accept} figure.diagram g.sd-msg.sd-partner[data-kind=request]"
        ))
        .await;
    browser
        .wait_until(
            "the exchange dialog",
            "document.querySelector('dialog.exchange[open]') !== null",
        )
        .await;
    let exchange = browser
        .evaluate(
            "(() => { const d = document.querySelector('dialog.exchange'); return { title: d.querySelector('.exchange-title').textContent, \
             request: d.querySelector('[data-part=request]').innerText, answer: d.querySelector('[data-part=answer]').innerText }; })()",
        )
        .await;
    let title = exchange["title"].as_str().unwrap();
    assert!(
        title.starts_with("acme → globex: POST /sharing/agreements/"),
        "{title}"
    );
    let request = exchange["request"].as_str().unwrap();
    assert!(request.contains("X-Ticket-Sharing-Version\t1"), "{request}");
    assert!(request.contains("X-Sharesim-From\tacme"), "{request}");
    assert!(
        request.contains("\n  \"uuid\": \""),
        "pretty-printed: {request}"
    );
    let answer = exchange["answer"].as_str().unwrap();
    assert!(
        answer.starts_with("Answer") && answer.contains("\n201\n"),
        "{answer}"
    );
    assert!(answer.contains("\"status\": \"pending\""), "{answer}");
    browser.screenshot("player-exchange.png").await;
    browser.press("Escape", "Escape", 27).await;
}

/// A REST exchange shows how the caller authenticated, never the secret.
async fn a_rest_exchange_hides_the_secret(browser: &mut Browser, accept: &str) {
    browser
        .click(&format!(
            "#{accept} figure.diagram g.sd-msg.sd-rest[data-kind=request]"
        ))
        .await;
    browser
        .wait_until("the REST exchange", "document.querySelector('dialog.exchange[open] [data-part=request]') !== null && document.querySelector('dialog.exchange .exchange-title').textContent.includes('/api/v2/')")
        .await;
    let request = browser
        .evaluate("document.querySelector('dialog.exchange [data-part=request]').innerText")
        .await;
    let request = request.as_str().unwrap();
    assert!(
        request.contains("Authorization\tBasic (redacted)"),
        "{request}"
    );
    assert!(!request.contains("sharesim-token"), "{request}");
}

#[tokio::test]
async fn a_report_steps_through_with_keys_and_buttons_and_opens_exchanges() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path());
    let page = format!("file://{}", dir.path().join("report.html").display());
    let mut browser = Browser::launch(&chromium).await;
    browser.emulate((1280, 1000), false).await;
    browser
        .open(&page, "document.documentElement.dataset.players === '2'")
        .await;
    let accept = "s1-01-invite-and-accept";
    let crash = "s2-15-crash-after-store";
    let steps: Value = browser
        .evaluate(&format!(
            "JSON.parse(document.getElementById('{accept}-data').textContent).steps"
        ))
        .await;
    assert_eq!(steps.as_array().map(Vec::len), Some(5));
    let seqs = trace_seqs(dir.path(), "01-invite-and-accept");

    steps_light_their_events(&mut browser, accept, &steps, &seqs).await;
    end_and_home_scroll_the_diagram(&mut browser, accept).await;
    a_step_link_opens_the_divergence(&mut browser, crash).await;
    a_partner_arrow_opens_its_exchange(&mut browser, accept).await;
    a_rest_exchange_hides_the_secret(&mut browser, accept).await;

    let problems = browser.take_problems();
    browser.close().await;
    assert!(
        problems.is_empty(),
        "the page logs no errors: {problems:#?}"
    );
}
