//! `sharesim explain FILE`: a scenario narrated for a learner — each step's note, the
//! HTTP calls it made with their key fields, and every account's agreements afterwards.

use super::describe_event;
use crate::core::trace::EventKind;
use crate::drivers::scenario::outcome::{AccountSnapshot, Outcome};
use std::fmt::Write;

/// The narration of a run.
pub fn narrate(outcome: &Outcome, description: Option<&str>) -> String {
    narration(outcome, description, None)
}

/// The narration with the status grid (`explain --grid`): after each step that moved an
/// agreement's pair of copies, a line saying where the pair now sits on the grid, and
/// after the result every agreement's grid with the path it took.
pub fn narrate_with_grid(outcome: &Outcome, description: Option<&str>) -> String {
    let paths = super::grid::paths(outcome);
    let mut out = narration(outcome, description, Some(&paths));
    if !paths.is_empty() {
        let _ = writeln!(out, "\n## Status grid\n");
        out.push_str(&super::grid::text(&paths));
    }
    out
}

fn narration(
    outcome: &Outcome,
    description: Option<&str>,
    grid: Option<&[crate::core::consistency::PairPath]>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}", outcome.name);
    if let Some(description) = description {
        let _ = writeln!(out, "\n{}", description.trim_end());
    }
    for step in &outcome.steps {
        let _ = writeln!(
            out,
            "\n## Step {}: {} ({})",
            step.number, step.action, step.location
        );
        if let Some(note) = &step.note {
            let _ = writeln!(out, "{}", note.trim_end());
        }
        let events: Vec<_> = outcome
            .step_events(step)
            .filter(|e| e.kind != EventKind::Note)
            .collect();
        if !events.is_empty() {
            let _ = writeln!(out);
            for event in events {
                let indent = match event.kind {
                    EventKind::Decision | EventKind::World => "      ",
                    _ => "  ",
                };
                let _ = writeln!(out, "{indent}{}", describe_event(event));
            }
        }
        let failed_here = outcome
            .failure
            .as_ref()
            .is_some_and(|f| f.step == step.number);
        if matches!(step.action.as_str(), "expect" | "wait" | "expect_ticket") && !failed_here {
            let _ = writeln!(out, "\n  ✓ the expectation held");
        }
        let _ = writeln!(out);
        if outcome
            .tables_left_out_after
            .is_some_and(|after| step.number > after && step.accounts.is_empty())
        {
            if outcome.tables_left_out_after == Some(step.number - 1) {
                let _ = writeln!(
                    out,
                    "  (tables are left out from here on: this run's tables reached {} rows; the last step shows the state at the end)\n",
                    crate::drivers::scenario::outcome::MAX_TABLE_ROWS
                );
            }
        } else {
            out.push_str(&tables(&step.accounts));
        }
        for path in grid.unwrap_or_default() {
            let moved = path.points.iter().find(|p| p.at == step.number as u64);
            if let Some(point) = moved {
                let kind = super::grid::CellKind::of(point.sender_copy, point.receiver_copy);
                let name = |copy: Option<crate::core::model::AgreementStatus>| {
                    copy.map_or("no copy", |s| s.as_str())
                };
                let _ = writeln!(
                    out,
                    "  grid: {} ({} → {}) is now {} ↔ {}: {}",
                    path.label,
                    path.sender,
                    path.receiver,
                    name(point.sender_copy),
                    name(point.receiver_copy),
                    kind.words()
                );
            }
        }
    }
    let _ = writeln!(out);
    match &outcome.failure {
        None => {
            let _ = writeln!(out, "Result: passed ({} steps).", outcome.steps.len());
        }
        Some(failure) => {
            let _ = writeln!(
                out,
                "Result: FAILED at step {} ({}): {}",
                failure.step, failure.location, failure.message
            );
            for diff in &failure.diffs {
                let _ = writeln!(
                    out,
                    "  {}: expected {}, actual {}",
                    diff.field, diff.expected, diff.actual
                );
            }
        }
    }
    out
}

/// Each account's agreements (and tickets, once there are any) as small aligned tables.
fn tables(accounts: &[AccountSnapshot]) -> String {
    let mut out = String::new();
    for account in accounts {
        if account.agreements.is_empty() && account.tickets.is_empty() {
            let _ = writeln!(out, "  {}: no agreements", account.subdomain);
            continue;
        }
        let _ = writeln!(out, "  {}:", account.subdomain);
        if account.agreements.is_empty() {
            let _ = writeln!(out, "    no agreements");
        } else {
            let rows: Vec<Vec<String>> = account
                .agreements
                .iter()
                .map(|a| {
                    vec![
                        a.handle.clone().unwrap_or_else(|| "-".into()),
                        a.id.to_string(),
                        a.direction.clone(),
                        a.status.clone(),
                        a.remote_subdomain.clone().unwrap_or_else(|| "-".into()),
                        a.name.clone(),
                    ]
                })
                .collect();
            table(
                &mut out,
                &["handle", "id", "type", "status", "remote", "name"],
                &rows,
            );
        }
        if !account.tickets.is_empty() {
            let rows: Vec<Vec<String>> = account
                .tickets
                .iter()
                .map(|t| {
                    let shared = if t.orphan {
                        "(orphan)".to_string()
                    } else if t.shared_with.is_empty() {
                        "-".to_string()
                    } else {
                        t.shared_with.join(", ")
                    };
                    vec![
                        t.handle.clone().unwrap_or_else(|| "-".into()),
                        format!("#{}", t.id),
                        t.status.clone(),
                        shared,
                        t.comments.to_string(),
                        t.subject.clone(),
                    ]
                })
                .collect();
            table(
                &mut out,
                &[
                    "ticket",
                    "id",
                    "status",
                    "shared over",
                    "comments",
                    "subject",
                ],
                &rows,
            );
        }
    }
    out
}

/// Writes one aligned table, header first, indented under its account.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "    {}", line.join("  ").trim_end());
    }
}
