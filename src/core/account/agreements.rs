//! What an account decides about sharing agreements, on both sides of the handshake:
//! as sender (open an invitation, change a status, delete) and as receiver (store an
//! invitation, take the partner's answer or deactivation).
//!
//! Each decision is taken under the lock (asking `model`) and recorded in the trace
//! before anything is sent. Messages themselves belong to the partner protocol
//! (`partner::outbound` sends what is decided here and reports back the outcome), so
//! nothing here knows a wire shape or an HTTP status.

pub(crate) use super::no_agreement;
use super::{Account, ReceiveError};
use crate::core::faults::CrashPoint;
use crate::core::model::{
    Agreement, AgreementStatus, Direction, LocalChange, Refusal, Terms, allowed_partner_update,
    allowed_transition, default_agreement_name, default_display_name, short_uuid,
};
use crate::core::text::Text;
use crate::core::transport::DeliveryFailure;
use quota::{Quota, check_room};

/// Why an agreement operation was refused; the REST layer maps each to a Zendesk error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementError {
    /// No agreement with that id on this account.
    #[error("Not found")]
    NotFound,
    /// The lifecycle does not allow the change.
    #[error("{0}")]
    Refused(Refusal),
    /// The partner could not be told, so the local change was rolled back.
    #[error(
        "Status cannot change from {from} to {to}: the partner could not be reached ({failure}); the change was rolled back"
    )]
    Undeliverable {
        /// The status kept.
        from: AgreementStatus,
        /// The status that was asked for.
        to: AgreementStatus,
        /// Why delivery failed.
        failure: DeliveryFailure,
    },
}

/// What a new invitation needs.
#[derive(Clone, Debug, Default)]
pub struct Invitation {
    /// The receiver's subdomain (already trimmed, lower-cased and validated).
    pub remote_subdomain: String,
    /// A name for the sender's copy; the default is `{Receiver display name} @ Zendesk`.
    pub name: Option<String>,
    /// Terms carried to the receiver.
    pub terms: Terms,
}

/// A status change an admin asked for, decided and recorded: what the partner must
/// now hear, and the copy before and after.
#[derive(Clone, Debug)]
pub struct StatusChange {
    /// What kind of change it is (answer, deactivation, re-send, nothing).
    pub change: LocalChange,
    /// The copy before the change (what a rollback restores).
    pub before: Agreement,
    /// The copy after the change.
    pub after: Agreement,
}

/// An invitation as a receiver takes it, its shape already checked by the protocol.
#[derive(Clone, Debug)]
pub struct InvitationOffer {
    /// The agreement's uuid (the path's and the body's, which agree).
    pub uuid: String,
    /// The sending side's name for the agreement.
    pub name: String,
    /// The sender's sharing URL.
    pub sender_url: String,
    /// The receiver's sharing URL, as the sender addressed it.
    pub receiver_url: Option<String>,
    /// 40 hex characters.
    pub access_key: String,
    /// The sender's terms, defaults filled in.
    pub terms: Terms,
    /// Whether it came from this world's own transport, so its claimed sender is
    /// proven (see [`crate::core::transport::WORLD_HEADER`]).
    pub verified: bool,
}

/// What a receiver holds after taking a message, and whether it is new.
#[derive(Clone, Debug)]
pub struct Stored {
    /// True when the message created the copy (an invitation seen for the first time).
    pub created: bool,
    /// The copy as it is now.
    pub agreement: Agreement,
}

/// Changes rolled back under a later change that an account remembers, so that the later
/// change's own rollback restores what the partner knows (see [`Account::roll_back`]).
const UNDONE_KEPT: usize = 64;

impl Account {
    /// Creates an outbound `pending` copy for an invitation and records it; the
    /// partner protocol then sends the invitation.
    pub fn open_invitation(&self, invitation: Invitation) -> Agreement {
        let services = self.services().clone();
        let directory = &services.directory;
        let remote = invitation.remote_subdomain;
        let partner_display = directory
            .get(&remote)
            .map(|listing| listing.display_name)
            .unwrap_or_else(|| default_display_name(&remote));
        let receiver_url = directory.sharing_url(&remote).unwrap_or_else(|| {
            // Our model: an unknown subdomain still gets the URL it would have, so the
            // failure is recorded against a real address, as Zendesk would try it.
            format!(
                "{}://{}/sharing",
                if self.https() { "https" } else { "http" },
                crate::core::directory::host_name(&remote)
            )
        });
        let now = self.trace().clock().timestamp_text();
        let access_key = services.random_hex40();
        // An account outside the process cannot resolve `*.sharesim.test`: it answers
        // to the address this account really listens on.
        let sender_url = if directory.is_external(&remote) {
            self.loopback_sharing_url()
        } else {
            self.sharing_url()
        };
        let agreement = self.with_state(|state| {
            let id = state.take_agreement_id();
            let agreement = Agreement {
                id,
                uuid: services.agreement_uuid(&sender_url, id).into(),
                name: invitation
                    .name
                    .unwrap_or_else(|| default_agreement_name(&partner_display))
                    .into(),
                remote_subdomain: Some(remote.clone().into()),
                status: AgreementStatus::Pending,
                direction: Direction::Outbound,
                access_key: access_key.into(),
                sender_url: sender_url.clone().into(),
                receiver_url: receiver_url.into(),
                terms: invitation.terms,
                deactivated_by: None,
                created_at: now.clone(),
                updated_at: now,
                unverified_sender: false,
            };
            state.insert(agreement.clone());
            agreement
        });
        self.trace().decision(
            self.subdomain(),
            [
                self.subdomain(),
                " stored outbound agreement ",
                itoa::Buffer::new().format(agreement.id),
                " pending and invites ",
                &remote,
            ]
            .concat(),
        );
        agreement
    }

    /// A re-sent invitation may find the receiver further along (it accepted while we
    /// recorded a failure, or stored an answer whose reply was lost). The receiver's
    /// answer says what it holds; our copy follows when the lifecycle allows the change
    /// (our model: the idempotent invitation doubles as a status query).
    pub fn adopt_receivers_status(&self, id: u64, held: Option<AgreementStatus>) {
        let Some(held) = held else {
            return;
        };
        let now = self.trace().clock().timestamp_text();
        let moved = self.with_state(|state| {
            state
                .change(id, |agreement| {
                    let before = agreement.status;
                    match allowed_partner_update(agreement.direction, before, held) {
                        Ok(LocalChange::Answer(_) | LocalChange::Deactivate) => {
                            agreement.status = held;
                            agreement.updated_at = now;
                            Some(before)
                        }
                        _ => None,
                    }
                })
                .flatten()
        });
        if let Some(before) = moved {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} moved outbound agreement {id} from {before} to {held}: the receiver already holds it {held}",
                    self.subdomain()
                ),
            );
            if held.is_final() {
                self.end_outbox(id, &format!("the agreement is {held}"));
            }
        }
    }

    /// Moves an outbound copy still waiting on delivery to the failure's status.
    pub fn record_delivery_failure(
        &self,
        sent: &Agreement,
        failure: &DeliveryFailure,
    ) -> Agreement {
        let id = sent.id;
        let now = self.trace().clock().timestamp_text();
        let updated = self.with_state(|state| {
            state.change(id, |agreement| {
                let moved = agreement.status == AgreementStatus::Pending;
                if moved {
                    agreement.status = failure.status;
                    agreement.updated_at = now;
                }
                (moved, agreement.clone())
            })
        });
        if let Some((moved, agreement)) = &updated {
            let outcome = if *moved {
                format!("marked outbound agreement {id} {}", agreement.status)
            } else {
                // A change was made on top of the pending invitation (a deactivation
                // in flight): should it roll back, it restores the failure, not a
                // pending the receiver never heard.
                if sent.status == AgreementStatus::Pending {
                    let failed = Agreement {
                        status: failure.status,
                        ..sent.clone()
                    };
                    self.remember_undone(sent.clone(), failed);
                }
                format!("left outbound agreement {id} {}", agreement.status)
            };
            let sub = self.subdomain();
            self.trace()
                .decision(sub, format!("{sub} {outcome}: {}", failure.cause));
        }
        let updated = updated.map(|(_, agreement)| agreement);
        // The copy may have been deleted while its invitation was in flight.
        updated.unwrap_or_else(|| Agreement {
            status: failure.status,
            ..sent.clone()
        })
    }

    /// One copy by local id.
    pub fn agreement_by_id(&self, id: u64) -> Option<Agreement> {
        self.read_state(|state| state.agreement(id).cloned())
    }

    /// Whether a copy with local id `id` exists, without copying it.
    pub fn has_agreement(&self, id: u64) -> bool {
        self.read_state(|state| state.agreement(id).is_some())
    }

    /// An admin's status change through the REST API (answer, deactivate or re-send):
    /// decided under the lock and recorded. The partner protocol then tells the partner,
    /// and rolls the change back ([`Account::roll_back`]) if it cannot.
    pub fn decide_status_change(
        &self,
        id: u64,
        requested: AgreementStatus,
    ) -> Result<StatusChange, AgreementError> {
        let now = self.trace().clock().timestamp_text();
        let decided = self.with_state(|state| {
            let agreement = state.agreement(id).ok_or(AgreementError::NotFound)?;
            let change = allowed_transition(agreement.direction, agreement.status, requested)
                .map_err(AgreementError::Refused)?;
            let before = agreement.clone();
            if change == LocalChange::Unchanged {
                return Ok(StatusChange {
                    change,
                    after: before.clone(),
                    before,
                });
            }
            let after = state
                .change(id, |agreement| {
                    agreement.status = requested;
                    agreement.updated_at = now;
                    if change == LocalChange::Deactivate {
                        agreement.deactivated_by = Some(agreement.direction.party().into());
                    }
                    agreement.clone()
                })
                .ok_or(AgreementError::NotFound)?;
            Ok(StatusChange {
                change,
                before,
                after,
            })
        });
        let decided = match decided {
            Ok(decided) => decided,
            Err(error) => {
                if let AgreementError::Refused(refusal) = &error {
                    self.trace().decision(
                        self.subdomain(),
                        format!("{} refused agreement {id}: {refusal}", self.subdomain()),
                    );
                }
                return Err(error);
            }
        };
        if decided.change != LocalChange::Unchanged {
            self.trace().decision(
                self.subdomain(),
                [
                    self.subdomain(),
                    " changed ",
                    decided.after.direction.as_str(),
                    " agreement ",
                    itoa::Buffer::new().format(id),
                    " from ",
                    decided.before.status.as_str(),
                    " to ",
                    decided.after.status.as_str(),
                ]
                .concat(),
            );
        }
        Ok(decided)
    }

    /// Puts a copy back as it was before a change the partner was not told of, unless
    /// something else changed it meanwhile. When another change was made on top of
    /// this one (the copy no longer holds what this change set), nothing is undone
    /// now, but the one on top, should it roll back too, restores what this change
    /// started from: a rollback never restores a status the partner never heard.
    pub fn roll_back(&self, before: &Agreement, after: &Agreement) {
        let target = {
            let undone = crate::core::trace::lock(&self.undone);
            let mut target = before.clone();
            // Follow the chain of changes rolled back under this one.
            for _ in 0..undone.len() {
                match undone.iter().find(|(set, _)| *set == target) {
                    Some((_, earlier)) => target = earlier.clone(),
                    None => break,
                }
            }
            target
        };
        let restored = self.with_state(|state| {
            state
                .change(before.id, |agreement| {
                    let restore = agreement.status == after.status;
                    if restore {
                        *agreement = target.clone();
                    }
                    restore
                })
                .unwrap_or(false)
        });
        if restored {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} rolled agreement {} back to {}: the partner was not told",
                    self.subdomain(),
                    before.id,
                    target.status
                ),
            );
        } else {
            self.remember_undone(after.clone(), target);
        }
    }

    /// Remembers that the copy `set` was undone under a later change, which should
    /// restore `target` if it rolls back (the most recent [`UNDONE_KEPT`] are kept).
    fn remember_undone(&self, set: Agreement, target: Agreement) {
        let mut undone = crate::core::trace::lock(&self.undone);
        undone.push((set, target));
        let excess = undone.len().saturating_sub(UNDONE_KEPT);
        undone.drain(..excess);
    }

    /// A final status (inactive, declined) whose partner answered that it holds no
    /// copy: the change stands, since a final status beside no copy is allowed and
    /// rolling back would leave a live copy beside none *(model)*.
    pub fn keep_beside_no_copy(&self, id: u64, status: AgreementStatus) {
        let sub = self.subdomain();
        self.trace().decision(
            sub,
            format!("{sub} keeps agreement {id} {status}: its partner holds no copy of it"),
        );
        self.end_outbox(id, &format!("the agreement is {status}"));
    }

    /// Records that a deleted copy's partner could not be told it is inactive; the
    /// copy is deleted anyway (best effort, our model).
    pub fn note_untold_deletion(&self, id: u64, failure: &DeliveryFailure) {
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} could not tell its partner agreement {id} is inactive ({}); deleting anyway",
                self.subdomain(),
                failure.cause
            ),
        );
    }

    /// Deletes the local copy and records it.
    pub fn remove_agreement(&self, id: u64) -> Result<Agreement, AgreementError> {
        let removed = self
            .with_state(|state| state.remove(id))
            .ok_or(AgreementError::NotFound)?;
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} deleted {} agreement {id}",
                self.subdomain(),
                removed.direction
            ),
        );
        self.end_outbox(id, "the agreement was deleted");
        Ok(removed)
    }

    /// Receiver side of an invitation: stores an inbound `pending` copy, or recognises a
    /// repeated invitation (same uuid and key) and keeps the one copy it has.
    ///
    /// With a `crash` point, the account dies before or after storing it, and the
    /// connection closes without a reply.
    pub fn receive_invitation(
        &self,
        offer: InvitationOffer,
        crash: Option<CrashPoint>,
    ) -> Result<Stored, ReceiveError> {
        let remote_subdomain = self.subdomain_of_url(&offer.sender_url);
        let now = self.trace().clock().timestamp_text();
        let InvitationOffer {
            uuid,
            name,
            sender_url,
            receiver_url,
            access_key,
            terms,
            verified,
        } = offer;
        let receiver_url = receiver_url.unwrap_or_else(|| self.sharing_url());
        let from = remote_subdomain.as_deref().unwrap_or("an unknown sender");
        if crash == Some(CrashPoint::BeforeStore) {
            return Err(self.crash(CrashPoint::BeforeStore, &format!("{from}'s invitation")));
        }
        let outcome = self.with_state(|state| {
            if let Some(existing) = state.by_uuid(&uuid)
                && !(existing.access_key == access_key
                    && self.services().planted.store_repeated_invitations())
            {
                return if existing.access_key == access_key {
                    Ok(Stored {
                        created: false,
                        agreement: existing.clone(),
                    })
                } else {
                    Err(ReceiveError::Invalid(format!(
                        "agreement {uuid} already exists with a different access key",
                    )))
                };
            }
            let decline_all = state.settings().decline_all_invites;
            let quota = match (verified, remote_subdomain.as_deref()) {
                (true, Some(sender)) => Quota::Sender(sender),
                _ => Quota::Unverified,
            };
            check_room(state, quota, from, decline_all)?;
            let id = state.take_agreement_id();
            let agreement = Agreement {
                id,
                uuid: uuid.into(),
                name: name.into(),
                remote_subdomain: remote_subdomain.clone().map(Text::from),
                status: if decline_all {
                    AgreementStatus::Declined
                } else {
                    AgreementStatus::Pending
                },
                direction: Direction::Inbound,
                access_key: access_key.into(),
                sender_url: sender_url.into(),
                receiver_url: receiver_url.into(),
                terms,
                deactivated_by: None,
                created_at: now.clone(),
                updated_at: now,
                unverified_sender: !verified,
            };
            state.insert(agreement.clone());
            Ok(Stored {
                created: true,
                agreement,
            })
        });
        let stored = match outcome {
            Ok(stored) => stored,
            Err(error) => {
                self.trace().decision(
                    self.subdomain(),
                    format!("{} refused an invitation: {error}", self.subdomain()),
                );
                return Err(error);
            }
        };
        let agreement = &stored.agreement;
        self.trace().decision(
            self.subdomain(),
            if stored.created && agreement.status == AgreementStatus::Declined {
                format!(
                    "{} stored inbound agreement {} from {from} declined at once: the account declines all sharing agreement invites",
                    self.subdomain(),
                    agreement.id
                )
            } else if stored.created {
                [
                    self.subdomain(),
                    " stored inbound agreement ",
                    itoa::Buffer::new().format(agreement.id),
                    " pending from ",
                    from,
                ]
                .concat()
            } else {
                format!(
                    "{} already holds agreement {} ({}) from {from}; kept its one copy",
                    self.subdomain(),
                    agreement.id,
                    agreement.status
                )
            },
        );
        if crash == Some(CrashPoint::AfterStore) {
            return Err(self.crash(CrashPoint::AfterStore, &format!("{from}'s invitation")));
        }
        Ok(stored)
    }

    /// Receiver side of an answer or a deactivation from `partner` (the remote subdomain
    /// of the copy `uuid` that [`Account::authorized`] found). With a `crash` point, the
    /// account dies before or after storing the change, without a reply.
    pub fn receive_update(
        &self,
        uuid: &str,
        partner: Option<&str>,
        requested: AgreementStatus,
        deactivated_by: Option<String>,
        crash: Option<CrashPoint>,
    ) -> Result<Agreement, ReceiveError> {
        // Written only for a crash, the one place that says it.
        let what = || {
            format!(
                "{}'s change to {requested}",
                partner.unwrap_or("its partner")
            )
        };
        if crash == Some(CrashPoint::BeforeStore) {
            return Err(self.crash(CrashPoint::BeforeStore, &what()));
        }
        let now = self.trace().clock().timestamp_text();
        let outcome: Result<_, ReceiveError> = self.with_state(|state| {
            let agreement = state
                .by_uuid(uuid)
                .ok_or_else(|| ReceiveError::NotFound(no_agreement(uuid)))?;
            let change = allowed_partner_update(agreement.direction, agreement.status, requested)
                .map_err(|refusal| ReceiveError::Invalid(refusal.to_string()))?;
            let before = agreement.status;
            if change == LocalChange::Unchanged {
                return Ok((before, agreement.clone()));
            }
            let after = state
                .change_by_uuid(uuid, |agreement| {
                    agreement.status = requested;
                    agreement.updated_at = now;
                    if requested == AgreementStatus::Inactive {
                        agreement.deactivated_by = Some(deactivated_by.clone().map_or_else(
                            || opposite_party(agreement.direction).into(),
                            Text::from,
                        ));
                    }
                    agreement.clone()
                })
                .ok_or_else(|| ReceiveError::NotFound(no_agreement(uuid)))?;
            Ok((before, after))
        });
        let (before, agreement) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.note_refused_change(uuid, &error.to_string());
                return Err(error);
            }
        };
        self.trace().decision(
            self.subdomain(),
            if before == agreement.status {
                format!(
                    "{} already has {} agreement {} {}",
                    self.subdomain(),
                    agreement.direction,
                    agreement.id,
                    agreement.status
                )
            } else {
                [
                    self.subdomain(),
                    " moved ",
                    agreement.direction.as_str(),
                    " agreement ",
                    itoa::Buffer::new().format(agreement.id),
                    " from ",
                    before.as_str(),
                    " to ",
                    agreement.status.as_str(),
                ]
                .concat()
            },
        );
        if before != agreement.status && agreement.status.is_final() {
            self.end_outbox(
                agreement.id,
                &format!("the partner made the agreement {}", agreement.status),
            );
        }
        if crash == Some(CrashPoint::AfterStore) {
            return Err(self.crash(CrashPoint::AfterStore, &what()));
        }
        Ok(agreement)
    }

    /// Records that a partner's change to agreement `uuid` was refused, and why.
    pub fn note_refused_change(&self, uuid: &str, why: &str) {
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} refused a change to agreement {}: {why}",
                self.subdomain(),
                short_uuid(uuid)
            ),
        );
    }

    /// Records that a crash point fired and returns the refusal that kills the connection.
    pub(crate) fn crash(&self, point: CrashPoint, what: &str) -> ReceiveError {
        let sub = self.subdomain();
        let sentence = match point {
            CrashPoint::BeforeStore => format!("{sub} crashes before storing {what}"),
            CrashPoint::AfterStore => format!("{sub} stored {what} and crashes before replying"),
        };
        self.trace()
            .world(sub, format!("{sentence} (fault crash = \"{point}\")"));
        ReceiveError::Crashed
    }

    /// The subdomain behind a sharing URL, through the directory only (never the
    /// system resolver: the URL comes from a stranger).
    fn subdomain_of_url(&self, url: &str) -> Option<String> {
        self.services().directory.subdomain_of_url(url)
    }
}

fn opposite_party(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "sender",
        Direction::Outbound => "receiver",
    }
}

mod quota;
#[cfg(test)]
mod tests;
