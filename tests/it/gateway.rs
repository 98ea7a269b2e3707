//! The gateway contract: `POST /events` and `POST /buses/{bus}/events` answer
//! `200 {"eventId"}`, the event is then served by `GET /v1/events/{id}`, every
//! error path has its status and `error.code`, a rejected request changes
//! nothing, and the size limit is the configured one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestServer, body_of_len, envelope, event_id, http};

#[tokio::test]
async fn published_event_is_retrievable_with_source_detail_type_and_whole_body_as_detail() {
    let server = TestServer::start().await;
    let body = envelope(
        "com.example.orders",
        "OrderPlaced",
        json!({ "orderId": 42, "items": ["a", "b"], "note": "café ✓" }),
    );
    let id = server.publish_ok(&body).await;

    let reply = server.event(&id).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let got = reply.json();
    assert_eq!(got["bus"], "default");
    assert!(got["seq"].is_u64(), "seq is a number: {got}");
    assert!(got["ingestedAt"].is_string(), "{got}");
    let event = &got["event"];
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["source"], "com.example.orders");
    assert_eq!(event["detail-type"], "OrderPlaced");
    assert_eq!(event["detail"], body, "detail is the whole request body");
    assert_eq!(event["version"], "0");
    assert_eq!(event["account"], "000000000000");
    assert_eq!(event["region"], "us-east-1");
    assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(event["resources"], json!([]));
}

#[tokio::test]
async fn lookup_serves_the_detail_verbatim() {
    // The detail is stored as the publisher sent it; the lookup must not reorder
    // keys or round numbers (an operator compares it with what was sent).
    let server = TestServer::start().await;
    let body = r#"{"metadata":{"source":"s","eventName":"e"},"data":{"z":1,"a":2,"big":123456789012345678901234567890,"f":1.10}}"#;
    let reply = server
        .post("/events", Some("application/json"), body.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let found = server.event(&event_id(&reply)).await;
    assert_eq!(found.status, StatusCode::OK, "{found:?}");
    assert!(
        found.text().contains(&format!("\"detail\":{body}")),
        "GET /v1/events/{{id}} altered the detail; sent {body}, got {found:?}"
    );
}

#[tokio::test]
async fn publish_to_a_created_bus_stores_the_event_on_that_bus() {
    let server = TestServer::start().await;
    let created = server.aws("CreateEventBus", r#"{"Name":"orders"}"#).await;
    assert_eq!(created.status, StatusCode::OK, "{created:?}");

    let body = envelope("com.example.orders", "OrderShipped", json!({ "n": 1 }));
    let reply = server
        .post(
            "/buses/orders/events",
            Some("application/json"),
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let id = event_id(&reply);
    let got = server.event(&id).await.json();
    assert_eq!(got["bus"], "orders");
    assert_eq!(got["event"]["detail"], body);

    // The default bus is addressable by name too.
    let reply = server
        .post(
            "/buses/default/events",
            Some("application/json"),
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        server.event(&event_id(&reply)).await.json()["bus"],
        "default"
    );
}

#[tokio::test]
async fn event_ids_are_distinct_and_sequence_numbers_increase() {
    let server = TestServer::start().await;
    let mut last_seq = None;
    let mut ids = std::collections::HashSet::new();
    for n in 0..5 {
        let id = server
            .publish_ok(&envelope("s", "e", json!({ "n": n })))
            .await;
        assert!(ids.insert(id.clone()), "id {id} repeated");
        let seq = server.event(&id).await.json()["seq"].as_u64().expect("seq");
        assert!(
            last_seq.is_none_or(|last| seq > last),
            "seq {seq} after {last_seq:?}"
        );
        last_seq = Some(seq);
    }
}

/// One request that must be refused.
struct Rejected {
    what: &'static str,
    method: reqwest::Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn post(what: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Rejected {
    Rejected {
        what,
        method: reqwest::Method::POST,
        path: "/events".into(),
        content_type: Some("application/json"),
        headers: Vec::new(),
        body: body.into(),
        status,
        code,
    }
}

#[tokio::test]
async fn every_rejected_request_gets_its_status_and_error_code_and_changes_nothing() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let valid = envelope("s", "e", json!({})).to_string();
    let cases = vec![
        post(
            "truncated JSON",
            r#"{"metadata":{"source":"s""#,
            400,
            "malformed_json",
        ),
        post(
            "trailing garbage",
            format!("{valid} trailing"),
            400,
            "malformed_json",
        ),
        post(
            "missing metadata.source",
            r#"{"metadata":{"eventName":"e"},"data":{}}"#,
            400,
            "missing_field",
        ),
        post(
            "missing metadata.eventName",
            r#"{"metadata":{"source":"s"},"data":{}}"#,
            400,
            "missing_field",
        ),
        post("missing metadata", r#"{"data":{}}"#, 400, "missing_field"),
        post(
            "empty metadata.eventName",
            r#"{"metadata":{"source":"s","eventName":" "},"data":{}}"#,
            400,
            "invalid_field",
        ),
        post(
            "null metadata.source",
            r#"{"metadata":{"source":null,"eventName":"e"},"data":{}}"#,
            400,
            "missing_field",
        ),
        post(
            "metadata not an object",
            r#"{"metadata":"s","data":{}}"#,
            400,
            "invalid_field",
        ),
        post(
            "metadata.eventSchemaVersion an object",
            r#"{"metadata":{"source":"s","eventName":"e","eventSchemaVersion":{}}}"#,
            400,
            "invalid_field",
        ),
        post(
            "metadata.source not a string",
            r#"{"metadata":{"source":5,"eventName":"e"}}"#,
            400,
            "invalid_field",
        ),
        post("array body", "[1,2]", 400, "invalid_body"),
        post("string body", r#""text""#, 400, "invalid_body"),
        post("number body", "42", 400, "invalid_body"),
        post("empty body", "", 400, "invalid_body"),
        Rejected {
            // The server drops a connection whose body it refused unread
            // (see bad_input::payload_too_large_reply_…); do not pool it.
            headers: vec![("connection", "close".into())],
            ..post(
                "one byte over 256 KiB",
                body_of_len(256 * 1024 + 1),
                413,
                "payload_too_large",
            )
        },
        Rejected {
            content_type: Some("text/plain"),
            ..post("text/plain", valid.clone(), 415, "unsupported_media_type")
        },
        Rejected {
            path: "/buses/no-such-bus/events".into(),
            ..post("unknown bus", valid.clone(), 404, "bus_not_found")
        },
        Rejected {
            headers: vec![("idempotency-key", "k".repeat(300))],
            ..post(
                "300-character Idempotency-Key",
                valid.clone(),
                400,
                "invalid_idempotency_key",
            )
        },
        Rejected {
            headers: vec![("idempotency-key", "has space".into())],
            ..post(
                "Idempotency-Key with a space",
                valid.clone(),
                400,
                "invalid_idempotency_key",
            )
        },
        Rejected {
            method: reqwest::Method::GET,
            path: "/v1/events/5b0e8f1c-4a1e-4c57-9d55-0f3f0a1b2c3d".into(),
            ..post("unknown event id", "", 404, "event_not_found")
        },
        Rejected {
            method: reqwest::Method::GET,
            path: "/v1/events/not-a-uuid".into(),
            ..post("malformed event id", "", 400, "invalid_event_id")
        },
        Rejected {
            path: "/no/such/endpoint".into(),
            ..post("unknown endpoint", valid.clone(), 404, "not_found")
        },
        Rejected {
            method: reqwest::Method::GET,
            ..post("GET on /events", "", 405, "method_not_allowed")
        },
    ];
    let records = server.log_records().await;
    for case in cases {
        let mut request = http()
            .request(case.method.clone(), server.url(&case.path))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let reply = server.send(request).await;
        assert_eq!(
            reply.status.as_u16(),
            case.status,
            "{}: {reply:?}",
            case.what
        );
        assert_eq!(reply.error_code(), case.code, "{}: {reply:?}", case.what);
        let message = &reply.json()["error"]["message"];
        assert!(
            message.as_str().is_some_and(|m| !m.is_empty()),
            "{}: a message says what to fix: {reply:?}",
            case.what
        );
        assert_eq!(
            server.log_records().await,
            records,
            "{}: a rejected request stored something",
            case.what
        );
        assert_eq!(server.healthz().await, StatusCode::OK, "{}", case.what);
    }
    // Still accepting.
    server.publish_ok(&envelope("s", "e", json!({}))).await;
    assert_eq!(server.log_records().await, records + 1.0);
}

/// Posts a body the server will refuse unread, on a connection not kept for reuse
/// (see `bad_input::payload_too_large_reply_leaves_the_connection_usable_or_closes_it`).
async fn post_over_limit(server: &TestServer, body: String) -> crate::support::Reply {
    server
        .send(
            http()
                .post(server.url("/events"))
                .header("content-type", "application/json")
                .header("connection", "close")
                .body(body),
        )
        .await
}

#[tokio::test]
async fn body_of_exactly_the_default_limit_is_accepted() {
    let server = TestServer::start().await;
    let body = body_of_len(256 * 1024);
    let reply = server.post("/events", Some("application/json"), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn configured_smaller_limit_is_enforced() {
    let server = TestServer::builder()
        .config_toml("[ingest]\nmax_event_bytes = 2048\n")
        .start()
        .await;
    server.wait_for_log_check().await;
    let at_limit = server
        .post("/events", Some("application/json"), body_of_len(2048))
        .await;
    assert_eq!(at_limit.status, StatusCode::OK, "{at_limit:?}");
    let records = server.log_records().await;
    let over = post_over_limit(&server, body_of_len(2049)).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{over:?}");
    assert_eq!(over.error_code(), "payload_too_large");
    assert_eq!(server.log_records().await, records);
}

#[tokio::test]
async fn configured_one_mib_limit_accepts_a_700_kib_event() {
    let server = TestServer::builder()
        .config_toml("[ingest]\nmax_event_bytes = 1048576\n")
        .start()
        .await;
    let body = body_of_len(700 * 1024);
    let reply = server
        .post("/events", Some("application/json"), body.clone())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let got = server.event(&event_id(&reply)).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    let expected: Value = serde_json::from_str(&body).expect("body is JSON");
    assert_eq!(got.json()["event"]["detail"], expected);

    let over = post_over_limit(&server, body_of_len(1024 * 1024 + 1)).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{over:?}");
}
