//! Suite: wall time of the bundled scenario library, run in-process the way
//! `sharesim run` runs it (load every file, then run the scenarios concurrently, as many
//! at a time as there are cores). Process start and report printing are not included.

use super::{BenchError, BenchOptions};
use crate::scenario::run::{RunSettings, run};
use crate::scenario::{discover, load};
use futures_util::StreamExt;
use serde::Serialize;
use std::time::Instant;

/// The suite measurement.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteResult {
    /// The directory that was run.
    pub path: String,
    /// Scenario files run.
    pub scenarios: usize,
    /// Scenarios that passed.
    pub passed: usize,
    /// Wall time, loading included, ms.
    pub wall_ms: f64,
}

/// Runs every scenario under the options' directory once and times it.
pub async fn measure(options: &BenchOptions) -> Result<SuiteResult, BenchError> {
    let started = Instant::now();
    let files = discover(std::slice::from_ref(&options.scenarios))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut scenarios = Vec::new();
    for file in &files {
        scenarios.push(load(file).map_err(|e| BenchError::Setup(e.to_string()))?);
    }
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let settings = RunSettings::default();
    let outcomes: Vec<_> = futures_util::stream::iter(scenarios.iter())
        .map(|scenario| run(scenario, &settings))
        .buffered(jobs)
        .collect()
        .await;
    let wall = started.elapsed();
    Ok(SuiteResult {
        path: options.scenarios.display().to_string(),
        scenarios: outcomes.len(),
        passed: outcomes.iter().filter(|o| o.passed()).count(),
        wall_ms: wall.as_secs_f64() * 1e3,
    })
}
