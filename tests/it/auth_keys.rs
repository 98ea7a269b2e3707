//! Publisher keys against the real server: a key publishes only its sources and
//! detail types (gateway 403, PutEvents per-entry errors), within its rate and
//! quota and from its networks; revoke and rotate take effect at once; bad
//! input to `/v1/keys` changes nothing; no token is ever shown again.
//!
//! These servers run open (loopback, no operator credentials): a request
//! without a key is allowed there, a presented key is checked.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Reply, TestServer, envelope, http};

/// Creates a key and returns (id, token).
async fn create_key(server: &TestServer, body: Value) -> (String, String) {
    let reply = server
        .post("/v1/keys", Some("application/json"), body.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let json = reply.json();
    let id = json["key"]["id"].as_str().expect("key id").to_string();
    let token = json["token"].as_str().expect("token").to_string();
    assert!(token.starts_with(&format!("stk_{id}_")), "{token}");
    (id, token)
}

async fn publish_with(server: &TestServer, token: &str, source: &str, name: &str) -> Reply {
    server
        .send(
            http()
                .post(server.url("/events"))
                .header("content-type", "application/json")
                .header("x-api-key", token)
                .body(envelope(source, name, json!({"n": 1})).to_string()),
        )
        .await
}

async fn put_events_with(server: &TestServer, token: &str, entries: Value) -> Reply {
    server
        .send(
            http()
                .post(server.url("/"))
                .header("x-amz-target", "AWSEvents.PutEvents")
                .header("content-type", "application/x-amz-json-1.1")
                .header("authorization", format!("Bearer {token}"))
                .body(json!({ "Entries": entries }).to_string()),
        )
        .await
}

#[tokio::test]
async fn a_key_publishes_only_its_sources_and_detail_types() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let (_, token) = create_key(
        &server,
        json!({"name": "erp", "sources": ["com.external.orders"], "detailTypes": ["Order*"]}),
    )
    .await;
    let ok = publish_with(&server, &token, "com.external.orders", "OrderPlaced").await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    let records = server.log_records().await;

    let other = publish_with(&server, &token, "com.other", "OrderPlaced").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{other:?}");
    assert_eq!(other.error_code(), "source_not_allowed");
    assert!(other.text().contains("com.other"), "{other:?}");
    let wrong_type = publish_with(&server, &token, "com.external.orders", "Refund").await;
    assert_eq!(wrong_type.status, StatusCode::FORBIDDEN, "{wrong_type:?}");
    assert_eq!(wrong_type.error_code(), "detail_type_not_allowed");

    let reply = put_events_with(
        &server,
        &token,
        json!([
            {"Source": "com.external.orders", "DetailType": "OrderShipped", "Detail": "{}"},
            {"Source": "com.other", "DetailType": "OrderShipped", "Detail": "{}"},
            {"Source": "com.external.orders", "DetailType": "Refund", "Detail": "{}"},
        ]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let json = reply.json();
    assert_eq!(json["FailedEntryCount"], 2, "{json}");
    assert!(json["Entries"][0]["EventId"].is_string(), "{json}");
    assert_eq!(
        json["Entries"][1]["ErrorCode"],
        "NotAuthorizedForSourceException"
    );
    assert_eq!(
        json["Entries"][2]["ErrorCode"],
        "NotAuthorizedForDetailTypeException"
    );
    assert!(json["Entries"][1].get("EventId").is_none(), "{json}");
    // Only the allowed PutEvents entry was stored.
    assert_eq!(server.log_records().await, records + 1.0);
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get(r#"stowage_publisher_key_refusals_total{reason="source"}"#),
        Some(2.0)
    );
}

#[tokio::test]
async fn revoked_and_rotated_keys_are_refused_by_the_running_server() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let (id, old) = create_key(&server, json!({"name": "a", "sources": ["s"]})).await;
    assert_eq!(
        publish_with(&server, &old, "s", "E").await.status,
        StatusCode::OK
    );

    let rotated = server
        .post(
            &format!("/v1/keys/{id}/rotate"),
            Some("application/json"),
            json!({"graceSeconds": 1}).to_string(),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    let new = rotated.json()["token"].as_str().expect("token").to_string();
    assert_ne!(new, old);
    // Both valid during the grace period.
    assert_eq!(
        publish_with(&server, &old, "s", "E").await.status,
        StatusCode::OK
    );
    assert_eq!(
        publish_with(&server, &new, "s", "E").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let expired = publish_with(&server, &old, "s", "E").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED, "{expired:?}");
    assert_eq!(expired.error_code(), "unknown_key");
    assert_eq!(
        publish_with(&server, &new, "s", "E").await.status,
        StatusCode::OK
    );

    let revoked = http()
        .delete(server.url(&format!("/v1/keys/{id}")))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    let refused = publish_with(&server, &new, "s", "E").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert_eq!(refused.error_code(), "revoked_key");
    let aws = put_events_with(
        &server,
        &new,
        json!([{"Source": "s", "DetailType": "E", "Detail": "{}"}]),
    )
    .await;
    assert_eq!(aws.aws_type(), "UnrecognizedClientException", "{aws:?}");
    let described = server.get(&format!("/v1/keys/{id}")).await.json();
    assert_eq!(described["state"], "revoked");
    assert_eq!(described["usage"]["published"], 4, "{described}");
    assert_eq!(described["usage"]["refused"], 3, "{described}");

    // Revocation is durable.
    let mut server = server;
    server.terminate().await;
    server.restart().await;
    let after = publish_with(&server, &new, "s", "E").await;
    assert_eq!(after.error_code(), "revoked_key");
}

#[tokio::test]
async fn rate_quota_and_networks_bound_a_key() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let (_, fast) = create_key(
        &server,
        json!({"name": "r", "sources": ["s"], "rate": "2/s"}),
    )
    .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..4 {
        let reply = publish_with(&server, &fast, "s", "E").await;
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
        }
    }
    let limited = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(limited.error_code(), "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");

    let (id, daily) = create_key(
        &server,
        json!({"name": "q", "sources": ["s"], "quota": "3/day"}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            publish_with(&server, &daily, "s", "E").await.status,
            StatusCode::OK
        );
    }
    let over = publish_with(&server, &daily, "s", "E").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{over:?}");
    assert_eq!(over.error_code(), "quota_exhausted");
    assert!(over.headers.contains_key("retry-after"));
    let described = server.get(&format!("/v1/keys/{id}")).await.json();
    assert_eq!(described["usage"]["publishedToday"], 3, "{described}");
    assert_eq!(described["usage"]["refused"], 1, "{described}");

    let (_, local) = create_key(
        &server,
        json!({"name": "l", "sources": ["s"], "networks": ["127.0.0.1/32"]}),
    )
    .await;
    assert_eq!(
        publish_with(&server, &local, "s", "E").await.status,
        StatusCode::OK
    );
    let (_, remote) = create_key(
        &server,
        json!({"name": "n", "sources": ["s"], "networks": ["10.0.0.0/8"]}),
    )
    .await;
    let refused = publish_with(&server, &remote, "s", "E").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert_eq!(refused.error_code(), "network_not_allowed");
}

#[tokio::test]
async fn unknown_and_malformed_keys_are_refused() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let (id, token) = create_key(&server, json!({"name": "a", "sources": ["s"]})).await;
    let malformed = publish_with(&server, "not-a-key", "s", "E").await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(malformed.error_code(), "malformed_key");
    assert_eq!(malformed.headers["www-authenticate"], "Bearer");
    // The right id with another secret.
    let forged = format!("stk_{id}_{}", "A".repeat(43));
    assert_ne!(forged, token);
    let unknown = publish_with(&server, &forged, "s", "E").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error_code(), "unknown_key");
    let stranger = publish_with(
        &server,
        &format!("stk_0000000000000000_{}", "A".repeat(43)),
        "s",
        "E",
    )
    .await;
    assert_eq!(stranger.error_code(), "unknown_key");
    let aws = put_events_with(
        &server,
        "not-a-key",
        json!([{"Source": "s", "DetailType": "E", "Detail": "{}"}]),
    )
    .await;
    assert_eq!(aws.status, StatusCode::FORBIDDEN);
    assert_eq!(aws.aws_type(), "UnrecognizedClientException");
}

#[tokio::test]
async fn bad_key_requests_change_nothing_and_tokens_are_shown_once() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let (id, token) = create_key(&server, json!({"name": "erp", "sources": ["s"]})).await;
    for (body, field) in [
        (
            json!({"name": "x", "sources": ["s"], "networks": ["10.0.0.0/33"]}),
            "networks",
        ),
        (
            json!({"name": "x", "sources": ["s"], "rate": "fast"}),
            "rate",
        ),
        (
            json!({"name": "x", "sources": ["s"], "quota": "5/week"}),
            "quota",
        ),
        (json!({"name": "x", "sources": []}), "sources"),
        (json!({"name": "", "sources": ["s"]}), "name"),
    ] {
        let reply = server
            .post("/v1/keys", Some("application/json"), body.to_string())
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {reply:?}");
        assert!(reply.text().contains(field), "{field}: {reply:?}");
    }
    let unknown_field = server
        .post(
            "/v1/keys",
            Some("application/json"),
            r#"{"name":"x","sources":["s"],"secret":"y"}"#,
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    let list = server.get("/v1/keys").await;
    assert_eq!(
        list.json()["keys"].as_array().expect("keys").len(),
        1,
        "{list:?}"
    );
    let bad_grace = server
        .post(
            &format!("/v1/keys/{id}/rotate"),
            Some("application/json"),
            r#"{"graceSeconds":-1}"#,
        )
        .await;
    assert_eq!(bad_grace.status, StatusCode::BAD_REQUEST);
    let missing = server.get("/v1/keys/0000000000000000").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "key_not_found");
    assert_eq!(
        publish_with(&server, &token, "s", "E").await.status,
        StatusCode::OK
    );

    // The token (and its secret part) never appears again.
    let secret = token[format!("stk_{id}_").len()..].to_string();
    let describe = server.get(&format!("/v1/keys/{id}")).await;
    let metrics = server.get("/metrics").await;
    for reply in [&list, &describe, &metrics] {
        assert!(!reply.text().contains(&secret), "token shown: {reply:?}");
    }
    assert!(!server.logs().contains(&secret), "token in the server log");
}

#[tokio::test]
async fn the_cli_creates_lists_describes_rotates_and_revokes_keys() {
    use crate::cli::{stdout, stowage};
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let endpoint = server.base_url();
    let created = stowage(&[
        "keys",
        "create",
        "--endpoint",
        &endpoint,
        "--name",
        "erp",
        "--allow-source",
        "com.external.orders",
        "--allow-detail-type",
        "Order*",
        "--rate",
        "100/s",
        "--quota",
        "1000000/day",
        "--allow-ip",
        "127.0.0.0/8",
        "--json",
    ])
    .await;
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let created: Value = serde_json::from_str(stdout(&created).trim()).expect("one JSON document");
    let id = created["key"]["id"].as_str().expect("id").to_string();
    let token = created["token"].as_str().expect("token").to_string();
    assert_eq!(created["key"]["rate"], "100/s");
    assert_eq!(created["key"]["networks"], json!(["127.0.0.0/8"]));
    let ok = publish_with(&server, &token, "com.external.orders", "OrderPlaced").await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");

    let list = stowage(&["keys", "list", "--endpoint", &endpoint]).await;
    assert_eq!(list.status.code(), Some(0), "{list:?}");
    let table = stdout(&list);
    assert!(table.contains(&id) && table.contains("erp"), "{table}");
    let described = stowage(&["keys", "describe", "--endpoint", &endpoint, &id]).await;
    let text = stdout(&described);
    assert!(text.contains("published:        1"), "{text}");
    let secret = &token[format!("stk_{id}_").len()..];
    assert!(!table.contains(secret) && !text.contains(secret));

    let rotated = stowage(&[
        "keys",
        "rotate",
        "--endpoint",
        &endpoint,
        &id,
        "--grace",
        "0",
    ])
    .await;
    assert_eq!(rotated.status.code(), Some(0), "{rotated:?}");
    let printed = stdout(&rotated);
    let new = printed
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("a token line")
        .to_string();
    assert_eq!(
        publish_with(&server, &token, "com.external.orders", "OrderPlaced")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        publish_with(&server, &new, "com.external.orders", "OrderPlaced")
            .await
            .status,
        StatusCode::OK
    );
    let revoked = stowage(&["keys", "revoke", "--endpoint", &endpoint, &id]).await;
    assert_eq!(revoked.status.code(), Some(0), "{revoked:?}");
    assert_eq!(
        publish_with(&server, &new, "com.external.orders", "OrderPlaced")
            .await
            .error_code(),
        "revoked_key"
    );
    let bad = stowage(&[
        "keys",
        "create",
        "--endpoint",
        &endpoint,
        "--name",
        "x",
        "--allow-source",
        "s",
        "--allow-ip",
        "10.0.0.0/33",
    ])
    .await;
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("10.0.0.0/33"),
        "{bad:?}"
    );
}

const OPERATOR_ID: &str = "AKIASTOWAGEKEYSTEST";
const OPERATOR_SECRET: &str = "operator-secret-for-keys-4b1d";

/// A server with operator credentials: publishers need a key.
async fn guarded() -> TestServer {
    TestServer::builder()
        .config_toml(&format!(
            "[[auth.operators]]\naccess_key_id = \"{OPERATOR_ID}\"\nsecret_access_key = \"{OPERATOR_SECRET}\"\n"
        ))
        .start()
        .await
}

#[tokio::test]
async fn with_operators_configured_publishing_needs_a_key() {
    use crate::cli::{stdout, stowage_with_env};
    let server = guarded().await;
    server.wait_for_log_check().await;
    let endpoint = server.base_url();
    let body = envelope("com.external.orders", "OrderPlaced", json!({})).to_string();
    let anonymous = server.post("/events", Some("application/json"), body).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");
    assert_eq!(anonymous.error_code(), "missing_key");
    let put = server
        .aws(
            "PutEvents",
            r#"{"Entries":[{"Source":"com.external.orders","DetailType":"OrderPlaced","Detail":"{}"}]}"#,
        )
        .await;
    assert_eq!(put.status, StatusCode::FORBIDDEN, "{put:?}");
    assert_eq!(put.aws_type(), "MissingAuthenticationTokenException");
    // Managing keys is an operator's business.
    let unsigned = server
        .post(
            "/v1/keys",
            Some("application/json"),
            r#"{"name":"x","sources":["s"]}"#,
        )
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED, "{unsigned:?}");
    let creds = [
        ("AWS_ACCESS_KEY_ID", OPERATOR_ID),
        ("AWS_SECRET_ACCESS_KEY", OPERATOR_SECRET),
    ];
    let created = stowage_with_env(
        &[
            "keys",
            "create",
            "--endpoint",
            &endpoint,
            "--name",
            "erp",
            "--allow-source",
            "com.external.orders",
            "--json",
        ],
        &creds,
    )
    .await;
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let created: Value = serde_json::from_str(stdout(&created).trim()).expect("JSON");
    let token = created["token"].as_str().expect("token").to_string();
    assert_eq!(
        publish_with(&server, &token, "com.external.orders", "OrderPlaced")
            .await
            .status,
        StatusCode::OK
    );
    let refused = publish_with(&server, &token, "com.other", "OrderPlaced").await;
    assert_eq!(refused.error_code(), "source_not_allowed");
    let put = put_events_with(
        &server,
        &token,
        json!([{"Source": "com.external.orders", "DetailType": "OrderPlaced", "Detail": "{}"}]),
    )
    .await;
    assert_eq!(put.json()["FailedEntryCount"], 0, "{put:?}");
    let secret = token.split_at(21).1.to_string();
    assert!(!server.logs().contains(&secret), "token in the server log");
}
