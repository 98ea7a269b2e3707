//! `stowage replay start|list|describe|cancel`: replays on a running server,
//! through the AWS API (StartReplay, ListReplays, DescribeReplay,
//! CancelReplay, and DescribeArchive/DescribeRule to turn names into ARNs) and
//! `GET /v1/replays/{name}` for `start --wait`'s progress bar.
//!
//! Exit status: 0 done (for `start --wait`: the replay COMPLETED); 1 when the
//! server refused or could not be reached, or a waited-for replay ended
//! CANCELLED or FAILED; 2 for a usage error. Times are RFC 3339
//! (`2026-01-02T03:04:05Z`) or an age before now (`90s`, `30m`, `2h`, `1d`).

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, println, progress_bar};
use crate::api::replays::ProgressView;

/// How often `start --wait` asks for progress.
const POLL_EVERY: Duration = Duration::from_millis(250);

#[derive(clap::Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    command: ReplayCommand,
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// Replay an archive's events of a time window to its bus's rules.
    Start(StartArgs),
    /// List replays, by name.
    List(ListArgs),
    /// Show one replay: state, window, progress.
    Describe(NameArgs),
    /// Cancel a starting or running replay.
    Cancel(NameArgs),
}

#[derive(clap::Args)]
struct StartArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The replay's name: 1 to 64 of A-Z, a-z, 0-9, '.', '-', '_'.
    name: String,
    /// The archive to replay from (name or ARN).
    #[arg(long)]
    archive: String,
    /// Window start: RFC 3339 or an age such as 2h.
    #[arg(long, value_parser = parse_time)]
    from: Moment,
    /// Window end: RFC 3339 or an age such as 30m [default: now].
    #[arg(long, value_parser = parse_time)]
    to: Option<Moment>,
    /// Only these rules of the archive's bus (name or ARN); every rule if none.
    #[arg(long = "rule", value_name = "RULE")]
    rules: Vec<String>,
    #[arg(long)]
    description: Option<String>,
    /// Show a progress bar until the replay ends.
    #[arg(long)]
    wait: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only replays whose name starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// Only replays in this state (RUNNING, COMPLETED, ...).
    #[arg(long)]
    state: Option<String>,
    /// Only replays of this archive (name or ARN).
    #[arg(long)]
    archive: Option<String>,
}

#[derive(clap::Args)]
struct NameArgs {
    #[command(flatten)]
    client: ClientArgs,
    name: String,
}

/// A time given on the command line: absolute, or an age resolved when used.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Moment {
    At(DateTime<Utc>),
    Ago(Duration),
}

impl Moment {
    fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Moment::At(at) => at,
            Moment::Ago(age) => {
                now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::zero())
            }
        }
    }
}

fn parse_time(text: &str) -> Result<Moment, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Moment::At(at.with_timezone(&Utc)));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected RFC 3339 or an age such as 90s, 30m, 2h, 1d"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit of an age is s, m, h or d")),
    };
    Ok(Moment::Ago(Duration::from_secs(
        amount.saturating_mul(unit_secs),
    )))
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ReplayCommand::Start(args) => block_on(start(args)),
        ReplayCommand::List(args) => block_on(list(args)),
        ReplayCommand::Describe(args) => block_on(describe(args)),
        ReplayCommand::Cancel(args) => block_on(cancel(args)),
    }
}

/// The archive's ARN and its bus's ARN.
async fn archive_arns(client: &Client, archive: &str) -> anyhow::Result<(String, String)> {
    let name = archive.rsplit('/').next().unwrap_or(archive);
    let described: Value = client
        .aws("DescribeArchive", &json!({ "ArchiveName": name }))
        .await?;
    let field = |key: &str| {
        described[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("DescribeArchive answered without {key}"))
    };
    Ok((field("ArchiveArn")?, field("EventSourceArn")?))
}

async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let (archive_arn, bus_arn) = archive_arns(&client, &args.archive).await?;
    let bus = bus_arn.rsplit('/').next().unwrap_or(&bus_arn).to_owned();
    let mut filter_arns = Vec::with_capacity(args.rules.len());
    for rule in &args.rules {
        if rule.starts_with("arn:") {
            filter_arns.push(rule.clone());
            continue;
        }
        let described: Value = client
            .aws(
                "DescribeRule",
                &json!({ "Name": rule, "EventBusName": bus }),
            )
            .await?;
        let arn = described["Arn"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("DescribeRule answered without Arn"))?;
        filter_arns.push(arn.to_owned());
    }
    let now = Utc::now();
    let from = args.from.resolve(now);
    let to = args.to.map_or(now, |to| to.resolve(now));
    let mut destination = json!({ "Arn": bus_arn });
    if !filter_arns.is_empty() {
        destination["FilterArns"] = json!(filter_arns);
    }
    let mut request = json!({
        "ReplayName": args.name,
        "EventSourceArn": archive_arn,
        "EventStartTime": from.timestamp_millis() as f64 / 1000.0,
        "EventEndTime": to.timestamp_millis() as f64 / 1000.0,
        "Destination": destination,
    });
    if let Some(description) = args.description {
        request["Description"] = json!(description);
    }
    let started: Value = client.aws("StartReplay", &request).await?;
    if !args.wait {
        if args.client.json {
            println(&started.to_string())?;
        } else {
            println(&format!(
                "replay {} {} ({})",
                args.name,
                started["State"].as_str().unwrap_or("?"),
                started["ReplayArn"].as_str().unwrap_or("?"),
            ))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ended = wait(&client, &args.name, !args.client.json).await?;
    if args.client.json {
        println(&serde_json::to_string(&ended)?)?;
    } else {
        println(&format!(
            "replay {} {}: {} events replayed{}",
            ended.name,
            ended.state,
            ended.replayed,
            ended
                .state_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))?;
    }
    Ok(if ended.state == "COMPLETED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Follows the replay's progress until it ends; its last progress.
async fn wait(client: &Client, name: &str, bar: bool) -> anyhow::Result<ProgressView> {
    let path = format!("/v1/replays/{name}");
    let mut shown: Option<indicatif::ProgressBar> = None;
    loop {
        let progress: ProgressView = client.get(&path, &[]).await?;
        if bar {
            let total = progress.total.unwrap_or(0);
            let bar = shown.get_or_insert_with(|| {
                progress_bar(usize::try_from(total).unwrap_or(usize::MAX), "events")
            });
            bar.set_length(total.max(progress.replayed));
            bar.set_position(progress.replayed);
        }
        if !matches!(
            progress.state.as_str(),
            "STARTING" | "RUNNING" | "CANCELLING"
        ) {
            if let Some(bar) = shown {
                bar.finish_and_clear();
            }
            return Ok(progress);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let mut request = json!({});
    if let Some(prefix) = &args.prefix {
        request["NamePrefix"] = json!(prefix);
    }
    if let Some(state) = &args.state {
        request["State"] = json!(state.to_ascii_uppercase());
    }
    if let Some(archive) = &args.archive {
        request["EventSourceArn"] = json!(archive_arns(&client, archive).await?.0);
    }
    let replays = client.aws_all("ListReplays", request, "Replays").await?;
    if args.client.json {
        println(&Value::Array(replays).to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    if replays.is_empty() {
        println("no replays")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("STATE", Align::Left),
        ("ARCHIVE", Align::Left),
        ("FROM", Align::Left),
        ("TO", Align::Left),
        ("LAST REPLAYED", Align::Left),
    ]);
    for replay in &replays {
        let text = |key: &str| replay[key].as_str().unwrap_or("").to_owned();
        table.row(vec![
            text("ReplayName"),
            text("State"),
            text("EventSourceArn")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned(),
            time(&replay["EventStartTime"]),
            time(&replay["EventEndTime"]),
            time(&replay["EventLastReplayedTime"]),
        ]);
    }
    println(table.to_string().trim_end())?;
    Ok(ExitCode::SUCCESS)
}

async fn describe(args: NameArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let described: Value = client
        .aws("DescribeReplay", &json!({ "ReplayName": args.name }))
        .await?;
    let progress: Option<ProgressView> = client
        .get(&format!("/v1/replays/{}", args.name), &[])
        .await
        .ok();
    if args.client.json {
        let mut out = described;
        if let Some(progress) = &progress {
            out["Progress"] = serde_json::to_value(progress)?;
        }
        println(&out.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = |key: &str| described[key].as_str().unwrap_or("-").to_owned();
    let mut lines = vec![
        format!("name:           {}", text("ReplayName")),
        format!("state:          {}", text("State")),
    ];
    if let Some(reason) = described["StateReason"].as_str() {
        lines.push(format!("reason:         {reason}"));
    }
    lines.push(format!("archive:        {}", text("EventSourceArn")));
    lines.push(format!(
        "window:         {} .. {}",
        time(&described["EventStartTime"]),
        time(&described["EventEndTime"])
    ));
    let rules = described["Destination"]["FilterArns"]
        .as_array()
        .map(|arns| {
            arns.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "every rule".to_owned());
    lines.push(format!("rules:          {rules}"));
    lines.push(format!(
        "last replayed:  {}",
        time(&described["EventLastReplayedTime"])
    ));
    lines.push(format!(
        "started:        {}",
        time(&described["ReplayStartTime"])
    ));
    lines.push(format!(
        "ended:          {}",
        time(&described["ReplayEndTime"])
    ));
    if let Some(progress) = progress {
        let total = progress
            .total
            .map_or_else(|| "?".to_owned(), |t| t.to_string());
        lines.push(format!(
            "progress:       {} of {total} events, {:.0}/s",
            progress.replayed, progress.rate
        ));
    }
    println(&lines.join("\n"))?;
    Ok(ExitCode::SUCCESS)
}

async fn cancel(args: NameArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let cancelled: Value = client
        .aws("CancelReplay", &json!({ "ReplayName": args.name }))
        .await?;
    if args.client.json {
        println(&cancelled.to_string())?;
    } else {
        println(&format!(
            "replay {} {}",
            args.name,
            cancelled["State"].as_str().unwrap_or("?")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An AWS timestamp (epoch seconds) as RFC 3339, `-` when absent.
fn time(value: &Value) -> String {
    value
        .as_f64()
        .and_then(|secs| {
            #[allow(clippy::cast_possible_truncation)]
            let ms = (secs * 1000.0).round() as i64;
            DateTime::<Utc>::from_timestamp_millis(ms)
        })
        .map_or_else(
            || "-".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_an_age() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T03:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let at = |text: &str| parse_time(text).expect("parses").resolve(now).to_rfc3339();
        assert_eq!(at("2h"), "2026-01-02T01:00:00+00:00");
        assert_eq!(at("30m"), "2026-01-02T02:30:00+00:00");
        assert_eq!(at("90s"), "2026-01-02T02:58:30+00:00");
        assert_eq!(at("1d"), "2026-01-01T03:00:00+00:00");
        assert_eq!(at("0"), "2026-01-02T03:00:00+00:00");
        assert_eq!(at("2025-12-31T23:00:00Z"), "2025-12-31T23:00:00+00:00");
        assert!(parse_time("2w").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
