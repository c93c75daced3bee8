//! The REST surface under `/api/v2`, shaped so real Zendesk API clients work
//! unmodified: paths with and without `.json`, HTTP Basic token auth, the documented
//! envelopes, and error bodies matched byte for byte (docs/design.md, *The REST API*).
//!
//! Handlers are thin: authenticate, parse, call the account (and, for a change a
//! partner must hear, `partner::outbound`), map the result. Every error goes through
//! [`ApiError`], the one place that knows Zendesk's error shapes. This module holds the
//! router and the call recorder; agreement and ticket routes and their JSON views live
//! in [`agreements`] and [`tickets`], trace summaries in [`summary`].

pub(crate) mod agreements;
pub(crate) mod error;
pub(crate) mod pagination;
mod recorder;
pub(crate) mod settings;
pub(crate) mod summary;
pub(crate) mod ticket_fields;
pub(crate) mod ticket_views;
pub(crate) mod tickets;
pub(crate) mod users;

pub(crate) use error::ApiError;
pub(crate) use recorder::{Begun, Step, begin_call, finish_call, record_call};

use crate::core::account::{Account, Role, User};
use crate::core::trace::{WireHeaders as Headers, clip_header, redact_authorization};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use summary::{summarize_parsed_request, summarize_value};

/// A JSON response with Zendesk's content type.
fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, body.to_string().into(), summarize_value(body))
}

/// A response whose JSON body is already serialised, with its trace summary attached so
/// [`record_call`] need not read the body back.
fn json_bytes_response(status: StatusCode, body: Bytes, summary: String) -> Response {
    let body_for_trace = body.clone();
    let mut response = json_bytes(status, body);
    response
        .extensions_mut()
        .insert(TraceSummary(summary, Some(body_for_trace)));
    response
}

/// A response of serialised JSON with Zendesk's content type, nothing attached.
fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The trace's summary of a REST answer, attached by the handler that built the body,
/// with the body itself (a shared `Bytes`) when the handler has it at hand.
#[derive(Clone, Debug)]
pub(crate) struct TraceSummary(pub(crate) String, pub(crate) Option<Bytes>);

/// The `/api/v2` routes, the same for every account (each serves them with its own
/// state); [`record_call`] goes around them.
pub(crate) fn routes() -> Router<Arc<Account>> {
    Router::new()
        .merge(agreements::routes())
        .merge(tickets::routes())
        .merge(ticket_fields::routes())
        .merge(settings::routes())
        .merge(users::routes())
        // Unknown paths under the API still pass authentication, the trace and the
        // rate-limit headers, like every other API answer.
        .route("/api/v2/{*rest}", axum::routing::any(invalid_endpoint))
}

/// The agreement list's answer headers for `body`, built once per listing (see
/// `AccountState::listing`), in the order its answer always had: the content type,
/// the length, then the rate-limit values of the unenforced allowance after one call,
/// which [`finish_answer`] replaces in place when the allowance says otherwise.
fn listing_headers(body: &Bytes) -> axum::http::HeaderMap {
    let (limit, remaining) = rate_limit_values(
        crate::core::rate_limit::UNENFORCED_LIMIT,
        crate::core::rate_limit::UNENFORCED_LIMIT - 1,
    );
    let mut headers = axum::http::HeaderMap::with_capacity(4);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(X_RATE_LIMIT, limit);
    headers.insert(X_RATE_LIMIT_REMAINING, remaining);
    headers
}

/// `X-Rate-Limit`, as a constant name (no parsing per call).
const X_RATE_LIMIT: header::HeaderName = header::HeaderName::from_static("x-rate-limit");
/// `X-Rate-Limit-Remaining`.
const X_RATE_LIMIT_REMAINING: header::HeaderName =
    header::HeaderName::from_static("x-rate-limit-remaining");

/// The rate-limit header values; those of the unenforced allowance (every call when no
/// limit is set) are constants, so the common answer formats no numbers.
fn rate_limit_values(limit: u32, remaining: u32) -> (HeaderValue, HeaderValue) {
    use crate::core::rate_limit::UNENFORCED_LIMIT;
    const LIMIT: HeaderValue = HeaderValue::from_static("700");
    const AFTER_ONE: HeaderValue = HeaderValue::from_static("699");
    const UNTOUCHED: HeaderValue = HeaderValue::from_static("700");
    let limit_value = if limit == UNENFORCED_LIMIT {
        LIMIT
    } else {
        HeaderValue::from(limit)
    };
    let remaining_value = match remaining {
        699 if limit == UNENFORCED_LIMIT => AFTER_ONE,
        700 if limit == UNENFORCED_LIMIT => UNTOUCHED,
        _ => HeaderValue::from(remaining),
    };
    (limit_value, remaining_value)
}

/// A header value as a wire keeps it: the common constants borrowed, anything else
/// clipped into its own string.
fn shown(value: &HeaderValue) -> Cow<'static, str> {
    const CONSTANTS: [&str; 5] = [
        "application/json; charset=utf-8",
        "application/json",
        "text/plain; charset=utf-8",
        "700",
        "699",
    ];
    let bytes = value.as_bytes();
    match CONSTANTS.iter().find(|c| c.as_bytes() == bytes) {
        Some(constant) => Cow::Borrowed(constant),
        None => Cow::Owned(clip_header(value.to_str().unwrap_or("?"))),
    }
}

/// The request headers a reader of the exchange needs: how the caller authenticated
/// (never the secret) and what it sent.
fn request_headers(
    authorization: Option<&HeaderValue>,
    content_type: Option<&HeaderValue>,
) -> Headers {
    /// A read with Basic credentials, the common call: a constant.
    const BASIC: &[(&str, Cow<'static, str>)] =
        &[("Authorization", Cow::Borrowed("Basic (redacted)"))];
    if content_type.is_none() && authorization.is_some_and(|v| v.as_bytes().starts_with(b"Basic "))
    {
        return Cow::Borrowed(BASIC);
    }
    let mut kept = Vec::with_capacity(2);
    if let Some(value) = authorization {
        let redacted = match value.as_bytes() {
            [b'B', b'a', b's', b'i', b'c', b' ', ..] => Cow::Borrowed("Basic (redacted)"),
            _ => Cow::Owned(redact_authorization(value.to_str().unwrap_or(""))),
        };
        kept.push(("Authorization", redacted));
    }
    if let Some(value) = content_type {
        kept.push(("Content-Type", shown(value)));
    }
    kept.into()
}

/// The answer headers a reader of the exchange needs (of `found`: its `Content-Type`,
/// `Location` and `Retry-After`), with the rate-limit values the answer is about to get.
fn answer_headers(
    found: [Option<&HeaderValue>; 3],
    limit: &HeaderValue,
    remaining: &HeaderValue,
) -> Headers {
    /// A JSON answer under the unenforced allowance, the common answer: a constant.
    const JSON_UNENFORCED: &[(&str, Cow<'static, str>)] = &[
        (
            "Content-Type",
            Cow::Borrowed("application/json; charset=utf-8"),
        ),
        ("X-Rate-Limit", Cow::Borrowed("700")),
        ("X-Rate-Limit-Remaining", Cow::Borrowed("699")),
    ];
    if let [Some(content_type), None, None] = found
        && content_type == "application/json; charset=utf-8"
        && limit == "700"
        && remaining == "699"
    {
        return Cow::Borrowed(JSON_UNENFORCED);
    }
    let mut kept = Vec::with_capacity(5);
    for (name, value) in ["Content-Type", "Location", "Retry-After"]
        .into_iter()
        .zip(found)
    {
        if let Some(value) = value {
            kept.push((name, shown(value)));
        }
    }
    kept.push(("X-Rate-Limit", shown(limit)));
    kept.push(("X-Rate-Limit-Remaining", shown(remaining)));
    kept.into()
}

fn require_admin(user: &User) -> Result<(), ApiError> {
    match user.role {
        Role::Admin => Ok(()),
        Role::Agent => Err(ApiError::Forbidden),
    }
}

/// Parses `{id}` or `{id}.json`; anything else is a record that cannot exist.
fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.strip_suffix(".json")
        .unwrap_or(raw)
        .parse::<u64>()
        .map_err(|_| ApiError::NotFound)
}

/// Answers unknown paths the way Zendesk does.
async fn invalid_endpoint() -> ApiError {
    ApiError::InvalidEndpoint
}

/// A body over one of the documented limits: 422 naming the innermost field.
fn too_large(error: crate::core::limits::TooLarge) -> ApiError {
    let field = error.field.rsplit('.').next().unwrap_or("body");
    ApiError::invalid(field, "TooLong", error.message)
}

/// A REST write's body as JSON, parsed once by [`record_call`] for the trace's summary
/// and handed to the handler in the request's extensions: the value, or the parser's
/// error text.
#[derive(Clone, Debug)]
pub(crate) struct ParsedBody(Arc<Result<Value, String>>);

/// A handler takes `Option<ParsedBody>`: the body [`record_call`] parsed, when it did.
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for ParsedBody {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<ParsedBody>().cloned())
    }
}

impl ParsedBody {
    /// Parses `bytes` for the handler; with the trace's summary of them.
    fn parse(bytes: &[u8]) -> (ParsedBody, String) {
        let parsed: Result<Value, String> =
            crate::core::json::from_bytes(bytes).map_err(|e: serde_json::Error| e.to_string());
        let summary = match &parsed {
            Ok(value) => summarize_parsed_request(value),
            Err(_) => String::new(),
        };
        (ParsedBody(Arc::new(parsed)), summary)
    }
}

/// Parses a JSON object body and returns the object under `root`; the body as
/// [`record_call`] already parsed it when it did (`parsed`, then borrowed, not copied),
/// with the same checks in the same order and the same errors.
pub(crate) fn parse_envelope_of<'a>(
    body: &Bytes,
    parsed: Option<&'a ParsedBody>,
    root: &str,
) -> Result<Cow<'a, Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            root,
            "BlankValue",
            format!("The body must be a JSON object like {{\"{root}\": {{…}}}}"),
        ));
    }
    match parsed {
        Some(parsed) => {
            let value = parsed
                .0
                .as_ref()
                .as_ref()
                .map_err(|e| ApiError::BadJson(e.clone()))?;
            envelope_in(value, root).map(Cow::Borrowed)
        }
        None => {
            let value = crate::core::json::from_bytes::<Value>(body)
                .map_err(|e| ApiError::BadJson(e.to_string()))?;
            envelope_in(&value, root).map(|object| Cow::Owned(object.clone()))
        }
    }
}

/// The object under `root` of a parsed body, after the body's limits are checked.
fn envelope_in<'a>(value: &'a Value, root: &str) -> Result<&'a Map<String, Value>, ApiError> {
    crate::core::limits::check_body(value).map_err(too_large)?;
    match value.get(root) {
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(ApiError::invalid(
            root,
            "InvalidValue",
            format!("{root} must be a JSON object"),
        )),
        None => Err(ApiError::invalid(
            root,
            "BlankValue",
            format!("The body must be a JSON object like {{\"{root}\": {{…}}}}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constant_rate_limit_headers_say_what_a_formatted_number_would() {
        use crate::core::rate_limit::UNENFORCED_LIMIT;
        for (limit, remaining) in [
            (UNENFORCED_LIMIT, UNENFORCED_LIMIT - 1),
            (UNENFORCED_LIMIT, UNENFORCED_LIMIT),
            (10, 3),
            (UNENFORCED_LIMIT, 5),
        ] {
            assert_eq!(
                rate_limit_values(limit, remaining),
                (HeaderValue::from(limit), HeaderValue::from(remaining))
            );
        }
    }

    #[test]
    fn ids_accept_the_json_suffix() {
        assert_eq!(parse_id("12"), Ok(12));
        assert_eq!(parse_id("12.json"), Ok(12));
        assert_eq!(parse_id("x.json"), Err(ApiError::NotFound));
    }

    #[test]
    fn the_surface_check_constant_names_the_documented_header() {
        assert_eq!(
            super::recorder::SURFACE_CHECK,
            axum::http::HeaderName::from_bytes(
                crate::core::account::SURFACE_CHECK_HEADER.as_bytes()
            )
            .unwrap()
        );
    }
}
