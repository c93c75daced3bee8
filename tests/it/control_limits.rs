//! The control API of `serve` under a flood of idle connections, half-sent requests
//! and long waits: it shares the accounts' connection cap and deadlines, and SIGTERM
//! ends `serve` whatever is in flight (issue 23, point 2).

use crate::support::exit_within;
use serde_json::{Value, json};
use std::io::Write;
use std::time::Duration;

/// `sharesim serve ARGS` under `prlimit PRLIMIT`, up once its ready file is written.
fn serve_limited(prlimit: &str, args: &[&str]) -> (std::process::Child, Value, tempfile::TempDir) {
    sharesim::core::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut child = std::process::Command::new("prlimit")
        .arg(prlimit)
        .arg(env!("CARGO_BIN_EXE_sharesim"))
        .arg("serve")
        .args(args)
        .arg("--ready-file")
        .arg(&ready)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::wait_for_file(&mut child, &ready, Duration::from_secs(20));
    let text = std::fs::read_to_string(&ready).expect("serve started");
    (child, serde_json::from_str(&text).unwrap(), dir)
}

fn control_addr(ready: &Value) -> String {
    ready["control_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_to_the_control_port_cannot_cut_off_the_accounts() {
    // 300 descriptors for the whole process; 250 idle connections to the control port
    // would take them all if the control API accepted without a cap.
    let (mut child, ready, _dir) = serve_limited(
        "--nofile=300:300",
        &["--max-connections", "100", "--header-timeout-ms", "1000"],
    );
    let control = control_addr(&ready);
    let mut idle = Vec::new();
    for _ in 0..250 {
        idle.push(std::net::TcpStream::connect(&control).unwrap());
    }
    let acme = &ready["accounts"][0];
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let listing = http
        .get(format!(
            "{}/sharing_agreements.json",
            acme["api_url"].as_str().unwrap()
        ))
        .basic_auth(
            format!("{}/token", acme["admin_email"].as_str().unwrap()),
            Some(acme["api_token"].as_str().unwrap()),
        )
        .send()
        .await
        .expect("the account still answers");
    assert_eq!(listing.status().as_u16(), 200);
    // The idle ones are closed by the header deadline, and the control API answers.
    let accounts = http
        .get(format!(
            "{}/accounts",
            ready["control_url"].as_str().unwrap()
        ))
        .bearer_auth(ready["control_token"].as_str().unwrap())
        .send()
        .await
        .expect("the control API answers once idle connections are closed");
    assert_eq!(accounts.status().as_u16(), 200);
    let mut first = idle.remove(0);
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut byte = [0u8; 1];
    let read = std::io::Read::read(&mut first, &mut byte);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "an idle connection was closed by the server: {read:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_serve_whatever_the_control_api_is_doing() {
    let (mut child, ready, _dir) = serve_limited("--nofile=1024:1024", &[]);
    let control = control_addr(&ready);
    // A request whose body never finishes.
    let mut half = std::net::TcpStream::connect(&control).unwrap();
    write!(
        half,
        "POST /steps HTTP/1.1\r\nHost: {control}\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n[",
        ready["control_token"].as_str().unwrap()
    )
    .unwrap();
    // A wait that holds the step session for a minute.
    let url = format!("{}/steps", ready["control_url"].as_str().unwrap());
    let token = ready["control_token"].as_str().unwrap().to_string();
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .body(
                json!([
                    {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
                    {"wait": {"until": {"account": "globex", "agreement": "esc", "status": "accepted"}, "timeout_ms": 60000}}
                ])
                .to_string(),
            )
            .send()
            .await
    });
    // The invitation is journaled once the steps run.
    let verify = format!("{}/verify", ready["control_url"].as_str().unwrap());
    let http = reqwest::Client::new();
    loop {
        let verdict: Value = http
            .post(&verify)
            .bearer_auth(ready["control_token"].as_str().unwrap())
            .body(json!({"kind": "request", "surface": "partner", "at_least": 1}).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if verdict["passed"] == true {
            break;
        }
        tokio::task::yield_now().await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    // Well before the wait's own minute, and with the half-sent request still open.
    let code = exit_within(&mut child, Duration::from_secs(30)).and_then(|status| status.code());
    assert_eq!(code, Some(0), "serve ended on SIGTERM");
    drop(half);
    let _ = waiting.await;
}

#[tokio::test]
async fn a_wait_longer_than_a_minute_is_refused_and_nothing_runs() {
    sharesim::core::tls::install_crypto_provider();
    let served = crate::support::serve_process(&[]);
    let ready = served.ready_json();
    let answer = reqwest::Client::new()
        .post(format!("{}/steps", ready["control_url"].as_str().unwrap()))
        .bearer_auth(ready["control_token"].as_str().unwrap())
        .body(
            json!([
                {"invite": {"from": "acme", "to": "globex", "as": "esc"}},
                {"wait": {"until": {"account": "globex", "agreement": "esc", "status": "accepted"}, "timeout_ms": 3_600_000}}
            ])
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 422);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["step"], 1);
    assert_eq!(body["field"], "wait.timeout_ms");
    let accounts: Value = reqwest::Client::new()
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
        json!({}),
        "nothing ran"
    );
}
