//! Who trusts whom: the listener's server certificate and sessions, and the client
//! configurations of partners, admins and the untrusting probes.

use super::authority::*;
use super::*;

use crate::core::clock::WorldClock;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

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
pub(super) const SESSIONS_PER_CERTIFICATE: usize = 256;

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

pub(super) fn build_admin_client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
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
pub(super) struct AnyCertificate(Arc<CryptoProvider>);

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
