//! The world's directory: which subdomains exist and where each one listens.
//!
//! Accounts address each other by name (`https://globex.sharesim.test/sharing`), the
//! way real accounts use `globex.zendesk.com`. The directory is the only DNS the
//! outbound transport has, so names resolve to loopback ports and certificate names
//! are checked for real; nothing can resolve to anything outside loopback.

use crate::trace::lock;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The DNS suffix of every simulated account.
pub const DOMAIN: &str = "sharesim.test";

/// `{subdomain}.sharesim.test`: the host name an account is reached at.
pub fn host_name(subdomain: &str) -> String {
    format!("{subdomain}.{DOMAIN}")
}

/// The subdomain a host name belongs to, if it is one of ours.
pub fn subdomain_of_host(host: &str) -> Option<&str> {
    host.strip_suffix(DOMAIN)?.strip_suffix('.')
}

/// What the directory knows about one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// Display name, used for default agreement names.
    pub display_name: String,
    /// Where its listener is bound, once it has been started.
    pub addr: Option<SocketAddr>,
    /// Whether it serves HTTPS.
    pub https: bool,
}

impl Listing {
    /// The scheme its URLs use.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// Subdomain → listing, shared by the world, its accounts and its transport.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    listings: Arc<Mutex<BTreeMap<String, Listing>>>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Directory {
        Directory::default()
    }

    /// Adds or replaces an account's listing.
    pub fn insert(&self, subdomain: &str, listing: Listing) {
        lock(&self.listings).insert(subdomain.to_string(), listing);
    }

    /// Records where an account now listens.
    pub fn set_addr(&self, subdomain: &str, addr: Option<SocketAddr>) {
        if let Some(listing) = lock(&self.listings).get_mut(subdomain) {
            listing.addr = addr;
        }
    }

    /// The listing of an account, if it exists.
    pub fn get(&self, subdomain: &str) -> Option<Listing> {
        lock(&self.listings).get(subdomain).cloned()
    }

    /// The account listening at `addr`, for partners that address us by IP literal.
    pub fn subdomain_at(&self, addr: SocketAddr) -> Option<String> {
        lock(&self.listings)
            .iter()
            .find(|(_, listing)| listing.addr == Some(addr))
            .map(|(name, _)| name.clone())
    }

    /// The account a sharing URL names: `{subdomain}.sharesim.test` by name, or the
    /// loopback address an account listens on. Partner-supplied URLs are read here, so
    /// no host name in them ever reaches the system resolver (a slow lookup would stall
    /// the handler, and a stranger could make us query any name).
    pub fn subdomain_of_url(&self, url: &str) -> Option<String> {
        let parsed = url::Url::parse(url).ok()?;
        match parsed.host()? {
            url::Host::Domain(host) => subdomain_of_host(host)
                .filter(|sub| crate::model::is_valid_subdomain(sub))
                .map(str::to_string),
            url::Host::Ipv4(ip) => self.subdomain_at(SocketAddr::new(
                std::net::IpAddr::V4(ip),
                parsed.port_or_known_default()?,
            )),
            url::Host::Ipv6(ip) => self.subdomain_at(SocketAddr::new(
                std::net::IpAddr::V6(ip),
                parsed.port_or_known_default()?,
            )),
        }
    }

    /// The sharing URL an account advertises in the protocol (`sender_url`, `receiver_url`).
    pub fn sharing_url(&self, subdomain: &str) -> Option<String> {
        let listing = self.get(subdomain)?;
        Some(format!(
            "{}://{}/sharing",
            listing.scheme(),
            host_name(subdomain)
        ))
    }
}

impl reqwest::dns::Resolve for Directory {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let found = subdomain_of_host(name.as_str())
            .and_then(|sub| self.get(sub))
            .and_then(|listing| listing.addr);
        let host = name.as_str().to_string();
        Box::pin(async move {
            match found {
                Some(addr) => Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs),
                None => Err(format!("no simulated account listens at {host}").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_map_back_to_subdomains() {
        assert_eq!(host_name("acme"), "acme.sharesim.test");
        assert_eq!(subdomain_of_host("acme.sharesim.test"), Some("acme"));
        assert_eq!(subdomain_of_host("acme.example.com"), None);
        assert_eq!(subdomain_of_host("sharesim.test"), None);
    }

    #[test]
    fn sharing_urls_follow_the_scheme() {
        let directory = Directory::new();
        directory.insert(
            "acme",
            Listing {
                display_name: "Acme".into(),
                addr: None,
                https: true,
            },
        );
        assert_eq!(
            directory.sharing_url("acme").as_deref(),
            Some("https://acme.sharesim.test/sharing")
        );
        assert_eq!(directory.sharing_url("globex"), None);
    }

    #[test]
    fn urls_name_accounts_by_host_or_listening_address_never_by_lookup() {
        let directory = Directory::new();
        let addr: SocketAddr = "127.0.0.1:8701".parse().unwrap();
        directory.insert(
            "acme",
            Listing {
                display_name: "Acme".into(),
                addr: Some(addr),
                https: false,
            },
        );
        let of = |url: &str| directory.subdomain_of_url(url);
        assert_eq!(
            of("http://acme.sharesim.test/sharing").as_deref(),
            Some("acme")
        );
        assert_eq!(of("http://127.0.0.1:8701/sharing").as_deref(), Some("acme"));
        // `localhost` would resolve to the same address; it is never looked up.
        assert_eq!(of("http://localhost:8701/sharing"), None);
        assert_eq!(of("http://127.0.0.1:8702/sharing"), None);
        assert_eq!(of("not a url"), None);
    }
}
