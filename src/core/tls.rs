//! The world's certificate authority and the certificate each account presents.
//! Every world mints its own CA, so outbound calls can trust exactly that CA and nothing
//! installed on the host. An account can be put in a certificate mode that makes a real
//! TLS handshake fail in one specific way; that is how the simulator produces `ssl_error`
//! agreements without faking the failure.

use crate::core::spelling::Spelled;
use rustls::crypto::CryptoProvider;
use std::str::FromStr;
use std::sync::Arc;

mod authority;
mod config;

pub use authority::CertificateAuthority;
pub use config::{
    ServerCertificate, admin_client_config, partner_client_config, server_config,
    untrusting_client_config,
};

/// How an account presents itself over TLS (scenario files spell these in snake_case).
///
/// Every mode except `Valid` exists to make the partner's handshake fail in its own way,
/// so a scenario can check how the sender classifies that failure.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum CertMode {
    /// Signed by the world CA, valid now, for the account's own name: handshakes succeed.
    Valid,
    /// A leaf that signs itself, so no trusted issuer vouches for it.
    SelfSigned,
    /// Signed by the world CA for the right name, but its validity ended in the past.
    Expired,
    /// Signed by the world CA for the right name, but its validity starts in the future.
    NotYetValid,
    /// Signed by the world CA and in date, but issued for another host name.
    WrongHost,
    /// Right name and dates, but signed by a CA that outbound clients do not trust.
    UntrustedCa,
    /// No TLS at all: the account speaks plain HTTP, so a TLS client sees garbage.
    PlainHttp,
}

impl CertMode {
    /// The one spelling (scenario files, traces, error messages), so they use the
    /// words the user wrote.
    pub fn as_str(&self) -> &'static str {
        self.spelling()
    }
}

/// A certificate mode name that is no mode's spelling; its message lists the
/// allowed spellings so the user can fix the scenario without reading the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown certificate mode `{given}`; expected one of: {}",
    allowed_modes()
)]
pub struct UnknownCertMode {
    /// The text that did not match any mode.
    pub given: String,
}

fn allowed_modes() -> String {
    CertMode::spelled_list()
}

impl FromStr for CertMode {
    type Err = UnknownCertMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CertMode::from_spelling(s).ok_or_else(|| UnknownCertMode {
            given: s.to_owned(),
        })
    }
}

/// Why a certificate or TLS configuration could not be built. These are setup failures of
/// the world itself, never the handshake failures that certificate modes provoke on purpose.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The world's CA (or the rogue CA used for `untrusted_ca`) could not be generated.
    #[error("could not create the {which} certificate authority: {source}")]
    Authority {
        /// "world" or "rogue".
        which: &'static str,
        /// What rcgen reported.
        source: rcgen::Error,
    },
    /// A leaf certificate could not be generated, typically because an extra name is not
    /// a valid DNS name or IP address.
    #[error("could not issue a certificate for {host}: {source}")]
    Issue {
        /// The account's host name the certificate was meant for.
        host: String,
        /// What rcgen reported.
        source: rcgen::Error,
    },
    /// rustls refused a key or configuration we generated.
    #[error("rustls rejected the TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    /// A CA certificate given for external accounts cannot be read.
    #[error("partner CA certificate {} cannot be used: {reason}", index + 1)]
    PartnerCa {
        /// Its position among the ones given, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Makes ring the process-wide rustls provider, so any HTTP client built in this
/// process (the runner's, a test's) finds one. Calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The ring provider, with TLS 1.3's AES-128-GCM-SHA256 preferred: the same standard
/// suites, but the key schedule then runs on SHA-256, which modern CPUs compute in
/// hardware (a profile of explore's HTTPS worlds showed SHA-384's key schedule at about
/// 5% of all CPU). Built once.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::ring::default_provider();
            let preferred = rustls::CipherSuite::TLS13_AES_128_GCM_SHA256;
            provider
                .cipher_suites
                .sort_by_key(|suite| suite.suite() != preferred);
            Arc::new(provider)
        })
        .clone()
}
#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use rustls::CertificateError;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::authority::*;
    use super::config::*;
    use super::*;
    use crate::core::clock::WorldClock;
    use crate::core::directory::host_name;
    use std::time::Duration;
    use strum::VariantArray;

    const SUB: &str = "acme";

    fn server_name(name: &str) -> ServerName<'static> {
        ServerName::try_from(name.to_owned()).expect("a valid server name")
    }

    fn issue(ca: &CertificateAuthority, mode: CertMode, extra: &[&str]) -> Arc<ServerCertificate> {
        let extra: Vec<String> = extra.iter().map(|name| name.to_string()).collect();
        ca.issue(SUB, mode, &extra)
            .expect("issuing succeeds")
            .expect("every mode but plain_http issues a certificate")
    }

    /// Serves TLS with `cert` on a fresh loopback port; every connection that completes
    /// the handshake is answered "pong" to its "ping".
    async fn serve_tls(cert: Arc<ServerCertificate>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_config(cert, &WorldClock::Wall));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // Most tests make the handshake fail on purpose and assert that on the
                    // client side, so a server-side failure is simply the end of the task.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 4];
                    if tls.read_exact(&mut buf).await.is_ok() && &buf == b"ping" {
                        let _ = tls.write_all(b"pong").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        addr
    }

    /// A plain TCP server that answers whatever it receives like an HTTP server that got
    /// garbage, as a `plain_http` account does when a TLS client connects.
    async fn serve_plain_http() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = tcp.shutdown().await;
            }
        });
        addr
    }

    /// Connects with the world's client configuration, sends "ping" and expects "pong".
    async fn exchange(
        ca: &CertificateAuthority,
        addr: SocketAddr,
        name: ServerName<'static>,
    ) -> Result<(), rustls::Error> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = TlsConnector::from(ca.client_config())
            .connect(name, tcp)
            .await
            .map_err(rustls_error)?;
        tls.write_all(b"ping").await.map_err(rustls_error)?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(rustls_error)?;
        assert_eq!(&buf, b"pong");
        Ok(())
    }

    /// tokio-rustls wraps rustls errors in `io::Error`; unwrap so tests can match variants.
    fn rustls_error(error: std::io::Error) -> rustls::Error {
        let debug = format!("{error:?}");
        match error
            .into_inner()
            .map(|inner| inner.downcast::<rustls::Error>())
        {
            Some(Ok(error)) => *error,
            _ => panic!("expected a rustls error inside the io::Error, got {debug}"),
        }
    }

    /// A full handshake against an account in `mode`, with a fresh world.
    async fn handshake_in_mode(mode: CertMode) -> Result<(), rustls::Error> {
        let ca = CertificateAuthority::new(WorldClock::Wall).unwrap();
        let addr = match ca.issue(SUB, mode, &[]).unwrap() {
            Some(key) => serve_tls(key).await,
            None => serve_plain_http().await,
        };
        exchange(&ca, addr, server_name(&host_name(SUB))).await
    }

    #[tokio::test]
    async fn valid_certificate_completes_a_handshake_and_carries_data() {
        handshake_in_mode(CertMode::Valid).await.unwrap();
    }

    #[tokio::test]
    async fn self_signed_certificate_fails_as_unknown_issuer() {
        let error = handshake_in_mode(CertMode::SelfSigned).await.unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn expired_certificate_fails_as_expired() {
        let error = handshake_in_mode(CertMode::Expired).await.unwrap_err();
        match error {
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                time,
                not_after,
            }) => assert!(not_after.as_secs() < time.as_secs()),
            other => panic!("expected ExpiredContext, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn not_yet_valid_certificate_fails_as_not_valid_yet() {
        let error = handshake_in_mode(CertMode::NotYetValid).await.unwrap_err();
        match error {
            rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                time,
                not_before,
            }) => assert!(not_before.as_secs() > time.as_secs()),
            other => panic!("expected NotValidYetContext, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn wrong_host_certificate_fails_as_not_valid_for_name() {
        let error = handshake_in_mode(CertMode::WrongHost).await.unwrap_err();
        match error {
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected,
                presented,
            }) => {
                assert_eq!(expected, server_name("acme.sharesim.test"));
                assert_eq!(
                    presented,
                    vec![r#"DnsName("wrong-acme.sharesim.test")"#.to_owned()]
                );
            }
            other => panic!("expected NotValidForNameContext, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn untrusted_ca_certificate_fails_as_unknown_issuer() {
        let error = handshake_in_mode(CertMode::UntrustedCa).await.unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn plain_http_issues_nothing_and_a_tls_client_sees_an_invalid_message() {
        let ca = CertificateAuthority::new(WorldClock::Wall).unwrap();
        assert!(ca.issue(SUB, CertMode::PlainHttp, &[]).unwrap().is_none());
        let error = handshake_in_mode(CertMode::PlainHttp).await.unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn each_failing_mode_explains_itself() {
        let mut reasons = Vec::new();
        for mode in CertMode::VARIANTS.iter().copied() {
            if mode == CertMode::Valid {
                continue;
            }
            let error = handshake_in_mode(mode).await.unwrap_err();
            let text = error.to_string();
            eprintln!("{mode}: {text}");
            assert!(!text.is_empty(), "{mode} has an empty error message");
            reasons.push((mode, text));
        }
        // rustls has no separate error for a self-signed leaf: to the client it is a
        // certificate whose issuer it does not know, exactly like the rogue CA's.
        for (i, (mode, text)) in reasons.iter().enumerate() {
            for (other_mode, other_text) in &reasons[i + 1..] {
                let same_by_design = matches!(
                    (mode, other_mode),
                    (CertMode::SelfSigned, CertMode::UntrustedCa)
                );
                assert_eq!(
                    text == other_text,
                    same_by_design,
                    "{mode} and {other_mode}: {text:?} vs {other_text:?}"
                );
            }
        }
    }

    /// Like [`exchange`], and says whether the session was resumed.
    async fn resumed(
        ca: &CertificateAuthority,
        addr: SocketAddr,
        name: ServerName<'static>,
    ) -> Result<bool, rustls::Error> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = TlsConnector::from(ca.client_config())
            .connect(name, tcp)
            .await
            .map_err(rustls_error)?;
        let kind = tls.get_ref().1.handshake_kind();
        tls.write_all(b"ping").await.map_err(rustls_error)?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(rustls_error)?;
        Ok(kind == Some(rustls::HandshakeKind::Resumed))
    }

    #[tokio::test(start_paused = true)]
    async fn simulated_worlds_share_certificates_and_sessions_but_never_across_modes() {
        let first = CertificateAuthority::new(WorldClock::simulated()).unwrap();
        let second = CertificateAuthority::new(WorldClock::simulated()).unwrap();
        let valid = issue(&first, CertMode::Valid, &[]);
        assert!(Arc::ptr_eq(&valid, &issue(&second, CertMode::Valid, &[])));
        assert!(!Arc::ptr_eq(
            &valid,
            &issue(&second, CertMode::Expired, &[])
        ));
        // A second later on the world's clock, the same mode is another certificate.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!Arc::ptr_eq(&valid, &issue(&first, CertMode::Valid, &[])));
        // A wall-clock world issues its own every time.
        let wall = CertificateAuthority::new(WorldClock::Wall).unwrap();
        assert!(!Arc::ptr_eq(
            &issue(&wall, CertMode::Valid, &[]),
            &issue(&wall, CertMode::Valid, &[])
        ));
    }

    #[tokio::test]
    async fn sessions_resume_with_their_certificate_and_never_across_a_new_one() {
        let ca = CertificateAuthority::new(WorldClock::Wall).unwrap();
        let name = server_name(&host_name(SUB));
        let valid = serve_tls(issue(&ca, CertMode::Valid, &[])).await;
        assert!(!resumed(&ca, valid, name.clone()).await.unwrap());
        // The session the first handshake left is resumed by the same listener.
        assert!(resumed(&ca, valid, name.clone()).await.unwrap());

        // A new certificate comes with a new configuration: the client's session for
        // this name is unknown there, so it makes a full handshake and verifies.
        let expired = serve_tls(issue(&ca, CertMode::Expired, &[])).await;
        let error = exchange(&ca, expired, name.clone()).await.unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
            ),
            "{error:?}"
        );
        let fresh = serve_tls(issue(&ca, CertMode::Valid, &[])).await;
        exchange(&ca, fresh, name).await.unwrap();
    }

    #[tokio::test]
    async fn extra_names_let_clients_connect_by_localhost_and_ip_address() {
        let ca = CertificateAuthority::new(WorldClock::Wall).unwrap();
        let key = issue(&ca, CertMode::Valid, &["localhost", "127.0.0.1"]);
        let addr = serve_tls(key).await;

        exchange(&ca, addr, server_name(&host_name(SUB)))
            .await
            .unwrap();
        exchange(&ca, addr, server_name("localhost")).await.unwrap();
        let ip = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        exchange(&ca, addr, ip).await.unwrap();
        let error = exchange(&ca, addr, server_name("other.sharesim.test"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn wrong_host_ignores_extra_names() {
        let ca = CertificateAuthority::new(WorldClock::Wall).unwrap();
        let key = issue(&ca, CertMode::WrongHost, &["localhost"]);
        let addr = serve_tls(key).await;
        let error = exchange(&ca, addr, server_name("localhost"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn an_extra_name_that_is_not_a_name_is_an_issue_error() {
        let ca = CertificateAuthority::new(WorldClock::Wall).unwrap();
        let error = ca
            .issue(SUB, CertMode::Valid, &["bücher.example".to_owned()])
            .unwrap_err();
        assert!(matches!(error, TlsError::Issue { ref host, .. } if host == "acme.sharesim.test"));
    }

    #[test]
    fn ca_certificate_is_pem() {
        let pem = CertificateAuthority::new(WorldClock::Wall)
            .unwrap()
            .ca_cert_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    }

    #[test]
    fn cert_modes_parse_print_and_serialize_the_same_way() {
        for mode in CertMode::VARIANTS.iter().copied() {
            assert_eq!(mode.as_str().parse::<CertMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
            assert_eq!(
                serde_json::to_string(&mode).unwrap(),
                format!("\"{}\"", mode.as_str())
            );
        }
    }

    #[test]
    fn unknown_cert_mode_lists_the_allowed_ones() {
        let error = "expird".parse::<CertMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown certificate mode `expird`; expected one of: valid, self_signed, expired, \
             not_yet_valid, wrong_host, untrusted_ca, plain_http"
        );
    }

    #[test]
    fn host_name_is_under_the_reserved_test_domain() {
        assert_eq!(host_name("acme"), "acme.sharesim.test");
    }
}
