//! The trace's own tests: clocks, numbering, bounds, shared frames.

use super::*;

#[test]
fn logical_clock_advances_one_second_per_reading() {
    let clock = Clock::logical();
    assert_eq!(clock.timestamp(), "2026-01-01T09:00:00Z");
    assert_eq!(clock.timestamp(), "2026-01-01T09:00:01Z");
}

#[test]
fn events_are_numbered_in_order() {
    let trace = Trace::new(Clock::logical());
    trace.decision("acme", "first");
    trace.world("globex", "second");
    let events = trace.events();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].seq, events[1].seq), (1, 2));
    assert_eq!(events[1].to, "globex");
    assert_eq!(trace.events_since(1).len(), 1);
    assert_eq!(trace.last_seq(), 2);
    let json = serde_json::to_string(&events[0]).unwrap();
    assert!(
        json.starts_with(r#"{"seq":1,"at":"2026-01-01T09:00:00Z","kind":"decision""#),
        "{json}"
    );
}

#[test]
fn timestamps_never_run_backwards_under_concurrent_recording() {
    let trace = Trace::new(Clock::logical());
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let trace = &trace;
            scope.spawn(move || {
                for _ in 0..500 {
                    trace.decision(&format!("t{thread}"), "x");
                }
            });
        }
    });
    let events = trace.events();
    assert_eq!(events.len(), 4000);
    for pair in events.windows(2) {
        assert!(
            pair[0].at < pair[1].at,
            "event {} at {} is not before event {} at {}",
            pair[0].seq,
            pair[0].at,
            pair[1].seq,
            pair[1].at
        );
    }
}

#[test]
fn a_byte_budget_bounds_the_trace_however_large_the_events() {
    let trace = Trace::new(Clock::logical());
    trace.set_byte_budget(Some(10_000));
    let huge = "x".repeat(1_000_000);
    for _ in 0..100 {
        trace.record(
            EventKind::Request,
            EventDraft {
                from: huge.as_str().into(),
                path: Some(huge.as_str().into()),
                detail: huge.clone(),
                ..EventDraft::default()
            },
        );
    }
    let events = trace.events();
    assert!(
        trace.retained_bytes() <= 10_000,
        "{}",
        trace.retained_bytes()
    );
    assert_eq!(
        trace.retained_bytes(),
        events.iter().map(Event::retained_bytes).sum::<usize>()
    );
    assert_eq!(events.last().map(|e| e.seq), Some(100));
    let last = events.last().unwrap();
    assert_eq!(last.detail.chars().count(), MAX_TRACE_DETAIL_CHARS + 1);
    assert_eq!(
        last.path.as_ref().unwrap().chars().count(),
        MAX_TRACE_PATH_CHARS + 1
    );
    assert_eq!(last.from.chars().count(), MAX_TRACE_NAME_CHARS + 1);
}

#[test]
fn a_bounded_trace_keeps_the_newest_events_and_numbers_on() {
    let trace = Trace::new(Clock::logical());
    trace.decision("acme", "first");
    trace.decision("acme", "second");
    trace.decision("acme", "third");
    trace.set_capacity(Some(2));
    assert_eq!(
        trace.events().iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    trace.decision("acme", "fourth");
    let events = trace.events();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(events[1].detail, "fourth");
    assert_eq!(trace.last_seq(), 4);
    assert_eq!(trace.events_since(3).len(), 1);
}

#[test]
fn each_frame_is_encoded_once_shared_and_counted() {
    let trace = Trace::new(Clock::logical());
    trace.decision("acme", "created ticket 1\nwith a line break");
    trace.world("globex", "a fault");
    let before = trace.retained_bytes();
    let first = trace.read_frames_after(0, 10, |_| true);
    assert_eq!(first.frames.len(), 2);
    assert_eq!((first.looked_to, first.first_kept, first.last), (2, 1, 2));
    let text = std::str::from_utf8(&first.frames[0]).unwrap();
    assert!(
        text.starts_with("id: 1\nevent: decision\ndata: {\"seq\":1,"),
        "{text}"
    );
    assert!(text.ends_with("}\n\n"), "{text}");
    assert_eq!(text.matches('\n').count(), 4, "one data line: {text}");
    let counted: usize = first.frames.iter().map(|f| f.len()).sum();
    assert_eq!(trace.retained_bytes(), before + counted);
    // A second follower shares the same bytes, and nothing more is counted.
    let second = trace.read_frames_after(0, 10, |e| e.kind == EventKind::World);
    assert_eq!(second.frames.len(), 1);
    assert_eq!(second.frames[0].as_ptr(), first.frames[1].as_ptr());
    assert_eq!(trace.retained_bytes(), before + counted);
    // Nothing after the end: the position stays.
    let none = trace.read_frames_after(2, 10, |_| true);
    assert!(none.frames.is_empty());
    assert_eq!(none.looked_to, 2);
}

#[test]
fn frames_leave_with_their_events() {
    let trace = Trace::new(Clock::logical());
    trace.set_capacity(Some(3));
    for n in 0..10 {
        trace.decision("acme", format!("decision {n}"));
        let _ = trace.read_frames_after(0, 10, |_| true);
    }
    let events: usize = trace.events().iter().map(|e| e.retained_bytes()).sum();
    let window = trace.read_frames_after(0, 10, |_| true);
    let frames: usize = window.frames.iter().map(|f| f.len()).sum();
    assert_eq!(window.frames.len(), 3);
    assert_eq!(window.first_kept, 8);
    assert_eq!(trace.retained_bytes(), events + frames);
}

#[test]
fn a_read_copies_no_more_than_it_was_asked_for() {
    let trace = Trace::new(Clock::logical());
    for n in 0..6 {
        trace.decision("acme", format!("decision {n}"));
    }
    trace.world("globex", "a fault");
    // Two wanted: the read stops at the second match, not at the end of the window.
    let two = trace.read_after(0, (10, 2), |e| e.kind == EventKind::Decision);
    assert_eq!(two.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!((two.looked_to, two.last), (2, 7));
    // Fewer matches than wanted: the whole window is looked at.
    let all = trace.read_after(3, (10, 5), |e| e.kind == EventKind::World);
    assert_eq!(all.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [7]);
    assert_eq!(all.looked_to, 7);
    // The window still bounds what is looked at.
    let bounded = trace.read_after(0, (3, 5), |e| e.kind == EventKind::World);
    assert!(bounded.events.is_empty());
    assert_eq!(bounded.looked_to, 3);
}

#[test]
fn timestamps_are_spelled_as_chrono_spells_them() {
    use chrono::{DateTime, TimeZone, Utc};
    let instants: [DateTime<Utc>; 5] = [
        Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(2024, 2, 29, 0, 5, 7).unwrap(),
        Utc.with_ymd_and_hms(7, 3, 4, 1, 2, 3).unwrap(),
        Utc.with_ymd_and_hms(12345, 6, 7, 8, 9, 10).unwrap(),
    ];
    // And a day in every month of 2000 years, leap days and century ends among them.
    let every_month = (0..2000 * 12).map(|month: i64| {
        let start = Utc.with_ymd_and_hms(1000, 1, 1, 0, 0, 0).unwrap();
        start + chrono::Duration::seconds(month * 2_629_746 + month * 7)
    });
    for at in instants.into_iter().chain(every_month) {
        assert_eq!(
            time::spelled(at.timestamp()).as_str(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "{at:?}"
        );
    }
}

#[test]
fn wall_seconds_round_down_as_chrono_does() {
    use chrono::{DateTime, Utc};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let nanos = [0, 1, 999_999_999, 500_000_000];
    for seconds in [0u64, 1, 59, 86_400, 1_798_275_600, 253_402_300_799] {
        for nano in nanos {
            let span = Duration::new(seconds, nano);
            for at in [UNIX_EPOCH + span, UNIX_EPOCH - span] {
                assert_eq!(
                    time::wall_second(at),
                    DateTime::<Utc>::from(at).timestamp(),
                    "{at:?}"
                );
            }
        }
    }
    let now = SystemTime::now();
    assert_eq!(
        time::wall_second(now),
        DateTime::<Utc>::from(now).timestamp()
    );
}

#[test]
fn a_trace_that_keeps_no_wires_keeps_the_rest_of_each_event() {
    let trace = Trace::new(Clock::logical());
    let call = |trace: &Trace| {
        trace.record(
            EventKind::Request,
            EventDraft {
                from: "admin@acme.test".into(),
                to: "acme".into(),
                method: Some("POST".into()),
                path: Some("/api/v2/sharing_agreements.json".into()),
                detail: "remote_subdomain=globex".to_string(),
                wire: Some(Wire::new(
                    vec![("Content-Type", "application/json".into())],
                    &bytes::Bytes::from_static(b"{\"sharing_agreement\":{}}"),
                )),
                ..EventDraft::default()
            },
        )
    };
    assert!(
        trace.keeps_wires(),
        "kept by default: the reports draw them"
    );
    call(&trace);
    trace.keep_wires(false);
    assert!(!trace.keeps_wires());
    call(&trace);
    let events = trace.events();
    let kept = events[0]
        .wire
        .as_deref()
        .expect("the first call kept its wire");
    assert_eq!(&kept.body[..], b"{\"sharing_agreement\":{}}");
    assert!(events[1].wire.is_none(), "{:?}", events[1]);
    // Everything a journal reader sees is the same.
    let summary = |event: &Event| {
        let mut value = serde_json::to_value(event).unwrap();
        value.as_object_mut().unwrap().remove("seq");
        value.as_object_mut().unwrap().remove("at");
        value
    };
    assert_eq!(summary(&events[0]), summary(&events[1]));
    // And what it retains is less by the wire's bytes.
    assert!(events[1].retained_bytes() < events[0].retained_bytes());
}
