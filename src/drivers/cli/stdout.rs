//! Standard output for the commands. Rust's `println!` panics when stdout fails, so
//! `sharesim run | head` died with a panic once `head` had read its lines, and a full
//! disk gave a backtrace instead of a message. Everything the commands print goes
//! through here instead.

use super::{EXIT_PASSED, EXIT_USAGE};
use std::io::Write;

/// Writes a command's result to stdout. A reader that stopped reading (a closed pipe)
/// ends the command at once and quietly, with success: nobody is left to read the rest,
/// as with any Unix filter. Any other failure (a full disk) ends it with a message and
/// exit 2, since the result was not delivered.
pub(crate) fn write(text: std::fmt::Arguments<'_>) {
    if let Err(error) = try_write(text) {
        std::process::exit(i32::from(exit_code(&error)));
    }
}

/// Writes what a long-running command (`serve`, `learn`) says about itself at start.
/// It keeps running when nobody reads its stdout: serving is its job, not printing.
pub(crate) fn write_notice(text: std::fmt::Arguments<'_>) {
    let _ = try_write(text);
}

/// Writes `text` and flushes, so that a closed pipe is noticed on the write that met it.
pub(crate) fn try_write(text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(text).and_then(|()| stdout.flush())
}

/// The exit code for a failed write, after saying why when it is not a closed pipe.
pub(crate) fn exit_code(error: &std::io::Error) -> u8 {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        EXIT_PASSED
    } else {
        eprintln!("sharesim: could not write to stdout: {error}");
        EXIT_USAGE
    }
}

/// `print!` that ends the command quietly when its reader is gone (see [`write`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::drivers::cli::stdout::write(format_args!($($arg)*))
    };
}

/// `println!` that ends the command quietly when its reader is gone (see [`write`]).
macro_rules! outln {
    () => {
        $crate::drivers::cli::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::drivers::cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `println!` for what a long-running command says at start (see [`write_notice`]).
macro_rules! noticeln {
    ($($arg:tt)*) => {
        $crate::drivers::cli::stdout::write_notice(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {noticeln, out, outln};
