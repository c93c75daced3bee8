//! How a listener applies the receiving side's faults to the partner messages it is
//! sent: a hang, latency, a chosen status, a reset mid-response, a redirect loop, or a
//! crash point handed to the handler. What is broken is data in the world's
//! [`FaultTable`]; this middleware is where it happens to real sockets.

use super::{AbortConnection, Stopping};
use crate::core::faults::{Fault, FaultTable, Side};
use crate::core::trace::Trace;
use crate::core::transport::FROM_HEADER;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// What the middleware needs of one account: whose listener it guards, the world's
/// fault rules, and the trace it records each applied fault in.
#[derive(Clone, Debug)]
pub(crate) struct FaultGate {
    /// The receiving account's subdomain.
    pub target: String,
    /// The world's rules.
    pub faults: Arc<FaultTable>,
    /// The world's trace.
    pub trace: Trace,
}

/// Middleware on an account's router: applies the receiving side's fault, if any, to
/// each partner message (`/sharing/…`). The sender is named by `X-Sharesim-From`;
/// messages without it only meet account-wide rules.
pub(crate) async fn apply(State(gate): State<FaultGate>, request: Request, next: Next) -> Response {
    apply_with(&gate, request, |request| next.run(request)).await
}

/// [`apply`] around any continuation: what an account's surfaces call directly.
pub(crate) async fn apply_with<F, Fut>(gate: &FaultGate, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if !request.uri().path().starts_with("/sharing") {
        return next(request).await;
    }
    // A redirect the sender follows is still the same message: it meets the loop again
    // without using up one of the rule's `times`. reqwest names the URL it was
    // redirected from in `Referer`, which for our loop is the URL itself.
    if is_our_redirect(&request) {
        return redirect_to_self(&request);
    }
    let taken = {
        let from = request
            .headers()
            .get(FROM_HEADER)
            .and_then(|v| v.to_str().ok());
        let fault = gate.faults.take(&gate.target, from, Side::Receiving);
        fault.map(|fault| (fault, from.map(str::to_string)))
    };
    match taken {
        None => next(request).await,
        // Boxed: the message no fault applies to (nearly every one) need not carry
        // room for a fault's waits in its future.
        Some((fault, from)) => Box::pin(apply_fault(gate, request, next, fault, from)).await,
    }
}

/// What [`apply_with`] does with a message `fault` applies to, sent by `from`.
async fn apply_fault<F, Fut>(
    gate: &FaultGate,
    mut request: Request,
    next: F,
    fault: Fault,
    from: Option<String>,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let target = &gate.target;
    let sender = from.as_deref().unwrap_or("an unnamed sender");
    let effect = effect(fault);
    if let Some(narration) = effect.narration(target, sender, fault) {
        gate.trace.world(target, narration);
    }
    let stopping = request.extensions().get::<Stopping>().cloned();
    // A delayed or unanswered message that is still waiting when the account stops is
    // never handled: a stopped account does not finish late work, so nothing lands after
    // the scenario (or the sender) has moved on.
    let stopped = async {
        match &stopping {
            Some(stopping) => stopping.0.cancelled().await,
            None => std::future::pending::<()>().await,
        }
    };
    match effect {
        Effect::Unanswered => {
            stopped.await;
            abort()
        }
        Effect::Delay(delay) => {
            tokio::select! {
                _ = stopped => return abort(),
                _ = tokio::time::sleep(delay) => {}
            }
            next(request).await
        }
        Effect::Answer(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("sharesim fault: {target} answers {code}\n"),
            )
                .into_response()
        }
        Effect::AnswerRetryAfter(seconds) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("sharesim fault: {target} answers 429; retry after {seconds} s\n"),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Effect::ResetMidResponse => reset_mid_response(),
        Effect::RedirectToSelf => redirect_to_self(&request),
        Effect::CrashAt(point) => {
            // The handler decides where it dies: the crash point travels with the request.
            request.extensions_mut().insert(point);
            next(request).await
        }
        Effect::Handle => next(request).await,
    }
}

/// What the receiving side does with a message a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Never answered; only the account stopping (or the sender hanging up) ends it.
    Unanswered,
    /// Handled normally after this long.
    Delay(Duration),
    /// Answered with this status and a short plain body, unhandled.
    Answer(u16),
    /// Answered 429 with `Retry-After` of this many seconds, unhandled.
    AnswerRetryAfter(u32),
    /// The answer starts, then the connection closes.
    ResetMidResponse,
    /// Answered 307 to its own URL.
    RedirectToSelf,
    /// Handed to the handler, which dies at this point.
    CrashAt(crate::core::faults::CrashPoint),
    /// Handled as if no fault applied (`down` acts in the sender's transport).
    Handle,
}

/// The receiving side's effect of `fault`: one pure rule, whichever network carries the
/// message.
pub(crate) fn effect(fault: Fault) -> Effect {
    match fault {
        Fault::Hang => Effect::Unanswered,
        Fault::Latency(delay) => Effect::Delay(delay),
        Fault::Status(code) => Effect::Answer(code),
        Fault::RetryAfter(seconds) => Effect::AnswerRetryAfter(seconds),
        Fault::Reset => Effect::ResetMidResponse,
        Fault::RedirectLoop => Effect::RedirectToSelf,
        Fault::Crash(point) => Effect::CrashAt(point),
        Fault::Down => Effect::Handle,
    }
}

impl Effect {
    /// The trace's sentence for this effect, when it has one (a crash is narrated by the
    /// handler that dies).
    fn narration(&self, target: &str, sender: &str, fault: Fault) -> Option<String> {
        Some(match self {
            Effect::Unanswered => {
                format!("{target} leaves {sender}'s message unanswered (fault {fault})")
            }
            Effect::Delay(delay) => format!(
                "{target} delays its answer to {sender} by {} ms (fault {fault})",
                delay.as_millis()
            ),
            Effect::Answer(code) => format!(
                "{target} answers {sender}'s message with {code} without handling it (fault {fault})"
            ),
            Effect::AnswerRetryAfter(seconds) => format!(
                "{target} answers {sender}'s message with 429, Retry-After {seconds} s, without handling it (fault {fault})"
            ),
            Effect::ResetMidResponse => format!(
                "{target} closes the connection mid-response to {sender}'s message (fault {fault})"
            ),
            Effect::RedirectToSelf => {
                format!("{target} redirects {sender}'s message to itself (fault {fault})")
            }
            Effect::CrashAt(_) | Effect::Handle => return None,
        })
    }
}

fn abort() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(AbortConnection);
    response
}

/// A 200 whose status line and headers go out, followed by the start of a body, and
/// then the connection closes: the sender sees the answer begin and break off.
fn reset_mid_response() -> Response {
    let chunks = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok(Bytes::from_static(b"{\"uuid\":")), 1)),
            1 => {
                // Let the first chunk reach the socket before the connection dies.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "fault reset",
                    )),
                    2,
                ))
            }
            _ => None,
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn redirect_to_self(request: &Request) -> Response {
    let location = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let mut response = (
        // 307 keeps the method and body, so the sender re-sends the same message.
        StatusCode::TEMPORARY_REDIRECT,
        format!("redirecting to {location}\n"),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn is_our_redirect(request: &Request) -> bool {
    let Some(referer) = request
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(path) = request.uri().path_and_query() else {
        return false;
    };
    let Ok(url) = reqwest::Url::parse(referer) else {
        return false;
    };
    let referer_path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    referer_path == path.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::faults::CrashPoint;

    #[test]
    fn each_fault_has_one_receiving_effect() {
        let cases = [
            (Fault::Hang, Effect::Unanswered),
            (
                Fault::Latency(Duration::from_millis(20)),
                Effect::Delay(Duration::from_millis(20)),
            ),
            (Fault::Status(503), Effect::Answer(503)),
            (Fault::RetryAfter(2), Effect::AnswerRetryAfter(2)),
            (Fault::Reset, Effect::ResetMidResponse),
            (Fault::RedirectLoop, Effect::RedirectToSelf),
            (
                Fault::Crash(CrashPoint::AfterStore),
                Effect::CrashAt(CrashPoint::AfterStore),
            ),
            (Fault::Down, Effect::Handle),
        ];
        for (fault, expected) in cases {
            assert_eq!(effect(fault), expected, "{fault}");
        }
        assert_eq!(
            effect(Fault::Status(503)).narration("globex", "acme", Fault::Status(503)),
            Some(
                "globex answers acme's message with 503 without handling it (fault status = 503)"
                    .to_string()
            )
        );
        assert_eq!(
            effect(Fault::Down).narration("globex", "acme", Fault::Down),
            None
        );
    }
}
