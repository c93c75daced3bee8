//! Steps on a world that keeps running: the runner's memory between steps (handles,
//! divergences) kept outside one scenario run, so `serve` can take steps call after call
//! from its control API, or run a scenario file's steps and keep serving that world.
//! Each step runs through the same code as in a scenario file.

use super::{AgreementHandle, Runner, TicketHandle};
use crate::core::trace::{Event, EventDraft, EventKind, Trace};
use crate::drivers::scenario::format::Step;
use crate::drivers::scenario::outcome::FieldDiff;
use crate::world::World;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the runner remembers between steps: the handles it has learned and its
/// divergence bookkeeping. A file's run owns one; a world that takes steps over time
/// (`serve`) keeps one from call to call.
#[derive(Debug, Default)]
pub struct Session {
    pub(super) agreements: BTreeMap<String, AgreementHandle>,
    pub(super) tickets: BTreeMap<String, TicketHandle>,
    /// Agreement handle by uuid: a step's changed copies are re-checked by handle.
    pub(super) handles_by_uuid: HashMap<String, String>,
    /// Handles whose copies disagreed after the last step.
    pub(super) diverged: BTreeSet<String>,
    /// How each of those disagrees, for the failure's diffs.
    pub(super) divergence_details: BTreeMap<String, FieldDiff>,
    /// Handles whose copies disagree only while a message about them is in flight.
    pub(super) transient: BTreeSet<String>,
    /// Divergences not yet asserted, with the step that caused them.
    pub(super) unasserted: BTreeMap<String, usize>,
    /// Where each account stood when its REST listings last matched its state.
    pub(super) surfaces_checked: BTreeMap<String, super::surfaces::Checked>,
    /// Steps run so far in this world, to number divergences like a file's steps.
    pub(super) steps_run: usize,
}

/// What one step did on a live world: passed, or why not, with the trace range it wrote.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    /// The step's action key.
    pub action: String,
    /// Whether the step did what it asked and every expectation held.
    pub passed: bool,
    /// Why it failed, as a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Expected vs actual, field by field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<FieldDiff>,
    /// First journal event the step recorded (`last_event + 1` when it recorded none).
    pub first_event: u64,
    /// Last journal event when the step ended.
    pub last_event: u64,
}

impl StepResult {
    /// The trace events the step caused, in order, while `trace` still keeps them.
    pub fn events(&self, trace: &Trace) -> Vec<Event> {
        let mut events = trace.events_since(self.first_event.saturating_sub(1));
        events.retain(|e| e.seq <= self.last_event);
        events
    }
}

/// A handle as it is kept between calls and in snapshots: the agreement's two accounts
/// and its uuid, or the ticket's account and uuid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HandleRecord {
    /// The agreement's sender, or the ticket's account.
    pub account: String,
    /// The agreement's receiver (agreements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// The protocol uuid both copies share.
    pub uuid: String,
}

/// Every handle of a session, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Handles {
    /// Agreement handles (`invite … as`).
    #[serde(default)]
    pub agreements: BTreeMap<String, HandleRecord>,
    /// Ticket handles (`ticket … as`).
    #[serde(default)]
    pub tickets: BTreeMap<String, HandleRecord>,
}

impl Session {
    /// The agreement handles defined so far, each with its sender and receiver.
    pub fn agreement_links(&self) -> Vec<(String, (String, String))> {
        self.agreements
            .iter()
            .map(|(name, h)| (name.clone(), (h.sender.clone(), h.receiver.clone())))
            .collect()
    }

    /// Names of the ticket handles defined so far.
    pub fn ticket_names(&self) -> Vec<String> {
        self.tickets.keys().cloned().collect()
    }

    /// Every handle, for snapshots.
    pub fn handles(&self) -> Handles {
        Handles {
            agreements: self
                .agreements
                .iter()
                .map(|(name, h)| {
                    let record = HandleRecord {
                        account: h.sender.clone(),
                        receiver: Some(h.receiver.clone()),
                        uuid: h.uuid.clone(),
                    };
                    (name.clone(), record)
                })
                .collect(),
            tickets: self
                .tickets
                .iter()
                .map(|(name, h)| {
                    let record = HandleRecord {
                        account: h.origin.clone(),
                        receiver: None,
                        uuid: h.uuid.clone(),
                    };
                    (name.clone(), record)
                })
                .collect(),
        }
    }

    /// A session that knows `handles` (restored from a snapshot) and nothing else.
    pub fn from_handles(handles: &Handles) -> Session {
        let handles_by_uuid = handles
            .agreements
            .iter()
            .map(|(name, record)| (record.uuid.clone(), name.clone()))
            .collect();
        Session {
            handles_by_uuid,
            agreements: handles
                .agreements
                .iter()
                .map(|(name, r)| {
                    let handle = AgreementHandle {
                        sender: r.account.clone(),
                        receiver: r.receiver.clone().unwrap_or_default(),
                        uuid: r.uuid.clone(),
                    };
                    (name.clone(), handle)
                })
                .collect(),
            tickets: handles
                .tickets
                .iter()
                .map(|(name, r)| {
                    let handle = TicketHandle {
                        origin: r.account.clone(),
                        uuid: r.uuid.clone(),
                    };
                    (name.clone(), handle)
                })
                .collect(),
            ..Session::default()
        }
    }

    /// Runs one step against `world`, as the scenario runner would at this point of a
    /// file, then checks that both copies of every agreement agree.
    pub async fn run_step(&mut self, world: &World, step: &Step) -> StepResult {
        self.steps_run += 1;
        let number = self.steps_run;
        if let Some(note) = &step.note {
            world.trace().record(
                EventKind::Note,
                EventDraft {
                    from: "scenario".to_string(),
                    to: "scenario".to_string(),
                    detail: note.clone(),
                    ..EventDraft::default()
                },
            );
        }
        let first_event = world.trace().last_seq() + 1;
        // The consistency check re-checks only agreements whose copies changed.
        for account in world.accounts() {
            account.with_state(|state| state.watch_changes());
        }
        let mut runner = Runner::new(world, std::mem::take(self));
        let result = runner.step(step).await;
        // The file runner's REST-listing check (`surfaces`) is left out: a live world's
        // own clients may change an account between its two reads.
        let result = result.and_then(|()| runner.check_consistency(number, step));
        *self = runner.session;
        let (message, diffs) = match result {
            Ok(()) => (None, Vec::new()),
            Err(problem) => (Some(problem.message), problem.diffs),
        };
        StepResult {
            action: step.action.key().to_string(),
            passed: message.is_none(),
            message,
            diffs,
            first_event,
            last_event: world.trace().last_seq(),
        }
    }
}
