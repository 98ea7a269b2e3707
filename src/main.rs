//! The `stowage` binary: parse the command line, dispatch, nothing else.

use clap::Parser;

// Events are allocated on HTTP workers and freed on the log writer thread; glibc's
// malloc spends a measurable share of each request on such cross-thread frees.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    stowage::cli::Cli::parse().run()
}
