//! What a scenario can break on the wire between accounts: a closed listener, a hang,
//! latency, a chosen status, a reset mid-response, a redirect loop, or a crash inside
//! the receiver's handling. Every fault is real: it happens to real sockets and the
//! sender sees what a real partner would make it see.
//!
//! This module is the data: what can break and where ([`FaultTable`]). How it breaks
//! is decided elsewhere: the receiving listener's middleware (`listener::faults`) acts
//! on partner messages, the sender's transport on `down` links.

use crate::core::spelling::Spelled;
use crate::core::trace::lock;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// Where inside the receiver's handling a crash happens.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum CrashPoint {
    /// Dies before storing the invitation or answer: nothing changes, no reply.
    BeforeStore,
    /// Stores the invitation or answer, then dies before replying: the classic
    /// handshake bug where the sender records a failure the receiver never saw.
    AfterStore,
}

impl CrashPoint {
    /// The one spelling (scenario files, traces).
    pub fn as_str(self) -> &'static str {
        self.spelling()
    }
}

impl FromStr for CrashPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CrashPoint::from_spelling(s).ok_or_else(|| {
            format!(
                "unknown crash point `{s}`; expected {}",
                CrashPoint::spellings().join(" or ")
            )
        })
    }
}

/// One way to break what is sent to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing listens: the sender's connection is refused.
    Down,
    /// The connection is accepted and never answered: the sender's timeout fires.
    Hang,
    /// The answer is delayed by this long, then the message is handled normally.
    Latency(Duration),
    /// The partner endpoint answers this status with a short plain body, unhandled.
    Status(u16),
    /// The partner endpoint answers 429 Too Many Requests with `Retry-After` of this
    /// many seconds, unhandled.
    RetryAfter(u32),
    /// The response starts (status line and headers), then the connection closes.
    Reset,
    /// The endpoint answers 307 to itself, forever.
    RedirectLoop,
    /// The receiver dies at this point of its handling.
    Crash(CrashPoint),
}

impl Fault {
    /// Where the fault is applied: `down` by the sender's transport (there is no
    /// listener to act), everything else by the receiving account.
    pub fn side(&self) -> Side {
        match self {
            Fault::Down => Side::Sending,
            _ => Side::Receiving,
        }
    }

    /// Why this fault cannot be applied, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Fault::Status(code) => check_fault_status(*code),
            Fault::RetryAfter(seconds) => check_retry_after(*seconds),
            _ => Ok(()),
        }
    }
}

/// The statuses a `status` fault may answer: errors only. A 1xx is not a final answer,
/// and a 2xx or 3xx from a fault would be a partner that is not broken; one range for
/// scenario files, the schema and the world.
pub const FAULT_STATUSES: std::ops::RangeInclusive<u16> = 400..=599;

/// Whether `code` may be a `status` fault's answer ([`FAULT_STATUSES`]).
pub fn check_fault_status(code: u16) -> Result<(), String> {
    if FAULT_STATUSES.contains(&code) {
        Ok(())
    } else {
        Err(format!(
            "a fault's status must be an error status from {} to {}, not {code}",
            FAULT_STATUSES.start(),
            FAULT_STATUSES.end()
        ))
    }
}

/// The longest `Retry-After` a `retry_after` fault may ask for, in seconds.
pub const MAX_FAULT_RETRY_AFTER: u32 = 3600;

/// Whether `seconds` may be a `retry_after` fault's wait.
pub fn check_retry_after(seconds: u32) -> Result<(), String> {
    if seconds <= MAX_FAULT_RETRY_AFTER {
        Ok(())
    } else {
        Err(format!(
            "a fault's retry_after is at most {MAX_FAULT_RETRY_AFTER} seconds, not {seconds}"
        ))
    }
}

/// The scenario-file spelling: `down`, `hang`, `latency_ms = 500`, `status = 500`,
/// `reset`, `redirect_loop`, `crash = "after_store"`.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Down => f.write_str("down"),
            Fault::Hang => f.write_str("hang"),
            Fault::Latency(delay) => write!(f, "latency_ms = {}", delay.as_millis()),
            Fault::Status(code) => write!(f, "status = {code}"),
            Fault::RetryAfter(seconds) => write!(f, "retry_after = {seconds}"),
            Fault::Reset => f.write_str("reset"),
            Fault::RedirectLoop => f.write_str("redirect_loop"),
            Fault::Crash(point) => write!(f, "crash = \"{point}\""),
        }
    }
}

impl Fault {
    /// The key a scenario file names this kind of fault with (`down`, `latency_ms`,
    /// `crash`…).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Down => "down",
            Fault::Hang => "hang",
            Fault::Latency(_) => "latency_ms",
            Fault::Status(_) => "status",
            Fault::RetryAfter(_) => "retry_after",
            Fault::Reset => "reset",
            Fault::RedirectLoop => "redirect_loop",
            Fault::Crash(_) => "crash",
        }
    }

    /// The fault as the fields of a scenario file's fault table (`down = true`,
    /// `latency_ms = 500`, `crash = "after_store"`), for files sharesim writes.
    pub fn toml(&self) -> String {
        match self {
            Fault::Down | Fault::Hang | Fault::Reset | Fault::RedirectLoop => {
                format!("{self} = true")
            }
            _ => self.to_string(),
        }
    }
}

/// Which end of a message a fault is applied at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The sender's transport (a refused connection needs no receiver).
    Sending,
    /// The receiving account's listener and handlers.
    Receiving,
}

/// A fault on everything sent to `target`, or only on what `from` sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The receiving account.
    pub target: String,
    /// The sending account, for a fault on one link; None for every sender.
    pub from: Option<String>,
    /// What goes wrong.
    pub fault: Fault,
    /// How many more messages it applies to; None for all until healed.
    pub remaining: Option<u32>,
}

impl FaultRule {
    /// `fault` on everything sent to `target`, until healed.
    pub fn to(target: &str, fault: Fault) -> FaultRule {
        FaultRule {
            target: target.to_string(),
            from: None,
            fault,
            remaining: None,
        }
    }

    /// Limits the rule to what `sender` sends (one link).
    pub fn from(mut self, sender: &str) -> FaultRule {
        self.from = Some(sender.to_string());
        self
    }

    /// Limits the rule to the next `n` messages.
    pub fn times(mut self, n: u32) -> FaultRule {
        self.remaining = Some(n);
        self
    }

    /// "everything sent to globex", "the next 2 messages from acme to globex"…
    pub fn scope(&self) -> String {
        let link = match &self.from {
            Some(from) => format!("from {from} to {}", self.target),
            None => format!("to {}", self.target),
        };
        match self.remaining {
            None if self.from.is_none() => format!("everything sent to {}", self.target),
            None => format!("every message {link}"),
            Some(1) => format!("the next message {link}"),
            Some(n) => format!("the next {n} messages {link}"),
        }
    }
}

/// The fault rules of one world. At most one rule per (target, from) pair: setting a
/// rule replaces the one it shares a scope with.
#[derive(Debug, Default)]
pub struct FaultTable {
    rules: Mutex<Vec<FaultRule>>,
    /// How many messages each kind of fault broke, by kind (`hang`, `crash`…): what a
    /// run's coverage reports as fired.
    fired: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl FaultTable {
    /// An empty table.
    pub fn new() -> FaultTable {
        FaultTable::default()
    }

    /// Adds `rule`, replacing any rule on the same target and link.
    pub fn set(&self, rule: FaultRule) {
        let mut rules = lock(&self.rules);
        rules.retain(|r| !(r.target == rule.target && r.from == rule.from));
        if rule.remaining != Some(0) {
            rules.push(rule);
        }
    }

    /// Removes the rules on `target` for this scope (`from` None: every rule on
    /// `target`, account-wide and per link) and returns them.
    pub fn heal(&self, target: &str, from: Option<&str>) -> Vec<FaultRule> {
        let mut rules = lock(&self.rules);
        let (healed, kept) = rules
            .drain(..)
            .partition(|r| r.target == target && (from.is_none() || r.from.as_deref() == from));
        *rules = kept;
        healed
    }

    /// The fault for the next message from `from` (None: a sender that did not say
    /// who it is) to `target`, applied on `side`, using up one of its `times`. A rule
    /// on the link wins over one on the whole account.
    pub fn take(&self, target: &str, from: Option<&str>, side: Side) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let applies = |r: &FaultRule| r.target == target && r.fault.side() == side;
        let index = rules
            .iter()
            .position(|r| applies(r) && r.from.is_some() && r.from.as_deref() == from)
            .or_else(|| rules.iter().position(|r| applies(r) && r.from.is_none()))?;
        let fault = rules[index].fault;
        *lock(&self.fired).entry(fault.kind()).or_default() += 1;
        if let Some(remaining) = &mut rules[index].remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        Some(fault)
    }

    /// How many messages each kind of fault broke so far, by kind.
    pub fn fired(&self) -> std::collections::BTreeMap<&'static str, u64> {
        lock(&self.fired).clone()
    }

    /// A copy of every rule, in the order they were set.
    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.rules).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_rule_wins_over_an_account_rule() {
        let table = FaultTable::new();
        table.set(FaultRule::to("globex", Fault::Hang));
        table.set(FaultRule::to("globex", Fault::Status(500)).from("acme"));
        assert_eq!(
            table.take("globex", Some("acme"), Side::Receiving),
            Some(Fault::Status(500))
        );
        assert_eq!(
            table.take("globex", Some("initech"), Side::Receiving),
            Some(Fault::Hang)
        );
        assert_eq!(
            table.take("globex", None, Side::Receiving),
            Some(Fault::Hang)
        );
        assert_eq!(table.take("acme", Some("globex"), Side::Receiving), None);
    }

    #[test]
    fn times_are_used_up_one_message_at_a_time() {
        let table = FaultTable::new();
        table.set(FaultRule::to("globex", Fault::Reset).times(2));
        assert_eq!(
            table.take("globex", Some("acme"), Side::Receiving),
            Some(Fault::Reset)
        );
        assert_eq!(table.rules()[0].remaining, Some(1));
        assert_eq!(
            table.take("globex", Some("acme"), Side::Receiving),
            Some(Fault::Reset)
        );
        assert_eq!(table.take("globex", Some("acme"), Side::Receiving), None);
        assert!(table.rules().is_empty());
        table.set(FaultRule::to("globex", Fault::Reset).times(0));
        assert!(table.rules().is_empty(), "times = 0 applies to nothing");
    }

    #[test]
    fn each_side_takes_only_its_own_faults() {
        let table = FaultTable::new();
        table.set(FaultRule::to("globex", Fault::Down).from("acme").times(1));
        table.set(FaultRule::to("globex", Fault::Hang));
        assert_eq!(
            table.take("globex", Some("acme"), Side::Receiving),
            Some(Fault::Hang)
        );
        assert_eq!(
            table.take("globex", Some("acme"), Side::Sending),
            Some(Fault::Down)
        );
        assert_eq!(table.take("globex", Some("acme"), Side::Sending), None);
    }

    #[test]
    fn setting_replaces_the_rule_of_the_same_scope_and_heal_removes_them() {
        let table = FaultTable::new();
        table.set(FaultRule::to("globex", Fault::Hang));
        table.set(FaultRule::to("globex", Fault::Reset));
        table.set(FaultRule::to("globex", Fault::Hang).from("acme"));
        table.set(FaultRule::to("acme", Fault::Hang));
        assert_eq!(table.rules().len(), 3);
        let healed = table.heal("globex", Some("acme"));
        assert_eq!(
            healed,
            vec![FaultRule::to("globex", Fault::Hang).from("acme")]
        );
        assert_eq!(
            table.take("globex", Some("acme"), Side::Receiving),
            Some(Fault::Reset)
        );
        table.set(FaultRule::to("globex", Fault::Hang).from("acme"));
        assert_eq!(table.heal("globex", None).len(), 2);
        assert_eq!(table.rules(), vec![FaultRule::to("acme", Fault::Hang)]);
    }

    #[test]
    fn faults_print_as_scenario_files_spell_them() {
        let cases = [
            (Fault::Down, "down"),
            (Fault::Hang, "hang"),
            (
                Fault::Latency(Duration::from_millis(250)),
                "latency_ms = 250",
            ),
            (Fault::Status(503), "status = 503"),
            (Fault::Reset, "reset"),
            (Fault::RedirectLoop, "redirect_loop"),
            (
                Fault::Crash(CrashPoint::AfterStore),
                "crash = \"after_store\"",
            ),
        ];
        for (fault, text) in cases {
            assert_eq!(fault.to_string(), text);
        }
        assert_eq!("before_store".parse(), Ok(CrashPoint::BeforeStore));
        assert!("later".parse::<CrashPoint>().is_err());
        assert!(Fault::Status(102).check().is_err());
        assert!(Fault::Status(404).check().is_ok());
    }

    #[test]
    fn scopes_read_as_sentences() {
        assert_eq!(
            FaultRule::to("globex", Fault::Hang).scope(),
            "everything sent to globex"
        );
        assert_eq!(
            FaultRule::to("globex", Fault::Hang)
                .from("acme")
                .times(2)
                .scope(),
            "the next 2 messages from acme to globex"
        );
        assert_eq!(
            FaultRule::to("globex", Fault::Reset).times(1).scope(),
            "the next message to globex"
        );
    }
}
