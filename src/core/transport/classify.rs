//! What a failed delivery means for its sender: our model of the failure statuses
//! (Zendesk documents only their names). One pure function per kind of failure, shared
//! by both networks, so the same failure gives the same status and the same words
//! whichever network carried it.
//!
//! - `ssl_error`: the TLS handshake failed (untrusted issuer, self-signed, expired or
//!   not-yet-valid certificate, name mismatch, a TLS alert).
//! - `configuration_error`: the partner cannot be addressed as a sharing endpoint
//!   (unknown subdomain, a malformed or non-HTTP(S) sharing URL, plain HTTP where HTTPS
//!   is required, 404/405 from the sharing path, more than two redirects).
//! - `failed`: reached but refused or broken (refused, reset, timed out, 5xx and every
//!   other refusal).
//!
//! It also says how Zendesk's own `ticket_sharing` client reads each answer
//! ([`answer_class`]) and which failures are worth another attempt ([`retry_advice`]).

use super::redirects::SendError;
use super::{DeliveryFailure, MAX_REDIRECTS};
/// The longest `Retry-After` a sender waits before another attempt *(model)*; a partner
/// asking for longer is not retried at once.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
use crate::core::model::AgreementStatus;
use crate::core::network::client::{ClientError, ConnectError};
use std::time::Duration;

/// How Zendesk's `ticket_sharing` client reads a partner's answer (its `Client`):
/// 2xx succeeds, a redirect is followed, a listed refusal is a failure the caller
/// handles (`success?` false), and any other status raises `TicketSharing::Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerClass {
    /// 2xx.
    Success,
    /// 3xx: followed, at most [`MAX_REDIRECTS`] times.
    Redirect,
    /// 401, 403, 404, 405, 408, 410, 422 and 5xx: `success?` is false.
    Failure,
    /// Anything else (400, 409, 412, 413, 429, 1xx, other 4xx): the client raises.
    Error,
}

/// The class Zendesk's client puts `status` in.
pub fn answer_class(status: u16) -> AnswerClass {
    match status {
        200..=299 => AnswerClass::Success,
        300..=399 => AnswerClass::Redirect,
        401 | 403 | 404 | 405 | 408 | 410 | 422 | 500..=599 => AnswerClass::Failure,
        _ => AnswerClass::Error,
    }
}

/// Our model of what an HTTP refusal means for the sender: 404/405 say the sharing
/// path is wrong (`configuration_error`), the rest `failed`; the cause says when
/// Zendesk's client would raise rather than report a failure, and carries the
/// partner's `Retry-After` (seconds or an HTTP date).
pub fn classify_status(status: u16, body: &str, retry_after: Option<&str>) -> DeliveryFailure {
    let snippet: String = body.trim().chars().take(120).collect();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let raised = if answer_class(status) == AnswerClass::Error {
        " (Zendesk's client raises TicketSharing::Error on it)"
    } else {
        ""
    };
    let cause = if snippet.is_empty() {
        format!("partner answered {status} {reason}{raised}")
    } else {
        format!("partner answered {status} {reason}{raised}: {snippet}")
    };
    let status_after = match status {
        404 | 405 => AgreementStatus::ConfigurationError,
        _ => AgreementStatus::Failed,
    };
    DeliveryFailure {
        status: status_after,
        cause,
        http_status: Some(status),
        retry_after: retry_after.and_then(parse_retry_after),
    }
}

/// `Retry-After` as a delay: whole seconds, or an HTTP date (measured from now).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// What a sender with retries left may do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Try again after the usual backoff.
    Backoff,
    /// Try again after the partner's `Retry-After`.
    After(Duration),
    /// Do not try again: the same answer would come back, or the partner asked for a
    /// longer wait than `MAX_RETRY_AFTER`.
    No,
}

/// Our model of which failures are worth another attempt (when retries are on):
/// nothing answered (refused, reset, timed out), 408, 429 and 5xx; after the
/// partner's `Retry-After` when it gave one. A refusal says the same thing again.
pub fn retry_advice(failure: &DeliveryFailure) -> Retry {
    let transient = match failure.http_status {
        None => true,
        Some(status) => matches!(status, 408 | 429 | 500..=599),
    };
    match (transient, failure.retry_after) {
        (false, _) => Retry::No,
        (true, Some(wait)) if wait > MAX_RETRY_AFTER => Retry::No,
        (true, Some(wait)) => Retry::After(wait),
        (true, None) => Retry::Backoff,
    }
}

/// Our model of what a failed exchange means for the sender: TLS failures are
/// `ssl_error`; a partner that does not speak TLS, a refused or endless redirect are
/// `configuration_error`; everything else (refused, reset, closed) is `failed`.
pub fn classify_error(error: &SendError) -> DeliveryFailure {
    let failure = |status, cause: String| DeliveryFailure {
        status,
        cause,
        http_status: None,
        retry_after: None,
    };
    match error {
        SendError::RedirectRefused { .. } => {
            failure(AgreementStatus::ConfigurationError, error.to_string())
        }
        SendError::TooManyRedirects => failure(
            AgreementStatus::ConfigurationError,
            format!("more than {MAX_REDIRECTS} redirects (a redirect loop): {error}"),
        ),
        SendError::Client(ClientError::Connect(ConnectError::Tls { error: tls })) => match tls {
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                failure(
                    AgreementStatus::ConfigurationError,
                    format!(
                        "the partner does not speak TLS (plain HTTP where HTTPS is required): {tls}"
                    ),
                )
            }
            _ => failure(
                AgreementStatus::SslError,
                format!("TLS handshake failed: {tls}"),
            ),
        },
        SendError::Client(ClientError::Connect(connect)) => {
            failure(AgreementStatus::Failed, connect.to_string())
        }
        SendError::Client(ClientError::Closed(text)) => failure(
            AgreementStatus::Failed,
            format!("connection closed before the reply: {text}"),
        ),
        SendError::Client(ClientError::Body(text)) => failure(
            AgreementStatus::Failed,
            format!("connection closed mid-response: {text}"),
        ),
        SendError::Client(other) => failure(
            AgreementStatus::Failed,
            format!("connection failed: {other}"),
        ),
        SendError::Malformed(_) => failure(AgreementStatus::ConfigurationError, error.to_string()),
    }
}

/// A sender that stopped waiting: `failed`, with the limit it waited.
pub(crate) fn classify_timeout(timeout: Duration) -> DeliveryFailure {
    DeliveryFailure {
        status: AgreementStatus::Failed,
        cause: format!(
            "timed out after {} ms: the partner did not answer in time",
            timeout.as_millis()
        ),
        http_status: None,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_the_model() {
        assert_eq!(
            classify_status(404, "", None).status,
            AgreementStatus::ConfigurationError
        );
        assert_eq!(
            classify_status(405, "", None).status,
            AgreementStatus::ConfigurationError
        );
        for status in [
            400, 401, 403, 408, 409, 410, 412, 413, 422, 429, 500, 502, 503,
        ] {
            assert_eq!(
                classify_status(status, "x", None).status,
                AgreementStatus::Failed,
                "{status}"
            );
        }
        let failure = classify_status(503, "busy", None);
        assert_eq!(
            failure.cause,
            "partner answered 503 Service Unavailable: busy"
        );
        assert_eq!(failure.http_status, Some(503));
        assert_eq!(
            classify_status(409, "", None).cause,
            "partner answered 409 Conflict (Zendesk's client raises TicketSharing::Error on it)"
        );
    }

    /// Every status, as the gem's `Client#handle_response` reads it.
    #[test]
    fn answers_are_classed_as_zendesks_client_reads_them() {
        let failures = [401, 403, 404, 405, 408, 410, 422];
        for status in 100..=599u16 {
            let expected = match status {
                200..=299 => AnswerClass::Success,
                300..=399 => AnswerClass::Redirect,
                500..=599 => AnswerClass::Failure,
                s if failures.contains(&s) => AnswerClass::Failure,
                _ => AnswerClass::Error,
            };
            assert_eq!(answer_class(status), expected, "{status}");
        }
    }

    /// Only what may change on its own is retried, after the partner's Retry-After.
    #[test]
    fn retries_wait_for_retry_after_and_skip_refusals() {
        let advice = |status: u16, retry_after: Option<&str>| {
            retry_advice(&classify_status(status, "", retry_after))
        };
        assert_eq!(advice(429, Some("2")), Retry::After(Duration::from_secs(2)));
        assert_eq!(advice(503, Some("0")), Retry::After(Duration::ZERO));
        assert_eq!(advice(429, None), Retry::Backoff);
        assert_eq!(advice(500, None), Retry::Backoff);
        assert_eq!(advice(408, None), Retry::Backoff);
        assert_eq!(
            advice(429, Some("3600")),
            Retry::No,
            "longer than sharesim waits"
        );
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(advice(429, Some(&past)), Retry::After(Duration::ZERO));
        for status in [400, 401, 403, 404, 405, 409, 410, 412, 413, 422] {
            assert_eq!(advice(status, Some("1")), Retry::No, "{status}");
        }
        let unanswered = DeliveryFailure {
            status: AgreementStatus::Failed,
            cause: "connection refused".into(),
            http_status: None,
            retry_after: None,
        };
        assert_eq!(retry_advice(&unanswered), Retry::Backoff);
        assert!(classify_status(422, "", None).refuses_content());
        assert!(!classify_status(503, "", None).refuses_content());
    }

    #[test]
    fn failures_on_the_way_follow_the_model() {
        let status = |error: SendError| classify_error(&error).status;
        let tls = |error| SendError::Client(ClientError::Connect(ConnectError::Tls { error }));
        assert_eq!(
            status(tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))),
            AgreementStatus::SslError
        );
        assert_eq!(
            status(tls(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))),
            AgreementStatus::ConfigurationError
        );
        assert_eq!(
            status(SendError::TooManyRedirects),
            AgreementStatus::ConfigurationError
        );
        let refused = classify_error(&SendError::Client(ClientError::Connect(ConnectError::Io {
            authority: "globex.sharesim.test".into(),
            kind: std::io::ErrorKind::ConnectionRefused,
        })));
        assert_eq!(refused.status, AgreementStatus::Failed);
        assert!(refused.cause.starts_with("connection refused: "));
        assert_eq!(
            classify_timeout(Duration::from_millis(300)).cause,
            "timed out after 300 ms: the partner did not answer in time"
        );
    }
}
