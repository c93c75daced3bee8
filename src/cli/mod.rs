//! The command line: clap definitions and one function per subcommand. This is the
//! only place that reads the environment, installs a log subscriber or prints.

mod serve;

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
    after_help = "Examples:\n  sharesim serve                      # acme and globex on ephemeral ports\n  sharesim serve acme globex initech --port 8700 --ready-file ready.json\n\nExit codes: 0 passed, 1 a scenario failed, 2 usage error or invalid scenario file."
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
    /// Start accounts and serve their REST API and partner protocol until Ctrl-C.
    Serve(serve::ServeArgs),
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
    let code = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
        }
    });
    ExitCode::from(code)
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
