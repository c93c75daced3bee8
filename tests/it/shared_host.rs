//! `serve` on a shared host, attacked as a hostile local user or a web page would:
//! squatted ports, readable secrets, predictable keys, a spoofed pending quota, foreign
//! `Host` headers and short control tokens (issue 23).

use crate::support::{TestWorld, serve_process, start};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// A squatter of another user (nobody), trying to bind and listen on `port` with
/// `SO_REUSEADDR` and `SO_REUSEPORT` over and over until `stop` exists; it prints how
/// many times it got the port.
fn squatter(port: u16, stop: &std::path::Path) -> std::process::Child {
    let script = format!(
        "import socket, os\nwins = 0\nwhile not os.path.exists({stop:?}):\n    s = socket.socket()\n    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n    try:\n        s.bind(('127.0.0.1', {port}))\n        s.listen(1)\n        wins += 1\n    except OSError:\n        pass\n    s.close()\nprint(wins)\n",
        stop = stop.to_str().unwrap()
    );
    std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv and python3 run")
}

/// Tries once to take `port` as another user would; true if it got it.
fn squat_once(port: u16) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop");
    std::fs::write(&stop, "").unwrap();
    // With the stop file already there the loop does not run: a single try instead.
    let script = format!(
        "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\ntry:\n    s.bind(('127.0.0.1', {port})); s.listen(1); print('won')\nexcept OSError as e:\n    print('refused', e.errno)\n"
    );
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(script)
        .output()
        .expect("setpriv and python3 run");
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        said.starts_with("won") || said.starts_with("refused"),
        "{said}"
    );
    said.starts_with("won")
}

/// globex's REST API answers a listing (on a fresh connection: a restart closes the
/// old ones).
async fn globex_answers(w: &TestWorld) -> u16 {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    http.get(format!(
        "{}/sharing_agreements.json",
        w.account("globex").api_url()
    ))
    .basic_auth(
        "admin@globex.test/token",
        Some(sharesim::world::DEFAULT_API_TOKEN),
    )
    .send()
    .await
    .map_or(0, |r| r.status().as_u16())
}

/// Kills the squatter if the test ends early.
struct Stranger(Option<std::process::Child>);

impl Drop for Stranger {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_down_or_restarting_account_keeps_its_port_from_squatters() {
    let w = start(&["acme", "globex"]).await;
    let port = w.account("globex").addr().unwrap().port();
    w.world.stop_account("globex").await.unwrap();
    assert!(!squat_once(port), "stopped");
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    w.world.start_account("globex").await.unwrap();
    assert_eq!(w.account("globex").addr().unwrap().port(), port);
    assert_eq!(globex_answers(&w).await, 200);

    w.world
        .set_fault(sharesim::core::faults::FaultRule::to(
            "globex",
            sharesim::core::faults::Fault::Down,
        ))
        .await
        .unwrap();
    assert!(!squat_once(port), "down");
    w.world.heal("globex", None).await.unwrap();

    // Another user binding over and over while the account restarts 20 times never
    // gets the port, and every restart keeps it.
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop");
    let mut stranger = Stranger(Some(squatter(port, &stop)));
    for _ in 0..20 {
        w.world.restart_account("globex").await.unwrap();
        assert_eq!(w.account("globex").addr().unwrap().port(), port);
        assert_eq!(globex_answers(&w).await, 200);
    }
    std::fs::write(&stop, "").unwrap();
    let output = stranger.0.take().unwrap().wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "0");
}

#[tokio::test]
async fn secrets_are_private_and_the_token_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let state = dir.path().join("state.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(["serve", "--ready-file"])
        .arg(&ready)
        .arg("--state")
        .arg(&state)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::wait_for_file(&mut child, &ready, Duration::from_secs(20));
    let text = std::fs::read_to_string(&ready).unwrap();
    let token = serde_json::from_str::<Value>(&text).unwrap()["control_token"]
        .as_str()
        .unwrap()
        .to_string();
    for file in [
        "ready.json",
        "state.json",
        "state.json.journal",
        "state.json.lock",
    ] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is readable by its owner only");
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Control API: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&token),
        "the token stays in the ready file: {stdout}"
    );
}

/// The access keys of every agreement in a served world, through its control API.
async fn access_keys(served: &crate::support::Served) -> Vec<String> {
    let ready = served.ready_json();
    let snapshot: Value = reqwest::Client::new()
        .get(format!(
            "{}/snapshot",
            ready["control_url"].as_str().unwrap()
        ))
        .bearer_auth(ready["control_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    snapshot["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["state"]["agreements"].as_array().unwrap().clone())
        .map(|a| a["access_key"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_scenario_seed_does_not_make_serve_predictable() {
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/agreements/01-invite-and-accept.toml"
    );
    // The file says `seed = 7`: two serves of it still draw different keys, and the
    // ready file says no seed was used.
    let first = serve_process(&["--scenario", scenario]);
    let second = serve_process(&["--scenario", scenario]);
    assert_eq!(first.ready_json()["seed"], Value::Null);
    let (a, b) = (access_keys(&first).await, access_keys(&second).await);
    assert!(!a.is_empty());
    assert_ne!(a, b, "keys come from the OS");
    // `--seed` is the one way to reproduce keys, and the ready file says so.
    let seeded = serve_process(&["--scenario", scenario, "--seed", "3"]);
    let again = serve_process(&["--scenario", scenario, "--seed", "3"]);
    assert_eq!(seeded.ready_json()["seed"], 3);
    assert_eq!(access_keys(&seeded).await, access_keys(&again).await);
}

fn forged_invitation(n: usize, claimed_sender_url: &str) -> (String, String) {
    let uuid = format!("{n:0>40x}");
    let body = json!({
        "uuid": uuid,
        "name": "forged",
        "access_key": "a".repeat(40),
        "sender_url": claimed_sender_url,
        "status": "pending",
    });
    (uuid, body.to_string())
}

#[tokio::test]
async fn a_claimed_sender_cannot_spend_a_verified_senders_pending_quota() {
    let w = start(&["acme", "globex"]).await;
    let acme_url = w.account("acme").loopback_sharing_url();
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Ticket-Sharing-Version", "1"),
    ];
    for n in 0..100 {
        let (uuid, body) = forged_invitation(n, &acme_url);
        let path = format!("/agreements/{uuid}");
        let answer = w
            .partner("globex", "POST", &path, &headers, Some(body))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    let (uuid, body) = forged_invitation(100, &acme_url);
    let refused = w
        .partner(
            "globex",
            "POST",
            &format!("/agreements/{uuid}"),
            &headers,
            Some(body),
        )
        .await;
    assert_eq!(
        refused.status, 429,
        "the unproven share is full: {}",
        refused.text
    );
    // acme's own invitation still gets through: its share is its own.
    assert_eq!(w.invite("acme", "globex").await["status"], "pending");
    let real: Vec<_> = w
        .account("globex")
        .agreements()
        .into_iter()
        .filter(|a| a.name != "forged")
        .collect();
    assert_eq!(real.len(), 1);
    assert_eq!(real[0].status.to_string(), "pending");

    // A web page's cross-origin POST (text/plain, no preflight) is refused.
    let (uuid, body) = forged_invitation(101, &acme_url);
    let from_page = w
        .partner(
            "globex",
            "POST",
            &format!("/agreements/{uuid}"),
            &[
                ("Content-Type", "text/plain"),
                ("Origin", "http://evil.example"),
            ],
            Some(body),
        )
        .await;
    assert_eq!(from_page.status, 403, "{}", from_page.text);
}

#[tokio::test]
async fn neither_api_answers_a_foreign_host() {
    let served = serve_process(&[]);
    let ready = served.ready_json();
    let http = reqwest::Client::new();
    let acme = &ready["accounts"][0];
    let rebound = http
        .get(format!(
            "{}/sharing_agreements.json",
            acme["api_url"].as_str().unwrap()
        ))
        .header("Host", "evil.example")
        .basic_auth(
            format!("{}/token", acme["admin_email"].as_str().unwrap()),
            Some(acme["api_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 421);
    let control = ready["control_url"].as_str().unwrap();
    let token = ready["control_token"].as_str().unwrap();
    let rebound = http
        .get(format!("{control}/accounts"))
        .header("Host", "evil.example:80")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 421);
    let body: Value = rebound.json().await.unwrap();
    assert_eq!(body["error"], "wrong_host");
    // Loopback names pass.
    let port = url::Url::parse(control).unwrap().port().unwrap();
    let local = http
        .get(format!("{control}/accounts"))
        .header("Host", format!("localhost:{port}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(local.status().as_u16(), 200);
}

#[test]
fn a_short_control_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = crate::support::sharesim(&["serve", "--control-token", "x"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
}
