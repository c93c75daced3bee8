//! A hook that lets another layer (the explorer) look at the world after every step
//! instead of the runner's own verdicts. With a [`Watcher`] set, a step whose call is
//! refused and a divergence nobody asserted do not end the run: they are handed to the
//! watcher, which decides whether something is wrong and may stop the run with its own
//! message. Everything else (rendering, parsing, running each step) stays the runner's.

use super::{Problem, RunSettings, Runner};
use crate::core::account::Account;
use crate::drivers::scenario::format::Step;
use crate::world::World;
use std::fmt;
use std::sync::Arc;

/// What the watcher sees after one step.
pub struct StepView<'a> {
    /// 1-based step number.
    pub number: usize,
    /// How many steps the scenario has, so a watcher knows when the run ends.
    pub total: usize,
    /// The step's action key.
    pub action: &'static str,
    /// The world, for reading every account's state.
    pub world: &'a World,
    /// Every agreement handle defined so far: (handle, sender, receiver, uuid).
    pub agreements: Vec<(String, String, String, String)>,
    /// Every ticket handle defined so far: (handle, origin account, uuid).
    pub tickets: Vec<(String, String, String)>,
    /// The HTTP status of every REST call the step made, in order.
    pub answers: Vec<u16>,
    /// Why the step did not do what it says (refused, or it names a copy that does
    /// not exist); None when it did.
    pub refusal: Option<String>,
    /// When surfaces are checked: why a REST listing differs from the state.
    pub surface_mismatch: Option<String>,
}

impl StepView<'_> {
    /// Every account of the world.
    pub fn accounts(&self) -> Vec<Arc<Account>> {
        self.world.accounts()
    }
}

/// Looks at the world after each step; `Err(message)` stops the run and becomes the
/// outcome's failure.
pub trait StepWatcher: Send + Sync {
    /// Called after every step, once the runner's own checks have run.
    fn after_step(&self, view: &StepView<'_>) -> Result<(), String>;
}

/// A shared [`StepWatcher`], carried by `RunSettings`.
#[derive(Clone)]
pub struct Watcher(pub Arc<dyn StepWatcher>);

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Watcher")
    }
}

impl Runner<'_> {
    /// The runner's checks under a watcher: the step's own result, the divergence
    /// bookkeeping (which still writes its trace events) and the surface check are
    /// handed to the watcher, whose verdict alone can end the run.
    pub(super) async fn watched(
        &mut self,
        watcher: &Watcher,
        settings: &RunSettings,
        result: Result<(), Problem>,
        number: usize,
        total: usize,
        step: &Step,
    ) -> Result<(), Problem> {
        let refusal = result.err().map(|problem| describe_problem(&problem));
        let _ = self.check_consistency(number, step);
        let surface_mismatch = if settings.check_surfaces {
            self.check_surfaces(number)
                .await
                .err()
                .map(|problem| describe_problem(&problem))
        } else {
            None
        };
        let answers = std::mem::take(&mut *crate::core::trace::lock(&self.answers));
        let view = StepView {
            number,
            total,
            action: step.action.key(),
            world: self.world,
            agreements: self
                .session
                .agreements
                .iter()
                .map(|(name, h)| {
                    (
                        name.clone(),
                        h.sender.clone(),
                        h.receiver.clone(),
                        h.uuid.clone(),
                    )
                })
                .collect(),
            tickets: self
                .session
                .tickets
                .iter()
                .map(|(name, t)| (name.clone(), t.origin.clone(), t.uuid.clone()))
                .collect(),
            answers,
            refusal,
            surface_mismatch,
        };
        watcher.0.after_step(&view).map_err(Problem::new)
    }
}

/// A problem as one line: its message and its field differences.
fn describe_problem(problem: &Problem) -> String {
    let mut text = problem.message.clone();
    for diff in &problem.diffs {
        text.push_str(&format!(
            "; {}: expected {}, got {}",
            diff.field, diff.expected, diff.actual
        ));
    }
    text
}
