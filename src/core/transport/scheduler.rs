//! The transport's gate, which is also the world's scheduler: every partner message
//! passes it before it is sent. Per link (sender → receiver) it can hold messages in
//! flight until `release`, deliver the next message twice, or lose the next reply; and
//! while a `concurrently` group runs, it decides which of the group's parked messages or
//! not-yet-started actions goes next, drawing from an RNG seeded by the world's seed.
//!
//! Determinism comes from letting one chain of work run at a time: a group's action or
//! message runs until every chain is blocked at the gate or finished (the group is
//! quiescent), then the next turn is drawn. No sleep decides an order, so the same file
//! and seed give the same interleaving and the same trace.

use super::Message;

mod held;
use crate::core::trace::{
    Delivery, EventDraft, EventKind, Surface, Text, Trace, lock, method_text,
};
pub use held::HeldMessage;
use rand::RngExt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// Mixed into the world's seed so that scheduling draws never shift the access keys
/// the accounts draw from the world's main RNG stream.
const SCHEDULE_STREAM: u64 = 0x5c4e_d01e_0000_0001;

/// A one-way link between two accounts, named as the scenario names them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    /// The sending account.
    pub from: String,
    /// The receiving account.
    pub to: String,
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {}", self.from, self.to)
    }
}

/// The order in which `release` delivers what a link holds.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum ReleaseOrder {
    /// Oldest first, as they were sent.
    #[default]
    Fifo,
    /// Newest first.
    Reverse,
    /// An order drawn from the world's seed.
    Seeded,
}

/// What the gate decided for a message that may now be sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// It was held or parked first (its request is marked released).
    pub released: bool,
    /// Send it a second time after the first (the link duplicates it).
    pub duplicate: bool,
    /// The receiver's reply is discarded and the sender sees the connection drop.
    pub lose_reply: bool,
    /// It was held while no group ran, so its sender is no chain of a group's driver (a
    /// client of `serve`): once delivered, the transport tells the gate
    /// ([`Scheduler::finished`]) so the `release` that let it go can go on.
    pub outside_round: bool,
}

/// The gate's answer to a sender.
#[derive(Debug)]
pub enum Pass {
    /// Send it now, as planned.
    Go(Plan),
    /// It was held past the sender's timeout: the sender gives up, the message stays
    /// in flight (a later `release` still delivers it).
    TimedOut,
}

/// What the driver of a group should do next (see [`Scheduler::next_turn`]).
#[derive(Debug)]
pub enum Turn {
    /// Start this not-yet-started action (an index into the driver's list), drawn
    /// among `choices` things that could move.
    Start {
        /// The action's index (unstarted actions first, then unstarted releases).
        pick: usize,
        /// How many things could have moved (1: there was no choice).
        choices: usize,
    },
    /// A parked message or a timed-out sender was let go: wait for quiescence again.
    Fired,
    /// Deliver a released message whose sender stopped waiting (no one else will).
    Deliver(Box<Message>),
    /// Nothing can move now: every chain is finished, or blocked until a timeout.
    Idle,
}

/// A message stopped at the gate, with the sender waiting on it (if still waiting).
struct Waiting {
    id: u64,
    /// The trace event that recorded it stopping at the gate.
    seq: u64,
    message: Message,
    link: Link,
    /// Lets the waiting sender go; None once the sender stopped waiting (its timeout).
    go: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct LinkState {
    holding: bool,
    held: VecDeque<Waiting>,
    duplicate: u32,
    lose_reply: u32,
}

impl LinkState {
    /// Whether the next message on the link is held, duplicated or loses its reply.
    fn acts(&self) -> bool {
        self.holding || self.duplicate > 0 || self.lose_reply > 0
    }
}

/// A `concurrently` group (or a `release` step) being driven to its end.
#[derive(Default)]
struct Round {
    /// Chains running now: started actions and let-go messages, minus those blocked.
    active: usize,
    /// Messages of the group parked at the gate, waiting for their turn.
    crossing: Vec<Waiting>,
    /// Messages a `release` let go, delivered one at a time in this order.
    released: VecDeque<Waiting>,
    /// Senders whose timeout fired while held, waiting for their turn to go on.
    resumes: VecDeque<oneshot::Sender<()>>,
}

struct State {
    links: BTreeMap<Link, LinkState>,
    round: Option<Round>,
    rng: ChaCha8Rng,
    next_id: u64,
    /// The choices to make instead of drawing them (a scenario's `orders`): the next
    /// pick at each choice point, 0 once they run out.
    script: Option<VecDeque<usize>>,
    /// Every choice point so far: (how many choices, which was taken).
    points: Vec<(usize, usize)>,
}

/// The choice-making part of the state, borrowed apart from the round.
struct Chooser<'a> {
    script: &'a mut Option<VecDeque<usize>>,
    rng: &'a mut ChaCha8Rng,
    points: &'a mut Vec<(usize, usize)>,
}

impl Chooser<'_> {
    /// One choice among `choices` (more than one): the script's next pick, or one drawn
    /// from the seed; recorded either way.
    fn choose(self, choices: usize) -> usize {
        let pick = match self.script {
            Some(script) => script.pop_front().unwrap_or(0).min(choices - 1),
            None => self.rng.random_range(0..choices),
        };
        self.points.push((choices, pick));
        pick
    }
}

impl State {
    fn chooser(&mut self) -> Chooser<'_> {
        Chooser {
            script: &mut self.script,
            rng: &mut self.rng,
            points: &mut self.points,
        }
    }
}

/// The gate every partner message of one world passes. Cheap to share behind an `Arc`.
pub struct Scheduler {
    state: Mutex<State>,
    changed: Notify,
    trace: Trace,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

/// Why a scheduler control could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `release` found nothing held on the link.
    #[error("nothing is held on {0} to release (hold the link first, and let a message reach it)")]
    NothingHeld(Link),
    /// A group started while another runs.
    #[error("a concurrently group is already running")]
    Busy,
    /// `release` asked for a message the link does not hold.
    #[error(
        "{link} holds {held} message(s); there is no message {position} to release (messages count from 1, oldest first)"
    )]
    NoSuchMessage {
        /// The link.
        link: Link,
        /// The position asked for.
        position: usize,
        /// How many it holds.
        held: usize,
    },
}

impl Scheduler {
    /// A gate with every link open, drawing its choices from `seed`.
    pub fn new(trace: Trace, seed: u64) -> Scheduler {
        Scheduler {
            state: Mutex::new(State {
                links: BTreeMap::new(),
                round: None,
                rng: ChaCha8Rng::seed_from_u64(seed ^ SCHEDULE_STREAM),
                next_id: 0,
                script: None,
                points: Vec::new(),
            }),
            changed: Notify::new(),
            trace,
        }
    }

    /// Messages on `link` now wait in flight until released.
    pub fn hold(&self, link: &Link) {
        lock(&self.state)
            .links
            .entry(link.clone())
            .or_default()
            .holding = true;
        self.trace.world(
            &link.to,
            format!("the link {link} holds messages in flight until `release`"),
        );
    }

    /// The next message on `link` is delivered twice.
    pub fn duplicate(&self, link: &Link) {
        lock(&self.state)
            .links
            .entry(link.clone())
            .or_default()
            .duplicate += 1;
        self.trace.world(
            &link.to,
            format!("the next message on {link} will be delivered twice"),
        );
    }

    /// The next message on `link` is processed but its reply never reaches the sender.
    pub fn lose_reply(&self, link: &Link) {
        lock(&self.state)
            .links
            .entry(link.clone())
            .or_default()
            .lose_reply += 1;
        self.trace.world(
            &link.to,
            format!("the reply to the next message on {link} will be lost"),
        );
    }

    /// How many messages are held in flight on `link`.
    pub fn in_flight(&self, link: &Link) -> usize {
        lock(&self.state)
            .links
            .get(link)
            .map_or(0, |state| state.held.len())
    }

    /// The agreement uuids that messages still in flight (held, parked or released but
    /// not yet sent) concern: their copies may disagree only for now.
    pub fn uuids_in_flight(&self) -> BTreeSet<String> {
        let state = lock(&self.state);
        let round = state
            .round
            .iter()
            .flat_map(|round| round.crossing.iter().chain(round.released.iter()));
        state
            .links
            .values()
            .flat_map(|link| link.held.iter())
            .chain(round)
            .filter_map(|waiting| agreement_uuid(&waiting.message))
            .collect()
    }

    /// The common case, an open link outside any group: true when the message goes as
    /// it is, with nothing to copy or record (its id is spent as the gate's would be).
    fn passes_open(&self, to: &str, message: &Message) -> bool {
        let mut state = lock(&self.state);
        let open = state.round.is_none()
            && !state.links.iter().any(|(link, link_state)| {
                link.to == to && *link.from == *message.from && link_state.acts()
            });
        if open {
            state.next_id += 1;
        }
        open
    }

    /// The sender's side of the gate: returns when `message` may be sent (or when its
    /// sender gives up at `timeout` while it is held).
    pub async fn pass(&self, to: &str, message: &Message, timeout: Duration) -> Pass {
        if self.passes_open(to, message) {
            return Pass::Go(Plan::default());
        }
        let link = Link {
            from: message.from.to_string(),
            to: to.to_string(),
        };
        let (id, receiver, held) = {
            let mut state = lock(&self.state);
            let id = state.next_id;
            state.next_id += 1;
            let in_round = state.round.is_some();
            let link_state = state.links.entry(link.clone()).or_default();
            let mut plan = Plan::default();
            if link_state.duplicate > 0 {
                link_state.duplicate -= 1;
                plan.duplicate = true;
            }
            if link_state.lose_reply > 0 {
                link_state.lose_reply -= 1;
                plan.lose_reply = true;
            }
            let (go, receiver) = oneshot::channel();
            let mut waiting = Waiting {
                id,
                seq: 0,
                message: message.clone(),
                link: link.clone(),
                go: Some(go),
            };
            let held = if link_state.holding {
                plan.outside_round = !in_round;
                let position = link_state.held.len() + 1;
                waiting.seq = self.record(
                    message,
                    &link,
                    Delivery::Held,
                    format!("held in flight on {link} (message {position} held there); the receiver has not seen it"),
                );
                link_state.held.push_back(waiting);
                true
            } else if let Some(round) = &mut state.round {
                let others = round.crossing.len();
                waiting.seq = self.record(
                    message,
                    &link,
                    Delivery::Crossing,
                    if others == 0 {
                        "in flight; the scheduler picks what goes next".to_string()
                    } else {
                        format!("in flight beside {others} other message(s); the seed picks which arrives first")
                    },
                );
                round.crossing.push(waiting);
                false
            } else {
                return Pass::Go(plan);
            };
            if let Some(round) = &mut state.round {
                round.active = round.active.saturating_sub(1);
            }
            self.changed.notify_waiters();
            (id, (receiver, plan), held)
        };
        let (mut receiver, mut plan) = receiver;
        plan.released = true;
        if !held {
            // Parked by a group: no network time passes while the scheduler decides.
            return match receiver.await {
                Ok(()) => Pass::Go(plan),
                Err(_) => Pass::TimedOut,
            };
        }
        match tokio::time::timeout(timeout, &mut receiver).await {
            Ok(Ok(())) => return Pass::Go(plan),
            Ok(Err(_)) => return Pass::TimedOut,
            Err(_) => {}
        }
        // The timeout fired. Stop waiting, unless a release let it go at this instant.
        let resume = {
            let mut state = lock(&self.state);
            let waiting = state
                .links
                .get_mut(&link)
                .and_then(|link| link.held.iter_mut().find(|w| w.id == id));
            let still_waiting = waiting.is_some_and(|waiting| waiting.go.take().is_some());
            if still_waiting {
                Some(state.round.as_mut().map(|round| {
                    let (tx, rx) = oneshot::channel();
                    round.resumes.push_back(tx);
                    rx
                }))
            } else {
                None
            }
        };
        let Some(resume) = resume else {
            return match receiver.await {
                Ok(()) => Pass::Go(plan),
                Err(_) => Pass::TimedOut,
            };
        };
        if let Some(resume) = resume {
            // Inside a group, the sender goes on only when the scheduler lets it, so
            // its failure does not race another chain's events.
            self.changed.notify_waiters();
            let _ = resume.await;
        }
        Pass::TimedOut
    }

    /// Lets go what `link` holds, in `order`, and stops holding it. Inside a group the
    /// messages are delivered one at a time by the driver; [`Scheduler::begin_round`]
    /// before and the same driver after is how a lone `release` step runs too.
    pub fn release(&self, link: &Link, order: ReleaseOrder) -> Result<usize, ScheduleError> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let link_state = state.links.entry(link.clone()).or_default();
        link_state.holding = false;
        let mut messages: Vec<Waiting> = link_state.held.drain(..).collect();
        if messages.is_empty() {
            return Err(ScheduleError::NothingHeld(link.clone()));
        }
        match order {
            ReleaseOrder::Fifo => {}
            ReleaseOrder::Reverse => messages.reverse(),
            ReleaseOrder::Seeded if state.script.is_some() => {
                // A scripted order: each position chosen among the messages left.
                let mut left = std::mem::take(&mut messages);
                while !left.is_empty() {
                    let pick = if left.len() > 1 {
                        state.chooser().choose(left.len())
                    } else {
                        0
                    };
                    messages.push(left.remove(pick));
                }
            }
            ReleaseOrder::Seeded => messages.shuffle(&mut state.rng),
        }
        let count = messages.len();
        let order_text = messages
            .iter()
            .map(|w| describe(&w.message))
            .collect::<Vec<_>>()
            .join(", then ");
        self.trace.world(
            &link.to,
            format!(
                "release {link} ({order}): {count} message(s) delivered in this order: {order_text}"
            ),
        );
        let round = state.round.get_or_insert_with(Round::default);
        round.released.extend(messages);
        self.changed.notify_waiters();
        Ok(count)
    }

    /// Makes every later choice (which action of a group starts, which parked message
    /// goes, a seeded release's order) from `picks` instead of the seed: the order a
    /// scenario's `orders` pins, or one of every order explored.
    pub fn script(&self, picks: &[usize]) {
        lock(&self.state).script = Some(picks.iter().copied().collect());
    }

    /// Every choice point so far: (how many choices, which was taken).
    pub fn choice_points(&self) -> Vec<(usize, usize)> {
        lock(&self.state).points.clone()
    }

    /// Starts driving a group: from now on every message parks at the gate until
    /// [`Scheduler::next_turn`] lets it go.
    pub fn begin_round(&self) -> Result<(), ScheduleError> {
        let mut state = lock(&self.state);
        if state.round.is_some() {
            return Err(ScheduleError::Busy);
        }
        state.round = Some(Round::default());
        Ok(())
    }

    /// Ends the group: anything still parked goes at once (nothing should be).
    pub fn end_round(&self) {
        let round = lock(&self.state).round.take();
        if let Some(round) = round {
            for waiting in round.crossing.into_iter().chain(round.released) {
                if let Some(go) = waiting.go {
                    let _ = go.send(());
                }
            }
            for resume in round.resumes {
                let _ = resume.send(());
            }
        }
    }

    /// A chain the driver runs itself (an action's future, an orphan delivery) finished.
    pub fn finished(&self) {
        if let Some(round) = &mut lock(&self.state).round {
            round.active = round.active.saturating_sub(1);
        }
        self.changed.notify_waiters();
    }

    /// Whether every chain of the group is blocked at the gate or finished.
    pub fn quiescent(&self) -> bool {
        lock(&self.state)
            .round
            .as_ref()
            .is_none_or(|round| round.active == 0)
    }

    /// Resolves when the gate's state changes (create it before checking, then await).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// At a quiescent point, decides what moves next: first what a `release` let go
    /// (in its order), then senders whose timeout fired, then one of the group's parked
    /// messages and unstarted actions drawn from the seed, and only when none is left,
    /// one of the unstarted `release` actions (so a release finds what its group sent).
    pub fn next_turn(&self, unstarted: usize, unstarted_releases: usize) -> Turn {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let Some(round) = &mut state.round else {
            return Turn::Idle;
        };
        if let Some(waiting) = round.released.pop_front() {
            round.active += 1;
            return let_go(waiting);
        }
        if let Some(resume) = round.resumes.pop_front() {
            round.active += 1;
            if resume.send(()).is_err() {
                round.active -= 1;
            }
            return Turn::Fired;
        }
        let choices = unstarted + round.crossing.len();
        if choices > 0 {
            let pick = if choices == 1 {
                0
            } else {
                Chooser {
                    script: &mut state.script,
                    rng: &mut state.rng,
                    points: &mut state.points,
                }
                .choose(choices)
            };
            round.active += 1;
            if pick < unstarted {
                return Turn::Start { pick, choices };
            }
            let waiting = round.crossing.remove(pick - unstarted);
            if choices > 1 {
                self.trace.world(
                    &waiting.link.to,
                    format!(
                        "the scheduler lets {} arrive now ({} of {choices} choices)",
                        describe(&waiting.message),
                        pick + 1
                    ),
                );
            }
            return let_go(waiting);
        }
        if unstarted_releases > 0 {
            let pick = if unstarted_releases == 1 {
                0
            } else {
                Chooser {
                    script: &mut state.script,
                    rng: &mut state.rng,
                    points: &mut state.points,
                }
                .choose(unstarted_releases)
            };
            round.active += 1;
            return Turn::Start {
                pick: unstarted + pick,
                choices: unstarted_releases,
            };
        }
        Turn::Idle
    }

    fn record(&self, message: &Message, link: &Link, delivery: Delivery, detail: String) -> u64 {
        self.trace.record(
            EventKind::Request,
            EventDraft {
                surface: Some(Surface::Partner),
                from: link.from.as_str().into(),
                to: link.to.as_str().into(),
                method: Some(method_text(&message.method)),
                path: message.url.path().map(Text::from),
                detail,
                delivery: Some(delivery),
                ..EventDraft::default()
            },
        )
    }
}

/// Wakes the waiting sender, or hands the message to the driver when no one waits.
fn let_go(waiting: Waiting) -> Turn {
    let woken = waiting.go.is_some_and(|go| go.send(()).is_ok());
    if woken {
        Turn::Fired
    } else {
        Turn::Deliver(Box::new(waiting.message))
    }
}

/// `acme's PUT /sharing/agreements/3f2a1b9c… (status=inactive)`, for the trace.
fn describe(message: &Message) -> String {
    let path = message.url.path().unwrap_or(message.url.text());
    let short: Vec<String> = path
        .split('/')
        .map(|segment| {
            if segment.len() == 40 && segment.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("{}…", &segment[..8])
            } else {
                segment.to_string()
            }
        })
        .collect();
    let status = message
        .body
        .as_ref()
        .and_then(|body| body.shown.status.as_deref())
        .map_or(String::new(), |status| format!(" (status={status})"));
    format!(
        "{}'s {} {}{status}",
        message.from,
        message.method,
        short.join("/")
    )
}

/// The agreement a message concerns: the uuid in an agreement path, or the agreement
/// half of a ticket message's token.
fn agreement_uuid(message: &Message) -> Option<String> {
    let url = message.url.text();
    if let Some(at) = url.find("/agreements/") {
        let rest = &url[at + "/agreements/".len()..];
        let uuid: String = rest
            .chars()
            .take_while(|c| *c != '/' && *c != '?')
            .collect();
        return Some(uuid);
    }
    let token = message.token.as_deref()?;
    Some(
        token
            .split_once(':')
            .map_or(token, |(uuid, _)| uuid)
            .to_string(),
    )
}

#[cfg(test)]
mod tests;
