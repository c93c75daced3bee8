//! `sharesim conform`: a conformance kit for partner-protocol endpoints. sharesim plays
//! a Zendesk account against the endpoint under test and grades every answer (and every
//! message the endpoint sends on its own) against the protocol as the README documents
//! it.
//!
//! The endpoint is an external account of a world of its own (see [`crate::surfaces::external`]),
//! beside one account of sharesim's, the tester. The handshake and the ticket's life are
//! driven through the tester with ordinary steps, so what it sends is exactly what a
//! sharesim account sends ([`flow`]); the refusals a well-behaved endpoint must give are
//! provoked with calls made by hand ([`probes`]). The endpoint's own answers and pushes
//! reach the tester's listener and are graded from copies of them
//! ([`crate::core::account::tap`]). Every check has a stable name, what was sent, what came
//! back, and why that is wrong.

mod flow;
mod probes;
mod tickets;

use crate::core::directory::ExternalUrl;
use crate::world::{AccountSpec, World, WorldConfig};
use serde::Serialize;
use std::time::Duration;

/// The families of checks, in the order they run.
pub(crate) const FAMILIES: [&str; 5] = ["invitations", "tokens", "answers", "tickets", "time"];

/// One graded check.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Check {
    /// Stable name, `family.rule` (e.g. `token.missing`).
    pub name: &'static str,
    /// One of [`FAMILIES`].
    pub family: &'static str,
    /// The endpoint did what the protocol says.
    pub passed: bool,
    /// The check could not run (see `reason`); neither passed nor failed.
    pub skipped: bool,
    /// Why it failed or was skipped; empty when it passed.
    pub reason: String,
    /// What was sent (or, for the endpoint's own messages, what was awaited).
    pub sent: String,
    /// What came back (or what the endpoint sent).
    pub received: String,
}

impl Check {
    fn new(
        name: &'static str,
        sent: String,
        received: String,
        verdict: Result<(), String>,
    ) -> Check {
        let (passed, reason) = match verdict {
            Ok(()) => (true, String::new()),
            Err(reason) => (false, reason),
        };
        Check {
            name,
            family: family_of(name),
            passed,
            skipped: false,
            reason,
            sent,
            received,
        }
    }

    fn skipped(name: &'static str, reason: String) -> Check {
        Check {
            name,
            family: family_of(name),
            passed: false,
            skipped: true,
            reason,
            sent: String::new(),
            received: String::new(),
        }
    }
}

/// The family a check's name starts with.
fn family_of(name: &str) -> &'static str {
    let prefix = name.split('.').next().unwrap_or_default();
    FAMILIES
        .iter()
        .find(|family| family.trim_end_matches('s') == prefix || **family == prefix)
        .copied()
        .unwrap_or("invitations")
}

/// What `sharesim conform` was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The endpoint's sharing URL.
    pub url: ExternalUrl,
    /// The subdomain sharesim plays.
    pub subdomain: String,
    /// How long to wait for the endpoint's own answer and its own pushes.
    pub answer_timeout: Duration,
    /// How long each message to the endpoint may take.
    pub message_timeout: Duration,
    /// The loopback port sharesim's account listens on (None: ephemeral), for an
    /// endpoint that must know sharesim's sharing URL before the run.
    pub port: Option<u16>,
    /// CA certificates (PEM) to trust for an HTTPS endpoint.
    pub partner_ca_pem: Vec<String>,
}

/// Every check of one run, in order.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// The endpoint's sharing URL.
    pub endpoint: String,
    /// The subdomain sharesim played.
    #[serde(rename = "as")]
    pub subdomain: String,
    /// The sharing URL sharesim's account answered at (where the endpoint sent its
    /// answers and pushes).
    pub sharesim_url: String,
    /// Each check.
    pub checks: Vec<Check>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
    /// How many were skipped.
    pub skipped: usize,
}

impl Report {
    fn new(settings: &Settings, sharesim_url: String, checks: Vec<Check>) -> Report {
        let count = |f: fn(&Check) -> bool| checks.iter().filter(|c| f(c)).count();
        Report {
            endpoint: settings.url.to_string(),
            subdomain: settings.subdomain.clone(),
            sharesim_url,
            passed: count(|c| c.passed),
            failed: count(|c| !c.passed && !c.skipped),
            skipped: count(|c| c.skipped),
            checks,
        }
    }

    /// Whether every check that ran passed.
    pub(crate) fn all_passed(&self) -> bool {
        self.failed == 0
    }
}

/// Grades the endpoint. An error means the run could not start at all (the world's
/// listener, the client); an endpoint that cannot be reached fails its checks instead.
pub(crate) async fn run(settings: Settings) -> Result<Report, String> {
    let partner = if settings.subdomain == "partner" {
        "endpoint"
    } else {
        "partner"
    };
    let config = WorldConfig {
        // Keys and uuids from the OS: a run never repeats an earlier run's uuids, so an
        // endpoint that keeps its state between runs is graded afresh each time.
        seed: None,
        timeout: settings.message_timeout,
        logical_clock: false,
        partner_ca_pem: settings.partner_ca_pem.clone(),
        ..WorldConfig::default()
    };
    let specs = vec![
        AccountSpec {
            port: settings.port,
            ..AccountSpec::new(&settings.subdomain)
        },
        AccountSpec::external(partner, settings.url.clone()),
    ];
    let world = World::start(config, specs)
        .await
        .map_err(|e| format!("could not start sharesim's side: {e}"))?;
    let (tap, inbound) = tokio::sync::mpsc::unbounded_channel();
    world.services().inbound_tap.listen(tap);
    let sharesim_url = world
        .account(&settings.subdomain)
        .map(|account| account.loopback_sharing_url())
        .unwrap_or_default();
    let mut conformer = flow::Conformer::new(&world, &settings, partner, inbound)?;
    let checks = conformer.run().await;
    world.shutdown().await;
    Ok(Report::new(&settings, sharesim_url, checks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_map_to_their_family() {
        assert_eq!(family_of("invitation.new"), "invitations");
        assert_eq!(family_of("token.missing"), "tokens");
        assert_eq!(family_of("answer.token"), "answers");
        assert_eq!(family_of("ticket.share"), "tickets");
        assert_eq!(family_of("time.format"), "time");
    }
}
