//! `stowage status` with archives and a running replay: the archives table and
//! the replay's progress in text, and `archives` / `replays` in `--json`
//! beside `targets` and `log`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{stdout, stowage};
use crate::replays::archived_events;
use crate::support::TestServer;
use crate::support::routes::fast_retries;
use crate::support::sink::Sink;

async fn replay_state(server: &TestServer, name: &str) -> Value {
    server
        .aws_ok("DescribeReplay", &json!({ "ReplayName": name }))
        .await["State"]
        .clone()
}

#[tokio::test]
async fn status_shows_archives_and_the_progress_of_running_replays() {
    let sink = Sink::start().await;
    // Slow enough that the replay is still running when status asks.
    let server = fast_retries()
        .env("STOWAGE_REPLAY__EVENTS_PER_SEC", "2")
        .start()
        .await;
    let base = archived_events(&server, &sink, 20).await;
    let archive = server
        .aws_ok("DescribeArchive", &json!({ "ArchiveName": "arch" }))
        .await;
    let bus = server
        .aws_ok("DescribeEventBus", &json!({ "Name": "default" }))
        .await;
    server
        .aws_ok(
            "StartReplay",
            &json!({
                "ReplayName": "slow",
                "EventSourceArn": archive["ArchiveArn"],
                "EventStartTime": base,
                "EventEndTime": base + 19,
                "Destination": { "Arn": bus["Arn"] },
            }),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while replay_state(&server, "slow").await != "RUNNING" {
        assert!(Instant::now() < deadline, "the replay never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let endpoint = server.base_url();

    let output = stowage(&["status", "--endpoint", &endpoint, "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed: Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON document");
    assert_eq!(printed["archives"][0]["ArchiveName"], "arch", "{printed}");
    assert_eq!(printed["archives"][0]["EventCount"], 20, "{printed}");
    let replay = &printed["replays"][0];
    assert_eq!(replay["name"], "slow", "{printed}");
    assert_eq!(replay["state"], "RUNNING", "{printed}");
    assert_eq!(replay["archive"], "arch", "{printed}");
    assert!(
        printed["targets"].as_array().is_some_and(|t| t.len() == 2),
        "{printed}"
    );
    assert!(
        printed["log"]["records"].as_i64().is_some_and(|n| n >= 20),
        "{printed}"
    );

    let output = stowage(&["status", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let archive_row = text
        .lines()
        .find(|line| line.starts_with("arch "))
        .unwrap_or_else(|| panic!("an archive row: {text}"));
    assert!(archive_row.contains(" 20 "), "{text}");
    let header = text
        .lines()
        .find(|line| line.starts_with("REPLAY"))
        .unwrap_or_else(|| panic!("a replay table: {text}"));
    for column in ["STATE", "ARCHIVE", "REPLAYED", "RATE", "ETA"] {
        assert!(header.contains(column), "{column}: {text}");
    }
    let row = text
        .lines()
        .find(|line| line.starts_with("slow "))
        .unwrap_or_else(|| panic!("a row for the replay: {text}"));
    assert!(row.contains("RUNNING") && row.contains(" of 20"), "{text}");

    // An ended replay is no longer shown.
    server
        .aws_ok("CancelReplay", &json!({ "ReplayName": "slow" }))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while replay_state(&server, "slow").await != "CANCELLED" {
        assert!(Instant::now() < deadline, "the replay never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = stowage(&["status", "--endpoint", &endpoint, "--json"]).await;
    let printed: Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON document");
    assert_eq!(printed["replays"], json!([]), "{printed}");
}
