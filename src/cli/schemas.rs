//! `stowage schemas put|list|show|delete`: the JSON Schema registry of a
//! running server, through `/v1/schemas`.
//!
//! Exit status: 0 done; 1 when the server refused (a schema that does not
//! compile, one that does not exist) or could not be reached; 2 for a usage
//! error. The server validates schemas; this file reads files and renders.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::value::RawValue;

use super::ClientArgs;
use super::client::{Client, block_on};
use super::output::{Align, Table, indent_json, print, println};
use crate::api::schemas::SchemaView;

#[derive(clap::Args)]
pub struct SchemasArgs {
    #[command(subcommand)]
    command: SchemasCommand,
}

#[derive(Subcommand)]
enum SchemasCommand {
    /// Register (or replace) the schema of a source and detail type.
    Put(PutArgs),
    /// List registered schemas.
    List(ListArgs),
    /// Show one schema in full.
    Show(OneArgs),
    /// Delete a schema: its events are no longer checked against it.
    Delete(OneArgs),
}

/// Which schema: source, detail type and an optional version.
#[derive(clap::Args)]
struct Which {
    /// The events' source.
    #[arg(long)]
    source: String,
    /// The events' detail type (the gateway's metadata.eventName).
    #[arg(long)]
    detail_type: String,
    /// The schema version (the gateway's metadata.eventSchemaVersion);
    /// without it, the schema of events with no version or an unregistered one.
    #[arg(long)]
    version: Option<String>,
}

#[derive(clap::Args)]
struct PutArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    which: Which,
    /// The JSON Schema: `@path/to/schema.json`, or the JSON text itself.
    #[arg(long, value_name = "@FILE|JSON")]
    schema: String,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only schemas of this source.
    #[arg(long)]
    source: Option<String>,
}

#[derive(clap::Args)]
struct OneArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    which: Which,
}

#[derive(serde::Deserialize)]
struct ListReply {
    items: Vec<Box<RawValue>>,
}

pub fn run(args: SchemasArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SchemasCommand::Put(args) => block_on(put(args)),
        SchemasCommand::List(args) => block_on(list(args)),
        SchemasCommand::Show(args) => block_on(show(args)),
        SchemasCommand::Delete(args) => block_on(delete(args)),
    }
}

/// The schema text of `--schema`: a file's content after `@`, else the text.
fn schema_text(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}")),
        None => Ok(arg.to_owned()),
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Which {
    fn path(&self) -> String {
        format!(
            "/v1/schemas/{}/{}",
            segment(&self.source),
            segment(&self.detail_type)
        )
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        self.version
            .iter()
            .map(|v| ("version", v.clone()))
            .collect()
    }

    fn described(&self) -> String {
        let version = self
            .version
            .as_deref()
            .map_or_else(|| "no version".to_owned(), |v| format!("version {v}"));
        format!("{} / {} ({version})", self.source, self.detail_type)
    }
}

fn parse_view(raw: &RawValue) -> anyhow::Result<SchemaView> {
    serde_json::from_str(raw.get()).context("the server sent a schema this client cannot read")
}

async fn put(args: PutArgs) -> anyhow::Result<ExitCode> {
    let text = schema_text(&args.schema)?;
    let schema: Box<RawValue> = serde_json::from_str(&text)
        .with_context(|| format!("--schema {} is not JSON", args.schema))?;
    let mut body = serde_json::json!({
        "source": args.which.source,
        "detailType": args.which.detail_type,
    });
    if let Some(version) = &args.which.version {
        body["version"] = version.clone().into();
    }
    // The schema goes as written: spliced in, not re-serialised.
    let body = body.to_string();
    let body = format!("{},\"schema\":{}}}", &body[..body.len() - 1], schema.get());
    let client = Client::new(&args.client.endpoint)?;
    let raw: Box<RawValue> = client.put_text("/v1/schemas", body).await?;
    if args.client.json {
        println(raw.get())?;
    } else {
        println(&format!(
            "registered the schema for {}",
            args.which.described()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let query: Vec<(&str, String)> = args.source.iter().map(|s| ("source", s.clone())).collect();
    let reply: ListReply = client.get("/v1/schemas", &query).await?;
    if args.client.json {
        println(&serde_json::to_string(&reply.items)?)?;
    } else if reply.items.is_empty() {
        println("no schemas registered")?;
    } else {
        let mut table = Table::new(&[
            ("SOURCE", Align::Left),
            ("DETAIL TYPE", Align::Left),
            ("VERSION", Align::Left),
            ("BYTES", Align::Right),
            ("MODIFIED AT", Align::Left),
        ]);
        for raw in &reply.items {
            let view = parse_view(raw)?;
            table.row(vec![
                view.source,
                view.detail_type,
                view.version.unwrap_or_else(|| "-".into()),
                view.bytes.to_string(),
                view.modified_at,
            ]);
        }
        print(&table.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(args: OneArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let raw: Box<RawValue> = client.get(&args.which.path(), &args.which.query()).await?;
    if args.client.json {
        println(raw.get())?;
        return Ok(ExitCode::SUCCESS);
    }
    let view = parse_view(&raw)?;
    let schema = view.schema.as_ref().map_or("", |s| s.get());
    print(&format!(
        "source        {}\ndetail type   {}\nversion       {}\ncreated at    {}\nmodified at   {}\n\nschema:\n{}\n",
        view.source,
        view.detail_type,
        view.version.as_deref().unwrap_or("-"),
        view.created_at,
        view.modified_at,
        indent_json(schema)
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: OneArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client.endpoint)?;
    let mut path = args.which.path();
    if let Some(version) = &args.which.version {
        path.push_str(&format!("?version={}", segment(version)));
    }
    client.delete(&path).await?;
    if args.client.json {
        println(&serde_json::json!({"deleted": true}).to_string())?;
    } else {
        println(&format!(
            "deleted the schema for {}",
            args.which.described()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(
            segment("com.example/orders v1"),
            "com.example%2Forders%20v1"
        );
        assert_eq!(segment("Order-Created_2~"), "Order-Created_2~");
    }
}
