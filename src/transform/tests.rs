//! Tests for input transformation. Sources, as in docs/delivery.md:
//! [EB-transform] EventBridge User Guide, "Amazon EventBridge input
//! transformation" (its example table); [EB-api] API reference,
//! `InputTransformer`; [EB-pipes] User Guide, "Amazon EventBridge Pipes input
//! transformation", Common issues; [recorded] AWS responses recorded in
//! localstack's `tests/aws/services/events/test_events_inputs.snapshot.json`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// The example EC2 event of [EB-transform].
const EC2_EVENT: &str = r#"{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2015-11-11T21:29:54Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],"detail":{"instance-id":"i-0123456789","state":"RUNNING"}}"#;

const RULE_ARN_EXAMPLE: &str = "arn:aws:events:us-east-2:123456789012:rule/example";

fn ctx(event_json: &str) -> Context<'_> {
    Context {
        event_json,
        rule_name: "example",
        rule_arn: RULE_ARN_EXAMPLE,
        ingestion_time: "2015-11-11T21:29:55Z",
    }
}

/// The Input Path of [EB-transform]'s examples.
fn ec2_paths() -> BTreeMap<String, String> {
    [
        ("timestamp", "$.time"),
        ("instance", "$.detail.instance-id"),
        ("state", "$.detail.state"),
        ("resource", "$.resources[0]"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn transformer(paths: &[(&str, &str)], template: &str) -> InputSpec {
    InputSpec::Transformer {
        paths_map: paths
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        template: template.to_owned(),
    }
}

fn render_text(spec: &InputSpec, event: &str) -> String {
    spec.validate().expect("a valid spec");
    let body = spec.render(&ctx(event)).expect("renders");
    String::from_utf8(body).expect("UTF-8")
}

fn render_json(spec: &InputSpec, event: &str) -> Value {
    serde_json::from_str(&render_text(spec, event)).expect("the body is JSON")
}

#[test]
fn reproduces_the_input_template_examples_of_the_user_guide() {
    // [EB-transform] table: (description, template, output); byte for byte.
    let cases = [
        (
            "Simple string",
            r#""instance <instance> is in <state>""#,
            r#""instance i-0123456789 is in RUNNING""#,
        ),
        (
            "String with escaped quotes",
            r#""instance \"<instance>\" is in <state>""#,
            r#""instance \"i-0123456789\" is in RUNNING""#,
        ),
        (
            "Simple JSON",
            "{\n  \"instance\" : <instance>,\n  \"state\": <state>\n}",
            "{\n  \"instance\" : \"i-0123456789\",\n  \"state\": \"RUNNING\"\n}",
        ),
        (
            "JSON with strings and variables",
            "{\n \"instance\" : <instance>,\n \"state\": \"<state>\",\n \"instanceStatus\": \"instance \\\"<instance>\\\" is in <state>\"\n}",
            "{\n \"instance\" : \"i-0123456789\",\n \"state\": \"RUNNING\",\n \"instanceStatus\": \"instance \\\"i-0123456789\\\" is in RUNNING\"\n}",
        ),
        (
            "Including reserved variables in a string",
            r#""<aws.events.rule-name> triggered""#,
            r#""example triggered""#,
        ),
    ];
    for (description, template, output) in cases {
        let spec = InputSpec::Transformer {
            paths_map: ec2_paths(),
            template: template.to_owned(),
        };
        assert_eq!(render_text(&spec, EC2_EVENT), output, "{description}");
    }
    // The table's "CloudWatch log group" row shows how that target displays
    // the result (unquoted timestamp), not a JSON body; it is not reproduced.
}

#[test]
fn reproduces_the_json_examples_whose_output_the_guide_reformats() {
    // [EB-transform] "JSON with a mix of variables and static information".
    let spec = InputSpec::Transformer {
        paths_map: ec2_paths(),
        template: "{\n  \"instance\" : <instance>,\n  \"state\": [ 9, <state>, true ],\n  \"Transformed\" : \"Yes\"\n}".into(),
    };
    assert_eq!(
        render_json(&spec, EC2_EVENT),
        json!({"instance": "i-0123456789", "state": [9, "RUNNING", true], "Transformed": "Yes"})
    );
    // [EB-transform] "Including reserved variables in JSON".
    let spec = InputSpec::Transformer {
        paths_map: ec2_paths(),
        template: r#"{"instance": <instance>, "state": <state>, "ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, "originalEvent": <aws.events.event>}"#.into(),
    };
    let out = render_json(&spec, EC2_EVENT);
    assert_eq!(out["ruleArn"], RULE_ARN_EXAMPLE);
    assert_eq!(out["ruleName"], "example");
    assert_eq!(out["state"], "RUNNING");
    assert!(out["originalEvent"].is_object());
}

#[test]
fn reproduces_the_api_reference_examples() {
    // [EB-api] gives templates but no outputs: values outside a JSON string
    // are JSON, so strings carry their quotes there ([EB-pipes]).
    let paths = [
        ("instance", "$.detail.instance"),
        ("status", "$.detail.status"),
    ];
    let event = r#"{"detail":{"instance":"i-1","status":"RUNNING"}}"#;
    let cases = [
        (
            "<instance> is in state <status>",
            r#""i-1" is in state "RUNNING""#,
        ),
        (
            r#"<instance> is in state "<status>""#,
            r#""i-1" is in state "RUNNING""#,
        ),
        (
            r#"{"myInstance": <instance>,"myStatus": "<instance> is in state \"<status>\""}"#,
            r#"{"myInstance": "i-1","myStatus": "i-1 is in state \"RUNNING\""}"#,
        ),
    ];
    for (template, output) in cases {
        assert_eq!(
            render_text(&transformer(&paths, template), event),
            output,
            "{template}"
        );
    }
}

/// The event of the [recorded] cases.
const RECORDED_EVENT: &str = r#"{"version":"0","id":"1b3e7c1e-6d5c-4f0e-9d2a-3f0e5b6c7d8e","detail-type":"core.update-account-command","source":"core.update-account-command","account":"111111111111","time":"2024-06-11T08:33:04Z","region":"us-east-1","resources":[],"detail":{"command":"update-account","payload":{"acc_id":"0a787ecb-4015","sf_id":"baz"}}}"#;

#[test]
fn reproduces_recorded_aws_deliveries() {
    let paths = [
        ("detail-type", "$.detail-type"),
        ("timestamp", "$.time"),
        ("command", "$.detail.command"),
    ];
    let missing = [
        ("detail-type", "$.detail-type"),
        ("timestamp", "$.time"),
        ("command", "$.detail.notinmessage"),
    ];
    let text = r#""Event of <detail-type> type, at time <timestamp>, info extracted from detail <command>""#;
    assert_eq!(
        render_text(&transformer(&paths, text), RECORDED_EVENT),
        r#""Event of core.update-account-command type, at time 2024-06-11T08:33:04Z, info extracted from detail update-account""#
    );
    assert_eq!(
        render_text(&transformer(&missing, text), RECORDED_EVENT),
        r#""Event of core.update-account-command type, at time 2024-06-11T08:33:04Z, info extracted from detail ""#
    );
    let object = r#"{"detailType": <detail-type>,  "time": <timestamp>, "command": <command>}"#;
    assert_eq!(
        render_json(&transformer(&missing, object), RECORDED_EVENT),
        json!({"detailType": "core.update-account-command", "time": "2024-06-11T08:33:04Z", "command": ""})
    );
    let odd_start =
        r#""{[/Check with special starting characters for event of <detail-type> type""#;
    assert_eq!(
        render_text(&transformer(&paths, odd_start), RECORDED_EVENT),
        r#""{[/Check with special starting characters for event of core.update-account-command type""#
    );
    // InputPath: the selected value as JSON, a string with its quotes.
    let path = |p: &str| render_text(&InputSpec::Path(p.into()), RECORDED_EVENT);
    assert_eq!(path("$.detail.payload.sf_id"), r#""baz""#);
    assert_eq!(
        path("$.detail.payload"),
        r#"{"acc_id":"0a787ecb-4015","sf_id":"baz"}"#
    );
}

#[test]
fn finds_the_first_undefined_placeholder() {
    let paths: BTreeMap<String, String> = [("id".to_owned(), "$.id".to_owned())].into();
    let found = |template| undefined_placeholder(&paths, template);
    assert_eq!(found(r#"{"a": <id>, "b": "<aws.events.rule-name>"}"#), None);
    assert_eq!(found("<id> <nope> <other>"), Some("nope"));
    assert_eq!(
        found(r#""<aws.events.event.json> <aws.custom>""#),
        Some("aws.custom")
    );
    // `<` without a name closed by `>` is text, as when rendering.
    assert_eq!(found("a < b > c <id"), None);
}

#[test]
fn refuses_an_undefined_placeholder_as_aws_does() {
    // [recorded] "InputTemplate for target … contains invalid placeholder notdefinedkey."
    let spec = transformer(
        &[("detail-type", "$.detail-type")],
        r#""Event of <detail-type> type, with not defined key <notdefinedkey>""#,
    );
    let err = spec.validate().expect_err("undefined placeholder");
    assert!(
        matches!(&err, TransformError::UndefinedPlaceholder { name } if name == "notdefinedkey")
    );
    assert!(
        err.to_string()
            .contains("invalid placeholder <notdefinedkey>"),
        "{err}"
    );
}

#[test]
fn predefined_variables_render_in_values_and_strings() {
    let template = r#"{"name": <aws.events.rule-name>, "arn": <aws.events.rule-arn>, "at": <aws.events.event.ingestion-time>, "text": "<aws.events.rule-name>@<aws.events.event.ingestion-time> by <aws.events.rule-arn>", "json": <aws.events.event.json>, "event": <aws.events.event>}"#;
    let out = render_json(&transformer(&[], template), EC2_EVENT);
    assert_eq!(out["name"], "example");
    assert_eq!(out["arn"], RULE_ARN_EXAMPLE);
    assert_eq!(out["at"], "2015-11-11T21:29:55Z");
    assert_eq!(
        out["text"],
        format!("example@2015-11-11T21:29:55Z by {RULE_ARN_EXAMPLE}")
    );
    let event: Value = serde_json::from_str(EC2_EVENT).expect("JSON");
    assert_eq!(out["json"], event);
    // [recorded]: the envelope without `detail`, `detail-type` as `detailType`.
    assert_eq!(
        out["event"],
        json!({
            "id": event["id"], "account": "123456789012",
            "detailType": "EC2 Instance State-change Notification", "time": "2015-11-11T21:29:54Z",
            "source": "aws.ec2", "region": "us-east-1", "resources": event["resources"], "version": "0"
        })
    );
}

#[test]
fn the_event_json_variable_is_the_event_text_verbatim() {
    let event = r#"{"b":1,"a":{"z":[1.50, 2],"y":"\u00e9"},"detail":{}}"#;
    let text = render_text(
        &transformer(&[], r#"{"e": <aws.events.event.json>}"#),
        event,
    );
    assert_eq!(text, format!(r#"{{"e": {event}}}"#));
}

#[test]
fn event_variables_are_refused_inside_strings() {
    for name in ["aws.events.event", "aws.events.event.json"] {
        let err = transformer(&[], &format!(r#"{{"a": "x <{name}>"}}"#))
            .validate()
            .expect_err("inside a string");
        assert!(matches!(&err, TransformError::EventInString { name: n } if n == name));
    }
    // Outside quotes in a text template they are the JSON text.
    let text = render_text(
        &transformer(&[], "event: <aws.events.event.json>"),
        r#"{"a":1}"#,
    );
    assert_eq!(text, r#"event: {"a":1}"#);
}

#[test]
fn special_characters_in_values_never_break_json() {
    let detail =
        json!({"s": "quote \" backslash \\ newline \n tab \t nul \u{0} é 😀 </x> <state>"});
    let event = json!({"detail": detail}).to_string();
    let spec = transformer(
        &[("s", "$.detail.s"), ("state", "$.detail.none")],
        r#"{"value": <s>, "inside": "[<s>]", "list": [<s>, "<s>"]}"#,
    );
    let out = render_json(&spec, &event);
    let s = &detail["s"];
    assert_eq!(out["value"], *s);
    assert_eq!(
        out["inside"],
        format!("[{}]", s.as_str().expect("a string"))
    );
    assert_eq!(out["list"], json!([s, s]));
    // A value is inserted once; placeholder-like text inside it stays text.
    assert!(
        out["value"]
            .as_str()
            .expect("a string")
            .ends_with("<state>")
    );
}

#[test]
fn values_keep_their_json_kind_and_original_text() {
    let event =
        r#"{"detail":{"n":1.50,"b":false,"z":null,"o":{"y":"a b","x":[1, 2]},"l":["p","q"]}}"#;
    let paths = [
        ("n", "$.detail.n"),
        ("b", "$.detail.b"),
        ("z", "$.detail.z"),
        ("o", "$.detail.o"),
        ("l", "$.detail.l"),
    ];
    let values = render_text(
        &transformer(&paths, r#"{"n":<n>,"b":<b>,"z":<z>,"o":<o>,"l":<l>}"#),
        event,
    );
    assert_eq!(
        values,
        r#"{"n":1.50,"b":false,"z":null,"o":{"y":"a b","x":[1, 2]},"l":["p","q"]}"#
    );
    // [EB-pipes]: an object or array inside a string loses its quotes.
    let inside = render_json(
        &transformer(&paths, r#"{"t": "<n> <b> <z> | <o> | <l>"}"#),
        event,
    );
    assert_eq!(inside["t"], "1.50 false null | {y:a b,x:[1,2]} | [p,q]");
}

#[test]
fn an_object_inside_a_string_loses_its_quotes() {
    // [EB-pipes]: "removes any internal quotes to ensure a valid string".
    let spec = transformer(&[("detail", "$.detail")], r#""Detail is <detail>""#);
    assert_eq!(
        render_text(&spec, EC2_EVENT),
        r#""Detail is {instance-id:i-0123456789,state:RUNNING}""#
    );
}

#[test]
fn a_missing_value_is_the_empty_string() {
    let spec = transformer(
        &[("gone", "$.detail.gone"), ("idx", "$.resources[5]")],
        r#"{"a": <gone>, "b": "x<gone>y", "c": [<idx>]}"#,
    );
    assert_eq!(
        render_json(&spec, EC2_EVENT),
        json!({"a": "", "b": "xy", "c": [""]})
    );
}

#[test]
fn wildcard_paths_collect_every_match() {
    let event = r#"{"detail":{"items":[{"id":"a"},{"n":1},{"id":"b"}]}}"#;
    let spec = transformer(
        &[("ids", "$.detail.items[*].id")],
        r#"{"ids": <ids>, "s": "<ids>"}"#,
    );
    assert_eq!(
        render_json(&spec, event),
        json!({"ids": ["a", "b"], "s": "[a,b]"})
    );
}

#[test]
fn input_path_sends_the_selection_or_nothing() {
    let path = |p: &str| render_text(&InputSpec::Path(p.into()), EC2_EVENT);
    assert_eq!(path("$"), EC2_EVENT);
    assert_eq!(
        path("$.detail"),
        r#"{"instance-id":"i-0123456789","state":"RUNNING"}"#
    );
    assert_eq!(
        path("$.resources[0]"),
        r#""arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111""#
    );
    assert_eq!(path("$['detail']['instance-id']"), r#""i-0123456789""#);
    assert_eq!(path("$.detail.missing"), "");
}

#[test]
fn event_and_constant_are_sent_verbatim() {
    assert_eq!(render_text(&InputSpec::Event, EC2_EVENT), EC2_EVENT);
    let constant = InputSpec::Constant(r#"{ "fixed" : [1, 2] }"#.into());
    assert_eq!(render_text(&constant, EC2_EVENT), r#"{ "fixed" : [1, 2] }"#);
}

#[test]
fn rendering_an_invalid_event_is_an_error() {
    let spec = InputSpec::Path("$.detail".into());
    let err = spec.render(&ctx("{not json")).expect_err("invalid event");
    assert!(matches!(err, TransformError::InvalidEvent { .. }));
}

fn message(spec: InputSpec) -> String {
    spec.validate().expect_err("invalid spec").to_string()
}

#[test]
fn invalid_specs_are_refused_with_messages_naming_the_field() {
    let long_json = format!(r#""{}""#, "x".repeat(8191));
    assert_eq!(
        message(InputSpec::Constant(long_json)),
        "Input is 8193 characters long; the limit is 8192"
    );
    assert!(message(InputSpec::Constant("{".into())).starts_with("Input must be valid JSON"));
    assert!(message(InputSpec::Constant(String::new())).starts_with("Input must be valid JSON"));
    assert_eq!(
        message(InputSpec::Path(format!("$.{}", "a".repeat(255)))),
        "InputPath is 257 characters long; the limit is 256"
    );
    assert_eq!(
        message(InputSpec::Path("detail".into())),
        "InputPath `detail` is not a supported JSON path: a path must start with `$`"
    );
    let many: Vec<(String, String)> = (0..101).map(|i| (format!("k{i}"), "$.id".into())).collect();
    let many = InputSpec::Transformer {
        paths_map: many.into_iter().collect(),
        template: "\"x\"".into(),
    };
    assert_eq!(
        message(many),
        "InputPathsMap has 101 entries; the limit is 100"
    );
    for key in ["", "a.b", "a b", "é"] {
        assert!(
            message(transformer(&[(key, "$.id")], "\"x\""))
                .contains("must be 1 to 256 characters: A-Z"),
            "{key:?}"
        );
    }
    assert!(
        message(transformer(&[(&"k".repeat(257), "$.id")], "\"x\"")).contains("must be 1 to 256")
    );
    for key in ["aws.events.rule-name", "AWS.custom"] {
        assert_eq!(
            message(transformer(&[(key, "$.id")], "\"x\"")),
            format!("InputPathsMap key `{key}` is reserved for a predefined variable")
        );
    }
    assert!(
        message(transformer(&[("k", "$['id']")], "<k>")).starts_with(
            "InputPathsMap value for `k` `$['id']` is not a supported JSON path: bracket notation"
        )
    );
    assert_eq!(
        message(transformer(&[], "")),
        "InputTemplate must not be empty"
    );
    assert_eq!(
        message(transformer(&[], &"x".repeat(8193))),
        "InputTemplate is 8193 characters long; the limit is 8192"
    );
    assert_eq!(
        message(transformer(&[("k", "$.id")], r#"{<k>: 1}"#)),
        "InputTemplate uses <k> as an object key; it can only be a value"
    );
    assert!(message(transformer(&[("k", "$.id")], r#"{"a<k>" : 1}"#)).contains("as an object key"));
    assert!(
        message(transformer(&[("k", "$.id")], r#"{"a": <k> <k>}"#))
            .starts_with("InputTemplate is a JSON object, but not valid JSON when filled")
    );
    assert!(
        message(transformer(&[("k", "$.id")], r#"{"a": "\<k>n"}"#))
            .contains("not valid JSON when filled")
    );
    assert!(
        message(transformer(&[("k", "$.id")], r#"{"a": "\u0<k>12"}"#)).contains("not valid JSON")
    );
}

#[test]
fn templates_that_are_not_json_objects_are_text() {
    for template in [
        "[ALERT] <k> is down",
        "{<k>",
        "plain <k> text }",
        "a < b > c <k>",
    ] {
        let spec = transformer(&[("k", "$.id")], template);
        assert!(spec.validate().is_ok(), "{template}");
    }
    let text = render_text(
        &transformer(&[("k", "$.id")], "a < b > c <k>"),
        r#"{"id":"x"}"#,
    );
    assert_eq!(text, r#"a < b > c "x""#);
}

#[test]
fn parameters_resolve_literals_and_paths() {
    let event: Value = serde_json::from_str(EC2_EVENT).expect("JSON");
    let resolve = |v: &str| resolve_parameter(v, &event);
    assert_eq!(resolve("static").as_deref(), Some("static"));
    assert_eq!(resolve("$").as_deref(), Some("$"));
    assert_eq!(resolve("$.detail.state").as_deref(), Some("RUNNING"));
    assert_eq!(
        resolve("$.resources").as_deref(),
        Some(r#"["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"]"#)
    );
    assert_eq!(
        resolve("$.detail").as_deref(),
        Some(r#"{"instance-id":"i-0123456789","state":"RUNNING"}"#)
    );
    assert_eq!(resolve("$.detail.missing"), None);
    assert_eq!(resolve("$.detail['state']"), None);
    let numbers = json!({"n": 5, "b": true, "l": [{"x": 1}, {"x": 2}]});
    assert_eq!(resolve_parameter("$.n", &numbers).as_deref(), Some("5"));
    assert_eq!(resolve_parameter("$.b", &numbers).as_deref(), Some("true"));
    assert_eq!(
        resolve_parameter("$.l[*].x", &numbers).as_deref(),
        Some("[1,2]")
    );
}

#[test]
fn parameters_validate_like_transformer_paths() {
    assert!(validate_parameter("HttpParameters.QueryStringParameters.q", "static value").is_ok());
    assert!(validate_parameter("HttpParameters.PathParameterValues[0]", "$.detail.id").is_ok());
    let err = validate_parameter("HttpParameters.HeaderParameters.x-id", "$.detail id")
        .expect_err("invalid path");
    assert_eq!(
        err.to_string(),
        "HttpParameters.HeaderParameters.x-id `$.detail id` is not a supported JSON path: unexpected ` ` at offset 8"
    );
}

/// A JSON-object template built from placeholders in every position.
#[derive(Clone, Debug)]
enum Shape {
    Var(usize),
    InString(String, usize, String),
    Literal(Value),
    Array(Vec<Shape>),
    Object(Vec<(String, Shape)>),
}

const VARS: usize = 4;

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        (0..VARS).prop_map(Shape::Var),
        ("[^<]{0,6}", 0..VARS, "[^<]{0,6}").prop_map(|(a, k, b)| Shape::InString(a, k, b)),
        prop::sample::select(vec![json!(1), json!("lit"), json!(null), json!([true, {}])])
            .prop_map(Shape::Literal),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Shape::Array),
            prop::collection::vec(("[^<]{0,4}", inner), 0..4).prop_map(Shape::Object),
        ]
    })
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("a str serializes")
}

fn write(shape: &Shape, out: &mut String) {
    match shape {
        Shape::Var(k) => out.push_str(&format!("<v{k}>")),
        Shape::InString(a, k, b) => {
            let (a, b) = (quote(a), quote(b));
            out.push_str(&format!("{}<v{k}>{}", &a[..a.len() - 1], &b[1..]));
        }
        Shape::Literal(v) => out.push_str(&v.to_string()),
        Shape::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { ", " });
                write(item, out);
            }
            out.push(']');
        }
        Shape::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { ",\n " });
                out.push_str(&quote(key));
                out.push_str(": ");
                write(value, out);
            }
            out.push('}');
        }
    }
}

/// The value each shape must render to, for string (or missing) variables.
fn expected(shape: &Shape, values: &[Option<String>]) -> Value {
    let text = |k: &usize| values[*k].clone().unwrap_or_default();
    match shape {
        Shape::Var(k) => Value::String(text(k)),
        Shape::InString(a, k, b) => Value::String(format!("{a}{}{b}", text(k))),
        Shape::Literal(v) => v.clone(),
        Shape::Array(items) => items.iter().map(|i| expected(i, values)).collect(),
        Shape::Object(members) => members
            .iter()
            .map(|(key, v)| (key.clone(), expected(v, values)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"\\\\ <>]{0,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid JSON-object template with one piece spliced in at a random place,
/// so that the validator meets near-misses (a stray quote, backslash, colon).
fn mutated() -> impl Strategy<Value = String> {
    let pieces = vec![
        "{", "}", "[", "]", ":", ",", "\"", "1", "<a>", "\\", "\\u0", "",
    ];
    (
        prop::collection::vec(("[^<]{0,4}", shape()), 0..4),
        prop::sample::select(pieces),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(members, piece, at)| {
            let mut template = String::new();
            write(&Shape::Object(members), &mut template);
            let template = ["<v0>", "<v1>", "<v2>", "<v3>"]
                .iter()
                .zip(["<a>", "<b0>", "<a>", "<b0>"])
                .fold(template, |t, (from, to)| t.replace(from, to));
            let mut at = at.index(template.len() + 1);
            while !template.is_char_boundary(at) {
                at -= 1;
            }
            format!("{}{piece}{}", &template[..at], &template[at..])
        })
}

fn spec_for(members: Vec<(String, Shape)>) -> InputSpec {
    let mut template = String::new();
    write(&Shape::Object(members), &mut template);
    let paths = (0..VARS).map(|k| (format!("v{k}"), format!("$.detail.v{k}")));
    InputSpec::Transformer {
        paths_map: paths.collect(),
        template,
    }
}

proptest! {
    #[test]
    fn json_templates_render_valid_json_with_string_values_intact(
        members in prop::collection::vec(("[^<]{0,4}", shape()), 0..5),
        values in prop::collection::vec(prop::option::of(any::<String>()), VARS),
    ) {
        let spec = spec_for(members.clone());
        prop_assert!(spec.validate().is_ok(), "{spec:?}");
        let detail: serde_json::Map<String, Value> = values
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.clone().map(|v| (format!("v{k}"), Value::String(v))))
            .collect();
        let event = json!({"detail": detail}).to_string();
        let body = spec.render(&ctx(&event)).expect("renders");
        let out: Value = serde_json::from_slice(&body).expect("valid JSON");
        prop_assert_eq!(out, expected(&Shape::Object(members), &values));
    }

    #[test]
    fn json_templates_render_valid_json_for_any_values(
        members in prop::collection::vec(("[^<]{0,4}", shape()), 0..5),
        values in prop::collection::vec(prop::option::of(any_json()), VARS),
    ) {
        let spec = spec_for(members);
        let detail: serde_json::Map<String, Value> = values
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.clone().map(|v| (format!("v{k}"), v)))
            .collect();
        let event = json!({"detail": detail}).to_string();
        let body = spec.render(&ctx(&event)).expect("renders");
        prop_assert!(serde_json::from_slice::<Value>(&body).is_ok(), "{}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn predefined_strings_are_escaped_in_both_positions(name in any::<String>(), arn in any::<String>()) {
        let spec = transformer(&[], r#"{"n": <aws.events.rule-name>, "s": "[<aws.events.rule-arn>]"}"#);
        let context = Context { rule_name: &name, rule_arn: &arn, ..ctx(EC2_EVENT) };
        let out: Value = serde_json::from_slice(&spec.render(&context).expect("renders")).expect("valid JSON");
        prop_assert_eq!(out, json!({"n": name, "s": format!("[{arn}]")}));
    }

    #[test]
    fn arbitrary_templates_never_panic_and_valid_json_objects_stay_valid(
        template in prop_oneof![any::<String>(), "[{}\\[\\]\"\\\\:, <>a-z0-9]{0,24}", mutated()],
        value in any_json(),
    ) {
        let spec = transformer(&[("a", "$.detail.a"), ("b0", "$.detail.b0")], &template);
        if spec.validate().is_ok() {
            let event = json!({"detail": {"a": value}}).to_string();
            let body = spec.render(&ctx(&event)).expect("renders");
            let trimmed = template.trim();
            if trimmed.starts_with('{') && trimmed.ends_with('}') {
                prop_assert!(serde_json::from_slice::<Value>(&body).is_ok(), "{template} -> {}", String::from_utf8_lossy(&body));
            }
        }
    }

    #[test]
    fn input_paths_never_panic(path in any::<String>()) {
        let spec = InputSpec::Path(path);
        if spec.validate().is_ok() {
            let _ = spec.render(&ctx(EC2_EVENT));
        }
    }
}
