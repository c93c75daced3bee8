//! The `sharesim` command: parses arguments and hands over to [`sharesim::drivers::cli`].

use std::process::ExitCode;

// A simulator's requests allocate many small, short-lived buffers (headers, JSON, trace
// events); mimalloc serves them markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sharesim::drivers::cli::main()
}
