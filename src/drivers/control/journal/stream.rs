//! `GET /journal/stream`: matching events as server-sent events, live.
//!
//! Streams with the same filter share one reader of the trace, a [`Follower`]: it looks
//! at each new event once, joins the frames of the matching ones (each encoded once by
//! the trace) into one batch, and keeps the batch in a bounded ring that every stream
//! of that filter sends from. So the cost of an event is one filter check per distinct
//! filter, not per stream, and the cost of a batch per stream is one write of shared
//! bytes. A stream reads its backlog (the kept events after its `since`) on its own,
//! then joins the ring where the follower is.

use super::EventFilter;
use crate::core::trace::{Trace, lock};
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Events read from the shared trace at a time (by a follower, or by a stream reading
/// its backlog).
const STREAM_BATCH: usize = 512;

/// How far a stream may fall behind the newest event (counting events recorded since it
/// connected) before it is ended with an `end` event: a subscriber that does not read
/// costs the server nothing more than this.
pub(crate) const MAX_STREAM_LAG: u64 = 20_000;

/// Most bytes of batches the followers of one world hold for streams that have not
/// sent them yet, all filters together; past it, a follower drops its oldest batches
/// and the streams still behind them are ended as too slow.
pub(crate) const MAX_HELD_BYTES: usize = 32 << 20;

/// Most events a follower looks at for one batch: a longer burst is pushed in parts.
const BURST_EVENTS: u64 = 8 * STREAM_BATCH as u64;

/// Most bytes of frames a follower gathers in one batch.
const BURST_BYTES: usize = 256 << 10;

/// How long a follower lets new events gather before reading them: one read per burst,
/// not one per event, whatever the number of streams.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a stream waits with nothing to send before it sends a comment, so that
/// idle deadlines and proxies see bytes moving.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The journal streams of one world: one [`Follower`] per distinct filter, shared by
/// every open stream with that filter, and gone with the last of them. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Streams {
    inner: Arc<Hub>,
}

struct Hub {
    trace: Trace,
    followers: Mutex<HashMap<EventFilter, Arc<Follower>>>,
    /// Bytes every follower's ring holds (see [`MAX_HELD_BYTES`]).
    held: Arc<AtomicUsize>,
}

/// One filter's reader of the trace, and the batches it found that some stream has not
/// sent yet.
struct Follower {
    trace: Trace,
    /// The filter, without `since` (each stream has its own).
    filter: EventFilter,
    ring: Mutex<Ring>,
    /// Its value moves whenever `ring.at` does: streams wait on it.
    moved: watch::Sender<u64>,
    /// Ends the follower's task when its last stream leaves (or the world shuts down).
    stop: CancellationToken,
    held: Arc<AtomicUsize>,
}

/// What a follower read: every event up to `at` was looked at; the matching ones
/// that some stream on the ring has not sent yet are in `batches`.
struct Ring {
    at: u64,
    /// The index of `batches[0]`; indexes count every batch ever pushed.
    first: u64,
    batches: VecDeque<Batch>,
    bytes: usize,
    /// Open streams of this filter, on the ring or still reading their backlog.
    streams: usize,
    /// Streams on the ring.
    joined: usize,
}

/// The events after `from`, up to `to`, that matched: their frames, joined, or the end
/// every stream that reaches it must send; and how many joined streams have still to
/// send it.
struct Batch {
    from: u64,
    to: u64,
    piece: Piece,
    pending: usize,
}

#[derive(Clone)]
enum Piece {
    Frames(Bytes),
    End(StreamEnd),
}

/// Why a stream was ended early, as its last event's data.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct StreamEnd {
    /// `too_slow` or `events_dropped`.
    pub reason: String,
    /// What happened, as a sentence.
    pub message: String,
    /// Pass as `since` (to `/journal` or a new stream) to go on from here.
    pub next_since: u64,
}

impl StreamEnd {
    /// The stream's last message: `event: end` with this as its data.
    fn frame(&self) -> Bytes {
        let data = serde_json::to_string(self).unwrap_or_default();
        Bytes::from(format!("event: end\ndata: {data}\n\n"))
    }

    fn too_slow(behind: u64, next_since: u64) -> StreamEnd {
        StreamEnd {
            reason: "too_slow".into(),
            message: format!(
                "this stream fell {behind} events behind (at most {MAX_STREAM_LAG}, and at most {} MiB of events waiting for all streams); read faster, or filter, and resume from next_since",
                MAX_HELD_BYTES >> 20
            ),
            next_since,
        }
    }

    fn dropped(after: u64, first_kept: u64) -> StreamEnd {
        StreamEnd {
            reason: "events_dropped".into(),
            message: format!(
                "events {}..{} were dropped from the kept journal before this stream read them",
                after + 1,
                first_kept - 1
            ),
            next_since: first_kept - 1,
        }
    }
}

impl Streams {
    /// No streams yet, over `trace`.
    pub(crate) fn new(trace: Trace) -> Streams {
        Streams {
            inner: Arc::new(Hub {
                trace,
                followers: Mutex::new(HashMap::new()),
                held: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// Matching events as server-sent events (`id` = sequence number, `event` = kind,
    /// `data` = the event's JSON): first those already kept after `since`, then each
    /// new one as it is recorded, until the world shuts down. One that falls
    /// [`MAX_STREAM_LAG`] events behind, or whose next events were dropped from the
    /// kept trace, gets a last `end` event saying so (with the `next_since` to resume
    /// from) and is closed.
    pub(crate) fn stream(&self, filter: EventFilter, shutdown: CancellationToken) -> Response {
        let (stream, new) = self.subscribe(filter, shutdown);
        if let Some(follower) = new {
            tokio::spawn(follow(follower));
        }
        let body = Body::from_stream(futures_util::stream::unfold(stream, Stream::next));
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response()
    }

    /// A new stream, and the follower it made when it is the first with its filter (its
    /// task is the caller's to start).
    fn subscribe(
        &self,
        filter: EventFilter,
        shutdown: CancellationToken,
    ) -> (Stream, Option<Arc<Follower>>) {
        let hub = &self.inner;
        let since = filter.since.unwrap_or(0);
        let key = EventFilter {
            since: None,
            ..filter
        };
        let mut followers = lock(&hub.followers);
        let mut new = None;
        let follower = followers
            .entry(key.clone())
            .or_insert_with(|| {
                let follower = Arc::new(Follower {
                    trace: hub.trace.clone(),
                    filter: key,
                    ring: Mutex::new(Ring {
                        at: hub.trace.last_seq(),
                        first: 0,
                        batches: VecDeque::new(),
                        bytes: 0,
                        streams: 0,
                        joined: 0,
                    }),
                    moved: watch::Sender::new(0),
                    stop: shutdown.child_token(),
                    held: hub.held.clone(),
                });
                new = Some(follower.clone());
                follower
            })
            .clone();
        lock(&follower.ring).streams += 1;
        drop(followers);
        let stream = Stream {
            hub: self.clone(),
            moved: follower.moved.subscribe(),
            follower,
            since,
            connected_at: hub.trace.last_seq(),
            cursor: None,
            shutdown,
            last_sent: Instant::now(),
            ended: false,
        };
        (stream, new)
    }

    /// Forgets a closed stream (at `cursor` on the ring, if it joined it), and its
    /// follower with the last of its streams.
    fn leave(&self, follower: &Arc<Follower>, cursor: Option<u64>) {
        let mut followers = lock(&self.inner.followers);
        let mut ring = lock(&follower.ring);
        ring.streams -= 1;
        if let Some(cursor) = cursor {
            follower.detach(&mut ring, cursor);
        }
        if ring.streams == 0 {
            follower.stop.cancel();
            if followers
                .get(&follower.filter)
                .is_some_and(|f| Arc::ptr_eq(f, follower))
            {
                followers.remove(&follower.filter);
            }
        }
    }
}

/// A follower's task: after each burst of new events (gathered for [`GATHER`]), reads
/// them all, until its last stream leaves or the world shuts down.
async fn follow(follower: Arc<Follower>) {
    let mut changes = follower.trace.subscribe();
    loop {
        // Marked seen before reading, so an event recorded after the read wakes us.
        changes.borrow_and_update();
        follower.pump();
        tokio::select! {
            _ = follower.stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        tokio::select! {
            _ = follower.stop.cancelled() => return,
            _ = tokio::time::sleep(GATHER) => {}
        }
    }
}

impl Follower {
    /// Reads every event recorded since the last read, [`STREAM_BATCH`] at a time (the
    /// trace's lock is held for one read only), and pushes what matched as one batch
    /// per burst (up to [`BURST_EVENTS`] events looked at or [`BURST_BYTES`] of
    /// frames): each stream sends a burst in one write.
    fn pump(&self) {
        let mut from = lock(&self.ring).at;
        let (mut at, mut frames, mut bytes) = (from, Vec::new(), 0);
        loop {
            let last = self.trace.last_seq();
            let caught_up = at >= last;
            if caught_up || at - from >= BURST_EVENTS || bytes >= BURST_BYTES {
                if at > from {
                    let found = std::mem::take(&mut frames);
                    let piece = (!found.is_empty()).then(|| Piece::Frames(join(found)));
                    self.advance(from, at, piece);
                    (from, bytes) = (at, 0);
                }
                if caught_up {
                    return;
                }
            }
            // A follower of one kind skips a run of other kinds without reading it.
            if let Some(kind) = self.filter.kind
                && self.trace.last_seq_of(kind) <= at
            {
                at = last;
                continue;
            }
            let window = self
                .trace
                .read_frames_after(at, STREAM_BATCH, |event| self.filter.matches(event));
            if window.first_kept > at + 1 {
                // Fell behind the kept trace: every stream on the ring must be told,
                // after what was found before the gap.
                if at > from {
                    let found = std::mem::take(&mut frames);
                    let piece = (!found.is_empty()).then(|| Piece::Frames(join(found)));
                    self.advance(from, at, piece);
                }
                let end = StreamEnd::dropped(at, window.first_kept);
                self.advance(at, window.first_kept - 1, Some(Piece::End(end)));
                (from, at, bytes) = (window.first_kept - 1, window.first_kept - 1, 0);
                continue;
            }
            bytes += window.frames.iter().map(Bytes::len).sum::<usize>();
            frames.extend(window.frames);
            at = window.looked_to;
        }
    }

    /// Moves the follower from `from` to `to`, with what it found in between; drops the
    /// batches no stream needs any more, and those too far behind.
    fn advance(&self, from: u64, to: u64, piece: Option<Piece>) {
        let mut ring = lock(&self.ring);
        if let Some(piece) = piece {
            let size = piece.len();
            ring.bytes += size;
            self.held.fetch_add(size, Ordering::Relaxed);
            let pending = ring.joined;
            ring.batches.push_back(Batch {
                from,
                to,
                piece,
                pending,
            });
        }
        ring.at = to;
        // The oldest batches go when every joined stream has sent them, when they end
        // more than MAX_STREAM_LAG events before the newest looked at, or while the
        // followers hold more than MAX_HELD_BYTES (the newest batch stays): the streams
        // still behind them are then too slow.
        while let Some(oldest) = ring.batches.front() {
            let sent = oldest.pending == 0;
            let old = ring.at - oldest.to > MAX_STREAM_LAG;
            let over = ring.batches.len() > 1 && self.held.load(Ordering::Relaxed) > MAX_HELD_BYTES;
            if !(sent || old || over) {
                break;
            }
            self.pop_oldest(&mut ring);
        }
        drop(ring);
        self.moved.send_replace(to);
    }

    /// Takes a stream at `cursor` off the ring: it no longer holds any batch.
    fn detach(&self, ring: &mut Ring, cursor: u64) {
        ring.joined -= 1;
        let start = cursor.saturating_sub(ring.first) as usize;
        for batch in ring.batches.iter_mut().skip(start) {
            batch.pending -= 1;
        }
        self.drop_sent(ring);
    }

    /// Drops the oldest batches every joined stream has sent.
    fn drop_sent(&self, ring: &mut Ring) {
        while ring.batches.front().is_some_and(|batch| batch.pending == 0) {
            self.pop_oldest(ring);
        }
    }

    fn pop_oldest(&self, ring: &mut Ring) {
        if let Some(batch) = ring.batches.pop_front() {
            let size = batch.piece.len();
            ring.bytes -= size;
            self.held.fetch_sub(size, Ordering::Relaxed);
            ring.first += 1;
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let bytes = lock(&self.ring).bytes;
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Frames(bytes) => bytes.len(),
            Piece::End(_) => 0,
        }
    }
}

/// One frame as the trace's own bytes; more joined into one chunk (one write).
fn join(frames: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(frames) {
        Ok([frame]) => frame,
        Err(frames) => {
            let mut batch = BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
            for frame in &frames {
                batch.extend_from_slice(frame);
            }
            batch.freeze()
        }
    }
}

/// One open stream: where it is, on its own (reading its backlog) or on its follower's
/// ring.
struct Stream {
    hub: Streams,
    follower: Arc<Follower>,
    moved: watch::Receiver<u64>,
    /// The last sequence number this stream has looked at (or had looked at for it).
    since: u64,
    /// The last sequence number when the stream connected: the backlog before it does
    /// not count as lag.
    connected_at: u64,
    /// The next batch to send, once on the ring.
    cursor: Option<u64>,
    shutdown: CancellationToken,
    last_sent: Instant,
    ended: bool,
}

/// What a stream does next.
enum Next {
    Send(Bytes),
    End(StreamEnd),
    /// Look again at once.
    Again,
    /// Nothing to send until the follower moves.
    Wait,
}

impl Stream {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Stream)> {
        loop {
            if self.ended {
                return None;
            }
            // Marked seen before looking, so a move after the look wakes us.
            self.moved.borrow_and_update();
            match self.step() {
                Next::Send(bytes) => {
                    self.last_sent = Instant::now();
                    return Some((Ok(bytes), self));
                }
                Next::End(end) => {
                    self.ended = true;
                    return Some((Ok(end.frame()), self));
                }
                Next::Again => continue,
                Next::Wait => {}
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                changed = self.moved.changed() => changed.ok()?,
                _ = tokio::time::sleep_until(self.last_sent + KEEP_ALIVE) => {
                    self.last_sent = Instant::now();
                    return Some((Ok(Bytes::from_static(b": \n\n")), self));
                }
            }
        }
    }

    /// The next thing to do: send the ring's next batch, read the backlog, join the
    /// ring, or wait.
    fn step(&mut self) -> Next {
        let mut ring = lock(&self.follower.ring);
        let Some(cursor) = self.cursor else {
            // On its own: join the ring where a batch (or the follower) starts exactly
            // where this stream is, or read on towards the follower.
            let at = ring.at;
            let joined_at = if self.since == at {
                Some(ring.first + ring.batches.len() as u64)
            } else {
                ring.batches
                    .binary_search_by_key(&self.since, |batch| batch.from)
                    .ok()
                    .map(|index| ring.first + index as u64)
            };
            if let Some(cursor) = joined_at {
                self.cursor = Some(cursor);
                ring.joined += 1;
                let start = (cursor - ring.first) as usize;
                for batch in ring.batches.iter_mut().skip(start) {
                    batch.pending += 1;
                }
                return Next::Again;
            }
            drop(ring);
            return if self.since < at {
                self.read_backlog(at)
            } else {
                Next::Wait
            };
        };
        if cursor < ring.first {
            let behind = ring.at.saturating_sub(self.since);
            self.cursor = None;
            self.follower.detach(&mut ring, cursor);
            return Next::End(StreamEnd::too_slow(behind, self.since));
        }
        let index = (cursor - ring.first) as usize;
        let Some(batch) = ring.batches.get_mut(index) else {
            return Next::Wait;
        };
        batch.pending -= 1;
        let (to, piece) = (batch.to, batch.piece.clone());
        self.cursor = Some(cursor + 1);
        if matches!(piece, Piece::End(_)) {
            // The stream ends here: off the ring.
            self.cursor = None;
            batch.pending += 1;
            self.follower.detach(&mut ring, cursor);
        } else if cursor == ring.first {
            self.follower.drop_sent(&mut ring);
        }
        drop(ring);
        self.since = to;
        match piece {
            Piece::Frames(bytes) => Next::Send(bytes),
            Piece::End(end) => Next::End(end),
        }
    }

    /// Reads the next events of the backlog, up to `until` (where the follower is), by
    /// position in the shared trace, at most [`STREAM_BATCH`] at a time.
    fn read_backlog(&mut self, until: u64) -> Next {
        let trace = &self.follower.trace;
        let filter = &self.follower.filter;
        let last = trace.last_seq();
        let behind = last.saturating_sub(self.since.max(self.connected_at));
        if behind > MAX_STREAM_LAG {
            return Next::End(StreamEnd::too_slow(behind, self.since));
        }
        if let Some(kind) = filter.kind
            && trace.last_seq_of(kind) <= self.since
        {
            self.since = until;
            return Next::Again;
        }
        let max = ((until - self.since) as usize).min(STREAM_BATCH);
        let window = trace.read_frames_after(self.since, max, |event| filter.matches(event));
        if window.first_kept > self.since + 1 && self.since >= self.connected_at {
            return Next::End(StreamEnd::dropped(self.since, window.first_kept));
        }
        self.since = window.looked_to;
        if window.frames.is_empty() {
            Next::Again
        } else {
            Next::Send(join(window.frames))
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.hub.leave(&self.follower, self.cursor);
    }
}

#[cfg(test)]
mod tests;
