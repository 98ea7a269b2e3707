//! `stowage put`: one event from flags, or a JSON Lines file of gateway
//! envelopes and EventBridge-shaped events, with a summary naming failed lines.

use std::process::Output;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::server::BIN;
use crate::support::{TestServer, api::uuid_like};

/// Runs `stowage <args>` (bounded), with no `STOWAGE_*` from the test environment.
pub(crate) async fn stowage(args: &[&str]) -> Output {
    stowage_with_env(args, &[]).await
}

/// [`stowage`] with these variables set in the child's environment.
pub(crate) async fn stowage_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("STOWAGE_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("stowage {args:?} did not finish in 60 s"))
        .expect("run stowage")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn put_prints_an_event_id_that_is_retrievable() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();
    let output = stowage(&[
        "put",
        "--endpoint",
        &endpoint,
        "--source",
        "com.example.cli",
        "--detail-type",
        "CliTest",
        "--detail",
        r#"{"a":1}"#,
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let id = stdout(&output).trim().to_string();
    assert!(uuid_like(&id), "stdout is the event id: {id:?}");
    let reply = server.event(&id).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let got = reply.json();
    assert_eq!(got["bus"], "default");
    assert_eq!(got["event"]["source"], "com.example.cli");
    assert_eq!(got["event"]["detail-type"], "CliTest");
    assert_eq!(got["event"]["detail"], json!({ "a": 1 }));

    // --json and --bus.
    let created = server.aws("CreateEventBus", r#"{"Name":"orders"}"#).await;
    assert_eq!(created.status, StatusCode::OK, "{created:?}");
    let output = stowage(&[
        "put",
        "--endpoint",
        &endpoint,
        "--json",
        "--bus",
        "orders",
        "--source",
        "com.example.cli",
        "--detail-type",
        "CliJson",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_str(stdout(&output).trim()).expect("--json prints JSON");
    let id = printed["eventId"].as_str().expect("eventId");
    let got = server.event(id).await.json();
    assert_eq!(got["bus"], "orders");
    assert_eq!(
        got["event"]["detail"],
        json!({}),
        "--detail defaults to {{}}"
    );
}

#[tokio::test]
async fn put_with_a_malformed_detail_fails_and_says_why() {
    let server = TestServer::start().await;
    let output = stowage(&[
        "put",
        "--endpoint",
        &server.base_url(),
        "--source",
        "s",
        "--detail-type",
        "t",
        "--detail",
        "not json",
    ])
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MalformedDetail"),
        "stderr says why: {stderr}"
    );
}

/// Lines 3 and 7 are bad; line 5 is blank and skipped.
const EVENTS_JSONL: &str = r#"{"metadata":{"source":"com.example.file","eventName":"FromGateway"},"data":{"line":1}}
{"source":"com.example.file","detail-type":"FromEventBridge","detail":{"line":2}}
this line is not JSON
{"source":"com.example.file","detail-type":"DetailAsString","detail":"{\"line\":4}"}

{"metadata":{"source":"com.example.file","eventName":"FromGateway"},"data":{"line":6}}
{"neither":"envelope"}
{"source":"com.example.file","detail-type":"WithResources","detail":{"line":8},"resources":["arn:aws:s3:::b"]}
"#;

#[tokio::test]
async fn put_file_publishes_good_lines_and_reports_bad_line_numbers() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let file = server.root().join("events.jsonl");
    std::fs::write(&file, EVENTS_JSONL).expect("write events.jsonl");
    let file = file.to_str().expect("a UTF-8 path");

    let output = stowage(&["put", "--endpoint", &server.base_url(), "--file", file]).await;
    assert!(
        !output.status.success(),
        "failed lines make the exit status non-zero: {output:?}"
    );
    let text = stdout(&output);
    assert!(text.contains("accepted 5, failed 2"), "summary: {text}");
    assert!(text.contains("line 3:"), "names line 3: {text}");
    assert!(text.contains("line 7:"), "names line 7: {text}");
    assert!(
        !text.contains("line 5:"),
        "a blank line is not an event: {text}"
    );
    assert_eq!(server.log_records().await, 5.0);

    let output = stowage(&[
        "put",
        "--endpoint",
        &server.base_url(),
        "--json",
        "--file",
        file,
    ])
    .await;
    assert!(!output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|e| panic!("--json prints one JSON document ({e}): {output:?}"));
    assert_eq!(summary["accepted"], 5, "{summary}");
    let failed_lines: Vec<u64> = summary["failed"]
        .as_array()
        .expect("failed is a list")
        .iter()
        .map(|f| {
            assert!(f["error"].as_str().is_some_and(|e| !e.is_empty()), "{f}");
            f["line"].as_u64().expect("line number")
        })
        .collect();
    assert_eq!(failed_lines, [3, 7]);
    assert_eq!(server.log_records().await, 10.0);
}

#[tokio::test]
async fn put_file_with_only_good_lines_exits_zero() {
    let server = TestServer::start().await;
    let file = server.root().join("good.jsonl");
    let lines: String = (0..40)
        .map(|n| {
            format!(
                "{}\n",
                json!({ "source": "s", "detail-type": "t", "detail": { "n": n } })
            )
        })
        .collect();
    std::fs::write(&file, lines).expect("write good.jsonl");
    let output = stowage(&[
        "put",
        "--endpoint",
        &server.base_url(),
        "--file",
        file.to_str().expect("a UTF-8 path"),
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("accepted 40, failed 0"),
        "{output:?}"
    );
}

/// A base URL where nothing listens: a port that was just free.
pub(crate) fn closed_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn put_against_a_stopped_server_prints_the_whole_cause_chain() {
    let endpoint = closed_endpoint();
    let output = stowage(&[
        "put",
        "--endpoint",
        &endpoint,
        "--source",
        "s",
        "--detail-type",
        "t",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: cannot reach {endpoint}: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Connection refused"),
        "the OS's reason: {stderr}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("one.jsonl");
    std::fs::write(&file, "{\"source\":\"s\",\"detail-type\":\"t\"}\n").expect("write");
    let output = stowage(&[
        "put",
        "--endpoint",
        &endpoint,
        "--file",
        file.to_str().expect("a UTF-8 path"),
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("line 1: cannot reach") && text.contains("Connection refused"),
        "the failed line says why: {text}"
    );
}
