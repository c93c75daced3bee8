//! The sealed state of one account: its agreement copies, the uuid index over them,
//! the cached REST listing, and its tickets.
//!
//! Every field is private to this module, so the only way to change an agreement is a
//! named method that drops the cached listing and keeps the index in the same breath.
//! The stale listing (a status changed while the REST API kept answering the old one)
//! came from two functions that reached past such a seal; now none can.

use super::outbox::{Outbox, OutboxRecord};
use crate::core::model::ticket::Ticket;
use crate::core::model::ticket::fields::TicketField;
use crate::core::model::{Agreement, AgreementStatus};
use crate::core::text::Text;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The local id of the account's admin (requester and author of what the admin does).
pub(crate) const ADMIN_ID: u64 = 1;
/// The local id of the account's agent.
pub(crate) const AGENT_ID: u64 = 2;

/// Someone a partner told us about (a comment's author, a requester). Local users
/// are ids 1 and 2; partners' people get ids from 3 on first sight *(model)*.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// The account-local id.
    pub id: u64,
    /// The protocol's actor uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// `admin` or `agent`.
    pub role: String,
}

/// An account's settings that change how it takes partners' messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// "Decline all sharing agreement invites": every invitation is declined at once.
    #[serde(default)]
    pub decline_all_invites: bool,
}

/// The mutable part of an account: what its REST API shows.
#[derive(Debug)]
pub struct AccountState {
    /// Agreements by local id.
    agreements: BTreeMap<u64, Agreement>,
    /// The id the next agreement gets.
    next_agreement_id: u64,
    /// Local id by protocol uuid: every partner message names its agreement by uuid, and
    /// a scan of every copy per message made handshakes slower the more agreements an
    /// account held.
    ids_by_uuid: HashMap<Text, u64>,
    /// Inbound copies waiting (pending) or declined, by sender: every invitation checks
    /// these bounds, and a scan of every copy per invitation made handshakes slower the
    /// more agreements an account held.
    held: HashMap<Option<Text>, Held>,
    /// The serialised `GET /sharing_agreements` body, the answer headers built for it,
    /// and the API URL it was built for. Listing is the hottest read; every change to a
    /// copy drops the cache.
    listing: Option<(String, bytes::Bytes, axum::http::HeaderMap)>,
    /// Tickets and the counters that number them.
    tickets: TicketBook,
    /// Ticket pushes decided and not yet delivered, per agreement.
    outbox: Outbox,
    /// How the account takes invitations.
    settings: AccountSettings,
    /// Uuids of copies changed since last taken, while someone watches (the scenario
    /// runner, which then re-checks only those pairs instead of every agreement after
    /// every step).
    changed: Option<BTreeSet<String>>,
    /// Changes whenever a copy changes (see [`AccountState::versions`]).
    agreements_version: Version,
    /// Changes whenever the tickets are opened for a change.
    tickets_version: Version,
    /// Ids of copies inserted, changed or removed since last taken, while `serve
    /// --state` tracks them (see [`AccountState::take_unsaved`]): a save then costs what
    /// changed rather than a comparison of every copy and ticket.
    unsaved_agreements: Option<BTreeSet<u64>>,
}

/// How many inbound copies from one sender are pending and declined.
#[derive(Clone, Copy, Debug, Default)]
struct Held {
    pending: usize,
    declined: usize,
}

/// Whose share of the held counts `copy` is in: its sender's when the world's own
/// transport proved it, else the one share of every unproven sender (None).
fn quota_key(copy: &Agreement) -> Option<Text> {
    if copy.unverified_sender {
        None
    } else {
        copy.remote_subdomain.clone()
    }
}

/// Whether `copy` is counted in [`AccountState::held`], and as what: Some(true) for a
/// pending inbound copy, Some(false) for a declined one.
fn held_kind(copy: &Agreement) -> Option<bool> {
    if copy.direction != crate::core::model::Direction::Inbound {
        return None;
    }
    match copy.status {
        AgreementStatus::Pending => Some(true),
        AgreementStatus::Declined => Some(false),
        _ => None,
    }
}

/// A value no other version of any state in the process ever had: a state made afresh
/// (a restore) cannot be mistaken for one already compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Version(u64);

impl Version {
    fn fresh() -> Version {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Version(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl Default for AccountState {
    fn default() -> Self {
        AccountState {
            agreements: BTreeMap::new(),
            next_agreement_id: 1,
            ids_by_uuid: HashMap::new(),
            held: HashMap::new(),
            listing: None,
            tickets: TicketBook::default(),
            outbox: Outbox::default(),
            settings: AccountSettings::default(),
            changed: None,
            agreements_version: Version::fresh(),
            tickets_version: Version::fresh(),
            unsaved_agreements: None,
        }
    }
}

/// What changed in an account's agreements and tickets against a known copy (see
/// [`AccountState::items_changed_since`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemsDelta {
    /// Copies that are new or differ, whole.
    pub agreements: Vec<Agreement>,
    /// Ids of copies that are gone.
    pub removed_agreements: Vec<u64>,
    /// Tickets that are new or differ, whole.
    pub tickets: Vec<Ticket>,
    /// Ids of tickets that are gone.
    pub removed_tickets: Vec<u64>,
}

impl ItemsDelta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.agreements.is_empty()
            && self.removed_agreements.is_empty()
            && self.tickets.is_empty()
            && self.removed_tickets.is_empty()
    }
}

/// An account's whole state as data: what snapshots (`GET /snapshot`, `serve --state`)
/// hold. Taken with [`AccountState::record`] and turned back into a state whole with
/// [`AccountState::from_record`], which rebuilds the uuid index, so the seal holds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRecord {
    /// Every agreement copy, with uuid and access key.
    pub agreements: Vec<Agreement>,
    /// The id the next agreement gets.
    pub next_agreement_id: u64,
    /// Every ticket, with comments and audits.
    pub tickets: Vec<Ticket>,
    /// Partners' people this account knows.
    #[serde(default)]
    pub people: Vec<Person>,
    /// The id the next ticket gets.
    pub next_ticket_id: u64,
    /// The id the next comment gets.
    pub next_comment_id: u64,
    /// The id the next audit gets.
    pub next_audit_id: u64,
    /// The account's custom ticket fields.
    #[serde(default)]
    pub ticket_fields: Vec<TicketField>,
    /// The id the next ticket field gets.
    #[serde(default = "first_id")]
    pub next_field_id: u64,
    /// Ticket pushes waiting to be delivered.
    #[serde(default)]
    pub outbox: OutboxRecord,
    /// How the account takes invitations.
    #[serde(default)]
    pub settings: AccountSettings,
}

fn first_id() -> u64 {
    1
}

impl AccountState {
    /// The whole state as data.
    pub fn record(&self) -> StateRecord {
        StateRecord {
            agreements: self.agreements.values().cloned().collect(),
            tickets: self.tickets.tickets.values().cloned().collect(),
            ..self.record_without_items()
        }
    }

    /// A state holding exactly `record` (its index built, no cached listing).
    pub fn from_record(record: &StateRecord) -> AccountState {
        let mut state = AccountState {
            next_agreement_id: record.next_agreement_id,
            tickets: TicketBook {
                tickets: record.tickets.iter().map(|t| (t.id, t.clone())).collect(),
                people: record.people.clone(),
                next_ticket_id: record.next_ticket_id,
                next_comment_id: record.next_comment_id,
                next_audit_id: record.next_audit_id,
                fields: record.ticket_fields.clone(),
                next_field_id: record.next_field_id,
                unsaved: None,
            },
            outbox: Outbox::from_record(&record.outbox),
            settings: record.settings,
            ..AccountState::default()
        };
        for agreement in &record.agreements {
            state.insert(agreement.clone());
        }
        state
    }

    /// The list body for `api_url` and the headers of its answer (`headers` builds them
    /// from the body), both built once per change rather than per request: a clone of a
    /// small header map costs less than inserting and hashing each header per call.
    pub fn listing(
        &mut self,
        api_url: &str,
        build: impl FnOnce(&Self) -> bytes::Bytes,
        headers: impl FnOnce(&bytes::Bytes) -> axum::http::HeaderMap,
    ) -> (bytes::Bytes, axum::http::HeaderMap) {
        match &self.listing {
            Some((url, body, map)) if url == api_url => (body.clone(), map.clone()),
            _ => {
                let body = build(self);
                let map = headers(&body);
                self.listing = Some((api_url.to_string(), body.clone(), map.clone()));
                (body, map)
            }
        }
    }

    /// Starts recording which copies change (see [`AccountState::take_changed`]).
    pub fn watch_changes(&mut self) {
        self.changed.get_or_insert_with(Default::default);
    }

    /// The uuids of copies inserted, changed or removed since the last call (empty
    /// unless [`AccountState::watch_changes`] was called).
    pub fn take_changed(&mut self) -> BTreeSet<String> {
        self.changed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn mark_unsaved(&mut self, id: u64) {
        if let Some(unsaved) = &mut self.unsaved_agreements {
            unsaved.insert(id);
        }
    }

    fn mark_changed(&mut self, uuid: &str) {
        if let Some(changed) = &mut self.changed {
            changed.insert(uuid.to_string());
        }
    }

    /// Reserves the local id of a new copy.
    pub fn take_agreement_id(&mut self) -> u64 {
        let id = self.next_agreement_id;
        self.next_agreement_id += 1;
        id
    }

    /// Stores a copy (replacing the one with the same id) and indexes its uuid.
    pub fn insert(&mut self, agreement: Agreement) {
        self.listing = None;
        self.agreements_version = Version::fresh();
        self.mark_unsaved(agreement.id);
        self.mark_changed(&agreement.uuid);
        if let Some(old) = self.agreements.get(&agreement.id)
            && old.uuid != agreement.uuid
        {
            let old = old.uuid.clone();
            self.mark_changed(&old);
            self.ids_by_uuid.remove(&old);
        }
        self.ids_by_uuid
            .insert(agreement.uuid.clone(), agreement.id);
        self.count_held(&agreement, true);
        if let Some(old) = self.agreements.insert(agreement.id, agreement) {
            self.count_held(&old, false);
        }
    }

    /// Adds `copy` to (or takes it from) the held counts.
    fn count_held(&mut self, copy: &Agreement, add: bool) {
        if let Some(pending) = held_kind(copy) {
            self.count_held_as(quota_key(copy), pending, add);
        }
    }

    fn count_held_as(&mut self, remote: Option<Text>, pending: bool, add: bool) {
        let counts = self.held.entry(remote).or_default();
        let count = if pending {
            &mut counts.pending
        } else {
            &mut counts.declined
        };
        *count = if add {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
    }

    /// Inbound copies with `status` (pending or declined; 0 for any other status) from
    /// the proven sender `remote_subdomain`, or with None from every sender not proven
    /// (whatever sender they claim): the pending quota's two kinds of share.
    pub fn inbound_held(&self, remote_subdomain: Option<&str>, status: AgreementStatus) -> usize {
        let counts = match remote_subdomain {
            None => self.held.get(&None),
            Some(remote) => self.held.get(&Some(Text::from(remote))),
        };
        match (counts, status) {
            (Some(counts), AgreementStatus::Pending) => counts.pending,
            (Some(counts), AgreementStatus::Declined) => counts.declined,
            _ => 0,
        }
    }

    /// Removes the copy with this id.
    pub fn remove(&mut self, id: u64) -> Option<Agreement> {
        self.listing = None;
        self.agreements_version = Version::fresh();
        self.mark_unsaved(id);
        let removed = self.agreements.remove(&id)?;
        self.count_held(&removed, false);
        self.ids_by_uuid.remove(&removed.uuid);
        self.mark_changed(&removed.uuid);
        Some(removed)
    }

    /// Changes the copy with this id through `change`, then drops the cached listing and
    /// re-indexes the copy, whatever `change` did to it. None when there is no such copy.
    pub fn change<R>(&mut self, id: u64, change: impl FnOnce(&mut Agreement) -> R) -> Option<R> {
        let copy = self.agreements.get_mut(&id)?;
        let held_before = held_kind(copy).map(|kind| (quota_key(copy), kind));
        self.listing = None;
        self.agreements_version = Version::fresh();
        let uuid_before = copy.uuid.clone();
        let result = change(copy);
        copy.id = id;
        let held_after = held_kind(copy).map(|kind| (quota_key(copy), kind));
        let uuid_after = (copy.uuid != uuid_before).then(|| copy.uuid.clone());
        if held_before != held_after {
            if let Some((remote, kind)) = held_before {
                self.count_held_as(remote, kind, false);
            }
            if let Some((remote, kind)) = held_after {
                self.count_held_as(remote, kind, true);
            }
        }
        if let Some(uuid_after) = uuid_after {
            self.ids_by_uuid.remove(&uuid_before);
            self.ids_by_uuid.insert(uuid_after.clone(), id);
            self.mark_changed(&uuid_after);
        }
        self.mark_changed(&uuid_before);
        self.mark_unsaved(id);
        Some(result)
    }

    /// [`AccountState::change`] for the copy with this uuid.
    pub fn change_by_uuid<R>(
        &mut self,
        uuid: &str,
        change: impl FnOnce(&mut Agreement) -> R,
    ) -> Option<R> {
        let id = self.id_by_uuid(uuid)?;
        self.change(id, change)
    }

    /// The local id of the copy with this uuid.
    pub fn id_by_uuid(&self, uuid: &str) -> Option<u64> {
        self.ids_by_uuid.get(uuid).copied()
    }

    /// The copy with this local id.
    pub fn agreement(&self, id: u64) -> Option<&Agreement> {
        self.agreements.get(&id)
    }

    /// Every copy, by local id.
    pub fn agreements(&self) -> &BTreeMap<u64, Agreement> {
        &self.agreements
    }

    /// The copy with this uuid.
    pub fn by_uuid(&self, uuid: &str) -> Option<&Agreement> {
        self.id_by_uuid(uuid)
            .and_then(|id| self.agreements.get(&id))
    }

    /// The account's tickets, to read.
    pub fn tickets(&self) -> &TicketBook {
        &self.tickets
    }

    /// The account's tickets, to change (no agreement cache depends on them), with the
    /// agreements beside them for the rules that read both.
    pub fn tickets_mut(&mut self) -> (&mut TicketBook, &BTreeMap<u64, Agreement>) {
        self.tickets_version = Version::fresh();
        (&mut self.tickets, &self.agreements)
    }

    /// The versions of what the REST listings render: (agreements, tickets). Each
    /// changes whenever its part may have changed, so a check that compared a listing
    /// with the state need not compare it again while its version stays.
    pub fn versions(&self) -> (u64, u64) {
        (self.agreements_version.0, self.tickets_version.0)
    }

    /// The pushes waiting to be delivered.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The pushes waiting to be delivered, to change.
    pub fn outbox_mut(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// How the account takes invitations.
    pub fn settings(&self) -> AccountSettings {
        self.settings
    }

    /// Changes how the account takes invitations.
    pub fn set_settings(&mut self, settings: AccountSettings) {
        self.settings = settings;
    }

    /// Everything but the agreements and tickets (counters, people, fields, outbox,
    /// settings): the small part `serve --state` writes whole when it changed.
    pub fn record_without_items(&self) -> StateRecord {
        StateRecord {
            agreements: Vec::new(),
            next_agreement_id: self.next_agreement_id,
            tickets: Vec::new(),
            people: self.tickets.people.clone(),
            next_ticket_id: self.tickets.next_ticket_id,
            next_comment_id: self.tickets.next_comment_id,
            next_audit_id: self.tickets.next_audit_id,
            ticket_fields: self.tickets.fields.clone(),
            next_field_id: self.tickets.next_field_id,
            outbox: self.outbox.record(),
            settings: self.settings,
        }
    }

    /// The agreements and tickets that differ from `agreements` and `tickets` (new or
    /// changed), and the ids of those that are gone: what `serve --state` appends,
    /// found by comparing in place, without copying what did not change.
    pub fn items_changed_since(
        &self,
        agreements: &BTreeMap<u64, Agreement>,
        tickets: &BTreeMap<u64, Ticket>,
    ) -> ItemsDelta {
        let mut delta = ItemsDelta::default();
        for (id, agreement) in &self.agreements {
            if agreements.get(id) != Some(agreement) {
                delta.agreements.push(agreement.clone());
            }
        }
        delta.removed_agreements = agreements
            .keys()
            .filter(|id| !self.agreements.contains_key(id))
            .copied()
            .collect();
        for (id, ticket) in &self.tickets.tickets {
            if tickets.get(id) != Some(ticket) {
                delta.tickets.push(ticket.clone());
            }
        }
        delta.removed_tickets = tickets
            .keys()
            .filter(|id| !self.tickets.tickets.contains_key(id))
            .copied()
            .collect();
        delta
    }

    /// Starts keeping which copies and tickets change, with none unsaved yet: call it
    /// when the state is known to be saved whole.
    pub fn track_unsaved(&mut self) {
        self.unsaved_agreements = Some(BTreeSet::new());
        self.tickets.unsaved = Some(BTreeSet::new());
    }

    /// The copies and tickets changed since the last call or [`AccountState::track_unsaved`]
    /// (new or changed ones whole, the ids of those gone), in time proportional to what
    /// changed; None when this state was not tracked (made afresh since, as a restore
    /// does): then compare with [`AccountState::items_changed_since`] and track again.
    pub fn take_unsaved(&mut self) -> Option<ItemsDelta> {
        let agreements = self.unsaved_agreements.as_mut().map(std::mem::take)?;
        let tickets = self.tickets.unsaved.as_mut().map(std::mem::take)?;
        let mut delta = ItemsDelta::default();
        for id in agreements {
            match self.agreements.get(&id) {
                Some(agreement) => delta.agreements.push(agreement.clone()),
                None => delta.removed_agreements.push(id),
            }
        }
        for id in tickets {
            match self.tickets.tickets.get(&id) {
                Some(ticket) => delta.tickets.push(ticket.clone()),
                None => delta.removed_tickets.push(id),
            }
        }
        Some(delta)
    }
}

/// An account's tickets, the people partners told it about, and the counters that
/// number tickets, comments and audits. Fields are private: tickets are stored whole
/// through [`TicketBook::store`], ids are taken through the `take_*` methods.
#[derive(Debug)]
pub struct TicketBook {
    tickets: BTreeMap<u64, Ticket>,
    people: Vec<Person>,
    next_ticket_id: u64,
    next_comment_id: u64,
    next_audit_id: u64,
    fields: Vec<TicketField>,
    next_field_id: u64,
    /// Ids of tickets stored since last taken (see [`AccountState::take_unsaved`]).
    unsaved: Option<BTreeSet<u64>>,
}

impl Default for TicketBook {
    fn default() -> Self {
        TicketBook {
            tickets: BTreeMap::new(),
            people: Vec::new(),
            next_ticket_id: 1,
            next_comment_id: 1,
            next_audit_id: 1,
            fields: Vec::new(),
            next_field_id: 1,
            unsaved: None,
        }
    }
}

impl TicketBook {
    /// Every ticket, by local id.
    pub fn all(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values()
    }

    /// The ticket with this local id.
    pub fn get(&self, id: u64) -> Option<&Ticket> {
        self.tickets.get(&id)
    }

    /// Stores a ticket whole, replacing the one with the same id.
    pub fn store(&mut self, ticket: Ticket) {
        if let Some(unsaved) = &mut self.unsaved {
            unsaved.insert(ticket.id);
        }
        self.tickets.insert(ticket.id, ticket);
    }

    /// The id the next ticket would get, without taking it.
    pub fn peek_ticket_id(&self) -> u64 {
        self.next_ticket_id
    }

    /// Reserves the id of a new ticket.
    pub fn take_ticket_id(&mut self) -> u64 {
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        id
    }

    /// Reserves the id of a new comment (one counter per account).
    pub fn take_comment_id(&mut self) -> u64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        id
    }

    /// Reserves the id of a new audit (one counter per account).
    pub fn take_audit_id(&mut self) -> u64 {
        let id = self.next_audit_id;
        self.next_audit_id += 1;
        id
    }

    /// The account's custom ticket fields, in the order they were made.
    pub fn fields(&self) -> &[TicketField] {
        &self.fields
    }

    /// Stores a new field; the id is the one asked for, or the next free one.
    pub fn add_field(&mut self, mut field: TicketField, id: Option<u64>) -> TicketField {
        field.id = id.unwrap_or(self.next_field_id);
        self.next_field_id = self.next_field_id.max(field.id + 1);
        self.fields.push(field.clone());
        field
    }

    /// Whether a user or a partner's person has this local id.
    pub fn person_exists(&self, id: u64) -> bool {
        id == ADMIN_ID || id == AGENT_ID || self.people.iter().any(|p| p.id == id)
    }

    /// The partner's person with this local id.
    pub fn person(&self, id: u64) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }

    /// The local id of a partner's person with this uuid, recorded on first sight.
    pub fn person_id(&mut self, uuid: &str, name: &str, role: &str) -> u64 {
        if let Some(person) = self.people.iter().find(|p| p.uuid == uuid) {
            return person.id;
        }
        let id = AGENT_ID + 1 + self.people.len() as u64;
        self.people.push(Person {
            id,
            uuid: uuid.to_string(),
            name: name.to_string(),
            role: role.to_string(),
        });
        id
    }
}

#[cfg(test)]
mod tests;
