//! The `sharesim` command: parses arguments and hands over to [`sharesim::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    sharesim::cli::main()
}
