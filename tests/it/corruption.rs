//! A damaged log record is detected by its crc32, reported (log line and
//! metric), never served as data, and does not stop the server from starting.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use stowage::config::StorageConfig;
use stowage::store::{Store, tree};

use crate::support::{TestServer, envelope};

const EVENTS: usize = 10;

#[tokio::test]
async fn damaged_frames_are_reported_and_never_served_and_the_server_starts() {
    let mut server = TestServer::start().await;
    let mut events = Vec::new();
    for n in 0..EVENTS {
        let marker = format!("corruption-marker-{n}");
        let id = server
            .publish_ok(&envelope(
                "com.example",
                "Stored",
                json!({ "marker": marker }),
            ))
            .await;
        let seq = server.event(&id).await.json()["seq"].as_u64().expect("seq");
        events.push((id, seq, marker));
    }
    let status = server.terminate().await;
    assert!(status.success(), "exit after SIGTERM: {status:?}");

    // Damage two stored frames in place, keeping their keys: flip one byte of
    // one, cut the last one short (a torn tail).
    let (flipped, truncated) = (3, EVENTS - 1);
    {
        let store = Store::open(&StorageConfig {
            data_dir: server.data_dir().to_path_buf(),
            ..StorageConfig::default()
        })
        .expect("open the stopped server's store");
        let log = store.tree(tree::LOG).expect("the log tree");
        let key = events[flipped].1.to_be_bytes();
        let mut frame = log.get(key).expect("read").expect("frame present").to_vec();
        let middle = frame.len() / 2;
        frame[middle] ^= 0x20;
        log.insert(key, frame).expect("write the flipped frame");
        let key = events[truncated].1.to_be_bytes();
        let frame = log.get(key).expect("read").expect("frame present").to_vec();
        log.insert(key, &frame[..frame.len() / 2])
            .expect("write the cut frame");
        store.sync().expect("sync the damage");
    }

    server.restart().await;
    server
        .wait_for_metric("stowage_log_check_complete", 1.0, Duration::from_secs(30))
        .await;
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("stowage_log_corrupt_records_total"),
        Some(2.0),
        "both damaged records are counted"
    );
    assert_eq!(
        metrics.get("stowage_log_records"),
        Some((EVENTS - 2) as f64),
        "damaged records are not counted as events"
    );
    assert_eq!(server.healthz().await, StatusCode::OK);
    let logs = server.logs();
    assert!(
        logs.contains("damaged log record"),
        "the damage is logged:\n{logs}"
    );

    for (n, (id, seq, marker)) in events.iter().enumerate() {
        let reply = server.event(id).await;
        if n == flipped || n == truncated {
            assert!(
                reply.status.is_server_error(),
                "damaged event {n} (seq {seq}) must be a 5xx: {reply:?}"
            );
            assert!(!reply.error_code().is_empty(), "{reply:?}");
            assert!(
                !reply.text().contains(marker.as_str()),
                "damaged data was served: {reply:?}"
            );
        } else {
            assert_eq!(reply.status, StatusCode::OK, "event {n}: {reply:?}");
            assert_eq!(reply.json()["event"]["detail"]["data"]["marker"], *marker);
        }
    }

    let max_seq = events.iter().map(|e| e.1).max().expect("events");
    let id = server
        .publish_ok(&envelope("com.example", "AfterDamage", json!({})))
        .await;
    let reply = server.event(&id).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(reply.json()["seq"].as_u64().expect("seq") > max_seq);
}
