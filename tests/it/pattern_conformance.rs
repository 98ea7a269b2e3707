//! Conformance of `stowage::pattern` with EventBridge event patterns.
//!
//! Each case is (pattern, event detail, expected match); the detail is placed in
//! a full EventBridge envelope (`source` "aws.ec2", `region` "us-west-1", ...).
//! Sources, cited per group:
//! - [EB-patterns]: AWS EventBridge User Guide, "Amazon EventBridge event patterns"
//! - [EB-operators]: AWS EventBridge User Guide, "Comparison operators for use in
//!   event patterns" (eb-create-pattern-operators / content filtering)
//! - [EB-null]: AWS EventBridge User Guide, "Matching on null values and empty strings"
//! - [ruler-compiler]: aws/event-ruler `JsonRuleCompiler.java` (pattern grammar)
//! - [ruler-bytes]: aws/event-ruler `ByteMachine.java` (how values are compared)
//! - [ruler-arrays]: aws/event-ruler README, "JSON Array Matching" (array consistency)
//! - [SNS-numeric]: Amazon SNS "Numeric value matching" (same engine, numeric examples)
//! - [bench]: shared/bench-data README (all three engines agree on these counts)
//! - [LS-wildcard]: localstack `event_pattern_templates/content_wildcard_complex_EXC`,
//!   `content_wildcard_simplified`, `content_wildcard_repeating`, answers recorded
//!   against AWS ("Rule is too complex - try using fewer wildcard characters or fewer
//!   repeating character sequences after a wildcard character")
//! - [deployed-wildcards]: a public Terraform configuration whose four `*.ext`
//!   wildcards on one field deploy, while four `*/datasync/*.ext` are refused as too
//!   complex and two each deploy (docs/patterns.md)
//! - [ruler-dots]: aws/event-ruler README, "Caveat: Compiled rules and JSON keys
//!   with dots" (`Path.java` joins keys with `.`, for rules and events alike)
//! - [LS-dots]: localstack `tests/aws/services/events/event_pattern_templates/`
//!   `dot_joining_{event,pattern}{,_NEG}.json5`, answers recorded against AWS
//!
//! Every case runs twice: alone through `test_event_pattern`, and as one rule of
//! a single matcher compiled from every case's pattern (so the shared automaton
//! must keep hundreds of rules apart).

use stowage::pattern::{Limits, MatcherBuilder, Pattern, PatternError, test_event_pattern};

/// (pattern, detail JSON, expected)
type Case = (&'static str, &'static str, bool);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- Exact strings; arrays are OR; sibling fields are AND; nesting [EB-patterns]
    (r#"{"source": ["aws.ec2"]}"#, "{}", true),
    (r#"{"source": ["aws.s3"]}"#, "{}", false),
    (r#"{"source": ["aws.s3", "aws.ec2"]}"#, "{}", true),
    (r#"{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}"#, "{}", true),
    (r#"{"source": ["aws.ec2"], "detail-type": ["Other"]}"#, "{}", false),
    (r#"{"region": ["us-west-1"], "account": ["111122223333"]}"#, "{}", true),
    (r#"{"detail": {"state": ["running"]}}"#, r#"{"state": "running"}"#, true),
    (r#"{"detail": {"state": ["running"]}}"#, r#"{"state": "stopped"}"#, false),
    (r#"{"detail": {"state": ["Running"]}}"#, r#"{"state": "running"}"#, false),
    (r#"{"detail": {"state": ["running "]}}"#, r#"{"state": "running"}"#, false),
    (r#"{"detail": {"instance": {"id": ["i-1"]}}}"#, r#"{"instance": {"id": "i-1"}}"#, true),
    (r#"{"detail": {"a": {"b": {"c": {"d": ["x"]}}}}}"#, r#"{"a": {"b": {"c": {"d": "x"}}}}"#, true),
    (r#"{"detail": {"a": {"b": {"c": {"d": ["x"]}}}}}"#, r#"{"a": {"b": {"c": {"e": "x"}}}}"#, false),
    (r#"{"detail": {"missing": ["x"]}}"#, r#"{"state": "x"}"#, false),
    (r#"{"detail": {"state": ["running"]}}"#, r#"{"state": {"name": "running"}}"#, false),
    (r#"{"detail": {"name": ["café"]}}"#, r#"{"name": "caf\u00e9"}"#, true),
    (r#"{"detail": {"q": ["say \"hi\""]}}"#, r#"{"q": "say \"hi\""}"#, true),
    (r#"{"detail": {"q": ["a/b"]}}"#, r#"{"q": "a\/b"}"#, true),
    (r#"{"detail": {"emoji": ["😀"]}}"#, r#"{"emoji": "\ud83d\ude00"}"#, true),
    (r#"{"source": ["aws.ec2"], "detail": {"state": ["running"]}}"#, r#"{"state": "running", "other": [1, {"x": "y"}]}"#, true),
    (r#"{"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}"#, "{}", true),
    (r#"{"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-other"]}"#, "{}", false),
    (r#"{"account": [111122223333]}"#, "{}", false),
    (r#"{"detail": {"state": ["running"], "code": ["16"]}}"#, r#"{"state": "running", "code": "16"}"#, true),
    (r#"{"detail": {"state": ["running"], "code": ["16"]}}"#, r#"{"state": "running"}"#, false),
    // --- Exact numbers: matched by value inside -5e9..=5e9, else by literal text
    //     [ruler-compiler] (numericEquals + exactMatch), [ruler-bytes]
    (r#"{"detail": {"count": [5]}}"#, r#"{"count": 5}"#, true),
    (r#"{"detail": {"count": [5]}}"#, r#"{"count": 5.0}"#, true),
    (r#"{"detail": {"count": [5]}}"#, r#"{"count": 5e0}"#, true),
    (r#"{"detail": {"count": [5]}}"#, r#"{"count": 6}"#, false),
    (r#"{"detail": {"count": [5]}}"#, r#"{"count": "5"}"#, false),
    (r#"{"detail": {"count": ["5"]}}"#, r#"{"count": 5}"#, false),
    (r#"{"detail": {"count": [-1.5]}}"#, r#"{"count": -1.5}"#, true),
    (r#"{"detail": {"count": [0]}}"#, r#"{"count": -0}"#, true),
    (r#"{"detail": {"x-limit": [301.8]}}"#, r#"{"x-limit": 3.018e2}"#, true),
    (r#"{"detail": {"id": [123456789012]}}"#, r#"{"id": 123456789012}"#, true),
    (r#"{"detail": {"id": [123456789012]}}"#, r#"{"id": 123456789012.0}"#, false),
    (r#"{"detail": {"id": [5000000000]}}"#, r#"{"id": 5e9}"#, true),
    (r#"{"detail": {"count": [1.5, "x"]}}"#, r#"{"count": "x"}"#, true),
    (r#"{"detail": {"count": [1, 2, 3]}}"#, r#"{"count": 2.0}"#, true),
    // --- Booleans, null and empty strings [EB-null], [EB-patterns]
    (r#"{"detail": {"on": [true]}}"#, r#"{"on": true}"#, true),
    (r#"{"detail": {"on": [true]}}"#, r#"{"on": "true"}"#, false),
    (r#"{"detail": {"on": ["true"]}}"#, r#"{"on": true}"#, false),
    (r#"{"detail": {"on": [false]}}"#, r#"{"on": false}"#, true),
    (r#"{"detail": {"on": [false]}}"#, r#"{"on": true}"#, false),
    (r#"{"detail": {"on": [false]}}"#, r#"{"on": 0}"#, false),
    (r#"{"detail": {"user": [null]}}"#, r#"{"user": null}"#, true),
    (r#"{"detail": {"user": [null]}}"#, r#"{"user": ""}"#, false),
    (r#"{"detail": {"user": [null]}}"#, r#"{}"#, false),
    (r#"{"detail": {"user": [null]}}"#, r#"{"user": "null"}"#, false),
    (r#"{"detail": {"user": [""]}}"#, r#"{"user": ""}"#, true),
    (r#"{"detail": {"user": [""]}}"#, r#"{"user": null}"#, false),
    (r#"{"detail": {"user": [""]}}"#, r#"{}"#, false),
    (r#"{"detail": {"user": [""]}}"#, r#"{"user": " "}"#, false),
    (r#"{"detail": {"user": [null, ""]}}"#, r#"{"user": ""}"#, true),
    (r#"{"detail": {"user": [null, ""]}}"#, r#"{"user": null}"#, true),
    // --- prefix, and prefix with equals-ignore-case [EB-operators]
    (r#"{"time": [{"prefix": "2017-12-22"}]}"#, "{}", true),
    (r#"{"time": [{"prefix": "2017-12-23"}]}"#, "{}", false),
    (r#"{"detail": {"s": [{"prefix": "us-"}]}}"#, r#"{"s": "us-east-1"}"#, true),
    (r#"{"detail": {"s": [{"prefix": "us-"}]}}"#, r#"{"s": "eu-west-1"}"#, false),
    (r#"{"detail": {"s": [{"prefix": "us-"}]}}"#, r#"{"s": "us-"}"#, true),
    (r#"{"detail": {"s": [{"prefix": "us-"}]}}"#, r#"{"s": "us"}"#, false),
    (r#"{"detail": {"s": [{"prefix": "us-"}]}}"#, r#"{"s": "US-east-1"}"#, false),
    (r#"{"detail": {"s": [{"prefix": ""}]}}"#, r#"{"s": "anything"}"#, true),
    (r#"{"detail": {"s": [{"prefix": ""}]}}"#, r#"{"s": 5}"#, false),
    (r#"{"detail": {"n": [{"prefix": "1"}]}}"#, r#"{"n": 12}"#, false),
    (r#"{"detail": {"s": [{"prefix": "y-"}]}}"#, r#"{"s": ["x-1", "y-2"]}"#, true),
    (r#"{"detail": {"s": [{"prefix": "a"}, {"prefix": "b"}]}}"#, r#"{"s": "bc"}"#, true),
    (r#"{"detail": {"svc": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#, r#"{"svc": "eventbridge"}"#, true),
    (r#"{"detail": {"svc": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#, r#"{"svc": "EVENTBRIDGE"}"#, true),
    (r#"{"detail": {"svc": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#, r#"{"svc": "xeventb"}"#, false),
    (r#"{"detail": {"svc": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#, r#"{"svc": "Event"}"#, false),
    // --- suffix, and suffix with equals-ignore-case [EB-operators]
    (r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, r#"{"file": "img.png"}"#, true),
    (r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, r#"{"file": "img.PNG"}"#, false),
    (r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, r#"{"file": "png"}"#, false),
    (r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, r#"{"file": ".png"}"#, true),
    (r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, r#"{"file": null}"#, false),
    (r#"{"detail": {"file": [{"suffix": ".png"}]}}"#, r#"{"file": ["a.jpg", "b.png"]}"#, true),
    (r#"{"detail": {"file": [{"suffix": {"equals-ignore-case": "PNG"}}]}}"#, r#"{"file": "img.png"}"#, true),
    (r#"{"detail": {"file": [{"suffix": {"equals-ignore-case": "PNG"}}]}}"#, r#"{"file": "img.pn"}"#, false),
    (r#"{"detail": {"svc": [{"suffix": {"equals-ignore-case": "tBridge"}}]}}"#, r#"{"svc": "EVENTBRIDGE"}"#, true),
    // --- equals-ignore-case [EB-operators]
    (r#"{"detail": {"name": [{"equals-ignore-case": "alice"}]}}"#, r#"{"name": "ALICE"}"#, true),
    (r#"{"detail": {"name": [{"equals-ignore-case": "alice"}]}}"#, r#"{"name": "Alice"}"#, true),
    (r#"{"detail": {"name": [{"equals-ignore-case": "alice"}]}}"#, r#"{"name": "alicex"}"#, false),
    (r#"{"detail": {"name": [{"equals-ignore-case": "5"}]}}"#, r#"{"name": 5}"#, false),
    (r#"{"detail": {"name": [{"equals-ignore-case": "ÄPFEL"}]}}"#, r#"{"name": "äpfel"}"#, true),
    (r#"{"detail": {"name": [{"equals-ignore-case": "alice"}, "Bob"]}}"#, r#"{"name": "Bob"}"#, true),
    (r#"{"detail": {"name": [{"equals-ignore-case": "alice"}, "Bob"]}}"#, r#"{"name": "bob"}"#, false),
    // --- wildcard, with \* and \\ escapes [EB-operators]
    (r#"{"detail": {"f": [{"wildcard": "*.png"}]}}"#, r#"{"f": "dir/a.png"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "dir/*.png"}]}}"#, r#"{"f": "dir/a.png"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "dir/*.png"}]}}"#, r#"{"f": "dir/a.jpg"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "dir/*/*.png"}]}}"#, r#"{"f": "dir/a/b.png"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "dir/*/*.png"}]}}"#, r#"{"f": "dir/a.png"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "*"}]}}"#, r#"{"f": ""}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "*"}]}}"#, r#"{"f": 1}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "*"}]}}"#, r#"{"f": null}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "a\\*b"}]}}"#, r#"{"f": "a*b"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "a\\*b"}]}}"#, r#"{"f": "axb"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "a\\\\*"}]}}"#, r#"{"f": "a\\bc"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "a\\\\*"}]}}"#, r#"{"f": "abc"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "abc"}]}}"#, r#"{"f": "abc"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "abc"}]}}"#, r#"{"f": "abcd"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "us-*-1"}]}}"#, r#"{"f": "us-west-1"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "us-*-1"}]}}"#, r#"{"f": "us-west-2"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "*2*"}]}}"#, r#"{"f": "x2y"}"#, true),
    (r#"{"detail": {"f": [{"wildcard": "a*a"}]}}"#, r#"{"f": "a"}"#, false),
    (r#"{"detail": {"f": [{"wildcard": "A*"}]}}"#, r#"{"f": "abc"}"#, false),
    // --- anything-but: single value, lists, null and missing fields
    //     [EB-operators], [ruler-bytes], [bench] (null matches, missing does not)
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": "running"}"#, true),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": "initializing"}"#, false),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{}"#, false),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": null}"#, true),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": 5}"#, true),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": true}"#, true),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": ["initializing", "running"]}"#, true),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": ["initializing"]}"#, false),
    (r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#, r#"{"state": {"x": "y"}}"#, false),
    (r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#, r#"{"state": "running"}"#, true),
    (r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#, r#"{"state": "stopped"}"#, false),
    (r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#, r#"{"state": "overloaded"}"#, false),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": 101}"#, true),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": 100}"#, false),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": 100.0}"#, false),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": 1e2}"#, false),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": "100"}"#, true),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": [100, 50]}"#, true),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": [100, 500]}"#, false),
    (r#"{"detail": {"price": [{"anything-but": [100, 500]}]}}"#, r#"{"price": 100.1}"#, true),
    (r#"{"detail": {"price": [{"anything-but": 5}]}}"#, r#"{"price": 5}"#, false),
    (r#"{"detail": {"price": [{"anything-but": 5}]}}"#, r#"{"price": 6}"#, true),
    (r#"{"detail": {"price": [{"anything-but": "5"}]}}"#, r#"{"price": 5}"#, true),
    (r#"{"detail": {"price": [{"anything-but": "5"}]}}"#, r#"{"price": "5"}"#, false),
    (r#"{"detail": {"s": [{"anything-but": [""]}]}}"#, r#"{"s": ""}"#, false),
    (r#"{"detail": {"s": [{"anything-but": [""]}]}}"#, r#"{"s": "x"}"#, true),
    (r#"{"detail": {"s": [{"anything-but": "x"}, "x"]}}"#, r#"{"s": "x"}"#, true),
    // --- anything-but wrapping prefix, suffix, equals-ignore-case, wildcard [EB-operators], [ruler-compiler]
    (r#"{"detail": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, r#"{"r": "eu-west-1"}"#, true),
    (r#"{"detail": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, r#"{"r": "us-east-1"}"#, false),
    (r#"{"detail": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, r#"{"r": null}"#, true),
    (r#"{"detail": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, r#"{}"#, false),
    (r#"{"detail": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, r#"{"r": 7}"#, true),
    (r#"{"detail": {"r": [{"anything-but": {"prefix": ["a", "b"]}}]}}"#, r#"{"r": "bx"}"#, false),
    (r#"{"detail": {"r": [{"anything-but": {"prefix": ["a", "b"]}}]}}"#, r#"{"r": "cx"}"#, true),
    (r#"{"detail": {"f": [{"anything-but": {"suffix": ".png"}}]}}"#, r#"{"f": "a.jpg"}"#, true),
    (r#"{"detail": {"f": [{"anything-but": {"suffix": ".png"}}]}}"#, r#"{"f": "a.png"}"#, false),
    (r#"{"detail": {"f": [{"anything-but": {"suffix": ".png"}}]}}"#, r#"{"f": "a.PNG"}"#, true),
    (r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}"#, r#"{"state": "INITIALIZING"}"#, false),
    (r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}}"#, r#"{"state": "running"}"#, true),
    (r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}}"#, r#"{"state": "B"}"#, false),
    (r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}}"#, r#"{"state": null}"#, true),
    (r#"{"detail": {"p": [{"anything-but": {"wildcard": "*/lib/*"}}]}}"#, r#"{"p": "/usr/lib/x"}"#, false),
    (r#"{"detail": {"p": [{"anything-but": {"wildcard": "*/lib/*"}}]}}"#, r#"{"p": "/usr/bin/x"}"#, true),
    (r#"{"detail": {"p": [{"anything-but": {"wildcard": ["*.png", "*.jpg"]}}]}}"#, r#"{"p": "a.jpg"}"#, false),
    (r#"{"detail": {"p": [{"anything-but": {"wildcard": ["*.png", "*.jpg"]}}]}}"#, r#"{"p": "a.gif"}"#, true),
    // --- numeric: one or two bounds, = ; compares values [EB-operators], [SNS-numeric], [ruler-bytes]
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": 5}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": 0}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": -1}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": "5"}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": null}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": true}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">=", 0]}]}}"#, r#"{"n": 0}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["<", 10]}]}}"#, r#"{"n": 9.999}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["<", 10]}]}}"#, r#"{"n": 10}"#, false),
    (r#"{"detail": {"n": [{"numeric": ["<=", 10]}]}}"#, r#"{"n": 10}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["=", 100]}]}}"#, r#"{"n": 100}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["=", 100]}]}}"#, r#"{"n": 1e2}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["=", 100]}]}}"#, r#"{"n": 100.0}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["=", 100]}]}}"#, r#"{"n": 100.5}"#, false),
    (r#"{"detail": {"n": [{"numeric": ["=", 301.5]}]}}"#, r#"{"n": 3.015e2}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}"#, r#"{"n": 5}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}"#, r#"{"n": 5.0001}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}"#, r#"{"n": 0}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">=", 10, "<", 20]}]}}"#, r#"{"n": 10}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">=", 10, "<", 20]}]}}"#, r#"{"n": 20}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">=", 10, "<", 20]}]}}"#, r#"{"n": 15.5}"#, true),
    (r#"{"detail": {"n": [{"numeric": ["<", -1]}]}}"#, r#"{"n": -1.5}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}]}}"#, r#"{"n": 6e9}"#, false),
    (r#"{"detail": {"n": [{"numeric": ["<", 0]}]}}"#, r#"{"n": -6e9}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">=", 5e9]}]}}"#, r#"{"n": 5000000000}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 10]}]}}"#, r#"{"n": [1, 20]}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 10]}]}}"#, r#"{"n": [1, 2]}"#, false),
    (r#"{"detail": {"n": [{"numeric": ["=", 0]}]}}"#, r#"{"n": -0.0}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 1.5]}]}}"#, r#"{"n": 1.500001}"#, true),
    (r#"{"detail": {"x": [{"numeric": [">", -122.46471267081272, "<", -122.4063085128395]}]}}"#, r#"{"x": -122.42}"#, true),
    (r#"{"detail": {"x": [{"numeric": [">", -122.46471267081272, "<", -122.4063085128395]}]}}"#, r#"{"x": -122.5}"#, false),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}, {"numeric": ["<", -10]}]}}"#, r#"{"n": -11}"#, true),
    (r#"{"detail": {"n": [{"numeric": [">", 0]}, 0]}}"#, r#"{"n": 0}"#, true),
    // --- cidr, IPv4 and IPv6 [EB-operators], [ruler-bytes]
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#, r#"{"ip": "10.0.0.255"}"#, true),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#, r#"{"ip": "10.0.1.1"}"#, false),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#, r#"{"ip": "not-an-ip"}"#, false),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#, r#"{"ip": 10}"#, false),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#, r#"{"ip": ["192.168.0.1", "10.0.0.3"]}"#, true),
    (r#"{"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}"#, r#"{"ip": "2001:db8::1"}"#, true),
    (r#"{"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}"#, r#"{"ip": "2001:db9::1"}"#, false),
    (r#"{"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}"#, r#"{"ip": "10.0.0.1"}"#, false),
    (r#"{"detail": {"ip": [{"cidr": "2001:db8::/32"}]}}"#, r#"{"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}"#, true),
    (r#"{"detail": {"ip": [{"cidr": "0.0.0.0/0"}]}}"#, r#"{"ip": "255.255.255.255"}"#, true),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.1/32"}]}}"#, r#"{"ip": "10.0.0.1"}"#, true),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.1/32"}]}}"#, r#"{"ip": "10.0.0.2"}"#, false),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.7/24"}]}}"#, r#"{"ip": "10.0.0.200"}"#, true),
    // An exact IP address matches other spellings of the same address [ruler-compiler]
    (r#"{"detail": {"ip": ["2001:db8::1"]}}"#, r#"{"ip": "2001:0db8:0:0:0:0:0:1"}"#, true),
    (r#"{"detail": {"ip": ["2001:db8::1"]}}"#, r#"{"ip": "2001:db8::2"}"#, false),
    (r#"{"detail": {"ip": ["10.0.0.1"]}}"#, r#"{"ip": "10.0.0.1"}"#, true),
    (r#"{"detail": {"ip": ["10.0.0.1"]}}"#, r#"{"ip": "10.0.0.10"}"#, false),
    // --- exists: leaf values only; null is a value [EB-operators], [ruler-bytes]
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": "x"}"#, true),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": null}"#, true),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": ""}"#, true),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": false}"#, true),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{}"#, false),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": {"d": 1}}"#, false),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": []}"#, false),
    (r#"{"detail": {"c": [{"exists": true}]}}"#, r#"{"c": [1]}"#, true),
    (r#"{"detail": {"c": [{"exists": false}]}}"#, r#"{}"#, true),
    (r#"{"detail": {"c": [{"exists": false}]}}"#, r#"{"c": "x"}"#, false),
    (r#"{"detail": {"c": [{"exists": false}]}}"#, r#"{"c": null}"#, false),
    (r#"{"detail": {"c": [{"exists": false}]}}"#, r#"{"c": {"d": 1}}"#, true),
    (r#"{"detail": {"c": [{"exists": false}]}}"#, r#"{"c": []}"#, true),
    (r#"{"detail": {"a": {"b": [{"exists": false}]}}}"#, r#"{}"#, true),
    (r#"{"source": ["aws.ec2"], "detail": {"x": [{"exists": false}]}}"#, r#"{"y": 1}"#, true),
    (r#"{"source": ["aws.s3"], "detail": {"x": [{"exists": false}]}}"#, r#"{"y": 1}"#, false),
    (r#"{"detail": {"c": ["a", {"exists": false}]}}"#, r#"{}"#, true),
    (r#"{"detail": {"c": ["a", {"exists": false}]}}"#, r#"{"c": "a"}"#, true),
    (r#"{"detail": {"c": ["a", {"exists": false}]}}"#, r#"{"c": "b"}"#, false),
    (r#"{"detail": [{"exists": true}]}"#, r#"{"c": 1}"#, false),
    (r#"{"detail": [{"exists": false}]}"#, r#"{"c": 1}"#, true),
    (r#"{"detail": {"c": [{"exists": true}], "d": [{"exists": false}]}}"#, r#"{"c": 1}"#, true),
    // --- $or: nested and mixed with AND [EB-operators], [ruler-compiler]
    (r#"{"$or": [{"source": ["aws.s3"]}, {"region": ["us-west-1"]}]}"#, "{}", true),
    (r#"{"$or": [{"source": ["aws.s3"]}, {"region": ["eu-west-1"]}]}"#, "{}", false),
    (r#"{"source": ["aws.ec2"], "$or": [{"detail": {"a": [1]}}, {"detail": {"b": [2]}}]}"#, r#"{"b": 2}"#, true),
    (r#"{"source": ["aws.s3"], "$or": [{"detail": {"a": [1]}}, {"detail": {"b": [2]}}]}"#, r#"{"b": 2}"#, false),
    (r#"{"source": ["aws.ec2"], "$or": [{"detail": {"a": [1]}}, {"detail": {"b": [2]}}]}"#, r#"{"b": 3}"#, false),
    (r#"{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}, {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}"#, r#"{"x-limit": 301.8}"#, true),
    (r#"{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}}"#, r#"{"c-count": 9, "d-count": 10}"#, false),
    (r#"{"detail": {"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}}"#, r#"{"c": "3"}"#, true),
    (r#"{"detail": {"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}}"#, r#"{"c": "4"}"#, false),
    (r#"{"detail": {"$or": [{"state": ["a"]}, {"state": ["b"]}]}}"#, r#"{"state": "b"}"#, true),
    (r#"{"$or": [{"detail": {"x": [{"exists": false}]}}, {"source": ["aws.s3"]}]}"#, r#"{"x": 1}"#, false),
    (r#"{"$or": [{"detail": {"x": [{"exists": false}]}}, {"source": ["aws.s3"]}]}"#, r#"{}"#, true),
    (r#"{"detail": {"$or": [{"a": ["1"], "b": ["2"]}, {"c": ["3"]}]}}"#, r#"{"a": "1", "b": "3"}"#, false),
    (r#"{"detail": {"$or": [{"a": ["1"], "b": ["2"]}, {"c": ["3"]}]}}"#, r#"{"a": "1", "b": "2"}"#, true),
    (r#"{"$or": [{"source": ["aws.ec2"]}, {"region": ["us-west-1"]}]}"#, "{}", true),
    // --- arrays in events match if any element matches [EB-patterns]
    (r#"{"detail": {"tags": ["prod"]}}"#, r#"{"tags": ["dev", "prod"]}"#, true),
    (r#"{"detail": {"tags": ["prod"]}}"#, r#"{"tags": ["dev"]}"#, false),
    (r#"{"detail": {"tags": ["prod"]}}"#, r#"{"tags": []}"#, false),
    (r#"{"detail": {"tags": ["prod"]}}"#, r#"{"tags": [["prod"]]}"#, true),
    (r#"{"detail": {"tags": ["a", "b"]}}"#, r#"{"tags": ["b", "c"]}"#, true),
    (r#"{"detail": {"tags": ["a", "b"]}}"#, r#"{"tags": ["c", "d"]}"#, false),
    (r#"{"detail": {"tags": [5]}}"#, r#"{"tags": [1, 5.0]}"#, true),
    // --- fields inside arrays of objects; array consistency [ruler-arrays], [bench]
    (r#"{"detail": {"items": {"sku": ["A"]}}}"#, r#"{"items": [{"sku": "B"}, {"sku": "A"}]}"#, true),
    (r#"{"detail": {"items": {"sku": ["A"]}}}"#, r#"{"items": [{"sku": "B"}, {"id": "A"}]}"#, false),
    (r#"{"detail": {"items": {"sku": ["A"], "qty": [2]}}}"#, r#"{"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}"#, false),
    (r#"{"detail": {"items": {"sku": ["A"], "qty": [2]}}}"#, r#"{"items": [{"sku": "A", "qty": 2}]}"#, true),
    (r#"{"detail": {"items": {"sku": ["A"], "qty": [2]}}}"#, r#"{"items": [{"sku": "B", "qty": 1}, {"sku": "A", "qty": 2}]}"#, true),
    (r#"{"detail": {"a": {"x": [1]}, "b": {"y": [2]}}}"#, r#"{"a": [{"x": 1}], "b": [{"y": 2}]}"#, true),
    (r#"{"detail": {"o": {"i": {"v": ["p"], "w": ["q"]}}}}"#, r#"{"o": [{"i": [{"v": "p", "w": "z"}, {"v": "z", "w": "q"}]}]}"#, false),
    (r#"{"detail": {"o": {"i": {"v": ["p"], "w": ["q"]}}}}"#, r#"{"o": [{"i": [{"v": "p", "w": "z"}, {"v": "p", "w": "q"}]}]}"#, true),
    (r#"{"detail": {"o": {"v": ["p"], "i": {"w": ["q"]}}}}"#, r#"{"o": [{"v": "p", "i": {"w": "z"}}, {"v": "z", "i": {"w": "q"}}]}"#, false),
    (r#"{"detail": {"o": {"v": ["p"], "i": {"w": ["q"]}}}}"#, r#"{"o": [{"v": "p", "i": [{"w": "z"}, {"w": "q"}]}]}"#, true),
    (r#"{"detail": {"items": {"gift": [{"exists": false}]}}}"#, r#"{"items": [{"sku": "A"}]}"#, true),
    (r#"{"detail": {"items": {"gift": [{"exists": false}]}}}"#, r#"{"items": [{"sku": "A", "gift": true}, {"sku": "B"}]}"#, false),
    (r#"{"detail": {"items": {"sku": [{"anything-but": "A"}]}}}"#, r#"{"items": [{"sku": "A"}, {"sku": "B"}]}"#, true),
    (r#"{"detail": {"items": {"sku": [{"anything-but": "A"}]}}}"#, r#"{"items": [{"sku": "A"}, {"sku": "A"}]}"#, false),
    (r#"{"source": ["aws.ec2"], "detail": {"items": {"sku": ["A"], "qty": [{"numeric": [">", 1]}]}}}"#, r#"{"items": [{"sku": "A", "qty": 1}, {"sku": "A", "qty": 3}]}"#, true),
    (r#"{"detail": {"geometry": {"coordinates": {"x": [{"numeric": ["<", -122.4]}]}}}}"#, r#"{"geometry": {"coordinates": [[{"x": -122.3, "y": 37.7}, {"x": -122.5, "y": 37.7}]]}}"#, true),
    // --- wildcard complexity: accepted by EventBridge [LS-wildcard], [deployed-wildcards]
    (r#"{"detail": {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}}"#, r#"{"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus"}"#, true),
    (r#"{"detail": {"FileName": [{"wildcard": "/Users/*/dir/dir/dir/dir/dir/doc.txt"}]}}"#, r#"{"FileName": "/Users/ls_user/dir/dir/dir/dir/dir/doc.txt"}"#, true),
    (r#"{"detail": {"key": [{"wildcard": "*.bif"}, {"wildcard": "*.tiff"}, {"wildcard": "*.tif"}, {"wildcard": "*.svs"}]}}"#, r#"{"key": "a/b.tif"}"#, true),
    (r#"{"detail": {"key": [{"wildcard": "*/datasync/*.bif"}, {"wildcard": "*/datasync/*.tif"}]}}"#, r#"{"key": "x/datasync/a.bif"}"#, true),
    // --- a field's name is its keys joined with dots, in patterns and in events:
    //     `a.b` and `a` holding `b` are one path [ruler-dots], [LS-dots]
    (r#"{"detail": {"state.status": ["running"]}}"#, r#"{"state": {"status": "running"}}"#, true),
    (r#"{"detail": {"state": {"status": ["running"]}}}"#, r#"{"state.status": "running"}"#, true),
    (r#"{"detail": {"state.status": ["running"]}}"#, r#"{"state.status": "running"}"#, true),
    (r#"{"detail": {"state": {"status": ["running"]}}}"#, r#"{"state.status": {"status": "running"}}"#, false),
    (r#"{"detail": {"state.status": {"status": ["running"]}}}"#, r#"{"state": {"status": "running"}}"#, false),
    (r#"{"detail.state": ["running"]}"#, r#"{"state": "running"}"#, true),
    (r#"{"detail": {"a": {"b.c": ["x"]}}}"#, r#"{"a.b": {"c": "x"}}"#, true),
    (r#"{"detail": {"a": {"b": ["2"]}}}"#, r#"{"a": {"b": "1"}, "a.b": "2"}"#, true),
    (r#"{"detail": {"a.b": ["x"]}}"#, r#"{"a": {"c": "x"}, "a.c": "x"}"#, false),
    (r#"{"source": ["aws.ec2"], "detail": {"a": {"b": ["x"]}}}"#, r#"{"a": {"c": 1}, "z": 2, "a.b": "x"}"#, true),
    (r#"{"detail": {"state.status": [{"exists": false}]}}"#, r#"{"state": {"other": 1}}"#, true),
    (r#"{"detail": {"state.status": [{"exists": false}]}}"#, r#"{"state": {"status": "x"}}"#, false),
    (r#"{"detail": {"state": {"status": [{"exists": false}]}}}"#, r#"{"state.status": "x"}"#, false),
    (r#"{"detail": {"state": {"status": [{"exists": true}]}}}"#, r#"{"state.status": null}"#, true),
    (r#"{"detail": {"state": {"status": [{"anything-but": "running"}]}}}"#, r#"{"state.status": "running"}"#, false),
    (r#"{"detail": {"state": {"status": [{"anything-but": "running"}]}}}"#, r#"{"state.status": "running", "state": {"status": "stopped"}}"#, true),
    (r#"{"detail": {"$or": [{"a.b": ["x"]}, {"c": ["y"]}]}}"#, r#"{"a": {"b": "x"}}"#, true),
    (r#"{"detail": {"$or": [{"a": {"b": ["x"]}}, {"c": ["y"]}]}}"#, r#"{"a.b": "x"}"#, true),
    (r#"{"detail": {"items.sku": ["A"]}}"#, r#"{"items": [{"sku": "B"}, {"sku": "A"}]}"#, true),
    (r#"{"detail": {"items": {"sku": ["A"]}}}"#, r#"{"items.sku": ["B", "A"]}"#, true),
    (r#"{"detail": {"items.sku": ["A"], "items": {"qty": [2]}}}"#, r#"{"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}"#, false),
    (r#"{"detail": {"items.sku": ["A"], "items": {"qty": [2]}}}"#, r#"{"items": [{"sku": "A", "qty": 2}]}"#, true),
    // --- duplicate keys in a pattern: the last one wins (issue 3)
    (r#"{"source": ["aws.s3"], "source": ["aws.ec2"]}"#, "{}", true),
    (r#"{"source": ["aws.ec2"], "source": ["aws.s3"]}"#, "{}", false),
    (r#"{"detail": {"state": ["x"]}, "detail": {"state": ["running"]}}"#, r#"{"state": "running"}"#, true),
    (r#"{"detail": {"state": [{"prefix": "x", "prefix": "run"}]}}"#, r#"{"state": "running"}"#, true),
];

fn envelope(detail: &str) -> String {
    format!(
        r#"{{"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1", "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"], "detail": {detail}}}"#
    )
}

#[test]
fn conformance_cases_match_alone() {
    assert!(CASES.len() >= 200, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for (i, (pattern, detail, expected)) in CASES.iter().enumerate() {
        let event = envelope(detail);
        match test_event_pattern(pattern, &event, &Limits::default()) {
            Ok(got) if got == *expected => {}
            other => failures.push(format!(
                "case {i}: {pattern} on {detail}: expected {expected}, got {other:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn conformance_cases_match_in_one_shared_matcher() {
    let mut builder = MatcherBuilder::new();
    for (i, (pattern, _, _)) in CASES.iter().enumerate() {
        builder.add(
            i,
            &Pattern::parse(pattern, &Limits::default()).expect("valid pattern"),
        );
    }
    let matcher = builder.build();
    assert_eq!(matcher.rule_count(), CASES.len());
    let mut failures = Vec::new();
    for (i, (pattern, detail, expected)) in CASES.iter().enumerate() {
        let matched = matcher
            .matches(envelope(detail).as_bytes())
            .expect("valid event");
        let mut sorted = matched.clone();
        sorted.dedup();
        assert_eq!(sorted, matched, "each rule is reported once, in order");
        if matched.contains(&i) != *expected {
            failures.push(format!(
                "case {i}: {pattern} on {detail}: expected {expected}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// (pattern, expected error path, expected kind)
type InvalidCase = (&'static str, &'static str, fn(&PatternError) -> bool);

#[rustfmt::skip]
const INVALID: &[InvalidCase] = &[
    // Structure [ruler-compiler]
    (r#"[]"#, "", |e| matches!(e, PatternError::NotAnObject { .. })),
    (r#""source""#, "", |e| matches!(e, PatternError::NotAnObject { .. })),
    (r#"{}"#, "", |e| matches!(e, PatternError::EmptyObject { .. })),
    (r#"{"detail": {}}"#, "detail", |e| matches!(e, PatternError::EmptyObject { .. })),
    (r#"{"source": "aws.ec2"}"#, "source", |e| matches!(e, PatternError::NotObjectOrArray { .. })),
    (r#"{"source": 5}"#, "source", |e| matches!(e, PatternError::NotObjectOrArray { .. })),
    (r#"{"detail": {"n": null}}"#, "detail.n", |e| matches!(e, PatternError::NotObjectOrArray { .. })),
    (r#"{"source": []}"#, "source", |e| matches!(e, PatternError::EmptyArray { .. })),
    (r#"{"source": [["a"]]}"#, "source", |e| matches!(e, PatternError::InvalidMatchValue { .. })),
    (r#"{"source": [{"foo": "x"}]}"#, "source", |e| matches!(e, PatternError::UnknownOperator { .. })),
    (r#"{"source": [{"shellstyle": "a*"}]}"#, "source", |e| matches!(e, PatternError::UnknownOperator { .. })),
    (r#"{"source": [{}]}"#, "source", |e| matches!(e, PatternError::OperatorArity { .. })),
    (r#"{"source": [{"prefix": "a", "suffix": "b"}]}"#, "source", |e| matches!(e, PatternError::OperatorArity { .. })),
    // Operand types [ruler-compiler]
    (r#"{"source": [{"prefix": 5}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { operator: "prefix", .. })),
    (r#"{"source": [{"prefix": {"foo": "x"}}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { operator: "prefix", .. })),
    (r#"{"source": [{"suffix": null}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { operator: "suffix", .. })),
    (r#"{"source": [{"equals-ignore-case": ["a"]}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"source": [{"wildcard": 7}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { operator: "wildcard", .. })),
    (r#"{"source": [{"exists": "true"}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { operator: "exists", .. })),
    (r#"{"source": [{"exists": 1}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"source": [{"cidr": 5}]}"#, "source", |e| matches!(e, PatternError::InvalidOperand { operator: "cidr", .. })),
    // wildcard: `**` and bad escapes [EB-operators]
    (r#"{"detail": {"f": [{"wildcard": "a**b"}]}}"#, "detail.f", |e| matches!(e, PatternError::InvalidWildcard { .. })),
    (r#"{"detail": {"f": [{"wildcard": "a\\b"}]}}"#, "detail.f", |e| matches!(e, PatternError::InvalidWildcard { .. })),
    (r#"{"detail": {"f": [{"anything-but": {"wildcard": "**"}}]}}"#, "detail.f", |e| matches!(e, PatternError::InvalidWildcard { .. })),
    // wildcard complexity: refused by EventBridge [LS-wildcard], [deployed-wildcards]
    (r#"{"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}"#, "EventBusArn", |e| matches!(e, PatternError::TooComplex { .. })),
    (r#"{"detail": {"key": [{"wildcard": "*/datasync/*.bif"}, {"wildcard": "*/datasync/*.tif"}, {"wildcard": "*/datasync/*.tiff"}, {"wildcard": "*/datasync/*.svs"}]}}"#, "detail.key", |e| matches!(e, PatternError::TooComplex { .. })),
    (r#"{"detail": {"f": [{"anything-but": {"wildcard": "*aaaaaaaaaa"}}]}}"#, "detail.f", |e| matches!(e, PatternError::TooComplex { .. })),
    (r#"{"$or": [{"a": ["x"]}, {"f": [{"wildcard": "*:*:*:*:*:*"}]}]}"#, "$or[1].f", |e| matches!(e, PatternError::TooComplex { .. })),
    // numeric [ruler-compiler], range limit [EB-operators]
    (r#"{"detail": {"price": [{"numeric": [">", "x"]}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { operator: "numeric", .. })),
    (r#"{"detail": {"price": [{"numeric": ["=", 6e9]}]}}"#, "detail.price", |e| matches!(e, PatternError::NumberOutOfRange { .. })),
    (r#"{"detail": {"price": [{"numeric": [">", -5000000001]}]}}"#, "detail.price", |e| matches!(e, PatternError::NumberOutOfRange { .. })),
    (r#"{"detail": {"price": [{"numeric": [">", 5, "<", 1]}]}}"#, "detail.price", |e| matches!(e, PatternError::EmptyRange { .. })),
    (r#"{"detail": {"price": [{"numeric": [">", 5, "<=", 5]}]}}"#, "detail.price", |e| matches!(e, PatternError::EmptyRange { .. })),
    (r#"{"detail": {"price": [{"numeric": ["<", 5, ">", 1]}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"price": [{"numeric": ["!=", 5]}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"price": [{"numeric": []}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"price": [{"numeric": 5}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"price": [{"numeric": [">", 1, "<"]}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"price": [{"numeric": ["=", "5"]}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"price": [{"numeric": ["=", 1, "<", 2]}]}}"#, "detail.price", |e| matches!(e, PatternError::InvalidOperand { .. })),
    // anything-but [ruler-compiler]
    (r#"{"detail": {"s": [{"anything-but": []}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { operator: "anything-but", .. })),
    (r#"{"detail": {"s": [{"anything-but": [1, "a"]}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": null}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": true}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": [null]}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": {"prefix": ""}}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": {"suffix": ["a", ""]}}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": {"exists": true}}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": {"prefix": 5}}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}}"#, "detail.s", |e| matches!(e, PatternError::InvalidOperand { .. })),
    (r#"{"detail": {"s": [{"anything-but": [6e9]}]}}"#, "detail.s", |e| matches!(e, PatternError::NumberOutOfRange { .. })),
    // cidr [EB-operators]
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0"}]}}"#, "detail.ip", |e| matches!(e, PatternError::InvalidCidr { .. })),
    (r#"{"detail": {"ip": [{"cidr": "10.0.0.0/33"}]}}"#, "detail.ip", |e| matches!(e, PatternError::InvalidCidr { .. })),
    (r#"{"detail": {"ip": [{"cidr": "::/129"}]}}"#, "detail.ip", |e| matches!(e, PatternError::InvalidCidr { .. })),
    (r#"{"detail": {"ip": [{"cidr": "abc/8"}]}}"#, "detail.ip", |e| matches!(e, PatternError::InvalidCidr { .. })),
    // $or [ruler-compiler]
    (r#"{"$or": [{"a": ["x"]}]}"#, "$or", |e| matches!(e, PatternError::InvalidOr { .. })),
    (r#"{"$or": {"a": ["x"]}}"#, "$or", |e| matches!(e, PatternError::InvalidOr { .. })),
    (r#"{"$or": [{"a": ["x"]}, "b"]}"#, "$or[1]", |e| matches!(e, PatternError::InvalidOr { .. })),
    (r#"{"$or": [{"a": ["x"]}, {}]}"#, "$or[1]", |e| matches!(e, PatternError::EmptyObject { .. })),
    (r#"{"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}"#, "$or[0]", |e| matches!(e, PatternError::ReservedFieldInOr { .. })),
    (r#"{"a": ["x"], "$or": [{"a": ["y"]}, {"b": ["z"]}]}"#, "a", |e| matches!(e, PatternError::DuplicateField { .. })),
    (r#"{"detail": {"a.b": ["x"], "a": {"b": ["y"]}}}"#, "detail.a.b", |e| matches!(e, PatternError::DuplicateField { .. })),
    (r#"{"detail": {"$or": [{"a": ["x"]}, {"b": [{"numeric": ["<"]}]}]}}"#, "detail.$or[1].b", |e| matches!(e, PatternError::InvalidOperand { .. })),
];

#[test]
fn invalid_patterns_are_rejected_naming_the_path() {
    let mut failures = Vec::new();
    for (pattern, path, kind) in INVALID {
        match Pattern::parse(pattern, &Limits::default()) {
            Err(e) if e.path() == Some(path) && kind(&e) => {
                let shown = e.to_string();
                if !path.is_empty() && !shown.starts_with(&format!("{path}: ")) {
                    failures.push(format!(
                        "{pattern}: message `{shown}` does not start with the path"
                    ));
                }
            }
            other => failures.push(format!(
                "{pattern}: expected error at `{path}`, got {other:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wildcard_errors_use_eventbridge_wording() {
    let too_complex = Pattern::parse(
        r#"{"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}"#,
        &Limits::default(),
    )
    .expect_err("too complex");
    assert!(
        too_complex.to_string().contains(
            "rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character"
        ),
        "{too_complex}"
    );
    let consecutive = Pattern::parse(
        r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:**:event-bus/*"}]}"#,
        &Limits::default(),
    )
    .expect_err("consecutive stars");
    assert!(
        consecutive
            .to_string()
            .contains("consecutive wildcard characters at pos 26"),
        "{consecutive}"
    );
}

#[test]
fn pattern_length_and_json_syntax_limits() {
    let long = format!(r#"{{"source": ["{}"]}}"#, "x".repeat(5000));
    assert!(matches!(
        Pattern::parse(&long, &Limits::default()),
        Err(PatternError::TooLong { limit: 4096, .. })
    ));
    let limits = Limits {
        max_pattern_chars: 10,
        ..Limits::default()
    };
    assert!(matches!(
        Pattern::parse(r#"{"source": ["x"]}"#, &limits),
        Err(PatternError::TooLong { .. })
    ));
    // Characters, not bytes: 4096 two-byte characters fit.
    let wide = format!(r#"{{"s": ["{}"]}}"#, "é".repeat(4000));
    assert!(Pattern::parse(&wide, &Limits::default()).is_ok());
    assert!(matches!(
        Pattern::parse(r#"{"source": ["#, &Limits::default()),
        Err(PatternError::InvalidJson { .. })
    ));
}

#[test]
fn or_combinations_are_limited() {
    let alternatives = |field: &str, n: usize| {
        let items: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"{field}": ["{i}"]}}"#))
            .collect();
        format!(r#"{{"$or": [{}]}}"#, items.join(", "))
    };
    let ok = format!(
        r#"{{"a": {}, "b": {}}}"#,
        alternatives("x", 10),
        alternatives("y", 100)
    );
    let pattern = Pattern::parse(&ok, &Limits::default()).expect("1000 combinations are allowed");
    assert_eq!(pattern.combinations(), 1000);
    let too_many = format!(
        r#"{{"a": {}, "b": {}}}"#,
        alternatives("x", 11),
        alternatives("y", 100)
    );
    assert!(matches!(
        Pattern::parse(&too_many, &Limits::default()),
        Err(PatternError::TooManyCombinations { limit: 1000 })
    ));
}

#[test]
fn events_that_are_not_json_objects_are_errors() {
    let limits = Limits::default();
    assert!(test_event_pattern(r#"{"source": ["x"]}"#, "[1, 2]", &limits).is_err());
    assert!(test_event_pattern(r#"{"source": ["x"]}"#, r#"{"source": "x""#, &limits).is_err());
    assert!(test_event_pattern(r#"{"source": ["x"]}"#, "not json", &limits).is_err());
    // A whole object is read: TestEventPattern's envelope fields are required.
    assert!(test_event_pattern(r#"{"source": ["x"]}"#, r#"{"source": "x"}"#, &limits).is_err());
    assert_eq!(
        test_event_pattern(r#"{"source": ["aws.ec2"]}"#, &envelope("{}"), &limits),
        Ok(true)
    );
}

#[test]
fn a_rule_with_several_patterns_is_reported_once() {
    let limits = Limits::default();
    let mut builder = MatcherBuilder::new();
    builder.add(
        "r1",
        &Pattern::parse(r#"{"source": ["aws.ec2"]}"#, &limits).expect("valid"),
    );
    builder.add(
        "r1",
        &Pattern::parse(r#"{"region": ["us-west-1"]}"#, &limits).expect("valid"),
    );
    builder.add(
        "r2",
        &Pattern::parse(
            r#"{"$or": [{"source": ["aws.ec2"]}, {"detail": {"x": [1]}}]}"#,
            &limits,
        )
        .expect("valid"),
    );
    builder.add(
        "r3",
        &Pattern::parse(r#"{"source": ["aws.s3"]}"#, &limits).expect("valid"),
    );
    let matcher = builder.build();
    assert_eq!(matcher.rule_count(), 3);
    let event = envelope(r#"{"x": 1}"#);
    assert_eq!(
        matcher.matches(event.as_bytes()).expect("valid"),
        vec!["r1", "r2"]
    );
}
