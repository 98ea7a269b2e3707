//! `stowage dlq purge`: deletes dead letters one `DELETE /v1/dead-letters/{id}`
//! at a time. Ids given with `--id` are deleted as named; a queue is listed
//! first, shown as a count unless `--yes` confirms, then deleted a few at a
//! time behind a progress bar.
//!
//! A named id that is no dead letter is a failure (exit 1); a listed letter
//! gone by the time its delete arrives (redriven meanwhile) is only counted.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio::task::JoinSet;

use super::{Chosen, NOT_FOUND, Selection, fetch};
use crate::cli::ClientArgs;
use crate::cli::client::Client;
use crate::cli::output::{println, progress_bar};

/// Deletes in flight during a queue purge.
const IN_FLIGHT: usize = 8;

#[derive(clap::Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    selection: Selection,
    /// Really delete a whole queue's letters (not needed with --id).
    #[arg(long)]
    yes: bool,
}

/// All a queue purge reads of a listed letter (the rest, the event included,
/// is skipped while parsing).
#[derive(serde::Deserialize)]
struct LetterId {
    id: String,
}

pub async fn run(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let client = Arc::new(Client::for_args(&args.client)?);
    let json = args.client.json;
    match args.selection.chosen() {
        Chosen::Ids(ids) => {
            let mut deleted = 0usize;
            let mut not_found = Vec::new();
            for id in ids {
                match client.delete(&format!("/v1/dead-letters/{id}")).await {
                    Ok(()) => deleted += 1,
                    Err(e) if e.code() == Some(NOT_FOUND) => not_found.push(id.to_string()),
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("purge stopped; {deleted} dead letters were deleted")
                        });
                    }
                }
            }
            report(json, deleted, &not_found, "not found")?;
            Ok(if not_found.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Chosen::Queue(filter) => {
            let (letters, _) = fetch::<LetterId>(&client, &filter, None, true).await?;
            let ids: Vec<String> = letters.into_iter().map(|l| l.id).collect();
            if !args.yes {
                eprintln!(
                    "refusing to purge without --yes: {} dead letters{} would be deleted; \
                     add --yes to delete them",
                    ids.len(),
                    filter.described()
                );
                return Ok(ExitCode::from(2));
            }
            let (deleted, gone) = delete_all(&client, ids).await?;
            report(json, deleted, &gone, "already gone")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Deletes `ids`, a few at a time, with a progress bar; how many were deleted
/// and which were gone already.
async fn delete_all(
    client: &Arc<Client>,
    ids: Vec<String>,
) -> anyhow::Result<(usize, Vec<String>)> {
    let bar = progress_bar(ids.len(), "deleted");
    let (mut deleted, mut gone) = (0usize, Vec::new());
    let mut pending = ids.into_iter();
    let mut running = JoinSet::new();
    loop {
        while running.len() < IN_FLIGHT {
            let Some(id) = pending.next() else { break };
            let client = client.clone();
            running.spawn(async move {
                let result = client.delete(&format!("/v1/dead-letters/{id}")).await;
                (id, result)
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (id, result) = done.context("a delete task panicked")?;
        bar.inc(1);
        match result {
            Ok(()) => deleted += 1,
            Err(e) if e.code() == Some(NOT_FOUND) => gone.push(id),
            Err(e) => {
                bar.abandon();
                // Deletes still in flight are dropped; some may have landed.
                return Err(e).with_context(|| {
                    format!("purge stopped; at least {deleted} dead letters were deleted")
                });
            }
        }
    }
    bar.finish_and_clear();
    Ok((deleted, gone))
}

/// `deleted N[, LABEL M: ids]`, or `{"deleted":N,"notFound":[ids]}`.
fn report(json: bool, deleted: usize, missing: &[String], label: &str) -> anyhow::Result<()> {
    if json {
        println(&json!({ "deleted": deleted, "notFound": missing }).to_string())?;
    } else if missing.is_empty() {
        println(&format!("deleted {deleted}"))?;
    } else {
        println(&format!(
            "deleted {deleted}, {label} {}: {}",
            missing.len(),
            missing.join(", ")
        ))?;
    }
    Ok(())
}
