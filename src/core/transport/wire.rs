//! What the trace keeps of a partner message's wire for the reports' exchange view: the
//! headers that matter (the token as its agreement's uuid only) and the body bytes the
//! transport already holds.

use super::{FROM_HEADER, Message, PROTOCOL_VERSION, TOKEN_HEADER, VERSION_HEADER};
use crate::core::trace::{Wire, clip_header, token_uuid};
use axum::http::{HeaderMap, header};
use std::borrow::Cow;

/// The headers a partner message carries, as the trace keeps them: the token shown as
/// the agreement's uuid only.
pub(super) fn request(message: &Message, body: Option<&bytes::Bytes>) -> Wire {
    let mut headers = Vec::with_capacity(4);
    headers.push((VERSION_HEADER, Cow::Borrowed(PROTOCOL_VERSION)));
    headers.push((FROM_HEADER, Cow::Owned(clip_header(&message.from))));
    if let Some(token) = &message.token {
        headers.push((TOKEN_HEADER, Cow::Owned(token_uuid(token))));
    }
    if body.is_some() {
        headers.push(("Content-Type", Cow::Borrowed("application/json")));
    }
    Wire::new(headers, body.unwrap_or(&bytes::Bytes::new()))
}

/// The answer headers a reader of the exchange needs.
pub(super) fn answer_headers(headers: &HeaderMap) -> Vec<(&'static str, Cow<'static, str>)> {
    [
        ("Content-Type", header::CONTENT_TYPE),
        ("Location", header::LOCATION),
        ("WWW-Authenticate", header::WWW_AUTHENTICATE),
        ("Retry-After", header::RETRY_AFTER),
    ]
    .into_iter()
    .filter_map(|(shown, name)| {
        let value = headers.get(name)?;
        Some((
            shown,
            Cow::Owned(clip_header(value.to_str().unwrap_or("?"))),
        ))
    })
    .collect()
}
