//! The world's directory: which subdomains exist and where each one listens.
//!
//! Accounts address each other by name (`https://globex.sharesim.test/sharing`), the
//! way real accounts use `globex.zendesk.com`. The directory is the only DNS the
//! outbound transport has, so names resolve to loopback ports and certificate names
//! are checked for real; nothing can resolve to anything outside loopback.

use crate::core::trace::lock;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The subdomain of a URL already in the form the world writes
/// (`http[s]://{subdomain}.sharesim.test[/...]`, host in lower case, no port, user or
/// punycode), read without a full URL parse; `None` sends any other URL to the parser,
/// which gives the same answer for these.
fn plain_in_world_subdomain(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    let sub = subdomain_of_host(host)?;
    (crate::core::model::is_valid_subdomain(sub) && !sub.contains("xn--")).then_some(sub)
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
    /// For an account outside this process: the sharing URL an operator configured
    /// (`serve --partner`, `external =` in a scenario). Its `addr` is then where the
    /// world's relay for it listens (see `crate::surfaces::external`).
    pub external: Option<ExternalUrl>,
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
    /// How many listings are external: every partner message asks, so the answer for a
    /// world without one must not cost a scan of its accounts.
    externals: Arc<AtomicUsize>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Directory {
        Directory::default()
    }

    /// Adds or replaces an account's listing.
    pub fn insert(&self, subdomain: &str, listing: Listing) {
        let added = listing.external.is_some();
        let replaced = lock(&self.listings).insert(subdomain.to_string(), listing);
        if replaced.is_some_and(|old| old.external.is_some()) {
            self.externals.fetch_sub(1, Ordering::Relaxed);
        }
        if added {
            self.externals.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The listing of an account, if it exists.
    pub fn get(&self, subdomain: &str) -> Option<Listing> {
        lock(&self.listings).get(subdomain).cloned()
    }

    /// Whether an account is listening now (None: no such account). Reads the listing
    /// in place, for the sender's check on every message.
    pub fn is_listening(&self, subdomain: &str) -> Option<bool> {
        lock(&self.listings)
            .get(subdomain)
            .map(|listing| listing.addr.is_some())
    }

    /// The account listening at `addr`, for partners that address us by IP literal.
    pub fn subdomain_at(&self, addr: SocketAddr) -> Option<String> {
        lock(&self.listings)
            .iter()
            .find(|(_, listing)| listing.addr == Some(addr))
            .map(|(name, _)| name.clone())
    }

    /// The account a sharing URL names: `{subdomain}.sharesim.test` by name, the
    /// loopback address an account listens on, or a URL at or under an external
    /// account's configured sharing URL. Partner-supplied URLs are read here, so no host
    /// name in them ever reaches the system resolver (a slow lookup would stall the
    /// handler, and a stranger could make us query any name).
    pub fn subdomain_of_url(&self, url: &str) -> Option<String> {
        if let Some(sub) = plain_in_world_subdomain(url) {
            return Some(sub.to_string());
        }
        let parsed = url::Url::parse(url).ok()?;
        self.in_process_subdomain(&parsed).or_else(|| {
            self.has_externals()
                .then(|| self.external_of(&parsed).map(|(name, _)| name))
                .flatten()
        })
    }

    fn in_process_subdomain(&self, parsed: &url::Url) -> Option<String> {
        match parsed.host()? {
            url::Host::Domain(host) => subdomain_of_host(host)
                .filter(|sub| crate::core::model::is_valid_subdomain(sub))
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

    /// The sharing URL an account advertises in the protocol (`sender_url`, `receiver_url`):
    /// an external account's configured URL, `{scheme}://{subdomain}.sharesim.test/sharing`
    /// for the others.
    pub fn sharing_url(&self, subdomain: &str) -> Option<String> {
        let listing = self.get(subdomain)?;
        if let Some(external) = &listing.external {
            return Some(external.as_str().to_string());
        }
        // Written in place: every invitation asks for it.
        let scheme = listing.scheme();
        let mut url = String::with_capacity(scheme.len() + subdomain.len() + DOMAIN.len() + 12);
        for piece in [scheme, "://", subdomain, ".", DOMAIN, "/sharing"] {
            url.push_str(piece);
        }
        Some(url)
    }
}

impl Directory {
    /// The configured URL of an external account.
    pub fn external(&self, subdomain: &str) -> Option<ExternalUrl> {
        lock(&self.listings).get(subdomain)?.external.clone()
    }

    /// Whether `subdomain` is an account outside this process.
    pub fn is_external(&self, subdomain: &str) -> bool {
        self.external(subdomain).is_some()
    }

    /// Whether any account of the world lives outside the process.
    pub fn has_externals(&self) -> bool {
        self.externals.load(Ordering::Relaxed) > 0
    }

    /// Every external account with its configured URL, by name.
    pub fn externals(&self) -> Vec<(String, ExternalUrl)> {
        lock(&self.listings)
            .iter()
            .filter_map(|(name, listing)| Some((name.clone(), listing.external.clone()?)))
            .collect()
    }

    /// The external account whose configured URL `url` is at or under, with the rest of
    /// the path (`/agreements/{uuid}`).
    pub fn external_of(&self, url: &url::Url) -> Option<(String, String)> {
        lock(&self.listings).iter().find_map(|(name, listing)| {
            let rest = listing.external.as_ref()?.rest_of(url)?;
            Some((name.clone(), rest))
        })
    }

    /// Whether `url` has the scheme, host and port of an external account's configured
    /// URL (whatever its path).
    pub fn is_external_origin(&self, url: &url::Url) -> bool {
        lock(&self.listings).values().any(|listing| {
            listing
                .external
                .as_ref()
                .is_some_and(|external| external.url().origin() == url.origin())
        })
    }

    /// Where a message to `url` goes inside the world: a URL under an external account's
    /// configured URL becomes the same path under `{scheme}://{subdomain}.sharesim.test/sharing`,
    /// where the world's relay for that account listens (and its faults, certificate,
    /// holds and drops apply like on any account's link). None: `url` is not an
    /// external account's.
    pub fn in_world_url(&self, url: &url::Url) -> Option<String> {
        if !self.has_externals() {
            return None;
        }
        let (name, rest) = self.external_of(url)?;
        let listing = self.get(&name)?;
        Some(format!(
            "{}://{}/sharing{rest}",
            listing.scheme(),
            host_name(&name)
        ))
    }
}

/// The sharing URL of an account outside this process, as an operator configured it:
/// HTTP(S), a host, no query or fragment, no trailing slash. Messages to that account
/// go to this URL and to paths under it, and nowhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalUrl {
    url: url::Url,
    /// The URL as text, without a trailing slash.
    text: String,
}

impl ExternalUrl {
    /// Checks a configured sharing URL; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<ExternalUrl, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|error| format!("{text:?} is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{text:?} is not an HTTP(S) URL; a sharing URL looks like http://127.0.0.1:9000/sharing"
            ));
        }
        let Some(host) = url.host_str() else {
            return Err(format!("{text:?} names no host"));
        };
        if subdomain_of_host(host).is_some() || host == DOMAIN {
            return Err(format!(
                "{text:?} is under {DOMAIN}, where sharesim's own accounts live; give the address the partner really listens on"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{text:?} carries a query, a fragment or credentials; a sharing URL is a scheme, a host, a port and a path"
            ));
        }
        let text = url.as_str().trim_end_matches('/').to_string();
        Ok(ExternalUrl { url, text })
    }

    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    fn base_path(&self) -> &str {
        self.url.path().trim_end_matches('/')
    }

    /// The path (and query) of `url` below this URL, `""` for the URL itself; None when
    /// `url` is on another scheme, host or port, or outside this path.
    pub fn rest_of(&self, url: &url::Url) -> Option<String> {
        if url.scheme() != self.url.scheme()
            || url.host() != self.url.host()
            || url.port_or_known_default() != self.url.port_or_known_default()
        {
            return None;
        }
        let rest = url.path().strip_prefix(self.base_path())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(match url.query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest.to_string(),
        })
    }

    /// This URL with `rest` (a path and query from [`ExternalUrl::rest_of`]) appended,
    /// checked to stay under it once dot segments are resolved.
    pub fn join(&self, rest: &str) -> Result<url::Url, String> {
        let joined = url::Url::parse(&format!("{}{rest}", self.text))
            .map_err(|error| format!("{rest:?} cannot be appended to {}: {error}", self.text))?;
        match self.rest_of(&joined) {
            Some(_) => Ok(joined),
            None => Err(format!(
                "{joined} is not under the configured sharing URL {}",
                self.text
            )),
        }
    }
}

impl std::fmt::Display for ExternalUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
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
                external: None,
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
                external: None,
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
        // The shortcut and the parser agree on what the shortcut reads.
        for url in [
            "https://acme.sharesim.test",
            "https://acme.sharesim.test/sharing/agreements/x?y#z",
            "http://ACME.sharesim.test/sharing",
            "http://acme.sharesim.test:80/sharing",
            "http://u@acme.sharesim.test/sharing",
            "http://a.b.sharesim.test/sharing",
            "http://acme.sharesim.test./sharing",
            "http://acme.sharesim.test\\sharing",
            "http://xn--acme.sharesim.test/sharing",
            "http://-.sharesim.test/sharing",
        ] {
            let parsed = url::Url::parse(url).ok();
            let slow = parsed.and_then(|parsed| directory.in_process_subdomain(&parsed));
            assert_eq!(of(url), slow, "{url}");
        }
    }

    #[test]
    fn external_accounts_own_exactly_their_configured_url_and_what_is_under_it() {
        let directory = Directory::new();
        assert!(!directory.has_externals());
        let configured = ExternalUrl::parse("http://127.0.0.1:9000/sharing/").unwrap();
        assert_eq!(configured.as_str(), "http://127.0.0.1:9000/sharing");
        directory.insert(
            "partner",
            Listing {
                display_name: "Partner".into(),
                addr: Some("127.0.0.1:40000".parse().unwrap()),
                https: true,
                external: Some(configured.clone()),
            },
        );
        assert!(directory.has_externals());
        let of = |url: &str| directory.subdomain_of_url(url);
        let url = |text: &str| url::Url::parse(text).unwrap();
        assert_eq!(
            of("http://127.0.0.1:9000/sharing").as_deref(),
            Some("partner")
        );
        assert_eq!(
            of("http://127.0.0.1:9000/sharing/agreements/x").as_deref(),
            Some("partner")
        );
        assert_eq!(of("http://127.0.0.1:9000/sharingx"), None);
        assert_eq!(of("http://127.0.0.1:9001/sharing"), None);
        assert_eq!(of("https://127.0.0.1:9000/sharing"), None);
        assert_eq!(of("http://localhost:9000/sharing"), None);
        assert_eq!(
            directory
                .in_world_url(&url("http://127.0.0.1:9000/sharing/agreements/abc"))
                .as_deref(),
            Some("https://partner.sharesim.test/sharing/agreements/abc")
        );
        assert_eq!(
            directory.in_world_url(&url("http://127.0.0.1:9001/sharing")),
            None
        );
        assert_eq!(
            directory.sharing_url("partner").as_deref(),
            Some("http://127.0.0.1:9000/sharing")
        );
        assert!(configured.join("/agreements/x").is_ok());
        assert!(configured.join("/../admin").is_err());
        assert!(configured.join("/%2e%2e/admin").is_err());
    }

    #[test]
    fn configured_urls_must_be_plain_http_addresses_outside_the_world() {
        for bad in [
            "ftp://127.0.0.1/sharing",
            "not a url",
            "http://globex.sharesim.test/sharing",
            "http://127.0.0.1:9000/sharing?x=1",
            "http://user:pw@127.0.0.1:9000/sharing",
        ] {
            assert!(ExternalUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(ExternalUrl::parse("https://partner.internal:8443/api/sharing").is_ok());
    }
}
