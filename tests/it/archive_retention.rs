//! Retention and archives together, on a real server with tiny durations: an
//! archive inside its retention keeps the log records it indexes (and the
//! oldest one is reported as held by it); once the archive is gone, nothing
//! holds them and they are removed.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::aws::ARN_PREFIX;

const WAIT: Duration = Duration::from_secs(20);

async fn log_status(server: &TestServer) -> Value {
    let reply = server.get("/v1/log").await;
    assert_eq!(reply.status, StatusCode::OK, "GET /v1/log: {reply:?}");
    reply.json()
}

#[tokio::test]
async fn an_archive_keeps_its_records_until_it_is_deleted() {
    let server = TestServer::builder()
        .env("STOWAGE_LOG__MIN_RETENTION", "100ms")
        .env("STOWAGE_LOG__RETENTION_SWEEP_INTERVAL", "50ms")
        .start()
        .await;
    server
        .aws_ok(
            "CreateArchive",
            &json!({
                "ArchiveName": "orders",
                "EventSourceArn": format!("{ARN_PREFIX}default"),
                "EventPattern": json!({ "source": ["shop"] }).to_string(),
            }),
        )
        .await;
    // No rule: only the archive can hold these records.
    let kept = server.publish_from("shop", json!({ "n": 1 })).await;
    let unheld = server.publish_from("elsewhere", json!({ "n": 2 })).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let described = server
            .aws_ok("DescribeArchive", &json!({ "ArchiveName": "orders" }))
            .await;
        if described["EventCount"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never archived: {described}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Many sweeps past min_retention.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let reply = server.event(&kept).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the archived event is kept: {reply:?}"
    );
    let log = log_status(&server).await;
    assert_eq!(
        log["oldest"]["seq"], 0,
        "the archived record is the oldest kept: {log}"
    );
    assert_eq!(log["oldest"]["kept"]["holder"]["kind"], "archive", "{log}");
    assert_eq!(log["oldest"]["kept"]["holder"]["name"], "orders", "{log}");
    // Whole chunks go: the unarchived record shares the archived one's chunk,
    // so it stays as long as that one does.
    assert_eq!(server.event(&unheld).await.status, StatusCode::OK);

    server
        .aws_ok("DeleteArchive", &json!({ "ArchiveName": "orders" }))
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let log = log_status(&server).await;
        if log["records"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never removed after DeleteArchive: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = server.event(&kept).await;
    assert_eq!(reply.status, StatusCode::GONE, "{reply:?}");
}
