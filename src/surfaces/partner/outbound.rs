//! The sending side of the partner protocol: what an account's decisions put on the
//! wire, and what the partner's answer (or its absence) does to the account.
//!
//! Each operation asks the account to decide and record (under its lock), then sends
//! with no lock held, through the world's transport (where faults apply), and hands the
//! outcome back to the account: a failure status, the receiver's status adopted, a
//! rollback. Ticket pushes go through the account's outbox ([`flush`]): delivered in
//! order, kept when they cannot get through, dropped only when refused for what they
//! say or when the agreement ends. The REST surface calls these for every change that
//! a partner must hear.

use super::wire;
use crate::core::account::Account;
use crate::core::account::agreements::{AgreementError, Invitation};
use crate::core::account::tickets::{Outgoing, Push, TicketChanges, TicketError, TicketMessage};
use crate::core::model::ticket::Ticket;
use crate::core::model::{Agreement, AgreementStatus, LocalChange};
use crate::core::transport::{DeliveryFailure, Message, Reply};
use reqwest::Method;

/// Creates an outbound copy and sends the invitation. Delivery failures do not fail
/// the call: they become the copy's status, as Zendesk shows them.
pub(crate) async fn invite(account: &Account, invitation: Invitation) -> Agreement {
    let agreement = account.open_invitation(invitation);
    send_invitation(account, agreement).await
}

/// An admin's status change: answer, deactivate or re-send. An answer or deactivation
/// the partner cannot be told is rolled back and refused, except a final status
/// (inactive, declined) the partner answers it holds no copy of: that one stands.
pub(crate) async fn change_status(
    account: &Account,
    id: u64,
    requested: AgreementStatus,
) -> Result<Agreement, AgreementError> {
    let decided = account.decide_status_change(id, requested)?;
    match decided.change {
        LocalChange::Unchanged => Ok(decided.after),
        LocalChange::Resend => {
            let resent = send_invitation(account, decided.after).await;
            // The re-sent invitation may have repaired the agreement: what waited goes now.
            flush(account, id).await;
            Ok(account.agreement_by_id(id).unwrap_or(resent))
        }
        LocalChange::Answer(_) | LocalChange::Deactivate => {
            let body = wire::status_change(&decided.after, requested);
            match send_agreement_update(account, &decided.after, &body).await {
                Ok(_) => {
                    if requested.is_final() {
                        account.end_outbox(id, &format!("the agreement is {requested}"));
                    }
                    Ok(account.agreement_by_id(id).unwrap_or(decided.after))
                }
                Err(failure)
                    if requested.is_final() && answered_no_copy(&failure, &decided.after.uuid) =>
                {
                    account.keep_beside_no_copy(id, requested);
                    Ok(account.agreement_by_id(id).unwrap_or(decided.after))
                }
                Err(failure) => {
                    account.roll_back(&decided.before, &decided.after);
                    Err(AgreementError::Undeliverable {
                        from: decided.before.status,
                        to: requested,
                        failure,
                    })
                }
            }
        }
    }
}

/// Whether `failure` is the partner's own 404 saying it holds no agreement `uuid` (not
/// a 404 from a wrong sharing path or a `status` fault, whose bodies say otherwise).
fn answered_no_copy(failure: &DeliveryFailure, uuid: &str) -> bool {
    failure.http_status == Some(404)
        && failure
            .cause
            .ends_with(&crate::core::account::agreements::no_agreement(uuid))
}

/// Deletes the local copy; a live agreement's partner is first told it is inactive
/// (best effort: a failure is recorded and the copy is deleted anyway).
pub(crate) async fn delete_agreement(account: &Account, id: u64) -> Result<(), AgreementError> {
    let agreement = account
        .agreement_by_id(id)
        .ok_or(AgreementError::NotFound)?;
    if agreement.status.is_live() {
        let inactive = Agreement {
            deactivated_by: Some(agreement.direction.party().into()),
            ..agreement.clone()
        };
        let body = wire::status_change(&inactive, AgreementStatus::Inactive);
        if let Err(failure) = send_agreement_update(account, &agreement, &body).await {
            account.note_untold_deletion(id, &failure);
        }
    }
    account.remove_agreement(id).map(|_| ())
}

/// Creates a ticket and sends the share it may carry.
pub(crate) async fn create_ticket(
    account: &Account,
    author_id: u64,
    changes: TicketChanges,
) -> Result<Ticket, TicketError> {
    let (ticket, outgoing) = account.create_ticket(author_id, changes)?;
    deliver(account, outgoing).await;
    Ok(account.ticket_by_id(ticket.id).unwrap_or(ticket))
}

/// Changes a ticket and sends what its partners must hear.
pub(crate) async fn update_ticket(
    account: &Account,
    id: u64,
    author_id: u64,
    changes: TicketChanges,
) -> Result<Ticket, TicketError> {
    let (ticket, outgoing) = account.update_ticket(id, author_id, changes)?;
    deliver(account, outgoing).await;
    Ok(account.ticket_by_id(id).unwrap_or(ticket))
}

/// Carries out what the account decided, in order, with no lock held: notes go to the
/// trace, and each agreement whose outbox got a push is flushed.
pub(crate) async fn deliver(account: &Account, outgoing: Vec<Outgoing>) {
    for item in outgoing {
        match item {
            Outgoing::Note(reason) => account.note_push(reason),
            Outgoing::Flush(agreement_id) => flush(account, agreement_id).await,
        }
    }
}

/// Sends the pushes waiting over one agreement, head first, while the agreement is
/// accepted: each delivered one leaves the queue, one refused for what it says is
/// dropped, and the first that cannot get through stays (with every push behind it)
/// and ends the flush. Only one flush of an agreement runs at a time; another caller
/// returns at once, and the running flush sends what it queued.
pub(crate) async fn flush(account: &Account, agreement_id: u64) {
    if !account.begin_flush(agreement_id) {
        return;
    }
    while let Some(push) = account.next_push(agreement_id) {
        match send_push(account, &push).await {
            Ok(()) => account.push_delivered(&push),
            Err(failure) if failure.refuses_content() => account.push_refused(&push, &failure),
            Err(failure) if unshared_already(&push, &failure) => {
                account.unshare_found_nothing(&push, &failure);
            }
            Err(failure) => {
                account.record_push_failure(&push, &failure);
                break;
            }
        }
    }
}

/// Whether `push` is an unshare the partner answered with its own 404 saying it holds
/// no copy of the ticket shared over the agreement (not a `status = 404` fault, whose
/// body says otherwise): nothing is left to unshare.
fn unshared_already(push: &Push, failure: &DeliveryFailure) -> bool {
    matches!(push.message, TicketMessage::Unshare)
        && failure.http_status == Some(404)
        && failure
            .cause
            .ends_with(&crate::core::account::tickets::no_ticket(
                &push.uuid,
                &push.agreement.uuid,
            ))
}

/// Flushes every agreement with pushes waiting: a repaired link (healed, started,
/// given a valid certificate) may let them through now.
pub(crate) async fn flush_all(account: &Account) {
    for agreement_id in account.waiting_pushes() {
        flush(account, agreement_id).await;
    }
}

async fn send_push(account: &Account, push: &Push) -> Result<(), DeliveryFailure> {
    let method = match push.message {
        TicketMessage::Share(_) => Method::POST,
        TicketMessage::Update(_) => Method::PUT,
        TicketMessage::Unshare => Method::DELETE,
    };
    let message = Message {
        from: account.subdomain_text().clone(),
        method,
        url: account.services().transport.destination(
            push.agreement.partner_url(),
            "tickets",
            &push.uuid,
        ),
        token: Some(push.agreement.token()),
        body: wire::ticket_message(&push.uuid, &push.message).map(|body| wire::ticket_body(&body)),
    };
    account
        .services()
        .transport
        .deliver(&message)
        .await
        .map(|_| ())
}

/// POSTs the invitation for `agreement` and records the outcome on the outbound copy.
async fn send_invitation(account: &Account, agreement: Agreement) -> Agreement {
    let message = Message {
        from: account.subdomain_text().clone(),
        method: Method::POST,
        url: account.services().transport.destination(
            &agreement.receiver_url,
            "agreements",
            &agreement.uuid,
        ),
        token: None,
        body: Some(wire::agreement_body(&wire::invitation(account, &agreement))),
    };
    match account.services().transport.deliver(&message).await {
        Ok(reply) => {
            let held = wire::answered_status(&reply);
            account.adopt_receivers_status(agreement.id, held);
            account.agreement_by_id(agreement.id).unwrap_or(agreement)
        }
        Err(failure) => account.record_delivery_failure(&agreement, &failure),
    }
}

async fn send_agreement_update(
    account: &Account,
    agreement: &Agreement,
    body: &wire::WireAgreement,
) -> Result<Reply, DeliveryFailure> {
    let message = Message {
        from: account.subdomain_text().clone(),
        method: Method::PUT,
        url: account.services().transport.destination(
            agreement.partner_url(),
            "agreements",
            &agreement.uuid,
        ),
        token: Some(agreement.token()),
        body: Some(wire::agreement_body(body)),
    };
    account.services().transport.deliver(&message).await
}
