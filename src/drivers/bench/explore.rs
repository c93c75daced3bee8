//! Explore: schedules per second of 2-account, 8-step schedules with every basic fault,
//! run over HTTP by the explorer with 2 jobs (no shrinking), and the time to shrink a
//! 40-step schedule that breaks an invariant of the real model. Each schedule starts
//! its own world and runs every step through the REST API, as `sharesim explore` does.

use super::{BenchError, BenchOptions};
use crate::core::network::NetworkKind;
use crate::drivers::explore::invariants::Invariant;
use crate::drivers::explore::schedule::{FaultFamily, Shape};
use crate::drivers::explore::{Checks, ExploreOptions, explore, run_schedule, shrink};
use serde::Serialize;
use std::time::Instant;

/// Steps of the schedule the shrink measurement shrinks.
pub(crate) const SHRINK_STEPS: usize = 40;
/// Schedules searched for one that breaks an invariant, for the shrink measurement.
pub(crate) const SHRINK_SEARCH: u64 = 40;

/// The explore measurement.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ExploreResult {
    /// The network the schedules ran on.
    pub network: NetworkKind,
    /// Schedules run in the throughput run.
    pub schedules: u64,
    /// Its wall time, s.
    pub seconds: f64,
    /// Schedules per second.
    pub per_second: f64,
    /// CPU seconds the process used in the throughput run (both jobs).
    pub cpu_seconds: f64,
    /// Schedules of those that broke an invariant.
    pub violating: u64,
    /// The shrink measurement, when a 40-step schedule broke an invariant.
    pub shrink: Option<ShrinkResult>,
}

impl ExploreResult {
    /// Where a schedule's time goes on this network, as measured with `perf` (see the
    /// README's performance section).
    pub(crate) fn network_cost(&self) -> &'static str {
        match self.network {
            NetworkKind::Simulated => {
                "every schedule starts a fresh world on its own paused runtime; each step is real HTTP over in-memory connections (hyper and axum on both ends, rustls in HTTPS worlds) plus the surface check's GETs of accounts that changed; timeouts cost nothing"
            }
            NetworkKind::Loopback => {
                "the same work over kernel sockets, and every `hang` fault waits out the partner timeout in real time"
            }
        }
    }
}

/// Shrinking one 40-step schedule.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ShrinkResult {
    /// The invariant it broke.
    pub invariant: &'static str,
    /// Which schedule of seed 0.
    pub index: u64,
    /// Moves before and after.
    pub moves_before: usize,
    /// See `moves_before`.
    pub moves_after: usize,
    /// Candidate schedules run.
    pub runs: usize,
    /// Wall time, ms.
    pub wall_ms: f64,
}

/// Runs both measurements.
pub(crate) async fn measure(
    options: &BenchOptions,
    network: NetworkKind,
) -> Result<ExploreResult, BenchError> {
    let shape = Shape {
        accounts: 2,
        steps: 8,
        faults: FaultFamily::BASIC.to_vec(),
        tickets: false,
    };
    let explore_options = ExploreOptions {
        shape,
        seed: 0,
        schedules: None,
        budget: Some(options.duration),
        jobs: 2,
        shard: (1, 1),
        out: std::env::temp_dir(),
        invariants: Invariant::ALL.to_vec(),
        planted_bugs: Default::default(),
        shrink: false,
        known_limits: true,
        orders: crate::drivers::explore::orders::Orders::Random,
        network,
    };
    let cpu_before = super::process_cpu_seconds();
    let report = explore(&explore_options, &|_, _| {})
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let cpu_seconds = super::process_cpu_seconds() - cpu_before;
    let checks = Checks {
        invariants: Invariant::ALL.to_vec(),
        planted_bugs: Default::default(),
        network,
    };
    let long = Shape {
        steps: SHRINK_STEPS,
        ..explore_options.shape.clone()
    };
    let mut shrink_result = None;
    // Shrinking is measured once, on the simulated network it runs on by default.
    let searched = if network == NetworkKind::Simulated {
        SHRINK_SEARCH
    } else {
        0
    };
    for index in 0..searched {
        let schedule = crate::drivers::explore::draw::draw(0, index, &long);
        let run = run_schedule(&schedule, &checks, None)
            .await
            .map_err(BenchError::Setup)?;
        let Some(violation) = run.violations.first() else {
            continue;
        };
        let started = Instant::now();
        let shrunk = shrink::shrink(schedule.clone(), violation.invariant, None, &checks)
            .await
            .map_err(BenchError::Setup)?;
        shrink_result = Some(ShrinkResult {
            invariant: violation.invariant.name(),
            index,
            moves_before: schedule.steps.len(),
            moves_after: shrunk.schedule.steps.len(),
            runs: shrunk.runs,
            wall_ms: started.elapsed().as_secs_f64() * 1e3,
        });
        break;
    }
    Ok(ExploreResult {
        network,
        schedules: report.schedules,
        seconds: report.seconds,
        per_second: report.schedules as f64 / report.seconds.max(1e-9),
        cpu_seconds,
        violating: report.violating_schedules,
        shrink: shrink_result,
    })
}
