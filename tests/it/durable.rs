//! `serve --state`: SIGKILL in the middle of a burst of REST calls loses no answered
//! call, the state file is never torn, concurrent changes share one sync and all
//! survive, and without `--state` nothing is written.

use crate::support::{next_event, serve_process, serve_process_with};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn client() -> reqwest::Client {
    sharesim::core::tls::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn account(ready: &Value, subdomain: &str) -> Value {
    ready["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["subdomain"] == subdomain)
        .unwrap()
        .clone()
}

async fn create_ticket(http: &reqwest::Client, acme: &Value, subject: &str) -> Option<u64> {
    let response = http
        .post(format!("{}/tickets.json", acme["api_url"].as_str()?))
        .basic_auth(
            format!("{}/token", acme["admin_email"].as_str()?),
            Some(acme["api_token"].as_str()?),
        )
        .json(&json!({"ticket": {"subject": subject, "comment": {"body": "burst"}}}))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["ticket"]["id"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_burst_loses_no_answered_call_and_never_tears_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let served = serve_process(&["--state", &state_arg]);
    let ready = served.ready_json();
    let acme = account(&ready, "acme");
    let http = client();

    // A reader checks the file over and over while it is being replaced.
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (state, stop, reads) = (state.clone(), stop_reading.clone(), reads.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(text) = std::fs::read_to_string(&state) {
                    let parsed: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("a torn state file ({e}): {text}"));
                    assert_eq!(parsed["format"], 1);
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };

    // Eight clients create tickets; once 40 were answered, serve is killed while the
    // others are still in flight.
    let answered: Arc<Mutex<Vec<(u64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let (kill_now, mut kill_signal) = tokio::sync::mpsc::channel::<()>(1);
    let mut clients = Vec::new();
    for client_index in 0..8 {
        let (http, acme, answered, kill_now) = (
            http.clone(),
            acme.clone(),
            answered.clone(),
            kill_now.clone(),
        );
        clients.push(tokio::spawn(async move {
            for n in 0.. {
                let subject = format!("burst {client_index}-{n}");
                match create_ticket(&http, &acme, &subject).await {
                    Some(id) => {
                        let count = {
                            let mut answered = answered.lock().unwrap();
                            answered.push((id, subject));
                            answered.len()
                        };
                        if count >= 40 {
                            let _ = kill_now.try_send(());
                        }
                    }
                    // The server is gone: this client's burst is over.
                    None => return,
                }
            }
        }));
    }
    drop(kill_now);
    kill_signal.recv().await.expect("40 calls were answered");
    served.kill();
    for client in clients {
        client.await.unwrap();
    }
    stop_reading.store(true, Ordering::SeqCst);
    reader.join().expect("every read of the state file parsed");
    assert!(reads.load(Ordering::SeqCst) > 0, "the reader saw the file");
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 40);

    // Restart on the same file: every answered ticket is there, with its id.
    let restarted = serve_process(&["--state", &state_arg]);
    let ready = restarted.ready_json();
    let acme = account(&ready, "acme");
    let response = http
        .get(format!(
            "{}/tickets.json",
            acme["api_url"].as_str().unwrap()
        ))
        .basic_auth(
            format!("{}/token", acme["admin_email"].as_str().unwrap()),
            Some(acme["api_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let restored: std::collections::BTreeMap<u64, String> = body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                t["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (id, subject) in &answered {
        assert_eq!(
            restored.get(id),
            Some(subject),
            "ticket {id} was answered 201"
        );
    }
    // The next ticket continues the numbering instead of reusing an id.
    let next = create_ticket(&http, &acme, "after the restart")
        .await
        .unwrap();
    assert!(restored.keys().all(|id| *id < next), "{next} is new");
    assert_eq!(tickets_on_disk(&state, "acme").len(), restored.len() + 1);
}

/// The subjects of acme's tickets as its REST API lists them (in memory, durable or not).
async fn listed_subjects(http: &reqwest::Client, ready: &Value) -> Vec<String> {
    crate::durable_failures::subjects(http, &crate::durable_failures::acme(ready)).await
}

/// Ten tickets are created at once while a write is held at a test gate (a debug-build
/// hook that holds a batch before its write while the test locks a file): once all ten are
/// made in memory and waiting, the gate opens. Every change that waited goes into the
/// next batch, so the journal gets at most two lines (one fsync each) for ten
/// acknowledged changes, and after a SIGKILL all ten come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_share_one_sync_and_all_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let gate_path = dir.path().join("gate");
    let gate = std::fs::File::create(&gate_path).unwrap();
    gate.lock().unwrap();
    let served = serve_process_with(
        &["--state", &state_arg],
        &[("SHARESIM_TEST_STATE_SYNC_GATE", gate_path.to_str().unwrap())],
    );
    let ready = served.ready_json();
    let acme = account(&ready, "acme");
    let http = client();
    let journal = std::path::PathBuf::from(format!("{state_arg}.journal"));
    // Acme's decisions, followed from before the first create: each ticket made in
    // memory is told here before its write waits at the gate.
    let mut decisions = http
        .get(format!(
            "{}/journal/stream?kind=decision&account=acme",
            ready["control_url"].as_str().unwrap()
        ))
        .bearer_auth(ready["control_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(decisions.status().as_u16(), 200);
    let mut creating = Vec::new();
    for n in 0..10 {
        let (http, acme) = (http.clone(), acme.clone());
        creating.push(tokio::spawn(async move {
            let subject = format!("together {n}");
            (create_ticket(&http, &acme, &subject).await, subject)
        }));
    }
    // Wait until all ten are made, none yet answered.
    let (mut text, mut made) = (String::new(), 0);
    while made < 10 {
        let event = next_event(&mut decisions, &mut text).await;
        made += usize::from(event.contains("created ticket"));
    }
    assert!(creating.iter().all(|task| !task.is_finished()));
    assert_eq!(listed_subjects(&http, &ready).await.len(), 10);
    assert_eq!(std::fs::read(&journal).unwrap(), b"", "nothing written yet");
    gate.unlock().unwrap();
    let mut answered = std::collections::BTreeMap::new();
    for task in creating {
        let (id, subject) = task.await.unwrap();
        answered.insert(id.expect("answered 201"), subject);
    }
    assert_eq!(answered.len(), 10);
    let lines = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!(
        (1..=2).contains(&lines),
        "{lines} journal lines (syncs) for ten changes"
    );
    assert_eq!(tickets_on_disk(&state, "acme").len(), 10);
    served.kill();

    let restarted = serve_process(&["--state", &state_arg]);
    let mut restored = listed_subjects(&http, &restarted.ready_json()).await;
    restored.sort();
    let mut expected: Vec<String> = answered.into_values().collect();
    expected.sort();
    assert_eq!(restored, expected);
}

/// The ids of `subdomain`'s tickets as the files hold them: the snapshot, then each
/// line of its journal (new and changed tickets whole, removed ones by id).
pub fn tickets_on_disk(
    state: &std::path::Path,
    subdomain: &str,
) -> std::collections::BTreeSet<u64> {
    let file: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let account = |value: &Value| {
        value["accounts"]
            .as_array()?
            .iter()
            .find(|a| a["subdomain"] == subdomain)
            .cloned()
    };
    let ids = |value: &Value| -> Vec<u64> {
        value
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|t| t["id"].as_u64().unwrap_or_else(|| t.as_u64().unwrap()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut tickets: std::collections::BTreeSet<u64> =
        ids(&account(&file).unwrap()["state"]["tickets"])
            .into_iter()
            .collect();
    let journal =
        std::fs::read_to_string(format!("{}.journal", state.display())).unwrap_or_default();
    for line in journal.lines() {
        let change: Value = serde_json::from_str(line).unwrap();
        if let Some(account) = account(&change) {
            tickets.extend(ids(&account["tickets"]));
            for gone in ids(&account["removed_tickets"]) {
                tickets.remove(&gone);
            }
        }
    }
    tickets
}

#[tokio::test]
async fn state_survives_a_clean_restart_with_handles() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("nested-state.json");
    let state_arg = state.to_str().unwrap().to_string();
    let served = serve_process(&["--state", &state_arg]);
    let ready = served.ready_json();
    let http = client();
    let control = |ready: &Value, path: &str| {
        (
            format!("{}{path}", ready["control_url"].as_str().unwrap()),
            ready["control_token"].as_str().unwrap().to_string(),
        )
    };
    let (url, token) = control(&ready, "/steps");
    let outcome: Value = http
        .post(url)
        .bearer_auth(token)
        .body(r#"[{"invite":{"from":"acme","to":"globex","as":"esc"}},{"fault":{"account":"acme","status":502}}]"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["passed"], true, "{outcome}");
    assert_eq!(served.terminate(), Some(0));

    let restarted = serve_process(&["--state", &state_arg]);
    let ready = restarted.ready_json();
    let (url, token) = control(&ready, "/steps");
    let outcome: Value = http
        .post(url)
        .bearer_auth(token)
        .body(r#"[{"respond":{"account":"globex","agreement":"esc","status":"accepted"},"expect_status":422},{"expect":{"account":"globex","agreement":"esc","status":"pending"}}]"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The handle `esc` and the fault came back: globex's answer cannot reach acme (502),
    // so its acceptance is rolled back.
    assert_eq!(outcome["passed"], true, "{outcome}");
}

#[tokio::test]
async fn without_state_nothing_is_written() {
    let served = serve_process(&[]);
    let ready = served.ready_json();
    let acme = account(&ready, "acme");
    let http = client();
    assert!(create_ticket(&http, &acme, "no disk").await.is_some());
    let (url, token) = (
        format!("{}/steps", ready["control_url"].as_str().unwrap()),
        ready["control_token"].as_str().unwrap().to_string(),
    );
    let status = http
        .post(url)
        .bearer_auth(token)
        .body(r#"[{"invite":{"from":"acme","to":"globex","as":"esc"}}]"#)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    let names: Vec<String> = std::fs::read_dir(served.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["ready.json"],
        "only the ready file that was asked for"
    );
}
