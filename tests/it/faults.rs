//! Every fault on the wire over real sockets: the sender's status, the recorded cause,
//! the receiver's state, and the consistency check between both copies.

use crate::support::{TestWorld, start_with};
use sharesim::core::faults::{CrashPoint, Fault, FaultRule};
use sharesim::world::{AccountSpec, WorldConfig, WorldError};
use std::time::{Duration, Instant};

const TIMEOUT_MS: u64 = 300;

fn config() -> WorldConfig {
    WorldConfig {
        timeout: Duration::from_millis(TIMEOUT_MS),
        ..WorldConfig::default()
    }
}

async fn world(subdomains: &[&str]) -> TestWorld {
    start_with(
        config(),
        subdomains.iter().map(|s| AccountSpec::new(s)).collect(),
    )
    .await
}

/// acme and globex with `fault` on everything sent to globex.
async fn faulty_globex(fault: Fault) -> TestWorld {
    let w = world(&["acme", "globex"]).await;
    w.world
        .set_fault(FaultRule::to("globex", fault))
        .await
        .unwrap();
    w
}

fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "{part:?} not in {text:?}");
}

/// Invites globex from acme, expects `status`, and returns the recorded cause.
async fn invitation_fails(w: &TestWorld, status: &str) -> String {
    let sent = w.invite("acme", "globex").await;
    assert_eq!(sent["status"], status, "{sent}");
    let failure = w.last_failure();
    assert_eq!(failure.outcome.as_deref(), Some(status));
    assert_eq!(
        (failure.from.as_str(), failure.to.as_str()),
        ("globex", "acme")
    );
    assert!(
        w.world.divergences().is_empty(),
        "{:?}",
        w.world.divergences()
    );
    failure.detail
}

#[tokio::test]
async fn down_closes_the_listener_and_heal_reopens_it_on_the_same_port() {
    let w = world(&["acme", "globex"]).await;
    let port = w.account("globex").addr().unwrap().port();
    w.world
        .set_fault(FaultRule::to("globex", Fault::Down))
        .await
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "nothing listens on globex's port"
    );
    let cause = invitation_fails(&w, "failed").await;
    assert_contains(&cause, "connection refused: ");
    assert_contains(&cause, "could not connect to globex.sharesim.test");
    assert!(w.statuses("globex").is_empty());
    assert_eq!(
        w.world_events(),
        [
            "fault down on everything sent to globex",
            "globex stopped: connections are refused"
        ]
    );

    let healed = w.world.heal("globex", None).await.unwrap();
    assert_eq!(healed, [FaultRule::to("globex", Fault::Down)]);
    assert_eq!(w.account("globex").addr().unwrap().port(), port);
    let id = w.only_agreement("acme").await["id"].clone();
    let resent = w.set_status("acme", &id, "pending").await;
    assert_eq!(resent.body["sharing_agreement"]["status"], "pending");
    assert_eq!(w.statuses("globex"), ["pending"]);
}

#[tokio::test]
async fn down_on_one_link_refuses_only_that_sender() {
    let w = world(&["acme", "globex", "initech"]).await;
    w.world
        .set_fault(FaultRule::to("globex", Fault::Down).from("acme"))
        .await
        .unwrap();
    let cause = invitation_fails(&w, "failed").await;
    assert_eq!(
        cause,
        "connection refused: could not connect to globex.sharesim.test"
    );
    assert!(
        w.world_events()
            .contains(&"nothing listens where acme connects to reach globex (fault down)".into())
    );
    // globex still listens: other senders and its own API get through.
    assert_eq!(w.invite("initech", "globex").await["status"], "pending");
    assert_eq!(
        w.only_agreement("globex").await["remote_subdomain"],
        "initech"
    );

    w.world.heal("globex", Some("acme")).await.unwrap();
    assert_eq!(w.invite("acme", "globex").await["status"], "pending");
}

#[tokio::test]
async fn an_account_that_has_not_started_is_unknown_until_it_appears() {
    let w = start_with(
        config(),
        vec![
            AccountSpec::new("acme"),
            AccountSpec {
                start: false,
                ..AccountSpec::new("globex")
            },
        ],
    )
    .await;
    let cause = invitation_fails(&w, "configuration_error").await;
    assert_contains(&cause, "unknown subdomain \"globex\"");
    w.world.start_account("globex").await.unwrap();
    let id = w.only_agreement("acme").await["id"].clone();
    assert_eq!(
        w.set_status("acme", &id, "pending").await.body["sharing_agreement"]["status"],
        "pending"
    );
    assert_eq!(w.statuses("globex"), ["pending"]);
}

#[tokio::test]
async fn hang_lets_the_senders_timeout_fire() {
    let w = faulty_globex(Fault::Hang).await;
    let started = Instant::now();
    let cause = invitation_fails(&w, "failed").await;
    assert!(started.elapsed() >= Duration::from_millis(TIMEOUT_MS));
    assert_contains(&cause, &format!("timed out after {TIMEOUT_MS} ms"));
    assert!(
        w.world_events()
            .contains(&"globex leaves acme's message unanswered (fault hang)".into())
    );
    assert!(w.statuses("globex").is_empty());
    // A hung handler ends when the world shuts down.
    tokio::time::timeout(Duration::from_secs(5), w.world.shutdown())
        .await
        .expect("shutdown ends the hung connection");
}

#[tokio::test]
async fn latency_below_the_timeout_only_slows_the_handshake() {
    let w = faulty_globex(Fault::Latency(Duration::from_millis(100))).await;
    let started = Instant::now();
    assert_eq!(w.invite("acme", "globex").await["status"], "pending");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(w.statuses("globex"), ["pending"]);
    assert!(
        w.world_events().contains(
            &"globex delays its answer to acme by 100 ms (fault latency_ms = 100)".into()
        )
    );
}

#[tokio::test]
async fn latency_above_the_timeout_fails_the_handshake() {
    let w = faulty_globex(Fault::Latency(Duration::from_millis(800))).await;
    let cause = invitation_fails(&w, "failed").await;
    assert_contains(&cause, &format!("timed out after {TIMEOUT_MS} ms"));
    // The sender hung up before the delay ended, so the receiver never handled it.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(w.statuses("globex").is_empty());
    assert!(w.world.divergences().is_empty());
}

#[tokio::test]
async fn status_500_is_failed_and_404_is_a_configuration_error() {
    let w = faulty_globex(Fault::Status(500)).await;
    let cause = invitation_fails(&w, "failed").await;
    assert_eq!(
        cause,
        "partner answered 500 Internal Server Error: sharesim fault: globex answers 500"
    );
    assert_eq!(w.last_failure().status, Some(500));
    assert!(
        w.statuses("globex").is_empty(),
        "the message was not handled"
    );

    let w = faulty_globex(Fault::Status(404)).await;
    let cause = invitation_fails(&w, "configuration_error").await;
    assert_eq!(
        cause,
        "partner answered 404 Not Found: sharesim fault: globex answers 404"
    );
    assert!(w.world_events().contains(
        &"globex answers acme's message with 404 without handling it (fault status = 404)".into()
    ));

    let w = faulty_globex(Fault::Status(405)).await;
    invitation_fails(&w, "configuration_error").await;
    let w = faulty_globex(Fault::Status(503)).await;
    invitation_fails(&w, "failed").await;
}

#[tokio::test]
async fn reset_closes_the_connection_mid_response() {
    let w = faulty_globex(Fault::Reset).await;
    let cause = invitation_fails(&w, "failed").await;
    assert_contains(&cause, "connection closed mid-response");
    assert!(w.world_events().contains(
        &"globex closes the connection mid-response to acme's message (fault reset)".into()
    ));
    assert!(w.statuses("globex").is_empty());
}

#[tokio::test]
async fn a_redirect_loop_is_a_configuration_error_after_two_redirects() {
    let w = world(&["acme", "globex"]).await;
    w.world
        .set_fault(FaultRule::to("globex", Fault::RedirectLoop).times(1))
        .await
        .unwrap();
    let cause = invitation_fails(&w, "configuration_error").await;
    assert_contains(&cause, "more than 2 redirects (a redirect loop)");
    assert_contains(&cause, "too many redirects");
    // The redirects followed were one message: `times = 1` is used up, the next passes.
    assert_eq!(
        w.world_events()
            .iter()
            .filter(|e| e.contains("(fault redirect_loop)"))
            .count(),
        1
    );
    assert_eq!(w.invite("acme", "globex").await["status"], "pending");
}

#[tokio::test]
async fn a_crash_before_store_leaves_no_copy() {
    let w = faulty_globex(Fault::Crash(CrashPoint::BeforeStore)).await;
    let cause = invitation_fails(&w, "failed").await;
    assert_contains(&cause, "connection closed before the reply: ");
    assert_contains(&cause, "connection closed before message completed");
    assert!(w.statuses("globex").is_empty());
    assert!(w.world_events().contains(
        &"globex crashes before storing acme's invitation (fault crash = \"before_store\")".into()
    ));
}

#[tokio::test]
async fn a_crash_after_store_diverges_until_the_invitation_is_resent() {
    let w = world(&["acme", "globex"]).await;
    w.world
        .set_fault(FaultRule::to("globex", Fault::Crash(CrashPoint::AfterStore)).times(1))
        .await
        .unwrap();
    let sent = w.invite("acme", "globex").await;
    assert_eq!(sent["status"], "failed");
    assert_contains(
        &w.last_failure().detail,
        "connection closed before the reply",
    );
    assert_eq!(w.statuses("globex"), ["pending"]);
    assert!(w.world_events().contains(
        &"globex stored acme's invitation and crashes before replying (fault crash = \"after_store\")"
            .into()
    ));
    let divergences = w.world.divergences();
    assert_eq!(divergences.len(), 1, "{divergences:?}");
    assert_eq!(
        divergences[0].to_string(),
        format!(
            "agreement {} from acme to globex diverges: acme holds failed, globex holds pending",
            &w.account("acme").agreements()[0].uuid[..8]
        )
    );

    // Re-sending repairs it: the invitation is idempotent, globex keeps its one copy.
    let resent = w.set_status("acme", &sent["id"], "pending").await;
    assert_eq!(resent.status, 200, "{}", resent.text);
    assert_eq!(resent.body["sharing_agreement"]["status"], "pending");
    assert_eq!(w.statuses("globex"), ["pending"]);
    assert!(w.world.divergences().is_empty());
    assert!(
        w.world.trace().events().iter().any(|e| e.detail
            == "globex already holds agreement 1 (pending) from acme; kept its one copy")
    );
}

#[tokio::test]
async fn a_crash_after_storing_an_answer_diverges_the_other_way() {
    let w = world(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    let received = w.only_agreement("globex").await;
    w.world
        .set_fault(FaultRule::to("acme", Fault::Crash(CrashPoint::AfterStore)).from("globex"))
        .await
        .unwrap();
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_contains(&answer.text, "rolled back");
    assert_eq!(w.statuses("acme"), ["accepted"]);
    assert_eq!(w.statuses("globex"), ["pending"]);
    let divergences = w.world.divergences();
    assert_eq!(divergences.len(), 1);
    assert_eq!(
        divergences[0].divergence.to_string(),
        "the sender holds accepted while the receiver holds pending"
    );
    assert!(w.world_events().contains(
        &"acme stored globex's change to accepted and crashes before replying (fault crash = \"after_store\")"
            .into()
    ));
}

#[tokio::test]
async fn an_answer_the_sender_refuses_is_rolled_back() {
    let w = world(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    let received = w.only_agreement("globex").await;
    w.world
        .set_fault(FaultRule::to("acme", Fault::Status(503)).times(1))
        .await
        .unwrap();
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    let description = answer.body["details"]["status"][0]["description"]
        .as_str()
        .unwrap();
    assert_eq!(
        description,
        "Status cannot change from pending to accepted: the partner could not be reached \
         (partner answered 503 Service Unavailable: sharesim fault: acme answers 503 (failed)); \
         the change was rolled back"
    );
    assert_eq!(w.statuses("globex"), ["pending"]);
    assert_eq!(w.statuses("acme"), ["pending"]);
    // `times = 1` is used up: the same answer now goes through.
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.statuses("acme"), ["accepted"]);
}

#[tokio::test]
async fn stop_start_and_restart_keep_state_and_port() {
    let w = world(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    let port = w.account("globex").addr().unwrap().port();

    w.world.restart_account("globex").await.unwrap();
    assert_eq!(w.account("globex").addr().unwrap().port(), port);
    assert_eq!(w.only_agreement("globex").await["status"], "pending");

    w.world.stop_account("globex").await.unwrap();
    let second = w.invite("acme", "globex").await;
    assert_eq!(second["status"], "failed");
    assert_contains(&w.last_failure().detail, "connection refused: ");
    w.world.start_account("globex").await.unwrap();
    assert_eq!(w.account("globex").addr().unwrap().port(), port);
    let resent = w.set_status("acme", &second["id"], "pending").await;
    assert_eq!(resent.body["sharing_agreement"]["status"], "pending");
    assert_eq!(w.statuses("globex"), ["pending", "pending"]);
    assert_eq!(
        w.world_events(),
        [
            "globex stopped: connections are refused",
            "globex started listening",
            "globex stopped: connections are refused",
            "globex started listening",
        ]
    );
}

#[tokio::test]
async fn each_retry_is_its_own_trace_event() {
    let retrying = start_with(
        WorldConfig {
            retries: 1,
            ..config()
        },
        vec![AccountSpec::new("acme"), AccountSpec::new("globex")],
    )
    .await;
    retrying
        .world
        .set_fault(FaultRule::to("globex", Fault::Status(500)).times(1))
        .await
        .unwrap();
    assert_eq!(retrying.invite("acme", "globex").await["status"], "pending");
    assert_eq!(
        retrying.partner_requests(),
        [
            "acme -> globex POST status=pending name=Acme @ Zendesk",
            "acme -> globex POST status=pending name=Acme @ Zendesk (retry 1)",
        ]
    );
    assert_eq!(
        retrying.last_failure().detail,
        "partner answered 500 Internal Server Error: sharesim fault: globex answers 500"
    );
    assert_eq!(retrying.statuses("globex"), ["pending"]);

    // A refused connection is retried the same way.
    retrying
        .world
        .set_fault(FaultRule::to("globex", Fault::Down).from("acme").times(1))
        .await
        .unwrap();
    assert_eq!(retrying.invite("acme", "globex").await["status"], "pending");
    assert_contains(&retrying.last_failure().detail, "connection refused");
    assert_eq!(retrying.partner_requests().len(), 4);

    // Without retries (the default, as the reference client), the first failure stands.
    let once = world(&["acme", "globex"]).await;
    once.world
        .set_fault(FaultRule::to("globex", Fault::Status(500)).times(1))
        .await
        .unwrap();
    assert_eq!(once.invite("acme", "globex").await["status"], "failed");
    assert_eq!(once.partner_requests().len(), 1);
}

#[tokio::test]
async fn a_fault_declared_with_the_account_applies_from_the_start() {
    let w = start_with(
        config(),
        vec![
            AccountSpec::new("acme"),
            AccountSpec {
                fault: Some(FaultRule::to("globex", Fault::Status(502)).times(1)),
                ..AccountSpec::new("globex")
            },
            AccountSpec {
                fault: Some(FaultRule::to("initech", Fault::Down)),
                ..AccountSpec::new("initech")
            },
        ],
    )
    .await;
    let cause = invitation_fails(&w, "failed").await;
    assert_contains(&cause, "partner answered 502 Bad Gateway");
    assert_eq!(w.invite("acme", "initech").await["status"], "failed");
    assert_contains(&w.last_failure().detail, "connection refused");
    assert_eq!(w.world.faults(), [FaultRule::to("initech", Fault::Down)]);
    w.world.heal("initech", None).await.unwrap();
    assert_eq!(w.invite("acme", "initech").await["status"], "pending");
}

#[tokio::test]
async fn faults_that_cannot_apply_are_refused() {
    let w = world(&["acme", "globex"]).await;
    let error = w
        .world
        .set_fault(FaultRule::to("globex", Fault::Status(200)))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the fault status = 200 on everything sent to globex cannot be applied: \
         a fault's status must be an error status from 400 to 599, not 200"
    );
    let error = w
        .world
        .set_fault(FaultRule::to("nowhere", Fault::Hang))
        .await
        .unwrap_err();
    assert!(matches!(error, WorldError::UnknownAccount(ref name) if name == "nowhere"));
    let error = w
        .world
        .set_fault(FaultRule::to("globex", Fault::Hang).from("nowhere"))
        .await
        .unwrap_err();
    assert!(matches!(error, WorldError::UnknownAccount(_)));
    assert!(w.world.faults().is_empty());
}
