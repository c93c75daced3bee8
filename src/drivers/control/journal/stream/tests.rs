//! The streams' own tests: one follower per filter, backlogs, slow and dropped streams.
//! They move the follower by hand ([`Follower::pump`]), so no timer decides anything.

use super::*;
use crate::core::trace::{Clock, EventDraft, EventKind, Surface};

fn trace() -> Trace {
    let trace = Trace::new(Clock::logical());
    trace.record(
        EventKind::Request,
        EventDraft {
            surface: Some(Surface::Rest),
            from: "admin@acme.test".into(),
            to: "acme".into(),
            method: Some("POST".into()),
            path: Some("/api/v2/sharing_agreements.json".into()),
            ..EventDraft::default()
        },
    );
    trace.world("globex", "fault status 503 on everything sent to globex");
    trace
}

fn kind(kind: EventKind) -> EventFilter {
    EventFilter {
        kind: Some(kind),
        ..EventFilter::default()
    }
}

fn since(since: u64) -> EventFilter {
    EventFilter {
        since: Some(since),
        ..EventFilter::default()
    }
}

/// A stream of `filter`, and its follower when it is the first of its filter.
fn open(streams: &Streams, filter: EventFilter) -> (Stream, Option<Arc<Follower>>) {
    streams.subscribe(filter, CancellationToken::new())
}

/// The sequence numbers of a batch of frames.
fn ids(batch: &Bytes) -> Vec<u64> {
    std::str::from_utf8(batch)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("id: ")?.parse().ok())
        .collect()
}

/// Everything `stream` can send now, as the batches it sends; panics on an end.
fn drain(stream: &mut Stream) -> Vec<Bytes> {
    let mut batches = Vec::new();
    loop {
        match stream.step() {
            Next::Send(bytes) => batches.push(bytes),
            Next::Again => {}
            Next::Wait => return batches,
            Next::End(end) => panic!("ended: {}", end.message),
        }
    }
}

fn drained_ids(stream: &mut Stream) -> Vec<u64> {
    drain(stream).iter().flat_map(ids).collect()
}

/// What `stream` does next once it has nothing left to send: its end, if any.
fn end_of(stream: &mut Stream) -> Option<StreamEnd> {
    loop {
        match stream.step() {
            Next::Send(_) | Next::Again => {}
            Next::Wait => return None,
            Next::End(end) => return Some(end),
        }
    }
}

#[test]
fn streams_of_one_filter_share_one_follower_and_its_bytes() {
    let trace = trace();
    let streams = Streams::new(trace.clone());
    let (mut first, follower) = open(&streams, kind(EventKind::Decision));
    let follower = follower.expect("the first stream of a filter makes its follower");
    let (mut second, none) = open(&streams, kind(EventKind::Decision));
    assert!(none.is_none(), "the second shares the first's follower");
    let (mut other, own) = open(&streams, kind(EventKind::World));
    assert!(own.is_some(), "another filter has a follower of its own");
    assert!(drain(&mut first).is_empty());
    assert!(drain(&mut second).is_empty());
    assert_eq!(drained_ids(&mut other), [2], "the backlog, read on its own");

    trace.decision("acme", "created ticket 7");
    follower.pump();
    let (a, b) = (drain(&mut first), drain(&mut second));
    assert_eq!((a.len(), b.len()), (1, 1));
    // One event: sent as the trace's own bytes, encoded once for both.
    assert_eq!(a[0].as_ptr(), b[0].as_ptr());
    let text = std::str::from_utf8(&a[0]).unwrap();
    assert!(
        text.starts_with("id: 3\nevent: decision\ndata: {"),
        "{text}"
    );
    assert!(text.contains("created ticket 7"), "{text}");
    // Several: joined once into one chunk, in order, the same bytes for both.
    trace.decision("acme", "a");
    trace.world("acme", "not a decision");
    trace.decision("acme", "b");
    follower.pump();
    let (a, b) = (drain(&mut first), drain(&mut second));
    assert_eq!(a.iter().flat_map(ids).collect::<Vec<_>>(), [4, 6]);
    assert_eq!(a[0].as_ptr(), b[0].as_ptr());
    // The ring keeps no batch both have sent.
    follower.pump();
    assert!(lock(&follower.ring).batches.is_empty());
}

#[test]
fn a_burst_is_one_batch_for_every_stream_of_a_filter() {
    let trace = trace();
    let streams = Streams::new(trace.clone());
    let (mut stream, follower) = open(&streams, since(2));
    let follower = follower.unwrap();
    assert!(drain(&mut stream).is_empty());
    // Three reads of the trace, one batch: one write for the stream.
    for n in 0..3 * STREAM_BATCH {
        trace.decision("acme", format!("burst {n}"));
    }
    follower.pump();
    let batches = drain(&mut stream);
    assert_eq!(batches.len(), 1);
    let expected: Vec<u64> = (3..=trace.last_seq()).collect();
    assert_eq!(ids(&batches[0]), expected);
    // A longer burst is pushed in parts of bounded size, in order.
    let first = trace.last_seq() + 1;
    for n in 0..BURST_EVENTS + 10 {
        trace.decision("acme", format!("long burst {n}"));
    }
    follower.pump();
    let batches = drain(&mut stream);
    assert!(batches.len() > 1);
    for batch in &batches {
        assert!(ids(batch).len() as u64 <= BURST_EVENTS);
        assert!(batch.len() < BURST_BYTES + 512 * 1_000, "{}", batch.len());
    }
    let got: Vec<u64> = batches.iter().flat_map(ids).collect();
    assert_eq!(got, (first..=trace.last_seq()).collect::<Vec<_>>());
}

#[test]
fn a_stream_reads_its_backlog_in_bounded_batches_then_joins_without_loss_or_repeat() {
    let trace = trace();
    for n in 0..2_000 {
        trace.decision("acme", format!("decision {n}"));
    }
    let streams = Streams::new(trace.clone());
    let (mut stream, follower) = open(&streams, since(1));
    let follower = follower.unwrap();
    // One batch at a time, starting right after `since`: never the whole trace at once.
    let Next::Send(first) = stream.step() else {
        panic!("the backlog comes first")
    };
    let first = ids(&first);
    assert_eq!(first.len(), STREAM_BATCH);
    assert_eq!(first.first(), Some(&2));
    // The follower moves on meanwhile; the stream joins it where it is.
    for n in 0..700 {
        trace.decision("acme", format!("later {n}"));
    }
    follower.pump();
    let mut got = first;
    got.extend(drained_ids(&mut stream));
    trace.world("acme", "after joining");
    follower.pump();
    got.extend(drained_ids(&mut stream));
    assert!(stream.cursor.is_some(), "on the ring");
    let expected: Vec<u64> = (2..=trace.last_seq()).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_follower_of_one_kind_skips_other_kinds_without_reading_them() {
    let trace = trace();
    let streams = Streams::new(trace.clone());
    let (mut stream, follower) = open(
        &streams,
        EventFilter {
            since: Some(2),
            ..kind(EventKind::World)
        },
    );
    let follower = follower.unwrap();
    assert!(drain(&mut stream).is_empty());
    for _ in 0..1_000 {
        trace.decision("acme", "not a world event");
    }
    follower.pump();
    {
        let ring = lock(&follower.ring);
        assert_eq!(ring.at, trace.last_seq(), "skipped to the end");
        assert!(ring.batches.is_empty());
    }
    trace.world("acme", "a fault");
    follower.pump();
    assert_eq!(drained_ids(&mut stream), [trace.last_seq()]);
}

#[test]
fn a_slow_stream_is_ended_without_affecting_the_other_of_its_filter() {
    let trace = trace();
    let streams = Streams::new(trace.clone());
    let (mut fast, follower) = open(&streams, since(2));
    let follower = follower.unwrap();
    let (mut slow, _) = open(&streams, since(2));
    assert!(drain(&mut fast).is_empty());
    assert!(drain(&mut slow).is_empty());
    let resume_at = slow.since;
    let mut got = Vec::new();
    for _ in 0..=MAX_STREAM_LAG / 1_000 + 1 {
        for _ in 0..1_000 {
            trace.decision("acme", "flood");
        }
        follower.pump();
        got.extend(drained_ids(&mut fast));
        // What the slow one has not sent stays only while it is not too far behind.
        let ring = lock(&follower.ring);
        let oldest = ring.batches.front().map_or(ring.at, |batch| batch.to);
        assert!(ring.at - oldest <= MAX_STREAM_LAG);
    }
    let expected: Vec<u64> = (3..=trace.last_seq()).collect();
    assert_eq!(
        got, expected,
        "the fast one got every event, once, in order"
    );
    let end = end_of(&mut slow).expect("the slow one is ended");
    assert_eq!(end.reason, "too_slow");
    assert_eq!(end.next_since, resume_at);
    assert!(
        end.frame()
            .starts_with(b"event: end\ndata: {\"reason\":\"too_slow\"")
    );
    drop(slow);
    trace.decision("acme", "after the slow one left");
    follower.pump();
    assert_eq!(drained_ids(&mut fast), [trace.last_seq()]);
    assert!(lock(&follower.ring).batches.is_empty());
}

#[test]
fn a_backlog_before_connecting_is_not_lag() {
    let trace = trace();
    for _ in 0..=MAX_STREAM_LAG {
        trace.decision("acme", "flood");
    }
    let streams = Streams::new(trace.clone());
    let (mut late, _) = open(&streams, since(0));
    assert_eq!(drained_ids(&mut late).len() as u64, trace.last_seq());
}

#[test]
fn streams_whose_events_were_dropped_are_told_so() {
    let trace = trace();
    trace.set_capacity(Some(100));
    let streams = Streams::new(trace.clone());
    let (mut joined, follower) = open(&streams, since(2));
    let follower = follower.unwrap();
    assert!(drain(&mut joined).is_empty());
    assert!(joined.cursor.is_some());
    let seen = joined.since;
    for _ in 0..500 {
        trace.decision("acme", "flood");
    }
    follower.pump();
    let end = end_of(&mut joined).expect("ended");
    assert_eq!(end.reason, "events_dropped");
    assert!(end.next_since > seen, "{}", end.next_since);
    // The follower goes on: a stream joining now gets what follows.
    let (mut next, _) = open(&streams, since(trace.last_seq()));
    assert!(drain(&mut next).is_empty());
    trace.decision("acme", "after");
    follower.pump();
    assert_eq!(drained_ids(&mut next), [trace.last_seq()]);
}

#[test]
fn a_stream_reading_its_backlog_is_told_when_events_were_dropped() {
    let trace = trace();
    trace.set_capacity(Some(100));
    let streams = Streams::new(trace.clone());
    let (mut stream, follower) = open(&streams, since(2));
    // The follower moves on before the stream has looked at anything.
    for _ in 0..500 {
        trace.decision("acme", "flood");
    }
    follower.unwrap().pump();
    assert!(stream.cursor.is_none());
    let end = end_of(&mut stream).expect("ended");
    assert_eq!(end.reason, "events_dropped");
    assert_eq!(end.next_since, trace.first_seq() - 1);
}

#[test]
fn the_last_stream_of_a_filter_takes_its_follower_with_it() {
    let trace = trace();
    let streams = Streams::new(trace.clone());
    let (first, follower) = open(&streams, kind(EventKind::Decision));
    let follower = follower.unwrap();
    let (second, _) = open(&streams, kind(EventKind::Decision));
    drop(first);
    assert!(!follower.stop.is_cancelled());
    assert_eq!(lock(&streams.inner.followers).len(), 1);
    drop(second);
    assert!(follower.stop.is_cancelled(), "its task ends");
    assert!(lock(&streams.inner.followers).is_empty());
    let (_third, again) = open(&streams, kind(EventKind::Decision));
    assert!(again.is_some(), "a new stream makes a new follower");
}

#[tokio::test(start_paused = true)]
async fn a_served_stream_sends_what_its_follower_finds() {
    use futures_util::StreamExt;
    let trace = trace();
    let streams = Streams::new(trace.clone());
    let (stream, follower) = open(&streams, kind(EventKind::Decision));
    tokio::spawn(follow(follower.unwrap()));
    let mut body = Box::pin(futures_util::stream::unfold(stream, Stream::next));
    trace.decision("acme", "live");
    let chunk = body.next().await.expect("open").expect("infallible");
    assert_eq!(ids(&chunk), [3]);
    // With nothing to send, a keep-alive comment.
    let chunk = body.next().await.expect("open").expect("infallible");
    assert_eq!(&chunk[..], b": \n\n");
}
