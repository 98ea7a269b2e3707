//! The pure checks of one PutTargets entry.

use super::*;

#[test]
fn dead_letter_arns_name_local_queues() {
    assert_eq!(
        queue_name("arn:aws:sqs:us-east-1:000000000000:orders-dlq"),
        Some("orders-dlq")
    );
    assert_eq!(
        queue_name("arn:aws:sqs:eu-west-1:1:q_1.fifo"),
        Some("q_1.fifo")
    );
    assert_eq!(
        queue_name(&format!("arn:aws:sqs:r:a:{}", "q".repeat(80))).map(str::len),
        Some(80)
    );
    for bad in [
        "arn:aws:sqs:r:a:".to_string(),
        "arn:aws:sqs:r:a:.fifo".to_string(),
        "arn:aws:sqs:r:a:a.b".to_string(),
        "arn:aws:sqs:r:a:a:b".to_string(),
        "arn:aws:sns:r:a:topic".to_string(),
        "arn:aws:sqs:r:name".to_string(),
        format!("arn:aws:sqs:r:a:{}", "q".repeat(81)),
    ] {
        assert_eq!(queue_name(&bad), None, "{bad}");
    }
}

#[test]
fn retry_policy_bounds_and_defaults() {
    let policy = |attempts, age| {
        retry_policy(Some(RetryPolicyShape {
            maximum_retry_attempts: attempts,
            maximum_event_age_in_seconds: age,
        }))
    };
    assert_eq!(retry_policy(None).ok(), Some(RetryPolicy::default()));
    let set = policy(Some(0), Some(60)).ok().expect("in bounds");
    assert_eq!((set.max_attempts, set.max_age_secs), (0, 60));
    assert_eq!(
        policy(Some(3), None).ok().map(|p| p.max_age_secs),
        Some(86_400)
    );
    for (attempts, age) in [
        (Some(-1), None),
        (Some(186), None),
        (None, Some(59)),
        (None, Some(86_401)),
    ] {
        assert!(policy(attempts, age).is_err(), "{attempts:?} {age:?}");
    }
}

#[test]
fn http_parameters_follow_the_aws_patterns() {
    let params = |path: &[&str], header: (&str, &str), query: (&str, &str)| {
        http_parameters(Some(HttpParametersShape {
            path_parameter_values: Some(path.iter().map(|s| s.to_string()).collect()),
            header_parameters: Some(BTreeMap::from([(header.0.into(), header.1.into())])),
            query_string_parameters: Some(BTreeMap::from([(query.0.into(), query.1.into())])),
        }))
    };
    let good = params(&["a b"], ("X-Tenant", "acme corp"), ("q", "line\none"))
        .ok()
        .expect("valid");
    assert_eq!(good.path_values, ["a b"]);
    assert!(params(&["  "], ("X", "v"), ("q", "v")).is_err());
    assert!(params(&["a"], ("bad header", "v"), ("q", "v")).is_err());
    assert!(params(&["a"], ("X", "caf\u{e9}"), ("q", "v")).is_err());
    assert!(params(&["a"], ("X", "\t"), ("q", "v")).is_err());
    assert!(params(&["a"], ("X", "v"), ("q\n", "v")).is_err());
    assert!(params(&["a"], ("X", "v"), ("q", "\u{7}")).is_err());
    let dynamic = params(&["$.detail.region"], ("X-Id", "$.id"), ("q", "$.detail.q"));
    assert!(dynamic.is_ok(), "event paths are allowed");
    assert!(params(&["a"], ("X-Id", "$.[broken"), ("q", "v")).is_err());
}

#[test]
fn at_most_one_input_and_input_must_be_json() {
    let both = TargetShape {
        id: Some("t".into()),
        input: Some("{}".into()),
        input_path: Some("$.detail".into()),
        ..TargetShape::default()
    };
    // More than one is refused for the whole request, before input_spec runs.
    assert_eq!(
        request_error(&both).as_deref(),
        Some("Only one of Input, InputPath, or InputTransformer must be provided for target t.")
    );
    let mut bad_json = TargetShape {
        input: Some("{nope".into()),
        ..TargetShape::default()
    };
    assert!(input_spec(&mut bad_json).is_err());
    let mut undefined = TargetShape {
        input_transformer: Some(InputTransformerShape {
            input_paths_map: None,
            input_template: Some("<nope>".into()),
        }),
        ..TargetShape::default()
    };
    assert!(
        input_spec(&mut undefined).is_err(),
        "InputSpec::validate runs"
    );
    let mut constant = TargetShape {
        input: Some("\"hi\"".into()),
        ..TargetShape::default()
    };
    assert_eq!(
        input_spec(&mut constant).ok(),
        Some(InputSpec::Constant("\"hi\"".into()))
    );
    let mut none = TargetShape::default();
    assert_eq!(input_spec(&mut none).ok(), Some(InputSpec::Event));
}
