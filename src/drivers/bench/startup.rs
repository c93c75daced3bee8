//! World start: how long `World::start` takes for two accounts (an HTTPS world, so the CA
//! and both certificates are included) and for many accounts (each with its own
//! listener), and how much resident memory each idle account costs.

use super::{BenchError, BenchOptions};
use crate::world::{AccountSpec, World, WorldConfig};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Starts of the small world; the median is reported.
const SMALL_WORLD_RUNS: usize = 7;

/// One large world's start.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LargeWorld {
    /// `http` or `https` (certificates issued for every account).
    pub scheme: &'static str,
    /// Accounts started.
    pub accounts: usize,
    /// Wall time of `World::start`, ms.
    pub start_ms: f64,
    /// Growth of the process's resident memory (VmRSS) while starting, KiB.
    pub rss_growth_kib: u64,
    /// That growth divided by the number of accounts, KiB.
    pub rss_per_account_kib: f64,
}

/// The world start measurement.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StartupResult {
    /// Median wall time to start an HTTPS world of two accounts, CA and certificates
    /// included, ms.
    pub two_accounts_https_ms: f64,
    /// Every run of the two-account start, ms.
    pub two_accounts_runs_ms: Vec<f64>,
    /// Large worlds, plain HTTP first.
    pub large: Vec<LargeWorld>,
}

/// Runs the world start measurement.
pub(crate) async fn measure(options: &BenchOptions) -> Result<StartupResult, BenchError> {
    // The large worlds go first, while the allocator holds as little freed memory as it
    // ever will in this process, so resident memory growth is the accounts' own.
    // Each world stays up while the next starts, so memory freed by one cannot be reused
    // by the next and hide its growth.
    let mut large = Vec::new();
    let mut running = Vec::new();
    for https in [false, true] {
        let (measured, world) = large_world(options.accounts, https).await?;
        large.push(measured);
        running.push(world);
    }
    for world in running {
        world.shutdown().await;
    }
    let mut runs = Vec::new();
    for _ in 0..SMALL_WORLD_RUNS {
        let started = Instant::now();
        let world = World::start(
            WorldConfig {
                https: true,
                ..WorldConfig::default()
            },
            vec![AccountSpec::new("acme"), AccountSpec::new("globex")],
        )
        .await?;
        runs.push(ms(started.elapsed()));
        world.shutdown().await;
    }
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(StartupResult {
        two_accounts_https_ms: sorted[sorted.len() / 2],
        two_accounts_runs_ms: runs,
        large,
    })
}

async fn large_world(accounts: usize, https: bool) -> Result<(LargeWorld, World), BenchError> {
    let specs = (0..accounts)
        .map(|i| AccountSpec::new(&format!("account{i}")))
        .collect();
    let before = resident_kib();
    let started = Instant::now();
    let world = World::start(
        WorldConfig {
            https,
            ..WorldConfig::default()
        },
        specs,
    )
    .await
    .map_err(|e| match e {
        crate::world::WorldError::Bind { source, .. } if source.raw_os_error() == Some(24) => {
            BenchError::Setup(format!(
                "too many open files while starting {accounts} listeners: raise `ulimit -n` \
                 above {} and run again",
                accounts + 100
            ))
        }
        other => other.into(),
    })?;
    let elapsed = started.elapsed();
    // Give every listener task its first poll, so each idle account is fully set up.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let growth = resident_kib().saturating_sub(before);
    let measured = LargeWorld {
        scheme: if https { "https" } else { "http" },
        accounts,
        start_ms: ms(elapsed),
        rss_growth_kib: growth,
        rss_per_account_kib: growth as f64 / accounts.max(1) as f64,
    };
    Ok((measured, world))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The process's resident memory in KiB (`VmRSS` in `/proc/self/status`; 0 elsewhere).
pub(crate) fn resident_kib() -> u64 {
    super::served::resident_kib_of(std::process::id())
}
