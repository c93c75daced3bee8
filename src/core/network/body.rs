//! Reading a whole HTTP body into one buffer, within a size limit. Every request and
//! answer sharesim handles is read whole before it is looked at; nearly all of them
//! arrive in one frame, which is then handed back as it came: no list of frames is
//! kept (as `collect` keeps one) and nothing is copied.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError<E> {
    /// It holds more than the limit.
    TooLarge,
    /// The body itself failed (the connection broke, a chunk was malformed…).
    Body(E),
}

/// Spelled as the `http_body_util` and axum errors it replaces spell themselves.
impl<E: std::fmt::Display> std::fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge => f.write_str("length limit exceeded"),
            ReadError::Body(error) => error.fmt(f),
        }
    }
}

/// The whole of `body`, or [`ReadError::TooLarge`] as soon as it passes `limit` bytes
/// (what has arrived so far is dropped; the rest is not read).
pub(crate) async fn read_to_bytes<B>(body: B, limit: usize) -> Result<Bytes, ReadError<B::Error>>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut length = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(ReadError::Body)?.into_data() else {
            continue; // trailers: not part of the body
        };
        length = length.saturating_add(data.len());
        if length > limit {
            return Err(ReadError::TooLarge);
        }
        match (&mut joined, first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(earlier)) => {
                let mut both = BytesMut::with_capacity(earlier.len() + data.len());
                both.extend_from_slice(&earlier);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
        }
    }
    Ok(match joined {
        Some(joined) => joined.freeze(),
        None => first.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};
    use hyper::body::Frame;

    fn frames(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = std::io::Error> {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = parts
            .iter()
            .map(|part| Ok(Frame::data(Bytes::from_static(part.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn one_frame_comes_back_as_it_came() {
        let bytes = Bytes::from_static(b"{\"a\":1}");
        let read = read_to_bytes(Full::new(bytes.clone()), 100).await.unwrap();
        assert_eq!(read, bytes);
        assert_eq!(read.as_ptr(), bytes.as_ptr(), "not copied");
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_empty_bodies_are_empty() {
        let read = read_to_bytes(frames(&["ab", "", "cd", "e"]), 5)
            .await
            .unwrap();
        assert_eq!(&read[..], b"abcde");
        let empty = read_to_bytes(frames(&[]), 5).await.unwrap();
        assert!(empty.is_empty());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let refused = read_to_bytes(frames(&["abc", "def"]), 5).await;
        assert!(matches!(refused, Err(ReadError::TooLarge)));
        let at_limit = read_to_bytes(frames(&["abc", "de"]), 5).await;
        assert!(at_limit.is_ok());
    }

    #[tokio::test]
    async fn a_failing_body_says_why() {
        let failing = StreamBody::new(futures_util::stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err(std::io::Error::other("cut")),
        ]));
        match read_to_bytes(failing, 10).await {
            Err(ReadError::Body(error)) => assert_eq!(error.to_string(), "cut"),
            other => panic!("expected the body's error, got {other:?}"),
        }
        // The same bytes as collect() gives, for a body collect() can read.
        let collected = frames(&["x", "yz"]).collect().await.unwrap().to_bytes();
        assert_eq!(
            read_to_bytes(frames(&["x", "yz"]), 3).await.unwrap(),
            collected
        );
    }
}
