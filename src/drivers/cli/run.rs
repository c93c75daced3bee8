//! `sharesim run`, `check` and `explain`: load scenario files (refusing every invalid
//! one before anything runs), run them in parallel worlds, and report.

use super::format::Format;
use super::stdout::{out, outln};
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_USAGE, Environment};
use crate::core::network::NetworkKind;
use crate::drivers::report;
use crate::drivers::scenario::outcome::Failure;
use crate::drivers::scenario::outcome::Outcome;
use crate::drivers::scenario::run::{RunSettings, run};
use crate::drivers::scenario::{Scenario, discover, load};
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};

/// Where scenarios live when no path is given.
pub(super) const DEFAULT_SCENARIOS: &str = "scenarios";

/// When to colour the console report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set or TERM is dumb.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// What `--diagram-dir` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DiagramFormat {
    /// Mermaid `sequenceDiagram` source (.mmd), for tools that render Mermaid.
    #[default]
    Mermaid,
    /// A drawn SVG picture (.svg), viewable in any browser without a network.
    Svg,
}

/// Options of `sharesim run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sharesim run                                  # every scenario under scenarios/\n  sharesim run scenarios/agreements/01-invite-and-accept.toml --seed 7\n  sharesim run --filter decline --junit report.xml --diagram-dir diagrams/\n  sharesim run --html report.html --diagram-dir diagrams/ --diagram-format svg\n  sharesim run --seeds 0..64 scenarios/races/\n\nExit codes: 0 all passed, 1 a scenario failed, 2 usage error or invalid scenario file."
)]
pub struct RunArgs {
    /// Scenario files or folders (searched recursively for *.toml).
    #[arg(default_values_t = [DEFAULT_SCENARIOS.to_string()])]
    pub paths: Vec<String>,
    /// Seed for every scenario, overriding the files' `seed` and `seeds`.
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Run every scenario under each seed of a range, e.g. `0..64`, and report each
    /// failing seed (races: each seed may interleave `concurrently` groups differently).
    #[arg(long, value_parser = parse_seed_range, value_name = "FROM..TO")]
    pub seeds: Option<std::ops::Range<u64>>,
    /// Only scenarios whose name or file contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Stop at the first failing scenario.
    #[arg(long)]
    pub fail_fast: bool,
    /// Scenarios run at once (default: number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Also write a JUnit XML report to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write one JSON-lines trace per scenario into this folder.
    #[arg(long)]
    pub trace_dir: Option<PathBuf>,
    /// Write one sequence diagram per scenario into this folder (Mermaid .mmd by
    /// default; see --diagram-format).
    #[arg(long)]
    pub diagram_dir: Option<PathBuf>,
    /// The format of the files --diagram-dir writes.
    #[arg(long, value_enum, default_value_t = DiagramFormat::Mermaid, requires = "diagram_dir")]
    pub diagram_format: DiagramFormat,
    /// Also write one self-contained HTML report (summary, drawn diagrams, per-step
    /// state, failures with their diff) to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Colour the console report.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// After every step, check that each account's REST listings of agreements and
    /// tickets equal its state (the test suite always does).
    #[arg(long)]
    pub check_surfaces: bool,
    /// Run only part I of N of the scenario files (in path order), e.g. 2/4: a CI
    /// matrix of N jobs runs every file exactly once.
    #[arg(long)]
    pub shard: Option<super::explore::Shard>,
    /// The network every world runs on, overriding the files' `network`: `simulated`
    /// (in memory, on a paused clock: the default) or `loopback` (real sockets and the
    /// wall clock, as real clients see them).
    #[arg(long, value_enum)]
    pub network: Option<NetworkKind>,
    /// Run every scenario twice and fail it when the two traces differ: byte for byte
    /// on the simulated network; on loopback, ports and TLS clock readings are masked.
    #[arg(long)]
    pub check_determinism: bool,
}

/// Options of `sharesim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files or folders.
    #[arg(default_values_t = [DEFAULT_SCENARIOS.to_string()])]
    pub paths: Vec<String>,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Options of `sharesim explain`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sharesim explain scenarios/agreements/01-invite-and-accept.toml\n  sharesim explain scenarios/failures/02-tls-expired.toml --html tls.html\n  sharesim explain scenarios/failures/15-crash-after-store.toml --grid"
)]
pub struct ExplainArgs {
    /// The scenario file to run and narrate.
    pub file: PathBuf,
    /// Seed, overriding the file's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write the narration as a self-contained HTML page to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Also show the status grid: where each agreement's pair of copies sits after each
    /// step (sender's status against receiver's), and the path it took.
    #[arg(long)]
    pub grid: bool,
    /// The network the world runs on, overriding the file's `network`.
    #[arg(long, value_enum)]
    pub network: Option<NetworkKind>,
}

/// The most seeds `--seeds` may name: each is a whole run of every scenario.
pub(super) const MAX_SEEDS: u64 = 100_000;

/// Reads `FROM..TO` (TO excluded), as `--seeds` takes it.
fn parse_seed_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (from, to) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a range; write FROM..TO, e.g. 0..64"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|e| format!("`{part}` in `{text}` is not a seed: {e}"))
    };
    let (from, to) = (number(from)?, number(to)?);
    if from >= to {
        return Err(format!(
            "the range `{text}` is empty; TO is excluded, so write e.g. 0..64"
        ));
    }
    if to - from > MAX_SEEDS {
        return Err(format!(
            "the range `{text}` holds {} seeds; one run takes at most {MAX_SEEDS}",
            to - from
        ));
    }
    Ok(from..to)
}

/// The seeds one scenario runs under: `--seed`, else `--seeds`, else the file's
/// `seeds = N` (0..N), else the file's own `seed` (None).
fn seeds_of(args: &RunArgs, scenario: &Scenario) -> Vec<Option<u64>> {
    if let Some(seed) = args.seed {
        return vec![Some(seed)];
    }
    if let Some(range) = &args.seeds {
        return range.clone().map(Some).collect();
    }
    match scenario.seeds {
        Some(count) if count > 0 => (0..u64::from(count)).map(Some).collect(),
        _ => vec![None],
    }
}

fn colors(choice: ColorChoice, terminal: bool, env: &Environment) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !env.no_color && !env.term_dumb,
    }
}

/// Loads every scenario under `paths`, or prints every error and returns None.
fn load_all(paths: &[String], color: bool) -> Option<Vec<Scenario>> {
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let files = match discover(&paths) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("sharesim: {error}");
            return None;
        }
    };
    if files.is_empty() {
        eprintln!(
            "sharesim: no scenario files (*.toml) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return None;
    }
    let mut scenarios = Vec::new();
    let mut errors = 0;
    for file in files {
        match load(&file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(error) => {
                errors += 1;
                // Only an error about a place in the file needs its text (and a file
                // that could not be read must not be read again, unbounded).
                let source = match error.span {
                    Some(_) => crate::drivers::scenario::read_source(&file).unwrap_or_default(),
                    None => String::new(),
                };
                eprintln!("sharesim: {error}");
                eprint!("{}", error.render(&source, color));
            }
        }
    }
    if errors > 0 {
        eprintln!("sharesim: {errors} invalid scenario file(s); nothing was run");
        return None;
    }
    Some(scenarios)
}

/// `sharesim check`.
pub(super) fn check(args: CheckArgs, env: &Environment) -> u8 {
    let color = colors(args.color, env.stderr_terminal, env);
    match load_all(&args.paths, color) {
        Some(scenarios) => {
            for scenario in &scenarios {
                outln!("ok {} ({})", scenario.file(), scenario.name);
            }
            outln!("{} scenario file(s) valid", scenarios.len());
            EXIT_PASSED
        }
        None => EXIT_USAGE,
    }
}

/// `sharesim run`.
pub(super) async fn run_command(args: RunArgs, env: &Environment) -> u8 {
    let color = colors(args.color, env.stdout_terminal, env);
    let Some(scenarios) = load_all(&args.paths, colors(args.color, env.stderr_terminal, env))
    else {
        return EXIT_USAGE;
    };
    let scenarios = match select(&args, scenarios) {
        Ok(scenarios) => scenarios,
        Err(exit) => return exit,
    };
    for dir in [&args.trace_dir, &args.diagram_dir].into_iter().flatten() {
        if let Err(error) = std::fs::create_dir_all(dir) {
            eprintln!("sharesim: could not create {}: {error}", dir.display());
            return EXIT_USAGE;
        }
    }
    let runs_per_scenario: Vec<usize> = scenarios
        .iter()
        .map(|scenario| seeds_of(&args, scenario).len())
        .collect();
    let (outcomes, ran) = run_all(&args, env, &scenarios, &runs_per_scenario, color).await;
    match args.format {
        Format::Human => outln!("{}", report::human::summary(&outcomes)),
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report::json::report(&outcomes)).unwrap_or_default()
        ),
    }
    let ran_scenarios: Vec<&Scenario> = ran.iter().map(|&i| &scenarios[i]).collect();
    let several: Vec<bool> = ran.iter().map(|&i| runs_per_scenario[i] > 1).collect();
    if let Err(message) = write_files(&args, &ran_scenarios, &several, &outcomes) {
        eprintln!("sharesim: {message}");
        return EXIT_USAGE;
    }
    if outcomes.iter().all(Outcome::passed) {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}

/// The scenarios `--filter` and `--shard` keep; `Err` is the exit code when none is
/// left (a usage error for a filter, nothing to do for a shard).
fn select(args: &RunArgs, mut scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, u8> {
    if let Some(filter) = &args.filter {
        scenarios
            .retain(|s| s.name.contains(filter.as_str()) || s.file().contains(filter.as_str()));
        if scenarios.is_empty() {
            eprintln!("sharesim: no scenario matches --filter {filter:?}");
            return Err(EXIT_USAGE);
        }
    }
    if let Some(shard) = args.shard {
        let mut position = 0u64;
        scenarios.retain(|_| {
            position += 1;
            shard.holds(position - 1)
        });
        if scenarios.is_empty() {
            outln!("shard {}/{} holds no scenario file", shard.index, shard.of);
            return Err(EXIT_PASSED);
        }
    }
    Ok(scenarios)
}

/// Runs one job per scenario and seed, `--jobs` at a time, printing each result as it
/// comes (in the scenarios' order); returns the outcomes and the index of the scenario
/// each belongs to. `--fail-fast` stops at the first failure.
async fn run_all(
    args: &RunArgs,
    env: &Environment,
    scenarios: &[Scenario],
    runs_per_scenario: &[usize],
    color: bool,
) -> (Vec<Outcome>, Vec<usize>) {
    let parallel = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    // One job per scenario and seed; a scenario run under several seeds reports each
    // failing seed and one line for the rest.
    let jobs: Vec<(usize, Option<u64>)> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(index, scenario)| {
            seeds_of(args, scenario)
                .into_iter()
                .map(move |seed| (index, seed))
        })
        .collect();
    let progress = (env.stderr_terminal && jobs.len() > 3).then(|| {
        let bar = indicatif::ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let palette = report::human::Palette::new(color);
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut ran: Vec<usize> = Vec::new();
    let check_surfaces = args.check_surfaces;
    // The HTML report shows each account after every step.
    let snapshots = args.html.is_some();
    let (network, check_determinism) = (args.network, args.check_determinism);
    let mut stream = futures_util::stream::iter(jobs.iter().copied())
        .map(|(index, seed)| async move {
            let settings = RunSettings {
                seed,
                check_surfaces,
                snapshots,
                network,
                ..RunSettings::default()
            };
            let outcome = run_once(&scenarios[index], &settings, check_determinism).await;
            (index, outcome)
        })
        .buffered(parallel);
    let mut group = SeedGroup::default();
    while let Some((index, outcome)) = stream.next().await {
        if let Some(bar) = &progress {
            bar.inc(1);
            bar.set_message(outcome.name.clone());
        }
        if args.format == Format::Human {
            let runs = runs_per_scenario[index];
            let done = ran.iter().filter(|&&i| i == index).count() + 1;
            let text = group.text(&outcome, runs, done, palette);
            match &progress {
                Some(bar) => bar.suspend(|| out!("{text}")),
                None => out!("{text}"),
            }
        }
        let failed = !outcome.passed();
        outcomes.push(outcome);
        ran.push(index);
        if failed && args.fail_fast {
            break;
        }
    }
    drop(stream);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    (outcomes, ran)
}

/// One run of a scenario; with `--check-determinism` a second run, and a failure naming
/// the first difference between the two.
async fn run_once(scenario: &Scenario, settings: &RunSettings, check_determinism: bool) -> Outcome {
    let mut outcome = run(scenario, settings).await;
    if check_determinism {
        let again = run(scenario, settings).await;
        if let Some(difference) =
            crate::drivers::scenario::determinism::first_difference(&outcome, &again)
        {
            outcome.failure = Some(Failure {
                step: 0,
                action: "determinism".to_string(),
                location: format!("{}:1", scenario.file()),
                message: difference,
                diffs: Vec::new(),
            });
        }
    }
    outcome
}

/// The runs of a scenario under several seeds so far: the console shows each failing
/// seed, and one line for all once the last seed has run.
#[derive(Default)]
struct SeedGroup {
    passed: usize,
    millis: u128,
}

impl SeedGroup {
    /// The console text of one outcome, the `done`th of its scenario's `runs`.
    fn text(
        &mut self,
        outcome: &Outcome,
        runs: usize,
        done: usize,
        palette: report::human::Palette,
    ) -> String {
        if runs == 1 {
            return report::human::scenario(outcome, palette);
        }
        let mut text = String::new();
        self.millis += outcome.duration.as_millis();
        if outcome.passed() {
            self.passed += 1;
        } else {
            text.push_str(&format!("seed {}: ", outcome.seed));
            text.push_str(&report::human::scenario(outcome, palette));
        }
        if done == runs {
            let first = outcome.seed + 1 - runs as u64;
            text.push_str(&report::human::seeds_line(
                outcome,
                first..outcome.seed + 1,
                self.passed,
                self.millis,
                palette,
            ));
            *self = SeedGroup::default();
        }
        text
    }
}

/// Writes a report file, or says which one could not be written and why.
fn write(path: &Path, text: String) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// The HTML sections of the scenarios that ran, each with its file's description
/// (outcomes come back in the scenarios' order; `--fail-fast` may stop early).
fn html_sections<'a>(
    scenarios: &[&'a Scenario],
    outcomes: &'a [Outcome],
) -> Vec<report::html::Section<'a>> {
    scenarios
        .iter()
        .zip(outcomes)
        .map(|(scenario, outcome)| report::html::Section {
            outcome,
            description: scenario.description.as_deref(),
        })
        .collect()
}

/// `scenarios[i]` is the file `outcomes[i]` ran; `several[i]` says whether that file ran
/// under several seeds (its report files then carry the seed in their names).
fn write_files(
    args: &RunArgs,
    scenarios: &[&Scenario],
    several: &[bool],
    outcomes: &[Outcome],
) -> Result<(), String> {
    if let Some(path) = &args.html {
        let sections = html_sections(scenarios, outcomes);
        report::html::write_report(path, "sharesim report", &sections)
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let xml = report::junit::report(outcomes)
            .map_err(|e| format!("could not build the JUnit report: {e}"))?;
        write(path, xml)?;
    }
    for ((outcome, stem), several) in outcomes
        .iter()
        .zip(report::trace_file::file_stems(outcomes))
        .zip(several)
    {
        let stem = if *several {
            format!("{stem}-seed-{}", outcome.seed)
        } else {
            stem
        };
        if let Some(dir) = &args.trace_dir {
            write(
                &dir.join(format!("{stem}.jsonl")),
                report::trace_file::jsonl(outcome),
            )?;
        }
        if let Some(dir) = &args.diagram_dir {
            let (extension, text) = match args.diagram_format {
                DiagramFormat::Mermaid => ("mmd", report::mermaid::diagram(outcome)),
                DiagramFormat::Svg => ("svg", report::svg::diagram(outcome)),
            };
            write(&dir.join(format!("{stem}.{extension}")), text)?;
        }
    }
    Ok(())
}

/// `sharesim explain`.
pub(super) async fn explain(args: ExplainArgs, env: &Environment) -> u8 {
    let color = colors(ColorChoice::Auto, env.stderr_terminal, env);
    let Some(scenarios) = load_all(&[args.file.display().to_string()], color) else {
        return EXIT_USAGE;
    };
    let mut outcomes = Vec::new();
    for scenario in &scenarios {
        let settings = RunSettings {
            seed: args.seed,
            snapshots: true,
            network: args.network,
            ..RunSettings::default()
        };
        let outcome = run(scenario, &settings).await;
        let description = scenario.description.as_deref();
        let text = if args.grid {
            report::explain::narrate_with_grid(&outcome, description)
        } else {
            report::explain::narrate(&outcome, description)
        };
        out!("{text}");
        outcomes.push(outcome);
    }
    if let Some(path) = &args.html {
        let scenarios: Vec<&Scenario> = scenarios.iter().collect();
        let sections = html_sections(&scenarios, &outcomes);
        let title = match outcomes.as_slice() {
            [one] => format!("sharesim explain: {}", one.name),
            _ => "sharesim explain".to_string(),
        };
        if let Err(error) = report::html::write_report(path, &title, &sections) {
            eprintln!("sharesim: could not write {}: {error}", path.display());
            return EXIT_USAGE;
        }
    }
    if outcomes.iter().all(Outcome::passed) {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}
