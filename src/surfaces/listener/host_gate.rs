//! Who may call an account at all: requests must name the account by a loopback name,
//! the bound address or the world's own host names (a DNS-rebinding page names itself
//! and is refused 421), and the partner surface takes no request from a web page (a
//! browser's cross-origin POST carries `Origin`; partners are servers and never send it).
//!
//! A plain service around what the listener serves, not a middleware layer: a layer
//! cloned its state and inner service and boxed a future on every request, which a
//! profile under load showed among the largest costs a bare server does not pay.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The names an account answers to besides loopback's.
#[derive(Clone, Debug)]
pub(crate) struct HostGate {
    /// The address listened on.
    pub bound: String,
    /// Host names (and suffixes) that are the world's own.
    pub names: Arc<Vec<String>>,
}

impl HostGate {
    /// The refusal of `request` (421 for a foreign `Host`, 403 for a web page on
    /// `/sharing`), or None when it may pass.
    fn refusal(&self, request: &Request) -> Option<Response> {
        // The first `Host` value, as `HeaderMap::get` gives it, found by a pass over the
        // request's few headers: a lookup by name hashes the name.
        let header = request
            .headers()
            .iter()
            .find(|(name, _)| *name == header::HOST)
            .map(|(_, value)| value);
        if !header.is_some_and(|host| self.is_common_spelling(host.as_bytes())) {
            let refused = self.foreign_host(request, header.and_then(|v| v.to_str().ok()));
            if refused.is_some() {
                return refused;
            }
        }
        if request.uri().path().starts_with("/sharing")
            && request.headers().contains_key(header::ORIGIN)
        {
            return Some(
                (
                    StatusCode::FORBIDDEN,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "partner messages come from partners' servers, not from web pages (this request carries an Origin header)\n",
                )
                    .into_response(),
            );
        }
        None
    }

    /// The 421 for a request whose `Host` (`header`, else the URI's authority) is not
    /// one this account answers to, or None.
    fn foreign_host(&self, request: &Request, header: Option<&str>) -> Option<Response> {
        let authority;
        let host = match header {
            Some(host) => Some(host),
            None => {
                authority = request.uri().authority().map(|a| a.as_str());
                authority
            }
        };
        let allowed = host.is_some_and(|host| {
            crate::core::host::is_allowed(host, Some(&self.bound), &self.names)
        });
        if !allowed {
            return Some(
                (
                    StatusCode::MISDIRECTED_REQUEST,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!(
                        "the Host header {:?} is not this account's address: call it at {} (a web page's own name is refused: DNS rebinding)\n",
                        host.unwrap_or_default(),
                        self.bound
                    ),
                )
                    .into_response(),
            );
        }
        None
    }

    /// Whether `host` is spelled as clients of this machine spell it (`127.0.0.1`,
    /// `localhost`, the bound IPv4 address, or one of the world's names in lower case,
    /// with or without a port): compared byte for byte, where
    /// [`crate::core::host::is_allowed`] would parse it. Every spelling taken here is
    /// one `is_allowed` takes; any other goes through it.
    fn is_common_spelling(&self, host: &[u8]) -> bool {
        let spelled = |name: &[u8]| {
            host.strip_prefix(name).is_some_and(|rest| match rest {
                [] => true,
                [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
                _ => false,
            })
        };
        // The name before a `:port` of digits (every account's partners call it so).
        let name = match host.iter().rposition(|b| *b == b':') {
            Some(colon) if host[colon + 1..].iter().all(u8::is_ascii_digit) => &host[..colon],
            _ => host,
        };
        let world_name = self.names.iter().any(|suffix| {
            let suffix = suffix.as_bytes();
            !suffix.is_empty()
                && name.ends_with(suffix)
                && (name.len() == suffix.len() || name[name.len() - suffix.len() - 1] == b'.')
        });
        let bound = self.bound.as_bytes();
        world_name
            || spelled(b"127.0.0.1")
            || spelled(b"localhost")
            || (!bound.is_empty() && !bound.contains(&b':') && spelled(bound))
    }
}

/// `inner` behind a [`HostGate`]: refused requests are answered here, the rest passed
/// on untouched.
#[derive(Clone, Debug)]
pub(crate) struct Gated<S> {
    gate: Arc<HostGate>,
    inner: S,
}

impl<S> Gated<S> {
    /// Serves `inner` to the requests `gate` lets pass.
    pub(crate) fn new(gate: HostGate, inner: S) -> Gated<S> {
        Gated {
            gate: Arc::new(gate),
            inner,
        }
    }
}

impl<S> tower::Service<Request> for Gated<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.gate.refusal(&request) {
            Some(refusal) => Either::Left(std::future::ready(Ok(refusal))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HostGate;
    use std::sync::Arc;

    #[test]
    fn common_spellings_are_ones_the_full_check_takes_and_no_others_pass_for_them() {
        let gate = HostGate {
            bound: "10.1.2.3".to_string(),
            names: Arc::new(vec!["sharesim.test".to_string()]),
        };
        for host in [
            "127.0.0.1",
            "127.0.0.1:8700",
            "127.0.0.1:",
            "localhost:1",
            "10.1.2.3:80",
            "10.1.2.3",
            "acme.sharesim.test",
            "acme.sharesim.test:8700",
            "sharesim.test:1",
            "ACME.sharesim.test",
        ] {
            assert!(gate.is_common_spelling(host.as_bytes()), "{host}");
            assert!(
                crate::core::host::is_allowed(host, Some(&gate.bound), &gate.names),
                "{host}"
            );
        }
        for host in [
            "127.0.0.1.evil.example",
            "127.0.0.1:80x",
            "localhost.evil.example:80",
            "10.1.2.30",
            "LOCALHOST",
            "acme.SHARESIM.test",
            "acme.sharesim.test.evil.example",
            "acme.sharesim.test:80x",
            "evilsharesim.test",
            "",
        ] {
            assert!(!gate.is_common_spelling(host.as_bytes()), "{host}");
        }
    }
}
