//! PutEvents through the AWS SDK for Rust: partial failures per entry in request
//! order, bus names and ARNs, and the stored result.

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::json;

use crate::support::TestServer;
use crate::support::aws::{ARN_PREFIX, sdk, stored};

fn entry(source: &str, detail_type: &str, detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(source)
        .detail_type(detail_type)
        .detail(detail)
        .build()
}

#[tokio::test]
async fn put_events_reports_partial_failures_per_entry_in_request_order() {
    let server = TestServer::start().await;
    server.wait_for_log_check().await;
    let client = sdk(&server);
    let entries = vec![
        entry("com.example.a", "First", r#"{"n":0}"#),
        entry("com.example.a", "NotJson", "not json"),
        PutEventsRequestEntry::builder()
            .source("com.example.b")
            .detail_type("WithTimeAndResources")
            .detail(r#"{"n":2,"nested":{"ok":true}}"#)
            .resources("arn:aws:s3:::bucket")
            .time(DateTime::from_secs(1_700_000_000))
            .build(),
        PutEventsRequestEntry::builder()
            .detail_type("NoSource")
            .detail("{}")
            .build(),
        entry("com.example.a", "ArrayDetail", "[1,2]"),
        PutEventsRequestEntry::builder()
            .source("com.example.a")
            .detail_type("UnknownBus")
            .detail("{}")
            .event_bus_name("no-such-bus")
            .build(),
        entry("com.example.c", "Last", r#"{"n":6}"#),
        PutEventsRequestEntry::builder()
            .source("com.example.a")
            .detail("{}")
            .build(),
        PutEventsRequestEntry::builder()
            .source("com.example.a")
            .detail_type("NoDetail")
            .build(),
    ];
    let expected: [Option<&str>; 9] = [
        None,
        Some("MalformedDetail"),
        None,
        Some("InvalidArgument"),
        Some("MalformedDetail"),
        Some("ResourceNotFoundException"),
        None,
        Some("InvalidArgument"),
        Some("InvalidArgument"),
    ];
    let output = client
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .expect("PutEvents answers 200 even when entries fail");
    assert_eq!(output.failed_entry_count(), 6);
    let results = output.entries();
    assert_eq!(results.len(), expected.len(), "one result per entry");
    let mut ids = Vec::new();
    for (i, (result, code)) in results.iter().zip(expected).enumerate() {
        match code {
            None => {
                assert_eq!(result.error_code(), None, "entry {i}: {result:?}");
                ids.push(
                    result
                        .event_id()
                        .expect("a stored entry has an id")
                        .to_string(),
                );
            }
            Some(code) => {
                assert_eq!(result.error_code(), Some(code), "entry {i}: {result:?}");
                assert!(result.event_id().is_none(), "entry {i}: {result:?}");
                assert!(
                    result.error_message().is_some_and(|m| !m.is_empty()),
                    "entry {i}: {result:?}"
                );
            }
        }
    }
    assert_eq!(
        server.log_records().await,
        3.0,
        "only the valid entries are stored"
    );

    let first = stored(&server, &ids[0]).await;
    assert_eq!(first["bus"], "default");
    assert_eq!(first["event"]["source"], "com.example.a");
    assert_eq!(first["event"]["detail-type"], "First");
    assert_eq!(first["event"]["detail"], json!({ "n": 0 }));
    let second = stored(&server, &ids[1]).await;
    assert_eq!(
        second["event"]["detail"],
        json!({ "n": 2, "nested": { "ok": true } })
    );
    assert_eq!(second["event"]["resources"], json!(["arn:aws:s3:::bucket"]));
    assert_eq!(second["event"]["time"], "2023-11-14T22:13:20Z");
    let third = stored(&server, &ids[2]).await;
    assert_eq!(third["event"]["detail-type"], "Last");
    let seqs: Vec<u64> = [&first, &second, &third]
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "request order: {seqs:?}"
    );
}

#[tokio::test]
async fn put_events_to_a_custom_bus_by_name_or_arn_stores_it_on_that_bus() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let created = client
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus");
    assert_eq!(
        created.event_bus_arn(),
        Some(format!("{ARN_PREFIX}orders").as_str())
    );

    let by = |bus: &str| {
        PutEventsRequestEntry::builder()
            .source("com.example")
            .detail_type("Routed")
            .detail(r#"{"k":"v"}"#)
            .event_bus_name(bus)
            .build()
    };
    let output = client
        .put_events()
        .entries(by("orders"))
        .entries(by(&format!("{ARN_PREFIX}orders")))
        .entries(by(&format!("{ARN_PREFIX}default")))
        .entries(by("arn:aws:events:us-east-1:123456789012:event-bus/orders"))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(output.failed_entry_count(), 1, "{output:?}");
    let results = output.entries();
    assert_eq!(
        results[3].error_code(),
        Some("ResourceNotFoundException"),
        "another account's ARN is not this server's bus"
    );
    for (i, bus) in [(0, "orders"), (1, "orders"), (2, "default")] {
        let id = results[i].event_id().expect("stored");
        let got = stored(&server, id).await;
        assert_eq!(got["bus"], bus, "entry {i}");
        assert_eq!(got["event"]["detail"], json!({ "k": "v" }));
    }
}
