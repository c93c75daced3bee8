//! What a run reached: the (sender, receiver) pairs of copies seen after a step, the
//! status transitions each side took, the fault kinds that broke a message, the
//! actions drawn, the scheduler's race effects and the ticket sync outcomes. Counts
//! add up, so shards and runs merge by adding.

use super::known::pair_text;
use crate::core::consistency;
use crate::core::model::AgreementStatus;
use crate::core::trace::{Event, EventKind, Surface};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strum::VariantArray;

/// Counts of what a run reached, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// `sender/receiver` pairs seen after a step (`none`: no copy).
    pub pairs: BTreeMap<String, u64>,
    /// Status changes of one side of an agreement: `receiver: pending → accepted`.
    pub transitions: BTreeMap<String, u64>,
    /// Messages each fault kind broke, and each race effect of the scheduler (`held`,
    /// `released`, `duplicated`, `lost`, `crossing`).
    pub faults_fired: BTreeMap<String, u64>,
    /// Actions drawn, by key (a group's actions each count, and the group too).
    pub actions: BTreeMap<String, u64>,
    /// Partner ticket messages by method and outcome: `PUT delivered`, `POST refused 422`.
    pub ticket_sync: BTreeMap<String, u64>,
    /// Schedules run.
    pub schedules: u64,
    /// Orders run per schedule: how many schedules ran in how many orders.
    pub orders: BTreeMap<u64, u64>,
}

/// One cell of the pair grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The sender's copy (`none`: no copy).
    pub sender: String,
    /// The receiver's copy.
    pub receiver: String,
    /// Whether the consistency rule allows the pair.
    pub allowed: bool,
    /// Times seen after a step.
    pub seen: u64,
}

/// The statuses a side may hold, then `none`.
pub(crate) fn sides() -> Vec<Option<AgreementStatus>> {
    let mut sides: Vec<Option<AgreementStatus>> = AgreementStatus::VARIANTS
        .iter()
        .copied()
        .map(Some)
        .collect();
    sides.push(None);
    sides
}

fn side_text(copy: Option<AgreementStatus>) -> String {
    copy.map_or("none".to_string(), |s| s.to_string())
}

fn bump(map: &mut BTreeMap<String, u64>, key: String, by: u64) {
    *map.entry(key).or_default() += by;
}

/// The copies of each agreement handle after a step.
pub(crate) type Pairs = BTreeMap<String, (Option<AgreementStatus>, Option<AgreementStatus>)>;

impl Coverage {
    /// Counts the pairs seen after a step and the transitions from the step before.
    pub fn observe(&mut self, before: &Pairs, after: &Pairs) {
        for (handle, (sender, receiver)) in after {
            bump(&mut self.pairs, pair_text(*sender, *receiver), 1);
            let (was_sender, was_receiver) = before.get(handle).copied().unwrap_or((None, None));
            for (side, was, now) in [
                ("sender", was_sender, *sender),
                ("receiver", was_receiver, *receiver),
            ] {
                if was != now {
                    let key = format!("{side}: {} → {}", side_text(was), side_text(now));
                    bump(&mut self.transitions, key, 1);
                }
            }
        }
    }

    /// Counts the fault kinds that broke a message.
    pub fn faults(&mut self, fired: &BTreeMap<&'static str, u64>) {
        for (kind, count) in fired {
            bump(&mut self.faults_fired, (*kind).to_string(), *count);
        }
    }

    /// Counts what the scheduler did to messages and how ticket messages ended, from
    /// a run's trace.
    pub fn trace(&mut self, events: &[Event]) {
        for event in events {
            if let Some(delivery) = event.delivery
                && event.kind == EventKind::Request
            {
                bump(&mut self.faults_fired, delivery.to_string(), 1);
            }
            let ticket = event
                .path
                .as_deref()
                .is_some_and(|p| p.starts_with("/sharing/tickets"));
            if event.kind != EventKind::Response
                || event.surface != Some(Surface::Partner)
                || !ticket
            {
                continue;
            }
            let method = event.method.as_deref().unwrap_or("?");
            let outcome = match event.status {
                Some(status) if status < 300 => "delivered".to_string(),
                Some(status) => format!("refused {status}"),
                None => "failed".to_string(),
            };
            bump(&mut self.ticket_sync, format!("{method} {outcome}"), 1);
        }
    }

    /// Counts one schedule's actions (by key) and its orders.
    pub fn schedule(&mut self, keys: &[String], orders: u64) {
        self.schedules += 1;
        *self.orders.entry(orders).or_default() += 1;
        for key in keys {
            bump(&mut self.actions, key.clone(), 1);
        }
    }

    /// Adds another run's counts.
    pub fn merge(&mut self, other: &Coverage) {
        for (mine, theirs) in [
            (&mut self.pairs, &other.pairs),
            (&mut self.transitions, &other.transitions),
            (&mut self.faults_fired, &other.faults_fired),
            (&mut self.actions, &other.actions),
            (&mut self.ticket_sync, &other.ticket_sync),
        ] {
            for (key, count) in theirs {
                bump(mine, key.clone(), *count);
            }
        }
        self.schedules += other.schedules;
        for (orders, count) in &other.orders {
            *self.orders.entry(*orders).or_default() += count;
        }
    }

    /// The pair grid: one row per sender status (then `none`), one cell per receiver
    /// status (then `none`), each marked allowed or not and with its count.
    pub fn grid(&self) -> Vec<Vec<Cell>> {
        sides()
            .into_iter()
            .map(|sender| {
                sides()
                    .into_iter()
                    .map(|receiver| Cell {
                        sender: side_text(sender),
                        receiver: side_text(receiver),
                        allowed: consistency::check(sender, receiver).is_ok(),
                        seen: self
                            .pairs
                            .get(&pair_text(sender, receiver))
                            .copied()
                            .unwrap_or(0),
                    })
                    .collect()
            })
            .collect()
    }

    /// Actions of the language explore draws that this run never drew.
    pub fn not_drawn(&self) -> Vec<&'static str> {
        super::language::DRAWN
            .iter()
            .copied()
            .filter(|key| !self.actions.contains_key(*key))
            .collect()
    }

    /// The summary a person reads: the grid as text (`A` allowed, `x` not allowed;
    /// a count where reached, `·` where never), then the other tallies.
    pub fn human(&self) -> String {
        let abbreviation = |text: &str| -> String { text.chars().take(8).collect() };
        let mut text = String::from(
            "coverage: pairs seen after a step (rows: sender, columns: receiver; A allowed, x not allowed, · never reached)\n",
        );
        text.push_str(&format!("{:>10}", ""));
        for side in sides() {
            text.push_str(&format!(" {:>10}", abbreviation(&side_text(side))));
        }
        text.push('\n');
        for row in self.grid() {
            text.push_str(&format!("{:>10}", abbreviation(&row[0].sender)));
            for cell in row {
                let mark = if cell.allowed { "A" } else { "x" };
                let count = if cell.seen == 0 {
                    "·".to_string()
                } else {
                    cell.seen.to_string()
                };
                text.push_str(&format!(" {:>10}", format!("{mark} {count}")));
            }
            text.push('\n');
        }
        let list = |map: &BTreeMap<String, u64>| -> String {
            if map.is_empty() {
                return "none".to_string();
            }
            map.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "  transitions ({}): {}\n",
            self.transitions.len(),
            list(&self.transitions)
        ));
        text.push_str(&format!("  faults fired: {}\n", list(&self.faults_fired)));
        text.push_str(&format!("  actions drawn: {}\n", list(&self.actions)));
        let missing = self.not_drawn();
        if !missing.is_empty() {
            text.push_str(&format!("  actions never drawn: {}\n", missing.join(", ")));
        }
        text.push_str(&format!("  ticket sync: {}\n", list(&self.ticket_sync)));
        let orders: Vec<String> = self
            .orders
            .iter()
            .map(|(orders, schedules)| format!("{schedules} schedule(s) × {orders}"))
            .collect();
        text.push_str(&format!("  orders run: {}\n", orders.join(", ")));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgreementStatus::*;

    #[test]
    fn pairs_and_transitions_are_counted_and_merge_by_adding() {
        let mut coverage = Coverage::default();
        let before: Pairs = [("a1".to_string(), (Some(Pending), Some(Pending)))].into();
        let after: Pairs = [("a1".to_string(), (Some(Accepted), Some(Pending)))].into();
        coverage.observe(&Pairs::new(), &before);
        coverage.observe(&before, &after);
        assert_eq!(coverage.pairs["pending/pending"], 1);
        assert_eq!(coverage.pairs["accepted/pending"], 1);
        assert_eq!(coverage.transitions["sender: pending → accepted"], 1);
        assert_eq!(coverage.transitions["receiver: none → pending"], 1);
        let mut twice = coverage.clone();
        twice.merge(&coverage);
        assert_eq!(twice.pairs["accepted/pending"], 2);
        let grid = coverage.grid();
        let cell = grid
            .iter()
            .flatten()
            .find(|c| c.sender == "accepted" && c.receiver == "pending")
            .unwrap();
        assert!(!cell.allowed);
        assert_eq!(cell.seen, 1);
        let inactive_none = grid
            .iter()
            .flatten()
            .find(|c| c.sender == "inactive" && c.receiver == "none")
            .unwrap();
        assert!(inactive_none.allowed);
        assert_eq!(inactive_none.seen, 0);
        let text = coverage.human();
        assert!(text.contains("x 1"), "{text}");
        assert!(text.contains("A ·"), "{text}");
    }
}
