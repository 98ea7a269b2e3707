//! `Idempotency-Key`: a retried publish gets the first `eventId` and stores
//! nothing new, under concurrency and across a graceful or `kill -9` restart;
//! a different key is a different event; the same key with a different body is
//! refused (`422`) and stores nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Reply, Stop, TestServer, envelope, event_id, http};

async fn publish_with_key(server: &TestServer, key: &str, body: &Value) -> Reply {
    server
        .send(
            http()
                .post(server.url("/events"))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(body.to_string()),
        )
        .await
}

#[tokio::test]
async fn same_idempotency_key_returns_the_first_event_id_and_stores_nothing_new() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let first_body = envelope("s", "e", json!({ "attempt": 1 }));
    let first = publish_with_key(&server, "order-42", &first_body).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let first_id = event_id(&first);
    let records = server.log_records().await;

    let retry = publish_with_key(&server, "order-42", &first_body).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert_eq!(
        retry
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(b"true".as_slice())
    );
    assert_eq!(event_id(&retry), first_id);
    assert_eq!(
        server.log_records().await,
        records,
        "a retry stored nothing"
    );
    assert_eq!(
        server.event(&first_id).await.json()["event"]["detail"],
        first_body,
        "the first publish's event is kept"
    );

    let other = publish_with_key(&server, "order-43", &first_body).await;
    assert_eq!(other.status, StatusCode::OK, "{other:?}");
    assert_ne!(event_id(&other), first_id, "a different key is a new event");
    assert_eq!(server.log_records().await, records + 1.0);

    let unkeyed = server.publish_ok(&first_body).await;
    assert_ne!(unkeyed, first_id);
}

/// Asserts a `422 idempotency_key_reused` that names the key.
fn assert_key_reused(reply: &Reply, key: &str) {
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
    assert_eq!(reply.error_code(), "idempotency_key_reused", "{reply:?}");
    let message = reply.json()["error"]["message"].to_string();
    assert!(
        message.contains(key),
        "the message names the key: {message}"
    );
}

#[tokio::test]
async fn same_idempotency_key_with_a_different_body_is_422_and_stores_nothing() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let first_body = envelope("s", "e", json!({ "order": 7 }));
    let first = publish_with_key(&server, "order-7-placed", &first_body).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let first_id = event_id(&first);
    let records = server.log_records().await;

    for other in [
        envelope("s", "e", json!({ "order": 8 })),
        envelope("other.source", "e", json!({ "order": 7 })),
        envelope("s", "OtherName", json!({ "order": 7 })),
    ] {
        let reused = publish_with_key(&server, "order-7-placed", &other).await;
        assert_key_reused(&reused, "order-7-placed");
    }
    assert_eq!(server.log_records().await, records, "nothing was stored");
    assert_eq!(
        server.event(&first_id).await.json()["event"]["detail"],
        first_body,
        "the first publish's event is kept"
    );
    // The key still stands for the first body.
    let retry = publish_with_key(&server, "order-7-placed", &first_body).await;
    assert_eq!(event_id(&retry), first_id);
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get(r#"stowage_events_rejected_total{reason="idempotency_key_reused"}"#),
        Some(3.0)
    );
}

/// Publishes with a key, stops and restarts the server, and retries.
async fn idempotency_survives(stop: Stop) {
    let mut server = TestServer::start().await;
    let body = envelope("s", "e", json!({ "n": 1 }));
    let first = publish_with_key(&server, "restart-key", &body).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let first_id = event_id(&first);

    stop.apply(&mut server).await;
    server.restart().await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    assert_eq!(records, 1.0, "{stop:?}");

    let retry = publish_with_key(&server, "restart-key", &body).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert_eq!(
        event_id(&retry),
        first_id,
        "the key is remembered across a restart ({stop:?})"
    );
    assert_eq!(
        server.log_records().await,
        records,
        "a retry stored nothing"
    );

    let changed = envelope("s", "e", json!({ "n": 2 }));
    let reused = publish_with_key(&server, "restart-key", &changed).await;
    assert_key_reused(&reused, "restart-key");
    assert_eq!(
        server.log_records().await,
        records,
        "a reused key stored nothing after a restart ({stop:?})"
    );
}

#[tokio::test]
async fn idempotency_key_survives_a_graceful_restart() {
    idempotency_survives(Stop::Graceful).await;
}

#[tokio::test]
async fn idempotency_key_survives_kill_9() {
    idempotency_survives(Stop::Kill9).await;
}

#[tokio::test]
async fn concurrent_publishes_with_one_idempotency_key_store_one_event() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = http()
            .post(server.url("/events"))
            .header("content-type", "application/json")
            .header("idempotency-key", "same-key")
            .body(envelope("s", "e", json!({ "n": 1 })).to_string());
        tasks.spawn(async move { Reply::read(request.send().await.expect("send")).await });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.expect("task");
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        ids.insert(event_id(&reply));
    }
    assert_eq!(ids.len(), 1, "one key, one event id: {ids:?}");
    assert_eq!(server.log_records().await, 1.0, "one key, one stored event");
}

/// Concurrent publishes share group commits: the key is checked within a batch
/// as well as against earlier ones.
#[tokio::test]
async fn concurrent_publishes_with_one_key_and_two_bodies_store_one_event() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let body = envelope("s", "e", json!({ "body": n % 2 }));
        let request = http()
            .post(server.url("/events"))
            .header("content-type", "application/json")
            .header("idempotency-key", "contested")
            .body(body.to_string());
        tasks.spawn(async move {
            (
                n % 2,
                Reply::read(request.send().await.expect("send")).await,
            )
        });
    }
    let mut accepted = std::collections::HashMap::new();
    let mut refused = std::collections::HashSet::new();
    while let Some(reply) = tasks.join_next().await {
        let (body, reply) = reply.expect("task");
        if reply.status == StatusCode::OK {
            accepted
                .entry(body)
                .or_insert_with(Vec::new)
                .push(event_id(&reply));
        } else {
            assert_key_reused(&reply, "contested");
            refused.insert(body);
        }
    }
    assert_eq!(accepted.len(), 1, "one body won the key: {accepted:?}");
    let (winner, ids) = accepted.iter().next().expect("one winner");
    assert_eq!(ids.len(), 8, "every publish of the winning body got its id");
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(refused, [1 - winner].into(), "the other body was refused");
    assert_eq!(server.log_records().await, 1.0, "one key, one stored event");
}

#[tokio::test]
async fn idempotency_key_is_forgotten_after_its_ttl() {
    let server = TestServer::builder()
        .env("STOWAGE_INGEST__IDEMPOTENCY_TTL_SECS", "1")
        .start()
        .await;
    let body = envelope("s", "e", json!({}));
    let first = event_id(&publish_with_key(&server, "short-lived", &body).await);
    let within = event_id(&publish_with_key(&server, "short-lived", &body).await);
    assert_eq!(within, first, "remembered within its TTL");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = publish_with_key(&server, "short-lived", &body).await;
    assert_eq!(after.status, StatusCode::OK, "{after:?}");
    assert_ne!(event_id(&after), first, "a key past its TTL is a new event");
}
