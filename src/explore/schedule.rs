//! A schedule: a small typed list of scenario steps over a few accounts, drawn from
//! (seed, index) by a seeded RNG and rendered to scenario TOML text. The explorer never
//! runs a schedule itself: it renders it and hands the text to the scenario parser and
//! runner, exactly as `sharesim run` would run a file. Each schedule ends with a repair
//! round (heal everything, restart, valid certificates, resend every agreement),
//! derived from its moves so that shrinking can never cut it off.

use crate::faults::Fault;
use crate::scenario::{CertMode, CrashPoint};
use crate::spelling::Spelled;
use crate::transport::scheduler::ReleaseOrder;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use strum::VariantArray;

/// Subdomains of the accounts a schedule may use, in order.
pub const ACCOUNT_NAMES: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "wonka"];

/// Partner-message timeout of every schedule, in ms: short, so a `hang` costs little.
pub const TIMEOUT_MS: u64 = 250;

/// The fault families a schedule may draw from (`--faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
pub enum FaultFamily {
    /// Certificate changes in an HTTPS world (expired, self-signed, wrong host…).
    Tls,
    /// An account goes down: stopped and started again, or a `down` fault.
    Down,
    /// The partner accepts the connection and never answers.
    Hang,
    /// The partner answers an error status.
    Status,
    /// The connection is reset.
    Reset,
    /// The receiver crashes before or after storing what it was sent.
    Crash,
    /// Messages on a link are held in flight and released later (races branch).
    Hold,
    /// The next message on a link is delivered twice (races branch).
    Duplicate,
    /// The receiver processes a message but its reply is lost (races branch).
    LoseReply,
}

impl FaultFamily {
    /// The families a plain run draws from.
    pub const BASIC: &'static [FaultFamily] = &[
        FaultFamily::Tls,
        FaultFamily::Down,
        FaultFamily::Hang,
        FaultFamily::Status,
        FaultFamily::Reset,
        FaultFamily::Crash,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultFamily::Tls => "tls",
            FaultFamily::Down => "down",
            FaultFamily::Hang => "hang",
            FaultFamily::Status => "status",
            FaultFamily::Reset => "reset",
            FaultFamily::Crash => "crash",
            FaultFamily::Hold => "hold",
            FaultFamily::Duplicate => "duplicate",
            FaultFamily::LoseReply => "lose_reply",
        }
    }

    /// The step the family needs from the scenario language when the basic language
    /// lacks it (issue 10's race steps), with a one-step example that must parse.
    pub fn race_step(self) -> Option<(&'static str, &'static str)> {
        match self {
            FaultFamily::Hold => Some((
                "hold",
                "hold = { from = \"acme\", to = \"globex\" }\n\n[[steps]]\nrelease = { from = \"acme\", to = \"globex\", order = \"fifo\" }",
            )),
            FaultFamily::Duplicate => Some((
                "duplicate",
                "duplicate = { from = \"acme\", to = \"globex\" }",
            )),
            FaultFamily::LoseReply => Some((
                "lose_reply",
                "lose_reply = { from = \"acme\", to = \"globex\" }",
            )),
            _ => None,
        }
    }
}

/// One step of a schedule. Accounts are named; agreement handles are `a{n}` and ticket
/// handles `t{n}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// `invite`.
    Invite {
        /// Sender.
        from: String,
        /// Receiver.
        to: String,
        /// Handle number.
        handle: u32,
    },
    /// `respond` by the receiver.
    Respond {
        /// The receiver.
        account: String,
        /// Handle number.
        handle: u32,
        /// Accept (true) or decline.
        accept: bool,
    },
    /// `deactivate` by either side.
    Deactivate {
        /// Acting account.
        account: String,
        /// Handle number.
        handle: u32,
    },
    /// `delete` by either side.
    Delete {
        /// Acting account.
        account: String,
        /// Handle number.
        handle: u32,
    },
    /// `resend` by the sender.
    Resend {
        /// Handle number.
        handle: u32,
    },
    /// `fault` on the links into `account`.
    Fault {
        /// Target.
        account: String,
        /// Only from this account.
        from: Option<String>,
        /// Only the next this-many messages.
        times: Option<u32>,
        /// What breaks.
        kind: Fault,
    },
    /// `heal`.
    Heal {
        /// Target.
        account: String,
    },
    /// `stop`.
    Stop {
        /// Target.
        account: String,
    },
    /// `start`.
    Start {
        /// Target.
        account: String,
    },
    /// `restart`.
    Restart {
        /// Target.
        account: String,
    },
    /// `certificate`.
    Certificate {
        /// Target.
        account: String,
        /// The new certificate.
        mode: CertMode,
    },
    /// `ticket`: a new ticket in `account`.
    Ticket {
        /// Where it is created.
        account: String,
        /// Ticket handle number.
        handle: u32,
    },
    /// `share` a ticket over an agreement.
    Share {
        /// Ticket handle number.
        ticket: u32,
        /// Agreement handle number.
        agreement: u32,
    },
    /// `comment` on a ticket copy.
    Comment {
        /// Where it is written.
        account: String,
        /// Ticket handle number.
        ticket: u32,
        /// Comment number (its body is `comment {n}`).
        number: u32,
    },
    /// `hold = { from, to }` (races branch).
    Hold {
        /// Sender of the held link.
        from: String,
        /// Receiver of the held link.
        to: String,
    },
    /// `release = { from, to, order }` (races branch).
    Release {
        /// Sender of the link.
        from: String,
        /// Receiver of the link.
        to: String,
        /// Delivery order.
        order: ReleaseOrder,
    },
    /// `duplicate = { from, to }` (races branch).
    Duplicate {
        /// Sender.
        from: String,
        /// Receiver.
        to: String,
    },
    /// `lose_reply = { from, to }` (races branch).
    LoseReply {
        /// Sender.
        from: String,
        /// Receiver.
        to: String,
    },
    /// `concurrently = [ … ]` (races branch): actions started together.
    Concurrently(Vec<Move>),
}

impl Move {
    /// Every account the move names.
    pub fn accounts(&self) -> Vec<&str> {
        match self {
            Move::Invite { from, to, .. }
            | Move::Hold { from, to }
            | Move::Release { from, to, .. }
            | Move::Duplicate { from, to }
            | Move::LoseReply { from, to } => vec![from, to],
            Move::Fault { account, from, .. } => {
                let mut names = vec![account.as_str()];
                names.extend(from.as_deref());
                names
            }
            Move::Respond { account, .. }
            | Move::Deactivate { account, .. }
            | Move::Delete { account, .. }
            | Move::Heal { account }
            | Move::Stop { account }
            | Move::Start { account }
            | Move::Restart { account }
            | Move::Certificate { account, .. }
            | Move::Ticket { account, .. }
            | Move::Comment { account, .. } => vec![account],
            Move::Resend { .. } | Move::Share { .. } => Vec::new(),
            Move::Concurrently(moves) => moves.iter().flat_map(Move::accounts).collect(),
        }
    }

    /// Whether the move is a fault or another change to the world (not an action).
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Move::Fault { .. }
                | Move::Stop { .. }
                | Move::Restart { .. }
                | Move::Certificate { .. }
                | Move::Hold { .. }
                | Move::Duplicate { .. }
                | Move::LoseReply { .. }
        )
    }

    /// The agreement handle the move defines (an invitation).
    fn defines_agreement(&self) -> Option<u32> {
        match self {
            Move::Invite { handle, .. } => Some(*handle),
            _ => None,
        }
    }

    /// The TOML inline table of the step, e.g. `invite = { from = "acme", … }`.
    pub fn toml(&self) -> String {
        let q = quote;
        match self {
            Move::Invite { from, to, handle } => format!(
                "invite = {{ from = {}, to = {}, as = \"a{handle}\" }}",
                q(from),
                q(to)
            ),
            Move::Respond {
                account,
                handle,
                accept,
            } => format!(
                "respond = {{ account = {}, agreement = \"a{handle}\", status = \"{}\" }}",
                q(account),
                if *accept { "accepted" } else { "declined" }
            ),
            Move::Deactivate { account, handle } => format!(
                "deactivate = {{ account = {}, agreement = \"a{handle}\" }}",
                q(account)
            ),
            Move::Delete { account, handle } => format!(
                "delete = {{ account = {}, agreement = \"a{handle}\" }}",
                q(account)
            ),
            Move::Resend { handle } => format!("resend = {{ agreement = \"a{handle}\" }}"),
            Move::Fault {
                account,
                from,
                times,
                kind,
            } => {
                let mut text = format!("fault = {{ account = {}", q(account));
                if let Some(from) = from {
                    let _ = write!(text, ", from = {}", q(from));
                }
                if let Some(times) = times {
                    let _ = write!(text, ", times = {times}");
                }
                let _ = write!(text, ", {}", kind.toml());
                text.push_str(" }");
                text
            }
            Move::Heal { account } => format!("heal = {{ account = {} }}", q(account)),
            Move::Stop { account } => format!("stop = {{ account = {} }}", q(account)),
            Move::Start { account } => format!("start = {{ account = {} }}", q(account)),
            Move::Restart { account } => format!("restart = {{ account = {} }}", q(account)),
            Move::Certificate { account, mode } => format!(
                "certificate = {{ account = {}, mode = \"{mode}\" }}",
                q(account)
            ),
            Move::Ticket { account, handle } => format!(
                "ticket = {{ account = {}, as = \"t{handle}\", subject = \"ticket {handle}\" }}",
                q(account)
            ),
            Move::Share { ticket, agreement } => {
                format!("share = {{ ticket = \"t{ticket}\", agreement = \"a{agreement}\" }}")
            }
            Move::Comment {
                account,
                ticket,
                number,
            } => format!(
                "comment = {{ account = {}, ticket = \"t{ticket}\", body = \"comment {number}\" }}",
                q(account)
            ),
            Move::Hold { from, to } => format!("hold = {{ from = {}, to = {} }}", q(from), q(to)),
            Move::Release { from, to, order } => format!(
                "release = {{ from = {}, to = {}, order = \"{}\" }}",
                q(from),
                q(to),
                order.spelling()
            ),
            Move::Duplicate { from, to } => {
                format!("duplicate = {{ from = {}, to = {} }}", q(from), q(to))
            }
            Move::LoseReply { from, to } => {
                format!("lose_reply = {{ from = {}, to = {} }}", q(from), q(to))
            }
            Move::Concurrently(moves) => {
                let inner: Vec<String> = moves
                    .iter()
                    .map(|m| format!("{{ {} }}", m.toml()))
                    .collect();
                format!("concurrently = [ {} ]", inner.join(", "))
            }
        }
    }
}

/// A TOML basic string.
pub fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A schedule: where it came from, the world it runs in, and its moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The exploration's seed (also the world's seed).
    pub seed: u64,
    /// Which schedule of the seed this is.
    pub index: u64,
    /// The accounts, in start order.
    pub accounts: Vec<String>,
    /// Whether the world serves HTTPS (needed by certificate moves).
    pub tls: bool,
    /// Extra attempts per failed partner message.
    pub retries: u32,
    /// The moves, before the repair round.
    pub moves: Vec<Move>,
}

/// What a schedule is drawn from.
#[derive(Clone, Debug)]
pub struct Shape {
    /// How many accounts.
    pub accounts: usize,
    /// How many moves.
    pub steps: usize,
    /// Fault families allowed.
    pub faults: Vec<FaultFamily>,
    /// Whether ticket moves are drawn.
    pub tickets: bool,
}

/// The RNG of schedule `index` of `seed`: one stream per pair, independent of every
/// other schedule, so any schedule can be drawn alone (shards, reruns).
fn rng_for(seed: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&index.to_le_bytes());
    key[16..24].copy_from_slice(b"explore1");
    ChaCha8Rng::from_seed(key)
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

impl Schedule {
    /// Draws schedule `index` of `seed` with the given shape.
    pub fn draw(seed: u64, index: u64, shape: &Shape) -> Schedule {
        let mut rng = rng_for(seed, index);
        let accounts: Vec<String> = ACCOUNT_NAMES
            .iter()
            .take(shape.accounts.clamp(2, ACCOUNT_NAMES.len()))
            .map(|name| name.to_string())
            .collect();
        let retries = if rng.random_bool(0.3) { 1 } else { 0 };
        let mut drawer = Drawer {
            accounts: &accounts,
            agreements: Vec::new(),
            tickets: Vec::new(),
            comments: 0,
        };
        let mut moves = Vec::with_capacity(shape.steps);
        while moves.len() < shape.steps {
            if let Some(next) = drawer.draw(&mut rng, shape) {
                moves.push(next);
            }
        }
        // HTTPS only where a certificate changes: a world's CA and certificates cost
        // more to make than the rest of a short schedule.
        let tls = moves.iter().any(|m| matches!(m, Move::Certificate { .. }));
        Schedule {
            seed,
            index,
            accounts,
            tls,
            retries,
            moves,
        }
    }

    /// The handles of every agreement some move invites, in order.
    pub fn agreement_handles(&self) -> Vec<u32> {
        let mut handles: Vec<u32> = self
            .moves
            .iter()
            .flat_map(|m| match m {
                Move::Concurrently(inner) => {
                    inner.iter().filter_map(Move::defines_agreement).collect()
                }
                other => other.defines_agreement().into_iter().collect::<Vec<_>>(),
            })
            .collect();
        handles.dedup();
        handles
    }

    /// Drops every move that names an agreement or ticket handle no earlier move
    /// defines (the parser refuses those); shrinking calls it after removing moves.
    pub fn without_dangling_handles(mut self) -> Schedule {
        let mut agreements = std::collections::BTreeSet::new();
        let mut tickets = std::collections::BTreeSet::new();
        self.moves.retain(|step| {
            if let Move::Concurrently(inner) = step {
                return inner.iter().all(|m| match m {
                    Move::Respond { handle, .. }
                    | Move::Deactivate { handle, .. }
                    | Move::Delete { handle, .. }
                    | Move::Resend { handle } => agreements.contains(handle),
                    Move::Comment { ticket, .. } => tickets.contains(ticket),
                    _ => true,
                });
            }
            let (agreement, ticket) = match step {
                Move::Respond { handle, .. }
                | Move::Deactivate { handle, .. }
                | Move::Delete { handle, .. }
                | Move::Resend { handle } => (Some(*handle), None),
                Move::Share { ticket, agreement } => (Some(*agreement), Some(*ticket)),
                Move::Comment { ticket, .. } => (None, Some(*ticket)),
                _ => (None, None),
            };
            let known = agreement.is_none_or(|h| agreements.contains(&h))
                && ticket.is_none_or(|t| tickets.contains(&t));
            if known {
                match step {
                    Move::Invite { handle, .. } => {
                        agreements.insert(*handle);
                    }
                    Move::Ticket { handle, .. } => {
                        tickets.insert(*handle);
                    }
                    _ => {}
                }
            }
            known
        });
        self
    }

    /// The repair round every schedule ends with: heal every account a fault was set
    /// on, start every account that was stopped, give a valid certificate back to every
    /// account whose certificate changed, then re-send every agreement.
    pub fn repair_round(&self) -> Vec<Move> {
        let flat: Vec<&Move> = self
            .moves
            .iter()
            .flat_map(|m| match m {
                Move::Concurrently(inner) => inner.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
        let touched = |account: &str, pick: fn(&Move) -> Option<&str>| {
            flat.iter().any(|m| pick(m) == Some(account))
        };
        let mut moves = Vec::new();
        for account in &self.accounts {
            if touched(account, |m| match m {
                Move::Fault { account, .. } => Some(account),
                _ => None,
            }) {
                moves.push(Move::Heal {
                    account: account.clone(),
                });
            }
            if touched(account, |m| match m {
                Move::Stop { account } => Some(account),
                _ => None,
            }) {
                moves.push(Move::Start {
                    account: account.clone(),
                });
            }
            if self.tls
                && touched(account, |m| match m {
                    Move::Certificate { account, .. } => Some(account),
                    _ => None,
                })
            {
                moves.push(Move::Certificate {
                    account: account.clone(),
                    mode: CertMode::Valid,
                });
            }
        }
        for handle in self.agreement_handles() {
            moves.push(Move::Resend { handle });
        }
        moves
    }

    /// Every step the scenario runs: the moves, then the repair round.
    pub fn all_moves(&self) -> Vec<Move> {
        let mut moves = self.moves.clone();
        moves.extend(self.repair_round());
        moves
    }

    /// The scenario's name.
    pub fn name(&self) -> String {
        format!("explore seed {} schedule {}", self.seed, self.index)
    }

    /// The scenario file's header: name, description, settings and accounts.
    pub fn header(&self, name: &str, description: &str) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "name = {}", quote(name));
        let _ = writeln!(text, "description = {}", quote(description));
        let _ = writeln!(text, "seed = {}", self.seed);
        if self.tls {
            let _ = writeln!(text, "tls = true");
        }
        let _ = writeln!(text, "timeout_ms = {TIMEOUT_MS}");
        if self.retries > 0 {
            let _ = writeln!(text, "retries = {}", self.retries);
        }
        for account in &self.accounts {
            let _ = write!(text, "\n[accounts.{account}]\n");
        }
        text
    }

    /// The schedule as a scenario file, as the explorer runs it.
    pub fn render(&self) -> String {
        let mut text = self.header(
            &self.name(),
            "A schedule drawn by sharesim explore; it ends with a repair round.",
        );
        for step in self.all_moves() {
            let _ = write!(text, "\n[[steps]]\n{}\n", step.toml());
        }
        text
    }

    /// How many scenario steps the schedule runs (moves plus repair round).
    pub fn step_count(&self) -> usize {
        self.moves.len() + self.repair_round().len()
    }
}

/// Keeps just enough of what earlier moves did to draw moves that mean something.
struct Drawer<'a> {
    accounts: &'a [String],
    /// (handle, sender, receiver)
    agreements: Vec<(u32, String, String)>,
    /// (handle, origin)
    tickets: Vec<(u32, String)>,
    comments: u32,
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

    /// One move, or None when the drawn kind does not apply yet (drawn again).
    fn draw(&mut self, rng: &mut ChaCha8Rng, shape: &Shape) -> Option<Move> {
        let has = |family: FaultFamily| shape.faults.contains(&family);
        let roll = rng.random_range(0..100u32);
        let agreement = (!self.agreements.is_empty()).then(|| pick(rng, &self.agreements).clone());
        match roll {
            0..=17 => {
                if self.agreements.len() >= 3 {
                    return None;
                }
                let (from, to) = self.two_accounts(rng);
                let handle = self.agreements.len() as u32 + 1;
                self.agreements.push((handle, from.clone(), to.clone()));
                Some(Move::Invite { from, to, handle })
            }
            18..=33 => {
                let (handle, _, receiver) = agreement?;
                Some(Move::Respond {
                    account: receiver,
                    handle,
                    accept: rng.random_bool(0.75),
                })
            }
            34..=40 => {
                let (handle, sender, receiver) = agreement?;
                let account = if rng.random_bool(0.5) {
                    sender
                } else {
                    receiver
                };
                Some(Move::Deactivate { account, handle })
            }
            41..=43 => {
                let (handle, sender, receiver) = agreement?;
                let account = if rng.random_bool(0.5) {
                    sender
                } else {
                    receiver
                };
                Some(Move::Delete { account, handle })
            }
            44..=51 => {
                let (handle, _, _) = agreement?;
                Some(Move::Resend { handle })
            }
            52..=57 => Some(Move::Heal {
                account: self.account(rng),
            }),
            58..=79 => self.fault(rng, shape),
            80..=99 if shape.tickets => self.ticket_move(rng, agreement),
            80..=99 => None,
            _ => {
                let _ = has;
                None
            }
        }
    }

    fn fault(&mut self, rng: &mut ChaCha8Rng, shape: &Shape) -> Option<Move> {
        if shape.faults.is_empty() {
            return None;
        }
        let family = *pick(rng, &shape.faults);
        let account = self.account(rng);
        let from = if rng.random_bool(0.5) {
            Some(self.account(rng)).filter(|from| *from != account)
        } else {
            None
        };
        let times = rng.random_bool(0.5).then_some(1);
        let fault = |kind| Move::Fault {
            account: account.clone(),
            from: from.clone(),
            times,
            kind,
        };
        Some(match family {
            FaultFamily::Tls => {
                let modes: Vec<CertMode> = CertMode::VARIANTS
                    .iter()
                    .copied()
                    .filter(|mode| *mode != CertMode::Valid)
                    .collect();
                let mode = if rng.random_bool(0.3) {
                    CertMode::Valid
                } else {
                    *pick(rng, &modes)
                };
                Move::Certificate { account, mode }
            }
            FaultFamily::Down => match rng.random_range(0..4u32) {
                0 => Move::Stop { account },
                1 => Move::Start { account },
                2 => Move::Restart { account },
                _ => fault(Fault::Down),
            },
            FaultFamily::Hang => fault(Fault::Hang),
            FaultFamily::Status => fault(Fault::Status(*pick(rng, &[500, 503, 422, 404]))),
            FaultFamily::Reset => fault(Fault::Reset),
            FaultFamily::Crash => fault(Fault::Crash(if rng.random_bool(0.5) {
                CrashPoint::AfterStore
            } else {
                CrashPoint::BeforeStore
            })),
            FaultFamily::Hold => {
                let (from, to) = self.two_accounts(rng);
                // Races also mean two actions at once: an answer crossing a
                // deactivation, their messages interleaved by the world's scheduler.
                if let Some((handle, sender, receiver)) = self.agreements.first().cloned()
                    && rng.random_bool(0.3)
                {
                    return Some(Move::Concurrently(vec![
                        Move::Respond {
                            account: receiver,
                            handle,
                            accept: true,
                        },
                        Move::Deactivate {
                            account: sender,
                            handle,
                        },
                    ]));
                }
                if rng.random_bool(0.5) {
                    Move::Hold { from, to }
                } else {
                    let order = *pick(
                        rng,
                        &[
                            ReleaseOrder::Fifo,
                            ReleaseOrder::Reverse,
                            ReleaseOrder::Seeded,
                        ],
                    );
                    Move::Release { from, to, order }
                }
            }
            FaultFamily::Duplicate => {
                let (from, to) = self.two_accounts(rng);
                Move::Duplicate { from, to }
            }
            FaultFamily::LoseReply => {
                let (from, to) = self.two_accounts(rng);
                Move::LoseReply { from, to }
            }
        })
    }

    fn ticket_move(
        &mut self,
        rng: &mut ChaCha8Rng,
        agreement: Option<(u32, String, String)>,
    ) -> Option<Move> {
        match rng.random_range(0..3u32) {
            0 => {
                if self.tickets.len() >= 2 {
                    return None;
                }
                let account = match &agreement {
                    Some((_, sender, _)) => sender.clone(),
                    None => self.account(rng),
                };
                let handle = self.tickets.len() as u32 + 1;
                self.tickets.push((handle, account.clone()));
                Some(Move::Ticket { account, handle })
            }
            1 => {
                let (ticket, origin) = pick_ticket(rng, &self.tickets)?;
                let (agreement, _, _) = self
                    .agreements
                    .iter()
                    .find(|(_, sender, _)| *sender == origin)?
                    .clone();
                Some(Move::Share { ticket, agreement })
            }
            _ => {
                let (ticket, origin) = pick_ticket(rng, &self.tickets)?;
                let partner = self
                    .agreements
                    .iter()
                    .find(|(_, sender, _)| *sender == origin)
                    .map(|(_, _, receiver)| receiver.clone());
                let account = match partner {
                    Some(partner) if rng.random_bool(0.5) => partner,
                    _ => origin,
                };
                self.comments += 1;
                Some(Move::Comment {
                    account,
                    ticket,
                    number: self.comments,
                })
            }
        }
    }
}

fn pick_ticket(rng: &mut ChaCha8Rng, tickets: &[(u32, String)]) -> Option<(u32, String)> {
    (!tickets.is_empty()).then(|| pick(rng, tickets).clone())
}

/// Whether `index` belongs to shard `shard` (1-based) of `of`: schedules are dealt
/// round-robin, so the shards are disjoint and together hold every index.
pub fn in_shard(index: u64, shard: u64, of: u64) -> bool {
    of <= 1 || index % of == shard - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn shape() -> Shape {
        Shape {
            accounts: 3,
            steps: 12,
            faults: FaultFamily::BASIC.to_vec(),
            tickets: true,
        }
    }

    #[test]
    fn a_schedule_is_drawn_again_from_its_seed_and_index() {
        let one = Schedule::draw(7, 3, &shape());
        assert_eq!(one, Schedule::draw(7, 3, &shape()));
        assert_ne!(one, Schedule::draw(7, 4, &shape()));
        assert_ne!(one, Schedule::draw(8, 3, &shape()));
        assert_eq!(one.moves.len(), 12);
    }

    #[test]
    fn every_drawn_schedule_renders_to_a_valid_scenario() {
        for index in 0..200 {
            let schedule = Schedule::draw(1, index, &shape());
            let text = schedule.render();
            let scenario = parse(&text, "drawn.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(scenario.steps.len(), schedule.step_count());
        }
    }

    #[test]
    fn race_moves_use_the_spelling_of_issue_10() {
        let (acme, globex) = ("acme".to_string(), "globex".to_string());
        let moves = [
            Move::Hold {
                from: globex.clone(),
                to: acme.clone(),
            },
            Move::Release {
                from: globex.clone(),
                to: acme.clone(),
                order: ReleaseOrder::Reverse,
            },
            Move::Duplicate {
                from: acme.clone(),
                to: globex.clone(),
            },
            Move::LoseReply {
                from: acme.clone(),
                to: globex.clone(),
            },
            Move::Concurrently(vec![
                Move::Respond {
                    account: globex.clone(),
                    handle: 1,
                    accept: true,
                },
                Move::Deactivate {
                    account: acme.clone(),
                    handle: 1,
                },
            ]),
        ];
        let text: Vec<String> = moves.iter().map(Move::toml).collect();
        assert_eq!(
            text,
            [
                "hold = { from = \"globex\", to = \"acme\" }",
                "release = { from = \"globex\", to = \"acme\", order = \"reverse\" }",
                "duplicate = { from = \"acme\", to = \"globex\" }",
                "lose_reply = { from = \"acme\", to = \"globex\" }",
                "concurrently = [ { respond = { account = \"globex\", agreement = \"a1\", status = \"accepted\" } }, { deactivate = { account = \"acme\", agreement = \"a1\" } } ]",
            ]
        );
        let racy = Shape {
            faults: vec![
                FaultFamily::Hold,
                FaultFamily::Duplicate,
                FaultFamily::LoseReply,
            ],
            ..shape()
        };
        let drawn: Vec<Move> = (0..50)
            .flat_map(|index| Schedule::draw(2, index, &racy).moves)
            .collect();
        for kind in ["hold", "release", "duplicate", "lose_reply", "concurrently"] {
            assert!(
                drawn.iter().any(|m| m.toml().starts_with(kind)),
                "no {kind} step drawn"
            );
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_index() {
        for index in 0..100 {
            let owners: Vec<u64> = (1..=4).filter(|&shard| in_shard(index, shard, 4)).collect();
            assert_eq!(owners.len(), 1, "index {index}");
        }
        assert!((0..10).all(|index| in_shard(index, 1, 1)));
    }

    #[test]
    fn the_repair_round_heals_what_broke_and_resends_every_agreement() {
        let schedule = Schedule {
            seed: 0,
            index: 0,
            accounts: vec!["acme".into(), "globex".into()],
            tls: true,
            retries: 0,
            moves: vec![
                Move::Invite {
                    from: "acme".into(),
                    to: "globex".into(),
                    handle: 1,
                },
                Move::Fault {
                    account: "globex".into(),
                    from: None,
                    times: None,
                    kind: Fault::Reset,
                },
                Move::Stop {
                    account: "acme".into(),
                },
                Move::Certificate {
                    account: "globex".into(),
                    mode: CertMode::Expired,
                },
            ],
        };
        let repair: Vec<String> = schedule.repair_round().iter().map(Move::toml).collect();
        assert_eq!(
            repair,
            [
                "start = { account = \"acme\" }",
                "heal = { account = \"globex\" }",
                "certificate = { account = \"globex\", mode = \"valid\" }",
                "resend = { agreement = \"a1\" }",
            ]
        );
    }
}
