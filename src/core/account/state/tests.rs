//! The account state's tests: the held-invitation tally, the uuid index, the cached
//! listing, records and the ticket book's ids.

use super::*;
use crate::core::model::{AgreementStatus, Direction, Terms};
use crate::core::text::Text;

fn copy(id: u64, uuid: &str) -> Agreement {
    Agreement {
        id,
        uuid: uuid.to_string().into(),
        name: Default::default(),
        remote_subdomain: None,
        status: AgreementStatus::Pending,
        direction: Direction::Inbound,
        access_key: Default::default(),
        sender_url: Default::default(),
        receiver_url: Default::default(),
        terms: Terms::default(),
        deactivated_by: None,
        created_at: Default::default(),
        updated_at: Default::default(),
        unverified_sender: false,
    }
}

#[test]
fn held_counts_follow_every_insert_change_and_removal() {
    let mut state = AccountState::default();
    let from = |id: u64, remote: &str| Agreement {
        remote_subdomain: Some(remote.to_string().into()),
        ..copy(id, &format!("u{id}"))
    };
    state.insert(from(1, "globex"));
    state.insert(from(2, "globex"));
    state.insert(from(3, "initech"));
    state.insert(copy(4, "u4"));
    let count = |state: &AccountState, remote: Option<&str>, status| {
        let scanned = state
            .agreements()
            .values()
            .filter(|a| {
                a.direction == Direction::Inbound
                    && a.status == status
                    && a.remote_subdomain.as_deref() == remote
            })
            .count();
        assert_eq!(
            state.inbound_held(remote, status),
            scanned,
            "{remote:?} {status}"
        );
        scanned
    };
    assert_eq!(count(&state, Some("globex"), AgreementStatus::Pending), 2);
    assert_eq!(count(&state, None, AgreementStatus::Pending), 1);
    state.change(1, |a| a.status = AgreementStatus::Declined);
    state.change(2, |a| a.status = AgreementStatus::Accepted);
    assert_eq!(count(&state, Some("globex"), AgreementStatus::Pending), 0);
    assert_eq!(count(&state, Some("globex"), AgreementStatus::Declined), 1);
    // Replacing a copy under the same id takes the old one out of its count.
    state.insert(from(3, "globex"));
    assert_eq!(count(&state, Some("initech"), AgreementStatus::Pending), 0);
    assert_eq!(count(&state, Some("globex"), AgreementStatus::Pending), 1);
    state.remove(1);
    state.remove(4);
    assert_eq!(count(&state, Some("globex"), AgreementStatus::Declined), 0);
    assert_eq!(count(&state, None, AgreementStatus::Pending), 0);
    // An outbound copy is never counted.
    state.insert(Agreement {
        direction: Direction::Outbound,
        ..from(5, "globex")
    });
    assert_eq!(count(&state, Some("globex"), AgreementStatus::Pending), 1);
}

#[test]
fn the_uuid_index_follows_inserts_replacements_and_removals() {
    let mut state = AccountState::default();
    state.insert(copy(1, "a"));
    state.insert(copy(2, "b"));
    assert_eq!(state.id_by_uuid("a"), Some(1));
    assert_eq!(state.by_uuid("b").map(|a| a.id), Some(2));
    // Replacing copy 1 with another uuid forgets the old one.
    state.insert(copy(1, "c"));
    assert_eq!(state.id_by_uuid("a"), None);
    assert_eq!(state.id_by_uuid("c"), Some(1));
    // A change that rewrites the uuid re-indexes too, and cannot move the id.
    state.change(1, |a| {
        a.uuid = "d".into();
        a.id = 9;
    });
    assert_eq!(state.id_by_uuid("c"), None);
    assert_eq!(state.id_by_uuid("d"), Some(1));
    assert_eq!(state.remove(2).map(|a| a.uuid), Some(Text::from("b")));
    assert_eq!(state.id_by_uuid("b"), None);
    assert_eq!(state.agreements().len(), 1);
    assert!(state.remove(2).is_none());
    assert!(state.change(2, |_| ()).is_none());
}

#[test]
fn the_cached_listing_is_rebuilt_after_every_change() {
    let mut state = AccountState::default();
    let build = |state: &AccountState| -> bytes::Bytes {
        state
            .agreements()
            .values()
            .map(|a| format!("{}={}", a.uuid, a.status))
            .collect::<String>()
            .into()
    };
    let no_headers = |_: &bytes::Bytes| axum::http::HeaderMap::new();
    state.insert(copy(1, "a"));
    assert_eq!(state.listing("u", build, no_headers).0, "a=pending");
    state.insert(copy(2, "b"));
    assert_eq!(
        state.listing("u", build, no_headers).0,
        "a=pendingb=pending"
    );
    state.change(1, |a| a.status = AgreementStatus::Accepted);
    assert_eq!(
        state.listing("u", build, no_headers).0,
        "a=acceptedb=pending"
    );
    state.change_by_uuid("b", |a| a.status = AgreementStatus::SslError);
    assert_eq!(
        state.listing("u", build, no_headers).0,
        "a=acceptedb=ssl_error"
    );
    // A cached body is reused only while nothing changed and for the same API URL.
    let mut built = 0;
    let mut counting = |state: &AccountState| {
        built += 1;
        build(state)
    };
    assert_eq!(
        state.listing("u", &mut counting, no_headers).0,
        "a=acceptedb=ssl_error"
    );
    assert_eq!(
        state.listing("v", &mut counting, no_headers).0,
        "a=acceptedb=ssl_error"
    );
    state.remove(1);
    assert_eq!(
        state.listing("v", &mut counting, no_headers).0,
        "b=ssl_error"
    );
    assert_eq!(built, 2);
}

/// Snapshots and `serve --state` keep ticket fields, settings and waiting pushes,
/// and a snapshot written before they existed still reads.
#[test]
fn a_record_keeps_fields_settings_and_waiting_pushes() {
    use crate::core::account::tickets::TicketMessage;
    use crate::core::model::ticket::fields::FieldType;
    let mut state = AccountState::default();
    state.set_settings(AccountSettings {
        decline_all_invites: true,
    });
    let field = TicketField {
        id: 0,
        title: "Serial".into(),
        field_type: FieldType::Text,
        options: Vec::new(),
    };
    assert_eq!(state.tickets_mut().0.add_field(field, Some(7)).id, 7);
    state
        .outbox_mut()
        .enqueue(1, 3, "u".into(), TicketMessage::Unshare);
    let record = state.record();
    assert_eq!(record.next_field_id, 8);
    let json = serde_json::to_value(&record).unwrap();
    let back: StateRecord = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, record);
    let restored = AccountState::from_record(&back);
    assert_eq!(restored.record(), record);
    assert_eq!(restored.outbox().waiting(), vec![1]);
    assert!(restored.settings().decline_all_invites);
    let mut older = json;
    for key in ["ticket_fields", "next_field_id", "outbox", "settings"] {
        older.as_object_mut().unwrap().remove(key);
    }
    let old: StateRecord = serde_json::from_value(older).unwrap();
    assert_eq!(old.next_field_id, 1);
    assert_eq!(old.settings, AccountSettings::default());
}

#[test]
fn people_get_ids_from_three_on_first_sight() {
    let mut book = TicketBook::default();
    assert!(book.person_exists(ADMIN_ID) && book.person_exists(AGENT_ID));
    assert!(!book.person_exists(3));
    assert_eq!(book.person_id("u1", "Ann", "agent"), 3);
    assert_eq!(book.person_id("u2", "Bob", "admin"), 4);
    assert_eq!(book.person_id("u1", "Ann again", "agent"), 3);
    assert_eq!(book.person(3).map(|p| p.name.as_str()), Some("Ann"));
    assert_eq!(book.take_ticket_id(), 1);
    assert_eq!(book.peek_ticket_id(), 2);
}

#[test]
fn unsaved_items_are_what_changed_since_last_taken_and_only_while_tracked() {
    use crate::core::model::ticket::tests_support::ticket;
    let mut state = AccountState::default();
    state.insert(copy(1, "u1"));
    state.insert(copy(3, "u3"));
    assert_eq!(state.take_unsaved(), None, "not tracked yet");
    state.track_unsaved();
    state.insert(copy(2, "u2"));
    state.insert(copy(4, "u4"));
    state.change(2, |copy| copy.name = "renamed".into());
    state.remove(3);
    state.change(99, |copy| copy.name = "no such copy".into());
    let stored = |id: u64| Ticket { id, ..ticket() };
    state.tickets_mut().0.store(stored(7));
    state.tickets_mut().0.store(stored(8));
    let taken = state.take_unsaved().unwrap();
    let ids = |copies: &[Agreement]| copies.iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(&taken.agreements), [2, 4]);
    assert_eq!(taken.agreements[0].name, "renamed");
    assert_eq!(taken.removed_agreements, [3]);
    assert_eq!(
        taken.tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
        [7, 8]
    );
    // The same as comparing every item with the copy taken before.
    let mut before = AccountState::default();
    before.insert(copy(1, "u1"));
    before.insert(copy(3, "u3"));
    let compared = state.items_changed_since(before.agreements(), &Default::default());
    assert_eq!(compared, taken);
    // Taken: nothing is unsaved until the next change, and one change is one item.
    assert!(state.take_unsaved().unwrap().is_empty());
    state.tickets_mut().0.store(Ticket {
        subject: "again".into(),
        ..stored(8)
    });
    let again = state.take_unsaved().unwrap();
    assert_eq!(again.tickets.len(), 1);
    assert_eq!(again.tickets[0].subject, "again");
    // A state made afresh is not tracked: the caller compares once and tracks again.
    assert_eq!(
        AccountState::from_record(&state.record()).take_unsaved(),
        None
    );
}
