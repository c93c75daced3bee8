//! Violations grouped by signature: every violation is keyed by its invariant, the
//! final pair of copies of the agreement it is about, and the known limit it matches
//! (`known`), so a limit found again and again is counted, not reported anew. The
//! first schedule (lowest seed and index) of each new group is shrunk and written as a
//! scenario file that fails the same way.

use super::invariants::Invariant;
use super::known::{self, KnownLimit, Seen};
use super::schedule::Schedule;
use super::{Checks, ExploreError, ExploreOptions, Finding, ScheduleRun, reproduction, shrink};
use crate::core::network::NetworkKind;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What groups violations: the invariant, the pair of copies when it was seen (the
/// shrunk schedule's final pair; `-` when not about an agreement) and the known limit
/// matched (None: new).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    /// The invariant's name.
    pub invariant: String,
    /// The final pair, `sender/receiver`.
    pub pair: String,
    /// The file in `scenarios/found/` it matches, when known.
    pub known: Option<String>,
}

impl GroupKey {
    /// The corpus file name of the group: `{invariant}-{sender}-{receiver}.toml`, and
    /// `known-{limit}` for a known limit.
    pub fn file_name(&self) -> String {
        let pair = self.pair.replace('/', "-").replace(' ', "_");
        let mut stem = self.invariant.clone();
        if pair != "-" {
            stem.push('-');
            stem.push_str(&pair);
        }
        match &self.known {
            Some(file) => format!("known-{}-{stem}.toml", file.trim_end_matches(".toml")),
            None => format!("{stem}.toml"),
        }
    }
}

/// Every violating schedule of one group, as few numbers as merge exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The first schedule: (seed, index), the lowest.
    pub first: (u64, u64),
    /// What the first schedule showed.
    pub message: String,
    /// The smallest schedule: (steps run, seed, index), the lowest.
    pub smallest: (usize, u64, u64),
    /// Schedules in the group.
    pub schedules: u64,
    /// The scheduler's picks of the first schedule's order, under `--orders exhaustive`.
    pub orders: Option<Vec<usize>>,
}

impl Group {
    /// A group of one schedule.
    pub fn new(seed: u64, index: u64, steps: usize, message: String) -> Group {
        Group {
            first: (seed, index),
            message,
            smallest: (steps, seed, index),
            schedules: 1,
            orders: None,
        }
    }

    /// Adds another group of the same key.
    pub fn merge(&mut self, other: &Group) {
        if other.first < self.first {
            self.first = other.first;
            self.message.clone_from(&other.message);
            self.orders.clone_from(&other.orders);
        }
        self.smallest = self.smallest.min(other.smallest);
        self.schedules += other.schedules;
    }
}

/// The groups one schedule's violations belong to.
pub(crate) fn classify(
    limits: &[KnownLimit],
    schedule: &Schedule,
    run: &ScheduleRun,
) -> Vec<(GroupKey, String)> {
    let kinds = known::kinds(&schedule.steps);
    run.violations
        .iter()
        .map(|violation| {
            let pair = run
                .violation_pairs
                .get(&violation.invariant)
                .cloned()
                .unwrap_or_else(|| "-".to_string());
            let invariant = violation.invariant.name();
            let known = known::match_known(limits, invariant, &pair, &kinds)
                .map(|limit| limit.file.to_string());
            (
                GroupKey {
                    invariant: invariant.to_string(),
                    pair,
                    known,
                },
                violation.message.clone(),
            )
        })
        .collect()
}

fn write(path: &Path, text: &str) -> Result<(), ExploreError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ExploreError::Write {
            path: parent.display().to_string(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| ExploreError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Shrinks the group's first schedule, writes it to `options.out`, and checks that
/// `sharesim run` on the file fails (on loopback too, for a simulated finding) and that
/// a second run of the shrunk schedule writes the same trace.
pub(crate) async fn shrink_and_write(
    options: &ExploreOptions,
    checks: &Checks,
    key: &GroupKey,
    group: &Group,
) -> Result<Finding, ExploreError> {
    let invariant = Invariant::ALL
        .into_iter()
        .find(|i| i.name() == key.invariant)
        .ok_or_else(|| ExploreError::Run(format!("unknown invariant {}", key.invariant)))?;
    let (seed, index) = group.first;
    let mut schedule = crate::drivers::explore::draw::draw(seed, index, &options.shape);
    schedule.orders.clone_from(&group.orders);
    let shrunk = shrink::shrink(schedule.clone(), invariant, Some(&key.pair), checks)
        .await
        .map_err(ExploreError::Run)?;
    let path = options.out.join(key.file_name());
    let text = reproduction::render(
        &shrunk.schedule,
        &shrunk.run,
        invariant,
        schedule.step_count(),
        &options.command(),
    );
    write(&path, &text)?;
    let file = path.display().to_string();
    let check = reproduction::check(&text, &file, invariant, checks.planted_bugs, checks.network)
        .await
        .map_err(ExploreError::Run)?;
    // A finding of the simulated network must hold on real sockets too; the report
    // says whether it did.
    let loopback_reproduced = match checks.network {
        NetworkKind::Loopback => None,
        NetworkKind::Simulated => Some(
            reproduction::check(
                &text,
                &file,
                invariant,
                checks.planted_bugs,
                NetworkKind::Loopback,
            )
            .await
            .map_err(ExploreError::Run)?
            .failed,
        ),
    };
    // The same schedule and seed must give the same run: a rerun that differs is a bug
    // in sharesim, not a finding.
    let rerun = super::run_schedule(&shrunk.schedule, checks, Some(invariant))
        .await
        .map_err(ExploreError::Run)?;
    let rerun_differs = crate::drivers::scenario::determinism::first_difference(
        &shrunk.run.outcome,
        &rerun.outcome,
    );
    let steps = known::kinds(&shrunk.schedule.steps).into_iter().collect();
    Ok(Finding {
        invariant: invariant.name(),
        message: group.message.clone(),
        seed,
        index,
        schedules: group.schedules,
        original_steps: schedule.step_count(),
        shrunk_steps: check.steps,
        shrink_runs: shrunk.runs,
        path: file,
        reproduced: check.failed,
        network: checks.network,
        loopback_reproduced,
        rerun_differs,
        last_events: check.last_events,
        signature: Seen {
            invariant: key.invariant.clone(),
            pair: key.pair.clone(),
            steps,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_merge_to_the_lowest_first_and_smallest_and_add_their_counts() {
        let mut one = Group::new(0, 7, 12, "seven".into());
        let two = Group::new(0, 3, 14, "three".into());
        let mut three = Group::new(1, 0, 9, "other seed".into());
        three.schedules = 4;
        one.merge(&two);
        one.merge(&three);
        assert_eq!(one.first, (0, 3));
        assert_eq!(one.message, "three");
        assert_eq!(one.smallest, (9, 1, 0));
        assert_eq!(one.schedules, 6);
    }

    #[test]
    fn a_group_is_one_file_named_by_its_signature() {
        let key = GroupKey {
            invariant: "copies_agree".into(),
            pair: "accepted/pending".into(),
            known: None,
        };
        assert_eq!(key.file_name(), "copies_agree-accepted-pending.toml");
        let known = GroupKey {
            known: Some("01-lost-reply-after-accept.toml".into()),
            ..key
        };
        assert_eq!(
            known.file_name(),
            "known-01-lost-reply-after-accept-copies_agree-accepted-pending.toml"
        );
    }
}
