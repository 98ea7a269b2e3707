//! PutTargets, ListTargetsByRule, RemoveTargets, and DeleteRule while targets remain.

use std::collections::HashMap;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::operation::put_targets::PutTargetsError;
use aws_sdk_eventbridge::types::{
    DeadLetterConfig, HttpParameters, InputTransformer, RetryPolicy, SqsParameters, Target,
};

use super::rules::code;
use super::{put_rule, target_ids, url_target};
use crate::support::TestServer;
use crate::support::aws::sdk;

const DLQ: &str = "arn:aws:sqs:us-east-1:000000000000:orders-dlq";

#[tokio::test]
async fn put_targets_stores_every_supported_field_and_lists_it_back() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    put_rule(&client, "default", "r").await;
    let full = Target::builder()
        .id("full")
        .arn("https://hooks.example.com/orders/*")
        .role_arn("arn:aws:iam::000000000000:role/invoke")
        .input_transformer(
            InputTransformer::builder()
                .input_paths_map("id", "$.detail.id")
                .input_template(r#"{"order": <id>}"#)
                .build()
                .expect("template is set"),
        )
        .http_parameters(
            HttpParameters::builder()
                .path_parameter_values("eu")
                .header_parameters("X-Tenant", "acme")
                .query_string_parameters("v", "2")
                .build(),
        )
        .dead_letter_config(DeadLetterConfig::builder().arn(DLQ).build())
        .retry_policy(
            RetryPolicy::builder()
                .maximum_retry_attempts(0)
                .maximum_event_age_in_seconds(60)
                .build(),
        )
        .build()
        .expect("id and arn are set");
    let constant = Target::builder()
        .id("constant")
        .arn("http://127.0.0.1:9/constant")
        .input(r#"{"fixed":[1,2]}"#);
    let path = Target::builder()
        .id("path")
        .arn("http://127.0.0.1:9/path")
        .input_path("$.detail");
    let put = client
        .put_targets()
        .rule("r")
        .targets(full.clone())
        .targets(constant.clone().build().expect("id and arn are set"))
        .targets(path.clone().build().expect("id and arn are set"))
        .send()
        .await
        .expect("put targets");
    assert_eq!(put.failed_entry_count(), 0, "{put:?}");

    let listed = client
        .list_targets_by_rule()
        .rule("r")
        .send()
        .await
        .expect("list");
    let default_retry = RetryPolicy::builder()
        .maximum_retry_attempts(185)
        .maximum_event_age_in_seconds(86_400)
        .build();
    // Targets without a RetryPolicy list AWS's defaults.
    let expected = [
        full,
        constant
            .retry_policy(default_retry.clone())
            .build()
            .expect("complete"),
        path.retry_policy(default_retry).build().expect("complete"),
    ];
    assert_eq!(listed.targets(), expected.as_slice());
    assert_eq!(listed.next_token(), None);

    // Putting an existing Id replaces that target in place.
    let replaced = url_target("constant", "https://elsewhere.example.com/");
    client
        .put_targets()
        .rule("r")
        .targets(replaced)
        .send()
        .await
        .expect("replace");
    let listed = client
        .list_targets_by_rule()
        .rule("r")
        .send()
        .await
        .expect("list");
    let arns: Vec<&str> = listed.targets().iter().map(|t| t.arn()).collect();
    assert_eq!(
        arns,
        [
            "https://hooks.example.com/orders/*",
            "https://elsewhere.example.com/",
            "http://127.0.0.1:9/path"
        ]
    );
    assert_eq!(
        listed.targets()[1].input(),
        None,
        "a replaced target keeps nothing of the old one"
    );
}

#[tokio::test]
async fn put_targets_reports_bad_entries_one_by_one_and_stores_the_good_ones() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    put_rule(&client, "default", "r").await;
    let builder = |id: &str, arn: &str| Target::builder().id(id).arn(arn);
    let entries = [
        builder("good", "https://example.com/hook"),
        builder("lambda", "arn:aws:lambda:us-east-1:000000000000:function:f"),
        builder(
            "no-dest",
            "arn:aws:events:us-east-1:000000000000:api-destination/nope/0f0f",
        ),
        builder("bad id", "https://example.com/"),
        builder("bad-json", "https://example.com/").input("{nope"),
        builder("sqs-params", "https://example.com/")
            .sqs_parameters(SqsParameters::builder().message_group_id("g").build()),
        builder("bad-dlq", "https://example.com/").dead_letter_config(
            DeadLetterConfig::builder()
                .arn("arn:aws:sns:us-east-1:0:topic")
                .build(),
        ),
        builder("bad-retry", "https://example.com/")
            .retry_policy(RetryPolicy::builder().maximum_retry_attempts(186).build()),
        builder("bad-url", "http://"),
    ];
    let put = client
        .put_targets()
        .rule("r")
        .set_targets(Some(
            entries
                .into_iter()
                .map(|b| b.build().expect("id and arn"))
                .collect(),
        ))
        .send()
        .await
        .expect("per-entry failures are not a request failure");
    assert_eq!(put.failed_entry_count(), 8, "{put:?}");
    let failures: HashMap<&str, (&str, &str)> = put
        .failed_entries()
        .iter()
        .map(|f| {
            let id = f.target_id().expect("failed entries name their target");
            (
                id,
                (
                    f.error_code().unwrap_or(""),
                    f.error_message().unwrap_or(""),
                ),
            )
        })
        .collect();
    let expect = |id: &str, error_code: &str, mentions: &str| {
        let (code, message) = failures
            .get(id)
            .unwrap_or_else(|| panic!("{id} not refused: {put:?}"));
        assert_eq!(*code, error_code, "{id}: {message}");
        assert!(
            message.contains(mentions),
            "{id}: {message:?} should mention {mentions:?}"
        );
    };
    expect("lambda", "ValidationException", "only to API destinations");
    expect("no-dest", "ResourceNotFoundException", "does not exist");
    expect("bad id", "ValidationException", "regular expression");
    expect(
        "bad-json",
        "ValidationException",
        "Input must be valid JSON",
    );
    expect("sqs-params", "ValidationException", "SqsParameters");
    expect("bad-dlq", "ValidationException", "arn:aws:sqs:");
    expect("bad-retry", "ValidationException", "MaximumRetryAttempts");
    expect("bad-url", "ValidationException", "not a valid http(s) URL");
    assert_eq!(target_ids(&client, "r", None).await, ["good"]);

    // Templates are checked as delivery will render them.
    let as_key = InputTransformer::builder()
        .input_paths_map("k", "$.detail.k")
        .input_template(r#"{<k>: 1}"#)
        .build();
    let as_key = builder("template", "https://example.com/")
        .input_transformer(as_key.expect("template is set"))
        .build()
        .expect("id and arn");
    let put = client.put_targets().rule("r").targets(as_key).send().await;
    let put = put.expect("per-entry failure");
    assert_eq!(put.failed_entry_count(), 1, "{put:?}");
    let message = put.failed_entries()[0].error_message().unwrap_or("");
    assert!(message.contains("<k>"), "{message}");
}

/// The whole request fails with AWS's messages (localstack
/// `test_events_inputs.snapshot.json`, recorded against AWS): HTTP 400, and
/// not even the valid entries beside the bad one are stored.
#[tokio::test]
async fn conflicting_inputs_or_an_undefined_placeholder_fail_the_whole_request() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    put_rule(&client, "default", "r").await;
    let good = url_target("good", "https://example.com/hook");
    let two_inputs = Target::builder()
        .id("two-inputs")
        .arn("https://example.com/")
        .input_path("$.detail")
        .input_transformer(
            InputTransformer::builder()
                .input_paths_map("command", "$.detail.command")
                .input_template("<command>")
                .build()
                .expect("template is set"),
        )
        .build()
        .expect("id and arn");
    let undefined = Target::builder()
        .id("undefined")
        .arn("https://example.com/")
        .input_transformer(
            InputTransformer::builder()
                .input_paths_map("detail-type", "$.detail-type")
                .input_template(
                    r#""Event of <detail-type> at <aws.events.event.ingestion-time>, with not defined key <notdefinedkey>""#,
                )
                .build()
                .expect("template is set"),
        )
        .build()
        .expect("id and arn");
    for (bad, message) in [
        (
            two_inputs,
            "Only one of Input, InputPath, or InputTransformer must be provided for target two-inputs.",
        ),
        (
            undefined,
            "InputTemplate for target undefined contains invalid placeholder notdefinedkey.",
        ),
    ] {
        let error = client
            .put_targets()
            .rule("r")
            .targets(good.clone())
            .targets(bad)
            .send()
            .await
            .expect_err("a request-level ValidationException");
        assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
        assert_eq!(error.code(), Some("ValidationException"), "{error:?}");
        assert_eq!(error.message(), Some(message), "{error:?}");
        assert!(
            target_ids(&client, "r", None).await.is_empty(),
            "nothing stored"
        );
    }

    // The same over the wire, and Input with InputPath is refused alike.
    let body = serde_json::json!({
        "Rule": "r",
        "Targets": [{"Id": "t", "Arn": "https://example.com/", "Input": "{}", "InputPath": "$.detail"}],
    });
    let reply = server.aws("PutTargets", &body.to_string()).await;
    assert_eq!(reply.status, reqwest::StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.aws_type(), "ValidationException", "{reply:?}");
    assert_eq!(
        reply.json()["message"],
        "Only one of Input, InputPath, or InputTransformer must be provided for target t.",
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_rule_has_at_most_five_targets_and_lists_them_in_pages() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    put_rule(&client, "default", "r").await;
    let put = |ids: &[&str]| {
        let targets = ids
            .iter()
            .map(|id| url_target(id, "http://127.0.0.1:9/"))
            .collect();
        client
            .put_targets()
            .rule("r")
            .set_targets(Some(targets))
            .send()
    };
    put(&["t1", "t2", "t3", "t4"]).await.expect("four targets");
    let error = put(&["t5", "t6"])
        .await
        .expect_err("six targets")
        .into_service_error();
    assert!(
        matches!(error, PutTargetsError::LimitExceededException(_)),
        "{error:?}"
    );
    assert_eq!(
        target_ids(&client, "r", None).await,
        ["t1", "t2", "t3", "t4"],
        "nothing stored"
    );
    // Replacing existing ids does not count against the limit.
    put(&["t1", "t5", "t2"])
        .await
        .expect("one new, two replaced");
    let all = ["t1", "t2", "t3", "t4", "t5"];
    for limit in [None, Some(2), Some(1), Some(5)] {
        assert_eq!(
            target_ids(&client, "r", limit).await,
            all,
            "limit {limit:?}"
        );
    }
    let error = client
        .list_targets_by_rule()
        .rule("r")
        .limit(0)
        .send()
        .await;
    assert_eq!(code(error).as_deref(), Some("ValidationException"));
}

#[tokio::test]
async fn delete_rule_is_refused_while_targets_remain_even_with_force() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    put_rule(&client, "default", "r").await;
    let two = vec![
        url_target("a", "http://127.0.0.1:9/"),
        url_target("b", "http://127.0.0.1:9/"),
    ];
    client
        .put_targets()
        .rule("r")
        .set_targets(Some(two))
        .send()
        .await
        .expect("put targets");

    let refused = client
        .delete_rule()
        .name("r")
        .send()
        .await
        .expect_err("has targets");
    let refused = refused.into_service_error();
    assert_eq!(refused.code(), Some("ValidationException"));
    assert_eq!(
        refused.message(),
        Some("Rule can't be deleted since it has targets.")
    );

    let removed = client
        .remove_targets()
        .rule("r")
        .ids("a")
        .ids("ghost")
        .send()
        .await;
    let removed = removed.expect("remove targets");
    assert_eq!(removed.failed_entry_count(), 1, "{removed:?}");
    assert_eq!(removed.failed_entries()[0].target_id(), Some("ghost"));
    assert!(
        client.delete_rule().name("r").send().await.is_err(),
        "b remains"
    );
    client
        .remove_targets()
        .rule("r")
        .ids("b")
        .force(true)
        .send()
        .await
        .expect("remove b");
    client
        .delete_rule()
        .name("r")
        .send()
        .await
        .expect("no targets left");

    put_rule(&client, "default", "forced").await;
    let one = url_target("a", "http://127.0.0.1:9/");
    client
        .put_targets()
        .rule("forced")
        .targets(one)
        .send()
        .await
        .expect("put target");
    // AWS: `Force` concerns rules managed by an AWS service; a customer rule
    // with targets is refused all the same.
    let forced = client
        .delete_rule()
        .name("forced")
        .force(true)
        .send()
        .await
        .expect_err("Force does not delete a customer rule with targets");
    let forced = forced.into_service_error();
    assert_eq!(forced.code(), Some("ValidationException"));
    assert_eq!(
        forced.message(),
        Some("Rule can't be deleted since it has targets.")
    );
    let kept = client
        .list_targets_by_rule()
        .rule("forced")
        .send()
        .await
        .expect("the rule is still there");
    assert_eq!(kept.targets().len(), 1, "its target is kept");
}

#[tokio::test]
async fn target_operations_need_an_existing_rule_and_bus() {
    let server = TestServer::start().await;
    let client = sdk(&server);
    let target = url_target("a", "http://127.0.0.1:9/");
    for bus in ["default", "no-such-bus"] {
        let codes = [
            code(
                client
                    .put_targets()
                    .rule("ghost")
                    .event_bus_name(bus)
                    .targets(target.clone())
                    .send()
                    .await,
            ),
            code(
                client
                    .list_targets_by_rule()
                    .rule("ghost")
                    .event_bus_name(bus)
                    .send()
                    .await,
            ),
            code(
                client
                    .remove_targets()
                    .rule("ghost")
                    .event_bus_name(bus)
                    .ids("a")
                    .send()
                    .await,
            ),
        ];
        for code in codes {
            assert_eq!(
                code.as_deref(),
                Some("ResourceNotFoundException"),
                "bus {bus}"
            );
        }
    }
    put_rule(&client, "default", "r").await;
    let bad_id = client.remove_targets().rule("r").ids("bad/id").send().await;
    assert_eq!(code(bad_id).as_deref(), Some("ValidationException"));
    let no_targets = client.put_targets().rule("r").send().await;
    assert_eq!(code(no_targets).as_deref(), Some("ValidationException"));
}
