//! The world's certificate authority: minting account certificates in every mode,
//! with the rogue CA that nobody trusts.

use super::*;

use crate::core::clock::WorldClock;
use crate::core::directory::host_name;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};

/// The world's certificate authority: issues every account's certificate and is the only
/// root outbound clients trust. It also holds a second, "rogue" CA that nobody trusts, so
/// the `untrusted_ca` mode is signed by a real CA rather than just a wrong key.
pub struct CertificateAuthority {
    pub(super) issuers: Arc<Issuers>,
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
pub(super) struct Issuers {
    pub(super) world: CertifiedIssuer<'static, KeyPair>,
    pub(super) rogue: CertifiedIssuer<'static, KeyPair>,
    /// Leaves by what they were issued for and when. Simulated worlds all start at the
    /// same instant of the same calendar, so their certificates are the same but for
    /// their keys; sharing them spares every world the key generation and signing. A
    /// world on the wall clock keeps its own CA and issues every leaf afresh.
    leaves: Option<Mutex<HashMap<LeafKey, Arc<ServerCertificate>>>>,
}

/// What a leaf was issued for: account, mode, extra names and the second of issue.
type LeafKey = (String, CertMode, Vec<String>, u64);

/// Leaves kept for simulated worlds, at most (then the cache starts over).
pub(super) const MAX_SHARED_LEAVES: usize = 4096;

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
        let issuers = Arc::new(Issuers::new(crate::core::clock::scenario_epoch(), true)?);
        *shared = Some(issuers.clone());
        Ok(issuers)
    }
}

/// A validity window relative to the moment of issue.
pub(super) enum Validity {
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

/// Generates a self-signed CA that can sign leaves.
pub(super) fn new_authority(
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

pub(super) fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 60 * 60)
}

/// Sets the validity window around `now` on the world's clock, the clock rustls verifies
/// against on both ends (see [`WorldClock::time_provider`]).
pub(super) fn set_validity(params: &mut CertificateParams, validity: Validity, now: SystemTime) {
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

/// The client sessions every simulated world's partner messages share.
pub(super) fn simulated_sessions() -> Arc<dyn rustls::client::ClientSessionStore> {
    static SESSIONS: std::sync::OnceLock<Arc<rustls::client::ClientSessionMemoryCache>> =
        std::sync::OnceLock::new();
    SESSIONS
        .get_or_init(|| Arc::new(rustls::client::ClientSessionMemoryCache::new(4096)))
        .clone()
}
