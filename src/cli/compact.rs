//! `stowage compact [--data-dir DIR]`: copies a stopped server's database into
//! a fresh one and swaps it in (`crate::compact`), printing the disk use
//! before and after. Refused while a server holds the directory.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::output::println;
use crate::compact::compact;
use crate::config::{Config, Flags};

#[derive(clap::Args)]
pub struct CompactArgs {
    /// A TOML config file (its `[storage] data_dir` is used unless --data-dir is given).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory of the stopped server [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of human-readable text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CompactArgs) -> anyhow::Result<ExitCode> {
    // The fresh database holds connection secrets: owner-only, as under `serve`.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let flags = Flags {
        listen: None,
        data_dir: args.data_dir,
        log_format: None,
    };
    let config = Config::load(args.config.as_deref(), &flags)?;
    let done = compact(&config.storage)?;
    let seconds = done.elapsed.as_secs_f64();
    let text = if args.json {
        json!({
            "dataDir": done.dir.display().to_string(),
            "swapped": done.swapped,
            "beforeBytes": done.before_bytes,
            "afterBytes": done.after_bytes,
            "trees": done.trees,
            "records": done.records,
            "liveBytes": done.live_bytes,
            "seconds": seconds,
        })
        .to_string()
    } else if !done.swapped {
        format!(
            "kept {} as it was: a fresh copy of its {} records would not be smaller than its {} on disk",
            done.dir.display(),
            done.records,
            indicatif::HumanBytes(done.before_bytes),
        )
    } else {
        format!(
            "compacted {}: {} on disk before, {} after ({} records, {} of keys and values, \
             {} trees) in {:.1} s",
            done.dir.display(),
            indicatif::HumanBytes(done.before_bytes),
            indicatif::HumanBytes(done.after_bytes),
            done.records,
            indicatif::HumanBytes(done.live_bytes),
            done.trees,
            seconds,
        )
    };
    println(&text)?;
    Ok(ExitCode::SUCCESS)
}
