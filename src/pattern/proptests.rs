//! Property tests: the compiled matcher agrees with the reference matcher on
//! random patterns and events (many rules at once), and parsing and matching
//! never panic on arbitrary input.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::reference;
use super::{Limits, MatcherBuilder, Pattern};

/// `a.b` is the same path as `a` holding `b`, in patterns and in events.
const KEYS: [&str; 4] = ["a", "b", "c", "a.b"];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(&KEYS[..3]),
        1 => prop::sample::select(&KEYS[3..]),
    ]
    .prop_map(str::to_owned)
}

fn text() -> impl Strategy<Value = Value> {
    // Weighted toward a few values so that patterns and events meet often.
    prop_oneof![
        6 => prop::sample::select(vec!["x", "xy"]),
        3 => prop::sample::select(vec!["Xy", "yx", "", "x*y", "10.0.0.1", "10.0.1.7", "2001:db8::1", "Ä", "ä"]),
    ]
    .prop_map(|s| json!(s))
}

fn number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(0),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(100),
        json!(100.0),
        json!(-0.25),
        json!(6_000_000_000_i64),
    ])
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text(),
        3 => number(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 32, 4, |inner| {
        let object = prop::collection::btree_map(key(), inner.clone(), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            object.clone(),
            // Arrays of objects with shared keys exercise array consistency.
            prop::collection::vec(object, 1..4).prop_map(Value::Array),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), event_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn operator() -> impl Strategy<Value = Value> {
    let s = || prop::sample::select(vec!["x", "xy", "Xy", "y", "ä"]);
    prop_oneof![
        s().prop_map(|v| json!({"prefix": v})),
        s().prop_map(|v| json!({"suffix": v})),
        s().prop_map(|v| json!({"prefix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"suffix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"equals-ignore-case": v})),
        prop::sample::select(vec!["x*", "*y", "*x*", "x*y", "*", "x\\*y", "Xy"])
            .prop_map(|v| json!({"wildcard": v})),
        prop::sample::select(vec![
            json!("x"),
            json!(["x", "xy"]),
            json!(1),
            json!([1, 100]),
            json!({"prefix": "x"}),
            json!({"suffix": ["y", "Ä"]}),
            json!({"equals-ignore-case": ["xy"]}),
            json!({"wildcard": "x*"}),
        ])
        .prop_map(|v| json!({"anything-but": v})),
        prop::sample::select(vec![
            json!([">", 0]),
            json!([">=", 1, "<", 100]),
            json!(["=", 1.5]),
            json!(["<=", -1]),
            json!([">", -1, "<=", 1]),
        ])
        .prop_map(|v| json!({"numeric": v})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
        prop::sample::select(vec!["10.0.0.0/24", "2001:db8::/32", "0.0.0.0/0"])
            .prop_map(|v| json!({"cidr": v})),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::collection::vec(prop_oneof![2 => scalar(), 3 => operator()], 1..4).prop_map(Value::Array)
}

fn pattern_object(depth: u32) -> BoxedStrategy<Value> {
    let member = if depth == 0 {
        leaf().boxed()
    } else {
        prop_oneof![3 => leaf(), 1 => pattern_object(depth - 1)].boxed()
    };
    let fields = prop::collection::btree_map(key(), member, 1..3);
    if depth == 0 {
        return fields
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed();
    }
    let or = prop::collection::vec(pattern_object(depth - 1), 2..3);
    (fields, prop::option::weighted(0.3, or))
        .prop_map(|(m, or)| {
            let mut object: serde_json::Map<String, Value> = m.into_iter().collect();
            if let Some(alternatives) = or {
                object.insert("$or".to_owned(), Value::Array(alternatives));
            }
            Value::Object(object)
        })
        .boxed()
}

/// Patterns naming two or three fields under one array of objects, and events
/// holding such arrays: the array-consistency rule decides most outcomes.
fn array_pattern() -> impl Strategy<Value = Value> {
    (leaf(), leaf(), prop::option::of(leaf())).prop_map(|(b, c, deeper)| match deeper {
        Some(d) => json!({"a": {"b": b, "c": c, "d": {"e": d}}}),
        None => json!({"a": {"b": b, "c": c}}),
    })
}

fn array_event() -> impl Strategy<Value = Value> {
    let element =
        (scalar(), scalar(), prop::collection::vec(scalar(), 0..3)).prop_map(|(b, c, es)| {
            let deeper: Vec<Value> = es.into_iter().map(|e| json!({"e": e})).collect();
            json!({"b": b, "c": c, "d": deeper})
        });
    prop::collection::vec(element, 1..4).prop_map(|elements| json!({"a": elements}))
}

fn check_agreement(
    patterns: &[Value],
    events: &[Value],
    pretty: bool,
) -> Result<(), TestCaseError> {
    let parsed: Vec<Pattern> = patterns
        .iter()
        .filter_map(|p| Pattern::parse(&p.to_string(), &Limits::default()).ok())
        .collect();
    prop_assume!(!parsed.is_empty());
    let mut builder = MatcherBuilder::new();
    for (i, p) in parsed.iter().enumerate() {
        builder.add(i, p);
    }
    let matcher = builder.build();
    for event in events {
        let expected: Vec<usize> = (0..parsed.len())
            .filter(|&i| reference::matches(&parsed[i], event))
            .collect();
        let text = pretty_or_compact(event, pretty);
        let got = matcher.matches(text.as_bytes()).expect("valid event");
        prop_assert_eq!(got, expected, "event {}", text);
    }
    Ok(())
}

fn pretty_or_compact(value: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).expect("serializable")
    } else {
        value.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn compiled_matcher_agrees_with_reference(
        patterns in prop::collection::vec(pattern_object(2), 1..6),
        events in prop::collection::vec(event(), 1..8),
        pretty in any::<bool>(),
    ) {
        check_agreement(&patterns, &events, pretty)?;
    }

    #[test]
    fn compiled_matcher_agrees_with_reference_on_arrays_of_objects(
        patterns in prop::collection::vec(array_pattern(), 1..5),
        events in prop::collection::vec(array_event(), 1..8),
    ) {
        check_agreement(&patterns, &events, false)?;
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in ".{0,200}") {
        let _ = Pattern::parse(&text, &Limits::default());
    }

    #[test]
    fn parse_never_panics_on_arbitrary_json(value in arbitrary_json()) {
        let _ = Pattern::parse(&value.to_string(), &Limits::default());
    }

    #[test]
    fn matching_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let pattern = Pattern::parse(r#"{"a": [{"exists": true}], "b": {"c": ["x"]}}"#, &Limits::default())
            .expect("valid");
        let mut builder = MatcherBuilder::new();
        builder.add(0, &pattern);
        let _ = builder.build().matches(&bytes);
    }
}

/// JSON shaped like patterns: operator names as keys, odd operands.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "a",
        "$or",
        "prefix",
        "suffix",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "wildcard",
        "equals-ignore-case",
        "=",
        "<",
        ">=",
        "",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "=",
            "<",
            ">",
            "<=",
            ">=",
            "a**b",
            "\\",
            "10.0.0.0/8",
            "::/200",
            "",
            "x"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(names.clone(), inner, 0..4).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}
