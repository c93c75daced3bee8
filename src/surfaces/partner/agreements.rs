//! `/sharing/agreements/{uuid}`: a receiving account's answers to an invitation (POST),
//! an answer or a deactivation (PUT), and an inspection (GET).
//!
//! Checks run in a fixed order — version (412), body shape (400), uuid and fields
//! (422), token (401/403/404) — and the account decides the rest.

use super::wire::{self, WireAgreement};
use super::{PartnerError, check_version, require_token};
use crate::core::account::Account;
use crate::core::faults::CrashPoint;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A successful answer: 201 for a new copy, 200 otherwise, with the copy as the
/// receiver now holds it.
pub(crate) struct AgreementReply {
    /// 200 or 201.
    pub status: StatusCode,
    /// The agreement as the receiver now holds it.
    pub body: WireAgreement,
}

impl IntoResponse for AgreementReply {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub(super) async fn agreement_endpoint(
    State(account): State<Arc<Account>>,
    Path(uuid): Path<String>,
    crash: Option<Extension<CrashPoint>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<AgreementReply, PartnerError> {
    check_version(&headers)?;
    // Set by the `crash` fault (see `listener::faults`): where this handling dies.
    let crash = crash.map(|Extension(point)| point);
    match method {
        Method::POST => {
            let mut offer = wire::invitation_offer(&uuid, wire::parse_agreement(&body)?)?;
            offer.verified = account.services().transport.is_own_message(&headers);
            let stored = account.receive_invitation(offer, crash)?;
            Ok(AgreementReply {
                status: if stored.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                body: wire::agreement_view(&stored.agreement),
            })
        }
        Method::PUT => {
            let token = require_token(&headers)?;
            let update = wire::parse_agreement(&body)?;
            wire::check_uuid(update.uuid.as_deref(), &uuid)?;
            let known = account.authorize(&uuid, &token)?;
            let requested = wire::parse_status(update.status.as_deref())?;
            let agreement =
                account.receive_update(&known, requested, update.deactivated_by, crash)?;
            Ok(AgreementReply {
                status: StatusCode::OK,
                body: wire::agreement_view(&agreement),
            })
        }
        Method::GET => {
            let token = require_token(&headers)?;
            let agreement = account.authorize(&uuid, &token)?;
            Ok(AgreementReply {
                status: StatusCode::OK,
                body: wire::agreement_view(&agreement),
            })
        }
        other => Err(PartnerError::MethodNotAllowed(other)),
    }
}
