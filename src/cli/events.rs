//! `stowage events trace ID`: where an event went, per target whose rule
//! matched it (`GET /v1/events/{id}/deliveries`): its state and a table of its
//! attempts, or with `--json` the server's document as sent.
//!
//! Exit status: 0 when the event exists (whatever its deliveries' states); 1
//! when the server refused (an unknown or malformed id) or could not be
//! reached; 2 for a usage error. This file renders; the server decides states.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, print, println, truncate};

/// Longest error message shown in an attempt's row.
const ERROR_CHARS: usize = 80;

#[derive(clap::Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Show where an event went: per target, its delivery state and attempts.
    Trace(TraceArgs),
}

#[derive(clap::Args)]
struct TraceArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The event's id, as the publish returned it.
    id: String,
}

/// `GET /v1/events/{id}/deliveries` as this client reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deliveries {
    event_id: String,
    seq: u64,
    bus: String,
    ingested_at: String,
    routed: bool,
    deliveries: Vec<Delivery>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    rule: Option<String>,
    target_id: Option<String>,
    target_arn: Option<String>,
    target_uid: String,
    target_removed: bool,
    state: String,
    delivered_at: Option<String>,
    next_attempt_at: Option<String>,
    attempts_made: Option<u32>,
    dead_letter: Option<LetterRef>,
    note: Option<String>,
    attempts: Vec<Attempt>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LetterRef {
    id: String,
    queue: String,
    in_queue: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    attempt: u32,
    at: String,
    outcome: String,
    error_code: Option<String>,
    status: Option<u16>,
    latency_ms: Option<u32>,
    error_message: Option<String>,
}

pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        EventsCommand::Trace(args) => trace(args),
    }
}

fn trace(args: TraceArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let client = Client::for_args(&args.client)?;
        // The id goes in the path as given; the server refuses what is no UUID.
        let path = format!("/v1/events/{}/deliveries", path_segment(&args.id));
        let raw: Box<RawValue> = client.get(&path, &[]).await?;
        if args.client.json {
            println(raw.get())?;
        } else {
            let deliveries: Deliveries = serde_json::from_str(raw.get())
                .context("the server sent a delivery trace this client cannot read")?;
            print(&render(&deliveries))?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Keeps an id that is no UUID from changing the path (`../`, `?`).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn render(d: &Deliveries) -> String {
    let mut out = format!(
        "event {} (seq {}) on bus {}, ingested {}\n",
        d.event_id, d.seq, d.bus, d.ingested_at
    );
    if d.deliveries.is_empty() {
        out.push_str(if d.routed {
            "no rule matched it: it was delivered nowhere\n"
        } else {
            "not routed yet: the router has not reached it\n"
        });
    }
    for delivery in &d.deliveries {
        out.push('\n');
        out.push_str(&block(delivery));
    }
    out
}

/// One target's block: who, the state, the attempts.
fn block(d: &Delivery) -> String {
    let mut out = String::new();
    let removed = if d.target_removed { " (removed)" } else { "" };
    let _ = match (&d.rule, &d.target_id) {
        (Some(rule), Some(target)) => writeln!(
            out,
            "rule {rule}, target {target}{removed}{}",
            d.target_arn
                .as_ref()
                .map(|arn| format!(" -> {arn}"))
                .unwrap_or_default()
        ),
        _ => writeln!(out, "target uid {}{removed}", d.target_uid),
    };
    let _ = writeln!(out, "  state: {}", state(d));
    if d.attempts.is_empty() {
        out.push_str("  no attempts recorded\n");
        return out;
    }
    let mut table = Table::new(&[
        ("#", Align::Right),
        ("AT", Align::Left),
        ("OUTCOME", Align::Left),
        ("CODE", Align::Left),
        ("STATUS", Align::Right),
        ("LATENCY", Align::Right),
        ("ERROR", Align::Left),
    ]);
    let dash = || "-".to_owned();
    for a in &d.attempts {
        table.row(vec![
            a.attempt.to_string(),
            a.at.clone(),
            a.outcome.clone(),
            a.error_code.clone().unwrap_or_else(dash),
            a.status.map_or_else(dash, |s| s.to_string()),
            a.latency_ms.map_or_else(dash, |ms| format!("{ms} ms")),
            a.error_message
                .as_deref()
                .map_or_else(dash, |e| truncate(e, ERROR_CHARS)),
        ]);
    }
    for line in table.to_string().lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn state(d: &Delivery) -> String {
    match d.state.as_str() {
        "delivered" => match &d.delivered_at {
            Some(at) => format!("delivered at {at}"),
            None => "delivered".into(),
        },
        "pending" => format!(
            "pending, next attempt at {} ({} failed so far)",
            d.next_attempt_at.as_deref().unwrap_or("-"),
            d.attempts_made.unwrap_or(0)
        ),
        "dead-lettered" => match &d.dead_letter {
            Some(letter) if letter.in_queue => format!(
                "dead-lettered in queue {} as letter {} (stowage dlq show {})",
                letter.queue, letter.id, letter.id
            ),
            Some(letter) => format!(
                "dead-lettered in queue {} as letter {}, since purged",
                letter.queue, letter.id
            ),
            None => "dead-lettered".into(),
        },
        other => match &d.note {
            Some(note) => format!("{other}: {note}"),
            None => other.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert_eq!(path_segment("5ed6b0c5-3ac4"), "5ed6b0c5-3ac4");
        assert_eq!(path_segment("../x?y"), "%2E%2E%2Fx%3Fy");
    }
}
