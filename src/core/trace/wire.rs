//! What a call looked like on the wire, kept beside its trace event so a report can open
//! the whole exchange behind an arrow: the headers that matter (credentials redacted)
//! and the body bytes as they were sent.
//!
//! Recording stays cheap: a body sharesim built itself (an answer, a partner message it
//! serialised) is the `Bytes` the sender or handler already holds (a reference count,
//! not a copy); a body that came off a connection is copied ([`Wire::received`]),
//! since it is a slice of the connection's read buffer and sharing it would pin that
//! whole buffer (8 KiB or more) for as long as the journal keeps the event. A body over
//! [`MAX_TRACE_BODY_BYTES`] is copied, to its first bytes, either way. Wires live
//! only in memory: JSON-lines traces and the journal carry the event's summary, not the
//! bytes.

use crate::core::limits::MAX_TRACE_BODY_BYTES;
use bytes::Bytes;
use std::borrow::Cow;

/// The headers a wire keeps: a shared constant for the common sets (a REST call's
/// redacted credentials, its answer's content type and unenforced rate limit), so
/// recording those allocates nothing; a list of its own otherwise.
pub type Headers = Cow<'static, [(&'static str, Cow<'static, str>)]>;

/// One HTTP message (a request or an answer) as it crossed the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wire {
    /// For an answer: the sequence number of the request event it answers.
    pub answers: Option<u64>,
    /// The headers worth reading, in the order they matter; credentials are redacted
    /// before they get here (see [`redact_authorization`], [`token_uuid`]). Values
    /// that are constants (a content type, the unenforced rate limit) are borrowed, so
    /// recording them allocates nothing.
    pub headers: Headers,
    /// The body, or its first [`MAX_TRACE_BODY_BYTES`] bytes.
    pub body: Bytes,
    /// The whole body's length, when `body` holds only its start.
    pub full_length: Option<usize>,
}

impl Wire {
    /// A wire of `headers` and `body`, the body shared when it fits and clipped (copied)
    /// when it does not.
    pub fn new(headers: impl Into<Headers>, body: &Bytes) -> Wire {
        let (body, full_length) = if body.len() > MAX_TRACE_BODY_BYTES {
            (
                Bytes::copy_from_slice(&body[..MAX_TRACE_BODY_BYTES]),
                Some(body.len()),
            )
        } else {
            (body.clone(), None)
        };
        Wire {
            answers: None,
            headers: headers.into(),
            body,
            full_length,
        }
    }

    /// A wire of a body read off a connection: copied, so the event keeps only its
    /// bytes and not the read buffer they sit in.
    pub fn received(headers: impl Into<Headers>, body: &Bytes) -> Wire {
        let kept = &body[..body.len().min(MAX_TRACE_BODY_BYTES)];
        Wire {
            answers: None,
            headers: headers.into(),
            body: Bytes::copy_from_slice(kept),
            full_length: (body.len() > MAX_TRACE_BODY_BYTES).then_some(body.len()),
        }
    }

    /// This wire as the answer to the request event `seq`.
    pub fn answering(mut self, seq: u64) -> Wire {
        self.answers = Some(seq);
        self
    }

    /// The bytes it keeps alive (counted against a served trace's byte budget).
    pub fn retained_bytes(&self) -> usize {
        std::mem::size_of::<Wire>()
            + self.body.len()
            + self
                .headers
                .iter()
                .map(|(name, value)| name.len() + value.len() + 32)
                .sum::<usize>()
    }

    /// The body as text (lossy for bytes that are not UTF-8).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An `Authorization` value with its secret removed: the scheme stays, so a reader
/// still sees how the caller authenticated.
pub fn redact_authorization(value: &str) -> String {
    let scheme = value.split_whitespace().next().unwrap_or("");
    if scheme.is_empty() {
        "(redacted)".to_string()
    } else {
        format!("{} (redacted)", clip_header(scheme))
    }
}

/// The uuid half of an `X-Ticket-Sharing-Token` (`{uuid}:{access key}`): which
/// agreement the call is about, without the key that proves it.
pub fn token_uuid(value: &str) -> String {
    match value.split_once(':') {
        Some((uuid, _)) => format!("{}:…", clip_header(uuid)),
        None => "(malformed, not shown)".to_string(),
    }
}

/// A header value as the trace keeps it: at most 256 characters.
pub fn clip_header(value: &str) -> String {
    crate::core::limits::clip(value, 256).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_wire_record() {
        assert_eq!(
            redact_authorization("Basic YWRtaW5AYWNtZS50ZXN0L3Rva2VuOnM="),
            "Basic (redacted)"
        );
        assert_eq!(redact_authorization(""), "(redacted)");
        let uuid = "a".repeat(40);
        let shown = token_uuid(&format!("{uuid}:{}", "k".repeat(40)));
        assert_eq!(shown, format!("{uuid}:…"));
        assert!(!shown.contains('k'));
        assert_eq!(token_uuid("no-colon"), "(malformed, not shown)");
    }

    #[test]
    fn small_bodies_are_shared_and_large_ones_clipped() {
        let small = Bytes::from_static(b"{\"a\":1}");
        let wire = Wire::new(
            vec![("Content-Type", Cow::Borrowed("application/json"))],
            &small,
        );
        assert_eq!(wire.body, small);
        assert_eq!(wire.body.as_ptr(), small.as_ptr(), "shared, not copied");
        assert_eq!(wire.full_length, None);
        let large = Bytes::from(vec![b'x'; MAX_TRACE_BODY_BYTES + 10]);
        let wire = Wire::new(Vec::new(), &large).answering(4);
        assert_eq!(wire.body.len(), MAX_TRACE_BODY_BYTES);
        assert_ne!(
            wire.body.as_ptr(),
            large.as_ptr(),
            "copied, so the buffer is freed"
        );
        assert_eq!(wire.full_length, Some(MAX_TRACE_BODY_BYTES + 10));
        assert_eq!(wire.answers, Some(4));
        assert!(wire.retained_bytes() > MAX_TRACE_BODY_BYTES);
    }

    #[test]
    fn a_received_body_is_copied_out_of_its_read_buffer() {
        let buffer = Bytes::from(vec![b'r'; 8192]);
        let slice = buffer.slice(100..300);
        let wire = Wire::received(Vec::new(), &slice);
        assert_eq!(wire.body, slice);
        assert_ne!(wire.body.as_ptr(), slice.as_ptr(), "copied, not pinned");
        assert_eq!(wire.full_length, None);
        let large = Bytes::from(vec![b'x'; MAX_TRACE_BODY_BYTES + 1]);
        let wire = Wire::received(Vec::new(), &large);
        assert_eq!(wire.body.len(), MAX_TRACE_BODY_BYTES);
        assert_eq!(wire.full_length, Some(MAX_TRACE_BODY_BYTES + 1));
    }
}
