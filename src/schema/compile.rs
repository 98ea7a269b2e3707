//! One JSON Schema, compiled: parse the text, refuse what cannot be served
//! safely, build a `jsonschema` validator once, and check instances with it.
//!
//! Pure: no store, no clock. Nothing is ever fetched: a `$ref` to anything but
//! the schema itself or a standard meta-schema is refused when the schema is
//! registered, so validation at ingest never waits on a network or a file.

use jsonschema::{PatternOptions, Retrieve, Uri, Validator};
use serde_json::Value;

/// The largest schema text accepted, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Backtracking steps one `pattern` match may take before it fails (as a
/// violation): a pathological pattern costs an event's check, not the server.
const REGEX_BACKTRACK_LIMIT: usize = 100_000;
/// Compiled size one `pattern` regex may reach.
const REGEX_SIZE_BYTES: usize = 1024 * 1024;

/// Why a schema text was refused. The Display is the sentence a client reads.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the schema is {len} bytes; at most {MAX_SCHEMA_BYTES} are accepted")]
    TooLarge { len: usize },
    #[error("the schema is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("a schema must be a JSON object or a boolean")]
    NotASchema,
    #[error(
        "the schema is not a valid JSON Schema: {message}{}",
        at_pointer(pointer)
    )]
    Invalid { pointer: String, message: String },
}

fn at_pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" (at {pointer} in the schema)")
    }
}

/// The first rule an instance breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the validated value (`""` is the value itself).
    pub pointer: String,
    /// The schema keyword that failed (`type`, `required`, `minimum`, …).
    pub keyword: String,
    /// What `jsonschema` says is wrong, e.g. `-1 is less than the minimum of 0`.
    pub message: String,
}

/// Refuses every retrieval: a schema may only `$ref` itself or a meta-schema
/// `jsonschema` ships.
struct NoRetrieval;

#[derive(Debug, thiserror::Error)]
#[error("$ref {uri} is not fetched: Stowage resolves no remote or file references")]
struct RetrievalRefused {
    uri: String,
}

impl Retrieve for NoRetrieval {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(Box::new(RetrievalRefused {
            uri: uri.as_str().to_owned(),
        }))
    }
}

/// A compiled schema, ready to check many instances.
pub struct Compiled {
    validator: Validator,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

impl Compiled {
    /// Parses and compiles `text`; the schema's own `$schema` picks the draft
    /// (2020-12 when it names none).
    pub fn build(text: &str) -> Result<Compiled, SchemaError> {
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(SchemaError::TooLarge { len: text.len() });
        }
        let schema: Value = serde_json::from_str(text).map_err(SchemaError::NotJson)?;
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(SchemaError::NotASchema);
        }
        let validator = jsonschema::options()
            .with_retriever(NoRetrieval)
            .with_pattern_options(
                PatternOptions::fancy_regex()
                    .backtrack_limit(REGEX_BACKTRACK_LIMIT)
                    .size_limit(REGEX_SIZE_BYTES)
                    .dfa_size_limit(REGEX_SIZE_BYTES),
            )
            .build(&schema)
            .map_err(|e| SchemaError::Invalid {
                pointer: e.instance_path().as_str().to_owned(),
                message: e.to_string(),
            })?;
        Ok(Compiled { validator })
    }

    /// `None` when `instance` is valid, else the first rule it breaks.
    pub fn check(&self, instance: &Value) -> Option<Violation> {
        let error = self.validator.validate(instance).err()?;
        Some(Violation {
            pointer: error.instance_path().as_str().to_owned(),
            keyword: error.kind().keyword().to_owned(),
            message: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORDER: &str = r#"{"type":"object","required":["id"],
        "properties":{"id":{"type":"string"},"amount":{"type":"number","minimum":0},
        "lines":{"type":"array","items":{"type":"object","required":["sku"]}}}}"#;

    #[test]
    fn a_valid_instance_passes() {
        let compiled = Compiled::build(ORDER).expect("a valid schema");
        assert_eq!(compiled.check(&json!({"id":"o-1","amount":3})), None);
    }

    #[test]
    fn a_violation_names_pointer_and_keyword() {
        let compiled = Compiled::build(ORDER).expect("a valid schema");
        let v = compiled
            .check(&json!({"id":"o-1","amount":-1}))
            .expect("below the minimum");
        assert_eq!(
            (v.pointer.as_str(), v.keyword.as_str()),
            ("/amount", "minimum")
        );
        let v = compiled
            .check(&json!({"id":"o-1","lines":[{"sku":"a"},{}]}))
            .expect("a line without sku");
        assert_eq!(
            (v.pointer.as_str(), v.keyword.as_str()),
            ("/lines/1", "required")
        );
        let v = compiled.check(&json!({})).expect("no id");
        assert_eq!((v.pointer.as_str(), v.keyword.as_str()), ("", "required"));
    }

    #[test]
    fn bad_schemas_are_refused_with_a_reason() {
        assert!(matches!(Compiled::build("{"), Err(SchemaError::NotJson(_))));
        assert!(matches!(
            Compiled::build("[1]"),
            Err(SchemaError::NotASchema)
        ));
        let err = Compiled::build(r#"{"type":"nonsense"}"#).expect_err("unknown type");
        assert!(matches!(err, SchemaError::Invalid { .. }), "{err}");
        let err = Compiled::build(r#"{"properties":{"a":{"minimum":"zero"}}}"#)
            .expect_err("a string minimum");
        assert!(err.to_string().contains("/properties/a/minimum"), "{err}");
        let big = format!(r#"{{"description":"{}"}}"#, "x".repeat(MAX_SCHEMA_BYTES));
        assert!(matches!(
            Compiled::build(&big),
            Err(SchemaError::TooLarge { .. })
        ));
    }

    #[test]
    fn remote_references_are_refused() {
        for uri in [
            "https://example.com/order.json",
            "http://127.0.0.1:1/x.json",
            "file:///etc/passwd",
        ] {
            let text = json!({"$ref": uri}).to_string();
            let err = Compiled::build(&text).expect_err("a remote $ref");
            assert!(err.to_string().contains("not fetched"), "{uri}: {err}");
        }
    }

    #[test]
    fn local_references_and_meta_schemas_work() {
        let text = r##"{"$schema":"http://json-schema.org/draft-07/schema#",
            "definitions":{"id":{"type":"string"}},
            "properties":{"id":{"$ref":"#/definitions/id"}}}"##;
        let compiled = Compiled::build(text).expect("local $ref");
        let v = compiled.check(&json!({"id": 5})).expect("a number id");
        assert_eq!((v.pointer.as_str(), v.keyword.as_str()), ("/id", "type"));
    }

    #[test]
    fn a_catastrophic_pattern_fails_the_event_quickly() {
        let compiled = Compiled::build(r#"{"pattern":"^(a|a)*$"}"#).expect("compiles");
        let started = std::time::Instant::now();
        let text = format!("{}b", "a".repeat(40));
        let v = compiled
            .check(&json!(text))
            .expect("no match, or the limit");
        assert_eq!(v.keyword, "pattern");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_schema_text_never_panics(text in ".{0,400}") {
            if let Ok(compiled) = Compiled::build(&text) {
                let _ = compiled.check(&json!({"a": [1, "x", null], "b": {"c": 2.5}}));
            }
        }

        #[test]
        fn arbitrary_json_schemas_never_panic(schema in arbitrary_json(3)) {
            if let Ok(compiled) = Compiled::build(&schema.to_string()) {
                let _ = compiled.check(&schema);
                let _ = compiled.check(&json!({"a": [1, "x", null]}));
            }
        }
    }

    /// JSON values made mostly of schema keywords, so that many compile.
    fn arbitrary_json(depth: u32) -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let keyword = prop_oneof![
            Just("type"),
            Just("properties"),
            Just("items"),
            Just("required"),
            Just("minimum"),
            Just("maxLength"),
            Just("pattern"),
            Just("enum"),
            Just("$ref"),
            Just("anyOf"),
            Just("not"),
            Just("const"),
            Just("format"),
            Just("additionalProperties"),
            Just("$defs"),
            Just("a"),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("string".to_owned()),
                Just("object".to_owned()),
                Just("#".to_owned()),
                Just("#/$defs/a".to_owned()),
                Just("(a+)+$".to_owned()),
                Just("email".to_owned()),
                ".{0,8}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(depth, 32, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((keyword.clone(), inner), 0..4).prop_map(|pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }
}
