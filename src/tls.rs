//! The world's certificate authority and the certificate each account presents.
//! Every world mints its own CA, so outbound calls can trust exactly that CA and nothing
//! installed on the host. An account can be put in a certificate mode that makes a real
//! TLS handshake fail in one specific way; that is how the simulator produces `ssl_error`
//! agreements without faking the failure.

use crate::clock::WorldClock;
use crate::directory::host_name;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::spelling::Spelled;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

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

/// The world's certificate authority: issues every account's certificate and is the only
/// root outbound clients trust. It also holds a second, "rogue" CA that nobody trusts, so
/// the `untrusted_ca` mode is signed by a real CA rather than just a wrong key.
pub struct CertificateAuthority {
    issuers: Arc<Issuers>,
    /// Dates every certificate and every verification: the world's clock.
    clock: WorldClock,
    // Built once so every outbound connection of the world shares one session cache.
    client_config: Arc<ClientConfig>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// The world CA and the rogue CA, and (on the simulated network) the leaves they issued.
struct Issuers {
    world: CertifiedIssuer<'static, KeyPair>,
    rogue: CertifiedIssuer<'static, KeyPair>,
    /// Leaves by what they were issued for and when. Simulated worlds all start at the
    /// same instant of the same calendar, so their certificates are the same but for
    /// their keys; sharing them spares every world the key generation and signing. A
    /// world on the wall clock keeps its own CA and issues every leaf afresh.
    leaves: Option<Mutex<HashMap<LeafKey, Arc<ServerCertificate>>>>,
}

/// What a leaf was issued for: account, mode, extra names and the second of issue.
type LeafKey = (String, CertMode, Vec<String>, u64);

/// Leaves kept for simulated worlds, at most (then the cache starts over).
const MAX_SHARED_LEAVES: usize = 4096;

impl Issuers {
    fn new(now: SystemTime, share_leaves: bool) -> Result<Issuers, TlsError> {
        let world =
            new_authority("sharesim world CA", now).map_err(|source| TlsError::Authority {
                which: "world",
                source,
            })?;
        let rogue =
            new_authority("sharesim rogue CA", now).map_err(|source| TlsError::Authority {
                which: "rogue",
                source,
            })?;
        Ok(Issuers {
            world,
            rogue,
            leaves: share_leaves.then(|| Mutex::new(HashMap::new())),
        })
    }

    /// The issuers every simulated world shares (made once per process).
    fn simulated() -> Result<Arc<Issuers>, TlsError> {
        static SHARED: Mutex<Option<Arc<Issuers>>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(issuers) = &*shared {
            return Ok(issuers.clone());
        }
        let issuers = Arc::new(Issuers::new(crate::clock::scenario_epoch(), true)?);
        *shared = Some(issuers.clone());
        Ok(issuers)
    }
}

/// A validity window relative to the moment of issue.
enum Validity {
    /// The CA's window covers every leaf window, so a leaf fails on its own dates and
    /// never because of its issuer's.
    Authority,
    Current,
    Past,
    Future,
}

impl CertificateAuthority {
    /// Mints a fresh world CA and rogue CA (ECDSA P-256, so a world of a thousand accounts
    /// gets its certificates quickly) and the client configuration that trusts only the
    /// world CA. Certificates are dated, and handshakes verified, on `clock`.
    pub fn new(clock: WorldClock) -> Result<Self, TlsError> {
        let issuers = match clock {
            WorldClock::Simulated { .. } => Issuers::simulated()?,
            WorldClock::Wall => Arc::new(Issuers::new(clock.system_now(), false)?),
        };
        let mut roots = RootCertStore::empty();
        roots.add(issuers.world.der().clone())?;
        let mut client_config =
            ClientConfig::builder_with_details(provider(), clock.time_provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        // Outbound calls offer only HTTP/1.1, so every partner call goes over the same
        // protocol whatever else a listener accepts.
        client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if let WorldClock::Simulated { .. } = clock {
            // Simulated worlds share their certificates and so their sessions (see
            // [`ServerCertificate`]); their clients share one session store to match.
            client_config.resumption = rustls::client::Resumption::store(simulated_sessions());
        }

        Ok(CertificateAuthority {
            issuers,
            clock,
            client_config: Arc::new(client_config),
        })
    }

    /// The world CA certificate in PEM, so `serve --tls` can write it to a file that
    /// external clients trust (e.g. through `REQUESTS_CA_BUNDLE`).
    pub fn ca_cert_pem(&self) -> String {
        self.issuers.world.pem()
    }

    /// The configuration for every outbound call of this world: it trusts only the world
    /// CA (never the host's store, so results do not depend on the machine), uses the ring
    /// provider, offers ALPN `http/1.1`, and keeps rustls's default session resumption.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.client_config)
    }

    /// Issues a certificate for `{subdomain}.sharesim.test` (plus `extra_names`, DNS names
    /// such as `localhost` or IP literals such as `127.0.0.1`, so local tools can connect by
    /// address) in the given mode. Returns `None` for `PlainHttp`, where the account serves
    /// no TLS at all.
    ///
    /// `WrongHost` deliberately omits the extra names too, so it fails whichever name the
    /// client uses.
    pub fn issue(
        &self,
        subdomain: &str,
        mode: CertMode,
        extra_names: &[String],
    ) -> Result<Option<Arc<ServerCertificate>>, TlsError> {
        if mode == CertMode::PlainHttp {
            return Ok(None);
        }
        let Some(leaves) = &self.issuers.leaves else {
            return Ok(self
                .issue_new(subdomain, mode, extra_names)?
                .map(ServerCertificate::new));
        };
        let now = self.clock.system_now();
        let second = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let key = (subdomain.to_string(), mode, extra_names.to_vec(), second);
        if let Some(leaf) = leaves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Some(leaf.clone()));
        }
        let leaf = self
            .issue_new(subdomain, mode, extra_names)?
            .map(ServerCertificate::new);
        if let Some(leaf) = &leaf {
            let mut leaves = leaves.lock().unwrap_or_else(PoisonError::into_inner);
            if leaves.len() >= MAX_SHARED_LEAVES {
                leaves.clear();
            }
            leaves.insert(key, leaf.clone());
        }
        Ok(leaf)
    }

    fn issue_new(
        &self,
        subdomain: &str,
        mode: CertMode,
        extra_names: &[String],
    ) -> Result<Option<Arc<CertifiedKey>>, TlsError> {
        let host = host_name(subdomain);
        let right_names = || {
            let mut names = vec![host.clone()];
            names.extend(extra_names.iter().cloned());
            names
        };
        // `None` as the issuer means the leaf signs itself.
        let (names, validity, issuer) = match mode {
            CertMode::PlainHttp => return Ok(None),
            CertMode::Valid => (right_names(), Validity::Current, Some(&self.issuers.world)),
            CertMode::SelfSigned => (right_names(), Validity::Current, None),
            CertMode::Expired => (right_names(), Validity::Past, Some(&self.issuers.world)),
            CertMode::NotYetValid => (right_names(), Validity::Future, Some(&self.issuers.world)),
            CertMode::WrongHost => (
                vec![format!("wrong-{host}")],
                Validity::Current,
                Some(&self.issuers.world),
            ),
            CertMode::UntrustedCa => (right_names(), Validity::Current, Some(&self.issuers.rogue)),
        };
        let issue_error = |source| TlsError::Issue {
            host: host.clone(),
            source,
        };

        // The subject names the first SAN, the name this mode presents. Clients ignore the
        // subject, but people inspecting a certificate (`openssl s_client`) read it first.
        let common_name = names[0].clone();
        let mut params = CertificateParams::new(names).map_err(issue_error)?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params, validity, self.clock.system_now());

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(issue_error)?;
        let cert = match issuer {
            Some(issuer) => {
                params.use_authority_key_identifier_extension = true;
                params.signed_by(&key, issuer)
            }
            None => params.self_signed(&key),
        }
        .map_err(issue_error)?;

        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing_key = rustls::crypto::ring::sign::any_ecdsa_type(&key_der)?;
        // Only the leaf is sent: the world CA is a trust anchor, and for `untrusted_ca` the
        // rogue CA would not help the client anyway.
        Ok(Some(Arc::new(CertifiedKey::new(
            vec![cert.der().clone()],
            signing_key,
        ))))
    }
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

/// Generates a self-signed CA that can sign leaves.
fn new_authority(
    common_name: &str,
    now: SystemTime,
) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "sharesim");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, Validity::Authority, now);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    CertifiedIssuer::self_signed(params, key)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 60 * 60)
}

/// Sets the validity window around `now` on the world's clock, the clock rustls verifies
/// against on both ends (see [`WorldClock::time_provider`]).
fn set_validity(params: &mut CertificateParams, validity: Validity, now: SystemTime) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    let (not_before, not_after) = match validity {
        Validity::Authority => (now - days(60), now + days(3650)),
        Validity::Current => (now - days(1), now + days(365)),
        Validity::Past => (now - days(30), now - days(1)),
        Validity::Future => (now + days(1), now + days(30)),
    };
    params.not_before = not_before;
    params.not_after = not_after;
}

/// The certificate an account's listener presents, and the TLS sessions made with it.
///
/// Sessions belong to a certificate: a resumed session skips certificate verification,
/// so a certificate step gives the listener a new certificate with no sessions, and a
/// client that once connected to a `valid` account makes a full handshake, and fails it,
/// once the account is switched to `expired`. Simulated worlds share their certificates
/// (see [`CertificateAuthority::issue`]), and with them their sessions: a client of one
/// world may resume a session of the same certificate made in another, which is the same
/// handshake but for the signatures it skips.
#[derive(Debug)]
pub struct ServerCertificate {
    key: Arc<CertifiedKey>,
    sessions: Arc<ServerSessionMemoryCache>,
}

impl ServerCertificate {
    /// Wraps a certificate for a listener's `ServerConfig`, with no sessions yet.
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(ServerCertificate {
            key,
            sessions: ServerSessionMemoryCache::new(SESSIONS_PER_CERTIFICATE),
        })
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Every name the client asks for gets the same certificate: a wrong name must fail
        // on the client's verification, which is what `wrong_host` simulates.
        Some(Arc::clone(&self.key))
    }
}

/// TLS sessions one certificate's listeners remember for resumption.
const SESSIONS_PER_CERTIFICATE: usize = 256;

/// The server configuration of an account's HTTPS listener: ring provider, ALPN `h2` and
/// `http/1.1`, certificate read from `cert` on every handshake.
///
/// Sessions resume, as on any real server, with the certificate they were made with
/// only (see [`ServerCertificate`]).
pub fn server_config(cert: Arc<ServerCertificate>, clock: &WorldClock) -> Arc<ServerConfig> {
    let sessions = cert.sessions.clone();
    let mut config = ServerConfig::builder_with_details(provider(), clock.time_provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports rustls's default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = sessions;
    Arc::new(config)
}

/// The configuration of the relays to external accounts: it trusts the world's CA (another
/// sharesim's accounts are not issued by it, but a partner may be fronted by this
/// world's certificates in tests) and the CAs an operator names (`serve --partner-ca`),
/// never the host's store. Each PEM may hold several certificates.
pub fn partner_client_config(
    authority: Option<&CertificateAuthority>,
    extra_pem: &[String],
) -> Result<Arc<ClientConfig>, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    if let Some(authority) = authority {
        roots.add(authority.issuers.world.der().clone())?;
    }
    for (index, pem) in extra_pem.iter().enumerate() {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|error| TlsError::PartnerCa {
                index,
                reason: error.to_string(),
            })?;
            roots.add(cert)?;
            found += 1;
        }
        if found == 0 {
            return Err(TlsError::PartnerCa {
                index,
                reason: "it holds no PEM certificate".to_string(),
            });
        }
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts nothing: the transport's in a world that serves
/// plain HTTP only, where no partner has a certificate to check.
pub fn untrusting_client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The client sessions every simulated world's partner messages share.
fn simulated_sessions() -> Arc<dyn rustls::client::ClientSessionStore> {
    static SESSIONS: std::sync::OnceLock<Arc<rustls::client::ClientSessionMemoryCache>> =
        std::sync::OnceLock::new();
    SESSIONS
        .get_or_init(|| Arc::new(rustls::client::ClientSessionMemoryCache::new(4096)))
        .clone()
}

/// The configuration of the scenario runner's REST client. It plays the admin's
/// browser, so it accepts whatever certificate an account presents (certificate modes
/// are about the partner protocol, not about the runner); it still checks that the
/// server holds the key of the certificate it shows.
pub fn admin_client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    static CONFIG: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let config = build_admin_client_config()?;
    Ok(CONFIG.get_or_init(|| config).clone())
}

fn build_admin_client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any certificate chain, verifying only the handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use rustls::CertificateError;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;
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
