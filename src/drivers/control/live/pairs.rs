//! The paths agreements' pairs of copies take in a served world, for the live view's
//! status grid. A served world has no steps, so a path is what the live view saw: each
//! time the page reads the world (after every journal event it hears of), every pair
//! that changed gets a point, numbered in order. Nothing is recorded while no page
//! looks, so a world under load pays nothing for it.
//!
//! Bounded: at most [`MAX_TRACKED`] agreements (the least recently changed are
//! forgotten first) and [`MAX_POINTS`] points each (the oldest after the first go).

use crate::core::consistency::PairPath;
use crate::core::model::{AgreementStatus, Direction};
use crate::core::trace::lock;
use crate::world::AccountView;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Agreements whose paths are kept.
pub(super) const MAX_TRACKED: usize = 256;
/// Points kept per path.
pub(super) const MAX_POINTS: usize = 48;

/// One agreement's two copies as one reading of the world found them.
#[derive(Debug, Default)]
struct Seen {
    sender_copy: Option<AgreementStatus>,
    receiver_copy: Option<AgreementStatus>,
    sender: String,
    receiver: String,
    label: String,
}

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
pub(crate) struct PairTracker {
    tracked: Mutex<BTreeMap<String, Tracked>>,
}

impl PairTracker {
    /// Records the pair of every agreement among `accounts` as of journal event `seq`.
    pub(crate) fn observe(&self, seq: u64, accounts: &[AccountView]) {
        let mut now: BTreeMap<String, Seen> = BTreeMap::new();
        for view in accounts {
            let account = &view.account;
            for copy in &view.agreements {
                let seen = now.entry(copy.uuid.to_string()).or_default();
                let remote = copy.remote_subdomain.clone().unwrap_or_default();
                match copy.direction {
                    Direction::Outbound => {
                        seen.sender_copy = Some(copy.status);
                        seen.sender = account.subdomain().to_string();
                        seen.label = format!("{} #{}", account.subdomain(), copy.id);
                        if seen.receiver.is_empty() {
                            seen.receiver = remote.to_string();
                        }
                    }
                    Direction::Inbound => {
                        seen.receiver_copy = Some(copy.status);
                        seen.receiver = account.subdomain().to_string();
                        if seen.sender.is_empty() {
                            seen.sender = remote.to_string();
                        }
                        if seen.label.is_empty() {
                            seen.label = format!("{} #{} (inbound)", account.subdomain(), copy.id);
                        }
                    }
                }
            }
        }
        let mut tracked = lock(&self.tracked);
        for (uuid, seen) in &now {
            let entry = tracked.entry(uuid.clone()).or_insert_with(|| {
                let mut path = PairPath::default();
                path.observe(0, None, None);
                Tracked {
                    path,
                    changed: seq,
                    count: 1,
                }
            });
            entry.path.sender.clone_from(&seen.sender);
            entry.path.receiver.clone_from(&seen.receiver);
            entry.path.label.clone_from(&seen.label);
            record(entry, seq, seen.sender_copy, seen.receiver_copy);
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
    pub(crate) fn recent(&self, limit: usize) -> (Vec<PairPath>, usize) {
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
    pub(crate) fn clear(&self) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use AgreementStatus::*;

    #[test]
    fn a_path_numbers_changes_and_keeps_its_first_point_and_newest_ones() {
        let mut entry = Tracked::default();
        entry.path.observe(0, None, None);
        entry.count = 1;
        record(&mut entry, 5, Some(Pending), None);
        record(&mut entry, 6, Some(Pending), None);
        assert_eq!(
            entry.path.points.len(),
            2,
            "an unchanged pair adds no point"
        );
        assert_eq!((entry.path.points[1].at, entry.changed), (1, 5));
        for seq in 0..(2 * MAX_POINTS as u64) {
            let status = if seq % 2 == 0 { Accepted } else { Inactive };
            record(&mut entry, 10 + seq, Some(status), Some(status));
        }
        assert_eq!(entry.path.points.len(), MAX_POINTS);
        assert_eq!(entry.path.points[0].at, 0, "the start stays");
        let last = entry.path.points.last().unwrap();
        assert_eq!(last.at, entry.count - 1);
        assert_eq!(entry.changed, 10 + 2 * MAX_POINTS as u64 - 1);
    }
}
