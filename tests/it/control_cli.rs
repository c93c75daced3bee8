//! `sharesim ctl` against a served world, endpoint by endpoint, and `sharesim serve`
//! refusing bad scenarios and state files on its command line.

use crate::support::{Served, serve_process};
use serde_json::{Value, json};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Runs `sharesim ctl --ready READY ARGS`; returns the exit code, stdout and stderr.
fn ctl(served: &Served, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .arg("ctl")
        .arg("--ready")
        .arg(&served.ready)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("ctl runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts `sharesim ctl journal --follow --kind world`; its lines arrive on the receiver.
fn follow_world_events(served: &Served) -> (std::process::Child, Receiver<String>) {
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(["ctl", "--ready"])
        .arg(&served.ready)
        .args(["journal", "--follow", "--kind", "world"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the follower starts");
    let stdout = follower.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    (follower, received)
}

/// `ctl step` runs a step (exit 0), a failed expectation exits 1 and a bad step 2.
fn steps_exit_by_their_outcome(served: &Served) {
    let (code, out, err) = ctl(
        served,
        &[
            "step",
            r#"{"invite":{"from":"acme","to":"globex","as":"esc"}}"#,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["steps"][0]["action"], "invite");

    let (code, out, err) = ctl(
        served,
        &[
            "step",
            r#"[{"expect":{"account":"globex","agreement":"esc","status":"accepted"}}]"#,
        ],
    );
    assert_eq!(code, 1, "a failed expectation exits 1: {out}{err}");
    let (code, out, err) = ctl(
        served,
        &[
            "step",
            r#"{"certificate":{"account":"globex","mode":"rotten"}}"#,
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        err.starts_with(
            "sharesim: the control API answered 422: step 0, field `certificate.mode`:"
        ),
        "{err}"
    );
}

/// A fault step; the follower started before it prints its world event live.
fn a_follower_sees_the_fault_live(
    served: &Served,
    mut follower: std::process::Child,
    received: Receiver<String>,
) {
    let (code, out, _) = ctl(
        served,
        &["step", r#"{"fault":{"account":"globex","hang":true}}"#],
    );
    assert_eq!(code, 0, "{out}");
    let line = received
        .recv_timeout(Duration::from_secs(20))
        .expect("the follower prints the fault's event");
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (event["kind"].clone(), event["to"].clone()),
        (json!("world"), json!("globex"))
    );
    let _ = follower.kill();
    let _ = follower.wait();
}

/// `ctl journal` filters by surface; `ctl verify` exits 0 or 1 by its count.
fn journal_and_verify(served: &Served) {
    let (code, out, _) = ctl(served, &["journal", "--surface", "partner"]);
    assert_eq!(code, 0);
    let partner: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(partner.len(), 2, "one invitation and its answer: {out}");
    assert!(partner.iter().all(|e| e["surface"] == "partner"));

    let (code, out, _) = ctl(
        served,
        &[
            "verify",
            r#"{"surface":"partner","kind":"request","count":1}"#,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = ctl(served, &["verify", r#"{"surface":"partner","count":7}"#]);
    assert_eq!(code, 1);
}

/// A snapshot taken, `reset` emptying the world, and the snapshot put back.
fn snapshot_reset_and_put_back(served: &Served) {
    let (code, snapshot, _) = ctl(served, &["snapshot"]);
    assert_eq!(code, 0);
    let file = served.dir.path().join("s.json");
    std::fs::write(&file, &snapshot).unwrap();
    assert_eq!(ctl(served, &["reset"]).0, 0);
    let (_, accounts, _) = ctl(served, &["accounts"]);
    let accounts: Value = serde_json::from_str(&accounts).unwrap();
    assert_eq!(accounts["accounts"][0]["agreements"], json!({}));
    assert_eq!(accounts["accounts"][1]["faults"], json!([]));
    assert_eq!(
        ctl(served, &["snapshot", "--put", file.to_str().unwrap()]).0,
        0
    );
    let (_, accounts, _) = ctl(served, &["accounts"]);
    let accounts: Value = serde_json::from_str(&accounts).unwrap();
    assert_eq!(accounts["accounts"][0]["agreements"], json!({"pending": 1}));
    assert_eq!(
        accounts["accounts"][1]["faults"],
        json!([{"account": "globex", "hang": true}])
    );
}

#[test]
fn sharesim_ctl_drives_every_endpoint() {
    let served = serve_process(&[]);
    // A journal follower started first sees the later step's event live.
    let (follower, received) = follow_world_events(&served);
    steps_exit_by_their_outcome(&served);
    a_follower_sees_the_fault_live(&served, follower, received);
    journal_and_verify(&served);
    snapshot_reset_and_put_back(&served);
}

#[test]
fn sharesim_ctl_says_when_it_cannot_reach_the_control_api() {
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", probe.local_addr().unwrap())
    };
    let (code, _, err) = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(["ctl", "--url", &closed, "--token", "x", "reset"])
        .output()
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("could not reach the control API"), "{err}");
}

#[test]
fn serve_refuses_bad_scenarios_and_state_files_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
            .arg("serve")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let scenario = dir.path().join("bad.toml");
    std::fs::write(
        &scenario,
        "name = \"x\"\n[accounts.acme]\n[[steps]]\nstop = { account = \"nobody\" }\n",
    )
    .unwrap();
    let (code, stderr) = serve(&["--scenario", scenario.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("bad.toml:4:"), "{stderr}");
    assert!(stderr.contains("unknown account `nobody`"), "{stderr}");

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "name = \"x\"\n[accounts.acme]\n").unwrap();
    let (code, stderr) = serve(&["--scenario", good.to_str().unwrap(), "initech"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("either subdomains or --scenario"),
        "{stderr}"
    );

    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"format\": 1, \"accounts\": [").unwrap();
    let (code, stderr) = serve(&["--state", state.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not JSON"), "{stderr}");
    // A snapshot of another world's accounts is refused, naming the field; the file is
    // left as it was.
    let other = json!({"format": 1, "accounts": [{"subdomain": "initech", "running": true,
        "certificate": "valid", "state": {"agreements": [], "next_agreement_id": 1,
        "tickets": [], "next_ticket_id": 1, "next_comment_id": 1, "next_audit_id": 1}}]});
    std::fs::write(&state, other.to_string()).unwrap();
    let (code, stderr) = serve(&["--state", state.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("accounts[0].subdomain"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), other.to_string());
}
