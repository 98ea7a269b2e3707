//! `stowage test-pattern --pattern P --event E`: evaluates a pattern against an
//! event locally, with the same rules as the server's TestEventPattern except
//! one: an event without its envelope (`{"source","detail-type","detail"}`, as
//! a publisher writes it) is completed with defaults first. The server keeps
//! AWS's strictness.
//!
//! Exit status like grep's: 0 match, 1 no match, 2 invalid input (a pattern or
//! event that is not valid, or a file that cannot be read).

use std::collections::HashMap;
use std::process::ExitCode;

use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::config::Config;
use crate::pattern::{self, Pattern, TestPatternError};

/// The id given to an event that has none.
const DEFAULT_ID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(clap::Args)]
#[command(after_help = "\
An event that lacks envelope fields is completed before it is tested, so that
{\"source\",\"detail-type\",\"detail\"} will do: version \"0\",
id 00000000-0000-0000-0000-000000000000, account 000000000000, time now
(RFC 3339), region us-east-1, resources []. Fields the event has are kept;
source and detail-type are still required. The server's TestEventPattern and
POST /v1/test-event-pattern require the whole envelope, as AWS does.

Exit status: 0 match, 1 no match, 2 invalid pattern or event, or an unreadable @FILE.")]
pub struct TestPatternArgs {
    /// The event pattern: JSON text, or @FILE to read it from a file.
    #[arg(long)]
    pattern: String,
    /// The event: JSON text, or @FILE. Missing envelope fields (version, id,
    /// account, time, region, resources) get defaults; see below.
    #[arg(long)]
    event: String,
    /// Print `{"result": …}` or `{"error": …}` instead of text.
    #[arg(long)]
    json: bool,
}

/// `value`, or the contents of the file it names after `@`; the error says
/// which file (`what`) and why it could not be read.
fn text_or_file(value: &str, what: &str) -> Result<String, String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the {what} file {path}: {e}")),
        None => Ok(value.to_owned()),
    }
}

pub fn run(args: TestPatternArgs) -> ExitCode {
    match evaluate(&args) {
        Ok(matched) => {
            if args.json {
                println!("{}", json!({ "result": matched }));
            } else {
                println!("{}", if matched { "match" } else { "no match" });
            }
            if matched {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            if args.json {
                println!("{}", json!({ "error": message }));
            } else {
                eprintln!("{message}");
            }
            ExitCode::from(2)
        }
    }
}

/// Whether the event matches; or why the input is invalid, the pattern's
/// faults before the event's.
fn evaluate(args: &TestPatternArgs) -> Result<bool, String> {
    let pattern = text_or_file(&args.pattern, "pattern")?;
    let event = text_or_file(&args.event, "event")?;
    let config = Config::default();
    let pattern = Pattern::parse(&pattern, &config.patterns.limits())
        .map_err(|e| format!("invalid pattern: {e}"))?;
    let defaults = [
        ("version", json!("0")),
        ("id", json!(DEFAULT_ID)),
        ("account", json!(config.aws.account)),
        (
            "time",
            json!(crate::event::format_time(crate::event::now_ms())),
        ),
        ("region", json!(config.aws.region)),
        ("resources", json!([])),
    ];
    let event = with_defaults(&event, &defaults);
    pattern::test_event(&pattern, &event).map_err(|e| match e {
        TestPatternError::Pattern(e) => format!("invalid pattern: {e}"),
        TestPatternError::Event(e) => format!("invalid event: {e}"),
        TestPatternError::MissingFields(e) => format!("invalid event: {e}"),
    })
}

/// `event_json` with the `defaults` it lacks added at the front of its
/// top-level object. The given text is kept byte for byte (number literals,
/// key order); text that is not a JSON object is returned as it is, for the
/// evaluation to report.
fn with_defaults(event_json: &str, defaults: &[(&str, Value)]) -> String {
    let Ok(fields) = serde_json::from_str::<HashMap<String, IgnoredAny>>(event_json) else {
        return event_json.to_owned();
    };
    let added: Vec<String> = defaults
        .iter()
        .filter(|(name, _)| !fields.contains_key(*name))
        .map(|(name, value)| format!("{}:{value}", Value::from(*name)))
        .collect();
    let Some(rest) = event_json.trim_start().strip_prefix('{') else {
        return event_json.to_owned();
    };
    if added.is_empty() {
        return event_json.to_owned();
    }
    let separator = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!("{{{}{separator}{rest}", added.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<(&'static str, Value)> {
        vec![("version", json!("0")), ("resources", json!([]))]
    }

    #[test]
    fn missing_fields_are_added_in_front_and_the_rest_is_kept_as_written() {
        let event = r#" {"source":"s", "detail":{"n":1.50}}"#;
        assert_eq!(
            with_defaults(event, &defaults()),
            r#"{"version":"0","resources":[],"source":"s", "detail":{"n":1.50}}"#
        );
    }

    #[test]
    fn given_fields_are_not_replaced() {
        let event = r#"{"version":"1","resources":["a"]}"#;
        assert_eq!(with_defaults(event, &defaults()), event);
        assert_eq!(
            with_defaults(r#"{"version":"1"}"#, &defaults()),
            r#"{"resources":[],"version":"1"}"#
        );
    }

    #[test]
    fn an_empty_object_gets_no_trailing_comma() {
        assert_eq!(
            with_defaults("{ }", &defaults()),
            r#"{"version":"0","resources":[] }"#
        );
    }

    #[test]
    fn text_that_is_no_object_is_left_for_the_evaluation_to_report() {
        for text in ["[1]", "{nope", "\"s\"", ""] {
            assert_eq!(with_defaults(text, &defaults()), text);
        }
    }

    #[test]
    fn a_file_that_cannot_be_read_is_named_with_its_cause() {
        let error = text_or_file("@/nonexistent/order.json", "event").expect_err("no such file");
        assert!(
            error.starts_with("cannot read the event file /nonexistent/order.json: "),
            "{error}"
        );
        assert_eq!(text_or_file("{}", "event"), Ok("{}".to_owned()));
    }
}
