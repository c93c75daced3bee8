//! Drawing a schedule: a seeded RNG picks each step from the whole language (the
//! action keys of `language::DRAWN`), keeping just enough of what earlier steps did
//! (agreements, tickets and who holds a copy) for the step to mean something. A step
//! may still be refused when it runs; a refusal is one of the outcomes explored.

use super::schedule::{ACCOUNT_NAMES, FIELD_TITLE, FaultFamily, Schedule, Shape, rng_for};
use super::steps;
use crate::core::faults::Fault;
use crate::core::transport::scheduler::ReleaseOrder;
use crate::drivers::scenario::format::FieldValues;
use crate::drivers::scenario::{CertMode, CrashPoint, Step, Terms, TicketStatus};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use strum::VariantArray;

impl Schedule {
    /// Draws schedule `index` of `seed` with the given shape.
    pub fn draw(seed: u64, index: u64, shape: &Shape) -> Schedule {
        draw(seed, index, shape)
    }
}

/// Agreements a schedule invites at most.
const MAX_AGREEMENTS: usize = 4;
/// Tickets a schedule creates at most.
const MAX_TICKETS: usize = 2;
/// Actions in a `concurrently` group at most.
pub(crate) const MAX_GROUP: usize = 3;

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Draws schedule `index` of `seed`.
pub(crate) fn draw(seed: u64, index: u64, shape: &Shape) -> Schedule {
    let mut rng = rng_for(seed, index);
    let accounts: Vec<String> = ACCOUNT_NAMES
        .iter()
        .take(shape.accounts.clamp(2, ACCOUNT_NAMES.len()))
        .map(|name| name.to_string())
        .collect();
    let retries = if rng.random_bool(0.3) { 1 } else { 0 };
    let mut drawer = Drawer {
        accounts: &accounts,
        shape,
        agreements: Vec::new(),
        tickets: Vec::new(),
        comments: 0,
        made: (0, 0),
        accepted: Vec::new(),
    };
    let mut drawn = Vec::with_capacity(shape.steps);
    while drawn.len() < shape.steps {
        let step = if rng.random_range(0..100u32) < 10 {
            drawer.group(&mut rng)
        } else {
            drawer.one(&mut rng)
        };
        if let Some(step) = step {
            drawn.push(step);
        }
    }
    // HTTPS only where a certificate changes: a world's CA and certificates cost more
    // to make than the rest of a short schedule.
    let tls = drawn
        .iter()
        .flat_map(steps::flat)
        .any(|s| s.action.key() == "certificate");
    Schedule {
        seed,
        index,
        accounts,
        tls,
        retries,
        steps: drawn,
        orders: None,
    }
}

/// A ticket handle and every account holding a copy: (handle, origin, holders with the
/// agreement each received it over).
#[derive(Clone)]
struct TicketDrawn {
    handle: String,
    origin: String,
    received: Vec<(String, String)>,
}

impl TicketDrawn {
    fn holders(&self) -> Vec<String> {
        let mut holders = vec![self.origin.clone()];
        holders.extend(self.received.iter().map(|(account, _)| account.clone()));
        holders
    }
}

/// Keeps just enough of what earlier steps did to draw steps that mean something.
struct Drawer<'a> {
    accounts: &'a [String],
    shape: &'a Shape,
    /// (handle, sender, receiver)
    agreements: Vec<(String, String, String)>,
    tickets: Vec<TicketDrawn>,
    comments: u32,
    /// Agreement and ticket handles made so far (a group's count before it ends).
    made: (usize, usize),
    /// Agreements some earlier step accepted: shares go over these first.
    accepted: Vec<String>,
}

impl Drawer<'_> {
    fn two_accounts(&self, rng: &mut ChaCha8Rng) -> (String, String) {
        let from = rng.random_range(0..self.accounts.len());
        let mut to = rng.random_range(0..self.accounts.len() - 1);
        if to >= from {
            to += 1;
        }
        (self.accounts[from].clone(), self.accounts[to].clone())
    }

    fn account(&self, rng: &mut ChaCha8Rng) -> String {
        pick(rng, self.accounts).clone()
    }

    fn either_side(&self, rng: &mut ChaCha8Rng) -> Option<(String, String)> {
        let (handle, sender, receiver) = self.agreement(rng)?;
        Some((
            handle,
            if rng.random_bool(0.5) {
                sender
            } else {
                receiver
            },
        ))
    }

    fn agreement(&self, rng: &mut ChaCha8Rng) -> Option<(String, String, String)> {
        (!self.agreements.is_empty()).then(|| pick(rng, &self.agreements).clone())
    }

    /// A `concurrently` group of 2 or 3 actions, each drawn against what was defined
    /// before the group (as the checks require); what they define counts after it.
    fn group(&mut self, rng: &mut ChaCha8Rng) -> Option<Step> {
        let size = rng.random_range(2..=MAX_GROUP);
        let (agreements, tickets) = (self.agreements.clone(), self.tickets.clone());
        let made = self.made;
        let mut group = Vec::new();
        let mut defined = (Vec::new(), Vec::new());
        for _ in 0..size * 4 {
            if group.len() == size {
                break;
            }
            let Some(step) = self.one(rng) else {
                continue;
            };
            // Mostly actions that send messages race; a world change joins rarely.
            let sends = matches!(
                step.action.key(),
                "invite"
                    | "respond"
                    | "deactivate"
                    | "delete"
                    | "resend"
                    | "share"
                    | "unshare"
                    | "comment"
                    | "set_status"
                    | "release"
            );
            let new_agreements: Vec<_> = self.agreements.drain(agreements.len()..).collect();
            let new_tickets: Vec<_> = self.tickets.drain(tickets.len()..).collect();
            if !crate::drivers::scenario::format::NOT_CONCURRENT.contains(&step.action.key())
                && (sends || rng.random_bool(0.15))
            {
                group.push(step);
                defined.0.extend(new_agreements);
                defined.1.extend(new_tickets);
            }
            // A share or re-share drawn in the group counts after it, like a handle.
            self.tickets.clone_from(&tickets);
        }
        if group.len() < 2 {
            // Nothing of a group that is not drawn happened.
            self.made = made;
            return None;
        }
        self.agreements.extend(defined.0);
        self.tickets.extend(defined.1);
        Some(steps::concurrently(group))
    }

    /// One action, or None when the drawn kind does not apply yet (drawn again).
    fn one(&mut self, rng: &mut ChaCha8Rng) -> Option<Step> {
        let roll = rng.random_range(0..100u32);
        match roll {
            0..=12 => self.invite(rng),
            13..=23 => {
                let (handle, _, receiver) = self.agreement(rng)?;
                let accept = rng.random_bool(0.75);
                if accept {
                    self.accepted.push(handle.clone());
                }
                Some(steps::respond(&receiver, &handle, accept))
            }
            24..=28 => {
                let (handle, account) = self.either_side(rng)?;
                Some(steps::deactivate(&account, &handle))
            }
            29..=31 => {
                let (handle, account) = self.either_side(rng)?;
                Some(steps::delete(&account, &handle))
            }
            32..=36 => {
                let (handle, _, _) = self.agreement(rng)?;
                Some(steps::resend(&handle))
            }
            37..=40 => Some(steps::heal(&self.account(rng))),
            41..=58 => self.fault(rng),
            _ if self.shape.tickets => self.ticket_step(rng),
            _ => None,
        }
    }

    fn invite(&mut self, rng: &mut ChaCha8Rng) -> Option<Step> {
        if self.made.0 >= MAX_AGREEMENTS {
            return None;
        }
        self.made.0 += 1;
        // With tickets, half the invitations go out from someone who received a ticket,
        // so a received copy can be shared on down a chain.
        let chain_from = self
            .tickets
            .iter()
            .flat_map(|t| t.received.iter().map(|(holder, _)| holder.clone()))
            .next()
            .filter(|_| rng.random_bool(0.5));
        let (from, to) = match chain_from {
            Some(from) => {
                let others: Vec<&String> = self.accounts.iter().filter(|a| **a != from).collect();
                let to = (*pick(rng, &others)).clone();
                (from, to)
            }
            None => self.two_accounts(rng),
        };
        let handle = format!("a{}", self.made.0);
        self.agreements
            .push((handle.clone(), from.clone(), to.clone()));
        let terms = if rng.random_bool(0.3) {
            let mut maybe = || rng.random_bool(0.5).then(|| rng.random_bool(0.5));
            Terms {
                sync_tags: maybe(),
                sync_custom_fields: maybe(),
                allows_public_comments: maybe(),
                sync_status: maybe(),
            }
        } else {
            Terms::default()
        };
        Some(steps::invite(&from, &to, &handle, terms))
    }

    fn fault(&mut self, rng: &mut ChaCha8Rng) -> Option<Step> {
        if self.shape.faults.is_empty() {
            return None;
        }
        let family = *pick(rng, &self.shape.faults);
        let account = self.account(rng);
        let from = if rng.random_bool(0.5) {
            Some(self.account(rng)).filter(|from| *from != account)
        } else {
            None
        };
        let times = rng.random_bool(0.7).then_some(1);
        let fault = |kind| steps::fault(&account, from.as_deref(), times, kind);
        Some(match family {
            FaultFamily::Tls => {
                let mode = if rng.random_bool(0.25) {
                    CertMode::Valid
                } else {
                    *pick(rng, &CertMode::VARIANTS[1..])
                };
                steps::certificate(&account, mode)
            }
            FaultFamily::Down => match rng.random_range(0..4u32) {
                0 => steps::stop(&account),
                1 => steps::start(&account),
                2 => steps::restart(&account),
                _ => fault(Fault::Down),
            },
            FaultFamily::Hang => fault(Fault::Hang),
            FaultFamily::Status => fault(Fault::Status(*pick(rng, &[500, 503, 422, 404, 400]))),
            FaultFamily::Reset => fault(Fault::Reset),
            FaultFamily::Crash => fault(Fault::Crash(if rng.random_bool(0.5) {
                CrashPoint::AfterStore
            } else {
                CrashPoint::BeforeStore
            })),
            FaultFamily::Latency => {
                let ms = *pick(rng, &[50u64, 400]);
                fault(Fault::Latency(Duration::from_millis(ms)))
            }
            FaultFamily::RetryAfter => fault(Fault::RetryAfter(*pick(rng, &[0u32, 1]))),
            FaultFamily::RedirectLoop => fault(Fault::RedirectLoop),
            FaultFamily::Hold => {
                let (from, to) = self.two_accounts(rng);
                if rng.random_bool(0.5) {
                    steps::hold(&from, &to)
                } else {
                    let order = *pick(
                        rng,
                        &[
                            ReleaseOrder::Fifo,
                            ReleaseOrder::Reverse,
                            ReleaseOrder::Seeded,
                        ],
                    );
                    steps::release(&from, &to, order)
                }
            }
            FaultFamily::Duplicate => {
                let (from, to) = self.two_accounts(rng);
                steps::duplicate(&from, &to)
            }
            FaultFamily::LoseReply => {
                let (from, to) = self.two_accounts(rng);
                steps::lose_reply(&from, &to)
            }
        })
    }

    fn ticket_step(&mut self, rng: &mut ChaCha8Rng) -> Option<Step> {
        let ticket = (!self.tickets.is_empty()).then(|| pick(rng, &self.tickets).clone());
        match rng.random_range(0..10u32) {
            0 | 1 => self.new_ticket(rng),
            2..=4 => {
                // Share from the origin over its own agreement, or re-share a received
                // copy over the receiver's own agreement (a chain).
                let ticket = ticket?;
                let holder = pick(rng, &ticket.holders()).clone();
                let outbound: Vec<&(String, String, String)> = self
                    .agreements
                    .iter()
                    .filter(|(_, sender, _)| *sender == holder)
                    .collect();
                let (handle, _, receiver) = (*outbound
                    .iter()
                    .find(|(handle, _, _)| self.accepted.contains(handle))
                    .or_else(|| outbound.first())?)
                .clone();
                let position = self
                    .tickets
                    .iter()
                    .position(|t| t.handle == ticket.handle)?;
                if receiver != ticket.origin
                    && !self.tickets[position]
                        .received
                        .iter()
                        .any(|(r, _)| *r == receiver)
                {
                    self.tickets[position]
                        .received
                        .push((receiver, handle.clone()));
                }
                let account = (holder != ticket.origin).then_some(holder.as_str());
                Some(steps::share(&ticket.handle, &handle, account))
            }
            5 => {
                let ticket = ticket?;
                let holder = pick(rng, &ticket.holders()).clone();
                let account = (holder != ticket.origin).then_some(holder.as_str());
                Some(steps::unshare(&ticket.handle, account))
            }
            6..=8 => {
                let ticket = ticket?;
                let holder = pick(rng, &ticket.holders()).clone();
                self.comments += 1;
                let body = format!("comment {}", self.comments);
                Some(steps::comment(
                    &holder,
                    &ticket.handle,
                    &body,
                    rng.random_bool(0.7),
                ))
            }
            _ => {
                let ticket = ticket?;
                let holder = pick(rng, &ticket.holders()).clone();
                let status = *pick(
                    rng,
                    &[
                        TicketStatus::Open,
                        TicketStatus::Pending,
                        TicketStatus::Hold,
                        TicketStatus::Solved,
                        TicketStatus::Closed,
                    ],
                );
                Some(steps::set_status(&holder, &ticket.handle, status))
            }
        }
    }

    fn new_ticket(&mut self, rng: &mut ChaCha8Rng) -> Option<Step> {
        if self.made.1 >= MAX_TICKETS {
            return None;
        }
        self.made.1 += 1;
        let accepted = self
            .agreements
            .iter()
            .find(|(handle, _, _)| self.accepted.contains(handle));
        let account = match (accepted, self.agreement(rng)) {
            (Some((_, sender, _)), _) => sender.clone(),
            (None, Some((_, sender, _))) => sender,
            (None, None) => self.account(rng),
        };
        let handle = format!("t{}", self.made.1);
        self.tickets.push(TicketDrawn {
            handle: handle.clone(),
            origin: account.clone(),
            received: Vec::new(),
        });
        let tags = if rng.random_bool(0.5) {
            vec![pick(rng, &["vip", "billing", "urgent"]).to_string()]
        } else {
            Vec::new()
        };
        let mut fields = FieldValues::new();
        if rng.random_bool(0.4) {
            let region = *pick(rng, &["north", "south"]);
            fields.insert(FIELD_TITLE.to_string(), serde_json::json!(region));
        }
        Some(steps::ticket(&account, &handle, tags, fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_few_hundred_schedules_draw_every_action_of_the_language() {
        let shape = Shape {
            accounts: 3,
            steps: 12,
            faults: FaultFamily::ALL.to_vec(),
            tickets: true,
        };
        let mut keys = BTreeSet::new();
        let mut faults = BTreeSet::new();
        let mut chained = false;
        let mut ticket_in_group = false;
        for index in 0..300 {
            let schedule = draw(4, index, &shape);
            for step in &schedule.steps {
                keys.insert(step.action.key());
                let inner = steps::flat(step);
                if inner.len() > 1 {
                    ticket_in_group |= inner.iter().any(|s| {
                        matches!(
                            s.action.key(),
                            "comment" | "share" | "set_status" | "unshare"
                        )
                    });
                }
                for s in inner {
                    keys.insert(s.action.key());
                    if let crate::drivers::scenario::Action::Fault(f) = &s.action {
                        faults.insert(f.rule.fault.toml().split(' ').next().unwrap().to_string());
                    }
                    if let crate::drivers::scenario::Action::Share(share) = &s.action {
                        chained |= share.account.is_some();
                    }
                }
            }
        }
        for key in super::super::language::DRAWN {
            assert!(keys.contains(key), "{key} never drawn: {keys:?}");
        }
        for kind in crate::drivers::scenario::format::FAULT_KINDS {
            assert!(
                faults.contains(*kind),
                "fault {kind} never drawn: {faults:?}"
            );
        }
        assert!(chained, "no re-share down a chain");
        assert!(ticket_in_group, "no ticket action in a group");
    }
}
