//! What running a scenario produced, as plain data: the verdict, the failing step with
//! a field-by-field diff, the trace, and per-step snapshots. Every report format and
//! the exit code are derived from these values; a failed expectation is an outcome,
//! not an error.

use crate::core::trace::{Event, EventKind};
use crate::core::transport::scheduler::HeldMessage;
use serde::Serialize;
use std::time::Duration;

/// The result of one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The scenario's `name`.
    pub name: String,
    /// The file it came from, as given on the command line.
    pub file: String,
    /// The seed the world ran with.
    pub seed: u64,
    /// The network the world ran on.
    pub network: crate::core::network::NetworkKind,
    /// Wall time of the run (normalised away in golden files).
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// Why it failed; None when it passed.
    pub failure: Option<Failure>,
    /// What each step did, in order (steps after a failure are not run).
    pub steps: Vec<StepRecord>,
    /// The world's whole trace.
    pub trace: Vec<Event>,
    /// Where a lesson's run stopped for the learner to choose which held message goes
    /// next (see `RunSettings::choices`); None for every other run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<Paused>,
    /// The last step whose tables were kept whole, when later steps' were left out to
    /// keep a long run's reports linear in its steps (see [`MAX_TABLE_ROWS`]); only the
    /// newest step after it keeps its tables (the state at the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables_left_out_after: Option<usize>,
}

/// Rows of per-step tables (agreements and tickets of every account, summed over the
/// steps) a run keeps for `explain` and the HTML report. A run whose state grows with
/// its steps would otherwise keep, and print, a quadratic number of rows.
pub const MAX_TABLE_ROWS: usize = 50_000;

impl Outcome {
    /// Records a step's tables, within [`MAX_TABLE_ROWS`]: past it, only the newest
    /// step keeps its tables.
    pub fn keep_tables(
        &mut self,
        number: usize,
        tables: Vec<AccountSnapshot>,
        kept_rows: &mut usize,
    ) -> Vec<AccountSnapshot> {
        let rows: usize = tables
            .iter()
            .map(|a| a.agreements.len() + a.tickets.len())
            .sum();
        if self.tables_left_out_after.is_none() && *kept_rows + rows <= MAX_TABLE_ROWS {
            *kept_rows += rows;
            return tables;
        }
        let after = *self
            .tables_left_out_after
            .get_or_insert(number.saturating_sub(1));
        if let Some(last) = self.steps.last_mut()
            && last.number > after
        {
            last.accounts = Vec::new();
        }
        tables
    }
}

/// A run stopped mid-step with messages held, waiting for a learner's choice.
#[derive(Clone, Debug, Serialize)]
pub struct Paused {
    /// The step (from 1) whose actions wait on the held messages.
    pub step: usize,
    /// What is held, link by link, oldest first: the choices.
    pub held: Vec<HeldMessage>,
}

impl Outcome {
    /// Whether every step ran and every expectation held.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// The trace events `step` caused, in order: what every per-step view shows.
    pub fn step_events<'a>(&'a self, step: &StepRecord) -> impl Iterator<Item = &'a Event> {
        let (first, last) = (step.first_event, step.last_event);
        self.trace
            .iter()
            .filter(move |e| e.seq >= first && e.seq <= last)
    }

    /// Everyone who sends, answers or decides in the trace, in order of first
    /// appearance: the lifelines of every sequence diagram.
    pub fn participants(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for event in &self.trace {
            let names: &[&String] = match event.kind {
                EventKind::Request | EventKind::Response => &[&event.from, &event.to],
                EventKind::Decision => &[&event.from],
                _ => &[],
            };
            for name in names {
                if !seen.contains(name) {
                    seen.push((*name).clone());
                }
            }
        }
        seen
    }
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

/// Why a scenario failed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// 1-based number of the failing step (0: before any step, e.g. the world did not start).
    pub step: usize,
    /// The step's action key (`expect`, `invite`…).
    pub action: String,
    /// `file:line` of the step.
    pub location: String,
    /// What went wrong, as a sentence.
    pub message: String,
    /// Expected vs actual, field by field, when an expectation failed.
    pub diffs: Vec<FieldDiff>,
}

/// One field that did not match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// The field (`status`, `type`, `http status`…).
    pub field: String,
    /// What the scenario expected.
    pub expected: String,
    /// What the account showed.
    pub actual: String,
}

/// What one step did.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    /// 1-based step number.
    pub number: usize,
    /// The action key.
    pub action: String,
    /// `file:line` of the step.
    pub location: String,
    /// The step's narration.
    pub note: Option<String>,
    /// Sequence numbers of the trace events it caused: `first..=last` (empty when first > last).
    pub first_event: u64,
    /// See `first_event`.
    pub last_event: u64,
    /// Each account's agreements after the step.
    pub accounts: Vec<AccountSnapshot>,
}

/// An account's agreements at one moment, for `explain`'s tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSnapshot {
    /// The account.
    pub subdomain: String,
    /// Its agreement copies.
    pub agreements: Vec<AgreementRow>,
    /// Its tickets.
    pub tickets: Vec<TicketRow>,
}

/// One ticket copy, as a table row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TicketRow {
    /// The scenario's handle for it, when it has one.
    pub handle: Option<String>,
    /// Local id.
    pub id: u64,
    /// Its subject.
    pub subject: String,
    /// Its status.
    pub status: String,
    /// The agreements it travels over (handles, or `agreement N`).
    pub shared_with: Vec<String>,
    /// How many comments it holds.
    pub comments: usize,
    /// Whether it was unshared by its sender and no longer syncs.
    pub orphan: bool,
}

/// One agreement copy, as a table row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgreementRow {
    /// The scenario's handle for it, when it has one.
    pub handle: Option<String>,
    /// Local id.
    pub id: u64,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Its status.
    pub status: String,
    /// The partner.
    pub remote_subdomain: Option<String>,
    /// Its name.
    pub name: String,
    /// The protocol uuid both copies share, so reports can pair the two copies of an
    /// agreement that has no handle (in memory only: not part of any report format).
    #[serde(skip)]
    pub uuid: String,
}
