//! Durable state for `serve --state FILE`: the world's snapshot in FILE, and every change
//! since, appended to FILE.journal.
//!
//! - A change costs what changed: each account keeps the ids of the agreements and
//!   tickets changed since the last save, and only those (with the account's small
//!   counters and settings when they moved) are appended, as one JSON line, then
//!   fsynced. A request that changed nothing (a refused one, a 401) writes nothing.
//! - Concurrent changes share one write and one sync (group commit): a request waits
//!   for the first batch that begins after its change was made; whoever finds that
//!   batch unwritten writes every change made so far, and the requests it covers are
//!   answered once its sync returns, without a sync of their own.
//! - The answer leaves only once its change is on disk. A change that cannot be made
//!   durable (disk full, read-only, too large) is undone, back to the last durable
//!   state, and answered with a 503 that says so.
//! - When the journal outgrows the snapshot, the snapshot is rewritten whole (atomically:
//!   exclusive temporary file, fsync, rename) and the journal emptied. Replaying a
//!   journal over a snapshot that already holds it gives the same state (each line holds
//!   the new values whole), so a crash between the two loses nothing.
//! - One process holds the state: FILE.lock is locked exclusively while `serve` runs;
//!   a second `serve` on the same file is refused with a clear error.
//! - Every file is created 0600 in a folder only the user can change (it holds every
//!   access key), and temporary files a killed process left are removed at start.

mod journal;

use crate::core::account::{Account, AccountState, StateRecord};
use crate::core::model::Agreement;
use crate::core::model::ticket::Ticket;
use crate::core::tls::CertMode;
use crate::core::trace::lock;
use crate::drivers::scenario::run::Handles;
use crate::drivers::snapshot::{AccountRecord, SNAPSHOT_FORMAT, WorldSnapshot};
use crate::world::World;
use journal::{AccountChange, Change};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The journal is folded into the snapshot once it is larger than this and than the
/// snapshot itself: writes stay O(change) on average.
const COMPACT_AFTER_BYTES: u64 = 1 << 20;

/// The state file of one served world.
pub(crate) struct StateFile {
    path: PathBuf,
    world: Weak<World>,
    /// Held (and locked) for as long as the process runs.
    _lock: File,
    inner: Mutex<Inner>,
    /// Each account's change counter when last saved, read without the lock so a
    /// request that changed nothing costs two atomic loads.
    seen: Vec<(String, AtomicU64)>,
    /// Bumped each time unsaved changes were undone; a request that saw it move answers
    /// that its change may be gone.
    undone: AtomicU64,
    /// Batches begun (numbered from 1; bumped under `inner`'s lock just before a batch
    /// reads the world): the batch after this one holds every change made so far.
    begun: AtomicU64,
    /// The last batch made durable: every change made before it began is on disk.
    durable_batch: AtomicU64,
}

/// What the files hold, in memory, and the open journal.
struct Inner {
    mirror: Mirror,
    journal: File,
    journal_bytes: u64,
    snapshot_bytes: u64,
}

/// The last durable state.
struct Mirror {
    accounts: Vec<AccountMirror>,
    faults: Vec<Value>,
    handles: Handles,
}

struct AccountMirror {
    subdomain: String,
    /// The account's change counter when last saved: while it stays, the state did not
    /// move and is not read at all.
    changes: u64,
    running: bool,
    certificate: CertMode,
    versions: (u64, u64),
    agreements: BTreeMap<u64, Agreement>,
    tickets: BTreeMap<u64, Ticket>,
    rest: StateRecord,
}

impl StateFile {
    /// Locks `path` for this process, removes temporary files a killed process left,
    /// and reads the state (snapshot plus journal); None when there is none yet.
    pub(crate) fn open(path: &Path) -> Result<(File, Option<WorldSnapshot>), String> {
        let folder = crate::core::atomic_file::folder_of(path);
        crate::core::atomic_file::check_folder(folder)
            .map_err(|e| format!("cannot keep the state file {}: {e}", path.display()))?;
        let lock_path = sibling(path, "lock");
        let lock = {
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options
                .open(&lock_path)
                .map_err(|e| format!("could not open {}: {e}", lock_path.display()))?
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "the state file {} is in use by another sharesim serve (it holds {}); stop it or give another --state",
                    path.display(),
                    lock_path.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("could not lock {}: {e}", lock_path.display()));
            }
        }
        crate::core::atomic_file::remove_leftovers(path);
        let snapshot = journal::read(path, &sibling(path, "journal"))?;
        Ok((lock, snapshot))
    }

    /// Keeps `path` current for `world` from now on: writes the world's state whole
    /// (with `handles`) as the snapshot and starts an empty journal. `lock` is what
    /// [`StateFile::open`] returned.
    pub(crate) fn start(
        path: PathBuf,
        lock: File,
        world: &Arc<World>,
        handles: Handles,
    ) -> Result<StateFile, String> {
        let mirror = Mirror::capture(world, handles);
        let seen = world
            .accounts()
            .iter()
            .map(|a| (a.subdomain().to_string(), AtomicU64::new(a.changes())))
            .collect();
        let snapshot_bytes = write_snapshot(&path, &mirror)?;
        let journal_path = sibling(&path, "journal");
        // Removed, never opened: a planted symlink is unlinked, not followed.
        match std::fs::remove_file(&journal_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("could not replace {}: {e}", journal_path.display())),
        }
        let journal = crate::core::atomic_file::create_private(&journal_path)
            .map_err(|e| format!("could not create {}: {e}", journal_path.display()))?;
        crate::core::atomic_file::sync_folder(crate::core::atomic_file::folder_of(&path));
        Ok(StateFile {
            path,
            world: Arc::downgrade(world),
            _lock: lock,
            inner: Mutex::new(Inner {
                mirror,
                journal,
                journal_bytes: 0,
                snapshot_bytes,
            }),
            seen,
            undone: AtomicU64::new(0),
            begun: AtomicU64::new(0),
            durable_batch: AtomicU64::new(0),
        })
    }

    /// How many times unsaved changes were undone so far (see [`StateFile::save_rest`]).
    pub(crate) fn undo_count(&self) -> u64 {
        self.undone.load(Ordering::SeqCst)
    }

    /// Whether some account changed since the last save (cheap: no lock, no copy).
    pub(crate) fn dirty(&self) -> bool {
        let Some(world) = self.world.upgrade() else {
            return false;
        };
        self.seen.iter().any(|(subdomain, seen)| {
            world
                .account(subdomain)
                .is_some_and(|a| a.changes() != seen.load(Ordering::SeqCst))
        })
    }

    /// The batch that will hold every change made so far (see [`StateFile::save_rest`]).
    pub(crate) fn next_batch(&self) -> u64 {
        self.begun.load(Ordering::SeqCst) + 1
    }

    /// Returns once `batch` (from [`StateFile::next_batch`], read after a REST or partner
    /// request made its change) is durable: at once when a batch that began later is;
    /// otherwise this request writes one batch holding every change made so far, for
    /// itself and for every request waiting behind it. On failure the changes are undone
    /// and the error says so. Blocking: call it from a blocking task.
    pub(crate) fn save_rest(&self, batch: u64) -> Result<(), String> {
        if self.durable_batch.load(Ordering::SeqCst) >= batch {
            return Ok(());
        }
        let mut inner = lock(&self.inner);
        if self.durable_batch.load(Ordering::SeqCst) >= batch {
            return Ok(());
        }
        self.write_batch(&mut inner, None)
    }

    /// Writes what changed since the last save (nothing when nothing did); `handles`
    /// replaces the known handles when given. On error the accounts are put back as the
    /// last durable state holds them (the control API then restores the rest from
    /// [`StateFile::durable`]). Blocking.
    pub(crate) fn save(&self, handles: Option<Handles>) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        self.write_batch(&mut inner, handles)
    }

    /// One batch: takes every change made so far, appends it as one line, syncs once.
    fn write_batch(&self, inner: &mut Inner, handles: Option<Handles>) -> Result<(), String> {
        let Some(world) = self.world.upgrade() else {
            return Ok(());
        };
        let batch = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let counters: Vec<u64> = self
            .seen
            .iter()
            .map(|(s, _)| world.account(s).map_or(0, |a| a.changes()))
            .collect();
        let change = inner.mirror.delta(&world, &counters, handles);
        if change.is_empty() {
            inner.mirror.apply(change, &counters);
            self.remember(&counters, batch);
            return Ok(());
        }
        let written = serde_json::to_vec(&change)
            .map_err(std::io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                check_injected_failure()?;
                wait_at_injected_gate();
                inner.journal.write_all(&line)?;
                inner.journal.sync_data()?;
                Ok(line.len() as u64)
            });
        let length = match written {
            Ok(length) => length,
            Err(error) => {
                // Cut a partly written line off, so the journal ends on the last durable one.
                let _ = inner.journal.set_len(inner.journal_bytes);
                for mirror in &inner.mirror.accounts {
                    if let Some(account) = world.account(&mirror.subdomain) {
                        undo(&account, mirror);
                    }
                }
                self.undone.fetch_add(1, Ordering::SeqCst);
                return Err(format!(
                    "the change could not be made durable in {}: {error}; it was undone",
                    sibling(&self.path, "journal").display()
                ));
            }
        };
        inner.journal_bytes += length;
        inner.mirror.apply(change, &counters);
        self.remember(&counters, batch);
        if inner.journal_bytes > COMPACT_AFTER_BYTES.max(inner.snapshot_bytes) {
            // The change is durable in the journal already: a failed compaction only
            // leaves a longer journal, retried after the next change.
            if let Err(error) = self.compact(inner) {
                tracing::warn!(%error, "the state file could not be compacted");
            }
        }
        Ok(())
    }

    /// Notes that `batch`, which read the accounts' change counters `counters`, is durable.
    fn remember(&self, counters: &[u64], batch: u64) {
        for ((_, seen), counter) in self.seen.iter().zip(counters) {
            seen.store(*counter, Ordering::SeqCst);
        }
        self.durable_batch.store(batch, Ordering::SeqCst);
    }

    fn compact(&self, inner: &mut Inner) -> Result<(), String> {
        inner.snapshot_bytes = write_snapshot(&self.path, &inner.mirror)?;
        inner.journal.set_len(0).map_err(|e| e.to_string())?;
        inner.journal.sync_all().map_err(|e| e.to_string())?;
        inner.journal_bytes = 0;
        Ok(())
    }

    /// The last durable state, whole: what an undo restores.
    pub(crate) fn durable(&self) -> WorldSnapshot {
        lock(&self.inner).mirror.snapshot()
    }
}

impl crate::world::DurableWrites for StateFile {
    fn dirty(&self) -> bool {
        StateFile::dirty(self)
    }

    fn undo_count(&self) -> u64 {
        StateFile::undo_count(self)
    }

    fn next_batch(&self) -> u64 {
        StateFile::next_batch(self)
    }

    fn save(&self, batch: u64) -> Result<(), String> {
        self.save_rest(batch)
    }
}

/// Puts an account back as `mirror` holds it, if it moved.
fn undo(account: &Account, mirror: &AccountMirror) {
    let unchanged = account.read_state(|state| {
        state.versions() == mirror.versions && state.record_without_items() == mirror.rest
    });
    if !unchanged {
        let record = mirror.record();
        account.with_state(|state| {
            *state = AccountState::from_record(&record.state);
            // It holds exactly the durable state now: nothing is unsaved.
            state.track_unsaved();
        });
    }
}

/// `FILE.EXT` beside `FILE`.
pub(crate) fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

fn write_snapshot(path: &Path, mirror: &Mirror) -> Result<u64, String> {
    let mut text = serde_json::to_vec(&mirror.snapshot()).map_err(|e| e.to_string())?;
    text.push(b'\n');
    check_injected_failure().map_err(|e| format!("could not write {}: {e}", path.display()))?;
    crate::core::atomic_file::write(path, &text)
        .map_err(|error| format!("could not write {}: {error}", path.display()))?;
    Ok(text.len() as u64)
}

/// Test-only failure injection: with `SHARESIM_TEST_STATE_WRITES_FAIL` set in the
/// environment of a debug build, every write of the state fails as a full disk would.
/// Release builds ignore it.
fn check_injected_failure() -> std::io::Result<()> {
    if cfg!(debug_assertions) && std::env::var_os("SHARESIM_TEST_STATE_WRITES_FAIL").is_some() {
        let flag = std::env::var("SHARESIM_TEST_STATE_WRITES_FAIL").unwrap_or_default();
        if std::path::Path::new(&flag).exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ));
        }
    }
    Ok(())
}

/// Test-only: with `SHARESIM_TEST_STATE_SYNC_GATE` naming a file in the environment of a
/// debug build, a batch waits before its write for a shared lock on that file, so a test
/// that holds it exclusively can line changes up behind it (the kernel frees the lock if
/// the test dies). Release builds ignore it.
fn wait_at_injected_gate() {
    if !cfg!(debug_assertions) {
        return;
    }
    let Some(gate) = std::env::var_os("SHARESIM_TEST_STATE_SYNC_GATE") else {
        return;
    };
    if let Ok(file) = std::fs::File::open(gate) {
        // Waits while the test holds the gate; released again when `file` closes.
        let _ = file.lock_shared();
    }
}

impl Mirror {
    fn capture(world: &World, handles: Handles) -> Mirror {
        Mirror {
            accounts: world
                .accounts()
                .iter()
                .map(|account| {
                    let subdomain = account.subdomain().to_string();
                    let (record, versions) = account.with_state_uncounted(|state| {
                        state.track_unsaved();
                        (state.record(), state.versions())
                    });
                    AccountMirror {
                        changes: account.changes(),
                        running: world.is_running(&subdomain).unwrap_or(false),
                        certificate: world.cert_mode(&subdomain).unwrap_or(CertMode::Valid),
                        versions,
                        agreements: record
                            .agreements
                            .iter()
                            .map(|a| (a.id, a.clone()))
                            .collect(),
                        tickets: record.tickets.iter().map(|t| (t.id, t.clone())).collect(),
                        rest: StateRecord {
                            agreements: Vec::new(),
                            tickets: Vec::new(),
                            ..record
                        },
                        subdomain,
                    }
                })
                .collect(),
            faults: world
                .faults()
                .iter()
                .map(crate::drivers::snapshot::fault_table)
                .collect(),
            handles,
        }
    }

    fn snapshot(&self) -> WorldSnapshot {
        WorldSnapshot {
            format: SNAPSHOT_FORMAT,
            accounts: self.accounts.iter().map(AccountMirror::record).collect(),
            faults: self.faults.clone(),
            handles: self.handles.clone(),
        }
    }

    /// What differs between `world` now and this copy, taking the accounts' unsaved
    /// changes; `counters` are the accounts' change counters, read just before (an
    /// account whose counter did not move since the last save is not read).
    fn delta(&self, world: &World, counters: &[u64], handles: Option<Handles>) -> Change {
        let mut change = Change::default();
        for (mirror, counter) in self.accounts.iter().zip(counters) {
            let Some(account) = world.account(&mirror.subdomain) else {
                continue;
            };
            let running = world.is_running(&mirror.subdomain).unwrap_or(false);
            let certificate = world
                .cert_mode(&mirror.subdomain)
                .unwrap_or(CertMode::Valid);
            let (items, rest, versions) = if *counter == mirror.changes {
                (Default::default(), None, mirror.versions)
            } else {
                let (items, rest, versions) = account.with_state_uncounted(|state| {
                    let items = state.take_unsaved().unwrap_or_else(|| {
                        // Made afresh since the last save (a restore): compare once.
                        let items = state.items_changed_since(&mirror.agreements, &mirror.tickets);
                        state.track_unsaved();
                        items
                    });
                    (items, state.record_without_items(), state.versions())
                });
                (items, (rest != mirror.rest).then_some(rest), versions)
            };
            if items.is_empty()
                && rest.is_none()
                && running == mirror.running
                && certificate == mirror.certificate
            {
                if versions != mirror.versions {
                    change.versions.push((mirror.subdomain.clone(), versions));
                }
                continue;
            }
            change.accounts.push(AccountChange {
                subdomain: mirror.subdomain.clone(),
                running,
                certificate,
                versions: Some(versions),
                items: items.into(),
                rest,
            });
        }
        let faults: Vec<Value> = world
            .faults()
            .iter()
            .map(crate::drivers::snapshot::fault_table)
            .collect();
        if faults != self.faults {
            change.faults = Some(faults);
        }
        if let Some(handles) = handles
            && handles != self.handles
        {
            change.handles = Some(handles);
        }
        change
    }

    /// Takes `change` in, made when the accounts' change counters were `counters`.
    fn apply(&mut self, change: Change, counters: &[u64]) {
        for (mirror, counter) in self.accounts.iter_mut().zip(counters) {
            mirror.changes = *counter;
        }
        for (subdomain, versions) in change.versions {
            if let Some(mirror) = self.accounts.iter_mut().find(|m| m.subdomain == subdomain) {
                mirror.versions = versions;
            }
        }
        for account in change.accounts {
            if let Some(mirror) = self
                .accounts
                .iter_mut()
                .find(|m| m.subdomain == account.subdomain)
            {
                mirror.apply(account);
            }
        }
        if let Some(faults) = change.faults {
            self.faults = faults;
        }
        if let Some(handles) = change.handles {
            self.handles = handles;
        }
    }
}

impl AccountMirror {
    fn record(&self) -> AccountRecord {
        AccountRecord {
            subdomain: self.subdomain.clone(),
            running: self.running,
            certificate: self.certificate,
            state: StateRecord {
                agreements: self.agreements.values().cloned().collect(),
                tickets: self.tickets.values().cloned().collect(),
                ..self.rest.clone()
            },
        }
    }

    fn apply(&mut self, change: AccountChange) {
        self.running = change.running;
        self.certificate = change.certificate;
        if let Some(versions) = change.versions {
            self.versions = versions;
        }
        for id in change.items.removed_agreements {
            self.agreements.remove(&id);
        }
        for agreement in change.items.agreements {
            self.agreements.insert(agreement.id, agreement);
        }
        for id in change.items.removed_tickets {
            self.tickets.remove(&id);
        }
        for ticket in change.items.tickets {
            self.tickets.insert(ticket.id, ticket);
        }
        if let Some(rest) = change.rest {
            self.rest = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_file_is_a_first_run_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (_lock, snapshot) = StateFile::open(&path).unwrap();
        assert_eq!(snapshot, None);
        drop(_lock);
        std::fs::write(&path, "{\"format\": 1}").unwrap();
        let error = StateFile::open(&path).unwrap_err();
        assert!(error.contains("accounts"), "{error}");
    }

    #[test]
    fn a_second_holder_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let first = StateFile::open(&path).unwrap();
        let error = StateFile::open(&path).unwrap_err();
        assert!(
            error.contains("in use by another sharesim serve"),
            "{error}"
        );
        drop(first);
        assert!(StateFile::open(&path).is_ok(), "free again once released");
    }
}
