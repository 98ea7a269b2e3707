//! The `stowage` binary: parse the command line, dispatch, nothing else.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    stowage::cli::Cli::parse().run()
}
