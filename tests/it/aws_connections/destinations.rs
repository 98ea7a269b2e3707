//! API destinations through the AWS SDK for Rust: create, describe, update
//! (only the given fields), list (prefix, connection, paging), delete, AWS's
//! errors (an ARN without its id is called incomplete, not missing), and a
//! connection that cannot be deleted while a destination uses it.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::delete_connection::DeleteConnectionError;
use aws_sdk_eventbridge::operation::describe_api_destination::{
    DescribeApiDestinationError, DescribeApiDestinationOutput,
};
use aws_sdk_eventbridge::types::{ApiDestinationHttpMethod as Method, ConnectionState};
use serde_json::json;

use super::{ARN, Kind, api_key, basic, create, create_destination, refused, server};
use crate::support::aws::sdk;

async fn describe(client: &Client, name: &str) -> DescribeApiDestinationOutput {
    let out = client.describe_api_destination().name(name).send().await;
    out.unwrap_or_else(|e| panic!("describe destination {name}: {e:?}"))
}

/// Every destination name, following `NextToken` with pages of `limit`.
async fn list_all(
    client: &Client,
    prefix: Option<&str>,
    connection: Option<&str>,
    limit: i32,
) -> Vec<String> {
    let (mut names, mut token) = (Vec::new(), None);
    loop {
        let page = client
            .list_api_destinations()
            .set_name_prefix(prefix.map(String::from));
        let page = page
            .set_connection_arn(connection.map(String::from))
            .limit(limit);
        let page = page
            .set_next_token(token)
            .send()
            .await
            .expect("list destinations");
        assert!(page.api_destinations().len() <= usize::try_from(limit).expect("positive"));
        names.extend(
            page.api_destinations()
                .iter()
                .filter_map(|d| d.name().map(String::from)),
        );
        token = page.next_token().map(String::from);
        if token.is_none() {
            return names;
        }
    }
}

#[tokio::test]
async fn api_destinations_are_created_described_updated_and_listed() {
    let server = server().await;
    let client = sdk(&server);
    let first = create(&client, "first", Kind::ApiKey, api_key()).await;
    let second = create(&client, "second", Kind::Basic, basic()).await;
    let arn = create_destination(&client, "orders", &first).await;
    assert!(
        arn.starts_with(&format!("{ARN}api-destination/orders/")),
        "{arn}"
    );
    for name in ["audit-b", "audit-a", "audit-c"] {
        create_destination(&client, name, &second).await;
    }

    let orders = describe(&client, "orders").await;
    assert_eq!(orders.api_destination_arn(), Some(arn.as_str()));
    assert_eq!(orders.connection_arn(), Some(first.as_str()));
    assert_eq!(
        orders.invocation_endpoint(),
        Some("http://127.0.0.1:9/orders/*")
    );
    assert_eq!(orders.http_method(), Some(&Method::Post));
    assert_eq!(
        orders.invocation_rate_limit_per_second(),
        Some(300),
        "AWS's default"
    );

    let update = client
        .update_api_destination()
        .name("orders")
        .http_method(Method::Put);
    let update = update
        .invocation_rate_limit_per_second(5)
        .connection_arn(&second);
    update
        .description("to the second")
        .send()
        .await
        .expect("update");
    let orders = describe(&client, "orders").await;
    assert_eq!(orders.http_method(), Some(&Method::Put));
    assert_eq!(orders.invocation_rate_limit_per_second(), Some(5));
    assert_eq!(orders.connection_arn(), Some(second.as_str()));
    assert_eq!(orders.description(), Some("to the second"));
    assert_eq!(
        orders.invocation_endpoint(),
        Some("http://127.0.0.1:9/orders/*"),
        "kept"
    );

    let audits = ["audit-a", "audit-b", "audit-c"];
    assert_eq!(list_all(&client, Some("audit-"), None, 2).await, audits);
    assert_eq!(
        list_all(&client, None, None, 1).await,
        ["audit-a", "audit-b", "audit-c", "orders"]
    );
    assert!(
        list_all(&client, None, Some(&first), 10).await.is_empty(),
        "orders moved"
    );
    assert_eq!(
        list_all(&client, Some("o"), Some(&second), 10).await,
        ["orders"]
    );
}

#[tokio::test]
async fn bad_api_destinations_get_aws_errors() {
    let server = server().await;
    let client = sdk(&server);
    let connection = create(&client, "conn", Kind::ApiKey, api_key()).await;
    create_destination(&client, "orders", &connection).await;
    let with = |field: &str, value: serde_json::Value| {
        let mut body = json!({"Name": "new", "ConnectionArn": connection,
            "InvocationEndpoint": "https://api.example.com/", "HttpMethod": "POST"});
        body[field] = value;
        body
    };
    for body in [
        with("InvocationEndpoint", json!("not a url")),
        with("InvocationEndpoint", json!("ftp://api.example.com/")),
        with("HttpMethod", json!("TRACE")),
        with("InvocationRateLimitPerSecond", json!(0)),
        with("Name", json!("no spaces")),
        with(
            "ConnectionArn",
            json!("arn:aws:sqs:us-east-1:000000000000:queue"),
        ),
        with("Description", json!("d".repeat(513))),
    ] {
        assert_eq!(
            refused(&server, "CreateApiDestination", &body).await,
            "ValidationException",
            "{body}"
        );
    }
    let ghost = format!(
        "{ARN}connection/ghost/{}",
        connection.rsplit('/').next().expect("uuid")
    );
    let ghost = with("ConnectionArn", json!(ghost));
    let missing = refused(&server, "CreateApiDestination", &ghost).await;
    assert_eq!(
        missing, "ResourceNotFoundException",
        "the connection does not exist"
    );
    let nope = json!({"Name": "nope"});
    let missing = refused(&server, "UpdateApiDestination", &nope).await;
    assert_eq!(missing, "ResourceNotFoundException");
    let duplicate = with("Name", json!("orders"));
    let exists = refused(&server, "CreateApiDestination", &duplicate).await;
    assert_eq!(exists, "ResourceAlreadyExistsException");
    let limits = [json!({"Limit": 0}), json!({"NamePrefix": "a/b"})];
    for body in limits {
        assert_eq!(
            refused(&server, "ListApiDestinations", &body).await,
            "ValidationException"
        );
    }
    assert_eq!(
        describe(&client, "orders").await.http_method(),
        Some(&Method::Post),
        "unchanged"
    );
}

#[tokio::test]
async fn an_arn_without_its_id_is_called_incomplete_not_missing() {
    let server = server().await;
    let client = sdk(&server);
    let connection = create(&client, "sinkconn", Kind::ApiKey, api_key()).await;
    let destination = create_destination(&client, "sinkdest", &connection).await;

    let short = format!("{ARN}connection/sinkconn");
    let body = json!({"Name": "new", "ConnectionArn": short,
        "InvocationEndpoint": "https://api.example.com/", "HttpMethod": "POST"});
    let reply = server.aws("CreateApiDestination", &body.to_string()).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.aws_type(), "ValidationException", "{reply:?}");
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("incomplete") && message.contains("connection/NAME/ID"),
        "names the expected form: {message}"
    );
    assert!(!message.contains("does not exist"), "{message}");

    // The same for a target naming an API destination without its id.
    client
        .put_rule()
        .name("r")
        .event_pattern(r#"{"source":["s"]}"#)
        .send()
        .await
        .expect("put rule");
    let short = destination.rsplit_once('/').expect("an id").0;
    let put = json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": short}]});
    let reply = server.aws("PutTargets", &put.to_string()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let failed = &reply.json()["FailedEntries"][0];
    assert_eq!(failed["ErrorCode"], "ValidationException", "{reply:?}");
    let message = failed["ErrorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("incomplete") && message.contains("api-destination/NAME/ID"),
        "{message}"
    );
}

#[tokio::test]
async fn a_connection_in_use_cannot_be_deleted() {
    let server = server().await;
    let client = sdk(&server);
    let connection = create(&client, "conn", Kind::Basic, basic()).await;
    create_destination(&client, "orders", &connection).await;

    let in_use = client
        .delete_connection()
        .name("conn")
        .send()
        .await
        .expect_err("in use");
    let in_use = in_use.into_service_error();
    assert!(
        matches!(
            in_use,
            DeleteConnectionError::ConcurrentModificationException(_)
        ),
        "{in_use:?}"
    );
    describe(&client, "orders").await;

    client
        .delete_api_destination()
        .name("orders")
        .send()
        .await
        .expect("delete destination");
    let gone = client
        .describe_api_destination()
        .name("orders")
        .send()
        .await
        .expect_err("deleted");
    let gone = gone.into_service_error();
    assert!(
        matches!(
            gone,
            DescribeApiDestinationError::ResourceNotFoundException(_)
        ),
        "{gone:?}"
    );
    let again = client.delete_api_destination().name("orders").send().await;
    assert!(
        again.is_err(),
        "deleting a missing destination is ResourceNotFoundException"
    );

    let deleted = client
        .delete_connection()
        .name("conn")
        .send()
        .await
        .expect("unused now");
    assert_eq!(deleted.connection_arn(), Some(connection.as_str()));
    let before = deleted.connection_state();
    assert_eq!(
        before,
        Some(&ConnectionState::Authorized),
        "the state before deletion"
    );
    assert!(
        client
            .list_connections()
            .send()
            .await
            .expect("list")
            .connections()
            .is_empty()
    );
}
