//! Schema validation at ingest: schemas registered per (source, detail type,
//! version) through `/v1/schemas` and `stowage schemas`; the gateway checks
//! `data`, PutEvents checks `Detail`; refusals name the JSON pointer and the
//! rule, store nothing, and bad schemas change nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{stdout, stowage};
use crate::support::rng::Rng;
use crate::support::{Reply, TestServer, envelope, http};

const ORDER_SCHEMA: &str = r#"{"type":"object","required":["orderId"],
  "properties":{"orderId":{"type":"string"},"amount":{"type":"number","minimum":0},
  "lines":{"type":"array","items":{"type":"object","required":["sku"]}}}}"#;

impl TestServer {
    async fn put_schema(&self, body: &Value) -> Reply {
        self.send(http().put(self.url("/v1/schemas")).json(body))
            .await
    }

    async fn put_schema_ok(
        &self,
        source: &str,
        detail_type: &str,
        version: Option<&str>,
        schema: &str,
    ) {
        let mut body = json!({"source": source, "detailType": detail_type,
            "schema": serde_json::from_str::<Value>(schema).expect("test schema is JSON")});
        if let Some(version) = version {
            body["version"] = version.into();
        }
        let reply = self.put_schema(&body).await;
        assert!(reply.status.is_success(), "PUT /v1/schemas: {reply:?}");
    }

    async fn delete_path(&self, path: &str) -> Reply {
        self.send(http().delete(self.url(path))).await
    }
}

fn versioned(source: &str, name: &str, version: Value, data: Value) -> Value {
    json!({"metadata": {"source": source, "eventName": name, "eventSchemaVersion": version}, "data": data})
}

#[tokio::test]
async fn gateway_accepts_valid_data_and_refuses_invalid_with_pointer_and_rule() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    server
        .put_schema_ok("com.shop", "OrderPlaced", None, ORDER_SCHEMA)
        .await;

    server
        .publish_ok(&envelope(
            "com.shop",
            "OrderPlaced",
            json!({"orderId": "o-1", "amount": 5}),
        ))
        .await;
    let before = server.log_records().await;

    let reply = server
        .publish(&envelope(
            "com.shop",
            "OrderPlaced",
            json!({"orderId": "o-2", "amount": -1}),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "schema_violation", "{reply:?}");
    assert_eq!(error["pointer"], "/data/amount", "{reply:?}");
    let message = error["message"].as_str().expect("a message");
    assert!(
        message.contains("\"minimum\"") && message.contains("/data/amount"),
        "{message}"
    );

    let reply = server
        .publish(&envelope(
            "com.shop",
            "OrderPlaced",
            json!({"orderId": "o-3", "lines": [{"sku": "a"}, {"qty": 1}]}),
        ))
        .await;
    assert_eq!(
        reply.json()["error"]["pointer"],
        "/data/lines/1",
        "{reply:?}"
    );
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"required\""))
    );

    // No data at all is `null`, which is not an object.
    let reply = server
        .publish(&json!({"metadata": {"source": "com.shop", "eventName": "OrderPlaced"}}))
        .await;
    assert_eq!(reply.json()["error"]["pointer"], "/data", "{reply:?}");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"type\""))
    );

    // Another detail type, or another source, has no schema.
    server
        .publish_ok(&envelope("com.shop", "OrderShipped", json!({"amount": -1})))
        .await;
    server
        .publish_ok(&envelope("com.other", "OrderPlaced", json!(5)))
        .await;

    assert_eq!(
        server.log_records().await,
        before + 2.0,
        "refused events are not stored"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get(r#"stowage_schema_refused_total{api="gateway"}"#),
        Some(3.0)
    );
    assert_eq!(
        metrics.get(r#"stowage_events_rejected_total{reason="schema_violation"}"#),
        Some(3.0)
    );
    assert_eq!(metrics.get("stowage_schemas_registered"), Some(1.0));
}

#[tokio::test]
async fn put_events_refuses_invalid_entries_and_stores_the_valid_ones_of_a_batch() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    server
        .put_schema_ok("com.shop", "OrderPlaced", None, ORDER_SCHEMA)
        .await;
    let before = server.log_records().await;
    let entries = json!({"Entries": [
        {"Source": "com.shop", "DetailType": "OrderPlaced", "Detail": r#"{"orderId":"o-1"}"#},
        {"Source": "com.shop", "DetailType": "OrderPlaced", "Detail": r#"{"orderId":7}"#},
        {"Source": "com.shop", "DetailType": "Unchecked", "Detail": r#"{"orderId":7}"#},
        {"Source": "com.shop", "DetailType": "OrderPlaced", "Detail": r#"{"lines":[{"sku":"a"}]}"#},
    ]});
    let reply = server.aws("PutEvents", &entries.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["FailedEntryCount"], 2, "{body}");
    let results = body["Entries"].as_array().expect("Entries");
    assert!(results[0]["EventId"].is_string(), "{body}");
    assert!(results[2]["EventId"].is_string(), "{body}");
    for (i, pointer, rule) in [(1, "/orderId", "type"), (3, "\"\"", "required")] {
        assert_eq!(results[i]["ErrorCode"], "MalformedDetail", "{body}");
        assert!(results[i].get("EventId").is_none(), "{body}");
        let message = results[i]["ErrorMessage"].as_str().expect("ErrorMessage");
        assert!(
            message.contains(pointer) && message.contains(&format!("\"{rule}\"")),
            "{message}"
        );
    }
    assert_eq!(server.log_records().await, before + 2.0);
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get(r#"stowage_schema_refused_total{api="put_events"}"#),
        Some(2.0)
    );
}

#[tokio::test]
async fn the_event_version_picks_its_schema_and_falls_back_to_the_unversioned_one() {
    let server = TestServer::start().await;
    let need = |field: &str| json!({"type": "object", "required": [field]}).to_string();
    server.put_schema_ok("s", "T", Some("1"), &need("v1")).await;
    server.put_schema_ok("s", "T", Some("2"), &need("v2")).await;
    server.put_schema_ok("s", "T", None, &need("plain")).await;

    let refused_at = |reply: Reply| {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        reply.json()["error"]["message"]
            .as_str()
            .expect("a message")
            .to_owned()
    };
    server
        .publish_ok(&versioned("s", "T", json!("1"), json!({"v1": 1})))
        .await;
    server
        .publish_ok(&versioned("s", "T", json!(1), json!({"v1": 1})))
        .await;
    server
        .publish_ok(&versioned("s", "T", json!("2"), json!({"v2": 1})))
        .await;
    let message = refused_at(
        server
            .publish(&versioned("s", "T", json!("2"), json!({"v1": 1})))
            .await,
    );
    assert!(
        message.contains("version \"2\""),
        "names the schema it used: {message}"
    );
    // An unregistered version, and no version, meet the unversioned schema.
    server
        .publish_ok(&versioned("s", "T", json!("3"), json!({"plain": 1})))
        .await;
    let message = refused_at(
        server
            .publish(&versioned("s", "T", json!("3"), json!({"v1": 1})))
            .await,
    );
    assert!(message.contains("no version"), "{message}");
    let unversioned = json!({"metadata": {"source": "s", "eventName": "T"}, "data": {"plain": 1}});
    server.publish_ok(&unversioned).await;
    // PutEvents carries no version: the unversioned schema.
    let reply = server
        .aws(
            "PutEvents",
            &json!({"Entries": [{"Source": "s", "DetailType": "T", "Detail": r#"{"v1":1}"#}]})
                .to_string(),
        )
        .await;
    assert_eq!(
        reply.json()["Entries"][0]["ErrorCode"],
        "MalformedDetail",
        "{reply:?}"
    );

    // Without the unversioned schema, other versions go unchecked.
    let reply = server.delete_path("/v1/schemas/s/T").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    server
        .publish_ok(&versioned("s", "T", json!("3"), json!({"v1": 1})))
        .await;
    refused_at(
        server
            .publish(&versioned("s", "T", json!("1"), json!({"v2": 1})))
            .await,
    );

    let list = server.get("/v1/schemas").await.json();
    let versions: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["version"])
        .collect();
    assert_eq!(versions, [&json!("1"), &json!("2")], "{list}");
}

#[tokio::test]
async fn a_deleted_schema_no_longer_validates() {
    let server = TestServer::start().await;
    server
        .put_schema_ok("com.shop", "OrderPlaced", None, ORDER_SCHEMA)
        .await;
    let bad = envelope("com.shop", "OrderPlaced", json!({"amount": -1}));
    assert_eq!(server.publish(&bad).await.status, StatusCode::BAD_REQUEST);

    let reply = server.delete_path("/v1/schemas/com.shop/OrderPlaced").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    server.publish_ok(&bad).await;
    let reply = server.get("/v1/schemas/com.shop/OrderPlaced").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    assert_eq!(reply.error_code(), "schema_not_found");
    let reply = server.delete_path("/v1/schemas/com.shop/OrderPlaced").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    assert_eq!(
        server.metrics().await.get("stowage_schemas_registered"),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_bad_schema_is_refused_with_its_reason_and_changes_nothing() {
    let server = TestServer::start().await;
    server
        .put_schema_ok("com.shop", "OrderPlaced", None, ORDER_SCHEMA)
        .await;
    let refusals = [
        (json!({"type": "nonsense"}), "not a valid JSON Schema"),
        (
            json!({"properties": {"amount": {"minimum": "zero"}}}),
            "/properties/amount/minimum",
        ),
        (
            json!({"$ref": "https://example.com/order.json"}),
            "not fetched",
        ),
        (json!({"$ref": "file:///etc/passwd"}), "not fetched"),
        (json!([1, 2]), "a JSON object or a boolean"),
        (json!({"description": "x".repeat(70_000)}), "at most 65536"),
    ];
    for (schema, reason) in refusals {
        let reply = server
            .put_schema(
                &json!({"source": "com.shop", "detailType": "OrderPlaced", "schema": schema}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert_eq!(reply.error_code(), "invalid_schema", "{reply:?}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .expect("a message")
            .to_owned();
        assert!(message.contains(reason), "{reason}: {message}");
    }
    let shown = server.get("/v1/schemas/com.shop/OrderPlaced").await.json();
    assert_eq!(
        shown["schema"],
        serde_json::from_str::<Value>(ORDER_SCHEMA).expect("JSON")
    );
    let reply = server
        .publish(&envelope("com.shop", "OrderPlaced", json!({"orderId": 1})))
        .await;
    assert_eq!(
        reply.json()["error"]["pointer"],
        "/data/orderId",
        "the old schema still applies: {reply:?}"
    );
    assert_eq!(
        server.get("/v1/schemas").await.json()["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn the_registry_survives_a_restart() {
    let mut server = TestServer::start().await;
    server
        .put_schema_ok("com.shop", "OrderPlaced", Some("7"), ORDER_SCHEMA)
        .await;
    server.terminate().await;
    server.restart().await;
    let shown = server
        .get("/v1/schemas/com.shop/OrderPlaced?version=7")
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    assert_eq!(shown.json()["version"], "7");
    let reply = server
        .publish(&versioned(
            "com.shop",
            "OrderPlaced",
            json!(7),
            json!({"amount": 1}),
        ))
        .await;
    assert_eq!(reply.json()["error"]["pointer"], "/data", "{reply:?}");
    assert_eq!(
        server.metrics().await.get("stowage_schemas_registered"),
        Some(1.0)
    );
}

#[tokio::test]
async fn bad_input_on_the_schema_routes_is_refused_clearly() {
    let server = TestServer::start().await;
    let raw = |body: &'static str| {
        http()
            .put(server.url("/v1/schemas"))
            .header("content-type", "application/json")
            .body(body)
    };
    for (request, status, code) in [
        (raw("not json"), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            raw(r#"{"source":"s","detailType":"T"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            raw(r#"{"source":"s","detailType":"T","schema":{},"extra":1}"#),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            raw(r#"{"source":"","detailType":"T","schema":{}}"#),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            raw(r#"{"source":"s","detailType":"T","version":"","schema":{}}"#),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            raw(r#"{"source":"s\u0000x","detailType":"T","schema":{}}"#),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            http().get(server.url("/v1/schemas?bogus=1")),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            http().get(server.url("/v1/schemas/s/T?versio=1")),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            http().get(server.url("/v1/schemas/s/T")),
            StatusCode::NOT_FOUND,
            "schema_not_found",
        ),
    ] {
        let reply = server.send(request).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (status, code),
            "{reply:?}"
        );
    }
    assert_eq!(server.get("/v1/schemas").await.json(), json!({"items": []}));
    assert_eq!(server.healthz().await, StatusCode::OK);
}

#[tokio::test]
async fn arbitrary_schema_text_never_breaks_the_server() {
    let server = TestServer::start().await;
    let mut rng = Rng::from_env_or_clock("arbitrary_schema_text_never_breaks_the_server");
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"type\"",
        "\"properties\"",
        "\"items\"",
        "\"$ref\"",
        "\"#\"",
        "\"#/$defs/a\"",
        "\"$defs\"",
        "\"a\"",
        "\"pattern\"",
        "\"(a+)+$\"",
        "\"[\"",
        "\"minimum\"",
        "1e400",
        "-0",
        "null",
        "true",
        "\"required\"",
        "\"anyOf\"",
        "\"format\"",
        "\"email\"",
        "\"$schema\"",
        "\"http://json-schema.org/draft-04/schema#\"",
        "\"\\u0000\"",
        "\"enum\"",
        "\"object\"",
        "\"string\"",
        "\"not\"",
        "\"if\"",
        "\"then\"",
    ];
    for _ in 0..150 {
        let len = rng.range(1, 24);
        let text: String = (0..len)
            .map(|_| PIECES[usize::try_from(rng.range(0, PIECES.len() as u64)).expect("small")])
            .collect();
        let body = format!(r#"{{"source":"s","detailType":"T","schema":{text}}}"#);
        let reply = server
            .send(
                http()
                    .put(server.url("/v1/schemas"))
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert!(
            matches!(
                reply.status,
                StatusCode::OK | StatusCode::CREATED | StatusCode::BAD_REQUEST
            ),
            "{body}: {reply:?}"
        );
        // Whatever was registered checks events without failing the server.
        let reply = server
            .publish(&envelope("s", "T", json!({"a": ["x", 1, null]})))
            .await;
        assert!(
            matches!(reply.status, StatusCode::OK | StatusCode::BAD_REQUEST),
            "{body}: {reply:?}"
        );
    }
    assert_eq!(server.healthz().await, StatusCode::OK);
}

#[tokio::test]
async fn schemas_cli_puts_lists_shows_and_deletes() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("order.json");
    std::fs::write(&file, ORDER_SCHEMA).expect("write the schema");
    let at_file = format!("@{}", file.display());
    let which = [
        "--source",
        "com.shop/eu",
        "--detail-type",
        "Order Placed",
        "--version",
        "2",
    ];

    let mut args = vec![
        "schemas",
        "put",
        "--endpoint",
        &endpoint,
        "--schema",
        &at_file,
    ];
    args.extend(which);
    let output = stowage(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output)
            .contains("registered the schema for com.shop/eu / Order Placed (version 2)"),
        "{output:?}"
    );

    let output = stowage(&["schemas", "list", "--endpoint", &endpoint, "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let listed: Value = serde_json::from_str(stdout(&output).trim()).expect("--json prints JSON");
    assert_eq!(listed[0]["detailType"], "Order Placed", "{listed}");
    let output = stowage(&["schemas", "list", "--endpoint", &endpoint]).await;
    assert!(stdout(&output).starts_with("SOURCE"), "{output:?}");

    let mut args = vec!["schemas", "show", "--endpoint", &endpoint, "--json"];
    args.extend(which);
    let output = stowage(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let shown: Value = serde_json::from_str(stdout(&output).trim()).expect("--json prints JSON");
    assert_eq!(shown["schema"]["required"], json!(["orderId"]), "{shown}");

    // A schema that does not compile: exit 1 with the server's reason.
    let mut args = vec![
        "schemas",
        "put",
        "--endpoint",
        &endpoint,
        "--schema",
        r#"{"type":5}"#,
    ];
    args.extend(which);
    let output = stowage(&args).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a valid JSON Schema"),
        "{output:?}"
    );

    let mut args = vec!["schemas", "delete", "--endpoint", &endpoint];
    args.extend(which);
    let output = stowage(&args).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = stowage(&args).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "deleting it again: {output:?}"
    );
    assert_eq!(server.get("/v1/schemas").await.json(), json!({"items": []}));
}
