//! Suite: wall time of the bundled scenario library under every seed its files ask
//! for (a race file's `seeds = 64` runs 64 times), run in-process the way `sharesim run`
//! runs it (load every file, then run the runs concurrently, as many at a time as there
//! are cores), on one network. Process start and report printing are not included.

use super::{BenchError, BenchOptions};
use crate::core::network::NetworkKind;
use crate::drivers::scenario::run::{RunSettings, run};
use crate::drivers::scenario::{discover, load};
use futures_util::StreamExt;
use serde::Serialize;
use std::time::Instant;

/// The suite measurement on one network.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SuiteResult {
    /// The network every world ran on.
    pub network: NetworkKind,
    /// The directory that was run.
    pub path: String,
    /// Scenario files run.
    pub scenarios: usize,
    /// Runs: one per file and seed.
    pub runs: usize,
    /// Runs that passed.
    pub passed: usize,
    /// Wall time, loading included, ms.
    pub wall_ms: f64,
}

/// Runs every scenario under the options' directory under each of its seeds, on
/// `network`, and times it.
pub(crate) async fn measure(
    options: &BenchOptions,
    network: NetworkKind,
) -> Result<SuiteResult, BenchError> {
    let started = Instant::now();
    let files = discover(std::slice::from_ref(&options.scenarios))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut scenarios = Vec::new();
    for file in &files {
        scenarios.push(load(file).map_err(|e| BenchError::Setup(e.to_string()))?);
    }
    let runs: Vec<(usize, Option<u64>)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(index, scenario)| {
            let seeds: Vec<Option<u64>> = match scenario.seeds {
                Some(count) if count > 0 => (0..u64::from(count)).map(Some).collect(),
                _ => vec![None],
            };
            seeds.into_iter().map(move |seed| (index, seed))
        })
        .collect();
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scenarios = &scenarios;
    let outcomes: Vec<_> = futures_util::stream::iter(runs)
        .map(|(index, seed)| async move {
            let settings = RunSettings {
                seed,
                network: Some(network),
                ..RunSettings::default()
            };
            run(&scenarios[index], &settings).await
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    let wall = started.elapsed();
    Ok(SuiteResult {
        network,
        path: options.scenarios.display().to_string(),
        scenarios: scenarios.len(),
        runs: outcomes.len(),
        passed: outcomes.iter().filter(|o| o.passed()).count(),
        wall_ms: wall.as_secs_f64() * 1e3,
    })
}
