//! The account's agreement decisions, in tables where the rules are tables: invitations
//! opened and received, admin and partner status changes, rollbacks, delivery failures,
//! tokens and deletion.

use super::*;
use crate::core::account::testing::{acme_and_globex, last_decision};
use crate::core::model::protocol_uuid;
use AgreementStatus::*;

/// acme invites globex: acme's outbound copy and the offer globex receives.
fn invite(acme: &Account) -> (Agreement, InvitationOffer) {
    let sent = acme.open_invitation(Invitation {
        remote_subdomain: "globex".into(),
        ..Invitation::default()
    });
    let offer = InvitationOffer {
        uuid: sent.uuid.to_string(),
        name: "Acme @ Zendesk".into(),
        sender_url: sent.sender_url.to_string(),
        receiver_url: Some(sent.receiver_url.to_string()),
        access_key: sent.access_key.to_string(),
        terms: sent.terms,
        verified: true,
    };
    (sent, offer)
}

/// Puts copy `id` of `account` at `status`, as if the lifecycle had got it there.
fn put(account: &Account, id: u64, status: AgreementStatus) {
    account.with_state(|state| state.change(id, |a| a.status = status));
}

fn failure(status: AgreementStatus) -> DeliveryFailure {
    DeliveryFailure {
        status,
        cause: "connection refused".into(),
        http_status: None,
        retry_after: None,
    }
}

#[test]
fn an_invitation_opens_an_outbound_pending_copy_named_after_the_receiver() {
    let (acme, _) = acme_and_globex();
    let (sent, _) = invite(&acme);
    assert_eq!(
        (sent.id, sent.status, sent.direction),
        (1, Pending, Direction::Outbound)
    );
    assert_eq!(sent.name, "Globex @ Zendesk");
    assert_eq!(sent.remote_subdomain.as_deref(), Some("globex"));
    assert_eq!(sent.sender_url, "http://acme.sharesim.test/sharing");
    assert_eq!(sent.receiver_url, "http://globex.sharesim.test/sharing");
    assert_eq!(sent.uuid, protocol_uuid(&sent.sender_url, "agreements", 1));
    assert_eq!(sent.access_key.len(), 40);
    assert!(sent.access_key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(acme.agreement_by_id(1).as_ref(), Some(&sent));
    assert_eq!(
        last_decision(&acme),
        "acme stored outbound agreement 1 pending and invites globex"
    );
    // The next invitation gets the next id and its own key.
    let (second, _) = invite(&acme);
    assert_eq!(second.id, 2);
    assert_ne!(second.access_key, sent.access_key);
}

#[test]
fn an_admin_s_status_change_is_decided_and_recorded_by_the_lifecycle() {
    use Direction::{Inbound, Outbound};
    // (copy, from, asked) → the change, the status after, `deactivated_by`.
    let allowed: &[(
        Direction,
        AgreementStatus,
        AgreementStatus,
        LocalChange,
        Option<&str>,
    )] = &[
        (
            Inbound,
            Pending,
            Accepted,
            LocalChange::Answer(Accepted),
            None,
        ),
        (
            Inbound,
            Pending,
            Declined,
            LocalChange::Answer(Declined),
            None,
        ),
        (
            Inbound,
            Accepted,
            Inactive,
            LocalChange::Deactivate,
            Some("receiver"),
        ),
        (
            Outbound,
            Accepted,
            Inactive,
            LocalChange::Deactivate,
            Some("sender"),
        ),
        (
            Outbound,
            Pending,
            Inactive,
            LocalChange::Deactivate,
            Some("sender"),
        ),
        (Outbound, Failed, Pending, LocalChange::Resend, None),
        (Outbound, SslError, Pending, LocalChange::Resend, None),
        (Inbound, Accepted, Accepted, LocalChange::Unchanged, None),
    ];
    for &(direction, from, asked, change, by) in allowed {
        let (acme, globex) = acme_and_globex();
        let (_, offer) = invite(&acme);
        globex.receive_invitation(offer, None).unwrap();
        let account = if direction == Outbound {
            &acme
        } else {
            &globex
        };
        put(account, 1, from);
        let decided = account.decide_status_change(1, asked).unwrap();
        let case = format!("{direction} {from} → {asked}");
        assert_eq!(decided.change, change, "{case}");
        assert_eq!(decided.before.status, from, "{case}");
        assert_eq!(decided.after.status, asked, "{case}");
        assert_eq!(decided.after.deactivated_by.as_deref(), by, "{case}");
        assert_eq!(account.agreement_by_id(1).unwrap(), decided.after, "{case}");
        if change != LocalChange::Unchanged {
            assert_eq!(
                last_decision(account),
                format!(
                    "{} changed {direction} agreement 1 from {from} to {asked}",
                    account.subdomain()
                ),
                "{case}"
            );
        }
    }
}

#[test]
fn a_refused_status_change_leaves_the_copy_as_it_was_and_says_why() {
    use Direction::{Inbound, Outbound};
    let refused: &[(Direction, AgreementStatus, AgreementStatus, &str)] = &[
        (Outbound, Pending, Accepted, "only the receiver answers"),
        (Inbound, Inactive, Accepted, "can never be reactivated"),
        (Outbound, Declined, Pending, "declined agreement is final"),
        (Inbound, Accepted, Pending, "cannot go back to pending"),
        (Inbound, Failed, Pending, "only the sender can re-send"),
    ];
    for &(direction, from, asked, why) in refused {
        let (acme, globex) = acme_and_globex();
        let (_, offer) = invite(&acme);
        globex.receive_invitation(offer, None).unwrap();
        let account = if direction == Outbound {
            &acme
        } else {
            &globex
        };
        put(account, 1, from);
        let held = account.agreement_by_id(1).unwrap();
        let case = format!("{direction} {from} → {asked}");
        match account.decide_status_change(1, asked) {
            Err(AgreementError::Refused(refusal)) => {
                assert!(refusal.to_string().contains(why), "{case}: {refusal}")
            }
            other => panic!("{case}: {other:?}"),
        }
        assert_eq!(account.agreement_by_id(1).unwrap(), held, "{case}");
        assert!(
            last_decision(account).contains("refused agreement 1"),
            "{case}"
        );
    }
    let (acme, _) = acme_and_globex();
    assert_eq!(
        acme.decide_status_change(9, Inactive).unwrap_err(),
        AgreementError::NotFound
    );
}

#[test]
fn a_rollback_restores_the_copy_only_if_nothing_else_changed_it() {
    let (acme, globex) = acme_and_globex();
    let (_, offer) = invite(&acme);
    globex.receive_invitation(offer, None).unwrap();
    let change = globex.decide_status_change(1, Accepted).unwrap();
    globex.roll_back(&change.before, &change.after);
    assert_eq!(globex.agreement_by_id(1).unwrap(), change.before);
    assert_eq!(
        last_decision(&globex),
        "globex rolled agreement 1 back to pending: the partner was not told"
    );
    // Changed meanwhile (here: deactivated): the rollback leaves it alone.
    let change = globex.decide_status_change(1, Accepted).unwrap();
    put(&globex, 1, Inactive);
    globex.roll_back(&change.before, &change.after);
    assert_eq!(globex.agreement_by_id(1).unwrap().status, Inactive);
}

#[test]
fn a_delivery_failure_moves_only_a_pending_copy_to_the_failure_s_status() {
    // (status held when the failure is recorded, failure) → status after.
    let table = [
        (Pending, Failed, Failed),
        (Pending, SslError, SslError),
        (Pending, ConfigurationError, ConfigurationError),
        (Accepted, Failed, Accepted),
        (Inactive, SslError, Inactive),
    ];
    for (held, failed, after) in table {
        let (acme, _) = acme_and_globex();
        let (sent, _) = invite(&acme);
        put(&acme, 1, held);
        let recorded = acme.record_delivery_failure(&sent, &failure(failed));
        assert_eq!(recorded.status, after, "{held} + {failed}");
        assert_eq!(
            acme.agreement_by_id(1).unwrap().status,
            after,
            "{held} + {failed}"
        );
    }
    // A copy deleted while its invitation was in flight: the answer still says why.
    let (acme, _) = acme_and_globex();
    let (sent, _) = invite(&acme);
    acme.remove_agreement(1).unwrap();
    assert_eq!(
        acme.record_delivery_failure(&sent, &failure(SslError))
            .status,
        SslError
    );
    assert!(acme.agreement_by_id(1).is_none());
}

#[test]
fn a_receiver_stores_one_copy_per_invitation() {
    let (acme, globex) = acme_and_globex();
    let (sent, offer) = invite(&acme);
    let stored = globex.receive_invitation(offer.clone(), None).unwrap();
    assert!(stored.created);
    let copy = &stored.agreement;
    assert_eq!(
        (copy.id, copy.status, copy.direction),
        (1, Pending, Direction::Inbound)
    );
    assert_eq!(
        (copy.uuid.as_str(), copy.name.as_str()),
        (sent.uuid.as_str(), "Acme @ Zendesk")
    );
    assert_eq!(copy.remote_subdomain.as_deref(), Some("acme"));
    assert_eq!(
        last_decision(&globex),
        "globex stored inbound agreement 1 pending from acme"
    );
    // The same invitation again (a lost reply, a re-send): the one copy, unchanged.
    let again = globex.receive_invitation(offer.clone(), None).unwrap();
    assert!(!again.created);
    assert_eq!(&again.agreement, copy);
    assert_eq!(globex.agreements().len(), 1);
    // The same uuid with another key is somebody else's.
    let squatter = InvitationOffer {
        access_key: "f".repeat(40),
        ..offer
    };
    let refused = globex.receive_invitation(squatter, None).unwrap_err();
    assert!(
        matches!(refused, ReceiveError::Invalid(ref why) if why.contains("different access key"))
    );
    assert_eq!(globex.agreements().len(), 1);
}

#[test]
fn crash_points_and_declining_all_decide_what_an_invitation_leaves_behind() {
    // (crash, decline all) → the answer, and the copy left behind.
    let table: [(Option<CrashPoint>, bool, bool, Option<AgreementStatus>); 4] = [
        (None, false, true, Some(Pending)),
        (None, true, true, Some(Declined)),
        (Some(CrashPoint::BeforeStore), false, false, None),
        (Some(CrashPoint::AfterStore), false, false, Some(Pending)),
    ];
    for (crash, decline_all, answered, left) in table {
        let (acme, globex) = acme_and_globex();
        globex.set_settings(crate::core::account::AccountSettings {
            decline_all_invites: decline_all,
        });
        let (_, offer) = invite(&acme);
        let answer = globex.receive_invitation(offer, crash);
        let case = format!("crash {crash:?}, decline all {decline_all}");
        assert_eq!(answer.is_ok(), answered, "{case}: {answer:?}");
        if !answered {
            assert_eq!(answer.unwrap_err(), ReceiveError::Crashed, "{case}");
        }
        assert_eq!(globex.agreement_by_id(1).map(|a| a.status), left, "{case}");
    }
}

#[test]
fn pending_invitations_are_bounded_per_sender() {
    let (acme, globex) = acme_and_globex();
    for _ in 0..crate::core::limits::MAX_PENDING_INBOUND {
        let (_, offer) = invite(&acme);
        globex.receive_invitation(offer, None).unwrap();
    }
    let (_, offer) = invite(&acme);
    let refused = globex.receive_invitation(offer, None).unwrap_err();
    assert!(
        matches!(refused, ReceiveError::TooMany(ref why) if why.contains("from acme are already pending")),
        "{refused:?}"
    );
    // Another sender is not blocked by acme's flood.
    let initech = crate::core::account::testing::account("initech", acme.services());
    let (_, offer) = invite(&initech);
    assert!(globex.receive_invitation(offer, None).unwrap().created);
}

#[test]
fn a_partner_s_change_is_taken_or_refused_by_the_lifecycle() {
    use Direction::{Inbound, Outbound};
    // (our copy, its status, the partner sends) → our status after, or a refusal.
    let table: &[(
        Direction,
        AgreementStatus,
        AgreementStatus,
        Result<AgreementStatus, &str>,
    )] = &[
        (Outbound, Pending, Accepted, Ok(Accepted)),
        (Outbound, Pending, Declined, Ok(Declined)),
        (Outbound, Failed, Accepted, Ok(Accepted)),
        (Outbound, Accepted, Inactive, Ok(Inactive)),
        (Inbound, Accepted, Inactive, Ok(Inactive)),
        (Outbound, Accepted, Accepted, Ok(Accepted)),
        (Inbound, Pending, Accepted, Err("only the receiver answers")),
        (
            Outbound,
            Inactive,
            Accepted,
            Err("inactive agreement is final"),
        ),
        (
            Outbound,
            Declined,
            Inactive,
            Err("declined agreement is final"),
        ),
        (
            Outbound,
            Pending,
            Pending,
            Err("may only send accepted, declined or inactive"),
        ),
    ];
    for &(direction, held, sent, expected) in table {
        let (acme, globex) = acme_and_globex();
        let (_, offer) = invite(&acme);
        globex.receive_invitation(offer, None).unwrap();
        let account = if direction == Outbound {
            &acme
        } else {
            &globex
        };
        put(account, 1, held);
        let known = account.agreement_by_id(1).unwrap();
        let case = format!("{direction} {held} ← {sent}");
        match (
            account.receive_update(
                &known.uuid,
                known.remote_subdomain.as_deref(),
                sent,
                None,
                None,
            ),
            expected,
        ) {
            (Ok(after), Ok(status)) => {
                assert_eq!(after.status, status, "{case}");
                assert_eq!(account.agreement_by_id(1).unwrap(), after, "{case}");
                if status == Inactive && held != Inactive {
                    // Deactivated by the other party unless the message says.
                    let other = if direction == Outbound {
                        "receiver"
                    } else {
                        "sender"
                    };
                    assert_eq!(after.deactivated_by.as_deref(), Some(other), "{case}");
                }
            }
            (Err(ReceiveError::Invalid(why)), Err(expected)) => {
                assert!(why.contains(expected), "{case}: {why}");
                assert_eq!(account.agreement_by_id(1).unwrap(), known, "{case}");
                assert!(
                    last_decision(account).contains("refused a change"),
                    "{case}"
                );
            }
            (got, _) => panic!("{case}: {got:?}"),
        }
    }
}

#[test]
fn a_partner_s_token_must_name_the_agreement_and_carry_its_key() {
    let (acme, _) = acme_and_globex();
    let (sent, _) = invite(&acme);
    let uuid = sent.uuid.as_str();
    let right = format!("{uuid}:{}", sent.access_key);
    assert_eq!(acme.authorize(uuid, &right).unwrap(), sent);
    for token in [
        format!("{uuid}:{}", "0".repeat(40)),
        format!("{}:{}", "a".repeat(40), sent.access_key),
        uuid.to_string(),
        String::new(),
    ] {
        assert!(
            matches!(
                acme.authorize(uuid, &token),
                Err(ReceiveError::Forbidden(_))
            ),
            "{token}"
        );
    }
    assert!(matches!(
        acme.authorize(&"b".repeat(40), &right),
        Err(ReceiveError::NotFound(_))
    ));
}

#[test]
fn deleting_a_copy_records_it_and_a_second_delete_finds_nothing() {
    let (acme, _) = acme_and_globex();
    let (sent, _) = invite(&acme);
    assert_eq!(acme.remove_agreement(1).unwrap(), sent);
    assert_eq!(last_decision(&acme), "acme deleted outbound agreement 1");
    assert!(acme.agreements().is_empty());
    assert_eq!(
        acme.remove_agreement(1).unwrap_err(),
        AgreementError::NotFound
    );
}
