//! The bus operations through the AWS SDK for Rust: CreateEventBus,
//! DescribeEventBus, ListEventBuses (paging, prefix) and DeleteEventBus, with
//! AWS's error types, and buses surviving restarts.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::operation::create_event_bus::CreateEventBusError;
use aws_sdk_eventbridge::operation::describe_event_bus::DescribeEventBusError;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::aws::{ARN_PREFIX, sdk, stored};
use crate::support::{Stop, TestServer};

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
