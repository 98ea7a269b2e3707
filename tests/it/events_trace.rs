//! "Where did my event go?": `GET /v1/events/{id}/deliveries` and `stowage
//! events trace ID` against a real server and real sinks that fail on cue.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{closed_endpoint, stdout, stowage};
use crate::support::TestServer;
use crate::support::routes::fast_retries;
use crate::support::sink::{Behaviour, Sink};

const WAIT: Duration = Duration::from_secs(15);

/// The event's trace once `done` accepts it (bounded wait).
async fn wait_for_trace(server: &TestServer, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = server.get(&format!("/v1/events/{id}/deliveries")).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let trace = reply.json();
        if done(&trace) {
            return trace;
        }
        assert!(Instant::now() < deadline, "trace never settled: {trace}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn delivery<'a>(trace: &'a Value, target: &str) -> &'a Value {
    trace["deliveries"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["targetId"] == target))
        .unwrap_or_else(|| panic!("no delivery to {target} in {trace}"))
}

fn state_of(trace: &Value, target: &str) -> String {
    trace["deliveries"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["targetId"] == target))
        .and_then(|d| d["state"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn two_failures_then_a_success_show_three_attempts_and_a_pending_target_beside_it() {
    let flaky = Sink::start().await;
    flaky.set(Behaviour::FailTimes { n: 2, status: 503 });
    let down = Sink::start().await;
    down.set(Behaviour::Status(500));
    let server = fast_retries().start().await;
    let url = flaky.url("/hook");
    server
        .route_source_to("orders", "shop", "hook", &url, json!({}))
        .await;
    server
        .route_source_to("audit", "shop", "down", &down.url("/d"), json!({}))
        .await;
    server
        .route_source_to("other", "elsewhere", "never", &url, json!({}))
        .await;
    let id = server.publish_from("shop", json!({ "n": 1 })).await;

    let trace = wait_for_trace(&server, &id, |t| {
        state_of(t, "hook") == "delivered"
            && delivery(t, "down")["attemptsMade"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(trace["eventId"], id);
    assert_eq!(trace["bus"], "default");
    assert_eq!(trace["routed"], true);
    assert_eq!(
        trace["deliveries"].as_array().map(Vec::len),
        Some(2),
        "only the targets whose rules matched: {trace}"
    );

    let hook = delivery(&trace, "hook");
    assert_eq!(hook["rule"], "orders");
    assert_eq!(hook["targetArn"], url);
    assert_eq!(hook["targetRemoved"], false);
    assert!(hook["deliveredAt"].is_string(), "{hook}");
    let attempts = hook["attempts"].as_array().expect("attempts");
    let seen: Vec<(u64, &str, Option<&str>, u64)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap(),
                a["errorCode"].as_str(),
                a["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, "failed", Some("SERVER_ERROR"), 503),
            (2, "failed", Some("SERVER_ERROR"), 503),
            (3, "delivered", None, 200),
        ]
    );
    for attempt in attempts {
        assert!(attempt["latencyMs"].is_u64(), "{attempt}");
        assert!(attempt["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    }
    assert!(
        attempts[0]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("503")),
        "{attempts:?}"
    );
    assert_eq!(attempts[2]["errorMessage"], Value::Null);

    let down = delivery(&trace, "down");
    assert_eq!(down["state"], "pending");
    assert!(down["nextAttemptAt"].is_string(), "{down}");
    assert_eq!(down["attempts"][0]["errorCode"], "SERVER_ERROR");
    assert_eq!(down["attempts"][0]["status"], 500);
}

#[tokio::test]
async fn a_dead_lettered_delivery_names_its_letter() {
    let sink = Sink::start().await;
    sink.set(Behaviour::Status(400));
    let server = fast_retries().start().await;
    let dead_letter =
        json!({ "DeadLetterConfig": { "Arn": "arn:aws:sqs:us-east-1:000000000000:orders-dlq" } });
    server
        .route_source_to("r", "s", "t", &sink.url("/hook"), dead_letter)
        .await;
    let id = server.publish_from("s", json!({})).await;
    let letters = server.wait_for_dead_letters("", 1, WAIT).await;

    let trace = wait_for_trace(&server, &id, |t| state_of(t, "t") == "dead-lettered").await;
    let t = delivery(&trace, "t");
    assert_eq!(t["deadLetter"]["id"], letters[0]["id"]);
    assert_eq!(t["deadLetter"]["queue"], letters[0]["queue"]);
    assert_eq!(t["deadLetter"]["inQueue"], true);
    assert_eq!(t["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(t["attempts"][0]["errorCode"], "CLIENT_ERROR");
    assert_eq!(t["attempts"][0]["status"], 400);
}

#[tokio::test]
async fn an_unknown_event_is_404_and_a_malformed_id_400() {
    let server = TestServer::start().await;
    let reply = server
        .get("/v1/events/5ed6b0c5-3ac4-8a4a-8000-000000000000/deliveries")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    assert_eq!(reply.error_code(), "event_not_found");
    let reply = server.get("/v1/events/nope/deliveries").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.error_code(), "invalid_event_id");
}

#[tokio::test]
async fn events_trace_prints_a_block_per_target_or_the_json() {
    let sink = Sink::start().await;
    sink.set(Behaviour::FailTimes { n: 1, status: 503 });
    let server = fast_retries().start().await;
    server
        .route_source_to("orders", "shop", "hook", &sink.url("/hook"), json!({}))
        .await;
    let id = server.publish_from("shop", json!({})).await;
    wait_for_trace(&server, &id, |t| state_of(t, "hook") == "delivered").await;
    let endpoint = server.base_url();

    let output = stowage(&["events", "trace", &id, "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!("event {id} (seq 0) on bus default")),
        "{text}"
    );
    assert!(
        text.contains("rule orders, target hook -> http://"),
        "{text}"
    );
    assert!(text.contains("  state: delivered at "), "{text}");
    assert!(text.contains("OUTCOME"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" ms ")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].contains("failed") && rows[0].contains("SERVER_ERROR") && rows[0].contains("503")
    );
    assert!(rows[1].contains("delivered") && rows[1].contains("200"));

    let output = stowage(&["events", "trace", &id, "--endpoint", &endpoint, "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON document");
    assert_eq!(json["deliveries"][0]["state"], "delivered");
    assert_eq!(json["deliveries"][0]["attempts"][1]["status"], 200);

    let unknown = "5ed6b0c5-3ac4-8a4a-8000-000000000000";
    let output = stowage(&["events", "trace", unknown, "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("event_not_found"), "{stderr}");
    assert!(stdout(&output).is_empty());

    let output = stowage(&["events", "trace", &id, "--endpoint", &closed_endpoint()]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach"), "{stderr}");
}
