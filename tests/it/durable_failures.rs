//! `serve --state` when things go wrong: refused requests write nothing, a write costs
//! what changed, a change that cannot be made durable is undone and answered 503, a
//! second serve is refused, and planted temporary files are never followed (issue 23,
//! points 6, 7 and 8).

use crate::durable::tickets_on_disk;
use crate::support::{Served, serve_process, serve_process_with};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub(crate) struct Acme {
    api: String,
    user: String,
    token: String,
}

/// Acme (the first account) as its admin reaches it.
pub(crate) fn acme(ready: &Value) -> Acme {
    let acme = &ready["accounts"][0];
    Acme {
        api: acme["api_url"].as_str().unwrap().to_string(),
        user: format!("{}/token", acme["admin_email"].as_str().unwrap()),
        token: acme["api_token"].as_str().unwrap().to_string(),
    }
}

async fn create(http: &reqwest::Client, acme: &Acme, subject: &str) -> (u16, String) {
    let response = http
        .post(format!("{}/tickets.json", acme.api))
        .basic_auth(&acme.user, Some(&acme.token))
        .json(&json!({"ticket": {"subject": subject, "comment": {"body": "x"}}}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The subjects of acme's tickets as its REST API lists them (in memory, durable or not).
pub(crate) async fn subjects(http: &reqwest::Client, acme: &Acme) -> Vec<String> {
    let body: Value = http
        .get(format!("{}/tickets.json", acme.api))
        .basic_auth(&acme.user, Some(&acme.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap().to_string())
        .collect()
}

fn journal(state: &Path) -> PathBuf {
    PathBuf::from(format!("{}.journal", state.display()))
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn state_in(dir: &tempfile::TempDir) -> (PathBuf, String) {
    let state = dir.path().join("state.json");
    let arg = state.to_str().unwrap().to_string();
    (state, arg)
}

#[tokio::test]
async fn refused_requests_write_nothing_and_a_write_costs_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (state, arg) = state_in(&dir);
    let served = serve_process(&["--state", &arg]);
    let acme = acme(&served.ready_json());
    let http = client();
    let before = (size(&state), size(&journal(&state)));
    for _ in 0..50 {
        let refused = http
            .post(format!("{}/tickets.json", acme.api))
            .json(&json!({"ticket": {"subject": "anonymous"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 401);
        let invalid = http
            .post(format!("{}/tickets.json", acme.api))
            .basic_auth(&acme.user, Some(&acme.token))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(invalid.status().as_u16(), 400);
    }
    assert_eq!(
        (size(&state), size(&journal(&state))),
        before,
        "nothing written"
    );

    // The 2nd and the 202nd ticket add about the same bytes: a write does not grow
    // with the state (the old design rewrote the whole world each time).
    assert_eq!(create(&http, &acme, "first").await.0, 201);
    let one = size(&journal(&state));
    assert_eq!(create(&http, &acme, "second").await.0, 201);
    let second = size(&journal(&state)) - one;
    for n in 0..200 {
        assert_eq!(create(&http, &acme, &format!("filler {n}")).await.0, 201);
    }
    let (snapshot, journal_before) = (size(&state), size(&journal(&state)));
    assert_eq!(create(&http, &acme, "last").await.0, 201);
    let last = size(&journal(&state)) - journal_before;
    assert!(
        last <= second + 64,
        "{last} bytes vs {second} for the second"
    );
    assert!(
        last * 20 < snapshot + journal_before,
        "{last} vs {snapshot}"
    );
    assert_eq!(tickets_on_disk(&state, "acme").len(), 203);
}

#[tokio::test]
async fn a_change_that_cannot_be_made_durable_is_undone_and_answered_503() {
    let dir = tempfile::tempdir().unwrap();
    let (state, arg) = state_in(&dir);
    let flag = dir.path().join("disk-full");
    let served: Served = serve_process_with(
        &["--state", &arg],
        &[("SHARESIM_TEST_STATE_WRITES_FAIL", flag.to_str().unwrap())],
    );
    let ready = served.ready_json();
    let acme = acme(&ready);
    let http = client();
    assert_eq!(create(&http, &acme, "kept").await.0, 201);

    std::fs::write(&flag, "").unwrap();
    let (status, body) = create(&http, &acme, "lost").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("could not be made durable and was undone"),
        "{body}"
    );
    assert_eq!(
        subjects(&http, &acme).await,
        ["kept"],
        "undone in memory too"
    );
    // A control step's change is undone the same way, and answered 503.
    let control = ready["control_url"].as_str().unwrap();
    let token = ready["control_token"].as_str().unwrap();
    let step = |body: &'static str| {
        let http = http.clone();
        async move {
            let answer = http
                .post(format!("{control}/steps"))
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap();
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, error) = step(r#"[{"fault":{"account":"globex","status":502}}]"#).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"], "not_durable", "{error}");
    // A step through the REST API fails where the API answered 503.
    let (status, outcome) = step(r#"[{"invite":{"from":"acme","to":"globex","as":"esc"}}]"#).await;
    assert!(
        status == 503 || outcome["passed"] == false,
        "{status} {outcome}"
    );
    let accounts: Value = http
        .get(format!("{control}/accounts"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for account in accounts["accounts"].as_array().unwrap() {
        assert_eq!(account["agreements"], json!({}), "{account}");
        assert_eq!(account["faults"], json!([]), "{account}");
    }

    // Once the disk has room again, writes go on; after a SIGKILL only what was
    // acknowledged comes back.
    std::fs::remove_file(&flag).unwrap();
    assert_eq!(create(&http, &acme, "after").await.0, 201);
    served.kill();
    let restarted = serve_process(&["--state", &arg]);
    let acme = self::acme(&restarted.ready_json());
    assert_eq!(subjects(&http, &acme).await, ["kept", "after"]);
    assert_eq!(tickets_on_disk(&state, "acme").len(), 2);
}

#[test]
fn a_second_serve_on_the_same_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, arg) = state_in(&dir);
    let first = serve_process(&["--state", &arg]);
    let second = crate::support::sharesim(&["serve", "--state", &arg], dir.path());
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another sharesim serve"),
        "{stderr}"
    );
    drop(first);
}

#[tokio::test]
async fn planted_temporary_files_are_removed_and_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (state, arg) = state_in(&dir);
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    // What a killed serve leaves, and what an attacker plants: both go at start.
    let leftover = dir.path().join(".state.json.4242.0000000000000001.tmp");
    std::fs::write(&leftover, "half a state").unwrap();
    let planted = dir.path().join(".state.json.4243.0000000000000002.tmp");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    std::os::unix::fs::symlink(&victim, journal(&state)).unwrap();
    let served = serve_process(&["--state", &arg]);
    let acme = acme(&served.ready_json());
    let http = client();
    for n in 0..5 {
        assert_eq!(create(&http, &acme, &format!("t{n}")).await.0, 201);
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!leftover.exists() && !planted.exists());
    assert!(
        !std::fs::symlink_metadata(journal(&state))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(tickets_on_disk(&state, "acme").len(), 5);
}
