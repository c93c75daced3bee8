//! Every certificate mode over real HTTPS: the sender's status and the TLS library's
//! own words in the trace, also after a certificate changes mid-run.

use crate::support::{TestWorld, start_with};
use sharesim::core::tls::CertMode;
use sharesim::world::{AccountSpec, WorldConfig};
use std::time::Duration;

/// An HTTPS world where acme presents a valid certificate and globex presents `mode`.
async fn https_world(mode: CertMode) -> TestWorld {
    start_with(
        WorldConfig {
            https: true,
            timeout: Duration::from_millis(2_000),
            ..WorldConfig::default()
        },
        vec![
            AccountSpec::new("acme"),
            AccountSpec {
                cert_mode: mode,
                ..AccountSpec::new("globex")
            },
        ],
    )
    .await
}

/// Invites globex (in `mode`) from acme; checks the sender's status, the cause recorded
/// on the failed response, and that globex holds no copy.
async fn invitation_fails(mode: CertMode, status: &str, cause_has: &[&str]) {
    let w = https_world(mode).await;
    let sent = w.invite("acme", "globex").await;
    assert_eq!(sent["status"], status, "{mode}");
    let failure = w.last_failure();
    assert_eq!(failure.outcome.as_deref(), Some(status), "{mode}");
    assert_eq!(
        (failure.from.as_str(), failure.to.as_str()),
        ("globex", "acme")
    );
    for text in cause_has {
        assert!(
            failure.detail.contains(text),
            "{mode}: {text:?} not in {:?}",
            failure.detail
        );
    }
    assert!(w.statuses("globex").is_empty(), "{mode}");
    let decision = format!(
        "acme marked outbound agreement 1 {status}: {}",
        failure.detail
    );
    assert!(
        w.world
            .trace()
            .events()
            .iter()
            .any(|e| e.detail == decision),
        "{mode}: the decision names the cause"
    );
    w.world.shutdown().await;
}

#[tokio::test]
async fn a_valid_certificate_completes_the_handshake() {
    let w = https_world(CertMode::Valid).await;
    let sent = w.invite("acme", "globex").await;
    assert_eq!(sent["status"], "pending");
    assert!(sent["url"].as_str().unwrap().starts_with("https://"));
    let received = w.only_agreement("globex").await;
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.statuses("acme"), ["accepted"]);
}

#[tokio::test]
async fn a_self_signed_certificate_is_an_ssl_error() {
    invitation_fails(
        CertMode::SelfSigned,
        "ssl_error",
        &[
            "TLS handshake failed",
            "invalid peer certificate: UnknownIssuer",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_untrusted_ca_is_an_ssl_error() {
    invitation_fails(
        CertMode::UntrustedCa,
        "ssl_error",
        &[
            "TLS handshake failed",
            "invalid peer certificate: UnknownIssuer",
        ],
    )
    .await;
}

#[tokio::test]
async fn an_expired_certificate_is_an_ssl_error() {
    invitation_fails(
        CertMode::Expired,
        "ssl_error",
        &["TLS handshake failed", "certificate expired"],
    )
    .await;
}

#[tokio::test]
async fn a_certificate_not_yet_valid_is_an_ssl_error() {
    invitation_fails(
        CertMode::NotYetValid,
        "ssl_error",
        &["TLS handshake failed", "certificate not valid yet"],
    )
    .await;
}

#[tokio::test]
async fn a_certificate_for_another_host_is_an_ssl_error() {
    invitation_fails(
        CertMode::WrongHost,
        "ssl_error",
        &[
            "TLS handshake failed",
            "certificate not valid for name \"globex.sharesim.test\"",
            "wrong-globex.sharesim.test",
        ],
    )
    .await;
}

#[tokio::test]
async fn plain_http_where_https_is_expected_is_a_configuration_error() {
    invitation_fails(
        CertMode::PlainHttp,
        "configuration_error",
        &["the partner does not speak TLS", "corrupt message"],
    )
    .await;
}

#[tokio::test]
async fn a_certificate_switched_mid_run_takes_effect_on_the_next_message() {
    let w = https_world(CertMode::Valid).await;
    assert_eq!(w.invite("acme", "globex").await["status"], "pending");
    // acme's pooled connection to globex was verified against the valid certificate;
    // the next message must make a new handshake and see the new one.
    w.world
        .set_certificate("globex", CertMode::SelfSigned)
        .await
        .unwrap();
    assert!(
        w.world_events()
            .contains(&"globex now presents a certificate in mode self_signed".to_string())
    );
    let second = w.invite("acme", "globex").await;
    assert_eq!(second["status"], "ssl_error");
    assert!(w.last_failure().detail.contains("UnknownIssuer"));
    // globex kept its state across the listener's restart.
    assert_eq!(w.statuses("globex"), ["pending"]);

    w.world
        .set_certificate("globex", CertMode::Valid)
        .await
        .unwrap();
    let resent = w.set_status("acme", &second["id"], "pending").await;
    assert_eq!(resent.status, 200, "{}", resent.text);
    assert_eq!(resent.body["sharing_agreement"]["status"], "pending");
    assert_eq!(w.statuses("globex"), ["pending", "pending"]);
}

#[tokio::test]
async fn an_answer_to_a_sender_whose_certificate_expired_is_rolled_back() {
    let w = https_world(CertMode::Valid).await;
    w.invite("acme", "globex").await;
    let received = w.only_agreement("globex").await;
    w.world
        .set_certificate("acme", CertMode::Expired)
        .await
        .unwrap();
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    let description = answer.body["details"]["status"][0]["description"]
        .as_str()
        .unwrap();
    assert!(description.contains("rolled back"), "{description}");
    assert!(description.contains("certificate expired"), "{description}");
    assert!(description.contains("(ssl_error)"), "{description}");
    let failure = w.last_failure();
    assert_eq!(failure.outcome.as_deref(), Some("ssl_error"));
    assert_eq!(
        (failure.from.as_str(), failure.to.as_str()),
        ("acme", "globex")
    );
    assert_eq!(w.statuses("globex"), ["pending"]);
    assert_eq!(w.statuses("acme"), ["pending"]);
    assert!(w.world.divergences().is_empty());

    w.world
        .set_certificate("acme", CertMode::Valid)
        .await
        .unwrap();
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.statuses("acme"), ["accepted"]);
}
