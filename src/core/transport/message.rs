//! What a partner message is, the protocol's headers it carries, and what its delivery
//! can end in: the vocabulary every part of the transport shares, below all of them.

use crate::core::directory::subdomain_of_host;
use crate::core::model::AgreementStatus;
use crate::core::trace::Text;
use axum::http::Method;
use axum::http::Uri;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use url::Url;

/// The protocol version we speak and require (`X-Ticket-Sharing-Version`).
pub const PROTOCOL_VERSION: &str = "1";
/// Header carrying `{agreement uuid}:{access key}` on every call after the invitation.
pub const TOKEN_HEADER: &str = "X-Ticket-Sharing-Token";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "X-Ticket-Sharing-Version";
/// Header naming the sending account on every partner message (a sharesim extension),
/// so the receiving side can apply faults to one link.
pub const FROM_HEADER: &str = "X-Sharesim-From";
/// Header carrying the world's own key on every partner message its transport sends, so
/// a receiving account tells the world's messages (already traced by the sender) from
/// those of external accounts and strangers. The relay to an external account removes it.
pub const WORLD_HEADER: &str = "X-Sharesim-World";
/// Header on the relay's own 502 when an external account could not be reached: the
/// status its sender records (`failed`, `ssl_error`, `configuration_error`), with the
/// cause as the body. The relay never passes this header on from a partner.
pub const RELAY_FAILURE_HEADER: &str = "X-Sharesim-Relay-Failure";
/// Redirects a sender follows before giving up (the reference client's limit).
pub const MAX_REDIRECTS: usize = 2;

/// A partner message about to be sent: its destination parsed once by the sender and
/// its body serialised once from its wire type.
#[derive(Clone, Debug)]
pub struct Message {
    /// The sending account's subdomain (for the trace and per-link faults).
    pub from: Text,
    /// HTTP method.
    pub method: Method,
    /// Where it goes, under the partner's sharing URL.
    pub url: Destination,
    /// `X-Ticket-Sharing-Token`, absent only on an invitation.
    pub token: Option<String>,
    /// JSON body.
    pub body: Option<Body>,
}

/// Where a partner message goes, parsed once when the message is made: the URL as
/// text, the account it addresses and the path, which the gate, every attempt and every
/// trace event read without parsing the URL again. A text that is no URL is kept as it
/// is, so its delivery fails as a configuration error that names it.
#[derive(Clone, Debug)]
pub struct Destination {
    /// The URL as the parser writes it (the text as given, when it is not a URL).
    text: String,
    /// A URL with the destination's scheme, host and port (its partner's base URL, or
    /// the whole URL), or why the text is not a URL.
    origin: Result<Arc<Url>, String>,
    /// The whole URL, parsed only when something needs more than its origin (a
    /// redirect to resolve, an external account's path to map).
    whole: OnceLock<Url>,
    /// The kept base it extends, whose request-target parts are parsed already.
    base: Option<Arc<Base>>,
    to: Text,
    path: Option<Text>,
}

impl Destination {
    /// Parses `text`, an absolute URL.
    pub fn parse(text: String) -> Destination {
        match Url::parse(&text) {
            Ok(url) => Destination::from_url(url),
            Err(error) => Destination {
                to: text.as_str().into(),
                text,
                origin: Err(error.to_string()),
                whole: OnceLock::new(),
                base: None,
                path: None,
            },
        }
    }

    /// A destination already parsed.
    pub fn from_url(url: Url) -> Destination {
        let host = url.host_str().unwrap_or_default();
        let to = subdomain_of_host(host).unwrap_or(host).into();
        Destination {
            text: url.as_str().to_string(),
            path: Some(url.path().into()),
            to,
            origin: Ok(Arc::new(url.clone())),
            whole: OnceLock::from(url),
            base: None,
        }
    }

    /// The whole URL, or why the text is not one.
    pub fn url(&self) -> Result<&Url, &str> {
        let origin = self.origin()?;
        Ok(self.whole.get_or_init(|| {
            // The text is what extending the origin's URL wrote, so it parses as that.
            Url::parse(&self.text).unwrap_or_else(|_| origin.clone())
        }))
    }

    /// A URL with the destination's scheme, host and port (all the target checks and
    /// the connection need), or why the text is not a URL.
    pub fn origin(&self) -> Result<&Url, &str> {
        self.origin.as_deref().map_err(String::as_str)
    }

    /// The URL as an HTTP request's target. Under a kept base only the path is parsed
    /// (the base's scheme and authority were once); otherwise the whole text, whose
    /// error is the one returned.
    pub fn uri(&self) -> Result<Uri, String> {
        if let (Some(base), Some(path)) = (&self.base, &self.path)
            && let Some((scheme, authority)) = &base.parts
            && let Ok(path) =
                PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(path.as_bytes()))
        {
            let mut parts = axum::http::uri::Parts::default();
            parts.scheme = Some(scheme.clone());
            parts.authority = Some(authority.clone());
            parts.path_and_query = Some(path);
            if let Ok(uri) = Uri::from_parts(parts) {
                return Ok(uri);
            }
        }
        Uri::try_from(self.text()).map_err(|error| error.to_string())
    }

    /// The URL as text (as given, when it is not a URL).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The account addressed: its subdomain, or the host as written (the whole text
    /// when it is not a URL).
    pub fn to(&self) -> &Text {
        &self.to
    }

    /// The URL's path; None when the text is not a URL.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The path as trace events show it (empty when the text is not a URL), shared.
    pub fn shown_path(&self) -> Text {
        self.path.clone().unwrap_or_default()
    }
}

/// Partner base URLs (`http://globex.sharesim.test/sharing`) parsed once: a message's
/// destination is its base with `/{kind}/{id}` appended, which needs no parse at all
/// when the id is plain. The bases come from partners too, so only the last few are
/// kept.
#[derive(Debug, Default)]
pub struct BaseUrls {
    recent: std::sync::Mutex<std::collections::VecDeque<Arc<Base>>>,
}

/// A kept base: its text, its URL, the account it addresses and its scheme and
/// authority as a request's target has them.
#[derive(Debug)]
struct Base {
    text: String,
    url: Arc<Url>,
    to: Text,
    parts: Option<(Scheme, Authority)>,
}

/// How many bases [`BaseUrls`] keeps.
const KEPT_BASES: usize = 16;

impl BaseUrls {
    /// The destination `{base}/{kind}/{id}`, the same as [`Destination::parse`] of
    /// that text gives. `kind` is a constant path segment (`agreements`, `tickets`).
    pub fn destination(&self, base: &str, kind: &str, id: &str) -> Destination {
        let mut text = String::with_capacity(base.len() + kind.len() + id.len() + 2);
        for piece in [base, "/", kind, "/", id] {
            text.push_str(piece);
        }
        if plain_segment(id)
            && let Some(kept) = self.base(base)
        {
            // The base is written as the parser writes it and the new segments need
            // no encoding, so the text is the URL a parse would give.
            let path_start = base.len() - kept.url.path().len();
            return Destination {
                path: Some(text[path_start..].into()),
                to: kept.to.clone(),
                origin: Ok(kept.url.clone()),
                whole: OnceLock::new(),
                base: Some(kept),
                text,
            };
        }
        Destination::parse(text)
    }

    /// `base` parsed, when appending a path to it is all a parse of the longer text
    /// would do: an http(s) URL written as the parser writes it, with no query, no
    /// fragment and no trailing slash.
    fn base(&self, base: &str) -> Option<Arc<Base>> {
        let mut recent = crate::core::trace::lock(&self.recent);
        if let Some(kept) = recent.iter().find(|kept| kept.text == base) {
            return Some(kept.clone());
        }
        let url = Url::parse(base).ok()?;
        let plain = url.as_str() == base
            && matches!(url.scheme(), "http" | "https")
            && url.query().is_none()
            && url.fragment().is_none()
            && !url.path().ends_with('/');
        if !plain {
            return None;
        }
        if recent.len() == KEPT_BASES {
            recent.pop_front();
        }
        let host = url.host_str().unwrap_or_default();
        let parts = Scheme::try_from(url.scheme())
            .ok()
            .zip(Authority::try_from(url.authority()).ok());
        let kept = Arc::new(Base {
            text: base.to_string(),
            to: subdomain_of_host(host).unwrap_or(host).into(),
            parts,
            url: Arc::new(url),
        });
        recent.push_back(kept.clone());
        Some(kept)
    }
}

/// Whether `id` is a path segment a URL parser keeps as it is: unreserved characters
/// only, and not a dot segment.
fn plain_segment(id: &str) -> bool {
    !id.is_empty()
        && id.bytes().any(|b| b != b'.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// A partner message's JSON body: the bytes, serialised once from its wire type (the
/// same bytes go on the wire and into the trace), and the fields the trace shows.
#[derive(Clone, Debug)]
pub struct Body {
    /// The serialised body.
    pub bytes: Bytes,
    /// What the trace shows of it.
    pub shown: Shown,
}

impl Body {
    /// Serialises `value`, whose shown fields are `shown`.
    pub fn json(value: &impl Serialize, shown: Shown) -> Body {
        // Room for an agreement message at once, instead of doubling up to it.
        let mut bytes = Vec::with_capacity(256);
        if serde_json::to_writer(&mut bytes, value).is_err() {
            bytes.clear();
        }
        Body {
            bytes: Bytes::from(bytes),
            shown,
        }
    }
}

/// The string fields of a protocol body the trace summarises, in the order it shows
/// them: `status=… deactivated_by=… name=… subject=…`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Shown {
    /// An agreement's or a ticket's status.
    #[serde(default, deserialize_with = "text")]
    pub status: Option<Text>,
    /// Who deactivated an agreement.
    #[serde(default, deserialize_with = "text")]
    pub deactivated_by: Option<Text>,
    /// An agreement's name.
    #[serde(default, deserialize_with = "text")]
    pub name: Option<Text>,
    /// A ticket's subject.
    #[serde(default, deserialize_with = "text")]
    pub subject: Option<Text>,
}

impl Shown {
    /// The shown fields of a JSON body as it came (a partner's answer), read straight
    /// from its bytes: the string values of those keys of a JSON object; none of
    /// anything else.
    pub fn of_json(body: &[u8]) -> Shown {
        let object = body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        if !object {
            return Shown::default();
        }
        match crate::core::json::from_bytes(body) {
            Ok(shown) => shown,
            // A key given twice: read as a JSON value does, the last one counts.
            Err(_) => crate::core::json::from_bytes::<serde_json::Value>(body)
                .ok()
                .and_then(|value| serde_json::from_value(value).ok())
                .unwrap_or_default(),
        }
    }

    /// `status=inactive deactivated_by=sender`: the fields present, for the trace.
    pub fn summary(&self) -> String {
        let fields = [
            ("status", &self.status),
            ("deactivated_by", &self.deactivated_by),
            ("name", &self.name),
            ("subject", &self.subject),
        ];
        let length: usize = fields
            .iter()
            .filter_map(|(key, value)| Some(key.len() + value.as_ref()?.len() + 2))
            .sum();
        let mut out = String::with_capacity(length);
        for (key, value) in fields {
            if let Some(value) = value {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(key);
                out.push('=');
                out.push_str(value);
            }
        }
        out
    }
}

/// A string, or None for any other JSON value (read past without building it).
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Text>, D::Error> {
    deserializer.deserialize_any(TextOnly)
}

/// The visitor of [`text`]: keeps a string, skips anything else.
struct TextOnly;

impl<'de> serde::de::Visitor<'de> for TextOnly {
    type Value = Option<Text>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Option<Text>, E> {
        Ok(Some(Text::from(value)))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Option<Text>, E> {
        Ok(Some(Text::from(value)))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Option<Text>, E> {
        Ok(None)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Option<Text>, E> {
        Ok(None)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Option<Text>, E> {
        Ok(None)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Option<Text>, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Text>, E> {
        Ok(None)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<Text>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Option<Text>, D::Error> {
        inner.deserialize_any(TextOnly)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Text>, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<Text>, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }
}

/// A 2xx answer from the partner.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The 2xx status.
    pub status: u16,
    /// The body as it came; the sender reads it as the wire type it expects.
    pub body: Bytes,
    /// The body's shown fields, read once for the trace and for a sender that needs
    /// no more of it than those.
    pub shown: Shown,
}

/// Why a message was not delivered, and the status a sender records for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// `failed`, `ssl_error` or `configuration_error`.
    pub status: AgreementStatus,
    /// What happened, in words, including the underlying library's error text.
    pub cause: String,
    /// The HTTP status, when the partner answered with a refusal.
    pub http_status: Option<u16>,
    /// How long the partner asked the sender to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

impl DeliveryFailure {
    /// Whether the partner refused the message for what it says (400, 409, 413, 422):
    /// the same message would be refused again, so a queued push is dropped rather
    /// than kept *(model)*. Every other failure says nothing about the message.
    pub fn refuses_content(&self) -> bool {
        matches!(self.http_status, Some(400 | 409 | 413 | 422))
    }
}

impl std::fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.cause, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_under_a_kept_base_is_what_parsing_its_text_gives() {
        let bases = BaseUrls::default();
        let base_texts = [
            "http://globex.sharesim.test/sharing",
            "https://127.0.0.1:4443/sharing",
            "http://127.0.0.1:80/sharing",
            "http://Globex.sharesim.test/sharing",
            "http://globex.sharesim.test/sharing/",
            "http://globex.sharesim.test/sharing?x=1",
            "http://globex.sharesim.test/sh aring",
            "http://globex.sharesim.test",
            "not a url",
            "ftp://globex/sharing",
        ];
        let ids = [
            "0123456789abcdef0123456789abcdef01234567",
            "a.b",
            ".",
            "..",
            "%2e",
            "a/b",
            "a?b",
            "a#b",
            "a b",
            "",
            "é",
        ];
        for round in 0..2 {
            for base in base_texts {
                for id in ids {
                    let fast = bases.destination(base, "agreements", id);
                    let slow = Destination::parse(format!("{base}/agreements/{id}"));
                    assert_eq!(fast.text(), slow.text(), "{base} {id} round {round}");
                    assert_eq!(fast.url().ok(), slow.url().ok(), "{base} {id}");
                    assert_eq!(fast.to(), slow.to(), "{base} {id}");
                    assert_eq!(fast.path(), slow.path(), "{base} {id}");
                    assert_eq!(fast.uri(), slow.uri(), "{base} {id}");
                }
            }
        }
    }
}
