//! `--orders exhaustive`: one schedule run in every order the scheduler can choose.
//! Each run records its choice points (how many choices, which was taken); the next
//! order takes the same picks up to the last point that has an untried choice, and
//! that choice, then the first choice everywhere after: a depth-first walk of the
//! tree of orders, so a `concurrently` group of 3 actions starts in all 6 orders and
//! a seeded release delivers its messages in every order. The walk stops after
//! [`MAX_ORDERS`].

use super::coverage::Coverage;
use super::schedule::Schedule;
use super::{Checks, ScheduleRun, run_schedule};

/// Orders run per schedule at most.
pub const MAX_ORDERS: u64 = 720;

/// How each schedule's orders are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
pub enum Orders {
    /// One order per schedule, drawn from the seed.
    Random,
    /// Every order the scheduler can choose, up to 720 per schedule.
    Exhaustive,
}

/// What running a schedule in its orders gave.
pub struct Explored {
    /// The schedule, with the picks of the order kept (the first that broke an
    /// invariant, else the first order).
    pub schedule: Schedule,
    /// That order's run.
    pub run: ScheduleRun,
    /// Orders run.
    pub orders: u64,
    /// What all of them reached together.
    pub coverage: Coverage,
}

/// The picks of the order after `points`, or None when every order was run.
pub fn next_order(points: &[(usize, usize)]) -> Option<Vec<usize>> {
    let last = (0..points.len())
        .rev()
        .find(|&i| points[i].1 + 1 < points[i].0)?;
    let mut picks: Vec<usize> = points[..last].iter().map(|(_, pick)| *pick).collect();
    picks.push(points[last].1 + 1);
    Some(picks)
}

/// Runs `schedule` in every order (up to [`MAX_ORDERS`]).
pub async fn every_order(schedule: &Schedule, checks: &Checks) -> Result<Explored, String> {
    let mut picks: Vec<usize> = Vec::new();
    let mut coverage = Coverage::default();
    let mut kept: Option<(Schedule, ScheduleRun)> = None;
    let mut orders = 0;
    loop {
        let mut candidate = schedule.clone();
        candidate.orders = Some(picks);
        let run = run_schedule(&candidate, checks, None).await?;
        orders += 1;
        coverage.merge(&run.coverage);
        let next = next_order(&run.choice_points);
        candidate.orders = Some(run.choice_points.iter().map(|(_, p)| *p).collect());
        let better = match &kept {
            None => true,
            Some((_, kept_run)) => kept_run.violations.is_empty() && !run.violations.is_empty(),
        };
        if better {
            kept = Some((candidate, run));
        }
        match next {
            Some(next) if orders < MAX_ORDERS => picks = next,
            _ => break,
        }
    }
    let (schedule, run) = kept.ok_or("no order ran")?;
    Ok(Explored {
        schedule,
        run,
        orders,
        coverage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_visits_every_order_of_a_three_action_group() {
        // A group of 3 starts its actions in 3, then 2 choices: 6 orders.
        let mut seen = Vec::new();
        let mut points = vec![(3, 0), (2, 0)];
        loop {
            seen.push(points.iter().map(|(_, p)| *p).collect::<Vec<_>>());
            let Some(picks) = next_order(&points) else {
                break;
            };
            // What the scheduler would record: the picks, then 0 after them.
            points = [3usize, 2]
                .iter()
                .enumerate()
                .map(|(i, choices)| (*choices, picks.get(i).copied().unwrap_or(0)))
                .collect();
        }
        assert_eq!(
            seen,
            [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]].map(|p| p.to_vec())
        );
    }
}
