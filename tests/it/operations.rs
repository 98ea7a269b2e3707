//! What operators see: `/healthz`, and `/metrics` counting accepted and rejected
//! events (by reason), batch sizes, sync latency and log size.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestServer, envelope};

#[tokio::test]
async fn healthz_answers_ok_with_json() {
    let server = TestServer::start().await;
    let reply = server.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["status"], "ok");
}

#[tokio::test]
async fn metrics_count_accepted_and_rejected_events_by_reason() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    for n in 0..3 {
        server
            .publish_ok(&envelope("s", "e", json!({ "n": n })))
            .await;
    }
    let malformed = server
        .post("/events", Some("application/json"), "{nope")
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let unknown_bus = server
        .post(
            "/buses/nope/events",
            Some("application/json"),
            envelope("s", "e", json!({})).to_string(),
        )
        .await;
    assert_eq!(unknown_bus.status, StatusCode::NOT_FOUND);
    let put = server
        .aws(
            "PutEvents",
            &json!({ "Entries": [
                { "Source": "s", "DetailType": "t", "Detail": "{}" },
                { "Source": "s", "DetailType": "t", "Detail": "nope" },
            ]})
            .to_string(),
        )
        .await;
    assert_eq!(put.json()["FailedEntryCount"], 1, "{put:?}");

    let metrics = server.metrics().await;
    let get = |name: &str| {
        metrics
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not exported"))
    };
    assert_eq!(get("stowage_events_accepted_total"), 4.0);
    assert_eq!(get("stowage_log_records"), 4.0);
    assert_eq!(
        get(r#"stowage_events_rejected_total{reason="malformed_json"}"#),
        1.0
    );
    assert_eq!(
        get(r#"stowage_events_rejected_total{reason="bus_not_found"}"#),
        1.0
    );
    assert_eq!(
        get(r#"stowage_events_rejected_total{reason="MalformedDetail"}"#),
        1.0
    );
    assert!(get("stowage_log_batch_events_count") >= 1.0);
    assert!(get("stowage_log_sync_seconds_count") >= 1.0);
    assert!(get("stowage_log_record_bytes") > 0.0);
    assert!(get("stowage_store_disk_bytes") > 0.0);
    assert_eq!(get("stowage_log_sync_failures_total"), 0.0);
    assert_eq!(get("stowage_log_corrupt_records_total"), 0.0);
}
