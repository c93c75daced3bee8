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

use super::redirects::SendError;
use super::{DeliveryFailure, MAX_REDIRECTS};
use crate::model::AgreementStatus;
use crate::network::client::{ClientError, ConnectError};
use std::time::Duration;

/// Our model of what an HTTP refusal means for the sender: 404/405 say the sharing path
/// is wrong (`configuration_error`), the rest `failed`.
pub fn classify_status(status: u16, body: &str) -> DeliveryFailure {
    let snippet: String = body.trim().chars().take(120).collect();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let cause = if snippet.is_empty() {
        format!("partner answered {status} {reason}")
    } else {
        format!("partner answered {status} {reason}: {snippet}")
    };
    let status_after = match status {
        404 | 405 => AgreementStatus::ConfigurationError,
        _ => AgreementStatus::Failed,
    };
    DeliveryFailure {
        status: status_after,
        cause,
        http_status: Some(status),
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
pub fn classify_timeout(timeout: Duration) -> DeliveryFailure {
    DeliveryFailure {
        status: AgreementStatus::Failed,
        cause: format!(
            "timed out after {} ms: the partner did not answer in time",
            timeout.as_millis()
        ),
        http_status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_the_model() {
        assert_eq!(
            classify_status(404, "").status,
            AgreementStatus::ConfigurationError
        );
        assert_eq!(
            classify_status(405, "").status,
            AgreementStatus::ConfigurationError
        );
        for status in [400, 401, 403, 408, 410, 412, 422, 500, 502, 503] {
            assert_eq!(
                classify_status(status, "x").status,
                AgreementStatus::Failed,
                "{status}"
            );
        }
        let failure = classify_status(503, "busy");
        assert_eq!(
            failure.cause,
            "partner answered 503 Service Unavailable: busy"
        );
        assert_eq!(failure.http_status, Some(503));
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
