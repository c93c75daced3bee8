//! `/sharing/agreements/{uuid}`: a receiving account's answers to an invitation (POST),
//! an answer or a deactivation (PUT), and an inspection (GET).
//!
//! Checks run in a fixed order — version (412), body shape (400), uuid and fields
//! (422), token (401/403/404) — and the account decides the rest.

use super::wire;
use super::{PartnerError, check_version, require_token};
use crate::core::account::Account;
use crate::core::faults::CrashPoint;
use crate::core::model::Agreement;
use crate::core::network::body::{ReadError, read_to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// A successful answer: 201 for a new copy, 200 otherwise, with the copy as the
/// receiver now holds it, serialised (see [`ReplyView`]).
pub(crate) struct AgreementReply {
    /// 200 or 201.
    pub status: StatusCode,
    /// The agreement as the receiver now holds it, as JSON.
    pub body: Vec<u8>,
}

impl AgreementReply {
    /// The answer of `status` with `agreement` as [`wire::agreement_view`] shows it.
    fn of(status: StatusCode, agreement: &Agreement) -> AgreementReply {
        let mut body = Vec::with_capacity(512);
        ReplyView::of(agreement).write(&mut body);
        AgreementReply { status, body }
    }
}

impl IntoResponse for AgreementReply {
    /// The copy as JSON, with the content type axum's `Json` gives it.
    fn into_response(self) -> Response {
        let mut response = Response::new(axum::body::Body::from(self.body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// [`wire::agreement_view`] borrowed from the copy: the same fields in the same order,
/// so the same bytes, without copying its strings into a [`wire::WireAgreement`] first.
#[derive(Serialize)]
struct ReplyView<'a> {
    uuid: &'a str,
    name: &'a str,
    sender_url: &'a str,
    receiver_url: &'a str,
    status: &'static str,
    sync_tags: bool,
    sync_custom_fields: bool,
    allows_public_comments: bool,
    sync_status: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    deactivated_by: Option<&'a str>,
}

impl<'a> ReplyView<'a> {
    /// The view as JSON, the bytes its `Serialize` gives, written without serde's
    /// machinery (every handshake message's answer is one).
    fn write(&self, out: &mut Vec<u8>) {
        let mut object = wire::JsonObject::start(out);
        for (key, text) in [
            ("uuid", self.uuid),
            ("name", self.name),
            ("sender_url", self.sender_url),
            ("receiver_url", self.receiver_url),
            ("status", self.status),
        ] {
            object.text(key, text);
        }
        for (key, flag) in [
            ("sync_tags", self.sync_tags),
            ("sync_custom_fields", self.sync_custom_fields),
            ("allows_public_comments", self.allows_public_comments),
            ("sync_status", self.sync_status),
        ] {
            object.flag(key, flag);
        }
        if let Some(by) = self.deactivated_by {
            object.text("deactivated_by", by);
        }
        object.end();
    }

    fn of(agreement: &'a Agreement) -> ReplyView<'a> {
        ReplyView {
            uuid: &agreement.uuid,
            name: &agreement.name,
            sender_url: &agreement.sender_url,
            receiver_url: &agreement.receiver_url,
            status: agreement.status.as_str(),
            sync_tags: agreement.terms.sync_tags,
            sync_custom_fields: agreement.terms.sync_custom_fields,
            allows_public_comments: agreement.terms.allows_public_comments,
            sync_status: agreement.terms.sync_status,
            deactivated_by: agreement.deactivated_by.as_deref(),
        }
    }
}

/// The endpoint: the request taken whole, so its headers are read where they lie
/// (axum's `HeaderMap` extractor would clone them) and its body is read as the `Bytes`
/// extractor reads it, with the same limit and the same rejection.
pub(super) async fn agreement_endpoint(
    State(account): State<Arc<Account>>,
    Path(uuid): Path<String>,
    request: Request,
) -> Response {
    endpoint(&account, &uuid, request).await
}

/// The `{uuid}` of `/sharing/agreements/{uuid}` when the router would hand it to
/// [`agreement_endpoint`] as it is (nothing to percent-decode): such a message may be
/// answered by [`endpoint`] without the router (see `api::record_call`), the same.
pub(crate) fn direct_uuid(path: &str) -> Option<&str> {
    let uuid = path.strip_prefix("/sharing/agreements/")?;
    (!uuid.is_empty() && !uuid.contains(['/', '%'])).then_some(uuid)
}

/// [`agreement_endpoint`] of the account and the path's `uuid`.
pub(crate) async fn endpoint(account: &Account, uuid: &str, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let method = parts.method.clone();
    // Set by the `crash` fault (see `listener::faults`): where this handling dies.
    let crash = parts.extensions.get::<CrashPoint>().copied();
    drop(parts);
    // Within the limit the listener already read it under, as axum's extractor would.
    let body = match read_to_bytes(body, crate::core::limits::MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            let status = match error {
                ReadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ReadError::Body(_) => StatusCode::BAD_REQUEST,
            };
            return (
                status,
                format!("Failed to buffer the request body: {error}"),
            )
                .into_response();
        }
    };
    answer(account, uuid, crash, method, &headers, &body).into_response()
}

fn answer(
    account: &Account,
    uuid: &str,
    crash: Option<CrashPoint>,
    method: Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AgreementReply, PartnerError> {
    check_version(headers)?;
    match method {
        Method::POST => {
            let mut offer = wire::invitation_offer(uuid, wire::parse_agreement(body)?)?;
            offer.verified = account.services().transport.is_own_message(headers);
            let stored = account.receive_invitation(offer, crash)?;
            let status = if stored.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(AgreementReply::of(status, &stored.agreement))
        }
        Method::PUT => {
            let token = require_token(headers)?;
            let update = wire::parse_agreement(body)?;
            wire::check_uuid(update.uuid.as_deref(), uuid)?;
            let partner =
                account.authorized(uuid, &token, |known| known.remote_subdomain.clone())?;
            let requested = wire::parse_status(update.status.as_deref())?;
            let agreement = account.receive_update(
                uuid,
                partner.as_deref(),
                requested,
                update.deactivated_by,
                crash,
            )?;
            Ok(AgreementReply::of(StatusCode::OK, &agreement))
        }
        Method::GET => {
            let token = require_token(headers)?;
            let agreement = account.authorize(uuid, &token)?;
            Ok(AgreementReply::of(StatusCode::OK, &agreement))
        }
        other => Err(PartnerError::MethodNotAllowed(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ticket::tests_support::agreement;
    use crate::core::model::{AgreementStatus, Direction};
    use strum::VariantArray;

    #[test]
    fn the_reply_is_the_wire_view_serialised() {
        let mut agreement = agreement(3, Direction::Inbound, AgreementStatus::Accepted);
        let texts = [
            "",
            "plain",
            "quote \" back \\ slash",
            "tab\tnew\nline\u{1}",
            "ünï ☃ \u{7f}",
        ];
        for (index, deactivated_by) in [None, Some("sender")]
            .into_iter()
            .cycle()
            .take(10)
            .enumerate()
        {
            agreement.deactivated_by = deactivated_by
                .map(|by| format!("{by}{}", texts[index % 5]))
                .map(Into::into);
            agreement.name = texts[index % 5].into();
            agreement.uuid = texts[(index + 1) % 5].into();
            agreement.sender_url = texts[(index + 2) % 5].into();
            agreement.receiver_url = texts[(index + 3) % 5].into();
            agreement.status = AgreementStatus::VARIANTS[index % AgreementStatus::VARIANTS.len()];
            agreement.terms.sync_tags = !agreement.terms.sync_tags;
            agreement.terms.sync_status = index % 3 == 0;
            assert_eq!(
                String::from_utf8(AgreementReply::of(StatusCode::OK, &agreement).body).unwrap(),
                serde_json::to_string(&ReplyView::of(&agreement)).unwrap()
            );
            assert_eq!(
                AgreementReply::of(StatusCode::OK, &agreement).body,
                serde_json::to_vec(&wire::agreement_view(&agreement)).unwrap()
            );
        }
    }
}
