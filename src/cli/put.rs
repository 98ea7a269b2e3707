//! `stowage put`: publish one event (`--source --detail-type --detail`) or every
//! line of a JSON Lines file (`--file`), with a progress bar and a summary.
//!
//! A line is either a gateway envelope (`{"metadata":{…},"data":…}`, sent to
//! `POST /events`) or an EventBridge-shaped event (`{"source","detail-type",
//! "detail", "resources"?, "time"?}`, sent with PutEvents).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::ClientArgs;

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

pub fn run(args: PutArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        match &args.file {
            Some(file) => put_file(&client, &args, file).await,
            None => put_one(&client, &args).await,
        }
    })
}

async fn put_one(client: &reqwest::Client, args: &PutArgs) -> anyhow::Result<()> {
    let entry = json!({
        "Source": args.source,
        "DetailType": args.detail_type,
        "Detail": args.detail,
        "EventBusName": args.bus,
    });
    let id = put_events(client, &args.client.endpoint, entry)
        .await
        .map_err(anyhow::Error::msg)?;
    if args.client.json {
        println!("{}", json!({ "eventId": id }));
    } else {
        println!("{id}");
    }
    Ok(())
}

/// Sends a request; returns the status and the JSON body, or a readable error.
async fn send(
    request: reqwest::RequestBuilder,
    endpoint: &str,
) -> Result<(reqwest::StatusCode, Value), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
    let status = response.status();
    let body = response
        .json()
        .await
        .map_err(|e| format!("unreadable response ({status}): {e}"))?;
    Ok((status, body))
}

/// Sends one PutEvents entry; returns its event id or a readable error.
async fn put_events(
    client: &reqwest::Client,
    endpoint: &str,
    entry: Value,
) -> Result<String, String> {
    let request = client
        .post(format!("{}/", endpoint.trim_end_matches('/')))
        .header("x-amz-target", "AWSEvents.PutEvents")
        .header("content-type", "application/x-amz-json-1.1")
        .body(json!({ "Entries": [entry] }).to_string());
    let (status, body) = send(request, endpoint).await?;
    if !status.is_success() {
        return Err(format!(
            "{status}: {} {}",
            body["__type"].as_str().unwrap_or(""),
            body["message"].as_str().unwrap_or("")
        ));
    }
    let result = &body["Entries"][0];
    match result["EventId"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => Err(format!(
            "{}: {}",
            result["ErrorCode"].as_str().unwrap_or("error"),
            result["ErrorMessage"].as_str().unwrap_or("")
        )),
    }
}

async fn put_gateway(
    client: &reqwest::Client,
    endpoint: &str,
    bus: &str,
    line: String,
) -> Result<String, String> {
    let url = if bus == "default" {
        format!("{}/events", endpoint.trim_end_matches('/'))
    } else {
        format!("{}/buses/{bus}/events", endpoint.trim_end_matches('/'))
    };
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .body(line);
    let (status, body) = send(request, endpoint).await?;
    match body["eventId"].as_str() {
        Some(id) if status.is_success() => Ok(id.to_string()),
        _ => Err(format!(
            "{status}: {}",
            body["error"]["message"].as_str().unwrap_or("")
        )),
    }
}

/// Publishes one line of a file.
async fn put_line(
    client: &reqwest::Client,
    endpoint: &str,
    bus: &str,
    line: String,
) -> Result<String, String> {
    let value: Value = serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("metadata").is_some() {
        return put_gateway(client, endpoint, bus, line).await;
    }
    let (Some(source), Some(detail_type)) =
        (value["source"].as_str(), value["detail-type"].as_str())
    else {
        return Err(
            "a line needs either `metadata` (gateway envelope) or `source` and `detail-type`"
                .into(),
        );
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
    put_events(client, endpoint, entry).await
}

async fn put_file(client: &reqwest::Client, args: &PutArgs, file: &PathBuf) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    let bar = indicatif::ProgressBar::new(lines.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .expect("the template is valid"),
    );
    let endpoint: Arc<str> = args.client.endpoint.clone().into();
    let bus: Arc<str> = args.bus.clone().into();
    let mut pending = lines.into_iter();
    let mut running = JoinSet::new();
    let (mut accepted, mut failed) = (0usize, Vec::new());
    loop {
        while running.len() < IN_FLIGHT {
            let Some((number, line)) = pending.next() else {
                break;
            };
            let (client, endpoint, bus) = (client.clone(), endpoint.clone(), bus.clone());
            running.spawn(async move { (number, put_line(&client, &endpoint, &bus, line).await) });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (number, result) = done.context("a publishing task panicked")?;
        bar.inc(1);
        match result {
            Ok(_) => accepted += 1,
            Err(error) => failed.push((number, error)),
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
