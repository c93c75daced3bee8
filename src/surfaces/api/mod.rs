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
pub(crate) mod settings;
pub(crate) mod summary;
pub(crate) mod ticket_fields;
pub(crate) mod ticket_views;
pub(crate) mod tickets;
pub(crate) mod users;

pub(crate) use error::ApiError;

use crate::core::account::{Account, Role, User};
use crate::core::rate_limit::Verdict;
use crate::core::trace::{
    EventDraft, EventKind, Surface, Text, Wire, WireHeaders as Headers, clip_header, method_text,
    redact_authorization,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use summary::{summarize_parsed_request, summarize_response, summarize_value};

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

/// The step around an account's routes (see `world::surfaces`) that, for every call under
/// `/api/v2/`, authenticates the caller (once per call; a call without valid
/// credentials is answered 401 here, before any handler), records the call and its
/// answer in the trace, and adds the rate-limit headers. Other paths pass untouched.
pub(crate) async fn record_call<F, Fut>(
    account: &Account,
    mut request: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let path = request.uri().path();
    if !(path.starts_with("/api/v2/") && path.len() > "/api/v2/".len()) {
        return pass_on(account, request, next).await;
    }
    let method = method_text(request.method());
    let path = Text::from(request.uri().path());
    let seen = Seen::of(request.headers());
    let user = account.authenticate(seen.authorization.and_then(|value| value.to_str().ok()));
    let surface_check = seen
        .surface_check
        .is_some_and(|key| key.as_bytes() == account.services().surface_check_key().as_bytes());
    let wire_headers = request_headers(seen.authorization, seen.content_type);
    let caller = user
        .as_ref()
        .map_or_else(anonymous, |user| user.email.clone());
    let authenticated = user.is_some();
    // The agreement list is answered here, not routed (see `agreements::is_listing`):
    // its handler needs no user.
    let listing = agreements::is_listing(request.method(), &path);
    // An agreement write is answered here too (see `agreements::Write`): its handler
    // gets the user and the parsed body directly, not through the request.
    // A surface check is routed, whatever it calls.
    let direct = !surface_check && agreements::Write::of(request.method(), &path).is_some();
    let direct_user = place_user(&mut request, user.filter(|_| !listing), direct);
    if surface_check {
        return if authenticated {
            next(request).await
        } else {
            ApiError::Unauthorized.into_response()
        };
    }
    // Writes carry a body worth showing in the trace (`status=accepted`…); reads do not,
    // and are passed through untouched. A caller who is not authenticated is answered
    // 401 without its body ever being parsed or summarised.
    let mut written = WrittenBody::default();
    if authenticated && request.method() != axum::http::Method::GET {
        // Boxed: a read's future (every poll of the list) need not hold room for it.
        (request, written) = Box::pin(WrittenBody::read(request, direct)).await;
    }
    let WrittenBody {
        detail: request_detail,
        bytes: request_body,
        parsed,
        unreadable,
    } = written;
    // The body came off the connection: copied, so the journal does not pin its buffer.
    let request_wire = Wire::received(wire_headers, &request_body);
    let trace = account.trace();
    let request_seq = trace.record(
        EventKind::Request,
        EventDraft {
            surface: Some(Surface::Rest),
            from: caller.clone(),
            to: account.subdomain_text().clone(),
            method: Some(method.clone()),
            path: Some(path.clone()),
            detail: request_detail,
            wire: Some(request_wire),
            ..EventDraft::default()
        },
    );
    // Every authenticated call counts against the allowance, as on Zendesk, even a
    // refused one. Our model: calls without valid credentials do not, so a stranger
    // cannot spend an account's allowance and lock its users out; they only see it.
    let now = tokio::time::Instant::now();
    let verdict = if authenticated {
        account.rate_limiter().check(now)
    } else {
        account.rate_limiter().peek(now)
    };
    let limits = match verdict {
        Verdict::Allowed { limit, remaining } => (limit, remaining),
        Verdict::Exceeded { limit, .. } => (limit, 0),
    };
    let call = Call {
        method,
        path,
        caller,
        request_seq,
    };
    let response = match (verdict, authenticated, unreadable) {
        (
            Verdict::Exceeded {
                retry_after_secs, ..
            },
            _,
            _,
        ) => ApiError::RateLimited { retry_after_secs }.into_response(),
        (_, false, _) => ApiError::Unauthorized.into_response(),
        (_, true, Some(error)) => error.into_response(),
        // The list's answer comes with its body and summary: recorded without an await.
        (_, true, None) if listing => {
            let (response, TraceSummary(detail, body)) = agreements::listing_answer(account);
            let (parts, answer) = response.into_parts();
            let recorded = (detail, body.unwrap_or_default());
            return finish_answer(account, call, parts, answer, recorded, true, limits);
        }
        (_, true, None) => match (
            direct_user,
            agreements::Write::of(request.method(), &call.path),
        ) {
            // Boxed, as the router boxes a route's future.
            (Some(user), Some(write)) => {
                Box::pin(write.answer(account, &user, parsed.as_ref(), &request_body)).await
            }
            _ => next(request).await,
        },
    };
    record_answer(account, call, response, limits).await
}

/// Where a call's handler finds its `user`: in the request's extensions for a routed
/// call, given back for a `direct` one.
fn place_user(request: &mut Request, user: Option<User>, direct: bool) -> Option<User> {
    match user {
        Some(user) if direct => Some(user),
        Some(user) => {
            request.extensions_mut().insert(user);
            None
        }
        None => None,
    }
}

/// What [`record_call`] does with a call outside the REST API: the partner endpoint of
/// every handshake message is answered as its route would answer it (see
/// `partner::agreements::direct_uuid`), boxed so a REST call's future need not hold
/// room for it; anything else goes to the routes.
async fn pass_on<F, Fut>(account: &Account, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    use crate::surfaces::partner::agreements::{direct_uuid, endpoint};
    match direct_uuid(request.uri().path()) {
        Some(uuid) => {
            let uuid = uuid.to_owned();
            Box::pin(endpoint(account, &uuid, request)).await
        }
        None => next(request).await,
    }
}

/// A REST write's body as [`record_call`] reads it: whole, parsed once for the trace's
/// summary and the handler.
#[derive(Default)]
struct WrittenBody {
    /// The trace's summary of it.
    detail: String,
    bytes: Bytes,
    /// Kept for a write [`record_call`] answers itself; else in the request's extensions.
    parsed: Option<ParsedBody>,
    /// Why it could not be read, when it could not.
    unreadable: Option<ApiError>,
}

impl WrittenBody {
    /// Reads `request`'s body, and gives the request back with it, its parse attached
    /// unless the write is `direct`.
    async fn read(request: Request, direct: bool) -> (Request, WrittenBody) {
        let (mut parts, body) = request.into_parts();
        let mut unreadable = None;
        let bytes = match axum::body::to_bytes(body, crate::core::limits::MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(error) => {
                unreadable = Some(ApiError::BadJson(format!(
                    "the body could not be read: {error}"
                )));
                Bytes::new()
            }
        };
        let (body, detail) = ParsedBody::parse(&bytes);
        let mut parsed = None;
        if direct {
            parsed = Some(body);
        } else {
            parts.extensions.insert(body);
        }
        let written = WrittenBody {
            detail,
            bytes: bytes.clone(),
            parsed,
            unreadable,
        };
        (Request::from_parts(parts, Body::from(bytes)), written)
    }
}

/// [`crate::core::account::SURFACE_CHECK_HEADER`] as a header name, so looking for it parses nothing.
const SURFACE_CHECK: header::HeaderName =
    header::HeaderName::from_static("x-sharesim-surface-check");

/// The request headers the recorder reads, found in one pass over a request's few
/// headers: a lookup by name hashes the name, and four lookups cost more than the pass.
#[derive(Default)]
struct Seen<'a> {
    authorization: Option<&'a HeaderValue>,
    content_type: Option<&'a HeaderValue>,
    surface_check: Option<&'a HeaderValue>,
}

impl<'a> Seen<'a> {
    /// The first value of each header, as `HeaderMap::get` would give it.
    fn of(headers: &'a axum::http::HeaderMap) -> Seen<'a> {
        let mut seen = Seen::default();
        for (name, value) in headers {
            let slot = if name == header::AUTHORIZATION {
                &mut seen.authorization
            } else if name == header::CONTENT_TYPE {
                &mut seen.content_type
            } else if name == SURFACE_CHECK {
                &mut seen.surface_check
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        seen
    }
}

/// How the trace names a caller without credentials: one shared text.
fn anonymous() -> Text {
    static ANONYMOUS: std::sync::LazyLock<Text> = std::sync::LazyLock::new(|| "anonymous".into());
    ANONYMOUS.clone()
}

/// A REST call as the trace names its answer.
struct Call {
    method: Text,
    path: Text,
    caller: Text,
    request_seq: u64,
}

/// Records `response` as the answer to `call` (see [`finish_answer`]), its summary the
/// one the handler attached, else read from the body.
async fn record_answer(
    account: &Account,
    call: Call,
    response: Response,
    limits: (u32, u32),
) -> Response {
    let (mut parts, mut body) = response.into_parts();
    let recorded = match parts.extensions.remove::<TraceSummary>() {
        Some(TraceSummary(summary, Some(bytes))) => (summary, bytes),
        // Answers built elsewhere (axum's own rejections, empty 204s, the plain-text
        // 429) are read back to summarise them; they are few and small. Boxed, so the
        // future of every call need not hold room for the read.
        summary => {
            let bytes = Box::pin(axum::body::to_bytes(body, usize::MAX))
                .await
                .unwrap_or_default();
            body = Body::from(bytes.clone());
            let summary = match summary {
                Some(TraceSummary(summary, _)) => summary,
                None => summarize_response(&bytes),
            };
            (summary, bytes)
        }
    };
    finish_answer(account, call, parts, body, recorded, false, limits)
}

/// Adds the rate-limit headers to an answer and records it (`recorded`: its summary
/// and body) as the answer to `call`. A `listed` answer is the agreement list's, whose
/// headers are known and cached (see [`listing_headers`]).
fn finish_answer(
    account: &Account,
    call: Call,
    mut parts: axum::http::response::Parts,
    body: Body,
    (detail, answer_body): (String, Bytes),
    listed: bool,
    (limit, remaining): (u32, u32),
) -> Response {
    // The list's cached headers already carry the unenforced allowance's values
    // (see [`listing_headers`]).
    let preset = listed
        && limit == crate::core::rate_limit::UNENFORCED_LIMIT
        && remaining == crate::core::rate_limit::UNENFORCED_LIMIT - 1;
    let (limit, remaining) = rate_limit_values(limit, remaining);
    // An answer given with its summary is the agreement list's, whose headers are
    // known: JSON's content type, no `Location`, no `Retry-After`.
    const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");
    let found = if listed {
        [Some(&JSON), None, None]
    } else {
        [header::CONTENT_TYPE, header::LOCATION, header::RETRY_AFTER]
            .map(|name| parts.headers.get(name))
    };
    let wire_headers = answer_headers(found, &limit, &remaining);
    if !preset {
        parts.headers.insert(X_RATE_LIMIT, limit);
        parts.headers.insert(X_RATE_LIMIT_REMAINING, remaining);
    }
    let wire = Wire::new(wire_headers, &answer_body).answering(call.request_seq);
    account.trace().record(
        EventKind::Response,
        EventDraft {
            surface: Some(Surface::Rest),
            from: account.subdomain_text().clone(),
            to: call.caller,
            method: Some(call.method),
            path: Some(call.path),
            status: Some(parts.status.as_u16()),
            detail,
            wire: Some(wire),
            ..EventDraft::default()
        },
    );
    Response::from_parts(parts, body)
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
            serde_json::from_slice(bytes).map_err(|e: serde_json::Error| e.to_string());
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
            let value = serde_json::from_slice::<Value>(body)
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
            super::SURFACE_CHECK,
            axum::http::HeaderName::from_bytes(
                crate::core::account::SURFACE_CHECK_HEADER.as_bytes()
            )
            .unwrap()
        );
    }
}
