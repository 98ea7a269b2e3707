//! `stowage status`: every target's delivery status on a running server
//! (`GET /v1/targets`), as a table or, with `--json`, the server's array; in
//! text, the archives follow when there are any.
//!
//! The numbers are the server's live counters since it started; this file
//! only renders them.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, print, println, truncate};

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

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let client = Client::new(&args.client.endpoint)?;
        let Targets { targets } = client.get("/v1/targets", &[]).await?;
        if args.client.json {
            println(&serde_json::to_string(&targets)?)?;
        } else {
            print(&table(&targets)?.to_string())?;
            // Archives, when there are any (as `stowage archive list` shows them).
            let archives = super::archive::fetch_all(&client, serde_json::json!({})).await?;
            if !archives.is_empty() {
                print(&format!("\n{}", super::archive::table(archives)?))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
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
