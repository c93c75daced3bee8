//! The world's ordered record of what happened: every REST call, every partner
//! message and every decision an account took, as typed data (not logs).
//!
//! Events name accounts, never ports, and take their times from the world's clock,
//! so the same scenario and seed give the same trace: reports, sequence diagrams and
//! golden files are all derived from it.

use crate::core::limits::{MAX_TRACE_DETAIL_CHARS, MAX_TRACE_NAME_CHARS, MAX_TRACE_PATH_CHARS};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

mod time;
mod wire;
pub use crate::core::text::{Text, method_text};
pub use time::Clock;
pub use wire::{Headers as WireHeaders, Wire, clip_header, redact_authorization, token_uuid};

/// What kind of thing an event records.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// A call was made (REST or partner).
    Request,
    /// A call was answered, or failed with a cause.
    Response,
    /// An account changed (or refused to change) its state.
    Decision,
    /// Something the scenario did to the world: a fault, a certificate, a restart.
    World,
    /// A scenario step's narration.
    Note,
}

/// Which of an account's two surfaces a call went to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// `/api/v2`: what admins, agents and API clients call.
    Rest,
    /// `/sharing`: what accounts send each other.
    Partner,
}

/// What the world's scheduler did to a partner message (see `scheduler`): absent for a
/// message delivered at once, exactly once, with its reply.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Delivery {
    /// Stopped on a held link: in flight, not seen by the receiver, until `release`.
    Held,
    /// Parked at the scheduler's gate beside other actions of a `concurrently` group;
    /// the seed decides which message of the group goes first.
    Crossing,
    /// Sent after being held: `release` let it go.
    Released,
    /// The second copy of a message the link delivered twice.
    Duplicated,
    /// A reply the receiver sent that never reached the sender.
    Lost,
}

// Its names, method, path and timestamp are shared text ([`Text`]): the account, the
// caller and the path of a call are the same in its request and its answer, and every
// event of one second has the same timestamp, so recording an event copies none of
// them. (A plain comment: the doc comment is the journal schema's description.)
/// One entry of the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Event {
    /// Position in the world's trace, from 1.
    pub seq: u64,
    /// The world clock's time of the event.
    #[schemars(with = "String")]
    pub at: Text,
    /// What this event records.
    pub kind: EventKind,
    /// The surface a request or response belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surface: Option<Surface>,
    /// Who acted or sent: an account's subdomain or a user's email.
    #[schemars(with = "String")]
    pub from: Text,
    /// Who was addressed: an account's subdomain (same as `from` for decisions).
    #[schemars(with = "String")]
    pub to: Text,
    /// HTTP method, for requests and responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub method: Option<Text>,
    /// HTTP path, for requests and responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub path: Option<Text>,
    /// HTTP status of a response, when one arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For a delivery that failed, the agreement status it leads to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub outcome: Option<Text>,
    /// The human sentence: the decision taken, or the cause of a failure.
    pub detail: String,
    /// What the scheduler did to this partner message, when it did anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// The call as it crossed the wire (headers and body), for a request or an answer
    /// that has one. Kept in memory for the reports' exchange view; never serialised, so
    /// JSON-lines traces and the journal stay summaries.
    #[serde(skip)]
    #[schemars(skip)]
    pub wire: Option<Arc<Wire>>,
}

/// The fields of an event before the trace numbers and timestamps it.
#[derive(Clone, Debug, Default)]
pub struct EventDraft {
    /// See [`Event::surface`].
    pub surface: Option<Surface>,
    /// See [`Event::from`].
    pub from: Text,
    /// See [`Event::to`].
    pub to: Text,
    /// See [`Event::method`].
    pub method: Option<Text>,
    /// See [`Event::path`].
    pub path: Option<Text>,
    /// See [`Event::status`].
    pub status: Option<u16>,
    /// See [`Event::outcome`].
    pub outcome: Option<Text>,
    /// See [`Event::detail`].
    pub detail: String,
    /// See [`Event::delivery`].
    pub delivery: Option<Delivery>,
    /// See [`Event::wire`].
    pub wire: Option<Wire>,
}

/// The most events [`Trace::set_capacity`] makes room for in advance; a larger bound
/// grows past it as events arrive.
const MAX_RESERVED_EVENTS: usize = 1 << 17;

/// The shared, ordered trace of one world. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Trace {
    inner: Arc<TraceInner>,
}

#[derive(Debug)]
struct TraceInner {
    clock: Clock,
    /// Whether events keep their wire (see [`Trace::keep_wires`]).
    keeps_wires: AtomicBool,
    events: Mutex<Events>,
    /// The last sequence number, for followers that wait for new events.
    latest: tokio::sync::watch::Sender<u64>,
}

/// The kept events, and how many were ever recorded (so sequence numbers go on when the
/// oldest are dropped).
#[derive(Debug, Default)]
struct Events {
    kept: VecDeque<Event>,
    /// What each kept event retains, in the same order: the oldest event's size is read
    /// here when it is dropped, not from the event itself (long untouched, out of cache).
    sizes: VecDeque<usize>,
    /// Each kept event's frame for followers (see [`Trace::read_frames_after`]),
    /// encoded when the first follower that wants the event reads it, then shared.
    frames: VecDeque<Option<Bytes>>,
    /// The last wall-clock second stamped and its text, reused by the events recorded
    /// within that second.
    stamp: Option<(i64, Text)>,
    recorded: u64,
    /// Most events kept; None keeps every event (scenarios: the trace is the report).
    capacity: Option<usize>,
    /// Most bytes kept (see [`Event::retained_bytes`]); None keeps every event.
    byte_budget: Option<usize>,
    /// What the kept events retain, in bytes.
    bytes: usize,
    /// The last sequence number of each kind, so a follower of one kind skips the rest
    /// without reading them.
    last_of_kind: [u64; 5],
}

impl Events {
    /// Forgets the oldest events until both bounds hold with `events` more events of
    /// `incoming` bytes, and gives back the last one forgotten: recording forgets one
    /// event for each new one once the trace is full, and drops it after the lock (its
    /// text and wire copy are most of an event's cost to free).
    fn make_room(&mut self, events: usize, incoming: usize) -> Option<Event> {
        let mut forgotten = None;
        while self.is_over(events, incoming) {
            let Some(size) = self.sizes.pop_front() else {
                break;
            };
            self.bytes -= size;
            self.frames.pop_front();
            forgotten = self.kept.pop_front();
        }
        forgotten
    }
}

impl Events {
    /// Whether `events` more events of `incoming` bytes would pass either bound: the
    /// check every recording makes, inlined; only a full trace calls `make_room`.
    #[inline]
    fn is_over(&self, events: usize, incoming: usize) -> bool {
        self.capacity
            .is_some_and(|capacity| self.kept.len() + events > capacity)
            || self
                .byte_budget
                .is_some_and(|budget| self.bytes + incoming > budget)
    }

    /// The index in `kept` of the first event after sequence number `after`.
    fn position_after(&self, after: u64) -> usize {
        let first = start_seq(self);
        (after.saturating_add(1).saturating_sub(first) as usize).min(self.kept.len())
    }
}

/// The sequence number of the oldest kept event (the next one's when none is).
fn start_seq(events: &Events) -> u64 {
    events
        .kept
        .front()
        .map_or(events.recorded + 1, |event| event.seq)
}

/// What [`Trace::read_after`] found.
#[derive(Debug)]
pub struct Window {
    /// The events looked at that passed, oldest first.
    pub events: Vec<Event>,
    /// The last sequence number looked at: where the next read starts.
    pub looked_to: u64,
    /// The oldest sequence number still kept; a reader behind it lost events.
    pub first_kept: u64,
    /// The last sequence number recorded.
    pub last: u64,
}

impl Event {
    /// The bytes this event keeps alive: its strings plus the struct itself. Every
    /// string is clipped (and shrunk to fit) when recorded, so this is bounded per event.
    pub fn retained_bytes(&self) -> usize {
        let strings = [
            Some(self.at.as_str()),
            Some(self.from.as_str()),
            Some(self.to.as_str()),
            self.method.as_deref(),
            self.path.as_deref(),
            self.outcome.as_deref(),
            Some(self.detail.as_str()),
        ];
        std::mem::size_of::<Event>()
            + strings.iter().flatten().map(|s| s.len()).sum::<usize>()
            + self.wire.as_ref().map_or(0, |wire| wire.retained_bytes())
    }
}

impl Trace {
    /// A new, empty trace reading times from `clock`.
    pub fn new(clock: Clock) -> Trace {
        Trace {
            inner: Arc::new(TraceInner {
                clock,
                keeps_wires: AtomicBool::new(true),
                events: Mutex::new(Events::default()),
                latest: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// Whether events keep the call as it crossed the wire (headers and body) from now on;
    /// the default. Only the scenario reports' exchange view reads it: `serve` and the
    /// benchmark's worlds, which nobody draws, turn it off, and then the recorders do not
    /// build a wire at all. A kept wire is a second allocation per event, written and,
    /// when the bounded trace forgets the event, read again long out of cache: under a
    /// sustained load, most of the cost of keeping an event.
    pub fn keep_wires(&self, keep: bool) {
        self.inner.keeps_wires.store(keep, Ordering::Relaxed);
    }

    /// See [`Trace::keep_wires`]: a recorder asks before it builds a wire.
    pub fn keeps_wires(&self) -> bool {
        self.inner.keeps_wires.load(Ordering::Relaxed)
    }

    /// Keeps only the newest `capacity` events from now on (None: every event, the
    /// default). Sequence numbers are unaffected. Long-running worlds (`serve`, the
    /// benchmark) bound their trace so memory does not grow with the load.
    pub fn set_capacity(&self, capacity: Option<usize>) {
        let mut events = lock(&self.inner.events);
        events.capacity = capacity;
        events.make_room(0, 0);
        // Room for the bound at once (up to a limit): a growing queue copies every kept
        // event on each doubling, and holds the old and new copies while it does. Pages
        // not yet written take no memory.
        if let Some(capacity) = capacity {
            let room = capacity
                .min(MAX_RESERVED_EVENTS)
                .saturating_sub(events.kept.len());
            events.kept.reserve(room);
            events.sizes.reserve(room);
            events.frames.reserve(room);
        }
    }

    /// Keeps at most `budget` bytes of events (their newest), as well as the event
    /// capacity: a flood of large calls cannot grow a served world's memory.
    pub fn set_byte_budget(&self, budget: Option<usize>) {
        let mut events = lock(&self.inner.events);
        events.byte_budget = budget;
        events.make_room(0, 0);
    }

    /// The bytes the kept events retain (see [`Event::retained_bytes`]).
    pub fn retained_bytes(&self) -> usize {
        lock(&self.inner.events).bytes
    }

    /// The clock shared by the trace and the world's accounts.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Appends an event and returns its sequence number.
    pub fn record(&self, kind: EventKind, draft: EventDraft) -> u64 {
        // Every string is clipped, so no call, however large, makes a large event. The
        // event is built before the lock is taken, so that other threads wait only for
        // its numbering and stamping.
        let name = |text: Text| shared_bounded(text, MAX_TRACE_NAME_CHARS);
        let mut event = Event {
            seq: 0,
            at: Text::default(),
            kind,
            surface: draft.surface,
            from: name(draft.from),
            to: name(draft.to),
            method: draft.method.map(name),
            path: draft
                .path
                .map(|path| shared_bounded(path, MAX_TRACE_PATH_CHARS)),
            status: draft.status,
            outcome: draft.outcome.map(name),
            detail: bounded(draft.detail, MAX_TRACE_DETAIL_CHARS),
            delivery: draft.delivery,
            wire: draft.wire.filter(|_| self.keeps_wires()).map(Arc::new),
        };
        let mut events = lock(&self.inner.events);
        // Read under the lock: a reading taken before it could be stamped on an event
        // that another thread's later reading overtakes, and times would run backwards.
        event.at = self.inner.clock.timestamp_cached(&mut events.stamp);
        events.recorded += 1;
        let seq = events.recorded;
        event.seq = seq;
        let size = event.retained_bytes();
        tracing::debug!(
            seq,
            kind = ?event.kind,
            from = %event.from,
            to = %event.to,
            method = event.method.as_deref().unwrap_or(""),
            path = event.path.as_deref().unwrap_or(""),
            status = event.status.unwrap_or(0),
            "{}",
            event.detail
        );
        events.last_of_kind[event.kind as usize] = seq;
        let mut evicted = None;
        if events.capacity != Some(0) {
            if events.is_over(1, size) {
                evicted = events.make_room(1, size);
            }
            events.bytes += size;
            events.kept.push_back(event);
            events.sizes.push_back(size);
            events.frames.push_back(None);
        }
        drop(events);
        drop(evicted);
        // Only followers read the value, and each reads the events themselves after
        // subscribing: with none, there is no one to wake.
        if self.inner.latest.receiver_count() > 0 {
            self.inner.latest.send_replace(seq);
        }
        seq
    }

    /// Wakes when events are recorded (its value is the last sequence number), so a
    /// follower (the control API's journal stream) waits instead of polling.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.latest.subscribe()
    }

    /// Records an account's decision.
    pub fn decision(&self, account: &str, detail: impl Into<String>) {
        self.record(
            EventKind::Decision,
            EventDraft {
                from: account.into(),
                to: account.into(),
                detail: detail.into(),
                ..EventDraft::default()
            },
        );
    }

    /// Records something done to the world (a fault, a restart…).
    pub fn world(&self, account: &str, detail: impl Into<String>) {
        self.record(
            EventKind::World,
            EventDraft {
                from: "world".into(),
                to: account.into(),
                detail: detail.into(),
                ..EventDraft::default()
            },
        );
    }

    /// A copy of every event kept (every event so far, unless a capacity is set).
    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner.events).kept.iter().cloned().collect()
    }

    /// Kept events with a sequence number greater than `after` (found by position:
    /// kept events are numbered without gaps).
    pub fn events_since(&self, after: u64) -> Vec<Event> {
        let events = lock(&self.inner.events);
        events
            .kept
            .range(events.position_after(after)..)
            .cloned()
            .collect()
    }

    /// Looks at up to `max` kept events after `after`, by position, and copies those
    /// that pass `keep`, up to `copy` of them (it stops looking once it has them): a
    /// page reads its share of the shared trace and copies no more than it can answer.
    pub fn read_after(
        &self,
        after: u64,
        (max, copy): (usize, usize),
        keep: impl Fn(&Event) -> bool,
    ) -> Window {
        let events = lock(&self.inner.events);
        let start = events.position_after(after);
        let end = (start + max).min(events.kept.len());
        let mut copied = Vec::new();
        let mut looked_to = after.max(start_seq(&events) - 1);
        for event in events.kept.range(start..end) {
            if copied.len() == copy {
                break;
            }
            looked_to = event.seq;
            if keep(event) {
                copied.push(event.clone());
            }
        }
        Window {
            events: copied,
            looked_to,
            first_kept: start_seq(&events),
            last: events.recorded,
        }
    }

    /// Counts kept events after `after` that pass `keep`, without copying any.
    pub fn count_after(&self, after: u64, keep: impl Fn(&Event) -> bool) -> usize {
        let events = lock(&self.inner.events);
        let start = events.position_after(after);
        events.kept.range(start..).filter(|e| keep(e)).count()
    }

    /// The sequence number of the last event of `kind` (0 when none).
    pub fn last_seq_of(&self, kind: EventKind) -> u64 {
        lock(&self.inner.events).last_of_kind[kind as usize]
    }

    /// The sequence number of the oldest event kept (the next one's when none is).
    pub fn first_seq(&self) -> u64 {
        let events = lock(&self.inner.events);
        events
            .kept
            .front()
            .map_or(events.recorded + 1, |event| event.seq)
    }

    /// The sequence number of the last event (0 when empty).
    pub fn last_seq(&self) -> u64 {
        lock(&self.inner.events).recorded
    }
}

/// What [`Trace::read_frames_after`] found.
#[derive(Debug)]
pub struct FrameWindow {
    /// The frames of the events looked at that passed, oldest first (shared bytes).
    pub frames: Vec<Bytes>,
    /// The last sequence number looked at: where the next read starts.
    pub looked_to: u64,
    /// The oldest sequence number still kept; a reader behind it lost events.
    pub first_kept: u64,
    /// The last sequence number recorded.
    pub last: u64,
}

impl Trace {
    /// Looks at up to `max` kept events after `after`, by position, and answers the
    /// frame (see [`stream_frame`]) of each that passes `keep`. A frame is encoded the
    /// first time any follower reads its event and kept beside it (counted against the
    /// byte budget), so every other follower shares the same bytes.
    pub fn read_frames_after(
        &self,
        after: u64,
        max: usize,
        keep: impl Fn(&Event) -> bool,
    ) -> FrameWindow {
        let mut guard = lock(&self.inner.events);
        let events = &mut *guard;
        let start = events.position_after(after);
        let end = (start + max).min(events.kept.len());
        let mut frames = Vec::new();
        let mut added = 0;
        for index in start..end {
            let event = &events.kept[index];
            if !keep(event) {
                continue;
            }
            let frame = match &events.frames[index] {
                Some(frame) => frame.clone(),
                None => {
                    let frame = stream_frame(event);
                    events.sizes[index] += frame.len();
                    added += frame.len();
                    events.frames[index] = Some(frame.clone());
                    frame
                }
            };
            frames.push(frame);
        }
        // Counted now and made room for at the next event recorded: the budget may be
        // passed by at most one read's new frames in between.
        events.bytes += added;
        let looked_to = if end > start {
            events.kept[end - 1].seq
        } else {
            after.max(start_seq(events) - 1)
        };
        FrameWindow {
            frames,
            looked_to,
            first_kept: start_seq(events),
            last: events.recorded,
        }
    }
}

/// An event as one server-sent event: `id` = its sequence number, `event` = its kind,
/// `data` = its JSON on one line (JSON escapes every line break inside a string).
pub fn stream_frame(event: &Event) -> Bytes {
    let mut frame = BytesMut::with_capacity(320).writer();
    let kind: &'static str = event.kind.into();
    // Writing to memory cannot fail, and an event always serialises.
    let _ = write!(frame, "id: {}\nevent: {kind}\ndata: ", event.seq);
    let _ = serde_json::to_writer(&mut frame, event);
    let _ = frame.write_all(b"\n\n");
    frame.into_inner().freeze()
}

/// The unused room a recorded detail may keep (see [`bounded`]).
const DETAIL_SLACK: usize = 64;

/// Shared `text` clipped to `max` characters: the same text, not a copy, when it fits.
#[inline]
fn shared_bounded(text: Text, max: usize) -> Text {
    // No more bytes than `max`: no more characters, decided here without a call (every
    // event clips four or five names).
    if text.len() <= max {
        return text;
    }
    match crate::core::limits::clip(&text, max) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clipped) => clipped.into(),
    }
}

/// `text` clipped to `max` characters, reusing the allocation when it fits. A little
/// room to spare is kept rather than reallocated for (most details are built with
/// some): an event holds at most [`DETAIL_SLACK`] bytes more than it counts.
fn bounded(text: String, max: usize) -> String {
    if text.len() <= max && text.capacity() - text.len() <= DETAIL_SLACK {
        return text;
    }
    let mut kept = match crate::core::limits::clip(&text, max) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clipped) => clipped,
    };
    kept.shrink_to_fit();
    kept
}

/// Locks a std mutex, recovering the data if a panicking thread poisoned it:
/// the trace and account state stay usable for the report that explains the panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
