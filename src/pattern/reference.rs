//! A naive reference matcher for tests: walks a `serde_json::Value` event for
//! each `$or` combination of a pattern and tries every choice of values, with
//! each predicate written out directly. It shares only the parsed [`Pattern`]
//! with the compiled matcher, so the property tests compare the automaton,
//! the flattener and the value indexes against obviously-correct code.
//!
//! Number literals: serde_json (without `arbitrary_precision`) re-prints
//! numbers, so the text comparison here is exact only for literals printed the
//! way serde_json prints them, which is how the property tests write them.

use serde_json::Value;

use super::cidr::parse_ip;
use super::number::from_order_key;
use super::parse::Pattern;
use super::predicate::{AnythingBut, Bound, Condition, Literal, NumericRange, Predicate};
use super::wildcard::Wildcard;

/// A leaf value with the (array identity, element index) pairs it sits in.
struct Leaf<'a> {
    value: &'a Value,
    arrays: Vec<(usize, usize)>,
}

pub(crate) fn matches(pattern: &Pattern, event: &Value) -> bool {
    pattern.branches.iter().any(|branch| {
        let fields: Vec<(&Condition, Vec<Leaf<'_>>)> = branch
            .fields
            .iter()
            .map(|(path, condition)| {
                let mut leaves = Vec::new();
                collect(event, path, &mut Vec::new(), &mut leaves);
                (condition, leaves)
            })
            .collect();
        search(&fields, &[])
    })
}

fn collect<'a>(
    value: &'a Value,
    path: &[String],
    arrays: &mut Vec<(usize, usize)>,
    out: &mut Vec<Leaf<'a>>,
) {
    if let Value::Array(items) = value {
        let identity = std::ptr::from_ref(value) as usize;
        for (i, item) in items.iter().enumerate() {
            arrays.push((identity, i));
            collect(item, path, arrays, out);
            arrays.pop();
        }
        return;
    }
    match (path.split_first(), value) {
        (None, Value::Object(_)) => {}
        (None, _) => out.push(Leaf {
            value,
            arrays: arrays.clone(),
        }),
        // A key is the path of its dot-separated segments, so every key that
        // spells a leading part of the remaining path is followed.
        (Some(_), Value::Object(map)) => {
            for (key, child) in map {
                let segments: Vec<&str> = key.split('.').collect();
                let leads = segments.len() <= path.len()
                    && segments.iter().zip(path).all(|(s, p)| *s == p.as_str());
                if leads {
                    collect(child, &path[segments.len()..], arrays, out);
                }
            }
        }
        (Some(_), _) => {}
    }
}

fn search(fields: &[(&Condition, Vec<Leaf<'_>>)], held: &[(usize, usize)]) -> bool {
    let Some(((condition, leaves), rest)) = fields.split_first() else {
        return true;
    };
    if condition.absent && leaves.is_empty() && search(rest, held) {
        return true;
    }
    leaves.iter().any(|leaf| {
        let consistent = leaf
            .arrays
            .iter()
            .all(|(a, e)| held.iter().all(|(ha, he)| ha != a || he == e));
        if !consistent
            || !condition
                .predicates
                .iter()
                .any(|p| predicate(p, leaf.value))
        {
            return false;
        }
        let mut merged = held.to_vec();
        merged.extend(
            leaf.arrays
                .iter()
                .filter(|(a, _)| !held.iter().any(|(ha, _)| ha == a)),
        );
        search(rest, &merged)
    })
}

fn in_numeric_range(value: &Value) -> Option<f64> {
    let n = value.as_f64()?;
    (n.is_finite() && n.abs() <= 5e9).then_some(n)
}

fn number_literal(value: &Value) -> Option<String> {
    matches!(value, Value::Number(_)).then(|| value.to_string())
}

fn within(n: f64, range: &NumericRange) -> bool {
    let above = |b: &Bound| {
        let v = from_order_key(b.key);
        n > v || (b.inclusive && n == v)
    };
    let below = |b: &Bound| {
        let v = from_order_key(b.key);
        n < v || (b.inclusive && n == v)
    };
    range.lower.as_ref().is_none_or(above) && range.upper.as_ref().is_none_or(below)
}

fn predicate(predicate: &Predicate, value: &Value) -> bool {
    let text = value.as_str();
    match predicate {
        Predicate::String(s) => text == Some(s.as_str()),
        Predicate::Literal(Literal::True) => value == &Value::Bool(true),
        Predicate::Literal(Literal::False) => value == &Value::Bool(false),
        Predicate::Literal(Literal::Null) => value.is_null(),
        Predicate::NumberText(t) => number_literal(value).as_deref() == Some(t.as_str()),
        Predicate::NumberEquals(key) => in_numeric_range(value) == Some(from_order_key(*key)),
        Predicate::Range(range) => in_numeric_range(value).is_some_and(|n| within(n, range)),
        Predicate::Prefix(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
        Predicate::Suffix(s) => text.is_some_and(|t| t.ends_with(s.as_str())),
        Predicate::EqualsIgnoreCase(f) => text.is_some_and(|t| t.to_lowercase() == *f),
        Predicate::PrefixIgnoreCase(f) => {
            text.is_some_and(|t| t.to_lowercase().starts_with(f.as_str()))
        }
        Predicate::SuffixIgnoreCase(f) => {
            text.is_some_and(|t| t.to_lowercase().ends_with(f.as_str()))
        }
        Predicate::Wildcard(w) => text.is_some_and(|t| glob(w, t)),
        Predicate::Cidr(block) => text.and_then(parse_ip).is_some_and(|ip| block.contains(ip)),
        Predicate::Exists => true,
        Predicate::AnythingBut(ab) => !excluded(ab, value),
    }
}

fn excluded(anything_but: &AnythingBut, value: &Value) -> bool {
    let text = value.as_str();
    match anything_but {
        AnythingBut::Strings(list) => text.is_some_and(|t| list.iter().any(|s| s == t)),
        AnythingBut::Numbers(keys) => {
            in_numeric_range(value).is_some_and(|n| keys.iter().any(|k| from_order_key(*k) == n))
        }
        AnythingBut::Prefixes(list) => {
            text.is_some_and(|t| list.iter().any(|p| t.starts_with(p.as_str())))
        }
        AnythingBut::Suffixes(list) => {
            text.is_some_and(|t| list.iter().any(|s| t.ends_with(s.as_str())))
        }
        AnythingBut::IgnoreCase(list) => text.is_some_and(|t| list.contains(&t.to_lowercase())),
        AnythingBut::Wildcards(list) => text.is_some_and(|t| list.iter().any(|w| glob(w, t))),
    }
}

/// Dynamic-programming glob: `reachable[j]` = the first j bytes of the value
/// can be matched by the pattern tokens consumed so far.
fn glob(wildcard: &Wildcard, text: &str) -> bool {
    enum Token {
        Byte(u8),
        Star,
    }
    let mut tokens = Vec::new();
    for (i, segment) in wildcard.segments().iter().enumerate() {
        if i > 0 {
            tokens.push(Token::Star);
        }
        tokens.extend(segment.iter().map(|b| Token::Byte(*b)));
    }
    let bytes = text.as_bytes();
    let mut reachable = vec![false; bytes.len() + 1];
    reachable[0] = true;
    for token in &tokens {
        let mut next = vec![false; bytes.len() + 1];
        for j in 0..=bytes.len() {
            match token {
                Token::Star => next[j] = reachable[j] || (j > 0 && next[j - 1]),
                Token::Byte(b) => next[j] = j > 0 && reachable[j - 1] && bytes[j - 1] == *b,
            }
        }
        reachable = next;
    }
    reachable[bytes.len()]
}
