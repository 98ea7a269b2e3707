//! What the SDK hides: `__type` names, exact bodies, request-level limits.

use reqwest::StatusCode;
use serde_json::json;

use super::{PATTERN, RULE_ARN_PREFIX};
use crate::support::TestServer;

#[tokio::test]
async fn aws_error_types_and_shapes_on_the_wire() {
    let server = TestServer::start().await;
    let invalid = server
        .aws(
            "PutRule",
            &json!({"Name": "r", "EventPattern": "[1]"}).to_string(),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{invalid:?}");
    assert_eq!(invalid.aws_type(), "InvalidEventPatternException");

    let put = server
        .aws(
            "PutRule",
            &json!({"Name": "r", "EventPattern": PATTERN, "Tags": [{"Key": "k", "Value": "v"}]})
                .to_string(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    assert_eq!(
        put.json(),
        json!({ "RuleArn": format!("{RULE_ARN_PREFIX}r") })
    );
    let described = server.aws("DescribeRule", r#"{"Name":"r"}"#).await.json();
    assert_eq!(described["State"], "ENABLED");
    assert_eq!(described["CreatedBy"], "000000000000");
    assert!(described.get("Description").is_none(), "{described}");

    let missing = server.aws("EnableRule", r#"{"Name":"ghost"}"#).await;
    assert_eq!(missing.aws_type(), "ResourceNotFoundException");
    assert_eq!(
        missing.json()["message"],
        "Rule ghost does not exist on EventBus default."
    );
    let bad_state = server
        .aws(
            "PutRule",
            &json!({"Name": "r", "EventPattern": PATTERN, "State": "ON"}).to_string(),
        )
        .await;
    assert_eq!(bad_state.aws_type(), "ValidationException");

    let targets: Vec<_> = (0..6)
        .map(|i| json!({"Id": format!("t{i}"), "Arn": "http://127.0.0.1:9/hook"}))
        .collect();
    let over = server
        .aws(
            "PutTargets",
            &json!({"Rule": "r", "Targets": targets}).to_string(),
        )
        .await;
    assert_eq!(over.aws_type(), "LimitExceededException", "{over:?}");
    let eleven: Vec<_> = (0..11)
        .map(|i| json!({"Id": format!("t{i}"), "Arn": "http://h/"}))
        .collect();
    let too_many = server
        .aws(
            "PutTargets",
            &json!({"Rule": "r", "Targets": eleven}).to_string(),
        )
        .await;
    assert_eq!(too_many.aws_type(), "ValidationException", "{too_many:?}");
    let listed = server
        .aws("ListTargetsByRule", r#"{"Rule":"r"}"#)
        .await
        .json();
    assert_eq!(listed, json!({ "Targets": [] }), "nothing stored");
}
