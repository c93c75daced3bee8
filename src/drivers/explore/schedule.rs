//! A schedule: a list of scenario steps (the language's own values) over a few
//! accounts, drawn from (seed, index) by a seeded RNG (`draw`). The explorer builds the
//! scenario from these values and runs it with the scenario runner, exactly as `sharesim
//! run` runs a file; it renders TOML only when it writes a finding. Each schedule ends
//! with a repair round (release held links, heal everything, restart, valid
//! certificates, resend every agreement), derived from its steps so that shrinking can
//! never cut it off.

use super::steps;
use crate::core::model::ticket::fields::FieldType;
use crate::drivers::scenario::format::TicketFieldSpec;
use crate::drivers::scenario::{Account, Action, CertMode, Scenario, Step};
use indexmap::IndexMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Subdomains of the accounts a schedule may use, in order.
pub const ACCOUNT_NAMES: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "wonka"];

/// Partner-message timeout of every schedule, in ms: short, so a `hang` costs little.
pub const TIMEOUT_MS: u64 = 250;

/// The custom ticket field every account of a schedule with custom fields declares.
pub const FIELD_TITLE: &str = "Region";

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
    /// The answer comes late (`latency_ms`), under or over the timeout.
    Latency,
    /// The partner answers 429 with a `Retry-After`.
    RetryAfter,
    /// The partner redirects to itself forever.
    RedirectLoop,
    /// Messages on a link are held in flight and released later in an order.
    Hold,
    /// The next message on a link is delivered twice.
    Duplicate,
    /// The receiver processes a message but its reply is lost.
    LoseReply,
}

impl FaultFamily {
    /// The families of faults on one account's links (no race step).
    pub const BASIC: &'static [FaultFamily] = &[
        FaultFamily::Tls,
        FaultFamily::Down,
        FaultFamily::Hang,
        FaultFamily::Status,
        FaultFamily::Reset,
        FaultFamily::Crash,
        FaultFamily::Latency,
        FaultFamily::RetryAfter,
        FaultFamily::RedirectLoop,
    ];

    /// Every family: what a run draws from unless `--faults` says otherwise.
    pub const ALL: &'static [FaultFamily] = &[
        FaultFamily::Tls,
        FaultFamily::Down,
        FaultFamily::Hang,
        FaultFamily::Status,
        FaultFamily::Reset,
        FaultFamily::Crash,
        FaultFamily::Latency,
        FaultFamily::RetryAfter,
        FaultFamily::RedirectLoop,
        FaultFamily::Hold,
        FaultFamily::Duplicate,
        FaultFamily::LoseReply,
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
            FaultFamily::Latency => "latency",
            FaultFamily::RetryAfter => "retry_after",
            FaultFamily::RedirectLoop => "redirect_loop",
            FaultFamily::Hold => "hold",
            FaultFamily::Duplicate => "duplicate",
            FaultFamily::LoseReply => "lose_reply",
        }
    }
}

/// A schedule: where it came from, the world it runs in, and its steps.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The exploration's seed (also the world's seed).
    pub seed: u64,
    /// Which schedule of the seed this is.
    pub index: u64,
    /// The accounts, in start order.
    pub accounts: Vec<String>,
    /// Whether the world serves HTTPS (needed by certificate steps).
    pub tls: bool,
    /// Extra attempts per failed partner message.
    pub retries: u32,
    /// The steps, before the repair round.
    pub steps: Vec<Step>,
    /// The scheduler's choices (`orders` of the scenario): None draws them from the
    /// seed; `--orders exhaustive` runs the schedule once per order.
    pub orders: Option<Vec<usize>>,
}

/// What a schedule is drawn from.
#[derive(Clone, Debug)]
pub struct Shape {
    /// How many accounts.
    pub accounts: usize,
    /// How many steps.
    pub steps: usize,
    /// Fault families allowed.
    pub faults: Vec<FaultFamily>,
    /// Whether ticket steps are drawn.
    pub tickets: bool,
}

/// The RNG of schedule `index` of `seed`: one stream per pair, independent of every
/// other schedule, so any schedule can be drawn alone (shards, reruns).
pub(super) fn rng_for(seed: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&index.to_le_bytes());
    key[16..24].copy_from_slice(b"explore2");
    ChaCha8Rng::from_seed(key)
}

impl Schedule {
    /// Drops every step that names an agreement or ticket handle no earlier step
    /// defines, or an account the schedule no longer has (the checks refuse those);
    /// shrinking calls it after removing steps.
    pub fn without_dangling_handles(mut self) -> Schedule {
        let mut agreements: BTreeSet<String> = BTreeSet::new();
        let mut tickets: BTreeSet<String> = BTreeSet::new();
        let accounts = self.accounts.clone();
        self.steps.retain(|step| {
            let (used_a, used_t) = steps::handles_used(step);
            let known = used_a.iter().all(|h| agreements.contains(*h))
                && used_t.iter().all(|t| tickets.contains(*t))
                && steps::accounts(step)
                    .iter()
                    .all(|a| accounts.iter().any(|b| b == a));
            if known {
                let (made_a, made_t) = steps::handles_defined(step);
                agreements.extend(made_a.into_iter().map(String::from));
                tickets.extend(made_t.into_iter().map(String::from));
            }
            known
        });
        self
    }

    /// Every step, groups opened.
    fn flat(&self) -> Vec<&Step> {
        self.steps.iter().flat_map(steps::flat).collect()
    }

    /// Every agreement handle some step defines, in order.
    pub fn agreement_handles(&self) -> Vec<String> {
        let mut handles: Vec<String> = Vec::new();
        for step in &self.steps {
            for handle in steps::handles_defined(step).0 {
                if !handles.iter().any(|h| h == handle) {
                    handles.push(handle.to_string());
                }
            }
        }
        handles
    }

    /// The repair round every schedule ends with: release every link a step held, heal
    /// every account a fault was set on or a `duplicate` or `lose_reply` was armed
    /// toward (healing disarms what is still armed), start every account that was stopped, give a
    /// valid certificate back to every account whose certificate changed, then re-send
    /// every agreement.
    pub fn repair_round(&self) -> Vec<Step> {
        let flat = self.flat();
        let mut out = Vec::new();
        let mut held: Vec<(String, String)> = Vec::new();
        for step in &flat {
            if let Action::Hold(link) = &step.action {
                let pair = (link.from.get_ref().clone(), link.to.get_ref().clone());
                if !held.contains(&pair) {
                    held.push(pair);
                }
            }
        }
        for (from, to) in held {
            out.push(steps::release(
                &from,
                &to,
                crate::core::transport::scheduler::ReleaseOrder::Fifo,
            ));
        }
        let touched = |account: &str, kind: fn(&Action) -> Option<&str>| {
            flat.iter().any(|s| kind(&s.action) == Some(account))
        };
        for account in &self.accounts {
            // A `duplicate` or `lose_reply` still armed is disarmed by healing its
            // receiver, so the repair's own messages go through.
            if touched(account, |a| match a {
                Action::Fault(f) => Some(f.account.get_ref()),
                Action::Duplicate(link) | Action::LoseReply(link) => Some(link.to.get_ref()),
                _ => None,
            }) {
                out.push(steps::heal(account));
            }
            if touched(account, |a| match a {
                Action::Stop(t) => Some(t.account.get_ref()),
                _ => None,
            }) {
                out.push(steps::start(account));
            }
            if self.tls
                && touched(account, |a| match a {
                    Action::Certificate(c) => Some(c.account.get_ref()),
                    _ => None,
                })
            {
                out.push(steps::certificate(account, CertMode::Valid));
            }
        }
        for handle in self.agreement_handles() {
            out.push(steps::resend(&handle));
        }
        out
    }

    /// Every step the scenario runs: the steps, then the repair round.
    pub fn all_steps(&self) -> Vec<Step> {
        let mut all = self.steps.clone();
        all.extend(self.repair_round());
        all
    }

    /// How many scenario steps the schedule runs (steps plus repair round).
    pub fn step_count(&self) -> usize {
        self.steps.len() + self.repair_round().len()
    }

    /// The scenario's name.
    pub fn name(&self) -> String {
        format!("explore seed {} schedule {}", self.seed, self.index)
    }

    /// Whether some ticket is created with custom field values (then every account
    /// declares the field).
    fn uses_fields(&self) -> bool {
        self.flat()
            .iter()
            .any(|s| matches!(&s.action, Action::Ticket(t) if !t.custom_fields.is_empty()))
    }

    /// The scenario the explorer runs: built from the values, checked like a file.
    pub fn scenario(&self) -> Result<Scenario, String> {
        let mut accounts = IndexMap::new();
        for name in &self.accounts {
            let mut account = Account::plain();
            if self.uses_fields() {
                account.ticket_fields = vec![TicketFieldSpec {
                    title: steps::name(FIELD_TITLE),
                    field_type: FieldType::Text,
                    id: None,
                    options: Vec::new(),
                }];
            }
            accounts.insert(steps::name(name), account);
        }
        let mut scenario = Scenario::built(self.name(), accounts, self.all_steps());
        scenario.seed = Some(self.seed);
        scenario.tls = self.tls;
        scenario.timeout_ms = Some(TIMEOUT_MS);
        scenario.retries = self.retries;
        scenario.orders.clone_from(&self.orders);
        let file = format!("explore-{}-{}", self.seed, self.index);
        crate::drivers::scenario::check_built(scenario, &file).map_err(|e| {
            format!(
                "the explorer drew a schedule the checks refuse (a bug in sharesim): {e}\n{}",
                self.render()
            )
        })
    }

    /// The scenario file's header: name, description, settings and accounts.
    pub fn header(&self, name: &str, description: &str) -> String {
        let q = steps::quote;
        let mut text = String::new();
        let _ = writeln!(text, "name = {}", q(name));
        let _ = writeln!(text, "description = {}", q(description));
        let _ = writeln!(text, "seed = {}", self.seed);
        if self.tls {
            let _ = writeln!(text, "tls = true");
        }
        let _ = writeln!(text, "timeout_ms = {TIMEOUT_MS}");
        if self.retries > 0 {
            let _ = writeln!(text, "retries = {}", self.retries);
        }
        if let Some(orders) = &self.orders {
            let picks: Vec<String> = orders.iter().map(usize::to_string).collect();
            let _ = writeln!(text, "orders = [{}]", picks.join(", "));
        }
        for account in &self.accounts {
            let _ = write!(text, "\n[accounts.{account}]\n");
            if self.uses_fields() {
                let _ = writeln!(
                    text,
                    "ticket_fields = [{{ title = {}, type = \"text\" }}]",
                    q(FIELD_TITLE)
                );
            }
        }
        text
    }

    /// The schedule as a scenario file (what a finding is written from).
    pub fn render(&self) -> String {
        let mut text = self.header(
            &self.name(),
            "A schedule drawn by sharesim explore; it ends with a repair round.",
        );
        for step in self.all_steps() {
            let _ = write!(text, "\n[[steps]]\n{}", steps::render(&step));
        }
        text
    }
}

/// Whether `index` belongs to shard `shard` (1-based) of `of`: schedules are dealt
/// round-robin, so the shards are disjoint and together hold every index.
pub fn in_shard(index: u64, shard: u64, of: u64) -> bool {
    of <= 1 || index % of == shard - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::faults::Fault;

    fn shape() -> Shape {
        Shape {
            accounts: 3,
            steps: 12,
            faults: FaultFamily::ALL.to_vec(),
            tickets: true,
        }
    }

    #[test]
    fn a_schedule_is_drawn_again_from_its_seed_and_index() {
        let one = crate::drivers::explore::draw::draw(7, 3, &shape());
        assert_eq!(
            one.render(),
            crate::drivers::explore::draw::draw(7, 3, &shape()).render()
        );
        assert_ne!(
            one.render(),
            crate::drivers::explore::draw::draw(7, 4, &shape()).render()
        );
        assert_ne!(
            one.render(),
            crate::drivers::explore::draw::draw(8, 3, &shape()).render()
        );
        assert_eq!(one.steps.len(), 12);
    }

    #[test]
    fn every_drawn_schedule_is_a_valid_scenario_and_its_file_parses_back() {
        for (seed, index) in (0..3).flat_map(|seed| (0..200).map(move |index| (seed, index))) {
            let schedule = crate::drivers::explore::draw::draw(seed, index, &shape());
            let built = schedule.scenario().unwrap_or_else(|e| panic!("{e}"));
            let text = schedule.render();
            let parsed = crate::drivers::scenario::parse(&text, "drawn.toml")
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(parsed.steps.len(), built.steps.len());
            let lines =
                |steps: &[Step]| -> Vec<Option<String>> { steps.iter().map(steps::line).collect() };
            assert_eq!(lines(&parsed.steps), lines(&built.steps), "{text}");
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
    fn the_repair_round_releases_heals_and_resends_every_agreement() {
        let schedule = Schedule {
            seed: 0,
            index: 0,
            accounts: vec!["acme".into(), "globex".into()],
            tls: true,
            retries: 0,
            steps: vec![
                steps::invite("acme", "globex", "a1", Default::default()),
                steps::hold("acme", "globex"),
                steps::fault("globex", None, None, Fault::Reset),
                steps::stop("acme"),
                steps::certificate("globex", CertMode::Expired),
            ],
            orders: None,
        };
        let repair: Vec<String> = schedule
            .repair_round()
            .iter()
            .filter_map(steps::line)
            .collect();
        assert_eq!(
            repair,
            [
                "release = { from = \"acme\", to = \"globex\", order = \"fifo\" }",
                "start = { account = \"acme\" }",
                "heal = { account = \"globex\" }",
                "certificate = { account = \"globex\", mode = \"valid\" }",
                "resend = { agreement = \"a1\" }",
            ]
        );
    }

    #[test]
    fn an_armed_lose_reply_or_duplicate_is_disarmed_by_healing_its_receiver() {
        let schedule = Schedule {
            seed: 0,
            index: 0,
            accounts: vec!["acme".into(), "globex".into()],
            tls: false,
            retries: 0,
            steps: vec![
                steps::invite("acme", "globex", "a1", Default::default()),
                steps::lose_reply("acme", "globex"),
                steps::duplicate("globex", "acme"),
            ],
            orders: None,
        };
        let repair: Vec<String> = schedule
            .repair_round()
            .iter()
            .filter_map(steps::line)
            .collect();
        assert_eq!(
            repair,
            [
                "heal = { account = \"acme\" }",
                "heal = { account = \"globex\" }",
                "resend = { agreement = \"a1\" }",
            ]
        );
    }
}
