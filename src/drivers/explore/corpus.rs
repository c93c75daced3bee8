//! The corpus `--out DIR` keeps across runs and shards: one scenario file per
//! signature, and `DIR/findings.json`, an index of every signature with the first and
//! the smallest schedule that showed it and how often it was seen. Entries merge by
//! taking the lowest first and smallest schedules and adding the counts, so merging
//! the folders of N shards gives the index a single run writes.

use super::ExploreError;
use super::coverage::Coverage;
use super::findings::{Group, GroupKey};
use super::known::Seen;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The index's file name inside the corpus folder.
pub const INDEX: &str = "findings.json";

/// One schedule, as the index names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRef {
    /// The exploration's seed.
    pub seed: u64,
    /// The schedule's index.
    pub index: u64,
}

/// One signature of the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The invariant broken.
    pub invariant: String,
    /// The signature: invariant, final pair and the kinds of step needed (of the shrunk
    /// first schedule; a known limit's own).
    pub signature: Seen,
    /// The `scenarios/found/` file it matches; None for a new violation.
    pub known: Option<String>,
    /// The scenario file in the corpus folder.
    pub file: String,
    /// The first schedule that showed it (lowest seed, then index).
    pub first: ScheduleRef,
    /// The smallest schedule that showed it (fewest steps, then lowest seed and index).
    pub smallest: ScheduleRef,
    /// Steps of the smallest schedule, repair round included.
    pub smallest_steps: usize,
    /// Schedules that showed it.
    pub times_seen: u64,
    /// What the first schedule showed.
    pub message: String,
    /// The command that reruns the file, from the corpus folder.
    pub rerun: String,
}

impl Entry {
    /// The entry of one group.
    pub fn new(key: &GroupKey, group: &Group, signature: Seen) -> Entry {
        let file = key.file_name();
        let surfaces = if key.invariant == "listing_equals_state" {
            "--check-surfaces "
        } else {
            ""
        };
        Entry {
            invariant: key.invariant.clone(),
            signature,
            known: key.known.clone(),
            rerun: format!("sharesim run {surfaces}{file}"),
            file,
            first: ScheduleRef {
                seed: group.first.0,
                index: group.first.1,
            },
            smallest: ScheduleRef {
                seed: group.smallest.1,
                index: group.smallest.2,
            },
            smallest_steps: group.smallest.0,
            times_seen: group.schedules,
            message: group.message.clone(),
        }
    }

    fn key(&self) -> (String, String, Option<String>) {
        (
            self.invariant.clone(),
            self.signature.pair.clone(),
            self.known.clone(),
        )
    }

    fn first_key(&self) -> (u64, u64) {
        (self.first.seed, self.first.index)
    }

    /// Adds another entry of the same key: the lowest first (with its signature, file
    /// and message), the smallest, the sum of the counts.
    fn merge(&mut self, other: &Entry) {
        let times = self.times_seen + other.times_seen;
        let smallest = (self.smallest_steps, self.smallest.seed, self.smallest.index).min((
            other.smallest_steps,
            other.smallest.seed,
            other.smallest.index,
        ));
        if other.first_key() < self.first_key() {
            *self = other.clone();
        }
        self.times_seen = times;
        (self.smallest_steps, self.smallest.seed, self.smallest.index) = smallest;
    }
}

/// `DIR/findings.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The sharesim version that wrote it.
    pub sharesim: String,
    /// Every signature, sorted by invariant, pair and known limit.
    pub entries: Vec<Entry>,
    /// Schedules run into this corpus.
    pub schedules: u64,
    /// What they reached.
    pub coverage: Coverage,
}

impl Index {
    /// An empty index of this build.
    pub fn new() -> Index {
        Index {
            sharesim: env!("CARGO_PKG_VERSION").to_string(),
            ..Index::default()
        }
    }

    /// The entry of `key`, if any.
    pub fn get(&self, key: &GroupKey) -> Option<&Entry> {
        let wanted = (key.invariant.clone(), key.pair.clone(), key.known.clone());
        self.entries.iter().find(|e| e.key() == wanted)
    }

    /// Adds another index; returns the keys whose entry now comes from `other` (their
    /// files must be copied from its folder).
    pub fn merge(&mut self, other: &Index) -> Vec<String> {
        let mut by_key: BTreeMap<(String, String, Option<String>), Entry> = self
            .entries
            .drain(..)
            .map(|entry| (entry.key(), entry))
            .collect();
        let mut taken = Vec::new();
        for entry in &other.entries {
            match by_key.get_mut(&entry.key()) {
                Some(mine) => {
                    let before = mine.first_key();
                    mine.merge(entry);
                    if mine.first_key() != before {
                        taken.push(entry.file.clone());
                    }
                }
                None => {
                    taken.push(entry.file.clone());
                    by_key.insert(entry.key(), entry.clone());
                }
            }
        }
        self.entries = by_key.into_values().collect();
        self.schedules += other.schedules;
        self.coverage.merge(&other.coverage);
        taken
    }

    /// Reads `DIR/findings.json`; an empty index when the folder has none.
    pub fn read(dir: &Path) -> Result<Index, ExploreError> {
        let path = dir.join(INDEX);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                ExploreError::Run(format!(
                    "{} is not a findings index: {e}; remove it or choose another --out",
                    path.display()
                ))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Index::new()),
            Err(source) => Err(ExploreError::Write {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Writes `DIR/findings.json`.
    pub fn write(&self, dir: &Path) -> Result<(), ExploreError> {
        let path = dir.join(INDEX);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text + "\n"))
            .map_err(|source| ExploreError::Write {
                path: path.display().to_string(),
                source,
            })
    }
}

/// Merges the corpus folders `from` into `into`: the index, and each signature's file
/// from the folder whose entry wins.
pub fn merge_folders(from: &[std::path::PathBuf], into: &Path) -> Result<Index, ExploreError> {
    let mut index = Index::read(into)?;
    for dir in from {
        let other = Index::read(dir)?;
        for file in index.merge(&other) {
            let source = dir.join(&file);
            let target = into.join(&file);
            std::fs::create_dir_all(into)
                .and_then(|()| std::fs::copy(&source, &target).map(|_| ()))
                .map_err(|source_error| ExploreError::Write {
                    path: format!("{} (from {})", target.display(), source.display()),
                    source: source_error,
                })?;
        }
    }
    index.sharesim = env!("CARGO_PKG_VERSION").to_string();
    index.write(into)?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, steps: usize, times: u64) -> Entry {
        let key = GroupKey {
            invariant: "copies_agree".into(),
            pair: "accepted/pending".into(),
            known: None,
        };
        let mut group = Group::new(0, index, steps, format!("schedule {index}"));
        group.schedules = times;
        Entry::new(
            &key,
            &group,
            Seen {
                invariant: "copies_agree".into(),
                pair: "accepted/pending".into(),
                steps: vec![format!("step{index}")],
            },
        )
    }

    #[test]
    fn indexes_merge_in_any_order_to_the_same_index() {
        let parts = [
            Index {
                entries: vec![entry(4, 10, 2)],
                schedules: 5,
                ..Index::new()
            },
            Index {
                entries: vec![entry(1, 12, 1)],
                schedules: 5,
                ..Index::new()
            },
        ];
        let mut forward = Index::new();
        parts.iter().for_each(|p| {
            forward.merge(p);
        });
        let mut backward = Index::new();
        parts.iter().rev().for_each(|p| {
            backward.merge(p);
        });
        assert_eq!(forward, backward);
        let merged = &forward.entries[0];
        assert_eq!(merged.first.index, 1);
        assert_eq!(merged.signature.steps, ["step1"]);
        assert_eq!((merged.smallest.index, merged.smallest_steps), (4, 10));
        assert_eq!(merged.times_seen, 3);
        assert_eq!(forward.schedules, 10);
    }
}
