//! Testing patterns through the three interfaces: AWS `TestEventPattern` (via the
//! AWS SDK), `POST /v1/test-event-pattern`, and `stowage test-pattern`.

use std::time::Duration;

use aws_sdk_eventbridge::operation::test_event_pattern::TestEventPatternError;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::aws::sdk;
use crate::support::server::BIN;

fn order_event() -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "OrderPlaced",
        "source": "shop", "account": "111122223333", "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": { "price": 12.5, "ip": "10.0.0.7", "tags": ["new", "vip"] }
    })
}

#[tokio::test]
async fn test_event_pattern_through_the_aws_sdk() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let event = order_event().to_string();
    let cases = [
        (
            json!({"source": ["shop"], "detail": {"price": [{"numeric": [">", 10]}]}}),
            true,
        ),
        (
            json!({"detail": {"ip": [{"cidr": "10.0.0.0/24"}], "tags": ["vip"]}}),
            true,
        ),
        (
            json!({"detail": {"price": [{"numeric": ["<", 10]}]}}),
            false,
        ),
        (
            json!({"detail-type": [{"anything-but": "OrderPlaced"}]}),
            false,
        ),
    ];
    for (pattern, expected) in cases {
        let out = client
            .test_event_pattern()
            .event_pattern(pattern.to_string())
            .event(&event)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{pattern}: {e:?}"));
        assert_eq!(out.result(), expected, "{pattern}");
    }

    let invalid = client
        .test_event_pattern()
        .event_pattern(r#"{"detail":{"price":[{"numeric":[">","ten"]}]}}"#)
        .event(&event)
        .send()
        .await
        .expect_err("an invalid pattern is refused");
    match invalid.into_service_error() {
        TestEventPatternError::InvalidEventPatternException(e) => {
            let message = e.message().unwrap_or_default();
            assert!(
                message.contains("detail.price"),
                "the error names the path: {message}"
            );
        }
        other => panic!("expected InvalidEventPatternException, got {other:?}"),
    }
}

#[tokio::test]
async fn test_event_pattern_requires_the_fields_aws_requires() {
    let server = TestServer::start().await;
    let reply = server
        .aws(
            "TestEventPattern",
            &json!({"EventPattern": r#"{"source":["a"]}"#, "Event": r#"{"source":"a"}"#})
                .to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.json()["__type"], "ValidationException");
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for field in [
        "id",
        "account",
        "time",
        "region",
        "resources",
        "detail-type",
    ] {
        assert!(
            message.contains(field),
            "{field} is named as missing: {message}"
        );
    }
    let missing = server.aws("TestEventPattern", r#"{"Event":"{}"}"#).await;
    assert_eq!(
        missing.json()["__type"],
        "ValidationException",
        "{missing:?}"
    );
}

#[tokio::test]
async fn native_endpoint_takes_objects_or_strings_and_explains_errors() {
    let server = TestServer::start().await;
    let as_objects = json!({"pattern": {"source": [{"prefix": "sh"}]}, "event": order_event()});
    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            as_objects.to_string(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, json!({"result": true}))
    );

    let as_strings =
        json!({"pattern": r#"{"source":["other"]}"#, "event": order_event().to_string()});
    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            as_strings.to_string(),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, json!({"result": false}))
    );

    let bad_wildcard =
        json!({"pattern": {"source": [{"wildcard": "a**"}]}, "event": order_event()});
    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            bad_wildcard.to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid_pattern");
    assert!(reply.text().contains("source"), "{reply:?}");

    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            "{not json",
        )
        .await;
    assert_eq!(reply.error_code(), "malformed_json");
    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            json!({"pattern": {"source": ["a"]}}).to_string(),
        )
        .await;
    assert_eq!(reply.error_code(), "missing_field");
}

async fn test_pattern(pattern: &str, event: &str) -> (Option<i32>, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BIN)
            .args(["test-pattern", "--pattern", pattern, "--event", event])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("test-pattern finishes")
    .expect("run stowage");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn cli_test_pattern_exits_like_grep() {
    let event = order_event().to_string();
    assert_eq!(
        test_pattern(r#"{"detail":{"tags":["vip"]}}"#, &event).await,
        (Some(0), "match\n".into())
    );
    assert_eq!(
        test_pattern(r#"{"detail":{"tags":["old"]}}"#, &event).await,
        (Some(1), "no match\n".into())
    );
    let (code, text) = test_pattern(r#"{"detail":{"tags":"vip"}}"#, &event).await;
    assert_eq!(code, Some(2));
    assert!(
        text.contains("invalid pattern") && text.contains("detail.tags"),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("event.json");
    std::fs::write(&file, &event).expect("write the event");
    let (code, _) = test_pattern(r#"{"source":["shop"]}"#, &format!("@{}", file.display())).await;
    assert_eq!(code, Some(0), "@FILE reads the event from a file");
}

/// The README's example: an event as a publisher writes it, without the
/// envelope fields that EventBridge adds.
const NATURAL_EVENT: &str =
    r#"{"source":"shop","detail-type":"OrderPlaced","detail":{"price":12.5}}"#;

#[tokio::test]
async fn cli_test_pattern_completes_a_natural_event_with_envelope_defaults() {
    for (pattern, expected) in [
        (r#"{"detail":{"price":[{"numeric":[">",10]}]}}"#, 0),
        (r#"{"detail":{"price":[{"numeric":["<",10]}]}}"#, 1),
        (
            r#"{"account":["000000000000"],"region":["us-east-1"],"version":["0"]}"#,
            0,
        ),
        (r#"{"time":[{"prefix":"20"}],"id":[{"exists":true}]}"#, 0),
    ] {
        let (code, text) = test_pattern(pattern, NATURAL_EVENT).await;
        assert_eq!(code, Some(expected), "{pattern}: {text}");
    }
    // Given fields are kept; source and detail-type are still required.
    let (code, text) = test_pattern(
        r#"{"account":["111122223333"]}"#,
        r#"{"source":"shop","detail-type":"t","account":"111122223333"}"#,
    )
    .await;
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = test_pattern(r#"{"source":["shop"]}"#, r#"{"detail":{}}"#).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("invalid event") && text.contains("source") && text.contains("detail-type"),
        "{text}"
    );
    assert!(!text.contains("account"), "account has a default: {text}");
}

#[tokio::test]
async fn a_bad_pattern_is_reported_before_a_bad_event() {
    let bad_pattern = r#"{"detail":{"price":[{"numeric":[">","ten"]}]}}"#;
    for event in ["{not json", "{}", "[1]"] {
        let (code, text) = test_pattern(bad_pattern, event).await;
        assert_eq!(code, Some(2), "{event}: {text}");
        assert!(
            text.starts_with("invalid pattern: detail.price"),
            "{event}: {text}"
        );
    }

    let server = TestServer::start().await;
    let reply = server
        .aws(
            "TestEventPattern",
            &json!({"EventPattern": bad_pattern, "Event": r#"{"source":"a"}"#}).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.json()["__type"], "InvalidEventPatternException");
    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            json!({"pattern": bad_pattern, "event": {"source": "a"}}).to_string(),
        )
        .await;
    assert_eq!(reply.error_code(), "invalid_pattern", "{reply:?}");

    // The server keeps AWS's strictness: no envelope defaults there.
    let reply = server
        .aws(
            "TestEventPattern",
            &json!({"EventPattern": r#"{"source":["shop"]}"#, "Event": NATURAL_EVENT}).to_string(),
        )
        .await;
    assert_eq!(reply.json()["__type"], "ValidationException", "{reply:?}");
    let reply = server
        .post(
            "/v1/test-event-pattern",
            Some("application/json"),
            json!({"pattern": {"source": ["shop"]}, "event": NATURAL_EVENT}).to_string(),
        )
        .await;
    assert_eq!(reply.error_code(), "invalid_event", "{reply:?}");
}

#[tokio::test]
async fn cli_test_pattern_with_a_missing_file_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("order.json");
    let missing = missing.to_str().expect("a UTF-8 path");
    for (pattern, event) in [
        (format!("@{missing}"), NATURAL_EVENT.to_owned()),
        (r#"{"source":["shop"]}"#.to_owned(), format!("@{missing}")),
    ] {
        let (code, text) = test_pattern(&pattern, &event).await;
        assert_eq!(code, Some(2), "not a \"no match\": {text}");
        assert!(
            text.contains(missing) && text.contains("No such file or directory"),
            "names the file and the cause: {text}"
        );
    }
}
