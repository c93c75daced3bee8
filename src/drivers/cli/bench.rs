//! `sharesim bench`: runs the benchmark, prints its table on stdout and writes the JSON.

use super::stdout::{out, outln};
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_USAGE};
use crate::drivers::bench::{BenchOptions, HandshakeSide, Part};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `sharesim bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo build --release && target/release/sharesim bench\n  sharesim bench --quick                       # a smoke run; numbers mean little\n  sharesim bench --only api --duration-secs 10\n  sharesim bench --only api,handshake --pairs 9   # ratios as the median of 9 pairs\n  sharesim bench --only soak --long-soak       # the 10-minute soak\n  sharesim bench --json now.json --compare baseline.json   # flag drops over 10%\n\nEvery load goes to loopback and is bounded by --duration-secs. Each target is printed\nwith PASS or FAIL; the exit code is 0 whenever the benchmark ran (1 with --compare when\na figure regressed), 2 when it could not.",
    args_conflicts_with_subcommands = true
)]
pub struct BenchArgs {
    /// The benchmark's own helper processes (not for people).
    #[command(subcommand)]
    pub tool: Option<BenchTool>,
    /// Seconds each load run lasts, default 3 (the API run splits it between sharesim and
    /// the baseline).
    #[arg(long)]
    pub duration_secs: Option<f64>,
    /// Pairs of alternating rounds (the bare baseline, then sharesim; each round half of
    /// --duration-secs) in which each comparison with a bare baseline is measured, default
    /// 2. Its ratio is the median of the pairs' ratios, so more pairs set aside a pair
    /// that a burst of other load hit.
    #[arg(long)]
    pub pairs: Option<u32>,
    /// Concurrent keep-alive connections of the API throughput run.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Accounts in the large world of the start measurement, default 1000.
    #[arg(long)]
    pub accounts: Option<usize>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "bench-results.json")]
    pub json: PathBuf,
    /// A fast smoke run (0.3 s loads, 100 accounts) unless other options say otherwise.
    #[arg(long)]
    pub quick: bool,
    /// Run only these parts (repeat or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// The scenario directory the suite part runs.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Seconds the soak part loads `serve`, default 30 (2 with --quick).
    #[arg(long)]
    pub soak_secs: Option<f64>,
    /// The long soak: 10 minutes, memory growth measured from minute 1.
    #[arg(long, conflicts_with = "soak_secs")]
    pub long_soak: bool,
    /// Compare each figure with a saved result (an earlier run's --json file) and flag
    /// any more than 10% worse: prints REGRESSED and exits 1.
    #[arg(long, value_name = "FILE")]
    pub compare: Option<PathBuf>,
    /// Measure only one side of the handshake comparison (16 senders, HTTP, one run of
    /// --duration-secs), for a profiler: `callgrind` or `perf` then see nothing else.
    /// Implies --only handshake.
    #[arg(long, value_enum, value_name = "SIDE", conflicts_with = "only")]
    pub profile_handshakes: Option<HandshakeSide>,
}

/// The helper processes `bench` starts, hidden from help.
#[derive(Debug, Subcommand)]
pub enum BenchTool {
    /// The out-of-process load generator: a plan (JSON) on stdin, its report on stdout.
    #[command(hide = true)]
    Load,
    /// The bare hyper baseline: answers (one JSON line) on stdin, `{"addr":…}` on stdout;
    /// serves until stdin closes.
    #[command(hide = true)]
    Baseline,
    /// The journal-stream readers of `--only serve-soak`: a plan (JSON line) on stdin,
    /// `{"opened":…}`, then what each stream should get, then the tallies.
    #[command(hide = true)]
    Readers,
}

impl BenchArgs {
    fn options(&self) -> Result<BenchOptions, String> {
        let mut options = if self.quick {
            BenchOptions::quick()
        } else {
            BenchOptions::default()
        };
        if let Some(seconds) = self.duration_secs {
            if !(seconds > 0.0 && seconds <= 600.0) {
                return Err(format!(
                    "--duration-secs {seconds} is out of range: use more than 0 and at most 600"
                ));
            }
            options.duration = Duration::from_secs_f64(seconds);
        }
        if let Some(pairs) = self.pairs {
            if !(1..=50).contains(&pairs) {
                return Err(format!("--pairs {pairs} is out of range: use 1 to 50"));
            }
            options.pairs = pairs;
        }
        if let Some(accounts) = self.accounts {
            options.accounts = accounts;
        }
        if let Some(seconds) = self.soak_secs {
            if !(seconds > 0.0 && seconds <= 3_600.0) {
                return Err(format!(
                    "--soak-secs {seconds} is out of range: use more than 0 and at most 3600"
                ));
            }
            options.soak_duration = Duration::from_secs_f64(seconds);
        }
        if self.long_soak {
            options.soak_duration = Duration::from_secs(600);
        }
        if !(1..=1_024).contains(&self.connections) {
            return Err(format!(
                "--connections {} is out of range: use 1 to 1024",
                self.connections
            ));
        }
        if !(1..=20_000).contains(&options.accounts) {
            return Err(format!(
                "--accounts {} is out of range: use 1 to 20000",
                options.accounts
            ));
        }
        options.connections = self.connections;
        options.scenarios = self.scenarios.clone();
        if !self.only.is_empty() {
            options.parts = self.only.clone();
        }
        if let Some(side) = self.profile_handshakes {
            options.parts = vec![Part::Handshake];
            options.handshake_side = Some(side);
        }
        Ok(options)
    }
}

/// Runs `bench` and returns the exit code.
pub(super) async fn run(args: BenchArgs) -> u8 {
    match args.tool {
        Some(BenchTool::Load) => return load_process().await,
        Some(BenchTool::Readers) => {
            let done =
                tokio::task::spawn_blocking(crate::drivers::bench::serve_soak::readers::process)
                    .await;
            return match done {
                Ok(Ok(())) => EXIT_PASSED,
                Ok(Err(error)) => {
                    eprintln!("sharesim: the stream readers failed: {error}");
                    EXIT_USAGE
                }
                Err(error) => {
                    eprintln!("sharesim: the stream readers failed: {error}");
                    EXIT_USAGE
                }
            };
        }
        Some(BenchTool::Baseline) => {
            return match crate::drivers::bench::baseline::serve_process().await {
                Ok(()) => EXIT_PASSED,
                Err(error) => {
                    eprintln!("sharesim: the baseline failed: {error}");
                    EXIT_USAGE
                }
            };
        }
        None => {}
    }
    let saved = match &args.compare {
        Some(path) => match crate::drivers::bench::compare::load(path) {
            Ok(saved) => Some((path.clone(), saved)),
            Err(message) => {
                eprintln!("sharesim: {message}");
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let options = match args.options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("sharesim: {message}");
            return EXIT_USAGE;
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("sharesim: this is a debug build; build with --release for meaningful numbers");
    }
    let report = match crate::drivers::bench::run(&options).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("sharesim: the benchmark could not run: {error}");
            return EXIT_USAGE;
        }
    };
    out!("{}", crate::drivers::bench::render_table(&report));
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Err(error) = std::fs::write(&args.json, format!("{json}\n")) {
        eprintln!(
            "sharesim: could not write the results to {}: {error}",
            args.json.display()
        );
        return EXIT_USAGE;
    }
    outln!("\nResults written to {}", args.json.display());
    if let Some((path, saved)) = saved {
        let now = serde_json::to_value(&report).unwrap_or_default();
        let compared = crate::drivers::bench::compare::compare(&saved, &now);
        out!(
            "{}",
            crate::drivers::bench::compare::render(&path, &compared)
        );
        if compared.iter().any(|c| c.regressed) {
            return EXIT_FAILED;
        }
    }
    EXIT_PASSED
}

/// `sharesim bench load`: reads a plan from stdin, runs it, prints the report.
async fn load_process() -> u8 {
    use tokio::io::AsyncReadExt;
    let mut input = Vec::new();
    if let Err(error) = tokio::io::stdin().read_to_end(&mut input).await {
        eprintln!("sharesim: could not read the load plan: {error}");
        return EXIT_USAGE;
    }
    let plan: crate::drivers::bench::generator::Plan = match serde_json::from_slice(&input) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("sharesim: the load plan is not valid JSON: {error}");
            return EXIT_USAGE;
        }
    };
    let report =
        tokio::task::spawn_blocking(move || crate::drivers::bench::generator::run_pinned(plan))
            .await;
    match report {
        Ok(Ok(report)) => {
            outln!("{}", serde_json::to_string(&report).unwrap_or_default());
            EXIT_PASSED
        }
        Ok(Err(error)) => {
            eprintln!("sharesim: the load generator failed: {error}");
            EXIT_USAGE
        }
        Err(error) => {
            eprintln!("sharesim: the load generator failed: {error}");
            EXIT_USAGE
        }
    }
}
