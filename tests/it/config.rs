//! Configuration: defaults < TOML file < `STOWAGE_SECTION__FIELD` env < flags,
//! validated once; a bad field stops `serve` and is named.

use reqwest::StatusCode;

use crate::support::server::{serve_command, serve_expecting_exit};
use crate::support::{TestServer, body_of_len};

/// Runs `serve --config FILE` with `toml` in FILE; it must refuse to start.
/// Returns its stderr and the file's path.
async fn serve_refusing_toml(toml: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("stowage.toml");
    std::fs::write(&file, toml).expect("write config");
    let file = file.to_str().expect("UTF-8 path").to_owned();
    let output = serve_expecting_exit(dir.path(), &["--config", &file], &[]).await;
    assert!(!output.status.success(), "{toml:?}: {output:?}");
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
    (String::from_utf8_lossy(&output.stderr).into_owned(), file)
}

/// Runs `serve` with `env`; it must refuse to start. Returns its stderr.
async fn serve_refusing_env(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = serve_expecting_exit(dir.path(), &[], env).await;
    assert!(!output.status.success(), "{env:?}: {output:?}");
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// figment's own wording: a profile in the key and backticks nested in backticks.
fn assert_not_figment_wording(stderr: &str) {
    assert!(
        !stderr.contains("default."),
        "no profile in the key: {stderr}"
    );
    assert!(!stderr.contains("``"), "no nested backticks: {stderr}");
}

#[tokio::test]
async fn misspelt_field_in_the_file_is_named_as_written_with_the_closest_field() {
    let (stderr, file) = serve_refusing_toml("[ingest]\nmax_event_byte = 2048\n").await;
    let sentence = format!(
        "unknown config field [ingest] max_event_byte in {file}: did you mean max_event_bytes?"
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert_not_figment_wording(&stderr);
}

#[tokio::test]
async fn misspelt_section_in_the_file_is_named_with_the_closest_section() {
    let (stderr, file) = serve_refusing_toml("[ingestion]\nmax_event_bytes = 2048\n").await;
    let sentence = format!("unknown config section [ingestion] in {file}: did you mean [ingest]?");
    assert!(stderr.contains(&sentence), "{stderr}");
    assert_not_figment_wording(&stderr);
}

#[tokio::test]
async fn misspelt_env_var_is_named_with_the_closest_variable() {
    let stderr = serve_refusing_env(&[("STOWAGE_INGEST__MAX_EVENT_BYTE", "2048")]).await;
    let sentence = "unknown config field STOWAGE_INGEST__MAX_EVENT_BYTE: \
                    did you mean STOWAGE_INGEST__MAX_EVENT_BYTES?";
    assert!(stderr.contains(sentence), "{stderr}");
    assert_not_figment_wording(&stderr);

    let stderr = serve_refusing_env(&[("STOWAGE_INGESTION__QUEUE_DEPTH", "16")]).await;
    let sentence = "unknown config section ingestion in STOWAGE_INGESTION__QUEUE_DEPTH: \
                    did you mean STOWAGE_INGEST__QUEUE_DEPTH?";
    assert!(stderr.contains(sentence), "{stderr}");
}

#[tokio::test]
async fn value_of_the_wrong_type_is_named_where_it_was_set() {
    let (stderr, file) = serve_refusing_toml("[ingest]\nmax_event_bytes = \"big\"\n").await;
    let sentence = format!(
        "invalid value for [ingest] max_event_bytes in {file}: \
         expected a whole number (0 or more), found the string \"big\""
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert_not_figment_wording(&stderr);

    let stderr = serve_refusing_env(&[("STOWAGE_INGEST__MAX_EVENT_BYTES", "big")]).await;
    let sentence = "invalid value for STOWAGE_INGEST__MAX_EVENT_BYTES: \
                    expected a whole number (0 or more), found the string \"big\"";
    assert!(stderr.contains(sentence), "{stderr}");
}

#[tokio::test]
async fn out_of_range_values_stop_serve_and_name_the_field_where_it_was_set() {
    let stderr = serve_refusing_env(&[("STOWAGE_INGEST__MAX_EVENT_BYTES", "4194304")]).await;
    let sentence =
        "invalid value for STOWAGE_INGEST__MAX_EVENT_BYTES: must be between 1024 and 1048576";
    assert!(stderr.contains(sentence), "{stderr}");

    let (stderr, file) = serve_refusing_toml("[aws]\naccount = \"12\"\n").await;
    let sentence = format!("invalid value for [aws] account in {file}: must be 12 digits");
    assert!(stderr.contains(&sentence), "{stderr}");
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

/// What starts a terminal colour sequence.
const ANSI_ESCAPE: &str = "\x1b[";

#[tokio::test]
async fn logs_into_a_file_have_no_colour_codes() {
    let mut server = TestServer::start().await;
    assert_eq!(server.healthz().await, reqwest::StatusCode::OK);
    assert!(server.terminate().await.success());
    let logs = server.logs();
    assert!(logs.contains("stowage listening"), "{logs}");
    assert!(!logs.contains(ANSI_ESCAPE), "{logs:?}");
}

#[tokio::test]
async fn logs_into_a_pipe_have_no_colour_codes() {
    use tokio::io::AsyncBufReadExt;

    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = serve_command(&dir.path().join("data"));
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("run stowage serve");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut first = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::io::BufReader::new(stdout).read_line(&mut first),
    )
    .await
    .expect("the server announces its address")
    .expect("read stdout");
    assert!(first.starts_with("stowage listening on"), "{first:?}");
    let pid = rustix::process::Pid::from_raw(
        i32::try_from(child.id().expect("running")).expect("pids fit in i32"),
    )
    .expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stowage listening"), "{stderr}");
    assert!(!stderr.contains(ANSI_ESCAPE), "{stderr:?}");
}
