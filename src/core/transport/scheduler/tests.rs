//! The scheduler's tests: open and held links, seeded pick orders, chains and the uuid
//! a message is filed under.

use super::*;
use crate::core::trace::Clock;
use axum::http::Method;

fn message(from: &str, path: &str) -> Message {
    Message {
        from: from.to_string(),
        method: Method::PUT,
        url: format!("http://globex.sharesim.test/sharing{path}"),
        token: Some(format!("{}:key", "b".repeat(40))),
        body: None,
    }
}

#[tokio::test]
async fn an_open_link_lets_messages_go_at_once_with_the_planned_faults() {
    let scheduler = Scheduler::new(Trace::new(Clock::logical()), 1);
    let link = Link {
        from: "acme".into(),
        to: "globex".into(),
    };
    scheduler.duplicate(&link);
    let first = scheduler
        .pass(
            "globex",
            &message("acme", "/tickets/x"),
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(
        first,
        Pass::Go(Plan {
            duplicate: true,
            released: false,
            ..
        })
    ));
    let second = scheduler
        .pass(
            "globex",
            &message("acme", "/tickets/x"),
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(
        second,
        Pass::Go(Plan {
            duplicate: false,
            ..
        })
    ));
}

#[tokio::test]
async fn a_held_message_stays_in_flight_after_its_sender_gives_up() {
    let scheduler = Scheduler::new(Trace::new(Clock::logical()), 1);
    let link = Link {
        from: "acme".into(),
        to: "globex".into(),
    };
    scheduler.hold(&link);
    let uuid = "a".repeat(40);
    let pass = scheduler
        .pass(
            "globex",
            &message("acme", &format!("/agreements/{uuid}")),
            Duration::from_millis(20),
        )
        .await;
    assert!(matches!(pass, Pass::TimedOut));
    assert_eq!(scheduler.in_flight(&link), 1);
    assert!(scheduler.uuids_in_flight().contains(&uuid));
    scheduler.begin_round().unwrap();
    assert_eq!(scheduler.release(&link, ReleaseOrder::Fifo), Ok(1));
    assert_eq!(scheduler.in_flight(&link), 0);
    // Its sender is gone, so the driver is asked to deliver it.
    assert!(matches!(scheduler.next_turn(0, 0), Turn::Deliver(_)));
    scheduler.finished();
    assert!(matches!(scheduler.next_turn(0, 0), Turn::Idle));
    scheduler.end_round();
    assert_eq!(
        scheduler.release(&link, ReleaseOrder::Fifo),
        Err(ScheduleError::NothingHeld(link))
    );
}

/// The turns a group of `actions` unstarted actions is given, as the driver would
/// see them if every started action finished at once.
fn picks(seed: u64, actions: usize) -> Vec<usize> {
    let scheduler = Scheduler::new(Trace::new(Clock::logical()), seed);
    scheduler.begin_round().unwrap();
    let mut left: Vec<usize> = (0..actions).collect();
    let mut order = Vec::new();
    while let Turn::Start { pick, choices } = scheduler.next_turn(left.len(), 0) {
        assert_eq!(choices, left.len());
        order.push(left.remove(pick));
        scheduler.finished();
    }
    assert!(left.is_empty());
    order
}

#[test]
fn a_seed_fixes_the_order_and_seeds_differ() {
    for seed in 0..8 {
        assert_eq!(picks(seed, 4), picks(seed, 4), "seed {seed}");
    }
    let orders: BTreeSet<Vec<usize>> = (0..32).map(|seed| picks(seed, 4)).collect();
    assert!(orders.len() > 4, "32 seeds gave only {orders:?}");
}

#[test]
fn nothing_moves_while_a_chain_runs() {
    let scheduler = Scheduler::new(Trace::new(Clock::logical()), 3);
    scheduler.begin_round().unwrap();
    assert!(matches!(scheduler.next_turn(2, 0), Turn::Start { .. }));
    assert!(!scheduler.quiescent());
    scheduler.finished();
    assert!(scheduler.quiescent());
    assert_eq!(scheduler.begin_round(), Err(ScheduleError::Busy));
    scheduler.end_round();
    assert!(matches!(scheduler.next_turn(1, 0), Turn::Idle));
}

#[test]
fn the_uuid_of_a_message_comes_from_its_path_or_its_token() {
    let uuid = "c".repeat(40);
    assert_eq!(
        agreement_uuid(&message("acme", &format!("/agreements/{uuid}"))),
        Some(uuid)
    );
    assert_eq!(
        agreement_uuid(&message("acme", "/tickets/x")),
        Some("b".repeat(40))
    );
}
