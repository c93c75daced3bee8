//! The journal's format: one JSON line per durable change, holding the new values of
//! what changed whole, and the reading of a snapshot plus its journal.

use crate::core::account::{ItemsDelta, StateRecord};
use crate::core::model::Agreement;
use crate::core::model::ticket::Ticket;
use crate::core::tls::CertMode;
use crate::drivers::scenario::run::Handles;
use crate::drivers::snapshot::WorldSnapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// One line of the journal.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Change {
    /// Accounts that changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountChange>,
    /// The faults in force, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<Vec<Value>>,
    /// The handles, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handles: Option<Handles>,
    /// Accounts whose state versions moved with nothing to write (kept in memory only).
    #[serde(skip)]
    pub versions: Vec<(String, (u64, u64))>,
}

impl Change {
    /// Whether there is nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.faults.is_none() && self.handles.is_none()
    }
}

/// What changed in one account.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountChange {
    pub subdomain: String,
    pub running: bool,
    pub certificate: CertMode,
    /// The state's versions when taken (in memory only).
    #[serde(skip)]
    pub versions: Option<(u64, u64)>,
    #[serde(flatten)]
    pub items: Items,
    /// Counters, people, fields, outbox and settings, when any changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<StateRecord>,
}

/// [`ItemsDelta`] as the journal spells it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Items {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agreements: Vec<Agreement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_agreements: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<Ticket>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_tickets: Vec<u64>,
}

impl From<ItemsDelta> for Items {
    fn from(delta: ItemsDelta) -> Items {
        Items {
            agreements: delta.agreements,
            removed_agreements: delta.removed_agreements,
            tickets: delta.tickets,
            removed_tickets: delta.removed_tickets,
        }
    }
}

/// Reads a file that must be a regular file: a FIFO or a device would block or never end.
pub(super) fn read_regular(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file (a FIFO, a device or a folder)",
        )),
        Ok(_) => std::fs::read(path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The snapshot at `path` with every complete line of `journal` applied; None when
/// neither exists. A last line without its newline was never acknowledged (the process
/// died while writing it) and is ignored.
pub(super) fn read(path: &Path, journal: &Path) -> Result<Option<WorldSnapshot>, String> {
    let text = read_regular(path)
        .map_err(|e| format!("could not read the state file {}: {e}", path.display()))?;
    let lines = read_regular(journal)
        .map_err(|e| format!("could not read the journal {}: {e}", journal.display()))?
        .unwrap_or_default();
    // A last line without its newline was never acknowledged: it is not part of the state.
    let complete = lines
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&lines[..0], |end| &lines[..=end]);
    let Some(text) = text else {
        if complete.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(format!(
                "the state file {} is missing but its journal {} is not; restore the state file or remove the journal",
                path.display(),
                journal.display()
            ));
        }
        return Ok(None);
    };
    // A byte order mark is not JSON but editors write one: skip it.
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let value: Value = serde_json::from_slice(text)
        .map_err(|error| format!("the state file {} is not JSON: {error}", path.display()))?;
    let mut snapshot = WorldSnapshot::from_json(&value).map_err(|error| {
        format!(
            "the state file {} is not a snapshot: {error}",
            path.display()
        )
    })?;
    for (index, line) in complete.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let change: Change = serde_json::from_slice(line).map_err(|error| {
            format!(
                "the journal {} line {}: {error}",
                journal.display(),
                index + 1
            )
        })?;
        apply(&mut snapshot, change);
    }
    Ok(Some(snapshot))
}

/// Applies one journal line to a snapshot.
fn apply(snapshot: &mut WorldSnapshot, change: Change) {
    for account in change.accounts {
        let Some(record) = snapshot
            .accounts
            .iter_mut()
            .find(|r| r.subdomain == account.subdomain)
        else {
            continue;
        };
        record.running = account.running;
        record.certificate = account.certificate;
        let state = &mut record.state;
        let items = account.items;
        state
            .agreements
            .retain(|a| !items.removed_agreements.contains(&a.id));
        for agreement in items.agreements {
            match state.agreements.iter_mut().find(|a| a.id == agreement.id) {
                Some(slot) => *slot = agreement,
                None => state.agreements.push(agreement),
            }
        }
        state
            .tickets
            .retain(|t| !items.removed_tickets.contains(&t.id));
        for ticket in items.tickets {
            match state.tickets.iter_mut().find(|t| t.id == ticket.id) {
                Some(slot) => *slot = ticket,
                None => state.tickets.push(ticket),
            }
        }
        if let Some(rest) = account.rest {
            let agreements = std::mem::take(&mut state.agreements);
            let tickets = std::mem::take(&mut state.tickets);
            *state = StateRecord {
                agreements,
                tickets,
                ..rest
            };
        }
    }
    if let Some(faults) = change.faults {
        snapshot.faults = faults;
    }
    if let Some(handles) = change.handles {
        snapshot.handles = handles;
    }
}
