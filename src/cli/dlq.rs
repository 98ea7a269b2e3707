//! `stowage dlq list|show|redrive|purge`: dead letters on a running server,
//! through `/v1/dead-letters`.
//!
//! Exit status: 0 done; 1 when the server refused, could not be reached, or
//! something named was not done (an id that is no dead letter, a letter whose
//! target is gone); 2 for a usage error, including a queue purge without
//! `--yes`. This file renders; the server selects and decides. `purge`, which
//! deletes letters one request each, lives in `dlq/purge.rs`.

mod purge;

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::{Client, RequestError, block_on};
use super::output::{Align, Table, indent_json, print, println};
use crate::api::dead_letters::LetterView;

/// The server's largest page (`api::dead_letters`); `--all` pages by it.
const MAX_PAGE: u16 = 1000;
/// The error code of a dead letter that does not exist.
const NOT_FOUND: &str = "dead_letter_not_found";

#[derive(clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters, oldest first.
    List(ListArgs),
    /// Show one dead letter in full: why it failed, its event, the last response.
    Show(ShowArgs),
    /// Send dead letters back to their targets, with fresh retries.
    Redrive(RedriveArgs),
    /// Delete dead letters for good.
    Purge(purge::PurgeArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only letters of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only letters of this rule (name or ARN).
    #[arg(long)]
    rule: Option<String>,
    /// Only letters of this target id.
    #[arg(long)]
    target: Option<String>,
    /// Show at most N letters, 1 to 1000 [default: the server's, 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_PAGE)))]
    limit: Option<u16>,
    /// Show every matching letter, fetching page after page.
    #[arg(long, conflicts_with = "limit")]
    all: bool,
}

#[derive(clap::Args)]
struct ShowArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The dead letter's id, as listed.
    id: u64,
}

/// Which letters a redrive or purge acts on: ids, or a queue narrowed by rule
/// and target.
#[derive(clap::Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("letters").args(["ids", "queue"]).required(true)))]
struct Selection {
    /// Dead-letter ids, as listed (`--id 3 --id 4` or `--id 3 4`).
    #[arg(long = "id", value_name = "ID", num_args = 1..)]
    ids: Vec<u64>,
    /// Every letter of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// With --queue: only letters of this rule (name or ARN).
    #[arg(long, requires = "queue", conflicts_with = "ids")]
    rule: Option<String>,
    /// With --queue: only letters of this target id.
    #[arg(long, requires = "queue", conflicts_with = "ids")]
    target: Option<String>,
}

#[derive(clap::Args)]
struct RedriveArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    selection: Selection,
}

/// The filter of `list` and of a queue selection.
struct Filter {
    queue: Option<String>,
    rule: Option<String>,
    target: Option<String>,
}

impl Filter {
    /// " in queue Q for rule R and target T" (empty without a filter), for
    /// messages.
    fn described(&self) -> String {
        let mut text = String::new();
        if let Some(queue) = &self.queue {
            text.push_str(&format!(" in queue {queue}"));
        }
        match (&self.rule, &self.target) {
            (Some(rule), Some(target)) => {
                text.push_str(&format!(" for rule {rule} and target {target}"));
            }
            (Some(rule), None) => text.push_str(&format!(" for rule {rule}")),
            (None, Some(target)) => text.push_str(&format!(" for target {target}")),
            (None, None) => {}
        }
        text
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("queue", &self.queue),
            ("rule", &self.rule),
            ("target", &self.target),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value.clone()?)))
        .collect()
    }
}

enum Chosen {
    Ids(Vec<u64>),
    Queue(Filter),
}

impl Selection {
    fn chosen(self) -> Chosen {
        match self.queue {
            Some(queue) => Chosen::Queue(Filter {
                queue: Some(queue),
                rule: self.rule,
                target: self.target,
            }),
            None => {
                let mut seen = HashSet::new();
                Chosen::Ids(self.ids.into_iter().filter(|id| seen.insert(*id)).collect())
            }
        }
    }
}

/// One page of `GET /v1/dead-letters`: `T` is `Box<RawValue>` to keep the
/// letters as sent (for `--json`), or a part of a letter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// What `POST /v1/dead-letters/redrive` answers.
#[derive(Deserialize)]
struct Redriven {
    redriven: usize,
    skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
struct Skipped {
    id: String,
    reason: String,
}

pub fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DlqCommand::List(args) => block_on(list(args)),
        DlqCommand::Show(args) => block_on(show(args)),
        DlqCommand::Redrive(args) => block_on(redrive(args)),
        DlqCommand::Purge(args) => block_on(purge::run(args)),
    }
}

/// The matching letters, a page of `limit` or (`all`) every page; and whether
/// more match than were fetched.
async fn fetch<T: DeserializeOwned>(
    client: &Client,
    filter: &Filter,
    limit: Option<u16>,
    all: bool,
) -> Result<(Vec<T>, bool), RequestError> {
    let mut query = filter.query();
    if let Some(limit) = if all { Some(MAX_PAGE) } else { limit } {
        query.push(("limit", limit.to_string()));
    }
    let mut items = Vec::new();
    loop {
        let page: Page<T> = client.get("/v1/dead-letters", &query).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) if all => {
                query.retain(|(key, _)| *key != "cursor");
                query.push(("cursor", cursor));
            }
            next => return Ok((items, next.is_some())),
        }
    }
}

fn parse_letter(raw: &RawValue) -> anyhow::Result<LetterView> {
    serde_json::from_str(raw.get()).context("the server sent a dead letter this client cannot read")
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let filter = Filter {
        queue: args.queue,
        rule: args.rule,
        target: args.target,
    };
    let (items, more) = fetch::<Box<RawValue>>(&client, &filter, args.limit, args.all).await?;
    if args.client.json {
        println(&serde_json::to_string(&items)?)?;
    } else if items.is_empty() {
        // A lone header row reads like a failed command; say what was found.
        println(&format!("no dead letters{}", filter.described()))?;
    } else {
        let mut table = Table::new(&[
            ("ID", Align::Right),
            ("QUEUE", Align::Left),
            ("RULE", Align::Left),
            ("TARGET", Align::Left),
            ("ATTEMPTS", Align::Right),
            ("ERROR", Align::Left),
            ("STATUS", Align::Right),
            ("DEAD-LETTERED AT", Align::Left),
            ("EVENT ID", Align::Left),
        ]);
        for raw in &items {
            let letter = parse_letter(raw)?;
            table.row(vec![
                letter.id,
                letter.queue,
                letter.rule,
                letter.target_id,
                letter.attempts.to_string(),
                letter.error_code,
                letter
                    .last_status
                    .map_or_else(|| "-".into(), |s| s.to_string()),
                letter.dead_lettered_at,
                letter.event_id,
            ]);
        }
        print(&table.to_string())?;
    }
    if more {
        eprintln!("more dead letters match; --all lists them all");
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let raw: Box<RawValue> = client
        .get(&format!("/v1/dead-letters/{}", args.id), &[])
        .await?;
    if args.client.json {
        println(raw.get())?;
    } else {
        print(&describe(&parse_letter(&raw)?))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The human form of `show`: the fields, then the event and the last
/// response body (indented when it is JSON).
fn describe(letter: &LetterView) -> String {
    let exhausted = letter
        .exhausted_retry_condition
        .as_deref()
        .unwrap_or("- (the failure was not retryable)");
    let status = letter
        .last_status
        .map_or_else(|| "- (no response)".into(), |s| s.to_string());
    let fields = [
        ("id", letter.id.as_str()),
        ("queue", &letter.queue),
        ("bus", &letter.bus),
        ("rule", &letter.rule),
        ("rule arn", &letter.rule_arn),
        ("target", &letter.target_id),
        ("target arn", &letter.target_arn),
        ("event id", &letter.event_id),
        ("attempts", &letter.attempts.to_string()),
        ("error code", &letter.error_code),
        ("error message", &letter.error_message),
        ("retries exhausted", exhausted),
        ("last status", &status),
        ("retries counted from", &letter.retries_counted_from),
        ("dead-lettered at", &letter.dead_lettered_at),
    ]
    .iter()
    .map(|(label, value)| format!("{label:<21} {value}\n"))
    .collect::<String>();
    let response = match letter.last_response.as_deref() {
        None | Some("") => "(none)".to_owned(),
        Some(body) if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() => {
            indent_json(body)
        }
        Some(body) => body.to_owned(),
    };
    format!(
        "{fields}\nevent:\n{}\n\nlast response body:\n{response}\n",
        indent_json(letter.event.get())
    )
}

async fn redrive(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let client = Client::for_args(&args.client)?;
    let chosen = args.selection.chosen();
    let body = match &chosen {
        Chosen::Ids(ids) => json!({ "ids": ids }),
        Chosen::Queue(filter) => {
            let mut body = json!({ "queue": filter.queue });
            for (key, value) in [("rule", &filter.rule), ("target", &filter.target)] {
                if let Some(value) = value {
                    body[key] = Value::from(value.as_str());
                }
            }
            body
        }
    };
    let raw: Box<RawValue> = client.post("/v1/dead-letters/redrive", &body).await?;
    let outcome: Redriven = serde_json::from_str(raw.get())
        .context("the server sent a redrive result this client cannot read")?;
    if args.client.json {
        println(raw.get())?;
    } else {
        let mut text = format!(
            "redriven {}, skipped {}",
            outcome.redriven,
            outcome.skipped.len()
        );
        text.push('\n');
        for skipped in &outcome.skipped {
            text.push_str(&format!("  {}: {}\n", skipped.id, skipped.reason));
        }
        print(&text)?;
    }
    // Skipped letters include ids that are no dead letter (any more).
    if !outcome.skipped.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LETTER: &str = r#"{"id":"2000003","queue":"crm-dlq","eventId":"aa34","bus":"default",
        "rule":"orders-to-crm","ruleArn":"arn:aws:events:us-east-1:000000000000:rule/orders-to-crm",
        "targetId":"crm","targetArn":"https://crm.example/hook","attempts":3,
        "errorCode":"SERVER_ERROR","errorMessage":"https://crm.example/hook answered 503 Service Unavailable",
        "exhaustedRetryCondition":"MaximumRetryAttempts","lastStatus":503,
        "lastResponse":"{\"retry\":\"later\"}","retriesCountedFrom":"2025-01-01T00:00:00Z",
        "deadLetteredAt":"2025-01-01T00:05:00Z",
        "event":{"version":"0","id":"aa34","detail-type":"OrderPlaced","source":"shop","detail":{"b":1,"a":2}}}"#;

    fn letter(text: &str) -> LetterView {
        let raw: Box<RawValue> = serde_json::from_str(text).expect("valid JSON");
        parse_letter(&raw).expect("a readable letter")
    }

    #[test]
    fn a_filter_reads_as_a_phrase() {
        let filter = |queue: Option<&str>, rule: Option<&str>, target: Option<&str>| Filter {
            queue: queue.map(str::to_owned),
            rule: rule.map(str::to_owned),
            target: target.map(str::to_owned),
        };
        assert_eq!(filter(None, None, None).described(), "");
        assert_eq!(filter(Some("q"), None, None).described(), " in queue q");
        assert_eq!(
            filter(Some("q"), Some("r"), Some("t")).described(),
            " in queue q for rule r and target t"
        );
        assert_eq!(filter(None, None, Some("t")).described(), " for target t");
    }

    #[test]
    fn show_lists_every_field_then_the_event_in_its_own_key_order() {
        let text = describe(&letter(LETTER));
        for line in [
            "id                    2000003\n",
            "rule arn              arn:aws:events:us-east-1:000000000000:rule/orders-to-crm\n",
            "target arn            https://crm.example/hook\n",
            "retries exhausted     MaximumRetryAttempts\n",
            "last status           503\n",
            "retries counted from  2025-01-01T00:00:00Z\n",
        ] {
            assert!(text.contains(line), "{line:?} in:\n{text}");
        }
        let event = "event:\n{\n  \"version\": \"0\",\n  \"id\": \"aa34\",\n  \"detail-type\"";
        assert!(text.contains(event), "{text}");
        assert!(text.contains("\"b\": 1,\n    \"a\": 2"), "{text}");
        assert!(
            text.ends_with("last response body:\n{\n  \"retry\": \"later\"\n}\n"),
            "a JSON body is indented: {text}"
        );
    }

    #[test]
    fn show_says_when_there_was_no_response_and_no_retry() {
        let text = describe(&letter(
            &LETTER
                .replace(r#""lastStatus":503"#, r#""lastStatus":null"#)
                .replace(
                    r#""lastResponse":"{\"retry\":\"later\"}""#,
                    r#""lastResponse":null"#,
                )
                .replace(
                    r#""exhaustedRetryCondition":"MaximumRetryAttempts""#,
                    r#""exhaustedRetryCondition":null"#,
                ),
        ));
        assert!(
            text.contains("last status           - (no response)\n"),
            "{text}"
        );
        assert!(
            text.contains("retries exhausted     - (the failure was not retryable)\n"),
            "{text}"
        );
        assert!(text.ends_with("last response body:\n(none)\n"), "{text}");
    }
}
