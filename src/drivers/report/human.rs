//! The console report: one line per scenario, the details of each failure (where,
//! expected vs actual, the last trace events that led there), and `N passed, M failed`.

use super::describe_event;
use crate::drivers::scenario::outcome::Outcome;
use anstyle::{AnsiColor, Style};
use std::fmt::Write;

/// How many trace events a failure shows.
const EVENTS_SHOWN: usize = 10;

/// Colours, or none.
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    enabled: bool,
}

impl Palette {
    /// Colours when `enabled` (a terminal, no NO_COLOR, `--color` permitting).
    pub fn new(enabled: bool) -> Palette {
        Palette { enabled }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.enabled {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn green(&self, text: &str) -> String {
        self.paint(AnsiColor::Green.on_default().bold(), text)
    }

    fn red(&self, text: &str) -> String {
        self.paint(AnsiColor::Red.on_default().bold(), text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }
}

/// The line for one scenario, and for a failure the details under it.
pub fn scenario(outcome: &Outcome, palette: Palette) -> String {
    let mut out = String::new();
    let millis = outcome.duration.as_millis();
    let verdict = if outcome.passed() {
        palette.green("PASS")
    } else {
        palette.red("FAIL")
    };
    let _ = writeln!(
        out,
        "{verdict} {} {}",
        outcome.name,
        palette.dim(&format!("({}, {millis} ms)", outcome.file))
    );
    if let Some(failure) = &outcome.failure {
        let _ = writeln!(
            out,
            "     at {} (step {}, {})",
            failure.location, failure.step, failure.action
        );
        let _ = writeln!(out, "     {}", failure.message);
        if !failure.diffs.is_empty() {
            let width = failure
                .diffs
                .iter()
                .map(|d| d.field.chars().count())
                .max()
                .unwrap_or(0);
            for diff in &failure.diffs {
                let _ = writeln!(
                    out,
                    "       {:<width$}  expected {}, actual {}",
                    diff.field,
                    palette.green(&diff.expected),
                    palette.red(&diff.actual)
                );
            }
        }
        let last = outcome
            .steps
            .iter()
            .find(|s| s.number == failure.step)
            .map_or(u64::MAX, |s| s.last_event);
        let events: Vec<_> = outcome.trace.iter().filter(|e| e.seq <= last).collect();
        let shown = &events[events.len().saturating_sub(EVENTS_SHOWN)..];
        if !shown.is_empty() {
            let _ = writeln!(out, "     last trace events:");
            for event in shown {
                let _ = writeln!(
                    out,
                    "       {} {}",
                    palette.dim(&format!("#{:<3}", event.seq)),
                    describe_event(event)
                );
            }
        }
    }
    out
}

/// The line for a scenario run under a range of seeds (each failing seed is reported
/// above it in full).
pub fn seeds_line(
    outcome: &Outcome,
    seeds: std::ops::Range<u64>,
    passed: usize,
    millis: u128,
    palette: Palette,
) -> String {
    let runs = (seeds.end - seeds.start) as usize;
    let verdict = if passed == runs {
        palette.green("PASS")
    } else {
        palette.red("FAIL")
    };
    format!(
        "{verdict} {} {}\n",
        outcome.name,
        palette.dim(&format!(
            "({}, seeds {}..{}: {passed} of {runs} passed, {millis} ms)",
            outcome.file, seeds.start, seeds.end
        ))
    )
}

/// The final line: `N passed, M failed`.
pub fn summary(outcomes: &[Outcome]) -> String {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    format!("{passed} passed, {} failed", outcomes.len() - passed)
}
