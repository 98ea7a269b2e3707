//! Retention end to end: a real server with tiny durations removes the log
//! records nothing needs once they are past `log.min_retention`, never one a
//! pending delivery or a dead letter holds; removed events answer 410; disk
//! use stays level; seqs are not reused after a restart; dead letters go after
//! `dead_letters.retention`; bad durations are refused with a clear error.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::server::{Builder, serve_expecting_exit};
use crate::support::sink::{Behaviour, Sink};
use crate::support::{TestServer, body_of_len};

const WAIT: Duration = Duration::from_secs(20);

/// A server whose retention sweeps every 50 ms and keeps unneeded records
/// for `min_retention`.
fn retaining(min_retention: &str) -> Builder {
    TestServer::builder()
        .env("STOWAGE_LOG__MIN_RETENTION", min_retention)
        .env("STOWAGE_LOG__RETENTION_SWEEP_INTERVAL", "50ms")
        .env("STOWAGE_DELIVERY__BACKOFF_BASE_MS", "20")
        .env("STOWAGE_DELIVERY__BACKOFF_CAP_MS", "200")
}

async fn log_status(server: &TestServer) -> Value {
    let reply = server.get("/v1/log").await;
    assert_eq!(reply.status, StatusCode::OK, "GET /v1/log: {reply:?}");
    reply.json()
}

/// Waits (bounded) until `GET /v1/log` satisfies `done`; returns it.
async fn wait_for_log(server: &TestServer, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = log_status(server).await;
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets several sweeps run past `min_retention`.
async fn let_sweeps_run() {
    tokio::time::sleep(Duration::from_millis(800)).await;
}

#[tokio::test]
async fn delivered_records_are_removed_once_past_min_retention_and_their_ids_answer_410() {
    let sink = Sink::start().await;
    let server = retaining("300ms").start().await;
    server
        .route_source_to("r", "shop", "hook", &sink.url("/hook"), json!({}))
        .await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(server.publish_from("shop", json!({ "n": n })).await);
    }
    sink.wait_for(20, WAIT).await;

    let log = wait_for_log(&server, "removal of all 20 records", |l| {
        l["records"] == 0 && l["removedRecords"] == 20
    })
    .await;
    assert_eq!(log["oldest"], Value::Null, "{log}");
    assert_eq!(log["nextSeq"], 20, "{log}");
    for id in [&ids[0], &ids[19]] {
        let reply = server.event(id).await;
        assert_eq!(reply.status, StatusCode::GONE, "{reply:?}");
        assert_eq!(reply.error_code(), "event_removed");
        assert!(reply.text().contains("log.min_retention"), "{reply:?}");
        let trace = server.get(&format!("/v1/events/{id}/deliveries")).await;
        assert_eq!(trace.status, StatusCode::GONE, "{trace:?}");
    }
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("stowage_retention_removed_records_total"),
        Some(20.0)
    );
    assert_eq!(metrics.get("stowage_log_records"), Some(0.0));
}

#[tokio::test]
async fn a_pending_delivery_keeps_its_record_until_it_is_delivered() {
    let failing = Sink::start().await;
    failing.set(Behaviour::Status(503));
    let ok = Sink::start().await;
    let server = retaining("200ms")
        // Retries far apart: the delivery stays pending until the clock moves.
        .env("STOWAGE_DELIVERY__BACKOFF_BASE_MS", "60000")
        .env("STOWAGE_DELIVERY__BACKOFF_CAP_MS", "60000")
        .in_process()
        .start()
        .await;
    server
        .route_source_to("to-erp", "erp", "erp", &failing.url("/erp"), json!({}))
        .await;
    server
        .route_source_to("to-crm", "crm", "crm", &ok.url("/crm"), json!({}))
        .await;
    let held = server.publish_from("erp", json!({ "held": true })).await;
    let mut later = Vec::new();
    for n in 0..5 {
        later.push(server.publish_from("crm", json!({ "n": n })).await);
    }
    ok.wait_for(5, WAIT).await;
    failing.wait_for(1, WAIT).await;
    let_sweeps_run().await;

    let reply = server.event(&held).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the held event is kept: {reply:?}"
    );
    let log = log_status(&server).await;
    let oldest = &log["oldest"];
    assert_eq!(oldest["seq"], 0, "{log}");
    assert_eq!(
        oldest["kept"],
        json!({"reason": "held", "seq": 0, "holder": {"kind": "pending", "name": "default/to-erp/erp"}}),
        "{log}"
    );
    assert!(oldest["ageSecs"].as_f64().is_some(), "{log}");
    assert!(oldest["time"].as_str().is_some(), "{log}");

    // Once delivered, nothing holds it: everything goes.
    failing.set(Behaviour::Ok);
    server.clock().advance(Duration::from_secs(120));
    failing.wait_for(2, WAIT).await;
    wait_for_log(&server, "removal after delivery", |l| l["records"] == 0).await;
    assert_eq!(server.event(&held).await.status, StatusCode::GONE);
}

#[tokio::test]
async fn a_dead_letter_keeps_its_record_until_dead_letter_retention_removes_it() {
    let sink = Sink::start().await;
    sink.set(Behaviour::Status(400));
    let server = retaining("200ms")
        .env("STOWAGE_DEAD_LETTERS__RETENTION", "1h")
        .in_process()
        .start()
        .await;
    server
        .route_source_to("r", "s", "t", &sink.url("/hook"), json!({}))
        .await;
    let buried = server.publish_from("s", json!({ "n": 1 })).await;
    server.wait_for_dead_letters("", 1, WAIT).await;
    let delivered_later = Sink::start().await;
    server
        .route_source_to("r2", "other", "t2", &delivered_later.url("/x"), json!({}))
        .await;
    server.publish_from("other", json!({ "n": 2 })).await;
    delivered_later.wait_for(1, WAIT).await;
    let_sweeps_run().await;

    assert_eq!(server.event(&buried).await.status, StatusCode::OK);
    let log = log_status(&server).await;
    assert_eq!(
        log["oldest"]["kept"]["holder"],
        json!({"kind": "deadLetter", "name": "default"}),
        "{log}"
    );
    assert_eq!(log["deadLetterRetention"], "1h", "{log}");

    // Past the letters' retention the letter goes, then its record.
    server.clock().advance(Duration::from_secs(2 * 3600));
    wait_for_log(&server, "removal of the letter and its record", |l| {
        l["removedDeadLetters"] == 1 && l["records"] == 0
    })
    .await;
    assert!(server.dead_letters("").await.is_empty());
    assert_eq!(server.event(&buried).await.status, StatusCode::GONE);
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("stowage_retention_removed_dead_letters_total"),
        Some(1.0)
    );
}

#[tokio::test]
async fn letters_are_kept_until_purged_when_dead_letter_retention_is_0() {
    let sink = Sink::start().await;
    sink.set(Behaviour::Status(400));
    let server = retaining("0")
        .env("STOWAGE_DEAD_LETTERS__RETENTION", "0")
        .in_process()
        .start()
        .await;
    server
        .route_source_to("r", "s", "t", &sink.url("/hook"), json!({}))
        .await;
    let buried = server.publish_from("s", json!({})).await;
    let letters = server.wait_for_dead_letters("", 1, WAIT).await;
    server.clock().advance(Duration::from_secs(365 * 86_400));
    let_sweeps_run().await;
    assert_eq!(server.dead_letters("").await.len(), 1);
    assert_eq!(server.event(&buried).await.status, StatusCode::OK);
    let age = server
        .metrics()
        .await
        .get("stowage_log_oldest_record_age_seconds")
        .expect("oldest record age gauge");
    assert!(
        age >= 365.0 * 86_400.0,
        "the kept record is a year old by the clock: {age}"
    );

    // Purged by the operator: nothing holds the record any more.
    let id = letters[0]["id"].as_str().expect("letter id").to_owned();
    let deleted = server
        .send(crate::support::http().delete(server.url(&format!("/v1/dead-letters/{id}"))))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    wait_for_log(&server, "removal after the purge", |l| l["records"] == 0).await;
    assert_eq!(server.event(&buried).await.status, StatusCode::GONE);
}

#[tokio::test]
async fn after_kill_9_and_a_restart_removed_seqs_are_not_reused_and_removed_ids_answer_410() {
    let server_sink = Sink::start().await;
    let mut server = retaining("100ms").start().await;
    server
        .route_source_to("r", "s", "t", &server_sink.url("/hook"), json!({}))
        .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(server.publish_from("s", json!({ "n": n })).await);
    }
    server_sink.wait_for(5, WAIT).await;
    wait_for_log(&server, "removal of every record", |l| l["records"] == 0).await;

    // kill -9: removals are not synced; one lost is made again by a sweep.
    server.kill9().await;
    server.restart().await;
    let log = wait_for_log(&server, "removal after the restart", |l| l["records"] == 0).await;
    assert_eq!(log["nextSeq"], 5, "{log}");
    let fresh = server.publish_from("other", json!({})).await;
    let stored = server.event(&fresh).await;
    assert_eq!(stored.status, StatusCode::OK, "{stored:?}");
    assert_eq!(stored.json()["seq"], 5, "no seq reused: {stored:?}");
    for id in &ids {
        assert_eq!(server.event(id).await.status, StatusCode::GONE);
    }
}

#[tokio::test]
async fn disk_use_stays_level_when_the_same_load_runs_again_after_removal() {
    let sink = Sink::start().await;
    let server = retaining("100ms").start().await;
    server
        .route_source_to("r", "s", "t", &sink.url("/hook"), json!({}))
        .await;
    let body = body_of_len(4000);
    let mut after = Vec::new();
    let mut sent = 0;
    for _round in 0..12 {
        for _ in 0..400 {
            server.publish_from("s", json!({ "pad": body })).await;
        }
        sent += 400;
        sink.wait_for(sent, WAIT).await;
        let log = wait_for_log(&server, "removal of the round", |l| l["records"] == 0).await;
        after.push(log["diskBytes"].as_u64().expect("diskBytes"));
    }
    // Each round writes ~1.6 MB of events (and ~6 MB of sled writes: node
    // images of the log, pending and attempt trees). sled frees a segment once
    // nothing in it is live and reuses it once a few are inactive
    // (docs/retention.md): the file grows to a few 8 MiB segments, then stays.
    const SEGMENT: u64 = 8 * 1024 * 1024;
    let levelled = &after[8..];
    let (low, high) = (
        levelled.iter().min().expect("rounds"),
        levelled.iter().max().expect("rounds"),
    );
    assert!(
        high - low <= SEGMENT,
        "disk use kept growing after round 8 (12 rounds wrote ~70 MB to sled): {after:?}"
    );
    assert!(*high <= 8 * SEGMENT, "levelled too high: {after:?}");
}

#[tokio::test]
async fn bad_retention_durations_are_refused_naming_the_field_and_the_form() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("stowage.toml");
    std::fs::write(&file, "[log]\nmin_retention = \"24 hours\"\n").expect("write config");
    let file = file.to_str().expect("UTF-8 path").to_owned();
    let output = serve_expecting_exit(dir.path(), &["--config", &file], &[]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("invalid value for [log] min_retention in {file}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected a duration such as \"90s\""),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let output = serve_expecting_exit(
        dir.path(),
        &[],
        &[("STOWAGE_DEAD_LETTERS__RETENTION", "14")],
    )
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("STOWAGE_DEAD_LETTERS__RETENTION"),
        "{stderr}"
    );
    assert!(stderr.contains("\"14s\""), "{stderr}");

    let dir = tempfile::tempdir().expect("temp dir");
    let output = serve_expecting_exit(
        dir.path(),
        &[],
        &[("STOWAGE_LOG__RETENTION_SWEEP_INTERVAL", "1ms")],
    )
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must be at least 10ms"), "{stderr}");
}
