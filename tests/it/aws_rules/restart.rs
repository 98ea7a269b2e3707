//! Rules with their targets, and their changes, survive kill -9.

use aws_sdk_eventbridge::types::{DeadLetterConfig, RetryPolicy, RuleState, Target};

use super::{put_rule, target_ids, url_target};
use crate::support::Stop;
use crate::support::TestServer;
use crate::support::aws::sdk;

#[tokio::test]
async fn rules_and_targets_survive_kill_9() {
    let mut server = TestServer::start().await;
    let client = sdk(&server);
    client
        .create_event_bus()
        .name("orders")
        .send()
        .await
        .expect("create bus");
    put_rule(&client, "default", "kept").await;
    client
        .disable_rule()
        .name("kept")
        .send()
        .await
        .expect("disable");
    put_rule(&client, "default", "dropped").await;
    client
        .delete_rule()
        .name("dropped")
        .send()
        .await
        .expect("delete");
    put_rule(&client, "orders", "routed").await;
    let target = Target::builder()
        .id("hook")
        .arn("https://example.com/hooks/orders")
        .input(r#"{"fixed":true}"#)
        .dead_letter_config(
            DeadLetterConfig::builder()
                .arn("arn:aws:sqs:us-east-1:000000000000:orders-dlq")
                .build(),
        )
        .retry_policy(
            RetryPolicy::builder()
                .maximum_retry_attempts(3)
                .maximum_event_age_in_seconds(600)
                .build(),
        )
        .build()
        .expect("id and arn are set");
    let put = client
        .put_targets()
        .rule("routed")
        .event_bus_name("orders")
        .targets(target.clone());
    let put = put
        .targets(url_target("second", "http://127.0.0.1:9/x"))
        .send()
        .await;
    assert_eq!(put.expect("put targets").failed_entry_count(), 0);

    Stop::Kill9.apply(&mut server).await;
    server.restart().await;
    let client = sdk(&server);
    let rule = client
        .describe_rule()
        .name("kept")
        .send()
        .await
        .expect("kept survives");
    assert_eq!(rule.state(), Some(&RuleState::Disabled));
    assert!(
        client.describe_rule().name("dropped").send().await.is_err(),
        "deletion survives"
    );
    let listed = client
        .list_targets_by_rule()
        .rule("routed")
        .event_bus_name("orders")
        .send()
        .await;
    let listed = listed.expect("targets survive");
    assert_eq!(listed.targets().len(), 2);
    assert_eq!(listed.targets()[0], target, "every field as put");
    assert_eq!(
        target_ids(&client, "kept", None).await,
        Vec::<String>::new()
    );
}
