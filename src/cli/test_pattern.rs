//! `stowage test-pattern --pattern P --event E`: evaluates a pattern against an
//! event locally, with the same rules as the server's TestEventPattern.
//!
//! Exit status like grep's: 0 match, 1 no match, 2 invalid input.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::api::pattern_test::{self, PatternTestError};
use crate::config::Config;

#[derive(clap::Args)]
pub struct TestPatternArgs {
    /// The event pattern: JSON text, or @FILE to read it from a file.
    #[arg(long)]
    pattern: String,
    /// The event (an EventBridge envelope with id, account, source, time, region,
    /// resources and detail-type): JSON text, or @FILE.
    #[arg(long)]
    event: String,
    /// Print `{"result": …}` or `{"error": …}` instead of text.
    #[arg(long)]
    json: bool,
}

fn text_or_file(value: &str) -> anyhow::Result<String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(value.to_string()),
    }
}

pub fn run(args: TestPatternArgs) -> anyhow::Result<ExitCode> {
    let pattern = text_or_file(&args.pattern)?;
    let event = text_or_file(&args.event)?;
    let limits = Config::default().patterns.limits();
    match pattern_test::evaluate(&pattern, &event, &limits) {
        Ok(matched) => {
            if args.json {
                println!("{}", json!({ "result": matched }));
            } else {
                println!("{}", if matched { "match" } else { "no match" });
            }
            Ok(if matched {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(error) => {
            let kind = match error {
                PatternTestError::Pattern(_) => "invalid pattern",
                _ => "invalid event",
            };
            if args.json {
                println!("{}", json!({ "error": format!("{kind}: {error}") }));
            } else {
                eprintln!("{kind}: {error}");
            }
            Ok(ExitCode::from(2))
        }
    }
}
