//! `sharesim explore`: draws random schedules, runs them against fresh worlds, checks
//! the invariants, and writes each broken invariant as a shrunk scenario file.

use super::format::Format;
use super::stdout::{out, outln};
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_USAGE, Environment};
use crate::core::network::NetworkKind;
use crate::drivers::explore::invariants::Invariant;
use crate::drivers::explore::orders::Orders;
use crate::drivers::explore::schedule::{ACCOUNT_NAMES, FaultFamily, Shape};
use crate::drivers::explore::{ExploreOptions, ExploreReport, explore};
use clap::Args;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// `--shard I/N`: this machine runs part I (1-based) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 1.
    pub index: u64,
    /// How many parts.
    pub of: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}` is not a shard: write I/N with 1 <= I <= N, e.g. 2/4");
        let (index, of) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let of: u64 = of.trim().parse().map_err(|_| usage())?;
        if index == 0 || of == 0 || index > of {
            return Err(usage());
        }
        Ok(Shard { index, of })
    }
}

impl Shard {
    /// Whether the `position`-th item (from 0) of a list belongs to this shard.
    pub fn holds(&self, position: u64) -> bool {
        crate::drivers::explore::schedule::in_shard(position, self.index, self.of)
    }
}

/// Options of `sharesim explore`.
#[derive(Debug, Args)]
#[command(after_help = explore_help())]
pub struct ExploreArgs {
    /// Accounts in every world (2 to 6).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..=6))]
    pub accounts: u64,
    /// Steps drawn per schedule, before the repair round (1 to 200).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=200))]
    pub steps: u64,
    /// Fault kinds schedules may draw (comma-separated); default: every kind, the race
    /// steps (hold and release, duplicate, lose_reply) included.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub faults: Vec<FaultFamily>,
    /// Also draw ticket steps (create with tags and custom fields, share, re-share down
    /// a chain, unshare, public and private comments, status changes).
    #[arg(long)]
    pub tickets: bool,
    /// The seed schedules are drawn from.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many schedules the seed has (all shards together).
    #[arg(long, conflicts_with = "budget_secs", value_parser = clap::value_parser!(u64).range(1..))]
    pub schedules: Option<u64>,
    /// Instead of a count: draw schedules until this many seconds have passed.
    #[arg(long)]
    pub budget_secs: Option<f64>,
    /// Schedules run at once (default: number of cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: Option<u64>,
    /// Run only part I of N of the seed's schedules, e.g. 2/4.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// The corpus folder: one scenario file per signature, kept across runs and
    /// shards, and its index `findings.json`.
    #[arg(long, default_value = "explore-findings")]
    pub out: PathBuf,
    /// Also write what the run reached and found as a self-contained HTML page.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Instead of exploring: merge these corpus folders (of shards, of earlier runs)
    /// into --out (repeat the flag).
    #[arg(long)]
    pub merge: Vec<PathBuf>,
    /// Check only these invariants (repeat the flag); default: all.
    #[arg(long, value_enum)]
    pub invariant: Vec<Invariant>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// `random`: each schedule runs in one order drawn from the seed; `exhaustive`:
    /// in every order the scheduler can choose (groups of up to 3 actions, held
    /// messages released in every order), up to 720 per schedule.
    #[arg(long, value_enum, default_value_t = Orders::Random)]
    pub orders: Orders,
    /// Also fail (exit 1) when only known limits (`scenarios/found/`) were found.
    #[arg(long)]
    pub strict: bool,
    /// The network schedules run on: `simulated` (in memory, on a paused clock: the
    /// default; each finding is then rerun on loopback) or `loopback`.
    #[arg(long, value_enum, default_value_t = NetworkKind::Simulated)]
    pub network: NetworkKind,
}

/// Schedules run when neither `--schedules` nor `--budget-secs` is given.
pub(super) const DEFAULT_SCHEDULES: u64 = 100;

fn explore_help() -> String {
    format!(
        "{}\nExamples:\n  sharesim explore                                   # 100 schedules of seed 0\n  sharesim explore --seed 7 --schedules 1000 --jobs 2\n  sharesim explore --accounts 3 --steps 12 --faults crash,down --tickets\n  sharesim explore --budget-secs 60 --invariant copies_agree\n  sharesim explore --seed 7 --schedules 4000 --shard 2/4   # one machine of four\n  sharesim run explore-findings/copies_agree-accepted-pending.toml   # rerun a finding\n  sharesim explore --merge shard1 --merge shard2 --out all   # merge corpus folders\n\nExit codes: 0 nothing new found (known limits of scenarios/found/ are counted, not failed; --strict fails on them too), 1 a new violation was found, 2 usage error.",
        Invariant::help()
    )
}

impl ExploreArgs {
    fn options(&self, jobs_default: usize) -> Result<ExploreOptions, String> {
        let faults = if self.faults.is_empty() {
            FaultFamily::ALL.to_vec()
        } else {
            let mut faults = self.faults.clone();
            faults.sort();
            faults.dedup();
            faults
        };
        let budget = match self.budget_secs {
            Some(seconds) if !(seconds > 0.0 && seconds <= 86_400.0) => {
                return Err(format!(
                    "--budget-secs {seconds} is out of range: use more than 0 and at most 86400"
                ));
            }
            Some(seconds) => Some(Duration::from_secs_f64(seconds)),
            None => None,
        };
        let schedules = match (self.schedules, budget) {
            (Some(count), _) => Some(count),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_SCHEDULES),
        };
        let shard = self.shard.unwrap_or(Shard { index: 1, of: 1 });
        let invariants = if self.invariant.is_empty() {
            Invariant::ALL.to_vec()
        } else {
            self.invariant.clone()
        };
        debug_assert!(self.accounts as usize <= ACCOUNT_NAMES.len());
        Ok(ExploreOptions {
            shape: Shape {
                accounts: self.accounts as usize,
                steps: self.steps as usize,
                faults,
                tickets: self.tickets,
            },
            seed: self.seed,
            schedules,
            budget,
            jobs: self.jobs.map_or(jobs_default, |jobs| jobs as usize),
            shard: (shard.index, shard.of),
            out: self.out.clone(),
            invariants,
            planted_bugs: Default::default(),
            shrink: true,
            known_limits: true,
            orders: self.orders,
            network: self.network,
        })
    }
}

/// Runs `explore` and returns the exit code.
pub(super) async fn run(args: ExploreArgs, env: &Environment) -> u8 {
    if !args.merge.is_empty() {
        return merge(&args);
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let options = match args.options(cores) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("sharesim: {message}");
            return EXIT_USAGE;
        }
    };
    let bar = env.stderr_terminal.then(|| {
        let bar = match options.schedules {
            Some(total) => {
                // The indices i < total with i mod N = I - 1.
                let (shard, of) = options.shard;
                let mine = total / of + u64::from(shard - 1 < total % of);
                indicatif::ProgressBar::new(mine)
            }
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = match options.schedules {
            Some(_) => "{bar:30} {pos}/{len} schedules, {per_sec}, {msg}",
            None => "{spinner} {pos} schedules, {per_sec}, {msg}",
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |done: u64, violating: u64| {
        if let Some(bar) = &bar {
            bar.set_position(done);
            bar.set_message(format!("{violating} violating"));
        }
    };
    let result = explore(&options, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("sharesim: the exploration could not run: {error}");
            return EXIT_USAGE;
        }
    };
    if let Some(path) = &args.html
        && let Err(error) = std::fs::write(path, crate::drivers::report::explore::page(&report))
    {
        eprintln!("sharesim: could not write {}: {error}", path.display());
        return EXIT_USAGE;
    }
    match args.format {
        Format::Human => out!("{}", human(&report)),
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    }
    if report.found_new() || (args.strict && report.known_schedules > 0) {
        EXIT_FAILED
    } else {
        EXIT_PASSED
    }
}

/// `--merge`: merges corpus folders into `--out` and prints the index.
fn merge(args: &ExploreArgs) -> u8 {
    match crate::drivers::explore::corpus::merge_folders(&args.merge, &args.out) {
        Ok(index) => {
            match args.format {
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&index).unwrap_or_default()
                ),
                Format::Human => {
                    for entry in &index.entries {
                        outln!(
                            "{} {} ending in {}: seen {} time(s), first schedule {} of seed {}: {}",
                            if entry.known.is_some() {
                                "known"
                            } else {
                                "NEW"
                            },
                            entry.invariant,
                            entry.signature.pair,
                            entry.times_seen,
                            entry.first.index,
                            entry.first.seed,
                            entry.file
                        );
                    }
                    outln!(
                        "merged {} folder(s) into {}: {} signature(s), {} schedule(s)",
                        args.merge.len(),
                        args.out
                            .join(crate::drivers::explore::corpus::INDEX)
                            .display(),
                        index.entries.len(),
                        index.schedules
                    );
                }
            }
            EXIT_PASSED
        }
        Err(error) => {
            eprintln!("sharesim: could not merge the corpus folders: {error}");
            EXIT_USAGE
        }
    }
}

/// The summary a person reads.
fn human(report: &ExploreReport) -> String {
    let mut text = String::new();
    for finding in &report.findings {
        text.push_str(&format!(
            "NEW violation: {} in schedule {} of seed {} ({} schedule(s) broke it this way)\n  {}\n  shrunk from {} to {} steps ({} runs): {}\n  rerun: sharesim run {}{}{}{}\n",
            finding.invariant,
            finding.index,
            finding.seed,
            finding.schedules,
            finding.message,
            finding.original_steps,
            finding.shrunk_steps,
            finding.shrink_runs,
            finding.path,
            if finding.invariant == Invariant::ListingEqualsState.name() {
                "--check-surfaces "
            } else {
                ""
            },
            if finding.network == NetworkKind::Loopback {
                "--network loopback "
            } else {
                ""
            },
            finding.path,
            if finding.reproduced {
                ""
            } else {
                "\n  warning: running that file did not fail (a bug in sharesim: the simulated network should make every finding reproduce)"
            }
        ));
        text.push_str(&format!(
            "  signature: {} ending in {}, steps {}\n",
            finding.signature.invariant,
            finding.signature.pair,
            finding.signature.steps.join(", ")
        ));
        text.push_str(&format!("  found on the {} network", finding.network));
        match finding.loopback_reproduced {
            Some(true) => text.push_str("; rerun on loopback: it fails there too\n"),
            Some(false) => text.push_str(
                "; rerun on loopback: it did NOT fail there (its timing is the simulated network's own; run it with --network loopback to see)\n",
            ),
            None => text.push('\n'),
        }
        if let Some(difference) = &finding.rerun_differs {
            text.push_str(&format!(
                "  BUG IN SHARESIM: a second run of the same schedule and seed differs: {difference}\n"
            ));
        }
        text.push_str("  last trace events:\n");
        for line in &finding.last_events {
            text.push_str(&format!("    {line}\n"));
        }
    }
    for entry in &report.in_corpus {
        text.push_str(&format!(
            "NEW violation already in the corpus: {} ending in {} (first: schedule {} of seed {}), file {}\n",
            entry.invariant, entry.signature.pair, entry.first.index, entry.first.seed, entry.file
        ));
    }
    for known in &report.known {
        text.push_str(&format!(
            "known limit: {} ({} ending in {}) in {} schedule(s), first schedule {} of seed {}\n",
            known.file, known.invariant, known.pair, known.schedules, known.first.1, known.first.0
        ));
    }
    text.push_str(&report.coverage.human());
    let rate = report.schedules as f64 / report.seconds.max(1e-9);
    text.push_str(&format!(
        "explored {} schedule(s) of seed {} (shard {}) in {:.1} s, {:.1} schedules/s: {} broke an invariant ({} new, {} known), {} new finding(s), {} known limit(s)\n",
        report.schedules,
        report.seed,
        report.shard,
        report.seconds,
        rate,
        report.violating_schedules,
        report.new_schedules,
        report.known_schedules,
        report.findings.len(),
        report.known.len()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_written_i_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, of: 4 }));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
