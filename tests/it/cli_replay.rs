//! `stowage replay …` against a real server with a real archive: `start
//! --wait` until the replay ends, `list`, `describe`, `cancel`, `--json`, and
//! the exit status (0 done, 1 refused or not COMPLETED, 2 usage).

use serde_json::Value;

use crate::cli::{stdout, stowage};
use crate::replays::archived_events;
use crate::support::routes::fast_retries;
use crate::support::sink::Sink;

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("a valid time")
        .to_rfc3339()
}

#[tokio::test]
async fn replay_start_waits_lists_describes_and_refuses_a_second_cancel() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let base = archived_events(&server, &sink, 10).await;
    let endpoint = server.base_url();
    let (from, to) = (rfc3339(base), rfc3339(base + 4));

    let output = stowage(&[
        "replay",
        "start",
        "cli1",
        "--archive",
        "arch",
        "--from",
        &from,
        "--to",
        &to,
        "--rule",
        "a",
        "--wait",
        "--json",
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let ended: Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON document");
    assert_eq!(ended["state"], "COMPLETED", "{ended}");
    assert_eq!(
        (ended["replayed"].as_u64(), ended["total"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(ended["rules"], serde_json::json!(["a"]));

    let output = stowage(&["replay", "list", "--json", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let listed: Value = serde_json::from_str(stdout(&output).trim()).expect("JSON");
    assert_eq!(listed[0]["ReplayName"], "cli1", "{listed}");

    let output = stowage(&["replay", "list", "--endpoint", &endpoint]).await;
    let table = stdout(&output);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("cli1") && table.contains("COMPLETED"),
        "{table}"
    );

    let output = stowage(&["replay", "describe", "cli1", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("COMPLETED"), "{text}");
    assert!(text.contains("5 of 5 events"), "{text}");

    let output = stowage(&["replay", "cancel", "cli1", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("IllegalStatusException"),
        "{output:?}"
    );

    let output = stowage(&[
        "replay",
        "start",
        "ghost",
        "--archive",
        "nope",
        "--from",
        "2h",
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let output = stowage(&[
        "replay",
        "start",
        "bad",
        "--archive",
        "arch",
        "--from",
        "2w",
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    let metrics = server.metrics().await;
    assert_eq!(metrics.get("stowage_replay_events_total"), Some(5.0));
}

#[tokio::test]
async fn status_shows_a_running_replay_and_its_progress() {
    let sink = Sink::start().await;
    let server = fast_retries()
        .env("STOWAGE_REPLAY__EVENTS_PER_SEC", "2")
        .start()
        .await;
    let base = archived_events(&server, &sink, 10).await;
    let endpoint = server.base_url();
    let output = stowage(&[
        "replay",
        "start",
        "slowcli",
        "--archive",
        "arch",
        "--from",
        &rfc3339(base),
        "--to",
        &rfc3339(base + 9),
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output).starts_with("replay slowcli STARTING"),
        "{output:?}"
    );

    let output = stowage(&["status", "--json", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let status: Value = serde_json::from_str(stdout(&output).trim()).expect("JSON");
    assert_eq!(status["replays"][0]["name"], "slowcli", "{status}");
    assert_eq!(status["replays"][0]["archive"], "arch", "{status}");

    let text = stdout(&stowage(&["status", "--endpoint", &endpoint]).await);
    let row = text
        .lines()
        .find(|line| line.starts_with("slowcli "))
        .unwrap_or_else(|| panic!("a replay row: {text}"));
    assert!(row.contains(" arch "), "{text}");

    let output = stowage(&["replay", "cancel", "slowcli", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "replay slowcli CANCELLING\n");
}
