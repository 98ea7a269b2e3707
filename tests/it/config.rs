//! Configuration: defaults < TOML file < `STOWAGE_SECTION__FIELD` env < flags,
//! validated once; a bad field stops `serve` and is named.

use reqwest::StatusCode;

use crate::support::server::serve_expecting_exit;
use crate::support::{TestServer, body_of_len};

#[tokio::test]
async fn unknown_config_field_stops_serve_and_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (toml, name) in [
        ("[ingest]\nmax_event_byte = 2048\n", "max_event_byte"),
        ("[ingestion]\nmax_event_bytes = 2048\n", "ingestion"),
    ] {
        let file = dir.path().join("stowage.toml");
        std::fs::write(&file, toml).expect("write config");
        let output = serve_expecting_exit(
            dir.path(),
            &["--config", file.to_str().expect("UTF-8 path")],
            &[],
        )
        .await;
        assert!(!output.status.success(), "{toml:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(name),
            "{toml:?}: stderr names {name}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "it never listened: {output:?}");
    }
}

#[tokio::test]
async fn out_of_range_values_stop_serve_and_name_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = serve_expecting_exit(
        dir.path(),
        &[],
        &[("STOWAGE_INGEST__MAX_EVENT_BYTES", "4194304")],
    )
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ingest.max_event_bytes"), "{stderr}");

    let file = dir.path().join("stowage.toml");
    std::fs::write(&file, "[aws]\naccount = \"12\"\n").expect("write config");
    let output = serve_expecting_exit(
        dir.path(),
        &["--config", file.to_str().expect("UTF-8 path")],
        &[],
    )
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("aws.account"), "{stderr}");
}

/// Posts a body of `len` bytes on a connection not kept for reuse.
async fn post_len(server: &TestServer, len: usize) -> StatusCode {
    let request = crate::support::http()
        .post(server.url("/events"))
        .header("content-type", "application/json")
        .header("connection", "close")
        .body(body_of_len(len));
    server.send(request).await.status
}

#[tokio::test]
async fn max_event_bytes_env_var_is_honoured() {
    let server = TestServer::builder()
        .env("STOWAGE_INGEST__MAX_EVENT_BYTES", "2048")
        // Not config (no `__`): must not break loading.
        .env("STOWAGE_ENDPOINT", "http://127.0.0.1:1")
        .start()
        .await;
    assert_eq!(post_len(&server, 2048).await, StatusCode::OK);
    assert_eq!(post_len(&server, 2049).await, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn env_overrides_the_file_and_flags_override_env() {
    let root = tempfile::tempdir().expect("temp dir");
    let env_data_dir = root.path().join("from-env");
    let server = TestServer::builder()
        .config_toml("[ingest]\nmax_event_bytes = 8192\n")
        .env("STOWAGE_INGEST__MAX_EVENT_BYTES", "4096")
        .env(
            "STOWAGE_STORAGE__DATA_DIR",
            env_data_dir.to_str().expect("UTF-8 path"),
        )
        .start()
        .await;
    assert_eq!(post_len(&server, 4096).await, StatusCode::OK);
    assert_eq!(post_len(&server, 4097).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        server.data_dir().join("db").exists(),
        "--data-dir wins over STOWAGE_STORAGE__DATA_DIR"
    );
    assert!(!env_data_dir.exists(), "the env data dir was not used");
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_stderr_line() {
    let mut server = TestServer::builder()
        .args(&["--log-format", "json"])
        .start()
        .await;
    // Served once, so that SIGTERM is handled (see
    // shutdown::sigterm_right_after_the_address_line_is_graceful).
    assert_eq!(server.healthz().await, reqwest::StatusCode::OK);
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    let logs = server.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the server logged something");
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(value["level"].is_string(), "{line}");
    }
    assert!(logs.contains("stowage listening"), "{logs}");
}
