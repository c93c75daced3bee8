//! The paths agreements' pairs of copies take in a served world, for the live view's
//! status grid. A served world has no steps, so a path is what the live view saw: each
//! time the page reads the world (after every journal event it hears of), every pair
//! that changed gets a point, numbered in order. Nothing is recorded while no page
//! looks, so a world under load pays nothing for it.
//!
//! Bounded: at most [`MAX_TRACKED`] agreements (the least recently changed are
//! forgotten first) and [`MAX_POINTS`] points each (the oldest after the first go).

use crate::account::Account;
use crate::consistency::PairPath;
use crate::model::{AgreementStatus, Direction};
use crate::trace::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Agreements whose paths are kept.
pub const MAX_TRACKED: usize = 256;
/// Points kept per path.
pub const MAX_POINTS: usize = 48;

#[derive(Debug, Default)]
struct Tracked {
    path: PairPath,
    /// When this pair last changed (the journal's sequence number), for eviction and
    /// for showing the most recently changed first.
    changed: u64,
    /// Points recorded so far, numbering the next one.
    count: u64,
}

/// Every tracked agreement's path, by uuid.
#[derive(Debug, Default)]
pub struct PairTracker {
    tracked: Mutex<BTreeMap<String, Tracked>>,
}

impl PairTracker {
    /// Records the pair of every agreement among `accounts` as of journal event `seq`.
    pub fn observe(&self, seq: u64, accounts: &[Arc<Account>]) {
        let mut now: BTreeMap<
            String,
            (
                Option<AgreementStatus>,
                Option<AgreementStatus>,
                String,
                String,
                String,
            ),
        > = BTreeMap::new();
        for account in accounts {
            for copy in account.agreements() {
                let entry = now.entry(copy.uuid.clone()).or_default();
                let remote = copy.remote_subdomain.clone().unwrap_or_default();
                match copy.direction {
                    Direction::Outbound => {
                        entry.0 = Some(copy.status);
                        entry.2 = account.subdomain().to_string();
                        entry.4 = format!("{} #{}", account.subdomain(), copy.id);
                        if entry.3.is_empty() {
                            entry.3 = remote;
                        }
                    }
                    Direction::Inbound => {
                        entry.1 = Some(copy.status);
                        entry.3 = account.subdomain().to_string();
                        if entry.2.is_empty() {
                            entry.2 = remote;
                        }
                        if entry.4.is_empty() {
                            entry.4 = format!("{} #{} (inbound)", account.subdomain(), copy.id);
                        }
                    }
                }
            }
        }
        let mut tracked = lock(&self.tracked);
        for (uuid, (sender, receiver, from, to, label)) in &now {
            let entry = tracked.entry(uuid.clone()).or_insert_with(|| {
                let mut path = PairPath {
                    label: label.clone(),
                    sender: from.clone(),
                    receiver: to.clone(),
                    points: Vec::new(),
                };
                path.observe(0, None, None);
                Tracked {
                    path,
                    changed: seq,
                    count: 1,
                }
            });
            entry.path.sender.clone_from(from);
            entry.path.receiver.clone_from(to);
            entry.path.label.clone_from(label);
            record(entry, seq, *sender, *receiver);
        }
        for (uuid, entry) in tracked.iter_mut() {
            if !now.contains_key(uuid) {
                record(entry, seq, None, None);
            }
        }
        while tracked.len() > MAX_TRACKED {
            let oldest = tracked
                .iter()
                .min_by_key(|(_, t)| t.changed)
                .map(|(uuid, _)| uuid.clone());
            match oldest {
                Some(uuid) => tracked.remove(&uuid),
                None => break,
            };
        }
    }

    /// The `limit` most recently changed paths, newest first, and how many more there are.
    pub fn recent(&self, limit: usize) -> (Vec<PairPath>, usize) {
        let tracked = lock(&self.tracked);
        let mut all: Vec<&Tracked> = tracked.values().collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.changed));
        let more = all.len().saturating_sub(limit);
        (
            all.into_iter()
                .take(limit)
                .map(|t| t.path.clone())
                .collect(),
            more,
        )
    }

    /// Forgets every path (a reset emptied the world).
    pub fn clear(&self) {
        lock(&self.tracked).clear();
    }
}

fn record(
    entry: &mut Tracked,
    seq: u64,
    sender: Option<AgreementStatus>,
    receiver: Option<AgreementStatus>,
) {
    let before = entry.path.points.len();
    entry.path.observe(entry.count, sender, receiver);
    if entry.path.points.len() > before {
        entry.count += 1;
        entry.changed = seq;
        if entry.path.points.len() > MAX_POINTS {
            entry.path.points.remove(1);
        }
    }
}
