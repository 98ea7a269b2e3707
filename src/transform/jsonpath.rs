//! The JSONPath subset EventBridge evaluates on events: parse once, select
//! many times.
//!
//! Owns the grammar and its evaluation over either borrowed raw JSON (so that
//! a selected value can be sent as the publisher wrote it) or a parsed
//! `serde_json::Value`. The grammar is the one AWS publishes for dynamic
//! parameters, `\$(\.[\w/_-]+(\[(\d+|\*)\])*)*`: `$`, dotted field names of
//! ASCII letters, digits, `_`, `-` and `/`, array indices `[0]` and the array
//! wildcard `[*]`. `InputPath` also takes quoted bracket keys (`$['a b']`).
//! Filters, slices, recursive descent and negative indices are refused. Which
//! notation a field takes, and what a missing value means, is for the caller.

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

/// Which notation a path may use: AWS takes quoted bracket keys in
/// `InputPath` only ("You must use JSON dot notation, not bracket notation"
/// for `InputPathsMap`; dynamic parameters follow the transformer's syntax).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notation {
    Dot,
    DotOrBracket,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
    /// `[*]`: every element of an array.
    Wildcard,
}

/// A parsed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

/// Why a path was refused; `at` is a byte offset into the path text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("a path must start with `$`")]
    NoRoot,
    #[error("expected a field name of letters, digits, `_`, `-` or `/` at offset {at}")]
    ExpectedName { at: usize },
    #[error("unexpected `{found}` at offset {at}")]
    Unexpected { at: usize, found: char },
    #[error("bracket notation at offset {at} is not allowed here; use dot notation")]
    BracketKey { at: usize },
    #[error("`[` at offset {at} is not closed")]
    Unclosed { at: usize },
    #[error("the array index at offset {at} must follow a field")]
    IndexWithoutField { at: usize },
    #[error("the array index at offset {at} is too large")]
    IndexTooLarge { at: usize },
}

/// What a path selected: one value, or for a path with `[*]`, every match.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection<N> {
    One(N),
    Many(Vec<N>),
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/')
}

fn unexpected(text: &str, at: usize) -> PathError {
    match text.get(at..).and_then(|rest| rest.chars().next()) {
        Some(found) => PathError::Unexpected { at, found },
        None => PathError::ExpectedName { at },
    }
}

impl JsonPath {
    pub fn parse(text: &str, notation: Notation) -> Result<Self, PathError> {
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'$') {
            return Err(PathError::NoRoot);
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let end = start
                        + bytes[start..]
                            .iter()
                            .take_while(|b| is_name_byte(**b))
                            .count();
                    if end == start {
                        return Err(PathError::ExpectedName { at: start });
                    }
                    steps.push(Step::Field(text[start..end].to_owned()));
                    i = end;
                }
                b'[' => {
                    let close = bytes[i..]
                        .iter()
                        .position(|b| *b == b']')
                        .map(|p| i + p)
                        .ok_or(PathError::Unclosed { at: i })?;
                    let inner = &text[i + 1..close];
                    let step = Self::bracket(inner, i, notation, steps.is_empty())?;
                    steps.push(step);
                    i = close + 1;
                }
                _ => return Err(unexpected(text, i)),
            }
        }
        Ok(JsonPath { steps })
    }

    /// The step inside `[...]` that starts at byte `at`.
    fn bracket(inner: &str, at: usize, notation: Notation, first: bool) -> Result<Step, PathError> {
        let quoted = inner.len() >= 2
            && (inner.starts_with('\'') && inner.ends_with('\'')
                || inner.starts_with('"') && inner.ends_with('"'));
        if quoted {
            if notation == Notation::Dot {
                return Err(PathError::BracketKey { at });
            }
            let key = &inner[1..inner.len() - 1];
            // No escapes: a key holding its own quote character is refused.
            if key.contains(&inner[..1]) {
                return Err(unexpected(inner, 0));
            }
            return Ok(Step::Field(key.to_owned()));
        }
        if first {
            return Err(PathError::IndexWithoutField { at });
        }
        if inner == "*" {
            return Ok(Step::Wildcard);
        }
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
            return match inner.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                Some((p, found)) => Err(PathError::Unexpected {
                    at: at + 1 + p,
                    found,
                }),
                None => Err(PathError::Unexpected { at, found: '[' }),
            };
        }
        inner
            .parse()
            .map(Step::Index)
            .map_err(|_| PathError::IndexTooLarge { at: at + 1 })
    }

    /// The value(s) at this path in `root`. `None` when nothing is there; a
    /// path with `[*]` selects `Many` (possibly empty) once the part before
    /// the first `[*]` names an array.
    pub fn select<N: Node>(&self, root: N) -> Option<Selection<N>> {
        let mut nodes = vec![root];
        let mut many = false;
        for step in &self.steps {
            nodes = match step {
                Step::Field(name) => nodes.into_iter().filter_map(|n| n.field(name)).collect(),
                Step::Index(i) => nodes.into_iter().filter_map(|n| n.index(*i)).collect(),
                Step::Wildcard if !many => {
                    many = true;
                    nodes.into_iter().next()?.elements()?
                }
                Step::Wildcard => nodes
                    .into_iter()
                    .filter_map(N::elements)
                    .flatten()
                    .collect(),
            };
            if !many && nodes.is_empty() {
                return None;
            }
        }
        if many {
            Some(Selection::Many(nodes))
        } else {
            nodes.pop().map(Selection::One)
        }
    }
}

/// A JSON value a path can walk: borrowed raw text or a parsed `Value`.
pub trait Node: Copy {
    fn field(self, name: &str) -> Option<Self>;
    fn index(self, i: usize) -> Option<Self>;
    /// The elements, when this is an array.
    fn elements(self) -> Option<Vec<Self>>;
}

impl Node for &Value {
    fn field(self, name: &str) -> Option<Self> {
        self.as_object()?.get(name)
    }

    fn index(self, i: usize) -> Option<Self> {
        self.as_array()?.get(i)
    }

    fn elements(self) -> Option<Vec<Self>> {
        Some(self.as_array()?.iter().collect())
    }
}

// Raw values come from text serde_json has already checked, so these parses
// fail only on the wrong kind of value, which is "nothing here".
impl<'a> Node for &'a RawValue {
    fn field(self, name: &str) -> Option<Self> {
        if !self.get().starts_with('{') {
            return None;
        }
        let members: HashMap<String, &'a RawValue> = serde_json::from_str(self.get()).ok()?;
        members.get(name).copied()
    }

    fn index(self, i: usize) -> Option<Self> {
        self.elements()?.get(i).copied()
    }

    fn elements(self) -> Option<Vec<Self>> {
        if !self.get().starts_with('[') {
            return None;
        }
        serde_json::from_str(self.get()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn dot(text: &str) -> Result<JsonPath, PathError> {
        JsonPath::parse(text, Notation::Dot)
    }

    fn select_raw(path: &str, json: &str) -> Option<String> {
        let root: &RawValue = serde_json::from_str(json).expect("test JSON");
        let path = JsonPath::parse(path, Notation::DotOrBracket).expect("test path");
        path.select(root).map(|s| match s {
            Selection::One(v) => v.get().to_owned(),
            Selection::Many(vs) => {
                let parts: Vec<&str> = vs.iter().map(|v| v.get()).collect();
                format!("[{}]", parts.join(","))
            }
        })
    }

    #[test]
    fn parses_the_documented_forms() {
        for ok in [
            "$",
            "$.detail",
            "$.detail.instance-id",
            "$.detail-type",
            "$.resources[0]",
            "$.a_b.c/d[1][2]",
            "$.detail.items[*].id",
        ] {
            assert!(dot(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_aws_does_not_evaluate() {
        assert_eq!(dot(""), Err(PathError::NoRoot));
        assert_eq!(dot("detail"), Err(PathError::NoRoot));
        assert_eq!(dot("$."), Err(PathError::ExpectedName { at: 2 }));
        assert_eq!(dot("$..a"), Err(PathError::ExpectedName { at: 2 }));
        assert_eq!(
            dot("$.a b"),
            Err(PathError::Unexpected { at: 3, found: ' ' })
        );
        assert_eq!(dot("$.é"), Err(PathError::ExpectedName { at: 2 }));
        assert_eq!(
            dot("$.a[-1]"),
            Err(PathError::Unexpected { at: 4, found: '-' })
        );
        assert_eq!(
            dot("$.a[]"),
            Err(PathError::Unexpected { at: 3, found: '[' })
        );
        assert_eq!(dot("$.a[0"), Err(PathError::Unclosed { at: 3 }));
        assert_eq!(dot("$[0]"), Err(PathError::IndexWithoutField { at: 1 }));
        assert_eq!(dot("$.a['b']"), Err(PathError::BracketKey { at: 3 }));
        assert_eq!(
            dot("$.a[99999999999999999999999]"),
            Err(PathError::IndexTooLarge { at: 4 })
        );
        assert!(dot("$.a[?(@.b)]").is_err());
        assert!(dot("$.a[1:2]").is_err());
    }

    #[test]
    fn input_path_takes_quoted_bracket_keys() {
        assert_eq!(
            select_raw("$['detail']['a.b c']", r#"{"detail":{"a.b c":1}}"#).as_deref(),
            Some("1")
        );
        assert_eq!(
            select_raw(r#"$["detail"]"#, r#"{"detail":2}"#).as_deref(),
            Some("2")
        );
        assert!(JsonPath::parse("$['it's']", Notation::DotOrBracket).is_err());
    }

    #[test]
    fn selects_raw_text_verbatim() {
        let event = r#"{"detail":{"n":1.50,"o":{"z":1, "a":2},"s":"\u00e9","l":[10,20]}}"#;
        assert_eq!(select_raw("$.detail.n", event).as_deref(), Some("1.50"));
        assert_eq!(
            select_raw("$.detail.o", event).as_deref(),
            Some(r#"{"z":1, "a":2}"#)
        );
        assert_eq!(
            select_raw("$.detail.s", event).as_deref(),
            Some(r#""\u00e9""#)
        );
        assert_eq!(select_raw("$.detail.l[1]", event).as_deref(), Some("20"));
        assert_eq!(select_raw("$.detail.l[2]", event), None);
        assert_eq!(select_raw("$.detail.missing", event), None);
        assert_eq!(select_raw("$.detail.n.deeper", event), None);
        assert_eq!(select_raw("$.detail.o[0]", event), None);
    }

    #[test]
    fn wildcards_collect_matches_once_the_array_exists() {
        let event = r#"{"a":[{"id":1},{"x":0},{"id":3}],"e":[],"o":{"id":1}}"#;
        assert_eq!(select_raw("$.a[*].id", event).as_deref(), Some("[1,3]"));
        assert_eq!(
            select_raw("$.a[*]", event).as_deref(),
            Some(r#"[{"id":1},{"x":0},{"id":3}]"#)
        );
        assert_eq!(select_raw("$.e[*]", event).as_deref(), Some("[]"));
        assert_eq!(select_raw("$.o[*]", event), None);
        assert_eq!(select_raw("$.missing[*]", event), None);
        let nested = r#"{"m":[[1,2],[3],4]}"#;
        assert_eq!(select_raw("$.m[*][*]", nested).as_deref(), Some("[1,2,3]"));
    }

    #[test]
    fn parsed_values_select_like_raw_ones() {
        let v = json!({"detail": {"l": [{"k": "a"}, {"k": "b"}]}});
        let path = dot("$.detail.l[1].k").expect("valid");
        assert_eq!(path.select(&v), Some(Selection::One(&json!("b"))));
        let all = dot("$.detail.l[*].k").expect("valid");
        assert_eq!(
            all.select(&v),
            Some(Selection::Many(vec![&json!("a"), &json!("b")]))
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = JsonPath::parse(&text, Notation::Dot);
            let _ = JsonPath::parse(&text, Notation::DotOrBracket);
        }

        #[test]
        fn parsing_and_selecting_path_like_text_never_panics(text in "\\$[.\\[\\]'\"*a0-9é/_-]{0,16}") {
            let event = json!({"a": [{"b": 1}, [2]], "0": {"a": "x"}});
            for notation in [Notation::Dot, Notation::DotOrBracket] {
                if let Ok(path) = JsonPath::parse(&text, notation) {
                    let _ = path.select(&event);
                    let raw: &RawValue = serde_json::from_str(r#"{"a":[{"b":1},[2]],"0":{"a":"x"}}"#).expect("JSON");
                    let _ = path.select(raw);
                }
            }
        }
    }
}
