//! `stowage archive create|list|describe|update|delete`: archives on a running
//! server, through its AWS API (CreateArchive, ListArchives, …), so that the
//! CLI and the AWS SDKs see the same thing.
//!
//! Exit status: 0 done; 1 when the server refused (the AWS error on stderr)
//! or could not be reached; 2 for a usage error. `--json` prints the AWS
//! answer (for `list`, every page's `Archives` as one array). This file
//! renders; the server decides.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, println};
use crate::event::format_time;

#[derive(clap::Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Create an archive of a bus's events (all of them, or those matching --pattern).
    Create(CreateArgs),
    /// List archives with their event counts and sizes.
    List(ListArgs),
    /// Show one archive in full.
    Describe(NameArgs),
    /// Change an archive's pattern, description or retention.
    Update(UpdateArgs),
    /// Delete an archive (the events stay in the log; only the archive's index goes).
    Delete(NameArgs),
}

#[derive(clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The archive's name: 1 to 48 of A-Z a-z 0-9 . - _
    name: String,
    /// The bus whose events it archives, by name or ARN.
    #[arg(long, default_value = "default")]
    bus: String,
    /// An event pattern (JSON); without one every event of the bus is archived.
    #[arg(long)]
    pattern: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Days to keep each event after it was ingested; 0 keeps events forever.
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    retention_days: u32,
}

#[derive(clap::Args)]
struct UpdateArgs {
    #[command(flatten)]
    client: ClientArgs,
    name: String,
    /// A new event pattern (JSON); archived events stay.
    #[arg(long)]
    pattern: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Days to keep each event after it was ingested; 0 keeps events forever.
    #[arg(long, value_name = "DAYS")]
    retention_days: Option<u32>,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only archives whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// Only archives of this bus (name or ARN).
    #[arg(long)]
    bus: Option<String>,
}

#[derive(clap::Args)]
struct NameArgs {
    #[command(flatten)]
    client: ClientArgs,
    name: String,
}

/// The fields of an `Archive` (ListArchives) or DescribeArchive answer shown
/// in text.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Shown {
    archive_name: String,
    #[serde(default)]
    archive_arn: Option<String>,
    event_source_arn: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    event_pattern: Option<String>,
    state: String,
    #[serde(default)]
    state_reason: Option<String>,
    retention_days: u32,
    size_bytes: u64,
    event_count: u64,
    creation_time: f64,
}

pub fn run(args: ArchiveArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ArchiveCommand::Create(args) => block_on(create(args)),
        ArchiveCommand::List(args) => block_on(list(args)),
        ArchiveCommand::Describe(args) => block_on(describe(args)),
        ArchiveCommand::Update(args) => block_on(update(args)),
        ArchiveCommand::Delete(args) => block_on(delete(args)),
    }
}

/// The ARN of a bus given by name (asked of the server) or ARN.
async fn bus_arn(client: &Client, bus: &str) -> anyhow::Result<String> {
    if bus.starts_with("arn:") {
        return Ok(bus.to_owned());
    }
    let described: Value = client
        .aws("DescribeEventBus", &json!({ "Name": bus }))
        .await?;
    described["Arn"]
        .as_str()
        .map(String::from)
        .context("DescribeEventBus answered without an Arn")
}

/// The bus name of a bus ARN, for display.
fn bus_name(arn: &str) -> &str {
    arn.rsplit_once("event-bus/").map_or(arn, |(_, name)| name)
}

fn retention(days: u32) -> String {
    match days {
        0 => "forever".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// AWS's epoch seconds as RFC 3339 (the number itself if it is no time).
fn time(seconds: f64) -> String {
    std::time::Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|since| i64::try_from(since.as_millis()).ok())
        .map_or_else(|| seconds.to_string(), format_time)
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let mut request = json!({
        "ArchiveName": args.name,
        "EventSourceArn": bus_arn(&client, &args.bus).await?,
        "RetentionDays": args.retention_days,
    });
    if let Some(pattern) = args.pattern {
        request["EventPattern"] = json!(pattern);
    }
    if let Some(description) = args.description {
        request["Description"] = json!(description);
    }
    let created: Value = client.aws("CreateArchive", &request).await?;
    if args.client.json {
        println(&created.to_string())?;
    } else {
        let arn = created["ArchiveArn"].as_str().unwrap_or_default();
        println(&format!("created archive {} ({arn})", args.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let mut request = json!({});
    if let Some(prefix) = &args.prefix {
        request["NamePrefix"] = json!(prefix);
    }
    if let Some(bus) = &args.bus {
        request["EventSourceArn"] = json!(bus_arn(&client, bus).await?);
    }
    let archives = client.aws_all("ListArchives", request, "Archives").await?;
    if args.client.json {
        println(&Value::Array(archives).to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    if archives.is_empty() {
        println("no archives")?;
        return Ok(ExitCode::SUCCESS);
    }
    super::output::print(&table(archives)?.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// The archives as a table: name, bus, state, events, bytes, retention, creation.
pub(super) fn table(archives: Vec<Value>) -> anyhow::Result<Table> {
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("BUS", Align::Left),
        ("STATE", Align::Left),
        ("EVENTS", Align::Right),
        ("BYTES", Align::Right),
        ("RETENTION", Align::Left),
        ("CREATED", Align::Left),
    ]);
    for archive in archives {
        let shown: Shown = serde_json::from_value(archive)
            .context("the server sent an archive this client cannot read")?;
        table.row(vec![
            shown.archive_name,
            bus_name(&shown.event_source_arn).to_owned(),
            shown.state,
            shown.event_count.to_string(),
            shown.size_bytes.to_string(),
            retention(shown.retention_days),
            time(shown.creation_time),
        ]);
    }
    Ok(table)
}

async fn describe(args: NameArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let described: Value = client
        .aws("DescribeArchive", &json!({ "ArchiveName": args.name }))
        .await?;
    if args.client.json {
        println(&described.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let shown: Shown = serde_json::from_value(described)
        .context("the server sent an archive this client cannot read")?;
    let mut lines = vec![
        format!("name:        {}", shown.archive_name),
        format!("arn:         {}", shown.archive_arn.unwrap_or_default()),
        format!("bus:         {}", bus_name(&shown.event_source_arn)),
        format!("state:       {}", shown.state),
    ];
    if let Some(reason) = shown.state_reason {
        lines.push(format!("reason:      {reason}"));
    }
    lines.push(format!("events:      {}", shown.event_count));
    lines.push(format!("bytes:       {}", shown.size_bytes));
    lines.push(format!("retention:   {}", retention(shown.retention_days)));
    lines.push(format!("created:     {}", time(shown.creation_time)));
    if let Some(description) = shown.description {
        lines.push(format!("description: {description}"));
    }
    lines.push(format!(
        "pattern:     {}",
        shown
            .event_pattern
            .unwrap_or_else(|| "(none: every event of the bus)".into())
    ));
    println(&lines.join("\n"))?;
    Ok(ExitCode::SUCCESS)
}

async fn update(args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let mut request = json!({ "ArchiveName": args.name });
    if let Some(pattern) = args.pattern {
        request["EventPattern"] = json!(pattern);
    }
    if let Some(description) = args.description {
        request["Description"] = json!(description);
    }
    if let Some(days) = args.retention_days {
        request["RetentionDays"] = json!(days);
    }
    let updated: Value = client.aws("UpdateArchive", &request).await?;
    if args.client.json {
        println(&updated.to_string())?;
    } else {
        println(&format!("updated archive {}", args.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: NameArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let _: Value = client
        .aws("DeleteArchive", &json!({ "ArchiveName": args.name }))
        .await?;
    if args.client.json {
        println(&json!({ "deleted": args.name }).to_string())?;
    } else {
        println(&format!("deleted archive {}", args.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buses_retention_and_times_read_plainly() {
        assert_eq!(
            bus_name("arn:aws:events:us-east-1:000000000000:event-bus/orders"),
            "orders"
        );
        assert_eq!(bus_name("orders"), "orders");
        assert_eq!(retention(0), "forever");
        assert_eq!(retention(1), "1 day");
        assert_eq!(retention(30), "30 days");
        assert_eq!(time(1_700_000_000.5), "2023-11-14T22:13:20Z");
        assert_eq!(time(f64::NAN), "NaN");
    }
}
