//! Clients that hold connections without finishing requests (slowloris, silent TLS,
//! stalled bodies) and a process out of file descriptors: each is cut off or survived
//! while other clients are still served.

use crate::support::{TestWorld, start_with};
use sharesim::core::trace::EventKind;
use sharesim::surfaces::listener::connection_limits::ConnectionLimits;
use sharesim::world::{AccountSpec, WorldConfig};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound on waiting for the server to act: only reached if it never does.
const PATIENCE: Duration = Duration::from_secs(20);

async fn world(https: bool, limits: ConnectionLimits) -> TestWorld {
    start_with(
        WorldConfig {
            https,
            connection_limits: limits,
            ..WorldConfig::default()
        },
        vec![AccountSpec::new("acme")],
    )
    .await
}

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 4,
        header_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_secs(60),
        tls_handshake_timeout: Duration::from_millis(400),
    }
}

async fn connect(w: &TestWorld) -> TcpStream {
    let addr = w.account("acme").addr().expect("listening");
    TcpStream::connect(addr).await.expect("connects")
}

/// Waits until the server closes `stream` (EOF or reset); false if it never does.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(PATIENCE, closed).await.is_ok()
}

/// A slowloris client: starts a request head and trickles header lines, never ending it.
fn slowloris(mut stream: TcpStream) -> tokio::task::JoinHandle<TcpStream> {
    tokio::spawn(async move {
        let _ = stream
            .write_all(b"GET /api/v2/sharing_agreements.json HTTP/1.1\r\nHost: acme\r\n")
            .await;
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..200 {
            ticker.tick().await;
            if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
        }
        stream
    })
}

async fn list_as_admin(w: &TestWorld) -> u16 {
    let call = w.rest(
        "acme",
        "admin",
        "GET",
        "/api/v2/sharing_agreements.json",
        None,
    );
    tokio::time::timeout(PATIENCE, call)
        .await
        .expect("answered while the slow clients hold on")
        .status
}

#[tokio::test]
async fn under_a_slowloris_load_at_the_cap_other_clients_are_still_served() {
    let w = world(false, short_limits()).await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(slowloris(connect(&w).await));
    }
    // Every slot is taken; the admin's call waits in the backlog until the header
    // deadline frees one, and is then answered.
    assert_eq!(list_as_admin(&w).await, 200);
    for task in slow {
        let mut stream = task.await.expect("the slow client ran");
        assert!(closed_by_server(&mut stream).await);
    }
}

#[tokio::test]
async fn below_the_cap_a_slowloris_crowd_does_not_delay_anyone() {
    let w = world(false, ConnectionLimits::default()).await;
    let mut slow = Vec::new();
    for _ in 0..100 {
        slow.push(slowloris(connect(&w).await));
    }
    for _ in 0..5 {
        assert_eq!(list_as_admin(&w).await, 200);
    }
    for task in slow {
        task.abort();
    }
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_before_any_handler_runs() {
    let w = world(false, short_limits()).await;
    let mut stream = connect(&w).await;
    stream
        .write_all(
            b"POST /api/v2/sharing_agreements.json HTTP/1.1\r\nHost: acme\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"shar",
        )
        .await
        .expect("sent");
    assert!(closed_by_server(&mut stream).await);
    let calls = w
        .world
        .trace()
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Request)
        .count();
    assert_eq!(calls, 0, "the half-sent call never reached the API");
    assert_eq!(list_as_admin(&w).await, 200);
}

#[tokio::test]
async fn silent_tls_clients_are_cut_off_after_the_handshake_deadline() {
    let w = world(true, short_limits()).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(connect(&w).await);
    }
    assert_eq!(list_as_admin(&w).await, 200);
    for stream in &mut silent {
        assert!(closed_by_server(stream).await);
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_deadline() {
    let w = world(
        false,
        ConnectionLimits {
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_millis(300),
            ..short_limits()
        },
    )
    .await;
    let mut idle = connect(&w).await;
    assert!(closed_by_server(&mut idle).await);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_change_nothing() {
    let w = world(false, ConnectionLimits::default()).await;
    let body = "x".repeat(sharesim::core::limits::MAX_BODY_BYTES + 1);
    let answer = w
        .rest_as(
            "acme",
            Some(("admin@acme.test", "sharesim-token")),
            "POST",
            "/api/v2/sharing_agreements.json",
            Some(body),
        )
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text);
    assert!(w.account("acme").agreements().is_empty());
}

#[test]
fn out_of_file_descriptors_the_accept_loop_backs_off_and_warns_rarely() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ready = dir.path().join("ready.json");
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("a log file");
    // A descriptor limit low enough that a few dozen connections exhaust it.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec {} serve acme --ready-file {}",
            env!("CARGO_BIN_EXE_sharesim"),
            ready.display()
        ))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("serve starts");
    crate::support::wait_for_file(&mut child, &ready, PATIENCE);
    let text = std::fs::read_to_string(&ready).expect("serve wrote its ready file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let api = json["accounts"][0]["api_url"].as_str().expect("api_url");
    let addr = api
        .trim_start_matches("http://")
        .trim_end_matches("/api/v2")
        .to_string();
    let held: Vec<std::net::TcpStream> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(held.len() > 48, "{} connections", held.len());
    // Let the exhausted accept loop run for a while: a spinning loop writes thousands
    // of warnings in this time.
    std::thread::sleep(Duration::from_millis(1_500));
    drop(held);
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).expect("the log");
    let warnings = log.lines().filter(|l| l.contains("accept failed")).count();
    // And once descriptors are free again, it serves.
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .arg("-u")
        .arg("admin@acme.test/token:sharesim-token")
        .arg(format!("{api}/sharing_agreements.json"))
        .output()
        .expect("curl runs");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} warnings:\n{}",
        log.chars().take(2_000).collect::<String>()
    );
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
}

#[test]
fn serve_refuses_a_zero_limit_with_exit_2() {
    for flag in [
        "--max-connections",
        "--header-timeout-ms",
        "--idle-timeout-ms",
        "--tls-handshake-timeout-ms",
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
            .args(["serve", flag, "0"])
            .output()
            .expect("serve runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains("at least 1"),
            "{stderr}"
        );
    }
}
