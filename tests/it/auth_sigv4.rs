//! Operator authentication: the AWS SDK for Rust signing with SigV4 against a
//! server with operator credentials (right secret, wrong secret, unknown key,
//! old date), the native API's 401/403, what stays open, the refusal to serve
//! a non-loopback address without credentials, and the signing CLI.

use std::process::Stdio;
use std::time::Duration;

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::{Client, Config};
use reqwest::StatusCode;
use serde_json::json;
use stowage::auth::sigv4::{self, Scope, Signable};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::stowage_with_env;
use crate::support::TestServer;
use crate::support::api::{Reply, http};
use crate::support::server::BIN;

const KEY_ID: &str = "AKIASTOWAGEOPERATOR";
const SECRET: &str = "operator-secret-7f3a9c";

fn operators_toml() -> String {
    format!("[[auth.operators]]\naccess_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET}\"\n")
}

async fn guarded() -> TestServer {
    TestServer::builder()
        .config_toml(&operators_toml())
        .start()
        .await
}

fn sdk_as(server: &TestServer, key_id: &str, secret: &str) -> Client {
    let config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.base_url())
        .credentials_provider(Credentials::new(key_id, secret, None, None, "static"))
        .build();
    Client::from_conf(config)
}

fn entry() -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source("com.example.orders")
        .detail_type("OrderPlaced")
        .detail(r#"{"id":1}"#)
        .build()
}

/// `POST /` signed by our own signer at `at`, with `secret`.
async fn signed_aws_call(
    server: &TestServer,
    operation: &str,
    body: &str,
    secret: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Reply {
    let amz_date = sigv4::format_amz_date(at);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("host", server.addr().to_string().parse().expect("host"));
    headers.insert("x-amz-date", amz_date.parse().expect("date"));
    headers.insert(
        "x-amz-target",
        format!("AWSEvents.{operation}").parse().expect("target"),
    );
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("type"),
    );
    let hash = sigv4::sha256_hex(body.as_bytes());
    let authorization = sigv4::authorization(
        &Signable {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload_hash: &hash,
        },
        &amz_date,
        &Scope {
            date: &amz_date[..8],
            region: "us-east-1",
            service: "events",
        },
        KEY_ID,
        secret,
    );
    headers.insert("authorization", authorization.parse().expect("authz"));
    server
        .send(
            http()
                .post(server.url("/"))
                .headers(headers)
                .body(body.to_owned()),
        )
        .await
}

#[tokio::test]
async fn the_sdk_with_the_right_secret_lists_rules_and_puts_events() {
    let server = guarded().await;
    let client = sdk_as(&server, KEY_ID, SECRET);
    client.list_rules().send().await.expect("ListRules signed");
    let put = client
        .put_events()
        .entries(entry())
        .send()
        .await
        .expect("PutEvents signed");
    assert_eq!(put.failed_entry_count(), 0, "{put:?}");
    client
        .put_rule()
        .name("orders")
        .event_pattern(r#"{"source":["com.example.orders"]}"#)
        .send()
        .await
        .expect("PutRule signed");
    assert!(
        !server.logs().contains(SECRET),
        "the secret appears in the server log"
    );
}

#[tokio::test]
async fn a_wrong_secret_gets_invalid_signature_exception() {
    let server = guarded().await;
    let client = sdk_as(&server, KEY_ID, "not-the-operator-secret");
    let error = client.list_rules().send().await.expect_err("refused");
    assert_eq!(error.code(), Some("InvalidSignatureException"), "{error:?}");
    assert!(
        error
            .message()
            .is_some_and(|m| m.starts_with("The request signature we calculated does not match")),
        "{error:?}"
    );
    // A bad signature on the publish operation is refused too, not taken as anonymous.
    let error = client
        .put_events()
        .entries(entry())
        .send()
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Some("InvalidSignatureException"), "{error:?}");
}

#[tokio::test]
async fn an_unknown_key_gets_unrecognized_client_exception() {
    let server = guarded().await;
    let client = sdk_as(&server, "AKIANOBODY", SECRET);
    let error = client.list_rules().send().await.expect_err("refused");
    assert_eq!(
        error.code(),
        Some("UnrecognizedClientException"),
        "{error:?}"
    );
    assert_eq!(
        error.message(),
        Some("The security token included in the request is invalid.")
    );
}

#[tokio::test]
async fn an_old_x_amz_date_is_refused_as_expired() {
    let server = guarded().await;
    let now = chrono::Utc::now();
    let fresh = signed_aws_call(&server, "ListRules", "{}", SECRET, now).await;
    assert_eq!(fresh.status, StatusCode::OK, "{fresh:?}");
    let old = signed_aws_call(
        &server,
        "ListRules",
        "{}",
        SECRET,
        now - chrono::TimeDelta::minutes(20),
    )
    .await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST, "{old:?}");
    assert_eq!(old.aws_type(), "InvalidSignatureException");
    let message = old.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        message.starts_with("Signature expired: ") && message.ends_with(" - 15 min.)"),
        "{message}"
    );
}

#[tokio::test]
async fn unsigned_operator_calls_are_refused_and_health_stays_open() {
    let server = guarded().await;
    let listed = server.aws("ListRules", "{}").await;
    assert_eq!(listed.status, StatusCode::BAD_REQUEST, "{listed:?}");
    assert_eq!(listed.aws_type(), "MissingAuthenticationTokenException");

    let letters = server.get("/v1/dead-letters").await;
    assert_eq!(letters.status, StatusCode::UNAUTHORIZED, "{letters:?}");
    assert_eq!(letters.error_code(), "unauthenticated");

    let forged = server
        .send(
            http()
                .get(server.url("/v1/dead-letters"))
                .header("x-amz-date", sigv4::format_amz_date(chrono::Utc::now()))
                .header(
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/us-east-1/events/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
                        "0".repeat(64)
                    ),
                ),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{forged:?}");

    assert_eq!(server.healthz().await, StatusCode::OK);
    // On loopback /metrics is open unless configured otherwise.
    assert_eq!(server.get("/metrics").await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_need_an_operator_when_configured_closed() {
    let server = TestServer::builder()
        .config_toml(&format!(
            "[server]\nmetrics_open = false\n{}",
            operators_toml()
        ))
        .start()
        .await;
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::UNAUTHORIZED, "{metrics:?}");
    assert_eq!(server.healthz().await, StatusCode::OK);
}

#[tokio::test]
async fn unsigned_publishing_is_not_refused_for_lack_of_a_signature() {
    let server = guarded().await;
    // The publish handlers decide about anonymous publishers (publisher keys);
    // the operator check must not refuse them: the refusal is the key check's.
    let gateway = server
        .publish(&json!({"metadata": {"source": "com.example.orders", "eventName": "OrderPlaced"}, "data": {}}))
        .await;
    assert_eq!(
        gateway.json()["error"]["code"].as_str(),
        Some("missing_key"),
        "{gateway:?}"
    );
    let put = server
        .aws(
            "PutEvents",
            r#"{"Entries":[{"Source":"com.example.orders","DetailType":"OrderPlaced","Detail":"{}"}]}"#,
        )
        .await;
    assert!(
        put.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("publisher key")),
        "{put:?}"
    );
}

#[tokio::test]
async fn the_cli_signs_with_credentials_and_is_refused_without() {
    let server = guarded().await;
    let endpoint = server.base_url();
    let refused = stowage_with_env(&["dlq", "list", "--endpoint", &endpoint], &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unauthenticated"),
        "{refused:?}"
    );
    let signed = stowage_with_env(
        &["dlq", "list", "--endpoint", &endpoint],
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    )
    .await;
    assert_eq!(signed.status.code(), Some(0), "{signed:?}");
    let wrong = stowage_with_env(
        &[
            "dlq",
            "list",
            "--endpoint",
            &endpoint,
            "--access-key-id",
            KEY_ID,
            "--secret-access-key",
            "wrong-secret-value",
        ],
        &[],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("invalid_signature"),
        "{wrong:?}"
    );
}

/// `stowage serve --listen 0.0.0.0:0` over a fresh directory, with `env`.
fn serve_on_any_address(dir: &std::path::Path, env: &[(&str, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("STOWAGE_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

#[tokio::test]
async fn a_non_loopback_listen_needs_operator_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        serve_on_any_address(dir.path(), &[]).output(),
    )
    .await
    .expect("refuses promptly")
    .expect("runs");
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without operator credentials")
            && stderr.contains("[[auth.operators]]"),
        "{stderr}"
    );

    let file = dir.path().join("operators.toml");
    std::fs::write(
        &file,
        format!("[[operators]]\naccess_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET}\"\n"),
    )
    .expect("write");
    let mut child = serve_on_any_address(
        dir.path(),
        &[("STOWAGE_AUTH__OPERATORS_FILE", file.display().to_string())],
    )
    .spawn()
    .expect("spawn");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("starts in time")
        .expect("reads")
        .expect("prints its address");
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let health = http()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    // Not on loopback: /metrics needs an operator by default.
    let metrics = http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::UNAUTHORIZED);
    child.kill().await.expect("kill the server");
}

/// Runs the real AWS CLI (`aws`, pip-installed by `.ci/run`) against `server`
/// with these credentials; no profile or config file of the runner is read.
async fn aws_cli(server: &TestServer, secret: &str, args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new("aws");
    command
        .args(args)
        .args(["--endpoint-url", &server.base_url(), "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("aws finishes in 60 s")
        .expect("the AWS CLI is installed (.ci/run installs it with pip)")
}

#[tokio::test]
async fn the_real_aws_cli_signs_and_a_wrong_secret_is_refused() {
    let server = guarded().await;
    let put = aws_cli(
        &server,
        SECRET,
        &[
            "events",
            "put-events",
            "--entries",
            r#"[{"Source":"com.example.orders","DetailType":"OrderPlaced","Detail":"{}"}]"#,
        ],
    )
    .await;
    assert!(put.status.success(), "{put:?}");
    let put: serde_json::Value = serde_json::from_slice(&put.stdout).expect("JSON");
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    let listed = aws_cli(&server, SECRET, &["events", "list-rules"]).await;
    assert!(listed.status.success(), "{listed:?}");
    let refused = aws_cli(&server, "wrong-secret-value", &["events", "list-rules"]).await;
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidSignatureException"),
        "{refused:?}"
    );
}
