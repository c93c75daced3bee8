//! Inputs at the edges, each of which once panicked, blocked or was taken as valid:
//! a seed range to 2^64−1, FIFOs, a byte order mark, a huge `Content-Length`, and
//! inconsistent snapshots (issue 23, point 11).

use crate::support::{exit_within, plain_client, serve_process, sharesim};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scenarios/agreements/01-invite-and-accept.toml"
);

#[test]
fn a_seed_range_to_the_largest_u64_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let output = sharesim(
        &["run", "--seeds", "0..18446744073709551615", SCENARIO],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at most 100000"), "{stderr}");
}

/// Runs the binary with `args` in `dir`; its exit code, or None if it ran past `bound`
/// (then it is killed).
fn exit_code_within(
    args: &[&str],
    dir: &std::path::Path,
    bound: Duration,
) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(status) = exit_within(&mut child, bound) {
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        return (status.code(), stderr);
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, String::new())
}

#[test]
fn a_fifo_is_refused_by_check_scenario_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("world.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    for args in [
        vec!["check", fifo],
        vec!["serve", "--scenario", fifo],
        vec!["serve", "--state", fifo],
    ] {
        let (code, stderr) = exit_code_within(&args, dir.path(), Duration::from_secs(30));
        assert_eq!(code, Some(2), "{args:?} did not end: {stderr}");
        assert!(stderr.contains("FIFO"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_state_file_with_a_byte_order_mark_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let arg = state.to_str().unwrap().to_string();
    let served = serve_process(&["--state", &arg, "--scenario", SCENARIO]);
    assert_eq!(served.terminate(), Some(0));
    let text = std::fs::read(&state).unwrap();
    let mut marked = b"\xEF\xBB\xBF".to_vec();
    marked.extend_from_slice(&text);
    std::fs::write(&state, marked).unwrap();
    let restarted = serve_process(&["--state", &arg]);
    let ready = restarted.ready_json();
    let accounts: Value = plain_client()
        .get(format!(
            "{}/accounts",
            ready["control_url"].as_str().unwrap()
        ))
        .bearer_auth(ready["control_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        accounts["accounts"][0]["agreements"],
        json!({"accepted": 1})
    );
}

/// Sends a request head declaring a huge body, and nothing of it; the answer's head.
fn declare_huge_body(addr: &str, path: &str, auth: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: 99999999999999\r\n\r\n"
    )
    .unwrap();
    let mut answer = [0u8; 64];
    let read = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[test]
fn a_huge_content_length_is_answered_413_at_once() {
    let served = serve_process(&[]);
    let ready = served.ready_json();
    let api = url::Url::parse(ready["accounts"][0]["api_url"].as_str().unwrap()).unwrap();
    let addr = format!("127.0.0.1:{}", api.port().unwrap());
    let head = declare_huge_body(&addr, "/api/v2/tickets.json", "");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let control = ready["control_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://");
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        ready["control_token"].as_str().unwrap()
    );
    let head = declare_huge_body(control, "/steps", &auth);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test]
async fn put_snapshot_refuses_inconsistent_snapshots() {
    let served = serve_process(&["--scenario", SCENARIO]);
    let ready = served.ready_json();
    let control = ready["control_url"].as_str().unwrap();
    let token = ready["control_token"].as_str().unwrap();
    let http = plain_client();
    let snapshot: Value = http
        .get(format!("{control}/snapshot"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let put = |body: Value| {
        let http = http.clone();
        async move {
            let answer = http
                .put(format!("{control}/snapshot"))
                .bearer_auth(token)
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut wrapping = snapshot.clone();
    wrapping["accounts"][0]["state"]["next_agreement_id"] = json!(u64::MAX);
    let (status, body) = put(wrapping).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "accounts[0].state.next_agreement_id");
    let mut twice = snapshot.clone();
    let copy = twice["accounts"][0]["state"]["agreements"][0].clone();
    let mut second = copy.clone();
    second["id"] = json!(copy["id"].as_u64().unwrap() + 1);
    twice["accounts"][0]["state"]["agreements"]
        .as_array_mut()
        .unwrap()
        .push(second);
    twice["accounts"][0]["state"]["next_agreement_id"] = json!(100);
    let (status, body) = put(twice).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "accounts[0].state.agreements[1].uuid");
    // Nothing changed, and the real snapshot still restores.
    let (status, body) = put(snapshot).await;
    assert_eq!(status, 200, "{body}");
}
