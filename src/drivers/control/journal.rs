//! The journal: the world's trace read through the control API, as pages
//! (`GET /journal`), as a live stream of server-sent events (`GET /journal/stream`), and
//! counted against a filter (`POST /verify`, WireMock-style).

use crate::core::trace::{Event, EventKind, Surface, Trace};
use serde::{Deserialize, Serialize};

mod stream;
pub(crate) use stream::Streams;

/// Most events one page of `GET /journal` answers.
pub(crate) const MAX_PAGE: usize = 1_000;

/// Declares a type holding the filter's fields plus `$extra`, with a conversion to
/// [`EventFilter`]: query strings cannot use `#[serde(flatten)]` (every value would be
/// a string) and `deny_unknown_fields` refuses it, so the fields are written once here.
macro_rules! with_filter_fields {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fdoc:meta])* $fvis:vis $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
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
    // One event past the page is copied, so a full page knows that more follow.
    let window = trace.read_after(since, (MAX_LOOKED, limit + 1), |event| {
        filter.matches(event)
    });
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
}
