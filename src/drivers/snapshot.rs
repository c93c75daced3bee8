//! A world's whole state as one JSON document: every account (running or not, its
//! certificate, agreements with uuids and access keys, tickets, counters), the faults in
//! force and the step language's handles. The control API's `GET`/`PUT /snapshot` and
//! `serve --state` use this one format; restoring it is the inverse of taking it.

use crate::core::account::{Account, AccountState, StateRecord};
use crate::core::faults::{Fault, FaultRule};
use crate::core::tls::CertMode;
use crate::drivers::scenario::run::Handles;
use crate::world::World;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The version of the snapshot format this build writes and reads.
pub(crate) const SNAPSHOT_FORMAT: u32 = 1;

/// The whole state of a world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldSnapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// Every account, in the world's order.
    pub accounts: Vec<AccountRecord>,
    /// The faults in force, each written as a `fault` step's table.
    #[serde(default)]
    pub faults: Vec<Value>,
    /// The handles steps defined (`as = "esc"`).
    #[serde(default)]
    pub handles: Handles,
}

/// One account: its listener and certificate, and its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountRecord {
    /// The account (must be one of the world's).
    pub subdomain: String,
    /// Whether its listener runs.
    pub running: bool,
    /// The certificate it presents.
    pub certificate: CertMode,
    /// Agreements (with uuids and access keys), tickets, people and counters.
    pub state: StateRecord,
}

/// Why a snapshot cannot be restored into this world: the field and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct SnapshotError {
    /// Path of the offending field (`accounts[1].subdomain`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl WorldSnapshot {
    /// Takes the state of every account of `world`, with `handles`.
    pub(crate) fn capture(world: &World, handles: Handles) -> WorldSnapshot {
        let accounts = world
            .accounts()
            .iter()
            .map(|account| capture_account(world, account))
            .collect();
        WorldSnapshot {
            format: SNAPSHOT_FORMAT,
            accounts,
            faults: world.faults().iter().map(fault_table).collect(),
            handles,
        }
    }

    /// An empty world with `world`'s accounts: running, valid certificates, nothing in
    /// them, no faults, no handles (what `reset` restores).
    pub(crate) fn empty(world: &World) -> WorldSnapshot {
        WorldSnapshot {
            format: SNAPSHOT_FORMAT,
            accounts: world
                .accounts()
                .iter()
                .map(|account| AccountRecord {
                    subdomain: account.subdomain().to_string(),
                    running: true,
                    certificate: CertMode::Valid,
                    state: AccountState::default().record(),
                })
                .collect(),
            faults: Vec::new(),
            handles: Handles::default(),
        }
    }

    /// Reads a snapshot, naming the field path of anything malformed.
    pub(crate) fn from_json(value: &Value) -> Result<WorldSnapshot, SnapshotError> {
        serde_path_to_error::deserialize(value).map_err(|error| SnapshotError {
            field: error.path().to_string(),
            message: crate::drivers::scenario::parse::reword(&error.inner().to_string()),
        })
    }

    /// Checks what serde cannot: the format version, the same accounts as `world`, and
    /// counters ahead of every id in use (so a record made later never reuses one).
    pub(crate) fn check(&self, world: &World) -> Result<(), SnapshotError> {
        let error = |field: String, message: String| Err(SnapshotError { field, message });
        if self.format != SNAPSHOT_FORMAT {
            return error(
                "format".into(),
                format!(
                    "this build reads snapshot format {SNAPSHOT_FORMAT}, not {}",
                    self.format
                ),
            );
        }
        let world_accounts: Vec<String> = world
            .accounts()
            .iter()
            .map(|a| a.subdomain().to_string())
            .collect();
        let mut seen = BTreeSet::new();
        for (index, record) in self.accounts.iter().enumerate() {
            let field = |name: &str| format!("accounts[{index}].{name}");
            if !world_accounts.contains(&record.subdomain) {
                return error(
                    field("subdomain"),
                    format!(
                        "this world has no account `{}`; its accounts are {}",
                        record.subdomain,
                        world_accounts.join(", ")
                    ),
                );
            }
            if !seen.insert(record.subdomain.clone()) {
                return error(
                    field("subdomain"),
                    format!("`{}` appears twice", record.subdomain),
                );
            }
            let state = &record.state;
            let mut ids = BTreeSet::new();
            for (i, agreement) in state.agreements.iter().enumerate() {
                if !ids.insert(agreement.id) {
                    return error(
                        format!("accounts[{index}].state.agreements[{i}].id"),
                        format!("agreement id {} appears twice", agreement.id),
                    );
                }
            }
            if ids
                .last()
                .is_some_and(|max| *max >= state.next_agreement_id)
            {
                return error(
                    field("state.next_agreement_id"),
                    "must be greater than every agreement id".into(),
                );
            }
            check_counters(index, state)?;
            let mut uuids = BTreeSet::new();
            for (i, agreement) in state.agreements.iter().enumerate() {
                if !uuids.insert(agreement.uuid.as_str()) {
                    return error(
                        format!("accounts[{index}].state.agreements[{i}].uuid"),
                        format!("agreement uuid {} appears twice", agreement.uuid),
                    );
                }
            }
            let mut tickets = BTreeSet::new();
            for (i, ticket) in state.tickets.iter().enumerate() {
                if !tickets.insert(ticket.id) {
                    return error(
                        format!("accounts[{index}].state.tickets[{i}].id"),
                        format!("ticket id {} appears twice", ticket.id),
                    );
                }
                check_ticket(index, i, ticket, state)?;
            }
            if tickets
                .last()
                .is_some_and(|max| *max >= state.next_ticket_id)
            {
                return error(
                    field("state.next_ticket_id"),
                    "must be greater than every ticket id".into(),
                );
            }
        }
        if let Some(missing) = world_accounts.iter().find(|a| !seen.contains(*a)) {
            return error(
                "accounts".into(),
                format!(
                    "account `{missing}` is missing; a snapshot holds every account of the world"
                ),
            );
        }
        Ok(())
    }

    /// Puts every account's state, certificate and listener as the snapshot says
    /// (faults and handles are the caller's: they go through the step language).
    /// Call [`WorldSnapshot::check`] first.
    pub(crate) async fn restore_accounts(&self, world: &World) -> Result<(), String> {
        for record in &self.accounts {
            let Some(account) = world.account(&record.subdomain) else {
                continue;
            };
            // Faults first: a `down` would otherwise keep a listener closed.
            if world
                .faults()
                .iter()
                .any(|rule| rule.target == record.subdomain)
            {
                world
                    .heal(&record.subdomain, None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if world.cert_mode(&record.subdomain) != Some(record.certificate) {
                world
                    .set_certificate(&record.subdomain, record.certificate)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let running = world.is_running(&record.subdomain).unwrap_or(false);
            if record.running && !running {
                world
                    .start_account(&record.subdomain)
                    .await
                    .map_err(|e| e.to_string())?;
            } else if !record.running && running {
                world
                    .stop_account(&record.subdomain)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            restore_state(&account, record);
        }
        // The links to external accounts hold no state: they come back healed, with valid
        // certificates (their faults are restored from `faults`, as steps).
        for (external, _) in world.externals() {
            if world.faults().iter().any(|rule| rule.target == external) {
                world
                    .heal(&external, None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if world.cert_mode(&external) != Some(CertMode::Valid) {
                world
                    .set_certificate(&external, CertMode::Valid)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

/// The largest id a snapshot may hold or count to: every JSON client reads it exactly
/// (2^53), and a counter there can never wrap onto an id in use.
pub(crate) const MAX_ID: u64 = 1 << 53;

/// Counters within [`MAX_ID`].
fn check_counters(index: usize, state: &StateRecord) -> Result<(), SnapshotError> {
    for (name, value) in [
        ("next_agreement_id", state.next_agreement_id),
        ("next_ticket_id", state.next_ticket_id),
        ("next_comment_id", state.next_comment_id),
        ("next_audit_id", state.next_audit_id),
        ("next_field_id", state.next_field_id),
    ] {
        if value == 0 || value > MAX_ID {
            return Err(SnapshotError {
                field: format!("accounts[{index}].state.{name}"),
                message: format!("must be from 1 to {MAX_ID}, not {value}"),
            });
        }
    }
    Ok(())
}

/// A ticket's comments and audits are numbered below the counters.
fn check_ticket(
    index: usize,
    i: usize,
    ticket: &crate::core::model::ticket::Ticket,
    state: &StateRecord,
) -> Result<(), SnapshotError> {
    let field = |name: &str| format!("accounts[{index}].state.tickets[{i}].{name}");
    if let Some(comment) = ticket
        .comments
        .iter()
        .find(|c| c.id >= state.next_comment_id)
    {
        return Err(SnapshotError {
            field: field("comments"),
            message: format!(
                "comment id {} is not below next_comment_id {}",
                comment.id, state.next_comment_id
            ),
        });
    }
    if let Some(audit) = ticket.audits.iter().find(|a| a.id >= state.next_audit_id) {
        return Err(SnapshotError {
            field: field("audits"),
            message: format!(
                "audit id {} is not below next_audit_id {}",
                audit.id, state.next_audit_id
            ),
        });
    }
    Ok(())
}

fn capture_account(world: &World, account: &Account) -> AccountRecord {
    let subdomain = account.subdomain().to_string();
    AccountRecord {
        running: world.is_running(&subdomain).unwrap_or(false),
        certificate: world.cert_mode(&subdomain).unwrap_or(CertMode::Valid),
        state: account.read_state(|state| state.record()),
        subdomain,
    }
}

fn restore_state(account: &Account, record: &AccountRecord) {
    let fresh = AccountState::from_record(&record.state);
    account.with_state(|state| *state = fresh);
}

/// A fault rule as a `fault` step's table (`{"account": "globex", "status": 503}`).
pub(crate) fn fault_table(rule: &FaultRule) -> Value {
    let mut table = Map::new();
    table.insert("account".into(), json!(rule.target));
    if let Some(from) = &rule.from {
        table.insert("from".into(), json!(from));
    }
    if let Some(times) = rule.remaining {
        table.insert("times".into(), json!(times));
    }
    let (key, value) = match rule.fault {
        Fault::Down => ("down", json!(true)),
        Fault::Hang => ("hang", json!(true)),
        Fault::Reset => ("reset", json!(true)),
        Fault::RedirectLoop => ("redirect_loop", json!(true)),
        Fault::Latency(delay) => ("latency_ms", json!(delay.as_millis() as u64)),
        Fault::Status(status) => ("status", json!(status)),
        Fault::RetryAfter(seconds) => ("retry_after", json!(seconds)),
        Fault::Crash(point) => ("crash", json!(point.as_str())),
    };
    table.insert(key.into(), value);
    Value::Object(table)
}
