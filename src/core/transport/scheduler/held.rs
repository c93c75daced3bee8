//! What a learner chooses from: the messages held on links (the live view and lessons
//! list them), and the `release` of one chosen message while the rest stay held.

use super::{Link, Round, ScheduleError, Scheduler, describe};
use crate::core::trace::lock;

/// A message held in flight on a link, as a learner sees it in the list to choose from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct HeldMessage {
    /// The sending account.
    pub from: String,
    /// The receiving account.
    pub to: String,
    /// Its place on the link, from 1 (oldest): what `release = { message }` names.
    pub position: usize,
    /// The journal event that recorded it being held.
    pub seq: u64,
    /// The HTTP method.
    pub method: String,
    /// The HTTP path.
    pub path: String,
    /// `acme's PUT /sharing/agreements/3f2a1b9c… (status=inactive)`.
    pub description: String,
}

impl Scheduler {
    /// Lets go only the message at `position` (from 1, oldest first) of what `link`
    /// holds: the learner's "deliver this one next". The link goes on holding the rest,
    /// and stops holding once it holds nothing. Delivered like [`Scheduler::release`]'s.
    pub fn release_message(&self, link: &Link, position: usize) -> Result<(), ScheduleError> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let link_state = state.links.entry(link.clone()).or_default();
        let held = link_state.held.len();
        if held == 0 {
            return Err(ScheduleError::NothingHeld(link.clone()));
        }
        let Some(waiting) = position
            .checked_sub(1)
            .and_then(|index| link_state.held.remove(index))
        else {
            return Err(ScheduleError::NoSuchMessage {
                link: link.clone(),
                position,
                held,
            });
        };
        let left = link_state.held.len();
        if left == 0 {
            link_state.holding = false;
        }
        let rest = if left == 0 {
            "nothing else is held, so the link stops holding".to_string()
        } else {
            format!("{left} message(s) still held there")
        };
        self.trace.world(
            &link.to,
            format!(
                "release {link} (message {position} of {held}): {} is delivered now; {rest}",
                describe(&waiting.message)
            ),
        );
        let round = state.round.get_or_insert_with(Round::default);
        round.released.push_back(waiting);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Every message held on a link now, link by link, oldest first: what a learner
    /// chooses from (the live view, lessons).
    pub fn held(&self) -> Vec<HeldMessage> {
        let state = lock(&self.state);
        state
            .links
            .iter()
            .flat_map(|(link, link_state)| {
                link_state
                    .held
                    .iter()
                    .enumerate()
                    .map(move |(index, waiting)| HeldMessage {
                        from: link.from.clone(),
                        to: link.to.clone(),
                        position: index + 1,
                        seq: waiting.seq,
                        method: waiting.message.method.to_string(),
                        path: waiting
                            .message
                            .url
                            .path()
                            .unwrap_or(waiting.message.url.text())
                            .to_string(),
                        description: describe(&waiting.message),
                    })
            })
            .collect()
    }

    /// Disarms the link controls still waiting for a message to `to` (from `from` only,
    /// when given): a `duplicate` or `lose_reply` not yet spent. A `heal` says the
    /// network to `to` is healthy again, so nothing armed before it may break what is
    /// sent after it *(model)*. Held messages stay held: only `release` lets them go.
    /// Returns each disarmed link with what it had armed, in words.
    pub fn disarm(&self, to: &str, from: Option<&str>) -> Vec<String> {
        let mut state = lock(&self.state);
        let mut disarmed = Vec::new();
        for (link, link_state) in state.links.iter_mut() {
            if link.to != to || from.is_some_and(|from| link.from != from) {
                continue;
            }
            let mut armed = Vec::new();
            if link_state.duplicate > 0 {
                armed.push("duplicate");
            }
            if link_state.lose_reply > 0 {
                armed.push("lose_reply");
            }
            if !armed.is_empty() {
                link_state.duplicate = 0;
                link_state.lose_reply = 0;
                disarmed.push(format!("{link} ({})", armed.join(", ")));
            }
        }
        disarmed
    }
}
