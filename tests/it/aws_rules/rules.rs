//! PutRule, DescribeRule, ListRules, DeleteRule, EnableRule, DisableRule.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleError;
use aws_sdk_eventbridge::operation::put_rule::PutRuleError;
use aws_sdk_eventbridge::types::RuleState;

use super::{PATTERN, RULE_ARN_PREFIX, put_rule};
use crate::support::TestServer;
use crate::support::aws::sdk;

#[tokio::test]
async fn rule_lifecycle_put_describe_disable_enable_update_delete() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let arn = client
        .put_rule()
        .name("orders-created")
        .event_pattern(PATTERN)
        .description("new orders")
        .send()
        .await
        .expect("put rule")
        .rule_arn()
        .map(String::from);
    assert_eq!(arn, Some(format!("{RULE_ARN_PREFIX}orders-created")));

    let rule = client
        .describe_rule()
        .name("orders-created")
        .send()
        .await
        .expect("describe rule");
    assert_eq!(rule.name(), Some("orders-created"));
    assert_eq!(rule.arn(), arn.as_deref());
    assert_eq!(rule.event_pattern(), Some(PATTERN));
    assert_eq!(rule.state(), Some(&RuleState::Enabled));
    assert_eq!(rule.description(), Some("new orders"));
    assert_eq!(rule.event_bus_name(), Some("default"));
    assert_eq!(rule.created_by(), Some("000000000000"));

    for (disable, expected) in [(true, RuleState::Disabled), (false, RuleState::Enabled)] {
        if disable {
            client
                .disable_rule()
                .name("orders-created")
                .send()
                .await
                .expect("disable");
        } else {
            client
                .enable_rule()
                .name("orders-created")
                .send()
                .await
                .expect("enable");
        }
        let rule = client
            .describe_rule()
            .name("orders-created")
            .send()
            .await
            .expect("describe");
        assert_eq!(rule.state(), Some(&expected));
    }

    // PutRule on an existing rule replaces it; omitted fields are cleared.
    client
        .put_rule()
        .name("orders-created")
        .event_pattern(r#"{"detail-type":["Created"]}"#)
        .state(RuleState::Disabled)
        .role_arn("arn:aws:iam::000000000000:role/events")
        .send()
        .await
        .expect("update rule");
    let rule = client
        .describe_rule()
        .name("orders-created")
        .send()
        .await
        .expect("describe");
    assert_eq!(rule.event_pattern(), Some(r#"{"detail-type":["Created"]}"#));
    assert_eq!(rule.state(), Some(&RuleState::Disabled));
    assert_eq!(rule.description(), None);
    assert_eq!(
        rule.role_arn(),
        Some("arn:aws:iam::000000000000:role/events")
    );

    // A custom bus, named by its ARN; the CloudTrail state means enabled here.
    client
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus");
    let on_bus = client
        .put_rule()
        .name("audit")
        .event_bus_name("arn:aws:events:us-east-1:000000000000:event-bus/orders")
        .event_pattern(PATTERN)
        .state(RuleState::EnabledWithAllCloudtrailManagementEvents)
        .send()
        .await
        .expect("put rule on a custom bus");
    assert_eq!(
        on_bus.rule_arn(),
        Some(format!("{RULE_ARN_PREFIX}orders/audit").as_str())
    );
    let rule = client
        .describe_rule()
        .name("audit")
        .event_bus_name("orders")
        .send()
        .await;
    let rule = rule.expect("describe on the custom bus");
    assert_eq!(rule.event_bus_name(), Some("orders"));
    assert_eq!(rule.state(), Some(&RuleState::Enabled));
    let elsewhere = client.describe_rule().name("audit").send().await;
    assert!(elsewhere.is_err(), "rules belong to one bus");

    client
        .delete_rule()
        .name("orders-created")
        .send()
        .await
        .expect("delete");
    let gone = client.describe_rule().name("orders-created").send().await;
    let gone = gone.expect_err("deleted").into_service_error();
    assert!(
        matches!(gone, DescribeRuleError::ResourceNotFoundException(_)),
        "{gone:?}"
    );
    client
        .delete_rule()
        .name("orders-created")
        .send()
        .await
        .expect("deleting a missing rule succeeds, as in AWS");
}

#[tokio::test]
async fn put_rule_refuses_bad_names_unknown_buses_schedules_and_invalid_patterns() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let refused = |name: &str, bus: Option<&str>, pattern: Option<&str>, schedule: Option<&str>| {
        client
            .put_rule()
            .name(name)
            .set_event_bus_name(bus.map(String::from))
            .set_event_pattern(pattern.map(String::from))
            .set_schedule_expression(schedule.map(String::from))
            .send()
    };
    for name in ["bad/name", "has space", "x".repeat(65).as_str(), ""] {
        let error = refused(name, None, Some(PATTERN), None).await;
        let error = error.expect_err("bad name").into_service_error();
        assert_eq!(
            error.code(),
            Some("ValidationException"),
            "{name:?}: {error:?}"
        );
    }
    let error = refused("r", Some("no-such-bus"), Some(PATTERN), None).await;
    let error = error.expect_err("unknown bus").into_service_error();
    assert!(
        matches!(error, PutRuleError::ResourceNotFoundException(_)),
        "{error:?}"
    );
    assert!(
        error.message().is_some_and(|m| m.contains("no-such-bus")),
        "{error:?}"
    );

    let error = refused("r", None, None, Some("rate(5 minutes)")).await;
    let error = error.expect_err("schedule").into_service_error();
    assert_eq!(error.code(), Some("ValidationException"));
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("not supported by Stowage")),
        "{error:?}"
    );
    let error = refused("r", None, None, None)
        .await
        .expect_err("no pattern");
    assert_eq!(
        error.into_service_error().code(),
        Some("ValidationException")
    );

    for pattern in [
        r#"{"source":"not-an-array"}"#,
        "{not json",
        r#"{"a":[{"nope":1}]}"#,
    ] {
        let error = refused("r", None, Some(pattern), None).await;
        let error = error.expect_err("invalid pattern").into_service_error();
        assert!(
            matches!(error, PutRuleError::InvalidEventPatternException(_)),
            "{error:?}"
        );
        assert!(
            error
                .message()
                .is_some_and(|m| m.starts_with("Event pattern is not valid.")),
            "{error:?}"
        );
    }
    let listed = client.list_rules().send().await.expect("list rules");
    assert!(listed.rules().is_empty(), "nothing was stored: {listed:?}");
}

#[tokio::test]
async fn missing_rules_are_resource_not_found_but_deleting_one_succeeds() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let codes = [
        code(client.describe_rule().name("ghost").send().await),
        code(client.enable_rule().name("ghost").send().await),
        code(client.disable_rule().name("ghost").send().await),
        code(
            client
                .delete_rule()
                .name("ghost")
                .event_bus_name("no-bus")
                .send()
                .await,
        ),
        code(client.list_rules().event_bus_name("no-bus").send().await),
    ];
    for code in codes {
        assert_eq!(code.as_deref(), Some("ResourceNotFoundException"));
    }
    client
        .delete_rule()
        .name("ghost")
        .send()
        .await
        .expect("a missing rule is deleted already");
}

/// The AWS error code of a failed call; `None` if it succeeded.
pub(super) fn code<T, E: ProvideErrorMetadata, R>(
    result: Result<T, SdkError<E, R>>,
) -> Option<String> {
    result.err().and_then(|e| e.code().map(String::from))
}

/// Every rule name on the default bus, following `NextToken` with page size `limit`.
async fn list_all(client: &Client, prefix: Option<&str>, limit: Option<i32>) -> Vec<String> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _page in 0..50 {
        let page = client
            .list_rules()
            .set_name_prefix(prefix.map(String::from))
            .set_limit(limit)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("list rules");
        if let Some(limit) = limit {
            assert!(page.rules().len() <= usize::try_from(limit).expect("positive"));
        }
        for rule in page.rules() {
            let name = rule.name().expect("a listed rule has a name");
            assert_eq!(
                rule.arn(),
                Some(format!("{RULE_ARN_PREFIX}{name}").as_str())
            );
            assert_eq!(rule.event_pattern(), Some(PATTERN));
            assert_eq!(rule.event_bus_name(), Some("default"));
            names.push(name.to_string());
        }
        token = page.next_token().map(String::from);
        if token.is_none() {
            return names;
        }
    }
    panic!("ListRules kept returning NextToken");
}

#[tokio::test]
async fn list_rules_pages_with_limit_and_next_token_and_filters_by_prefix() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    for name in ["r-c", "r-a", "other", "r-e", "r-b", "r-d"] {
        put_rule(&client, "default", name).await;
    }
    client
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus");
    put_rule(&client, "orders", "r-elsewhere").await;

    let everything = ["other", "r-a", "r-b", "r-c", "r-d", "r-e"];
    for limit in [None, Some(2), Some(1)] {
        assert_eq!(
            list_all(&client, None, limit).await,
            everything,
            "limit {limit:?}"
        );
    }
    let with_prefix = ["r-a", "r-b", "r-c", "r-d", "r-e"];
    assert_eq!(list_all(&client, Some("r-"), Some(2)).await, with_prefix);
    assert!(list_all(&client, Some("zzz"), None).await.is_empty());
    let on_bus = client
        .list_rules()
        .event_bus_name("orders")
        .send()
        .await
        .expect("list");
    let names: Vec<_> = on_bus.rules().iter().filter_map(|r| r.name()).collect();
    assert_eq!(names, ["r-elsewhere"]);

    for limit in [0, 101] {
        let error = client
            .list_rules()
            .limit(limit)
            .send()
            .await
            .expect_err("limit out of range");
        assert_eq!(
            error.into_service_error().code(),
            Some("ValidationException"),
            "{limit}"
        );
    }
}
