//! The journal: the world's trace read through the control API, as pages
//! (`GET /journal`), as a live stream of server-sent events (`GET /journal/stream`), and
//! counted against a filter (`POST /verify`, WireMock-style).

use crate::core::spelling::Spelled;
use crate::core::trace::{Event, EventKind, Surface, Trace};
use axum::response::sse::{self, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Most events one page of `GET /journal` answers.
pub(crate) const MAX_PAGE: usize = 1_000;

/// Declares a type holding the filter's fields plus `$extra`, with a conversion to
/// [`EventFilter`]: query strings cannot use `#[serde(flatten)]` (every value would be
/// a string) and `deny_unknown_fields` refuses it, so the fields are written once here.
macro_rules! with_filter_fields {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fdoc:meta])* $fvis:vis $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            /// Only events after this sequence number.
            $vis since: Option<u64>,
            /// Only events from or to this account (subdomain), or from one of its users.
            $vis account: Option<String>,
            /// Only requests and responses of this surface (`rest` or `partner`).
            $vis surface: Option<Surface>,
            /// Only events of this kind (`request`, `response`, `decision`, `world`, `note`).
            $vis kind: Option<EventKind>,
            /// Only calls with this HTTP method.
            $vis method: Option<String>,
            /// Only calls whose path contains this text.
            $vis path: Option<String>,
            /// Only responses with this HTTP status.
            $vis status: Option<u16>,
            /// Only failed deliveries leading to this agreement status (`ssl_error`…).
            $vis outcome: Option<String>,
            /// Only events whose sentence contains this text.
            $vis detail: Option<String>,
            $($(#[$fdoc])* $fvis $field: $ty,)*
        }

        impl From<&$name> for EventFilter {
            /// The filter part.
            fn from(value: &$name) -> EventFilter {
                EventFilter {
                    since: value.since,
                    account: value.account.clone(),
                    surface: value.surface,
                    kind: value.kind,
                    method: value.method.clone(),
                    path: value.path.clone(),
                    status: value.status,
                    outcome: value.outcome.clone(),
                    detail: value.detail.clone(),
                }
            }
        }
    };
}

with_filter_fields! {
    /// Which journal events a page, a stream or a verification is about. Every field is
    /// optional; given fields must all match.
    pub(crate) struct EventFilter {}
}

impl EventFilter {
    /// Whether `event` passes every given field.
    pub(crate) fn matches(&self, event: &Event) -> bool {
        // Without allocating: a stream checks every event it reads.
        let account = |name: &str| {
            event.from == name
                || event.to == name
                || event
                    .from
                    .strip_suffix(".test")
                    .and_then(|user| user.rsplit_once('@'))
                    .is_some_and(|(_, account)| account == name)
        };
        self.since.is_none_or(|since| event.seq > since)
            && self.account.as_deref().is_none_or(account)
            && self.surface.is_none_or(|s| event.surface == Some(s))
            && self.kind.is_none_or(|k| event.kind == k)
            && self.method.as_deref().is_none_or(|m| {
                event
                    .method
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(m))
            })
            && self
                .path
                .as_deref()
                .is_none_or(|p| event.path.as_deref().is_some_and(|e| e.contains(p)))
            && self.status.is_none_or(|s| event.status == Some(s))
            && self
                .outcome
                .as_deref()
                .is_none_or(|o| event.outcome.as_deref() == Some(o))
            && self
                .detail
                .as_deref()
                .is_none_or(|d| event.detail.contains(d))
    }
}

with_filter_fields! {
    /// The query of `GET /journal`: a filter and a page size.
    pub(crate) struct JournalQuery {
        /// Most events to answer (at most 1000, the default).
        pub(crate) limit: Option<usize>,
    }
}

/// One page of the journal.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct JournalPage {
    /// Matching events, oldest first.
    pub events: Vec<Event>,
    /// Pass as `since` to read the next page (the last event looked at).
    pub next_since: u64,
    /// Whether more matching events may follow `next_since` already.
    pub more: bool,
    /// The sequence number of the newest event in the world (a served world keeps the
    /// newest 100 000 events; older ones are no longer in any page).
    pub last_seq: u64,
}

/// A page of matching events after `query.filter.since`: at most `limit` matching
/// events, looking at no more than [`MAX_LOOKED`] events.
pub(crate) fn page(trace: &Trace, query: &JournalQuery) -> JournalPage {
    let limit = query.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let filter = EventFilter::from(query);
    let since = filter.since.unwrap_or(0);
    let window = trace.read_after(since, MAX_LOOKED, |event| filter.matches(event));
    let mut events = window.events;
    let mut next_since = window.looked_to;
    let mut more = next_since < window.last;
    if events.len() > limit {
        events.truncate(limit);
        next_since = events.last().map_or(since, |e| e.seq);
        more = true;
    }
    JournalPage {
        events,
        next_since,
        more,
        last_seq: window.last,
    }
}

/// Most events one page looks at, matching or not.
pub(crate) const MAX_LOOKED: usize = 10_000;

with_filter_fields! {
    /// The body of `POST /verify`: a filter, and optionally the count it must reach.
    pub(crate) struct Verification {
        /// The exact number of matching events expected.
        pub(crate) count: Option<usize>,
        /// The least number of matching events expected.
        pub(crate) at_least: Option<usize>,
    }
}

/// The answer of `POST /verify`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Verdict {
    /// How many kept events match the filter.
    pub count: usize,
    /// Whether `count`/`at_least` held (true when neither was given).
    pub passed: bool,
    /// The sequence number of the newest event when counted.
    pub last_seq: u64,
}

/// Counts the kept events that match, and compares with what was expected.
pub(crate) fn verify(trace: &Trace, verification: &Verification) -> Verdict {
    let filter = EventFilter::from(verification);
    let count = trace.count_after(filter.since.unwrap_or(0), |event| filter.matches(event));
    let passed = verification.count.is_none_or(|n| n == count)
        && verification.at_least.is_none_or(|n| count >= n);
    Verdict {
        count,
        passed,
        last_seq: trace.last_seq(),
    }
}

/// Events a stream reads from the shared trace at a time.
const STREAM_BATCH: usize = 512;

/// How far a stream may fall behind the newest event (counting events recorded since it
/// connected) before it is ended with an `end` event: a subscriber that does not read
/// costs the server nothing more than this.
pub(crate) const MAX_STREAM_LAG: u64 = 20_000;

/// How long a stream lets new events gather before reading them: one read per burst,
/// not one per event, whatever the number of streams.
const GATHER: std::time::Duration = std::time::Duration::from_millis(50);

/// Matching events as server-sent events (`id` = sequence number, `event` = kind,
/// `data` = the event's JSON): first those already kept after `since`, then each new
/// one as it is recorded, until the world shuts down. Each stream reads the shared
/// trace from its own position; one that falls [`MAX_STREAM_LAG`] events behind, or
/// whose next events were dropped from the kept trace, gets a last `end` event saying
/// so (with the `next_since` to resume from) and is closed.
pub(crate) fn stream(
    trace: Trace,
    filter: EventFilter,
    shutdown: CancellationToken,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let since = filter.since.unwrap_or(0);
    let follower = Follower {
        changes: trace.subscribe(),
        connected_at: trace.last_seq(),
        since,
        trace,
        filter,
        pending: VecDeque::new(),
        shutdown,
        ended: false,
    };
    Sse::new(futures_util::stream::unfold(follower, Follower::next))
        .keep_alive(sse::KeepAlive::default())
}

/// Where a stream is in the journal: events read but not yet sent, and the last
/// sequence number looked at.
struct Follower {
    trace: Trace,
    filter: EventFilter,
    since: u64,
    /// The last sequence number when the stream connected: the backlog before it does
    /// not count as lag.
    connected_at: u64,
    pending: VecDeque<Event>,
    changes: watch::Receiver<u64>,
    shutdown: CancellationToken,
    ended: bool,
}

/// Why a stream was ended early, as its last event's data.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct StreamEnd {
    /// `too_slow` or `events_dropped`.
    pub reason: String,
    /// What happened, as a sentence.
    pub message: String,
    /// Pass as `since` (to `/journal` or a new stream) to go on from here.
    pub next_since: u64,
}

impl Follower {
    async fn next(mut self) -> Option<(Result<sse::Event, Infallible>, Follower)> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                let item = sse::Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind.spelling())
                    .json_data(&event)
                    .unwrap_or_default();
                return Some((Ok(item), self));
            }
            // Marked seen before reading, so an event recorded after the read wakes us.
            self.changes.borrow_and_update();
            if let Some(end) = self.read() {
                self.ended = true;
                let item = sse::Event::default()
                    .event("end")
                    .json_data(&end)
                    .unwrap_or_default();
                return Some((Ok(item), self));
            }
            if !self.pending.is_empty() {
                continue;
            }
            if self.since < self.trace.last_seq() {
                continue;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                changed = self.changes.changed() => changed.ok()?,
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep(GATHER) => {}
            }
        }
    }

    /// Reads the next batch into `pending`; Some when the stream must end.
    fn read(&mut self) -> Option<StreamEnd> {
        let last = self.trace.last_seq();
        let behind = last.saturating_sub(self.since.max(self.connected_at));
        if behind > MAX_STREAM_LAG {
            return Some(StreamEnd {
                reason: "too_slow".into(),
                message: format!(
                    "this stream fell {behind} events behind (at most {MAX_STREAM_LAG}); read faster, or filter, and resume from next_since"
                ),
                next_since: self.since,
            });
        }
        // A follower of one kind skips a run of other kinds without reading it.
        if let Some(kind) = self.filter.kind
            && self.trace.last_seq_of(kind) <= self.since
        {
            self.since = last;
            return None;
        }
        let window = self
            .trace
            .read_after(self.since, STREAM_BATCH, |event| self.filter.matches(event));
        if window.first_kept > self.since + 1 && self.since >= self.connected_at {
            return Some(StreamEnd {
                reason: "events_dropped".into(),
                message: format!(
                    "events {}..{} were dropped from the kept journal before this stream read them",
                    self.since + 1,
                    window.first_kept - 1
                ),
                next_since: window.first_kept - 1,
            });
        }
        self.since = window.looked_to;
        self.pending = window.events.into();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trace::{Clock, EventDraft};

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
        trace.record(
            EventKind::Request,
            EventDraft {
                surface: Some(Surface::Partner),
                from: "acme".into(),
                to: "globex".into(),
                method: Some("POST".into()),
                path: Some("/sharing/agreements/abc".into()),
                ..EventDraft::default()
            },
        );
        trace.world("globex", "fault status 503 on everything sent to globex");
        trace
    }

    #[test]
    fn filters_match_on_every_given_field() {
        let trace = trace();
        let count = |filter: EventFilter| {
            verify(
                &trace,
                &Verification {
                    since: filter.since,
                    account: filter.account,
                    surface: filter.surface,
                    kind: filter.kind,
                    method: filter.method,
                    path: filter.path,
                    detail: filter.detail,
                    ..Verification::default()
                },
            )
            .count
        };
        assert_eq!(count(EventFilter::default()), 3);
        // An account matches its own events and its users'.
        let acme = || EventFilter {
            account: Some("acme".into()),
            ..EventFilter::default()
        };
        assert_eq!(count(acme()), 2);
        assert_eq!(
            count(EventFilter {
                surface: Some(Surface::Partner),
                ..acme()
            }),
            1
        );
        assert_eq!(
            count(EventFilter {
                method: Some("post".into()),
                path: Some("/sharing/".into()),
                ..EventFilter::default()
            }),
            1
        );
        assert_eq!(
            count(EventFilter {
                detail: Some("503".into()),
                since: Some(2),
                ..EventFilter::default()
            }),
            1
        );
        assert_eq!(
            count(EventFilter {
                since: Some(3),
                ..EventFilter::default()
            }),
            0
        );
    }

    #[test]
    fn verdicts_compare_with_count_and_at_least() {
        let trace = trace();
        let verdict = |count, at_least| {
            verify(
                &trace,
                &Verification {
                    count,
                    at_least,
                    ..Verification::default()
                },
            )
            .passed
        };
        assert!(verdict(Some(3), None));
        assert!(!verdict(Some(2), None));
        assert!(verdict(None, Some(3)));
        assert!(!verdict(None, Some(4)));
    }

    #[test]
    fn pages_are_bounded_and_resume_where_they_stopped() {
        let trace = trace();
        let first = page(
            &trace,
            &JournalQuery {
                limit: Some(2),
                ..JournalQuery::default()
            },
        );
        assert_eq!(
            first.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(first.more);
        let rest = page(
            &trace,
            &JournalQuery {
                since: Some(first.next_since),
                limit: Some(2),
                ..JournalQuery::default()
            },
        );
        assert_eq!(rest.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
        assert!(!rest.more);
        assert_eq!(rest.last_seq, 3);
        // A filter that skips events still moves `next_since` past them.
        let worlds = page(
            &trace,
            &JournalQuery {
                kind: Some(EventKind::World),
                ..JournalQuery::default()
            },
        );
        assert_eq!(worlds.events.len(), 1);
        assert_eq!(worlds.next_since, 3);
    }

    fn follower(trace: &Trace, filter: EventFilter) -> Follower {
        Follower {
            changes: trace.subscribe(),
            connected_at: trace.last_seq(),
            since: filter.since.unwrap_or(0),
            trace: trace.clone(),
            filter,
            pending: VecDeque::new(),
            shutdown: CancellationToken::new(),
            ended: false,
        }
    }

    #[test]
    fn a_stream_reads_by_position_in_bounded_batches() {
        let trace = trace();
        for n in 0..2_000 {
            trace.decision("acme", format!("decision {n}"));
        }
        let mut follower = follower(
            &trace,
            EventFilter {
                since: Some(2),
                ..EventFilter::default()
            },
        );
        assert!(follower.read().is_none());
        // One batch, starting right after `since`: never the whole trace at once.
        assert_eq!(follower.pending.len(), STREAM_BATCH);
        assert_eq!(follower.pending.front().map(|e| e.seq), Some(3));
        assert_eq!(follower.since, 2 + STREAM_BATCH as u64);
    }

    #[test]
    fn a_follower_of_one_kind_skips_other_kinds_without_reading_them() {
        let trace = trace();
        let mut follower = follower(
            &trace,
            EventFilter {
                kind: Some(EventKind::World),
                since: Some(3),
                ..EventFilter::default()
            },
        );
        for _ in 0..1_000 {
            trace.decision("acme", "not a world event");
        }
        assert!(follower.read().is_none());
        assert!(follower.pending.is_empty());
        assert_eq!(follower.since, trace.last_seq(), "skipped to the end");
        trace.world("acme", "a fault");
        assert!(follower.read().is_none());
        let found: Vec<u64> = follower.pending.iter().map(|e| e.seq).collect();
        assert_eq!(found, [trace.last_seq()]);
    }

    #[test]
    fn a_stream_that_falls_behind_is_ended_with_where_to_resume() {
        let trace = trace();
        let mut slow = follower(&trace, EventFilter::default());
        assert!(slow.read().is_none());
        let resume_at = slow.since;
        for _ in 0..=MAX_STREAM_LAG {
            trace.decision("acme", "flood");
        }
        let end = slow.read().expect("ended");
        assert_eq!(end.reason, "too_slow");
        assert_eq!(end.next_since, resume_at);
        // A backlog that was there before connecting is not lag.
        let mut late = follower(&trace, EventFilter::default());
        assert!(late.read().is_none());
    }

    #[test]
    fn a_stream_whose_events_were_dropped_says_so() {
        let trace = trace();
        trace.set_capacity(Some(100));
        let mut follower = follower(&trace, EventFilter::default());
        assert!(follower.read().is_none());
        let seen = follower.since;
        for _ in 0..500 {
            trace.decision("acme", "flood");
        }
        let end = follower.read().expect("ended");
        assert_eq!(end.reason, "events_dropped");
        assert!(end.next_since > seen, "{}", end.next_since);
    }
}
