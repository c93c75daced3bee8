//! The simulated network is honest: every bundled scenario, under seeds 0..8, has the
//! same outcome and the same trace on the in-memory network as on real loopback sockets,
//! and reruns byte for byte on the simulated network.

use sharesim::core::network::NetworkKind;
use sharesim::drivers::report;
use sharesim::drivers::scenario::determinism::{first_difference, mask_clock_readings, mask_ports};
use sharesim::drivers::scenario::outcome::Outcome;
use sharesim::drivers::scenario::run::{RunSettings, run};
use sharesim::drivers::scenario::{Scenario, discover, load};
use std::path::PathBuf;

const SEEDS: u64 = 8;

fn library() -> Vec<Scenario> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    discover(&[root])
        .expect("the bundled library is readable")
        .iter()
        .map(|file| load(file).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

async fn run_on(scenario: &Scenario, seed: u64, network: NetworkKind) -> Outcome {
    let settings = RunSettings {
        seed: Some(seed),
        check_surfaces: true,
        network: Some(network),
        ..RunSettings::default()
    };
    run(scenario, &settings).await
}

/// What the two networks may legitimately write differently, each masked:
/// - ports: the kernel picks loopback ports, the simulated network hands them out in
///   order from 49152;
/// - TLS clock readings: rustls quotes the verification time, which is the wall clock on
///   loopback and the world's calendar (from 2026-01-01T09:00:00Z) on the simulated
///   network; the distance it quotes (`86400 seconds ago`) is the same on both;
/// - each event's `at`: the simulated trace clock adds the time the world waited (a
///   hang's timeout, a latency, a retry's backoff), while loopback's waits are wall time,
///   not reproducible, so its trace clock adds none.
///
/// Everything else (who sent what, every status, every cause, every decision) must match.
fn comparable(outcome: &Outcome) -> String {
    let text = mask_clock_readings(&mask_ports(&report::trace_file::jsonl(outcome)));
    text.lines()
        .map(|line| {
            let mut event: serde_json::Value = serde_json::from_str(line).expect("a JSON event");
            event["at"] = serde_json::Value::from("<masked>");
            event.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn verdict(outcome: &Outcome) -> String {
    match &outcome.failure {
        None => "passed".to_string(),
        Some(failure) => mask_clock_readings(&mask_ports(&format!(
            "failed at step {}: {}",
            failure.step, failure.message
        ))),
    }
}

/// How one (scenario, seed) differs between the networks, if it does. Loopback's
/// timers are wall time: two held messages that time out in the same millisecond may be
/// recorded in either order while the machine is busy (the simulated clock fires them in
/// the order they were set). So a loopback run that differs is run again, up to twice,
/// and only a difference that every run shows is reported.
async fn compare(scenario: &Scenario, seed: u64) -> Option<String> {
    let mut difference = None;
    for _ in 0..3 {
        difference = compare_once(scenario, seed).await;
        difference.as_ref()?;
    }
    difference
}

async fn compare_once(scenario: &Scenario, seed: u64) -> Option<String> {
    let (simulated, loopback) = tokio::join!(
        run_on(scenario, seed, NetworkKind::Simulated),
        run_on(scenario, seed, NetworkKind::Loopback)
    );
    assert_eq!(simulated.network, NetworkKind::Simulated);
    assert_eq!(loopback.network, NetworkKind::Loopback);
    let (sim, real) = (comparable(&simulated), comparable(&loopback));
    if verdict(&simulated) == verdict(&loopback) && sim == real {
        return None;
    }
    let line = sim
        .lines()
        .zip(real.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(sim.lines().count().min(real.lines().count()));
    Some(format!(
        "{} seed {seed}: simulated {} / loopback {}; first different event {}:\n  simulated: {}\n  loopback:  {}",
        scenario.file(),
        verdict(&simulated),
        verdict(&loopback),
        line + 1,
        sim.lines().nth(line).unwrap_or("(none)"),
        real.lines().nth(line).unwrap_or("(none)"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_scenario_runs_the_same_on_both_networks() {
    use futures_util::StreamExt;
    let scenarios = library();
    assert!(scenarios.len() >= 60, "found {} scenarios", scenarios.len());
    let jobs: Vec<(&Scenario, u64)> = scenarios
        .iter()
        .flat_map(|scenario| (0..SEEDS).map(move |seed| (scenario, seed)))
        .collect();
    assert_eq!(jobs.len(), scenarios.len() * SEEDS as usize);
    // Loopback runs spend most of their time waiting on real timers, so many run at once.
    let differences: Vec<String> = futures_util::stream::iter(jobs)
        .map(|(scenario, seed)| compare(scenario, seed))
        .buffer_unordered(16)
        .filter_map(|difference| async move { difference })
        .collect()
        .await;
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_scenario_reruns_byte_for_byte_on_the_simulated_network() {
    let mut reruns = 0;
    for scenario in &library() {
        for seed in [0, 5] {
            let first = run_on(scenario, seed, NetworkKind::Simulated).await;
            let second = run_on(scenario, seed, NetworkKind::Simulated).await;
            assert!(first.passed(), "{} seed {seed} fails", scenario.file());
            assert_eq!(
                first_difference(&first, &second),
                None,
                "{} seed {seed}",
                scenario.file()
            );
            // Byte for byte, with nothing masked.
            assert_eq!(
                report::trace_file::jsonl(&first),
                report::trace_file::jsonl(&second)
            );
            reruns += 1;
        }
    }
    assert!(reruns >= 120);
}

#[test]
fn a_changed_trace_is_a_difference_and_names_its_line() {
    let scenario = library().remove(0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(run_on(&scenario, 0, NetworkKind::Simulated));
    let mut changed = outcome.clone();
    changed.trace[2].detail.push_str(" (changed)");
    let difference = first_difference(&outcome, &changed).expect("a difference");
    assert!(difference.contains("line 3 of the trace"), "{difference}");
    assert_eq!(first_difference(&outcome, &outcome.clone()), None);
}
