//! The recorder around the REST routes: authenticates each call under `/api/v2/`,
//! records it and its answer in the trace, and adds the rate-limit headers. Its part
//! that waits on nothing ([`begin_call`]) is apart from the rest, so a read of the
//! agreement list is answered without a future of its own.

use super::summary;
use super::{
    ApiError, ParsedBody, TraceSummary, X_RATE_LIMIT, X_RATE_LIMIT_REMAINING, agreements,
    answer_headers, rate_limit_values, request_headers,
};
use crate::core::account::{Account, User};
use crate::core::network::body::read_to_bytes;
use crate::core::rate_limit::Verdict;
use crate::core::trace::{
    EventDraft, EventKind, Surface, Text, Wire, WireHeaders as Headers, method_text,
};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use summary::summarize_response;

/// The step around an account's routes (see `world::surfaces`) that, for every call under
/// `/api/v2/`, authenticates the caller (once per call; a call without valid
/// credentials is answered 401 here, before any handler), records the call and its
/// answer in the trace, and adds the rate-limit headers. Other paths pass untouched.
pub(crate) async fn record_call<F, Fut>(account: &Account, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let step = match begin_call(account, request) {
        Begun::Step(step) => step,
        Begun::Body(arrived) => arrived.read_and_record(account).await,
    };
    finish_call(account, step, next).await
}

/// How far [`begin_call`] took a call without waiting on anything.
pub(crate) enum Begun {
    /// As far as it goes before the routes (see [`Step`]).
    Step(Step),
    /// An authenticated write: its body is read (see [`Arrived::read_and_record`])
    /// before the call is recorded.
    Body(Arrived),
}

/// What is left of a call once it is recorded (see [`finish_call`]).
pub(crate) enum Step {
    /// Not the recorder's (a path outside `/api/v2/`, a surface check that passes):
    /// for the routes untouched.
    Pass(Request),
    /// Answered, with nothing left to record: the agreement list (recorded already),
    /// a surface check without valid credentials.
    Answered(Response),
    /// Recorded; the routes answer it (or, for a handshake write, its handler directly:
    /// see [`Direct`]), and the answer is recorded.
    Route(Request, Call, (u32, u32), Option<Direct>),
    /// Recorded and refused here (401, 429, an unreadable body): the answer is recorded.
    Refused(Response, Call, (u32, u32)),
}

/// A call authenticated but not yet recorded: what [`begin_call`] learnt of it.
pub(crate) struct Arrived {
    request: Request,
    method: Text,
    path: Text,
    caller: Text,
    authenticated: bool,
    listing: bool,
    wire_headers: Headers,
    /// The caller of an agreement write answered without the router (see [`Direct`]).
    direct_user: Option<User>,
}

/// An agreement write the recorder answers itself, as the router would route it (see
/// `agreements::Write`): its handler gets the user and the parsed body directly, not
/// through the request's extensions.
pub(crate) struct Direct {
    user: User,
    parsed: Option<ParsedBody>,
    body: Bytes,
}

/// The part of [`record_call`] that waits on nothing: authentication, and for a call
/// without a body to read, its recording, the rate limit and (for the agreement list)
/// its answer. A read of the list is thus answered without a future of its own.
pub(crate) fn begin_call(account: &Account, mut request: Request) -> Begun {
    let path = request.uri().path();
    if !(path.starts_with("/api/v2/") && path.len() > "/api/v2/".len()) {
        return Begun::Step(Step::Pass(request));
    }
    let method = method_text(request.method());
    // The agreement list is answered here, not routed (see `agreements::is_listing`):
    // its handler needs no user.
    let listing = agreements::is_listing(request.method(), path);
    let path = path_text(path, listing);
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
    // A surface check is routed, whatever it calls.
    let direct = !surface_check && agreements::Write::of(request.method(), path.as_str()).is_some();
    let direct_user = place_user(&mut request, user.filter(|_| !listing), direct);
    if surface_check {
        return Begun::Step(if authenticated {
            Step::Pass(request)
        } else {
            Step::Answered(ApiError::Unauthorized.into_response())
        });
    }
    // Writes carry a body worth showing in the trace (`status=accepted`…); reads do not,
    // and are passed through untouched. A caller who is not authenticated is answered
    // 401 without its body ever being parsed or summarised.
    let read_body = authenticated && request.method() != axum::http::Method::GET;
    let arrived = Arrived {
        request,
        method,
        path,
        caller,
        authenticated,
        listing,
        wire_headers,
        direct_user,
    };
    if read_body {
        Begun::Body(arrived)
    } else {
        Begun::Step(arrived.record(account, None, (String::new(), None), Bytes::new()))
    }
}

impl Arrived {
    /// Reads the body of an authenticated write, parses it for the handler, then
    /// records the call (see [`Arrived::record`]).
    pub(crate) async fn read_and_record(self, account: &Account) -> Step {
        let (mut parts, body) = self.request.into_parts();
        // Boxed: a read's future (every poll of the list) need not hold room for it.
        let read = Box::pin(read_to_bytes(body, crate::core::limits::MAX_BODY_BYTES));
        let (unreadable, bytes) = match read.await {
            Ok(bytes) => (None, bytes),
            Err(error) => (
                Some(ApiError::BadJson(format!(
                    "the body could not be read: {error}"
                ))),
                Bytes::new(),
            ),
        };
        let (parsed, detail) = ParsedBody::parse(&bytes);
        // Kept for a write answered directly; else for the handler's extractor.
        let parsed = if self.direct_user.is_some() {
            Some(parsed)
        } else {
            parts.extensions.insert(parsed);
            None
        };
        let arrived = Arrived {
            request: Request::from_parts(parts, Body::from(bytes.clone())),
            ..self
        };
        arrived.record(account, unreadable, (detail, parsed), bytes)
    }

    /// Records the call (`read`: the trace's summary of its body and, for a write
    /// answered directly, the parse; `body`: the body), counts it against the
    /// allowance, and answers it when the answer is known here.
    fn record(
        self,
        account: &Account,
        unreadable: Option<ApiError>,
        (request_detail, parsed): (String, Option<ParsedBody>),
        request_body: Bytes,
    ) -> Step {
        let Arrived {
            request,
            method,
            path,
            caller,
            authenticated,
            listing,
            wire_headers,
            direct_user,
        } = self;
        // The body came off the connection: copied, so the journal does not pin its buffer.
        let request_wire = account
            .trace()
            .keeps_wires()
            .then(|| Wire::received(wire_headers, &request_body));
        let direct = direct_user.map(|user| Direct {
            user,
            parsed,
            body: request_body,
        });
        let request_seq = account.trace().record(
            EventKind::Request,
            EventDraft {
                surface: Some(Surface::Rest),
                from: caller.clone(),
                to: account.subdomain_text().clone(),
                method: Some(method.clone()),
                path: Some(path.clone()),
                detail: request_detail,
                wire: request_wire,
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
        let refusal = match (verdict, authenticated, unreadable) {
            (
                Verdict::Exceeded {
                    retry_after_secs, ..
                },
                _,
                _,
            ) => ApiError::RateLimited { retry_after_secs },
            (_, false, _) => ApiError::Unauthorized,
            (_, true, Some(error)) => error,
            // The list's answer comes with its body and summary: recorded at once.
            (_, true, None) if listing => {
                let (response, TraceSummary(detail, body)) = agreements::listing_answer(account);
                let (parts, answer) = response.into_parts();
                let recorded = (detail, body.unwrap_or_default());
                let response = finish_answer(account, call, parts, answer, recorded, true, limits);
                return Step::Answered(response);
            }
            (_, true, None) => return Step::Route(request, call, limits, direct),
        };
        Step::Refused(refusal.into_response(), call, limits)
    }
}

/// The rest of [`record_call`] once [`begin_call`] (and the body's read) left `step`:
/// the routes' answer, when they give it, and the recording of the answer.
pub(crate) async fn finish_call<F, Fut>(account: &Account, step: Step, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match step {
        Step::Pass(request) => pass_on(account, request, next).await,
        Step::Answered(response) => response,
        Step::Route(request, call, limits, direct) => {
            let write = direct.and_then(|direct| {
                agreements::Write::of(request.method(), call.path.as_str())
                    .map(|write| (write, direct))
            });
            let response = match write {
                // Boxed, as the router boxes a route's future.
                Some((write, Direct { user, parsed, body })) => {
                    Box::pin(write.answer(account, &user, parsed.as_ref(), &body)).await
                }
                None => next(request).await,
            };
            record_answer(account, call, response, limits).await
        }
        Step::Refused(response, call, limits) => {
            record_answer(account, call, response, limits).await
        }
    }
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

/// How the trace names the path of a call: the agreement list's two spellings (polled
/// the most) as borrowed constants, any other path as its own.
fn path_text(path: &str, listing: bool) -> Text {
    const LISTING: [&str; 2] = [
        "/api/v2/sharing_agreements.json",
        "/api/v2/sharing_agreements",
    ];
    listing
        .then(|| LISTING.into_iter().find(|listed| *listed == path))
        .flatten()
        .map_or_else(|| Text::from(path), Text::from_static)
}

/// [`crate::core::account::SURFACE_CHECK_HEADER`] as a header name, so looking for it parses nothing.
pub(super) const SURFACE_CHECK: header::HeaderName =
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

/// How the trace names a caller without credentials.
fn anonymous() -> Text {
    Text::from_static("anonymous")
}

/// A REST call as the trace names its answer.
pub(crate) struct Call {
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
            let bytes = Box::pin(read_to_bytes(body, usize::MAX))
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
    let wire = account.trace().keeps_wires().then(|| {
        Wire::new(answer_headers(found, &limit, &remaining), &answer_body)
            .answering(call.request_seq)
    });
    if !preset {
        parts.headers.insert(X_RATE_LIMIT, limit);
        parts.headers.insert(X_RATE_LIMIT_REMAINING, remaining);
    }
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
            wire,
            ..EventDraft::default()
        },
    );
    Response::from_parts(parts, body)
}
