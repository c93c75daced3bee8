//! The command line: clap definitions and one function per subcommand. This is the
//! only place that reads the environment, installs a log subscriber or prints.

mod bench;
mod conform;
mod controlled;
mod ctl;
mod explore;
mod format;
mod learn;
mod run;
mod serve;
mod stdout;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code: everything passed.
pub const EXIT_PASSED: u8 = 0;
/// Exit code: a scenario failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage, an invalid scenario file, or the world could not start.
pub const EXIT_USAGE: u8 = 2;

/// Simulated Zendesk accounts that share tickets over real HTTP(S) on loopback.
#[derive(Debug, Parser)]
#[command(
    name = "sharesim",
    version,
    about,
    after_help = "Examples:\n  sharesim run                        # the bundled scenario library\n  sharesim explain scenarios/agreements/01-invite-and-accept.toml\n  sharesim serve                      # acme and globex on ephemeral ports\n  sharesim serve acme globex initech --port 8700 --ready-file ready.json\n  sharesim explore --seed 7 --schedules 1000   # random schedules against invariants\n  sharesim learn                      # lessons on one-way agreements, in the browser\n\nExit codes: 0 passed, 1 a scenario failed, 2 usage error or invalid scenario file."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug: every trace event). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files (default: the bundled library in scenarios/) and report.
    Run(run::RunArgs),
    /// Check scenario files without running them.
    Check(run::CheckArgs),
    /// Run one scenario and narrate it step by step, for learning.
    Explain(run::ExplainArgs),
    /// Print the JSON Schema of the scenario file format.
    Schema,
    /// Start accounts and serve their REST API and partner protocol until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Run random schedules against fresh worlds, check invariants, and shrink each
    /// violation to a scenario file.
    Explore(explore::ExploreArgs),
    /// Measure throughput, handshakes, world start and the scenario suite against targets.
    Bench(bench::BenchArgs),
    /// Drive a running `serve` through its control API: steps, journal, snapshot, reset.
    Ctl(ctl::CtlArgs),
    /// Print the OpenAPI 3.1 document of the REST API, partner protocol and control API.
    Openapi,
    /// Grade a partner-protocol endpoint against the protocol: sharesim plays a Zendesk
    /// account, invites it, shares a ticket with it, and checks every answer.
    Conform(conform::ConformArgs),
    /// Serve a course of lessons on one-way agreements in the browser (--list prints them).
    Learn(learn::LearnArgs),
}

/// What `main` reads from the environment once and passes down.
#[derive(Clone, Copy, Debug)]
pub struct Environment {
    /// stdout is a terminal.
    pub stdout_terminal: bool,
    /// stderr is a terminal.
    pub stderr_terminal: bool,
    /// NO_COLOR is set (to anything non-empty).
    pub no_color: bool,
    /// TERM is `dumb`.
    pub term_dumb: bool,
}

impl Environment {
    fn capture() -> Environment {
        use std::io::IsTerminal;
        Environment {
            stdout_terminal: std::io::stdout().is_terminal(),
            stderr_terminal: std::io::stderr().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            term_dumb: std::env::var("TERM").is_ok_and(|t| t == "dumb"),
        }
    }
}

/// Parses arguments, sets up logging and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_PASSED
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose, std::env::var("RUST_LOG").ok());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sharesim: could not start the async runtime: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let env = Environment::capture();
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run_command(args, &env).await,
            Command::Check(args) => run::check(args, &env),
            Command::Explain(args) => run::explain(args, &env).await,
            Command::Schema => {
                let schema = crate::drivers::scenario::json_schema();
                print_document(&serde_json::to_string_pretty(&schema).unwrap_or_default())
            }
            Command::Serve(args) => serve::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Ctl(args) => ctl::run(args).await,
            Command::Openapi => {
                let document = crate::drivers::openapi::document();
                print_document(&serde_json::to_string_pretty(&document).unwrap_or_default())
            }
            Command::Explore(args) => explore::run(args, &env).await,
            Command::Conform(args) => conform::run(args).await,
            Command::Learn(args) => learn::run(args).await,
        }
    });
    ExitCode::from(code)
}

/// Prints a whole document to stdout. A reader that stops early (`sharesim openapi |
/// head`) closes the pipe: that ends the output quietly, as it does for any Unix tool,
/// instead of a panic; any other write error is reported.
fn print_document(text: &str) -> u8 {
    match stdout::try_write(format_args!("{text}\n")) {
        Ok(()) => EXIT_PASSED,
        Err(error) => stdout::exit_code(&error),
    }
}

fn init_logging(verbose: u8, rust_log: Option<String>) {
    let default = match verbose {
        0 => "sharesim=warn",
        1 => "sharesim=info",
        _ => "sharesim=debug",
    };
    let filter = rust_log
        .and_then(|spec| tracing_subscriber::EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
