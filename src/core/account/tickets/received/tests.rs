//! What an account does with a partner's ticket calls: who may make which call, shares
//! stored once and merged, updates by the agreement's terms, orphans and closed copies.

use super::*;
use crate::core::account::agreements::{Invitation, InvitationOffer};
use crate::core::account::testing::{acme_and_globex, last_decision};
use crate::core::model::Terms;
use AgreementStatus::{Accepted, Inactive, Pending};
use std::sync::Arc;

/// The path uuid of acme's ticket on the agreement.
const TICKET: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

/// acme and globex with an agreement from acme at `status` on both sides, and
/// `terms`; returns both copies (acme's outbound, globex's inbound).
fn agreed(
    status: AgreementStatus,
    terms: Terms,
) -> (Arc<Account>, Arc<Account>, Agreement, Agreement) {
    let (acme, globex) = acme_and_globex();
    let sent = acme.open_invitation(Invitation {
        remote_subdomain: "globex".into(),
        terms,
        ..Invitation::default()
    });
    let offer = InvitationOffer {
        uuid: sent.uuid.to_string(),
        name: "Acme @ Zendesk".into(),
        sender_url: sent.sender_url.to_string(),
        receiver_url: Some(sent.receiver_url.to_string()),
        access_key: sent.access_key.to_string(),
        terms,
        verified: true,
    };
    globex.receive_invitation(offer, None).unwrap();
    for account in [&acme, &globex] {
        account.with_state(|state| state.change(1, |a| a.status = status));
    }
    let outbound = acme.agreement_by_id(1).unwrap();
    let inbound = globex.agreement_by_id(1).unwrap();
    (acme, globex, outbound, inbound)
}

fn comment(uuid: &str, body: &str) -> IncomingComment {
    IncomingComment {
        uuid: uuid.into(),
        body: body.into(),
        ..IncomingComment::default()
    }
}

fn share(comments: Vec<IncomingComment>) -> IncomingTicket {
    IncomingTicket {
        subject: Some("Printer on fire".into()),
        status: Some(TicketStatus::New),
        comments,
        ..IncomingTicket::default()
    }
}

#[test]
fn a_ticket_call_needs_an_accepted_agreement_and_shares_come_from_its_sender() {
    use TicketCall::{Share, Unshare, Update};
    // (agreement status, call, which copy is called) → refusal text, or none.
    let table: &[(AgreementStatus, TicketCall, Direction, Option<&str>)] = &[
        (Accepted, Share, Direction::Inbound, None),
        (Accepted, Update, Direction::Inbound, None),
        (Accepted, Unshare, Direction::Inbound, None),
        (Accepted, Update, Direction::Outbound, None),
        (Accepted, Share, Direction::Outbound, Some("one way")),
        (Accepted, Unshare, Direction::Outbound, Some("one way")),
        (
            Pending,
            Share,
            Direction::Inbound,
            Some("need an accepted agreement"),
        ),
        (
            Inactive,
            Update,
            Direction::Outbound,
            Some("need an accepted agreement"),
        ),
    ];
    for &(status, call, called, refusal) in table {
        let (acme, globex, outbound, _) = agreed(status, Terms::default());
        let receiver = if called == Direction::Inbound {
            &globex
        } else {
            &acme
        };
        let token = outbound.token();
        let case = format!("{status} {call:?} to the {called} copy");
        match (receiver.authorize_ticket_call(&token, call), refusal) {
            (Ok(agreement), None) => assert_eq!(agreement.direction, called, "{case}"),
            (Err(ReceiveError::Forbidden(why)), Some(expected)) => {
                assert!(why.contains(expected), "{case}: {why}")
            }
            (got, _) => panic!("{case}: {got:?}"),
        }
    }
    let (_, globex, outbound, _) = agreed(Accepted, Terms::default());
    let wrong_key = format!("{}:{}", outbound.uuid, "0".repeat(40));
    let unknown = format!("{}:{}", "b".repeat(40), outbound.access_key);
    for token in [wrong_key, unknown] {
        assert!(
            matches!(
                globex.authorize_ticket_call(&token, Share),
                Err(ReceiveError::Forbidden(_))
            ),
            "{token}"
        );
    }
}

#[test]
fn a_share_stores_one_copy_and_a_repeated_share_merges_into_it() {
    let (_, globex, _, inbound) = agreed(Accepted, Terms::default());
    let (created, ticket) = globex
        .take_share(TICKET, &inbound, share(vec![comment("c1", "First.")]))
        .unwrap();
    assert!(created);
    assert_eq!((ticket.id, ticket.subject.as_str()), (1, "Printer on fire"));
    assert_eq!(ticket.comments.len(), 1);
    let received = ticket.received.as_ref().unwrap();
    assert_eq!(
        (received.share.uuid.as_str(), received.share.agreement_id),
        (TICKET, 1)
    );
    assert!(!received.orphaned);
    assert_eq!(
        last_decision(&globex),
        "globex stored ticket 1 shared by acme over inbound agreement 1 (1 comments)"
    );
    // Again, with one comment more: the same copy, each comment once.
    let (created, again) = globex
        .take_share(
            TICKET,
            &inbound,
            share(vec![comment("c1", "First."), comment("c2", "Second.")]),
        )
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, 1);
    let bodies: Vec<&str> = again.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["First.", "Second."]);
    assert_eq!(globex.tickets().len(), 1);
    // A share without a subject is refused, and stores nothing.
    let untitled = IncomingTicket {
        subject: Some("  ".into()),
        ..share(Vec::new())
    };
    let other = "c3".repeat(20);
    assert!(matches!(
        globex.take_share(&other, &inbound, untitled),
        Err(ReceiveError::Invalid(ref why)) if why.contains("needs a subject")
    ));
    assert_eq!(globex.tickets().len(), 1);
}

#[test]
fn an_update_takes_what_the_terms_sync() {
    // (sync status, sync tags, public comments stay public) → what lands.
    let table = [
        (true, true, true),
        (false, true, true),
        (true, false, false),
        (false, false, false),
    ];
    for (sync_status, sync_tags, allows_public_comments) in table {
        let terms = Terms {
            sync_status,
            sync_tags,
            allows_public_comments,
            ..Terms::default()
        };
        let (_, globex, _, inbound) = agreed(Accepted, terms);
        globex
            .take_share(TICKET, &inbound, share(Vec::new()))
            .unwrap();
        let update = IncomingTicket {
            status: Some(TicketStatus::Open),
            tags: Some(vec!["VIP".into()]),
            comments: vec![comment("c9", "Any news?")],
            ..IncomingTicket::default()
        };
        let (ticket, _) = globex.take_update(TICKET, &inbound, update).unwrap();
        let case =
            format!("status {sync_status}, tags {sync_tags}, public {allows_public_comments}");
        let status = if sync_status {
            TicketStatus::Open
        } else {
            TicketStatus::New
        };
        assert_eq!(ticket.status, status, "{case}");
        let tags: &[&str] = if sync_tags { &["vip"] } else { &[] };
        assert_eq!(ticket.tags, tags, "{case}");
        let comment = ticket.comments.last().expect("the comment landed");
        assert_eq!(
            (comment.body.as_str(), comment.public),
            ("Any news?", allows_public_comments),
            "{case}"
        );
        for (synced, name) in [(sync_status, "status"), (sync_tags, "tags")] {
            let said = last_decision(&globex).contains(&format!("ignored {name}"));
            assert_eq!(said, !synced, "{case}: {}", last_decision(&globex));
        }
    }
}

#[test]
fn a_repeated_comment_is_ignored_and_an_unknown_ticket_is_not_found() {
    let (_, globex, _, inbound) = agreed(Accepted, Terms::default());
    globex
        .take_share(TICKET, &inbound, share(vec![comment("c1", "First.")]))
        .unwrap();
    let repeat = IncomingTicket {
        comments: vec![comment("c1", "First.")],
        ..IncomingTicket::default()
    };
    let (ticket, _) = globex.take_update(TICKET, &inbound, repeat).unwrap();
    assert_eq!(ticket.comments.len(), 1);
    assert!(
        last_decision(&globex).contains("ignored 1 comment(s) it already had"),
        "{}",
        last_decision(&globex)
    );
    let unknown = "d4".repeat(20);
    assert!(matches!(
        globex.take_update(&unknown, &inbound, IncomingTicket::default()),
        Err(ReceiveError::NotFound(_))
    ));
}

#[test]
fn an_unshared_copy_stays_as_an_orphan_until_shared_again() {
    let (_, globex, _, inbound) = agreed(Accepted, Terms::default());
    globex
        .take_share(TICKET, &inbound, share(Vec::new()))
        .unwrap();
    let orphan = globex.take_unshare(TICKET, &inbound).unwrap();
    assert!(orphan.received.as_ref().unwrap().orphaned);
    assert!(orphan.sharing_agreement_ids().is_empty());
    assert_eq!(globex.tickets().len(), 1, "the copy stays");
    // It no longer syncs: updates find no shared ticket.
    assert!(matches!(
        globex.take_update(TICKET, &inbound, IncomingTicket::default()),
        Err(ReceiveError::NotFound(_))
    ));
    // A repeated unshare (its first reply lost) answers the same orphan, changing nothing.
    let again = globex.take_unshare(TICKET, &inbound).unwrap();
    assert_eq!(again, orphan);
    assert!(again.received.as_ref().unwrap().orphaned);
    assert_eq!(globex.tickets().len(), 1);
    // Shared again: the same copy, linked again.
    let (created, relinked) = globex
        .take_share(TICKET, &inbound, share(Vec::new()))
        .unwrap();
    assert!(!created);
    assert_eq!(relinked.id, orphan.id);
    assert_eq!(relinked.sharing_agreement_ids(), [1]);
}

#[test]
fn a_closed_copy_takes_no_share_or_update() {
    let (_, globex, _, inbound) = agreed(Accepted, Terms::default());
    globex
        .take_share(TICKET, &inbound, share(Vec::new()))
        .unwrap();
    globex.with_state(|state| {
        let (book, _) = state.tickets_mut();
        let mut ticket = book.get(1).unwrap().clone();
        ticket.status = TicketStatus::Closed;
        book.store(ticket);
    });
    let update = IncomingTicket {
        comments: vec![comment("c5", "Reopen?")],
        ..IncomingTicket::default()
    };
    assert!(matches!(
        globex.take_update(TICKET, &inbound, update),
        Err(ReceiveError::Invalid(ref why)) if why.contains("ticket 1 is closed")
    ));
    assert!(matches!(
        globex.take_share(TICKET, &inbound, share(vec![comment("c6", "x")])),
        Err(ReceiveError::Invalid(ref why)) if why.contains("ticket 1 is closed")
    ));
    assert!(globex.ticket_by_id(1).unwrap().comments.is_empty());
}
