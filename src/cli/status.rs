//! `stowage status`: every target's delivery status on a running server
//! (`GET /v1/targets`), the log's size and oldest kept record (`GET
//! /v1/log`), the archives (ListArchives) and the replays not yet ended (`GET
//! /v1/replays`: their progress), as tables and a summary or, with
//! `--json`, as `{"targets", "log", "archives", "replays"}` (the server's own
//! shapes).
//!
//! The numbers are the server's live counters since it started; this file
//! only renders them.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, print, println, truncate};
use crate::api::replays::{ProgressView, Running};

/// Longest "code: message" shown for a target's last error (its age follows).
const LAST_ERROR_CHARS: usize = 60;

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Deserialize)]
struct Targets {
    targets: Vec<Box<RawValue>>,
}

/// A target as `/v1/targets` shows it (`delivery::TargetStatus`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    bus: String,
    rule: String,
    target_id: String,
    enabled: bool,
    pending: i64,
    oldest_pending_age_secs: Option<f64>,
    in_flight: i64,
    delivered: u64,
    retried: u64,
    dead_lettered: u64,
    endpoint_gone: bool,
    last_error: Option<LastError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LastError {
    code: String,
    message: String,
    status: Option<u16>,
    /// Absent from servers older than this client.
    age_secs: Option<f64>,
}

/// `GET /v1/log`, the fields shown (`retention::LogStatus`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogStatus {
    records: i64,
    record_bytes: i64,
    disk_bytes: u64,
    min_retention: String,
    dead_letter_retention: String,
    removed_records: u64,
    oldest: Option<OldestKept>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OldestKept {
    seq: u64,
    age_secs: Option<f64>,
    kept: Kept,
}

#[derive(Deserialize)]
struct Kept {
    reason: String,
    holder: Option<Holder>,
}

#[derive(Deserialize)]
struct Holder {
    kind: String,
    name: Option<String>,
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let client = Client::for_args(&args.client)?;
        let Targets { targets } = client.get("/v1/targets", &[]).await?;
        let log: Box<RawValue> = client.get("/v1/log", &[]).await?;
        let archives = client
            .aws_all("ListArchives", json!({}), "Archives")
            .await?;
        let Running { replays } = client.get("/v1/replays", &[]).await?;
        if args.client.json {
            let all = json!({
                "targets": targets,
                "log": log,
                "archives": archives,
                "replays": replays,
            });
            println(&serde_json::to_string(&all)?)?;
        } else {
            print(&table(&targets)?.to_string())?;
            print(&log_summary(&log)?)?;
            if !archives.is_empty() {
                print(&format!("\n{}", super::archive::table(archives)?))?;
            }
            if !replays.is_empty() {
                print(&format!("\n{}", replay_table(&replays)))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Running replays: how far each has come, its rate and time left.
fn replay_table(replays: &[ProgressView]) -> Table {
    let mut table = Table::new(&[
        ("REPLAY", Align::Left),
        ("STATE", Align::Left),
        ("ARCHIVE", Align::Left),
        ("REPLAYED", Align::Right),
        ("RATE", Align::Right),
        ("ETA", Align::Right),
    ]);
    for replay in replays {
        let replayed = match replay.total {
            Some(total) => format!("{} of {total}", replay.replayed),
            None => replay.replayed.to_string(),
        };
        table.row(vec![
            replay.name.clone(),
            replay.state.clone(),
            replay.archive.clone(),
            replayed,
            format!("{:.0}/s", replay.rate),
            replay.eta_secs.map_or_else(|| "-".into(), age),
        ]);
    }
    table
}

/// Two lines under the targets: the log's size, and its oldest record and why
/// it is kept.
fn log_summary(raw: &RawValue) -> anyhow::Result<String> {
    let log: LogStatus = serde_json::from_str(raw.get())
        .context("the server sent a log status this client cannot read")?;
    let letters = match log.dead_letter_retention.as_str() {
        "0" => "dead letters kept until purged".to_owned(),
        keep => format!("dead letters kept {keep}"),
    };
    let mut out = format!(
        "\nLOG     {} records ({}), {} on disk; {} removed by retention (min_retention {}, {letters})\n",
        log.records,
        bytes(log.record_bytes.max(0).unsigned_abs()),
        bytes(log.disk_bytes),
        log.removed_records,
        log.min_retention,
    );
    let oldest = match log.oldest {
        None => "OLDEST  - (the log is empty)\n".to_owned(),
        Some(oldest) => {
            let age = oldest
                .age_secs
                .map_or_else(|| "age unknown".into(), |s| format!("{} old", age(s)));
            format!("OLDEST  #{} ({age}), {}\n", oldest.seq, why(&oldest.kept))
        }
    };
    out.push_str(&oldest);
    Ok(out)
}

fn why(kept: &Kept) -> String {
    match (kept.reason.as_str(), &kept.holder) {
        ("held", Some(holder)) => {
            let name = holder.name.as_deref().unwrap_or("?");
            match holder.kind.as_str() {
                "router" => "kept: not routed yet".to_owned(),
                "pending" => format!("kept: a delivery to {name} is pending"),
                "deadLetter" => format!("kept: a letter in dead-letter queue {name} holds it"),
                kind => format!("kept: {kind} {name} holds it"),
            }
        }
        ("minRetention", _) => "kept: younger than log.min_retention".to_owned(),
        ("awaitingSweep", _) => "nothing keeps it: the next retention sweep removes it".to_owned(),
        (other, _) => format!("kept: {other}"),
    }
}

/// A byte count in its largest binary unit: `512 B`, `3.2 KiB`, `1.1 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn table(targets: &[Box<RawValue>]) -> anyhow::Result<Table> {
    let mut table = Table::new(&[
        ("BUS", Align::Left),
        ("RULE", Align::Left),
        ("TARGET", Align::Left),
        ("PENDING", Align::Right),
        ("OLDEST", Align::Right),
        ("IN FLIGHT", Align::Right),
        ("DELIVERED", Align::Right),
        ("RETRIED", Align::Right),
        ("DEAD", Align::Right),
        ("GONE", Align::Left),
        ("LAST ERROR", Align::Left),
    ]);
    for raw in targets {
        let target: Target = serde_json::from_str(raw.get())
            .context("the server sent a target status this client cannot read")?;
        let rule = if target.enabled {
            target.rule
        } else {
            format!("{} (disabled)", target.rule)
        };
        let last_error = target.last_error.map_or_else(
            || "-".to_owned(),
            |e| {
                // The status goes first and the age last: the message may be cut.
                let status = e.status.map(|s| format!(" {s}")).unwrap_or_default();
                let when = e
                    .age_secs
                    .map(|secs| format!(" ({} ago)", age(secs)))
                    .unwrap_or_default();
                let text = truncate(
                    &format!("{}{status}: {}", e.code, e.message),
                    LAST_ERROR_CHARS,
                );
                format!("{text}{when}")
            },
        );
        table.row(vec![
            target.bus,
            rule,
            target.target_id,
            target.pending.to_string(),
            target
                .oldest_pending_age_secs
                .map_or_else(|| "-".into(), age),
            target.in_flight.to_string(),
            target.delivered.to_string(),
            target.retried.to_string(),
            target.dead_lettered.to_string(),
            if target.endpoint_gone { "yes" } else { "-" }.to_owned(),
            last_error,
        ]);
    }
    Ok(table)
}

/// An age in its two largest units: `42s`, `3m12s`, `5h0m`, `2d3h`.
fn age(secs: f64) -> String {
    let total = Duration::try_from_secs_f64(secs).map_or(0, |d| d.as_secs());
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(age(0.4), "0s");
        assert_eq!(age(42.9), "42s");
        assert_eq!(age(192.0), "3m12s");
        assert_eq!(age(5.0 * 3600.0 + 7.0), "5h0m");
        assert_eq!(age(2.0 * 86_400.0 + 3.0 * 3600.0 + 59.0), "2d3h");
    }

    #[test]
    fn the_log_summary_names_the_size_and_what_keeps_the_oldest_record() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"records":1204,"recordBytes":1153433,"diskBytes":3355443,"checkComplete":true,
                "nextSeq":5000,"minRetention":"1d","minRetentionSecs":86400,
                "deadLetterRetention":"14d","removedRecords":3796,"removedDeadLetters":0,
                "oldest":{"seq":3796,"time":"2025-01-01T00:00:00Z","ageSecs":7500.0,
                "kept":{"reason":"held","holder":{"kind":"pending","name":"default/orders/erp"},"seq":3800}}}"#,
        )
        .expect("valid JSON");
        let text = log_summary(&raw).expect("readable");
        assert!(
            text.contains("LOG     1204 records (1.1 MiB), 3.2 MiB on disk; 3796 removed by retention (min_retention 1d, dead letters kept 14d)"),
            "{text}"
        );
        assert!(
            text.contains(
                "OLDEST  #3796 (2h5m old), kept: a delivery to default/orders/erp is pending"
            ),
            "{text}"
        );
        let empty: Box<RawValue> = serde_json::from_str(
            r#"{"records":0,"recordBytes":0,"diskBytes":10,"minRetention":"0",
                "deadLetterRetention":"0","removedRecords":0,"oldest":null}"#,
        )
        .expect("valid JSON");
        let text = log_summary(&empty).expect("readable");
        assert!(text.contains("0 records (0 B), 10 B on disk"), "{text}");
        assert!(text.contains("dead letters kept until purged"), "{text}");
        assert!(text.contains("OLDEST  - (the log is empty)"), "{text}");
    }

    #[test]
    fn a_nonsense_age_reads_as_zero() {
        assert_eq!(age(-3.0), "0s");
        assert_eq!(age(f64::NAN), "0s");
    }

    #[test]
    fn a_target_row_shows_its_counters_age_and_shortened_last_error() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"bus":"orders","rule":"to-erp","targetId":"erp","arn":"https://erp.example/hook",
                "enabled":false,"pending":12,"oldestPendingAgeSecs":192.5,"inFlight":2,
                "delivered":340,"retried":17,"deadLettered":3,"endpointGone":true,
                "lastError":{"at":"2025-01-01T00:00:00Z","ageSecs":250.2,"code":"SERVER_ERROR",
                "message":"https://erp.example/hook answered 503 Service Unavailable, and then some more words","status":503}}"#,
        )
        .expect("valid JSON");
        let text = table(&[raw]).expect("a readable target").to_string();
        let row = text.lines().nth(1).expect("a row");
        let cells: Vec<&str> = row
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cells[..10],
            [
                "orders",
                "to-erp (disabled)",
                "erp",
                "12",
                "3m12s",
                "2",
                "340",
                "17",
                "3",
                "yes"
            ]
        );
        assert!(
            cells[10].starts_with("SERVER_ERROR 503: https://erp.example"),
            "{row}"
        );
        let (message, when) = cells[10]
            .rsplit_once(" (")
            .expect("the age follows the message");
        assert_eq!(message.chars().count(), LAST_ERROR_CHARS, "{row}");
        assert!(message.ends_with('…'), "{row}");
        assert_eq!(when, "4m10s ago)", "{row}");
    }

    #[test]
    fn a_last_error_without_an_age_is_shown_without_one() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"bus":"b","rule":"r","targetId":"t","enabled":true,"pending":0,
                "oldestPendingAgeSecs":null,"inFlight":0,"delivered":1,"retried":1,
                "deadLettered":0,"endpointGone":false,
                "lastError":{"at":"2025-01-01T00:00:00Z","code":"TIMEOUT","message":"no answer","status":null}}"#,
        )
        .expect("valid JSON");
        let text = table(&[raw]).expect("a readable target").to_string();
        assert!(text.ends_with("TIMEOUT: no answer\n"), "{text}");
    }
}
