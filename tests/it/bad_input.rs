//! Bad input of any kind gets a clear 4xx, stores nothing, and leaves the server
//! up: invalid UTF-8, 100k-deep nesting, megabyte headers, wrong content types,
//! and malformed AWS JSON 1.1 calls.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::raw::{self, RawConnection};
use crate::support::{TestServer, body_of_len, envelope, http};

/// Asserts that the log is unchanged and the server still healthy and accepting.
async fn assert_unchanged_and_up(server: &TestServer, records: f64, what: &str) {
    assert_eq!(
        server.log_records().await,
        records,
        "{what}: a rejected request stored something"
    );
    assert_eq!(server.healthz().await, StatusCode::OK, "{what}");
}

#[tokio::test]
async fn invalid_utf8_body_is_400_and_stores_nothing() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    let bodies: [(&str, &[u8]); 3] = [
        (
            "in data",
            b"{\"metadata\":{\"source\":\"s\",\"eventName\":\"e\"},\"data\":{\"k\":\"\xff\xfe\"}}",
        ),
        (
            "in metadata.source",
            b"{\"metadata\":{\"source\":\"\xc3\x28\",\"eventName\":\"e\"},\"data\":{}}",
        ),
        (
            "outside strings",
            b"{\"metadata\":{\"source\":\"s\",\"eventName\":\"e\"},\"data\":\xf0}",
        ),
    ];
    for (what, body) in bodies {
        let reply = server
            .post("/events", Some("application/json"), body.to_vec())
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {reply:?}");
        assert_eq!(reply.error_code(), "malformed_json", "{what}");
        assert_unchanged_and_up(&server, records, what).await;
    }
    server.publish_ok(&envelope("s", "e", json!({}))).await;
}

#[tokio::test]
async fn nesting_100k_deep_is_400_and_server_stays_up() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    let depth = 100_000;
    let deep_array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let bodies = [
        (
            "balanced arrays in data",
            format!(r#"{{"metadata":{{"source":"s","eventName":"e"}},"data":{deep_array}}}"#),
        ),
        (
            "unclosed arrays in data",
            format!(
                r#"{{"metadata":{{"source":"s","eventName":"e"}},"data":{}"#,
                "[".repeat(depth)
            ),
        ),
        (
            "objects in data",
            format!(
                r#"{{"metadata":{{"source":"s","eventName":"e"}},"data":{}1{}}}"#,
                r#"{"a":"#.repeat(40_000),
                "}".repeat(40_000)
            ),
        ),
    ];
    for (what, body) in bodies {
        let reply = server.post("/events", Some("application/json"), body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {reply:?}");
        assert_eq!(reply.error_code(), "malformed_json", "{what}");
        assert_unchanged_and_up(&server, records, what).await;
    }

    // The same through PutEvents: the entry fails, the request does not.
    let entries = json!({ "Entries": [
        { "Source": "s", "DetailType": "t", "Detail": format!("{{\"a\":{deep_array}}}") },
    ]});
    let reply = server.aws("PutEvents", &entries.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let got = reply.json();
    assert_eq!(got["FailedEntryCount"], 1, "{got}");
    assert_eq!(got["Entries"][0]["ErrorCode"], "MalformedDetail", "{got}");
    assert_unchanged_and_up(&server, records, "PutEvents").await;

    server.publish_ok(&envelope("s", "e", json!({}))).await;
}

#[tokio::test]
async fn megabyte_header_is_refused_with_a_4xx_and_server_stays_up() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    let body = envelope("s", "e", json!({})).to_string();
    let huge_value = format!(
        "POST /events HTTP/1.1\r\nhost: stowage\r\nx-huge: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        "a".repeat(1024 * 1024),
        body.len()
    );
    let many_headers = format!(
        "POST /events HTTP/1.1\r\nhost: stowage\r\n{}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        (0..10_000)
            .map(|i| format!("x-h{i}: {i}\r\n"))
            .collect::<String>(),
        body.len()
    );
    for (what, request) in [
        ("one 1 MiB header value", huge_value),
        ("10 000 headers", many_headers),
    ] {
        let mut connection = RawConnection::open(server.addr()).await;
        let response = connection
            .exchange(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{what}: no HTTP answer, only {e}"));
        assert!(
            (400..500).contains(&response.status),
            "{what}: expected a 4xx, got {response:?}"
        );
        assert_unchanged_and_up(&server, records, what).await;
    }
    server.publish_ok(&envelope("s", "e", json!({}))).await;
}

#[tokio::test]
async fn non_json_content_types_are_415_and_store_nothing() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    let body = envelope("s", "e", json!({})).to_string();
    let content_types: [&[u8]; 8] = [
        b"text/plain",
        b"text/json",
        b"application/xml",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=x",
        b"application/octet-stream",
        b"application/jsonx",
        b"application/json\xff",
    ];
    for content_type in content_types {
        let what = String::from_utf8_lossy(content_type).into_owned();
        let value =
            reqwest::header::HeaderValue::from_bytes(content_type).expect("a legal header value");
        let reply = server
            .send(
                http()
                    .post(server.url("/events"))
                    .header("content-type", value)
                    .body(body.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{what}: {reply:?}"
        );
        assert_eq!(reply.error_code(), "unsupported_media_type", "{what}");
        assert_unchanged_and_up(&server, records, &what).await;
    }
}

#[tokio::test]
async fn json_content_type_variants_and_a_missing_content_type_are_accepted() {
    let server = TestServer::start().await;
    let body = envelope("s", "e", json!({})).to_string();
    for content_type in [
        Some("application/json; charset=utf-8"),
        Some("Application/JSON"),
        Some("application/cloudevents+json"),
        None,
    ] {
        let reply = server.post("/events", content_type, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{content_type:?}: {reply:?}");
    }
}

#[tokio::test]
async fn payload_too_large_reply_leaves_the_connection_usable_or_closes_it() {
    // The server refuses an over-limit body from its Content-Length, before
    // reading it. It must then either say `connection: close` or keep the
    // connection usable; answering as if keep-alive and then dropping the
    // connection breaks the publisher's next request on it.
    let server = TestServer::start().await;
    let mut connection = RawConnection::open(server.addr()).await;
    let body = body_of_len(256 * 1024 + 1);
    let refused = connection
        .exchange(&raw::post_json("/events", body.as_bytes()))
        .await
        .expect("an HTTP answer to the over-limit body");
    assert_eq!(refused.status, 413, "{refused:?}");
    let error: Value = serde_json::from_slice(&refused.body).expect("a JSON error body");
    assert_eq!(error["error"]["code"], "payload_too_large");
    if refused
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    {
        return;
    }
    let next = connection.exchange(raw::GET_HEALTHZ).await;
    assert!(
        next.as_ref().is_ok_and(|r| r.status == 200),
        "the 413 reply kept the connection open (no `connection: close`), but the next \
         request on it failed: {next:?}"
    );
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_and_stores_nothing() {
    // No Content-Length: the limit is enforced while reading.
    let server = TestServer::builder()
        .config_toml("[ingest]\nmax_event_bytes = 4096\n")
        .start()
        .await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    let body = body_of_len(64 * 1024);
    let mut request = b"POST /events HTTP/1.1\r\nhost: stowage\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for chunk in body.as_bytes().chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = RawConnection::open(server.addr())
        .await
        .exchange(&request)
        .await
        .expect("an HTTP answer");
    assert_eq!(response.status, 413, "{response:?}");
    assert_unchanged_and_up(&server, records, "chunked").await;
}

/// One AWS JSON 1.1 call that must fail with `__type`.
struct AwsRejected {
    what: &'static str,
    target: Option<&'static str>,
    body: String,
    aws_type: &'static str,
}

fn aws(
    what: &'static str,
    target: &'static str,
    body: impl Into<String>,
    aws_type: &'static str,
) -> AwsRejected {
    AwsRejected {
        what,
        target: Some(target),
        body: body.into(),
        aws_type,
    }
}

#[tokio::test]
async fn aws_endpoint_errors_carry_aws_type_names_and_change_nothing() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let records = server.log_records().await;
    let entry = json!({ "Source": "s", "DetailType": "t", "Detail": "{}" });
    let entries = |n: usize| json!({ "Entries": vec![entry.clone(); n] }).to_string();
    let big_detail = json!({ "pad": "x".repeat(256 * 1024) }).to_string();
    let cases = vec![
        aws(
            "unknown operation",
            "AWSEvents.NoSuchOperation",
            "{}",
            "UnknownOperationException",
        ),
        aws(
            "foreign target prefix",
            "Kinesis_20131202.PutRecord",
            "{}",
            "UnknownOperationException",
        ),
        AwsRejected {
            target: None,
            ..aws(
                "missing X-Amz-Target",
                "",
                "{}",
                "UnknownOperationException",
            )
        },
        aws(
            "malformed JSON",
            "AWSEvents.PutEvents",
            r#"{"Entries": ["#,
            "SerializationException",
        ),
        aws(
            "Entries is a string",
            "AWSEvents.PutEvents",
            r#"{"Entries":"x"}"#,
            "SerializationException",
        ),
        aws(
            "Source is a number",
            "AWSEvents.PutEvents",
            r#"{"Entries":[{"Source":5,"DetailType":"t","Detail":"{}"}]}"#,
            "SerializationException",
        ),
        aws(
            "body is an array",
            "AWSEvents.PutEvents",
            "[]",
            "SerializationException",
        ),
        aws(
            "no Entries",
            "AWSEvents.PutEvents",
            "{}",
            "ValidationException",
        ),
        aws(
            "0 entries",
            "AWSEvents.PutEvents",
            entries(0),
            "ValidationException",
        ),
        aws(
            "11 entries",
            "AWSEvents.PutEvents",
            entries(11),
            "ValidationException",
        ),
        aws(
            "entries over 256 KiB in total",
            "AWSEvents.PutEvents",
            json!({ "Entries": [{ "Source": "s", "DetailType": "t", "Detail": big_detail }] })
                .to_string(),
            "ValidationException",
        ),
        aws(
            "bus name with a slash",
            "AWSEvents.CreateEventBus",
            r#"{"Name":"a/b"}"#,
            "ValidationException",
        ),
        aws(
            "bus without a name",
            "AWSEvents.CreateEventBus",
            "{}",
            "ValidationException",
        ),
        aws(
            "describe a missing bus",
            "AWSEvents.DescribeEventBus",
            r#"{"Name":"nope"}"#,
            "ResourceNotFoundException",
        ),
        aws(
            "list with Limit 0",
            "AWSEvents.ListEventBuses",
            r#"{"Limit":0}"#,
            "ValidationException",
        ),
        aws(
            "delete default",
            "AWSEvents.DeleteEventBus",
            r#"{"Name":"default"}"#,
            "ValidationException",
        ),
    ];
    for case in cases {
        let mut request = http()
            .post(server.url("/"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(case.body.clone());
        if let Some(target) = case.target {
            request = request.header("x-amz-target", target);
        }
        let reply = server.send(request).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}: {reply:?}",
            case.what
        );
        assert_eq!(reply.aws_type(), case.aws_type, "{}: {reply:?}", case.what);
        let message: &Value = &reply.json()["message"];
        assert!(
            message.as_str().is_some_and(|m| !m.is_empty()),
            "{}: {reply:?}",
            case.what
        );
        assert_eq!(
            reply
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-amz-json-1.1"),
            "{}",
            case.what
        );
        assert_unchanged_and_up(&server, records, case.what).await;
    }
}
