//! `stowage put`: publish one event (`--source --detail-type --detail`) or every
//! line of a JSON Lines file (`--file`), with a progress bar and a summary.
//!
//! A line is either a gateway envelope (`{"metadata":{…},"data":…}`, sent to
//! `POST /events`) or an EventBridge-shaped event (`{"source","detail-type",
//! "detail", "resources"?, "time"?}`, sent with PutEvents).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::progress_bar;

/// Lines published at once from a file.
const IN_FLIGHT: usize = 16;

#[derive(clap::Args)]
pub struct PutArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The event bus [default: default].
    #[arg(long, default_value = "default")]
    bus: String,
    /// The event's source.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    source: Option<String>,
    /// The event's detail-type.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    detail_type: Option<String>,
    /// The event's detail, a JSON object.
    #[arg(long, default_value = "{}", conflicts_with = "file")]
    detail: String,
    /// Publish every line of this JSON Lines file instead.
    #[arg(long)]
    file: Option<PathBuf>,
}

pub fn run(args: PutArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let client = Arc::new(Client::for_args(&args.client)?);
        match &args.file {
            Some(file) => put_file(&client, &args, file).await?,
            None => put_one(&client, &args).await?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn put_one(client: &Client, args: &PutArgs) -> anyhow::Result<()> {
    let entry = json!({
        "Source": args.source,
        "DetailType": args.detail_type,
        "Detail": args.detail,
        "EventBusName": args.bus,
    });
    let id = put_events(client, entry).await?;
    if args.client.json {
        println!("{}", json!({ "eventId": id }));
    } else {
        println!("{id}");
    }
    Ok(())
}

/// What PutEvents answers (one entry sent, one entry back).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsOutput {
    entries: Vec<PutEventsEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsEntry {
    event_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

/// Sends one PutEvents entry; returns its event id.
async fn put_events(client: &Client, entry: Value) -> anyhow::Result<String> {
    let output: PutEventsOutput = client
        .aws("PutEvents", &json!({ "Entries": [entry] }))
        .await?;
    let Some(result) = output.entries.into_iter().next() else {
        bail!("the server answered PutEvents without an entry");
    };
    match result.event_id {
        Some(id) => Ok(id),
        None => bail!(
            "{}: {}",
            result.error_code.as_deref().unwrap_or("error"),
            result.error_message.as_deref().unwrap_or("")
        ),
    }
}

/// What the gateway answers an accepted event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    event_id: String,
}

async fn put_gateway(client: &Client, bus: &str, line: String) -> anyhow::Result<String> {
    let path = if bus == "default" {
        "/events".to_owned()
    } else {
        format!("/buses/{bus}/events")
    };
    let accepted: Accepted = client.post_text(&path, line).await?;
    Ok(accepted.event_id)
}

/// Publishes one line of a file.
async fn put_line(client: &Client, bus: &str, line: String) -> anyhow::Result<String> {
    let value: Value = serde_json::from_str(&line).context("not JSON")?;
    if value.get("metadata").is_some() {
        return put_gateway(client, bus, line).await;
    }
    let (Some(source), Some(detail_type)) =
        (value["source"].as_str(), value["detail-type"].as_str())
    else {
        bail!("a line needs either `metadata` (gateway envelope) or `source` and `detail-type`");
    };
    let detail = match &value["detail"] {
        Value::Null => "{}".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut entry = json!({ "Source": source, "DetailType": detail_type, "Detail": detail, "EventBusName": bus });
    if let Some(resources) = value.get("resources") {
        entry["Resources"] = resources.clone();
    }
    if let Some(time) = value.get("time") {
        entry["Time"] = time.clone();
    }
    put_events(client, entry).await
}

async fn put_file(client: &Arc<Client>, args: &PutArgs, file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    let bar = progress_bar(lines.len(), "events");
    let bus: Arc<str> = args.bus.clone().into();
    let mut pending = lines.into_iter();
    let mut running = JoinSet::new();
    let (mut accepted, mut failed) = (0usize, Vec::new());
    loop {
        while running.len() < IN_FLIGHT {
            let Some((number, line)) = pending.next() else {
                break;
            };
            let (client, bus) = (client.clone(), bus.clone());
            running.spawn(async move { (number, put_line(&client, &bus, line).await) });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (number, result) = done.context("a publishing task panicked")?;
        bar.inc(1);
        match result {
            Ok(_) => accepted += 1,
            // The whole chain: "cannot reach …: …: Connection refused".
            Err(error) => failed.push((number, format!("{error:#}"))),
        }
    }
    bar.finish_and_clear();
    failed.sort_by_key(|(n, _)| *n);
    if args.client.json {
        let failures: Vec<Value> = failed
            .iter()
            .map(|(n, e)| json!({ "line": n, "error": e }))
            .collect();
        println!("{}", json!({ "accepted": accepted, "failed": failures }));
    } else {
        println!("accepted {accepted}, failed {}", failed.len());
        for (number, error) in failed.iter().take(20) {
            println!("  line {number}: {error}");
        }
        if failed.len() > 20 {
            println!("  … and {} more", failed.len() - 20);
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} lines failed",
            failed.len(),
            failed.len() + accepted
        );
    }
    Ok(())
}
