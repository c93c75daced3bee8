//! What an account does with sharing agreements, on both sides of the handshake:
//! as sender (invite, re-send, deactivate, delete) and as receiver (store an
//! invitation, answer it, take the partner's changes).
//!
//! Each operation decides under the lock (asking `model`), records the decision,
//! releases the lock, and only then talks to the partner.

use super::Account;
use crate::faults::CrashPoint;
use crate::model::{
    Agreement, AgreementStatus, Direction, LocalChange, Refusal, Terms, allowed_partner_update,
    allowed_transition, default_agreement_name, default_display_name,
};
use crate::partner::{PartnerError, PartnerReply, WireAgreement, parse_status};
use crate::transport::{DeliveryFailure, Message};
use axum::http::StatusCode;
use reqwest::Method;
use sha1::{Digest, Sha1};

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

/// SHA-1 hex of `{sharing url}/{kind}/{local id}`: the protocol's shared identifier.
pub fn protocol_uuid(sharing_url: &str, kind: &str, local_id: u64) -> String {
    let digest = Sha1::digest(format!("{sharing_url}/{kind}/{local_id}").as_bytes());
    hex::encode(digest)
}

impl Account {
    /// Creates an outbound copy and sends the invitation. Delivery failures do not fail
    /// the call: they become the copy's status, as Zendesk shows them.
    pub async fn invite(&self, invitation: Invitation) -> Agreement {
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
                crate::directory::host_name(&remote)
            )
        });
        let now = self.trace().clock().timestamp();
        let access_key = services.random_hex40();
        let sender_url = self.sharing_url();
        let agreement = self.with_state(|state| {
            let id = state.next_agreement_id;
            state.next_agreement_id += 1;
            let agreement = Agreement {
                id,
                uuid: services.agreement_uuid(&sender_url, id),
                name: invitation
                    .name
                    .unwrap_or_else(|| default_agreement_name(&partner_display)),
                remote_subdomain: Some(remote.clone()),
                status: AgreementStatus::Pending,
                direction: Direction::Outbound,
                access_key,
                sender_url: sender_url.clone(),
                receiver_url,
                terms: invitation.terms,
                deactivated_by: None,
                created_at: now.clone(),
                updated_at: now,
            };
            state.insert(agreement.clone());
            agreement
        });
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} stored outbound agreement {} pending and invites {remote}",
                self.subdomain(),
                agreement.id
            ),
        );
        self.send_invitation(agreement).await
    }

    /// POSTs the invitation for `agreement` and records the outcome on the outbound copy.
    async fn send_invitation(&self, agreement: Agreement) -> Agreement {
        let message = Message {
            from: self.subdomain().to_string(),
            method: Method::POST,
            url: format!("{}/agreements/{}", agreement.receiver_url, agreement.uuid),
            token: None,
            body: Some(self.invitation_body(&agreement)),
        };
        match self.services().transport.deliver(&message).await {
            Ok(reply) => {
                let held = reply.body.get("status").and_then(|s| s.as_str());
                self.adopt_receivers_status(agreement.id, held);
                self.agreement_by_id(agreement.id).unwrap_or(agreement)
            }
            Err(failure) => self.record_delivery_failure(&agreement, &failure),
        }
    }

    /// A re-sent invitation may find the receiver further along (it accepted while we
    /// recorded a failure, or stored an answer whose reply was lost). The receiver's
    /// answer says what it holds; our copy follows when the lifecycle allows the change
    /// (our model: the idempotent invitation doubles as a status query).
    fn adopt_receivers_status(&self, id: u64, held: Option<&str>) {
        let Some(held) = held.and_then(|text| text.parse::<AgreementStatus>().ok()) else {
            return;
        };
        let now = self.trace().clock().timestamp();
        let moved = self.with_state(|state| {
            let agreement = state.agreement_mut(id)?;
            let before = agreement.status;
            match allowed_partner_update(agreement.direction, before, held) {
                Ok(LocalChange::Answer(_) | LocalChange::Deactivate) => {
                    agreement.status = held;
                    agreement.updated_at = now;
                    Some(before)
                }
                _ => None,
            }
        });
        if let Some(before) = moved {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} moved outbound agreement {id} from {before} to {held}: the receiver already holds it {held}",
                    self.subdomain()
                ),
            );
        }
    }

    /// Moves an outbound copy still waiting on delivery to the failure's status.
    pub(crate) fn record_delivery_failure(
        &self,
        sent: &Agreement,
        failure: &DeliveryFailure,
    ) -> Agreement {
        let id = sent.id;
        let now = self.trace().clock().timestamp();
        let updated = self.with_state(|state| {
            let agreement = state.agreement_mut(id)?;
            if agreement.status == AgreementStatus::Pending {
                agreement.status = failure.status;
                agreement.updated_at = now;
            }
            Some(agreement.clone())
        });
        if let Some(agreement) = &updated {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} marked outbound agreement {} {}: {}",
                    self.subdomain(),
                    id,
                    agreement.status,
                    failure.cause
                ),
            );
        }
        // The copy may have been deleted while its invitation was in flight.
        updated.unwrap_or_else(|| Agreement {
            status: failure.status,
            ..sent.clone()
        })
    }

    fn invitation_body(&self, agreement: &Agreement) -> serde_json::Value {
        let wire = WireAgreement {
            uuid: Some(agreement.uuid.clone()),
            name: Some(default_agreement_name(self.display_name())),
            sender_url: Some(agreement.sender_url.clone()),
            receiver_url: Some(agreement.receiver_url.clone()),
            access_key: Some(agreement.access_key.clone()),
            status: Some(AgreementStatus::Pending.to_string()),
            current_actor: Some(crate::partner::Actor {
                uuid: protocol_uuid(&self.sharing_url(), "users", 1),
                name: format!("{} admin", self.display_name()),
                role: "admin".to_string(),
            }),
            sync_tags: Some(agreement.terms.sync_tags),
            sync_custom_fields: Some(agreement.terms.sync_custom_fields),
            allows_public_comments: Some(agreement.terms.allows_public_comments),
            sync_status: Some(agreement.terms.sync_status),
            deactivated_by: None,
        };
        serde_json::to_value(wire).unwrap_or_default()
    }

    /// One copy by local id.
    pub fn agreement_by_id(&self, id: u64) -> Option<Agreement> {
        self.with_state(|state| state.agreement(id).cloned())
    }

    /// An admin's status change through the REST API: answer, deactivate or re-send.
    pub async fn change_status(
        &self,
        id: u64,
        requested: AgreementStatus,
    ) -> Result<Agreement, AgreementError> {
        let now = self.trace().clock().timestamp();
        let decided = self.with_state(|state| {
            let agreement = state.agreement_mut(id).ok_or(AgreementError::NotFound)?;
            let change = allowed_transition(agreement.direction, agreement.status, requested)
                .map_err(AgreementError::Refused)?;
            let before = agreement.clone();
            if change != LocalChange::Unchanged {
                agreement.status = requested;
                agreement.updated_at = now;
                if change == LocalChange::Deactivate {
                    agreement.deactivated_by = Some(agreement.direction.party().to_string());
                }
            }
            Ok((change, before, agreement.clone()))
        });
        let (change, before, after) = match decided {
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
        if change == LocalChange::Unchanged {
            return Ok(after);
        }
        self.trace().decision(
            self.subdomain(),
            format!(
                "{} changed {} agreement {id} from {} to {}",
                self.subdomain(),
                after.direction,
                before.status,
                after.status
            ),
        );
        match change {
            LocalChange::Resend => Ok(self.send_invitation(after).await),
            LocalChange::Answer(_) | LocalChange::Deactivate => {
                let body = WireAgreement {
                    uuid: Some(after.uuid.clone()),
                    status: Some(requested.to_string()),
                    deactivated_by: after.deactivated_by.clone(),
                    ..WireAgreement::default()
                };
                match self.send_update(&after, body).await {
                    Ok(()) => Ok(self.agreement_by_id(id).unwrap_or(after)),
                    Err(failure) => {
                        self.roll_back(&before, requested);
                        Err(AgreementError::Undeliverable {
                            from: before.status,
                            to: requested,
                            failure,
                        })
                    }
                }
            }
            LocalChange::Unchanged => Ok(after),
        }
    }

    /// Puts a copy back as it was, unless something else changed it meanwhile.
    fn roll_back(&self, before: &Agreement, attempted: AgreementStatus) {
        let restored = self.with_state(|state| match state.agreement_mut(before.id) {
            Some(agreement) if agreement.status == attempted => {
                *agreement = before.clone();
                true
            }
            _ => false,
        });
        if restored {
            self.trace().decision(
                self.subdomain(),
                format!(
                    "{} rolled agreement {} back to {}: the partner was not told",
                    self.subdomain(),
                    before.id,
                    before.status
                ),
            );
        }
    }

    async fn send_update(
        &self,
        agreement: &Agreement,
        body: WireAgreement,
    ) -> Result<(), DeliveryFailure> {
        let message = Message {
            from: self.subdomain().to_string(),
            method: Method::PUT,
            url: format!("{}/agreements/{}", agreement.partner_url(), agreement.uuid),
            token: Some(agreement.token()),
            body: Some(serde_json::to_value(body).unwrap_or_default()),
        };
        self.services()
            .transport
            .deliver(&message)
            .await
            .map(|_| ())
    }

    /// Deletes the local copy; a live agreement's partner is first told it is inactive
    /// (best effort: a failure is recorded and the copy is deleted anyway).
    pub async fn delete_agreement(&self, id: u64) -> Result<(), AgreementError> {
        let agreement = self.agreement_by_id(id).ok_or(AgreementError::NotFound)?;
        if agreement.status.is_live() {
            let body = WireAgreement {
                uuid: Some(agreement.uuid.clone()),
                status: Some(AgreementStatus::Inactive.to_string()),
                deactivated_by: Some(agreement.direction.party().to_string()),
                ..WireAgreement::default()
            };
            if let Err(failure) = self.send_update(&agreement, body).await {
                self.trace().decision(
                    self.subdomain(),
                    format!(
                        "{} could not tell its partner agreement {id} is inactive ({}); deleting anyway",
                        self.subdomain(),
                        failure.cause
                    ),
                );
            }
        }
        let removed = self.with_state(|state| state.remove(id));
        match removed {
            Some(_) => {
                self.trace().decision(
                    self.subdomain(),
                    format!(
                        "{} deleted {} agreement {id}",
                        self.subdomain(),
                        agreement.direction
                    ),
                );
                Ok(())
            }
            None => Err(AgreementError::NotFound),
        }
    }

    /// Receiver side of an invitation: stores an inbound `pending` copy, or recognises a
    /// repeated invitation (same uuid and key) and keeps the one copy it has.
    ///
    /// With a `crash` point, the account dies before or after storing it, and the
    /// connection closes without a reply.
    pub fn receive_invitation(
        &self,
        path_uuid: &str,
        invitation: WireAgreement,
        crash: Option<CrashPoint>,
    ) -> Result<PartnerReply, PartnerError> {
        let uuid = invitation
            .uuid
            .clone()
            .unwrap_or_else(|| path_uuid.to_string());
        if uuid != path_uuid {
            return Err(PartnerError::Invalid(format!(
                "uuid {uuid:?} in the body differs from {path_uuid:?} in the path"
            )));
        }
        let missing: Vec<&str> = [
            ("access_key", invitation.access_key.is_none()),
            ("sender_url", invitation.sender_url.is_none()),
            ("name", invitation.name.is_none()),
        ]
        .iter()
        .filter(|(_, missing)| *missing)
        .map(|(field, _)| *field)
        .collect();
        if !missing.is_empty() {
            return Err(PartnerError::Invalid(format!(
                "an invitation needs {}",
                missing.join(", ")
            )));
        }
        if let Some(status) = invitation.status.as_deref()
            && status != "pending"
        {
            return Err(PartnerError::Invalid(format!(
                "an invitation's status must be pending, not {status:?}"
            )));
        }
        let access_key = invitation.access_key.clone().unwrap_or_default();
        if access_key.len() != 40 || !access_key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PartnerError::Invalid(
                "access_key must be 40 hexadecimal characters".to_string(),
            ));
        }
        let sender_url = invitation.sender_url.clone().unwrap_or_default();
        let remote_subdomain = self.subdomain_of_url(&sender_url);
        let now = self.trace().clock().timestamp();
        let receiver_url = invitation
            .receiver_url
            .clone()
            .unwrap_or_else(|| self.sharing_url());
        let defaults = Terms::default();
        let terms = Terms {
            sync_tags: invitation.sync_tags.unwrap_or(defaults.sync_tags),
            sync_custom_fields: invitation
                .sync_custom_fields
                .unwrap_or(defaults.sync_custom_fields),
            allows_public_comments: invitation
                .allows_public_comments
                .unwrap_or(defaults.allows_public_comments),
            sync_status: invitation.sync_status.unwrap_or(defaults.sync_status),
        };
        let from = remote_subdomain.as_deref().unwrap_or("an unknown sender");
        if crash == Some(CrashPoint::BeforeStore) {
            return Err(self.crash(CrashPoint::BeforeStore, &format!("{from}'s invitation")));
        }
        let outcome = self.with_state(|state| {
            if let Some(existing) = state.by_uuid(&uuid) {
                return if existing.access_key == access_key {
                    Ok((false, existing.clone()))
                } else {
                    Err(PartnerError::Invalid(format!(
                        "agreement {uuid} already exists with a different access key"
                    )))
                };
            }
            // Invitations need no token: bound how many a stranger can leave waiting.
            // Counted per sender (senders outside the world share one count), so a
            // flood from one sender never blocks another's invitations.
            let pending = state
                .all_agreements()
                .filter(|a| {
                    a.direction == Direction::Inbound
                        && a.status == AgreementStatus::Pending
                        && a.remote_subdomain == remote_subdomain
                })
                .count();
            if pending >= crate::limits::MAX_PENDING_INBOUND {
                return Err(PartnerError::TooMany(format!(
                    "{pending} invitations from {from} are already pending; answer or delete some first"
                )));
            }
            let id = state.next_agreement_id;
            state.next_agreement_id += 1;
            let agreement = Agreement {
                id,
                uuid: uuid.clone(),
                name: invitation.name.clone().unwrap_or_default(),
                remote_subdomain: remote_subdomain.clone(),
                status: AgreementStatus::Pending,
                direction: Direction::Inbound,
                access_key: access_key.clone(),
                sender_url: sender_url.clone(),
                receiver_url,
                terms,
                deactivated_by: None,
                created_at: now.clone(),
                updated_at: now,
            };
            state.insert(agreement.clone());
            Ok((true, agreement))
        });
        let (created, agreement) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.trace().decision(
                    self.subdomain(),
                    format!("{} refused an invitation: {error}", self.subdomain()),
                );
                return Err(error);
            }
        };
        self.trace().decision(
            self.subdomain(),
            if created {
                format!(
                    "{} stored inbound agreement {} pending from {from}",
                    self.subdomain(),
                    agreement.id
                )
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
        Ok(PartnerReply {
            status: if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            body: self.wire_view(&agreement),
        })
    }

    /// Receiver side of a PUT: the partner answers or deactivates. With a `crash`
    /// point, the account dies before or after storing the change, without a reply.
    pub fn receive_update(
        &self,
        path_uuid: &str,
        token: &str,
        update: WireAgreement,
        crash: Option<CrashPoint>,
    ) -> Result<PartnerReply, PartnerError> {
        if let Some(uuid) = &update.uuid
            && uuid != path_uuid
        {
            return Err(PartnerError::Invalid(format!(
                "uuid {uuid:?} in the body differs from {path_uuid:?} in the path"
            )));
        }
        let known = self.authorize(path_uuid, token)?;
        let requested = parse_status(update.status.as_deref())?;
        let what = format!(
            "{}'s change to {requested}",
            known.remote_subdomain.as_deref().unwrap_or("its partner")
        );
        if crash == Some(CrashPoint::BeforeStore) {
            return Err(self.crash(CrashPoint::BeforeStore, &what));
        }
        let now = self.trace().clock().timestamp();
        let outcome = self.with_state(|state| {
            let agreement = state
                .by_uuid_mut(path_uuid)
                .ok_or_else(|| PartnerError::NotFound(format!("no agreement {path_uuid}")))?;
            let change = allowed_partner_update(agreement.direction, agreement.status, requested)
                .map_err(|refusal| PartnerError::Invalid(refusal.to_string()))?;
            let before = agreement.status;
            if change != LocalChange::Unchanged {
                agreement.status = requested;
                agreement.updated_at = now;
                if requested == AgreementStatus::Inactive {
                    agreement.deactivated_by = Some(
                        update
                            .deactivated_by
                            .clone()
                            .unwrap_or_else(|| opposite_party(agreement.direction).to_string()),
                    );
                }
            }
            Ok((before, agreement.clone()))
        });
        let (before, agreement) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.trace().decision(
                    self.subdomain(),
                    format!(
                        "{} refused a change to agreement {}: {error}",
                        self.subdomain(),
                        short(path_uuid)
                    ),
                );
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
                format!(
                    "{} moved {} agreement {} from {before} to {}",
                    self.subdomain(),
                    agreement.direction,
                    agreement.id,
                    agreement.status
                )
            },
        );
        if crash == Some(CrashPoint::AfterStore) {
            return Err(self.crash(CrashPoint::AfterStore, &what));
        }
        Ok(PartnerReply {
            status: StatusCode::OK,
            body: self.wire_view(&agreement),
        })
    }

    /// Records that a crash point fired and returns the error that kills the connection.
    fn crash(&self, point: CrashPoint, what: &str) -> PartnerError {
        let sub = self.subdomain();
        let sentence = match point {
            CrashPoint::BeforeStore => format!("{sub} crashes before storing {what}"),
            CrashPoint::AfterStore => format!("{sub} stored {what} and crashes before replying"),
        };
        self.trace()
            .world(sub, format!("{sentence} (fault crash = \"{point}\")"));
        PartnerError::Crashed
    }

    /// GET on the partner protocol: the agreement as this side holds it.
    pub fn inspect_agreement(&self, uuid: &str, token: &str) -> Result<PartnerReply, PartnerError> {
        let agreement = self.authorize(uuid, token)?;
        Ok(PartnerReply {
            status: StatusCode::OK,
            body: self.wire_view(&agreement),
        })
    }

    /// Checks `X-Ticket-Sharing-Token` against the agreement: 404 unknown uuid, 403 wrong key.
    pub fn authorize(&self, uuid: &str, token: &str) -> Result<Agreement, PartnerError> {
        let agreement = self
            .agreement_by_uuid(uuid)
            .ok_or_else(|| PartnerError::NotFound(format!("no agreement {uuid}")))?;
        let (token_uuid, key) = token.split_once(':').unwrap_or((token, ""));
        if token_uuid != agreement.uuid || key != agreement.access_key {
            return Err(PartnerError::Forbidden(
                "the X-Ticket-Sharing-Token does not match this agreement's access key".to_string(),
            ));
        }
        Ok(agreement)
    }

    fn wire_view(&self, agreement: &Agreement) -> WireAgreement {
        WireAgreement {
            uuid: Some(agreement.uuid.clone()),
            name: Some(agreement.name.clone()),
            sender_url: Some(agreement.sender_url.clone()),
            receiver_url: Some(agreement.receiver_url.clone()),
            access_key: None,
            status: Some(agreement.status.to_string()),
            current_actor: None,
            sync_tags: Some(agreement.terms.sync_tags),
            sync_custom_fields: Some(agreement.terms.sync_custom_fields),
            allows_public_comments: Some(agreement.terms.allows_public_comments),
            sync_status: Some(agreement.terms.sync_status),
            deactivated_by: agreement.deactivated_by.clone(),
        }
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

/// The first 8 characters of a uuid, for readable trace lines.
pub fn short(uuid: &str) -> &str {
    uuid.get(..8).unwrap_or(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_sha1_of_the_sharing_url_and_id() {
        let uuid = protocol_uuid("http://acme.sharesim.test/sharing", "agreements", 1);
        assert_eq!(uuid.len(), 40);
        assert_eq!(
            uuid,
            hex::encode(Sha1::digest(
                b"http://acme.sharesim.test/sharing/agreements/1"
            ))
        );
        assert_ne!(
            uuid,
            protocol_uuid("http://acme.sharesim.test/sharing", "agreements", 2)
        );
    }
}
