//! The AWS SDK for Rust against Stowage's JSON 1.1 endpoint: PutEvents partial
//! failures, bus names and ARNs, and the bus operations with AWS's error types.

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::operation::create_event_bus::CreateEventBusError;
use aws_sdk_eventbridge::operation::describe_event_bus::DescribeEventBusError;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::{Client, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gateway::Stop;
use crate::support::TestServer;

/// An SDK client for `server`'s current address, with static credentials.
fn sdk(server: &TestServer) -> Client {
    let config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.base_url())
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .build();
    Client::from_conf(config)
}

fn entry(source: &str, detail_type: &str, detail: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(source)
        .detail_type(detail_type)
        .detail(detail)
        .build()
}

const ARN_PREFIX: &str = "arn:aws:events:us-east-1:000000000000:event-bus/";

/// The stored event for `id`, via `GET /v1/events/{id}`.
async fn stored(server: &TestServer, id: &str) -> Value {
    let reply = server.event(id).await;
    assert_eq!(reply.status, StatusCode::OK, "event {id}: {reply:?}");
    reply.json()
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

#[tokio::test]
async fn bus_lifecycle_create_describe_list_delete() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    client
        .create_event_bus()
        .name("orders")
        .description("order events")
        .send()
        .await
        .expect("create bus");

    let described = client
        .describe_event_bus()
        .name("orders")
        .send()
        .await
        .expect("describe bus");
    assert_eq!(described.name(), Some("orders"));
    assert_eq!(
        described.arn(),
        Some(format!("{ARN_PREFIX}orders").as_str())
    );
    assert_eq!(described.description(), Some("order events"));
    assert!(described.creation_time().is_some());
    let by_arn = client
        .describe_event_bus()
        .name(format!("{ARN_PREFIX}orders"))
        .send()
        .await
        .expect("describe by ARN");
    assert_eq!(by_arn.name(), Some("orders"));
    let default = client
        .describe_event_bus()
        .send()
        .await
        .expect("describe without a name is the default bus");
    assert_eq!(default.name(), Some("default"));

    assert_eq!(list_all(&client, None, None).await, ["default", "orders"]);

    client
        .delete_event_bus()
        .name("orders")
        .send()
        .await
        .expect("delete bus");
    assert_eq!(list_all(&client, None, None).await, ["default"]);
    let gone = client
        .describe_event_bus()
        .name("orders")
        .send()
        .await
        .expect_err("deleted bus is gone");
    assert!(
        matches!(
            gone.into_service_error(),
            DescribeEventBusError::ResourceNotFoundException(_)
        ),
        "describe after delete"
    );
    // Publishing to it is refused too.
    let reply = server
        .post(
            "/buses/orders/events",
            Some("application/json"),
            crate::support::envelope("s", "e", json!({})).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    // Like AWS, deleting a missing bus succeeds.
    client
        .delete_event_bus()
        .name("orders")
        .send()
        .await
        .expect("deleting a missing bus succeeds");
}

#[tokio::test]
async fn describing_a_missing_bus_is_the_sdks_typed_resource_not_found() {
    let server = TestServer::start().await;
    let error = sdk(&server)
        .describe_event_bus()
        .name("no-such-bus")
        .send()
        .await
        .expect_err("missing bus");
    let error = error.into_service_error();
    assert!(
        matches!(error, DescribeEventBusError::ResourceNotFoundException(_)),
        "{error:?}"
    );
    assert!(
        error.message().is_some_and(|m| m.contains("no-such-bus")),
        "{error:?}"
    );
}

#[tokio::test]
async fn creating_an_existing_bus_is_resource_already_exists() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    client
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus");
    for name in ["orders", "default"] {
        let error = client
            .create_event_bus()
            .name(name)
            .send()
            .await
            .expect_err("bus exists")
            .into_service_error();
        assert!(
            matches!(
                error,
                CreateEventBusError::ResourceAlreadyExistsException(_)
            ),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn default_bus_cannot_be_deleted() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let error = client
        .delete_event_bus()
        .name("default")
        .send()
        .await
        .expect_err("default cannot be deleted")
        .into_service_error();
    assert_eq!(error.code(), Some("ValidationException"), "{error:?}");
    client
        .describe_event_bus()
        .name("default")
        .send()
        .await
        .expect("default still exists");
}

/// Every bus name, following `NextToken` with page size `limit`.
async fn list_all(client: &Client, prefix: Option<&str>, limit: Option<i32>) -> Vec<String> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _page in 0..100 {
        let page = client
            .list_event_buses()
            .set_name_prefix(prefix.map(String::from))
            .set_limit(limit)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("list buses");
        let buses = page.event_buses();
        if let Some(limit) = limit {
            assert!(
                buses.len() <= usize::try_from(limit).expect("positive"),
                "page of {} over limit {limit}",
                buses.len()
            );
        }
        for bus in buses {
            let name = bus.name().expect("a listed bus has a name");
            assert_eq!(bus.arn(), Some(format!("{ARN_PREFIX}{name}").as_str()));
            names.push(name.to_string());
        }
        token = page.next_token().map(String::from);
        if token.is_none() {
            return names;
        }
    }
    panic!("ListEventBuses kept returning NextToken");
}

#[tokio::test]
async fn list_event_buses_pages_with_limit_and_next_token_and_filters_by_prefix() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    for name in ["bus-c", "bus-a", "other", "bus-e", "bus-b", "bus-d"] {
        client
            .create_event_bus()
            .name(name)
            .send()
            .await
            .expect("create bus");
    }
    let everything = [
        "bus-a", "bus-b", "bus-c", "bus-d", "bus-e", "default", "other",
    ];
    assert_eq!(list_all(&client, None, None).await, everything);
    assert_eq!(list_all(&client, None, Some(2)).await, everything);
    assert_eq!(list_all(&client, None, Some(1)).await, everything);
    let with_prefix = ["bus-a", "bus-b", "bus-c", "bus-d", "bus-e"];
    assert_eq!(list_all(&client, Some("bus-"), None).await, with_prefix);
    assert_eq!(list_all(&client, Some("bus-"), Some(2)).await, with_prefix);
    assert!(list_all(&client, Some("zzz"), Some(3)).await.is_empty());

    let first_page = client
        .list_event_buses()
        .limit(3)
        .send()
        .await
        .expect("list");
    assert_eq!(first_page.event_buses().len(), 3);
    assert!(first_page.next_token().is_some());
}

#[tokio::test]
async fn buses_survive_a_restart() {
    let mut server = TestServer::start().await;
    let client = sdk(&server);
    for name in ["orders", "audit"] {
        client
            .create_event_bus()
            .name(name)
            .description(format!("{name} bus"))
            .send()
            .await
            .expect("create bus");
    }
    client
        .delete_event_bus()
        .name("audit")
        .send()
        .await
        .expect("delete bus");
    client
        .create_event_bus()
        .name("billing")
        .send()
        .await
        .expect("create bus");

    for stop in [Stop::Graceful, Stop::Kill9] {
        stop.apply(&mut server).await;
        server.restart().await;
        let client = sdk(&server);
        assert_eq!(
            list_all(&client, None, None).await,
            ["billing", "default", "orders"],
            "after {stop:?}"
        );
        let orders = client
            .describe_event_bus()
            .name("orders")
            .send()
            .await
            .expect("describe after restart");
        assert_eq!(orders.description(), Some("orders bus"));
        let output = client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .source("s")
                    .detail_type("t")
                    .detail("{}")
                    .event_bus_name("orders")
                    .build(),
            )
            .send()
            .await
            .expect("PutEvents after restart");
        assert_eq!(output.failed_entry_count(), 0, "{output:?}");
        let id = output.entries()[0].event_id().expect("stored");
        assert_eq!(stored(&server, id).await["bus"], "orders");
    }
}
