//! `stowage keys create|list|describe|rotate|revoke`: publisher keys on a
//! running server, through `/v1/keys`.
//!
//! `create` and `rotate` print the token once: it is not stored and cannot be
//! shown again. Exit status: 0 done; 1 when the server refused (its message on
//! stderr) or could not be reached; 2 for a usage error. `--json` prints the
//! server's answer as sent. This file renders; the server decides.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, println};
use crate::keys::record::KeyView;

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a publisher key; its token is printed once.
    Create(CreateArgs),
    /// List publisher keys (never their tokens).
    List(ListArgs),
    /// Show one key with its usage counters.
    Describe(IdArgs),
    /// Issue a new token; the old one stays valid for --grace.
    Rotate(RotateArgs),
    /// Refuse the key from now on.
    Revoke(IdArgs),
}

#[derive(clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// A name for people (the publisher it was made for).
    #[arg(long)]
    name: String,
    /// A source the key may publish: a name or a `*` pattern (repeat for more).
    #[arg(long = "allow-source", required = true)]
    sources: Vec<String>,
    /// A detail type (gateway eventName) it may publish, e.g. 'Order*'; none: any.
    #[arg(long = "allow-detail-type")]
    detail_types: Vec<String>,
    /// Most events per second (N/s) or minute (N/min), e.g. 100/s.
    #[arg(long)]
    rate: Option<String>,
    /// Most events per UTC day, e.g. 1000000/day.
    #[arg(long)]
    quota: Option<String>,
    /// A network (CIDR or address) the key may be used from (repeat for more); none: any.
    #[arg(long = "allow-ip")]
    networks: Vec<String>,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
struct IdArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The key id (the 16 hex digits after `stk_`).
    id: String,
}

#[derive(clap::Args)]
struct RotateArgs {
    #[command(flatten)]
    client: ClientArgs,
    id: String,
    /// How long the old token stays valid: 0, 90s, 30m, 1h, 2d.
    #[arg(long, default_value = "1h", value_parser = parse_grace)]
    grace: u64,
}

pub fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KeysCommand::Create(args) => block_on(create(args)),
        KeysCommand::List(args) => block_on(list(args)),
        KeysCommand::Describe(args) => block_on(describe(args)),
        KeysCommand::Rotate(args) => block_on(rotate(args)),
        KeysCommand::Revoke(args) => block_on(revoke(args)),
    }
}

/// A duration in seconds: a number with `s`, `m`, `h` or `d` (bare: seconds).
fn parse_grace(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration such as 0, 90s, 30m, 1h or 2d");
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

fn view_of(value: &Value) -> anyhow::Result<KeyView> {
    serde_json::from_value(value.clone()).context("the server sent a key this client cannot read")
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let mut request = json!({
        "name": args.name,
        "sources": args.sources,
        "detailTypes": args.detail_types,
        "networks": args.networks,
    });
    if let Some(rate) = args.rate {
        request["rate"] = json!(rate);
    }
    if let Some(quota) = args.quota {
        request["quota"] = json!(quota);
    }
    let created: Value = client.post("/v1/keys", &request).await?;
    issued(&created, args.client.json, "created")
}

/// Prints a created or rotated key with its token.
fn issued(answer: &Value, json: bool, what: &str) -> anyhow::Result<ExitCode> {
    if json {
        println(&answer.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let view = view_of(&answer["key"])?;
    let token = answer["token"]
        .as_str()
        .context("the server sent no token")?;
    println(&format!("{what} publisher key {} ({})", view.id, view.name))?;
    println(&format!("token: {token}"))?;
    println("this token is shown once: store it now (Stowage keeps only its hash)")?;
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let answer: Value = client.get("/v1/keys", &[]).await?;
    if args.client.json {
        println(&answer["keys"].to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let keys = answer["keys"].as_array().cloned().unwrap_or_default();
    if keys.is_empty() {
        println("no publisher keys")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("NAME", Align::Left),
        ("STATE", Align::Left),
        ("SOURCES", Align::Left),
        ("DETAIL TYPES", Align::Left),
        ("PUBLISHED", Align::Right),
        ("REFUSED", Align::Right),
        ("CREATED", Align::Left),
    ]);
    for key in &keys {
        let view = view_of(key)?;
        table.row(vec![
            view.id,
            view.name,
            view.state,
            view.sources.join(","),
            view.detail_types.join(","),
            view.usage.published.to_string(),
            view.usage.refused.to_string(),
            view.created,
        ]);
    }
    super::output::print(&table.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn describe(args: IdArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let answer: Value = client.get(&format!("/v1/keys/{}", args.id), &[]).await?;
    show(&answer, args.client.json)
}

fn show(answer: &Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println(&answer.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let v = view_of(answer)?;
    let or_any = |list: &[String]| {
        if list.is_empty() {
            "any".to_string()
        } else {
            list.join(", ")
        }
    };
    let mut lines = vec![
        format!("id:               {}", v.id),
        format!("name:             {}", v.name),
        format!("state:            {}", v.state),
        format!("sources:          {}", v.sources.join(", ")),
        format!("detail types:     {}", v.detail_types.join(", ")),
        format!(
            "rate:             {}",
            v.rate.as_deref().unwrap_or("unlimited")
        ),
        format!(
            "quota:            {}",
            v.quota.as_deref().unwrap_or("unlimited")
        ),
        format!("networks:         {}", or_any(&v.networks)),
        format!("created:          {}", v.created),
    ];
    if let Some(rotated) = &v.rotated {
        lines.push(format!("rotated:          {rotated}"));
    }
    if let Some(until) = &v.previous_valid_until {
        lines.push(format!("old token until:  {until}"));
    }
    if let Some(revoked) = &v.revoked {
        lines.push(format!("revoked:          {revoked}"));
    }
    lines.push(format!(
        "published:        {} (since the server started)",
        v.usage.published
    ));
    lines.push(format!("published today:  {}", v.usage.published_today));
    lines.push(format!("refused:          {}", v.usage.refused));
    lines.push(format!(
        "last used:        {}",
        v.usage.last_used.as_deref().unwrap_or("never")
    ));
    println(&lines.join("\n"))?;
    Ok(ExitCode::SUCCESS)
}

async fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let answer: Value = client
        .post(
            &format!("/v1/keys/{}/rotate", args.id),
            &json!({ "graceSeconds": args.grace }),
        )
        .await?;
    issued(&answer, args.client.json, "rotated")
}

async fn revoke(args: IdArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let answer: Value = client
        .post(&format!("/v1/keys/{}/revoke", args.id), &json!({}))
        .await?;
    if args.client.json {
        println(&answer.to_string())?;
    } else {
        println(&format!("revoked publisher key {}", args.id))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_takes_units() {
        assert_eq!(parse_grace("0"), Ok(0));
        assert_eq!(parse_grace("90s"), Ok(90));
        assert_eq!(parse_grace("30m"), Ok(1800));
        assert_eq!(parse_grace("1h"), Ok(3600));
        assert_eq!(parse_grace("2d"), Ok(172_800));
        assert!(parse_grace("1w").is_err());
        assert!(parse_grace("h").is_err());
    }
}
