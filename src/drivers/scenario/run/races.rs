//! The runner's race steps: a `concurrently` group driven turn by turn by the world's
//! scheduler, `release` (a group of its own), the link controls, and the checks of a
//! race's end state (`converged`, `in_flight`).
//!
//! The driver runs every started action as a future of this task and, whenever all of
//! them are blocked at the scheduler's gate or finished, asks the scheduler what moves
//! next. The scheduler draws that from the seed, so no timing decides the interleaving.

use super::copies::describe;
use super::{AgreementHandle, Problem, Runner, Session, TicketHandle};
use crate::core::consistency;
use crate::core::trace::lock;
use crate::core::transport::scheduler::HeldMessage;
use crate::core::transport::scheduler::{Link, Scheduler, Turn};
use crate::drivers::scenario::format::{self, Action, Step};
use crate::drivers::scenario::outcome::FieldDiff;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// What a unit of a group left behind when it finished.
enum Done {
    /// One of the group's actions, with the handles it may have defined.
    Action {
        index: usize,
        result: Result<(), Problem>,
        agreements: BTreeMap<String, AgreementHandle>,
        tickets: BTreeMap<String, TicketHandle>,
    },
    /// A released message delivered for a sender that stopped waiting.
    Orphan,
}

/// A learner's choices of which held message goes next, and what was held when they ran
/// out (see `RunSettings::choices`).
#[derive(Debug)]
pub(super) struct Choices {
    picks: Mutex<VecDeque<usize>>,
    paused: Mutex<Option<Vec<HeldMessage>>>,
}

impl Choices {
    pub(super) fn new(picks: &[usize]) -> Choices {
        Choices {
            picks: Mutex::new(picks.iter().copied().collect()),
            paused: Mutex::new(None),
        }
    }

    /// What was held when the run paused for the next choice.
    pub(super) fn paused(&self) -> Option<Vec<HeldMessage>> {
        lock(&self.paused).clone()
    }
}

/// Whether `step` is a `release` that names the message it delivers.
fn chosen_release(step: &Step) -> bool {
    matches!(&step.action, Action::Release(r) if r.message.is_some())
}

/// The order a group's releases may start in: those that name their message are the
/// author's (or learner's) chosen order, so they go first, in file order, and are never
/// drawn. When a learner chooses, the step's own plain releases give way.
fn release_order(group: &[Step], mut releases: Vec<usize>, learner: bool) -> Vec<usize> {
    releases.sort_by_key(|&i| !chosen_release(&group[i]));
    if learner {
        releases.retain(|&i| chosen_release(&group[i]));
    }
    releases
}

/// The scenario's words for one direction of a link.
pub(super) fn link(from: &format::Ref, to: &format::Ref) -> Link {
    Link {
        from: from.get_ref().clone(),
        to: to.get_ref().clone(),
    }
}

impl<'a> Runner<'a> {
    fn scheduler(&self) -> Arc<Scheduler> {
        self.world.services().transport.scheduler().clone()
    }

    /// [`Runner::step`] behind a box that says it is `Send`: a group's actions are
    /// steps, so the step future contains itself, and only a named type breaks the
    /// cycle for the compiler (explore runs schedules on a multi-threaded runtime).
    fn step_boxed<'s>(&'s mut self, step: &'s Step) -> BoxFuture<'s, Result<(), Problem>> {
        Box::pin(self.step(step))
    }

    /// A runner for one action of a group: same world, a copy of the handles.
    fn fork(&self) -> Runner<'a> {
        let session = Session {
            agreements: self.session.agreements.clone(),
            tickets: self.session.tickets.clone(),
            handles_by_uuid: self.session.handles_by_uuid.clone(),
            ..Session::default()
        };
        Runner {
            in_group: true,
            read_stamps: self.read_stamps.clone(),
            answers: self.answers.clone(),
            ..Runner::new(self.world, session)
        }
    }

    /// Runs a race step: a `concurrently` group, a link control (`hold`, `duplicate`,
    /// `lose_reply`) or a `release`.
    pub(super) async fn race_step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Concurrently(format::Concurrently(group)) => self.concurrently(group).await,
            Action::Hold(_) | Action::Duplicate(_) | Action::LoseReply(_) => {
                self.control_link(&step.action);
                Ok(())
            }
            Action::Release(release) => self.release(release).await,
            other => Err(Problem::misrouted(other, "race")),
        }
    }

    /// The link controls: `hold`, `duplicate`, `lose_reply`.
    pub(super) fn control_link(&self, action: &Action) {
        let scheduler = self.scheduler();
        match action {
            Action::Hold(target) => scheduler.hold(&link(&target.from, &target.to)),
            Action::Duplicate(target) => scheduler.duplicate(&link(&target.from, &target.to)),
            Action::LoseReply(target) => scheduler.lose_reply(&link(&target.from, &target.to)),
            _ => {}
        }
    }

    /// `release`: inside a group it hands the held messages to the group's driver; alone
    /// it is a group of its own, driven until every released message was delivered.
    pub(super) async fn release(&mut self, release: &format::Release) -> Result<(), Problem> {
        let scheduler = self.scheduler();
        let target = link(&release.from, &release.to);
        let let_go = |scheduler: &Scheduler| match &release.message {
            Some(position) => scheduler.release_message(&target, *position.get_ref() as usize),
            None => scheduler
                .release(&target, release.order.unwrap_or_default())
                .map(|_| ()),
        };
        if self.in_group {
            return let_go(&scheduler).map_err(|e| Problem::new(e.to_string()));
        }
        scheduler
            .begin_round()
            .map_err(|e| Problem::new(e.to_string()))?;
        let result = match let_go(&scheduler) {
            Ok(()) => self.drive(&scheduler, &[]).await,
            Err(error) => Err(Problem::new(error.to_string())),
        };
        scheduler.end_round();
        result
    }

    /// `concurrently`: starts the group's actions in an order drawn from the seed and
    /// lets their messages cross at the scheduler's gate.
    pub(super) async fn concurrently(&mut self, group: &[Step]) -> Result<(), Problem> {
        // Every safe_update in the group read the ticket before any of them saved.
        self.read_stamps = self.stamps_read_by(group).await?;
        let scheduler = self.scheduler();
        scheduler
            .begin_round()
            .map_err(|e| Problem::new(e.to_string()))?;
        let result = self.drive(&scheduler, group).await;
        scheduler.end_round();
        self.read_stamps.clear();
        result
    }

    /// Every chain waits on a held message: release the learner's next choice (true), or
    /// pause the run when the choices ran out (an error the outcome turns into a pause).
    /// False when nothing is held (the chains wait on something else).
    fn learner_chooses(&self, scheduler: &Scheduler, choices: &Choices) -> Result<bool, Problem> {
        let held = scheduler.held();
        if held.is_empty() {
            return Ok(false);
        }
        let Some(pick) = lock(&choices.picks).pop_front() else {
            let count = held.len();
            *lock(&choices.paused) = Some(held);
            return Err(Problem::new(format!(
                "paused: {count} message(s) are held; choose which one is delivered next"
            )));
        };
        let Some(message) = pick.checked_sub(1).and_then(|index| held.get(index)) else {
            return Err(Problem::new(format!(
                "choice {pick}: {} message(s) are held, so the choice must be 1 to {}",
                held.len(),
                held.len()
            )));
        };
        self.world.trace().world(
            "scenario",
            format!(
                "the learner delivers {} next: release = {{ from = \"{}\", to = \"{}\", message = {} }}",
                message.description, message.from, message.to, message.position
            ),
        );
        let target = Link {
            from: message.from.clone(),
            to: message.to.clone(),
        };
        scheduler
            .release_message(&target, message.position)
            .map_err(|e| Problem::new(e.to_string()))?;
        Ok(true)
    }

    /// Runs the group's units one chain at a time until all are finished.
    async fn drive(&mut self, scheduler: &Scheduler, group: &[Step]) -> Result<(), Problem> {
        let (releases, actions): (Vec<usize>, Vec<usize>) =
            (0..group.len()).partition(|&i| matches!(group[i].action, Action::Release(_)));
        let chosen = |i: &usize| chosen_release(&group[*i]);
        let releases = release_order(group, releases, self.choices.is_some());
        let mut unstarted = actions;
        let mut unstarted_releases = releases;
        let mut results: Vec<Option<Result<(), Problem>>> = group.iter().map(|_| None).collect();
        let mut running: FuturesUnordered<BoxFuture<'_, Done>> = FuturesUnordered::new();
        let transport = self.world.services().transport.clone();
        let mut learned = Vec::new();
        let mut finish = |done: Done, learned: &mut Vec<_>| {
            if let Done::Action {
                index,
                result,
                agreements,
                tickets,
            } = done
            {
                results[index] = Some(result);
                learned.push((agreements, tickets));
            }
            scheduler.finished();
        };
        loop {
            let changed = scheduler.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !scheduler.quiescent() {
                tokio::select! {
                    Some(done) = running.next(), if !running.is_empty() => finish(done, &mut learned),
                    _ = &mut changed => {}
                }
                continue;
            }
            let releasable = match unstarted_releases.first() {
                Some(first) if chosen(first) => 1,
                _ => unstarted_releases.len(),
            };
            match scheduler.next_turn(unstarted.len(), releasable) {
                Turn::Start { pick, choices } => {
                    let index = if pick < unstarted.len() {
                        unstarted.remove(pick)
                    } else {
                        unstarted_releases.remove(pick - unstarted.len())
                    };
                    if choices > 1 {
                        self.world.trace().world(
                            "scenario",
                            format!(
                                "the scheduler starts the group's `{}` (line {}) now ({} of {choices} choices)",
                                group[index].action.key(),
                                group[index].position.line,
                                pick + 1
                            ),
                        );
                    }
                    let mut sub = self.fork();
                    let step = &group[index];
                    running.push(Box::pin(async move {
                        let result = sub.step_boxed(step).await;
                        Done::Action {
                            index,
                            result,
                            agreements: sub.session.agreements,
                            tickets: sub.session.tickets,
                        }
                    }));
                }
                Turn::Fired => {}
                Turn::Deliver(message) => {
                    let transport = transport.clone();
                    running.push(Box::pin(async move {
                        transport.deliver_orphan(&message).await;
                        Done::Orphan
                    }));
                }
                Turn::Idle if running.is_empty() => break,
                Turn::Idle => {
                    if let Some(choices) = &self.choices
                        && self.learner_chooses(scheduler, choices)?
                    {
                        continue;
                    }
                    // Every chain is blocked on a held message: wait for its timeout.
                    tokio::select! {
                        Some(done) = running.next() => finish(done, &mut learned),
                        _ = &mut changed => {}
                    }
                }
            }
        }
        drop(running);
        for (agreements, tickets) in learned {
            for (name, handle) in agreements {
                self.session.agreements.entry(name).or_insert(handle);
            }
            for (name, handle) in tickets {
                self.session.tickets.entry(name).or_insert(handle);
            }
        }
        for (step, result) in group.iter().zip(results) {
            if let Some(Err(problem)) = result {
                return Err(Problem {
                    message: format!(
                        "in the group, the `{}` at line {} failed: {}",
                        step.action.key(),
                        step.position.line,
                        problem.message
                    ),
                    diffs: problem.diffs,
                });
            }
        }
        Ok(())
    }

    /// `expect = { agreement, status = [..], converged }`.
    pub(super) fn expect_pair(&self, check: &format::PairCheck) -> Result<(), Problem> {
        let name = check.agreement.get_ref();
        let known = self.handle(&check.agreement)?;
        let (sender, receiver) = self.copy_statuses(&check.agreement)?;
        let mut diffs = Vec::new();
        if sender.is_none() && receiver.is_none() && !check.statuses.is_empty() {
            diffs.push(FieldDiff {
                field: "copies".into(),
                expected: "at least one copy".into(),
                actual: "neither account holds one".into(),
            });
        }
        if !check.statuses.is_empty() {
            let allowed: Vec<String> = check.statuses.iter().map(|s| s.to_string()).collect();
            for (side, account, copy) in [
                ("sender", &known.sender, sender),
                ("receiver", &known.receiver, receiver),
            ] {
                if let Some(status) = copy
                    && !check.statuses.contains(&status)
                {
                    diffs.push(FieldDiff {
                        field: format!("{side} ({account}) status"),
                        expected: format!("one of {}", allowed.join(", ")),
                        actual: status.to_string(),
                    });
                }
            }
        }
        if let Some(wanted) = check.converged {
            let in_flight = self.scheduler().uuids_in_flight().contains(&known.uuid);
            let agree = consistency::check(sender, receiver).is_ok();
            let converged = agree && !in_flight;
            if converged != wanted {
                let actual = match (agree, in_flight) {
                    (true, false) => "converged".to_string(),
                    (_, true) => format!(
                        "not converged: a message about it is still in flight ({} ↔ {})",
                        describe(sender),
                        describe(receiver)
                    ),
                    (false, false) => format!(
                        "diverged for good: {} ↔ {} and nothing in flight can repair it",
                        describe(sender),
                        describe(receiver)
                    ),
                };
                diffs.push(FieldDiff {
                    field: "converged".into(),
                    expected: if wanted {
                        "both copies agree, nothing in flight".into()
                    } else {
                        "the copies do not (yet) agree".into()
                    },
                    actual,
                });
            }
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(Problem {
                message: format!(
                    "the copies of agreement {name:?} ({} ↔ {}) are not as expected",
                    known.sender, known.receiver
                ),
                diffs,
            })
        }
    }

    /// `expect = { in_flight = { from, to, count } }`.
    pub(super) fn expect_in_flight(&self, check: &format::InFlightCheck) -> Result<(), Problem> {
        let target = link(&check.from, &check.to);
        let count = self.scheduler().in_flight(&target);
        if count == check.count as usize {
            return Ok(());
        }
        Err(Problem {
            message: format!("{count} message(s) are held in flight on {target}"),
            diffs: vec![FieldDiff {
                field: "in_flight".into(),
                expected: check.count.to_string(),
                actual: count.to_string(),
            }],
        })
    }
}
