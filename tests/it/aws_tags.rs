//! TagResource, UntagResource and ListTagsForResource through the AWS SDK for
//! Rust (and raw JSON for the errors): buses, rules, connections and API
//! destinations; `Tags` on CreateEventBus and PutRule; AWS's limits and errors;
//! tags surviving a restart and going with their resource. Also: an unknown
//! operation's message names the closest supported one.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::{
    ApiDestinationHttpMethod, ConnectionAuthorizationType,
    CreateConnectionApiKeyAuthRequestParameters, CreateConnectionAuthRequestParameters, Tag,
};
use serde_json::{Value, json};

use crate::support::aws::sdk;
use crate::support::{Stop, TestServer};

const ARN: &str = "arn:aws:events:us-east-1:000000000000:";

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

async fn tags_of(client: &Client, arn: &str) -> Vec<(String, String)> {
    client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list tags of {arn}: {e:?}"))
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `(__type, message)` of a raw call that must fail with 400.
async fn refused(server: &TestServer, operation: &str, body: &Value) -> (String, String) {
    let reply = server.aws(operation, &body.to_string()).await;
    assert_eq!(reply.status, 400, "{operation} {body}: {reply:?}");
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (reply.aws_type(), message)
}

/// A bus, a rule on it, a connection and an API destination; their ARNs.
async fn resources(client: &Client) -> [String; 5] {
    let bus = client
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus")
        .event_bus_arn()
        .expect("an ARN")
        .to_string();
    let rule = client
        .put_rule()
        .name("r")
        .event_bus_name("orders")
        .event_pattern(r#"{"source":["s"]}"#)
        .send()
        .await
        .expect("put rule")
        .rule_arn()
        .expect("an ARN")
        .to_string();
    let auth = CreateConnectionAuthRequestParameters::builder()
        .api_key_auth_parameters(
            CreateConnectionApiKeyAuthRequestParameters::builder()
                .api_key_name("x-api-key")
                .api_key_value("secret")
                .build()
                .expect("complete"),
        )
        .build();
    let connection = client
        .create_connection()
        .name("conn")
        .authorization_type(ConnectionAuthorizationType::ApiKey)
        .auth_parameters(auth)
        .send()
        .await
        .expect("create connection")
        .connection_arn()
        .expect("an ARN")
        .to_string();
    let destination = client
        .create_api_destination()
        .name("dest")
        .connection_arn(&connection)
        .invocation_endpoint("http://127.0.0.1:9/")
        .http_method(ApiDestinationHttpMethod::Post)
        .send()
        .await
        .expect("create destination")
        .api_destination_arn()
        .expect("an ARN")
        .to_string();
    [
        format!("{ARN}event-bus/default"),
        bus,
        rule,
        connection,
        destination,
    ]
}

#[tokio::test]
async fn every_resource_is_tagged_untagged_and_listed_across_a_restart() {
    let mut server = TestServer::start().await;
    let client = sdk(&server);
    let arns = resources(&client).await;
    for arn in &arns {
        assert!(tags_of(&client, arn).await.is_empty(), "{arn}");
        client
            .tag_resource()
            .resource_arn(arn)
            .tags(tag("team", "payments"))
            .tags(tag("env", "prod"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("tag {arn}: {e:?}"));
        client
            .tag_resource()
            .resource_arn(arn)
            .tags(tag("env", "staging"))
            .tags(tag("empty", ""))
            .send()
            .await
            .expect("tag again");
        client
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("team")
            .tag_keys("never-set")
            .send()
            .await
            .expect("untag, an absent key included");
    }

    Stop::Graceful.apply(&mut server).await;
    server.restart().await;
    let client = sdk(&server);
    for arn in &arns {
        assert_eq!(
            tags_of(&client, arn).await,
            pairs(&[("env", "staging"), ("empty", "")]),
            "{arn} after a restart"
        );
    }
}

#[tokio::test]
async fn tags_given_at_creation_are_kept_and_go_with_their_resource() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let bus = client
        .create_event_bus()
        .name("tagged")
        .tags(tag("a", "1"))
        .send()
        .await
        .expect("create bus with tags");
    let bus = bus.event_bus_arn().expect("an ARN").to_string();
    let put = |name: &'static str, tags: Vec<Tag>| {
        client
            .put_rule()
            .name(name)
            .event_bus_name("tagged")
            .event_pattern(r#"{"source":["s"]}"#)
            .set_tags(Some(tags))
            .send()
    };
    let rule = put("r", vec![tag("b", "2")])
        .await
        .expect("put rule with tags");
    let rule = rule.rule_arn().expect("an ARN").to_string();
    assert_eq!(rule, format!("{ARN}rule/tagged/r"));
    assert_eq!(tags_of(&client, &bus).await, pairs(&[("a", "1")]));
    assert_eq!(tags_of(&client, &rule).await, pairs(&[("b", "2")]));
    // PutRule on an existing rule adds to its tags.
    put("r", vec![tag("c", "3")]).await.expect("update rule");
    assert_eq!(
        tags_of(&client, &rule).await,
        pairs(&[("b", "2"), ("c", "3")])
    );

    client
        .delete_rule()
        .name("r")
        .event_bus_name("tagged")
        .send()
        .await
        .expect("delete rule");
    client
        .delete_event_bus()
        .name("tagged")
        .send()
        .await
        .expect("delete bus");
    let (kind, message) =
        refused(&server, "ListTagsForResource", &json!({"ResourceARN": bus})).await;
    assert_eq!(kind, "ResourceNotFoundException");
    assert_eq!(message, "Event bus tagged does not exist.");

    // Created again without tags: none come back.
    client
        .create_event_bus()
        .name("tagged")
        .send()
        .await
        .expect("create bus again");
    put("r", Vec::new()).await.expect("put rule again");
    assert!(tags_of(&client, &bus).await.is_empty());
    assert!(tags_of(&client, &rule).await.is_empty());
}

#[tokio::test]
async fn bad_tag_requests_get_aws_errors_and_change_nothing() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let [_, bus, rule, connection, _] = resources(&client).await;
    client
        .tag_resource()
        .resource_arn(&rule)
        .tags(tag("keep", "me"))
        .send()
        .await
        .expect("tag");

    let with_tags = |tags: Value| json!({"ResourceARN": rule, "Tags": tags});
    let fifty: Vec<Value> = (0..50)
        .map(|i| json!({"Key": format!("k{i}"), "Value": ""}))
        .collect();
    for (body, why) in [
        (
            with_tags(json!([{"Key": "", "Value": "v"}])),
            "an empty key",
        ),
        (
            with_tags(json!([{"Key": "k".repeat(129), "Value": "v"}])),
            "a 129-character key",
        ),
        (
            with_tags(json!([{"Key": "k", "Value": "v".repeat(257)}])),
            "a 257-character value",
        ),
        (
            with_tags(json!([{"Key": "aws:owner", "Value": "v"}])),
            "the reserved prefix",
        ),
        (with_tags(json!(fifty)), "a 51st tag"),
        (json!({"ResourceARN": rule}), "no Tags"),
        (json!({"Tags": []}), "no ResourceARN"),
        (
            json!({"ResourceARN": format!("{ARN}archive/a"), "Tags": []}),
            "an unsupported resource type",
        ),
        (
            json!({"ResourceARN": "arn:aws:events:eu-west-1:000000000000:rule/r", "Tags": []}),
            "another region",
        ),
        (
            json!({"ResourceARN": format!("{ARN}connection/conn"), "Tags": []}),
            "a connection ARN without its id",
        ),
    ] {
        let (kind, message) = refused(&server, "TagResource", &body).await;
        assert_eq!(kind, "ValidationException", "{why}: {message}");
    }
    assert_eq!(tags_of(&client, &rule).await, pairs(&[("keep", "me")]));

    let missing = [
        (
            format!("{ARN}rule/orders/ghost"),
            "Rule ghost does not exist on EventBus orders.",
        ),
        (
            format!("{ARN}rule/ghost"),
            "Rule ghost does not exist on EventBus default.",
        ),
        (
            format!("{ARN}event-bus/ghost"),
            "Event bus ghost does not exist.",
        ),
        (
            format!("{ARN}rule/ghost-bus/r"),
            "Event bus ghost-bus does not exist.",
        ),
        (
            format!("{ARN}connection/conn/not-its-id"),
            "Connection 'conn' does not exist.",
        ),
    ];
    for (arn, expected) in missing {
        for (operation, body) in [
            (
                "TagResource",
                json!({"ResourceARN": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
            ),
            (
                "UntagResource",
                json!({"ResourceARN": arn, "TagKeys": ["k"]}),
            ),
            ("ListTagsForResource", json!({"ResourceARN": arn})),
        ] {
            let (kind, message) = refused(&server, operation, &body).await;
            assert_eq!(kind, "ResourceNotFoundException", "{operation} {arn}");
            assert_eq!(message, expected, "{operation} {arn}");
        }
    }
    assert!(tags_of(&client, &bus).await.is_empty());
    assert!(tags_of(&client, &connection).await.is_empty());

    // Tags on creation are checked before anything is created.
    let bad = json!({"Name": "new-bus", "Tags": [{"Key": "aws:x", "Value": "v"}]});
    let (kind, _) = refused(&server, "CreateEventBus", &bad).await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = refused(&server, "DescribeEventBus", &json!({"Name": "new-bus"})).await;
    assert_eq!(kind, "ResourceNotFoundException", "the bus was not created");
    let bad = json!({"Name": "new-rule", "EventPattern": r#"{"source":["s"]}"#,
        "Tags": [{"Key": "k", "Value": "v".repeat(257)}]});
    let (kind, _) = refused(&server, "PutRule", &bad).await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = refused(&server, "DescribeRule", &json!({"Name": "new-rule"})).await;
    assert_eq!(
        kind, "ResourceNotFoundException",
        "the rule was not created"
    );
}

#[tokio::test]
async fn a_connection_and_destination_take_their_tags_with_them() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let [_, _, _, connection, destination] = resources(&client).await;
    for arn in [&connection, &destination] {
        client
            .tag_resource()
            .resource_arn(arn)
            .tags(tag("k", "v"))
            .send()
            .await
            .expect("tag");
    }
    client
        .delete_api_destination()
        .name("dest")
        .send()
        .await
        .expect("delete destination");
    client
        .delete_connection()
        .name("conn")
        .send()
        .await
        .expect("delete connection");
    for arn in [&connection, &destination] {
        let (kind, _) = refused(&server, "ListTagsForResource", &json!({"ResourceARN": arn})).await;
        assert_eq!(kind, "ResourceNotFoundException", "{arn}");
    }
}

#[tokio::test]
async fn an_unknown_operation_names_the_closest_supported_one() {
    let server = TestServer::start().await;
    let reply = server.aws("PutRules", "{}").await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.aws_type(), "UnknownOperationException");
    assert_eq!(
        reply.json()["message"],
        "operation PutRules is not supported; did you mean PutRule?"
    );
    let reply = server.aws("ActivateEventSource", "{}").await;
    assert_eq!(
        reply.json()["message"],
        "operation ActivateEventSource is not supported"
    );
}
