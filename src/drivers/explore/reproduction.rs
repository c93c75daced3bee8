//! A finding as an ordinary scenario file: the shrunk schedule's steps, each refused
//! call pinned with the `expect_status` it got, each divergence the invariants allow
//! asserted with `expect = { divergence = … }`, and a closing check that fails the same
//! way the invariant broke, so `sharesim run FILE` reproduces it without the explorer.

use super::ScheduleRun;
use super::invariants::{Closing, Invariant, Violation};
use super::schedule::Schedule;
use super::steps::{self, quote};
use crate::core::account::planted::PlantedBugs;
use crate::core::network::NetworkKind;
use crate::drivers::scenario::parse;
use crate::drivers::scenario::run::{RunSettings, run};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Trace events printed with a finding.
pub(crate) const LAST_EVENTS: usize = 8;

/// Renders the reproduction file of `run`'s violation of `invariant`; `command` is the
/// exploration that found it, for the description.
pub(crate) fn render(
    schedule: &Schedule,
    run: &ScheduleRun,
    invariant: Invariant,
    original_steps: usize,
    command: &str,
) -> String {
    let Some(violation) = run.violation(invariant) else {
        return schedule.render();
    };
    let all = schedule.all_steps();
    let surfaces = violation.closing == Closing::Surfaces;
    let rerun = if surfaces {
        "sharesim run --check-surfaces FILE"
    } else {
        "sharesim run FILE"
    };
    let description = format!(
        "Found by `{command}` (schedule {index}) and shrunk from {original_steps} steps. \
         It breaks the invariant `{name}`: {meaning}. What was seen: {message}. \
         `{rerun}` reproduces it: the last check fails the same way.",
        index = schedule.index,
        name = invariant.name(),
        meaning = invariant.meaning(),
        message = violation.message,
    );
    let name = format!(
        "{} broken (explore seed {} schedule {})",
        invariant.name(),
        schedule.seed,
        schedule.index
    );
    let mut text = schedule.header(&name, &description);
    let mut previous: BTreeSet<String> = BTreeSet::new();
    // Agreement and ticket handles defined only by steps left out of the file.
    let mut unwritten: (BTreeSet<String>, BTreeSet<String>) = Default::default();
    for (position, step) in all.iter().enumerate().take(violation.step) {
        let number = position + 1;
        let Some(log) = run.log.get(position) else {
            break;
        };
        let violating = number == violation.step;
        // A step that could not act (it names a copy that does not exist, or an
        // account that is down) changed nothing: leave it out, and with it every later
        // step that names a handle only such a step defined (the repair round resends
        // every handle), so the file still parses.
        let (used_agreements, used_tickets) = steps::handles_used(step);
        let names_unwritten = used_agreements.iter().any(|h| unwritten.0.contains(*h))
            || used_tickets.iter().any(|h| unwritten.1.contains(*h));
        let (made_agreements, made_tickets) = steps::handles_defined(step);
        if (log.refused && log.answers.is_empty()) || names_unwritten {
            unwritten
                .0
                .extend(made_agreements.iter().map(|h| h.to_string()));
            unwritten
                .1
                .extend(made_tickets.iter().map(|h| h.to_string()));
        } else {
            for handle in &made_agreements {
                unwritten.0.remove(*handle);
            }
            for handle in &made_tickets {
                unwritten.1.remove(*handle);
            }
            let _ = write!(text, "\n[[steps]]\n{}", steps::render(step));
            let itself = violating && violation.closing == Closing::StepItself;
            // A group's actions may be refused (4xx) without saying so: a refusal is
            // one of the outcomes of a race.
            let group = matches!(
                step.action,
                crate::drivers::scenario::Action::Concurrently(_)
            );
            if log.refused
                && !itself
                && !group
                && let Some(status) = log.answers.last()
            {
                let _ = writeln!(text, "expect_status = {status}");
            }
        }
        let newly: Vec<&String> = log.diverged.difference(&previous).collect();
        let asserted = !(violating && invariant == Invariant::CopiesAgree);
        if asserted {
            for handle in newly {
                let _ = write!(
                    text,
                    "\n[[steps]]\nnote = \"the copies disagree here; asserted so that the run goes on to the check below\"\nexpect = {{ divergence = {} }}\n",
                    quote(handle)
                );
            }
        }
        previous = log.diverged.clone();
    }
    write_closing(&mut text, violation, invariant);
    text
}

/// The reproduction's last step: the check that fails the way the invariant broke.
fn write_closing(text: &mut String, violation: &Violation, invariant: Invariant) {
    let note = quote(&format!(
        "invariant {}: {}",
        invariant.name(),
        invariant.meaning()
    ));
    match &violation.closing {
        Closing::Agreement {
            account,
            handle,
            status,
        } => {
            let check = match status {
                Some(status) => format!("status = \"{status}\""),
                None => "absent = true".to_string(),
            };
            let _ = write!(
                text,
                "\n[[steps]]\nnote = {note}\nexpect = {{ account = {}, agreement = {}, {check} }}\n",
                quote(account),
                quote(handle)
            );
        }
        Closing::Count { account, count } => {
            let _ = write!(
                text,
                "\n[[steps]]\nnote = {note}\nexpect = {{ account = {}, count = {count} }}\n",
                quote(account)
            );
        }
        Closing::Comments {
            account,
            handle,
            bodies,
        } => {
            let comments: Vec<String> = bodies
                .iter()
                .map(|body| format!("{{ body = {} }}", quote(body)))
                .collect();
            let _ = write!(
                text,
                "\n[[steps]]\nnote = {note}\nexpect_ticket = {{ account = {}, ticket = {}, comments = [{}] }}\n",
                quote(account),
                quote(handle),
                comments.join(", ")
            );
        }
        Closing::StepItself | Closing::Surfaces => {}
    }
}

/// What running a reproduction file with the plain runner showed.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    /// Whether it failed at its last step, as it must.
    pub failed: bool,
    /// How many steps the file has.
    pub steps: usize,
    /// The last trace events of its run, one line each.
    pub last_events: Vec<String>,
}

/// Runs a reproduction file exactly as `sharesim run --network N` would (with the surface check
/// when the invariant needs it, and the exploration's planted bugs, which only tests
/// set) and reports whether it fails.
pub(crate) async fn check(
    text: &str,
    file: &str,
    invariant: Invariant,
    planted_bugs: PlantedBugs,
    network: NetworkKind,
) -> Result<Check, String> {
    let scenario = parse(text, file)
        .map_err(|e| format!("a reproduction file does not parse (a bug in sharesim): {e}"))?;
    let settings = RunSettings {
        check_surfaces: invariant == Invariant::ListingEqualsState,
        planted_bugs,
        network: Some(network),
        ..RunSettings::default()
    };
    let outcome = run(&scenario, &settings).await;
    let events = &outcome.trace;
    let last_events = events[events.len().saturating_sub(LAST_EVENTS)..]
        .iter()
        .map(|event| {
            let mut line = format!("#{} {} → {}", event.seq, event.from, event.to);
            if let (Some(method), Some(path)) = (&event.method, &event.path) {
                let _ = write!(line, " {method} {path}");
            }
            if let Some(status) = event.status {
                let _ = write!(line, " {status}");
            }
            if !event.detail.is_empty() {
                let _ = write!(line, ": {}", event.detail);
            }
            line
        })
        .collect();
    // It must fail where the invariant broke (its last step), not on the way there.
    let last = scenario.steps.len();
    Ok(Check {
        failed: outcome.failure.as_ref().is_some_and(|f| f.step == last),
        steps: scenario.steps.len(),
        last_events,
    })
}
