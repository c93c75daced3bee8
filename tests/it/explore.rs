//! The explorer end to end: it finds a rule broken on purpose and shrinks it, shards
//! split a seed's schedules exactly, and the built binary's findings rerun with `run`.

use crate::support::sharesim;
use sharesim::core::account::planted::PlantedBugs;
use sharesim::drivers::explore::invariants::Invariant;
use sharesim::drivers::explore::schedule::{FaultFamily, Schedule, Shape};
use sharesim::drivers::explore::{ExploreOptions, ExploreReport, explore};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn options(out: &Path) -> ExploreOptions {
    ExploreOptions {
        shape: Shape {
            accounts: 2,
            steps: 8,
            faults: FaultFamily::BASIC.to_vec(),
            tickets: false,
        },
        seed: 3,
        schedules: Some(60),
        budget: None,
        jobs: 2,
        shard: (1, 1),
        out: out.to_path_buf(),
        invariants: Invariant::ALL.to_vec(),
        planted_bugs: PlantedBugs::default(),
        shrink: true,
        network: sharesim::core::network::NetworkKind::Simulated,
        known_limits: true,
        orders: sharesim::drivers::explore::orders::Orders::Random,
    }
}

async fn quietly(options: &ExploreOptions) -> ExploreReport {
    explore(options, &|_, _| {})
        .await
        .unwrap_or_else(|e| panic!("the exploration ran: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_stores_a_repeated_invitation_twice_is_found_and_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut planted = options(dir.path());
    planted.schedules = Some(PLANTED_INVITATION_BUDGET);
    planted.invariants = vec![Invariant::OneCopyPerInvitation];
    planted.planted_bugs = PlantedBugs {
        store_repeated_invitations: true,
        ..PlantedBugs::default()
    };
    let report = quietly(&planted).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.invariant == "one_copy_per_invitation")
        .unwrap_or_else(|| {
            panic!("{PLANTED_INVITATION_BUDGET} schedules find the planted bug: {report:?}")
        });
    assert!(
        finding.shrunk_steps <= 8,
        "shrunk to {} steps: {}",
        finding.shrunk_steps,
        std::fs::read_to_string(&finding.path).unwrap()
    );
    let file = std::fs::read_to_string(&finding.path).unwrap();
    assert!(
        finding.path.ends_with("one_copy_per_invitation.toml"),
        "{}",
        finding.path
    );
    assert!(file.contains("one_copy_per_invitation"), "{file}");
    assert!(file.contains("--seed 3"), "{file}");
    assert!(file.contains("count = 1"), "{file}");
    assert!(finding.reproduced, "the file fails with the bug planted");
    // The same file passes on the real model: the bug is the planted one.
    let scenario = sharesim::drivers::scenario::parse(&file, "finding.toml").unwrap();
    let outcome = sharesim::drivers::scenario::run::run(
        &scenario,
        &sharesim::drivers::scenario::run::RunSettings::default(),
    )
    .await;
    assert!(
        outcome.passed(),
        "without the planted bug the finding's file passes: {:?}",
        outcome.failure
    );

    // Without the planted bug, the same schedules never store an invitation twice.
    let mut real = options(dir.path());
    real.schedules = Some(PLANTED_INVITATION_BUDGET);
    real.invariants = vec![Invariant::OneCopyPerInvitation];
    let report = quietly(&real).await;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.schedules, PLANTED_INVITATION_BUDGET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_are_disjoint_and_their_union_is_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut single = options(dir.path());
    single.schedules = Some(15);
    single.shape.steps = 5;
    // Faults whose effect does not depend on how long a call takes, so a loaded
    // machine cannot make one shard see what another run did not.
    single.shape.faults = vec![
        FaultFamily::Down,
        FaultFamily::Status,
        FaultFamily::Reset,
        FaultFamily::Crash,
    ];
    single.shrink = false;
    let whole = quietly(&single).await;
    assert_eq!(whole.indices, (0..15).collect::<Vec<u64>>());
    let mut indices = BTreeSet::new();
    let mut broken: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for shard in 1..=3 {
        let mut part = single.clone();
        part.shard = (shard, 3);
        let report = quietly(&part).await;
        assert_eq!(report.shard, format!("{shard}/3"));
        for index in &report.indices {
            assert!(indices.insert(*index), "index {index} ran in two shards");
        }
        for (invariant, found) in report.broken {
            broken.entry(invariant).or_default().extend(found);
        }
    }
    broken.values_mut().for_each(|found| found.sort_unstable());
    assert_eq!(indices.into_iter().collect::<Vec<_>>(), whole.indices);
    assert_eq!(broken, whole.broken);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The real model, a fixed budget: whatever explore reports, `sharesim run` on each
/// written file fails the same way; known limits exit 0 unless `--strict`.
#[test]
fn the_binarys_findings_rerun_with_sharesim_run() {
    let dir = tempfile::tempdir().unwrap();
    let explore = |strict: bool| {
        let mut args = vec![
            "explore",
            "--seed",
            "0",
            "--schedules",
            "24",
            "--jobs",
            "2",
            "--out",
            "found",
            "--format",
            "json",
        ];
        if strict {
            args.push("--strict");
        }
        sharesim(&args, dir.path())
    };
    let output = explore(false);
    let stdout = text(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--format json prints JSON ({e}): {stdout}"));
    assert_eq!(report["schedules"], 24);
    let findings = report["findings"].as_array().unwrap();
    let known = report["known"].as_array().unwrap();
    let new = report["new_schedules"].as_u64().unwrap();
    assert_eq!(new > 0, !findings.is_empty(), "{stdout}");
    let expected_code = if new > 0 { 1 } else { 0 };
    assert_eq!(output.status.code(), Some(expected_code), "{stdout}");
    assert!(
        !known.is_empty(),
        "seed 0 finds a known limit (the untold deletion) in 24 schedules: {stdout}"
    );
    assert_eq!(report["grid"].as_array().unwrap().len(), 8, "{stdout}");
    assert_eq!(
        explore(true).status.code(),
        Some(1),
        "--strict fails on known limits"
    );
    for finding in findings {
        let path = finding["path"].as_str().unwrap();
        assert_eq!(finding["reproduced"], true, "{finding}");
        assert!(!finding["last_events"].as_array().unwrap().is_empty());
        let rerun = sharesim(&["run", path], dir.path());
        assert_eq!(rerun.status.code(), Some(1), "{}", text(&rerun.stdout));
        let file = std::fs::read_to_string(dir.path().join(path)).unwrap();
        let invariant = finding["invariant"].as_str().unwrap();
        assert!(file.contains(&format!("breaks the invariant `{invariant}`")));
        assert!(
            text(&rerun.stdout).contains(&format!("FAIL {invariant} broken")),
            "{}",
            text(&rerun.stdout)
        );
    }
}

#[test]
fn explore_refuses_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        vec!["explore", "--shard", "5/4"],
        vec!["explore", "--accounts", "1"],
        vec!["explore", "--invariant", "no_such_rule"],
        vec!["explore", "--schedules", "5", "--budget-secs", "3"],
        vec!["explore", "--budget-secs", "-1"],
    ] {
        let output = sharesim(&bad, dir.path());
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            text(&output.stderr)
        );
    }
    let help = sharesim(&["explore", "--help"], dir.path());
    let help = text(&help.stdout);
    for invariant in Invariant::ALL {
        assert!(help.contains(invariant.name()), "{help}");
    }
}

#[test]
fn run_shards_split_the_scenario_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = |args: &[&str]| -> BTreeSet<String> {
        let output = sharesim(args, dir);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let report: serde_json::Value = serde_json::from_str(&text(&output.stdout)).unwrap();
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["file"].as_str().unwrap().to_string())
            .collect()
    };
    let path = "scenarios/agreements";
    let whole = files(&["run", path, "--format", "json"]);
    let one = files(&["run", path, "--format", "json", "--shard", "1/2"]);
    let two = files(&["run", path, "--format", "json", "--shard", "2/2"]);
    assert!(one.is_disjoint(&two));
    assert_eq!(one.union(&two).cloned().collect::<BTreeSet<_>>(), whole);
    assert!(!one.is_empty() && !two.is_empty());
}

/// On the simulated network a `hang` costs no wall time and no luck: every finding of a
/// fixed seed reruns byte for byte, and each is tried on loopback too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_findings_rerun_byte_for_byte_and_are_tried_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut hangs = options(dir.path());
    hangs.seed = 0;
    hangs.schedules = Some(40);
    hangs.shape.faults = vec![FaultFamily::Hang];
    // Every violation shrunk, known limits included.
    hangs.known_limits = false;
    let report = quietly(&hangs).await;
    assert!(
        !report.findings.is_empty(),
        "40 schedules with hangs find a violation: {report:?}"
    );
    for finding in &report.findings {
        assert_eq!(
            finding.network,
            sharesim::core::network::NetworkKind::Simulated
        );
        assert_eq!(finding.rerun_differs, None, "{finding:?}");
        assert!(finding.reproduced, "{finding:?}");
        assert!(
            finding.loopback_reproduced.is_some(),
            "a simulated finding is rerun on loopback: {finding:?}"
        );
        let file = std::fs::read_to_string(&finding.path).unwrap();
        assert!(file.contains("hang = true"), "{file}");
    }
}

/// The corpus: N shards written to N folders and merged give the index (and the files)
/// that one run writes; a second run into the same folder adds its counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_shard_folders_give_the_single_run_index() {
    use sharesim::drivers::explore::corpus::{Index, merge_folders};
    let dir = tempfile::tempdir().unwrap();
    let mut single = options(&dir.path().join("single"));
    single.seed = 0;
    single.schedules = Some(30);
    single.shape.accounts = 3;
    single.shape.tickets = true;
    single.shape.faults = FaultFamily::ALL.to_vec();
    let whole = quietly(&single).await;
    let mut folders = Vec::new();
    for shard in 1..=3 {
        let mut part = single.clone();
        part.shard = (shard, 3);
        part.out = dir.path().join(format!("shard{shard}"));
        quietly(&part).await;
        folders.push(part.out);
    }
    let merged_dir = dir.path().join("merged");
    let merged = merge_folders(&folders, &merged_dir).unwrap();
    let alone = Index::read(&single.out).unwrap();
    assert!(
        !alone.entries.is_empty(),
        "30 schedules of seed 0 break something: {whole:?}"
    );
    assert_eq!(merged, alone);
    for entry in &alone.entries {
        let read = |folder: &Path| std::fs::read_to_string(folder.join(&entry.file)).unwrap();
        assert_eq!(read(&merged_dir), read(&single.out), "{}", entry.file);
    }
    // The same run again into the same folder: nothing is shrunk again, counts add up.
    let again = quietly(&single).await;
    assert!(again.findings.is_empty(), "{:?}", again.findings);
    let twice = Index::read(&single.out).unwrap();
    for (one, two) in alone.entries.iter().zip(&twice.entries) {
        assert_eq!(two.times_seen, 2 * one.times_seen);
        assert_eq!(two.first, one.first);
    }
    assert_eq!(twice.schedules, 60);
}

fn checks() -> sharesim::drivers::explore::Checks {
    sharesim::drivers::explore::Checks {
        invariants: Invariant::ALL.to_vec(),
        planted_bugs: PlantedBugs::default(),
        network: sharesim::core::network::NetworkKind::Simulated,
    }
}

fn by_hand(accounts: &[&str], steps: Vec<sharesim::drivers::scenario::Step>) -> Schedule {
    Schedule {
        seed: 0,
        index: 0,
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        tls: false,
        retries: 0,
        steps,
        orders: None,
    }
}

/// `--orders exhaustive`: three held invitations released `seeded` are delivered in all
/// 3! orders, and a group of three actions starts in at least its 3! orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustive_orders_run_every_release_order_and_every_group_order() {
    use sharesim::core::transport::scheduler::ReleaseOrder;
    use sharesim::drivers::explore::orders::every_order;
    use sharesim::drivers::explore::steps;
    let accounts = ["acme", "globex", "initech", "umbrella"];
    let mut held = vec![steps::hold("acme", "globex")];
    for (handle, to) in [("a1", "globex"), ("a2", "globex"), ("a3", "globex")] {
        held.push(steps::invite("acme", to, handle, Default::default()));
    }
    held.push(steps::release("acme", "globex", ReleaseOrder::Seeded));
    let released = every_order(&by_hand(&accounts, held), &checks())
        .await
        .unwrap();
    assert_eq!(released.orders, 6, "3 held messages, 3! release orders");
    let group = vec![
        steps::invite("acme", "globex", "a1", Default::default()),
        steps::invite("acme", "initech", "a2", Default::default()),
        steps::concurrently(vec![
            steps::respond("globex", "a1", true),
            steps::respond("initech", "a2", false),
            steps::deactivate("acme", "a1"),
        ]),
    ];
    let raced = every_order(&by_hand(&accounts, group), &checks())
        .await
        .unwrap();
    assert!(
        raced.orders >= 6,
        "a group of 3 starts in 3! orders: {}",
        raced.orders
    );
    let picks = raced.schedule.orders.clone().unwrap();
    assert!(!picks.is_empty(), "the kept order is pinned");
    let file = raced.schedule.render();
    assert!(file.contains("orders = ["), "{file}");
}

/// The planted ticket bug: a receiver that stores a repeated comment twice is found
/// within a fixed budget, shrunk to at most 8 steps, and its file passes on the real
/// model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_stores_a_repeated_comment_twice_is_found_and_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut planted = options(dir.path());
    planted.schedules = Some(PLANTED_TICKET_BUDGET);
    planted.shape.tickets = true;
    planted.shape.steps = 10;
    // Repeats come from a link that delivers twice or a lost reply that is retried.
    planted.shape.faults = vec![FaultFamily::Duplicate];
    planted.invariants = vec![Invariant::CommentsConverge];
    planted.planted_bugs = PlantedBugs {
        store_repeated_comments: true,
        ..PlantedBugs::default()
    };
    let report = quietly(&planted).await;
    let finding = report
        .findings
        .iter()
        .find(|f| f.invariant == "comments_converge")
        .unwrap_or_else(|| {
            panic!("{PLANTED_TICKET_BUDGET} schedules find the planted bug: {report:?}")
        });
    let file = std::fs::read_to_string(&finding.path).unwrap();
    assert!(
        finding.shrunk_steps <= 8,
        "shrunk to {} steps: {file}",
        finding.shrunk_steps
    );
    assert!(
        finding.reproduced,
        "the file fails with the bug planted: {file}"
    );
    assert!(file.contains("expect_ticket"), "{file}");
    let scenario = sharesim::drivers::scenario::parse(&file, "finding.toml").unwrap();
    let outcome = sharesim::drivers::scenario::run::run(
        &scenario,
        &sharesim::drivers::scenario::run::RunSettings::default(),
    )
    .await;
    assert!(
        outcome.passed(),
        "without the planted bug the finding's file passes: {:?}",
        outcome.failure
    );
    let mut real = planted.clone();
    real.planted_bugs = PlantedBugs::default();
    let report = quietly(&real).await;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

/// Schedules the planted agreement bug is given.
const PLANTED_INVITATION_BUDGET: u64 = 200;

/// Schedules the planted ticket bug is given.
const PLANTED_TICKET_BUDGET: u64 = 400;
