//! `Pattern::parse`: JSON text → validated, typed [`Pattern`] in disjunctive
//! form (one [`Branch`] per `$or` combination).
//!
//! Validation follows EventBridge/aws/event-ruler: every error names the JSON
//! path of the offending part. This file owns the pattern grammar; what a
//! predicate means at match time lives with the matchers.

use super::casefold::fold;
use super::cidr::{CidrBlock, parse_cidr, parse_ip};
use super::error::PatternError;
use super::json::{self, Json};
use super::number::{numeric_value, order_key};
use super::predicate::{
    AnythingBut, Bound, Branch, Condition, Literal, NumericRange, Path, Predicate,
};
use super::wildcard::{MAX_COMPLEXITY, Wildcard, complexity};

/// Limits applied when parsing a pattern (EventBridge's defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted pattern, in characters. Default 4096.
    pub max_pattern_chars: usize,
    /// Most `$or` combinations a pattern may expand to. Default 1000.
    pub max_or_combinations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pattern_chars: 4096,
            max_or_combinations: 1000,
        }
    }
}

/// A parsed and validated event pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub(crate) branches: Vec<Branch>,
}

/// Operator names; inside `$or` they cannot be field names (aws/event-ruler).
const OPERATORS: [&str; 8] = [
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
];

/// Disjunctive form under construction: branches of (path, condition).
type Dnf = Vec<Vec<(Path, Condition)>>;

impl Pattern {
    pub fn parse(json: &str, limits: &Limits) -> Result<Pattern, PatternError> {
        let chars = json.chars().count();
        if chars > limits.max_pattern_chars {
            return Err(PatternError::TooLong {
                chars,
                limit: limits.max_pattern_chars,
            });
        }
        let value = json::parse(json).map_err(|e| PatternError::InvalidJson {
            offset: e.offset,
            reason: e.reason,
        })?;
        let Json::Object(members) = value else {
            return Err(PatternError::NotAnObject {
                path: String::new(),
            });
        };
        let mut parser = Parser {
            limit: limits.max_or_combinations,
            field: Vec::new(),
            shown: Vec::new(),
        };
        let dnf = parser.object(&members, false)?;
        let branches = dnf
            .into_iter()
            .map(|mut fields| {
                fields.sort();
                Branch { fields }
            })
            .collect();
        Ok(Pattern { branches })
    }

    /// Number of `$or` combinations the pattern expands to.
    pub fn combinations(&self) -> usize {
        self.branches.len()
    }
}

struct Parser {
    limit: usize,
    /// Path segments from the root to the current object: the keys, each
    /// split at its dots.
    field: Path,
    /// The same, with `$or[i]` steps, for error messages.
    shown: Vec<String>,
}

impl Parser {
    fn path(&self) -> String {
        self.shown.join(".")
    }

    fn object(&mut self, members: &[(String, Json)], in_or: bool) -> Result<Dnf, PatternError> {
        if members.is_empty() {
            return Err(PatternError::EmptyObject { path: self.path() });
        }
        let mut dnf: Dnf = vec![Vec::new()];
        for (key, value) in members {
            if key == "$or" {
                let alternatives = self.or(value)?;
                dnf = self.cross(dnf, alternatives)?;
                continue;
            }
            if in_or && OPERATORS.contains(&key.as_str()) {
                return Err(PatternError::ReservedFieldInOr {
                    path: self.path(),
                    name: key.clone(),
                });
            }
            // EventBridge names a field by its keys joined with dots, so a key
            // `a.b` and a key `a` holding `b` are one path: store it split.
            let depth = self.field.len();
            self.field.extend(key.split('.').map(str::to_owned));
            self.shown.push(key.clone());
            let sub = match value {
                Json::Object(inner) => self.object(inner, in_or)?,
                Json::Array(items) => vec![vec![(self.field.clone(), self.leaf(items)?)]],
                _ => return Err(PatternError::NotObjectOrArray { path: self.path() }),
            };
            dnf = self.cross(dnf, sub)?;
            self.field.truncate(depth);
            self.shown.pop();
        }
        Ok(dnf)
    }

    fn or(&mut self, value: &Json) -> Result<Dnf, PatternError> {
        self.shown.push("$or".to_owned());
        let items = match value {
            Json::Array(items) if items.len() >= 2 => items,
            _ => return Err(PatternError::InvalidOr { path: self.path() }),
        };
        let mut alternatives = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(last) = self.shown.last_mut() {
                *last = format!("$or[{i}]");
            }
            let Json::Object(members) = item else {
                return Err(PatternError::InvalidOr { path: self.path() });
            };
            alternatives.extend(self.object(members, true)?);
            if alternatives.len() > self.limit {
                return Err(PatternError::TooManyCombinations { limit: self.limit });
            }
        }
        self.shown.pop();
        Ok(alternatives)
    }

    /// AND of two disjunctions: every pair of branches, concatenated.
    fn cross(&self, left: Dnf, right: Dnf) -> Result<Dnf, PatternError> {
        if left.len().saturating_mul(right.len()) > self.limit {
            return Err(PatternError::TooManyCombinations { limit: self.limit });
        }
        let mut out = Vec::with_capacity(left.len() * right.len());
        for l in &left {
            for r in &right {
                let mut merged = l.clone();
                for (path, condition) in r {
                    if merged.iter().any(|(p, _)| p == path) {
                        return Err(PatternError::DuplicateField {
                            path: path.join("."),
                        });
                    }
                    merged.push((path.clone(), condition.clone()));
                }
                out.push(merged);
            }
        }
        Ok(out)
    }

    fn leaf(&self, items: &[Json]) -> Result<Condition, PatternError> {
        if items.is_empty() {
            return Err(PatternError::EmptyArray { path: self.path() });
        }
        let mut condition = Condition::default();
        for item in items {
            let predicates = &mut condition.predicates;
            match item {
                Json::String(s) => {
                    predicates.push(Predicate::String(s.clone()));
                    // An exact IP address also matches other spellings of the
                    // same address (aws/event-ruler JsonRuleCompiler: ipToRangeIfPossible).
                    if let Some(ip) = parse_ip(s) {
                        predicates.push(Predicate::Cidr(CidrBlock::single(ip)));
                    }
                }
                // A number inside the numeric range matches by value, which
                // includes its own spelling; one outside it still matches its
                // own literal text (aws/event-ruler JsonRuleCompiler).
                Json::Number(literal) => predicates.push(match numeric_value(literal) {
                    Some(value) => Predicate::NumberEquals(order_key(value)),
                    None => Predicate::NumberText(literal.clone()),
                }),
                Json::Bool(true) => predicates.push(Predicate::Literal(Literal::True)),
                Json::Bool(false) => predicates.push(Predicate::Literal(Literal::False)),
                Json::Null => predicates.push(Predicate::Literal(Literal::Null)),
                Json::Object(members) => self.operator(members, &mut condition)?,
                Json::Array(_) => {
                    return Err(PatternError::InvalidMatchValue { path: self.path() });
                }
            }
        }
        condition.predicates.sort();
        condition.predicates.dedup();
        self.check_wildcard_complexity(&condition)?;
        Ok(condition)
    }

    /// EventBridge refuses a field whose wildcards (plain and `anything-but`)
    /// can together keep more than [`MAX_COMPLEXITY`] positions open on one
    /// value (aws/event-ruler's `MachineComplexityEvaluator` measure).
    fn check_wildcard_complexity(&self, condition: &Condition) -> Result<(), PatternError> {
        let wildcards: Vec<&Wildcard> = condition
            .predicates
            .iter()
            .flat_map(|p| match p {
                Predicate::Wildcard(w) => std::slice::from_ref(w),
                Predicate::AnythingBut(AnythingBut::Wildcards(list)) => list.as_slice(),
                _ => &[],
            })
            .collect();
        if wildcards.is_empty() {
            return Ok(());
        }
        let complexity = complexity(&wildcards, MAX_COMPLEXITY);
        if complexity > MAX_COMPLEXITY {
            return Err(PatternError::TooComplex {
                path: self.path(),
                limit: MAX_COMPLEXITY,
            });
        }
        Ok(())
    }

    fn operand_error(&self, operator: &'static str, expected: &'static str) -> PatternError {
        PatternError::InvalidOperand {
            path: self.path(),
            operator,
            expected,
        }
    }

    fn operator(
        &self,
        members: &[(String, Json)],
        condition: &mut Condition,
    ) -> Result<(), PatternError> {
        let [(name, operand)] = members else {
            return Err(PatternError::OperatorArity { path: self.path() });
        };
        let predicate = match name.as_str() {
            "prefix" => match operand {
                Json::String(s) => Predicate::Prefix(s.clone()),
                Json::Object(inner) => {
                    Predicate::PrefixIgnoreCase(fold(self.ignore_case_only(inner, "prefix")?))
                }
                _ => return Err(self.operand_error("prefix", STRING_OR_IGNORE_CASE)),
            },
            "suffix" => match operand {
                Json::String(s) => Predicate::Suffix(s.clone()),
                Json::Object(inner) => {
                    Predicate::SuffixIgnoreCase(fold(self.ignore_case_only(inner, "suffix")?))
                }
                _ => return Err(self.operand_error("suffix", STRING_OR_IGNORE_CASE)),
            },
            "equals-ignore-case" => match operand {
                Json::String(s) => Predicate::EqualsIgnoreCase(fold(s)),
                _ => return Err(self.operand_error("equals-ignore-case", "a string")),
            },
            "wildcard" => match operand {
                Json::String(s) => Predicate::Wildcard(self.wildcard(s)?),
                _ => return Err(self.operand_error("wildcard", "a string")),
            },
            "anything-but" => Predicate::AnythingBut(self.anything_but(operand)?),
            "numeric" => self.numeric(operand)?,
            "exists" => match operand {
                Json::Bool(true) => Predicate::Exists,
                Json::Bool(false) => {
                    condition.absent = true;
                    return Ok(());
                }
                _ => return Err(self.operand_error("exists", "true or false")),
            },
            "cidr" => match operand {
                Json::String(s) => {
                    Predicate::Cidr(parse_cidr(s).ok_or_else(|| PatternError::InvalidCidr {
                        path: self.path(),
                        value: s.clone(),
                    })?)
                }
                _ => return Err(self.operand_error("cidr", "a string like 10.0.0.0/24")),
            },
            other => {
                return Err(PatternError::UnknownOperator {
                    path: self.path(),
                    operator: other.to_owned(),
                });
            }
        };
        condition.predicates.push(predicate);
        Ok(())
    }

    /// The operand of `{"prefix": {"equals-ignore-case": "..."}}` and its suffix twin.
    fn ignore_case_only<'j>(
        &self,
        inner: &'j [(String, Json)],
        operator: &'static str,
    ) -> Result<&'j str, PatternError> {
        match inner {
            [(key, Json::String(s))] if key == "equals-ignore-case" => Ok(s),
            _ => Err(self.operand_error(operator, STRING_OR_IGNORE_CASE)),
        }
    }

    fn wildcard(&self, text: &str) -> Result<Wildcard, PatternError> {
        Wildcard::parse(text).map_err(|source| PatternError::InvalidWildcard {
            path: self.path(),
            source,
        })
    }

    fn number(&self, literal: &str) -> Result<u64, PatternError> {
        numeric_value(literal)
            .map(order_key)
            .ok_or_else(|| PatternError::NumberOutOfRange {
                path: self.path(),
                literal: literal.to_owned(),
            })
    }

    fn anything_but(&self, operand: &Json) -> Result<AnythingBut, PatternError> {
        const EXPECTED: &str = "a string, a number, a non-empty array of strings or of numbers, \
             or an object with prefix, suffix, equals-ignore-case or wildcard";
        let mut result = match operand {
            Json::String(s) => AnythingBut::Strings(vec![s.clone()]),
            Json::Number(n) => AnythingBut::Numbers(vec![self.number(n)?]),
            Json::Array(items)
                if items.iter().all(|i| matches!(i, Json::String(_))) && !items.is_empty() =>
            {
                AnythingBut::Strings(strings(items))
            }
            Json::Array(items)
                if items.iter().all(|i| matches!(i, Json::Number(_))) && !items.is_empty() =>
            {
                let mut keys = Vec::with_capacity(items.len());
                for item in items {
                    if let Json::Number(n) = item {
                        keys.push(self.number(n)?);
                    }
                }
                AnythingBut::Numbers(keys)
            }
            Json::Object(inner) => {
                let [(name, inner_operand)] = &inner[..] else {
                    return Err(self.operand_error("anything-but", EXPECTED));
                };
                let texts = match inner_operand {
                    Json::String(s) => vec![s.clone()],
                    Json::Array(items)
                        if !items.is_empty()
                            && items.iter().all(|i| matches!(i, Json::String(_))) =>
                    {
                        strings(items)
                    }
                    _ => return Err(self.operand_error("anything-but", EXPECTED)),
                };
                match name.as_str() {
                    "prefix" | "suffix" if texts.iter().any(String::is_empty) => {
                        return Err(
                            self.operand_error("anything-but", "a non-empty prefix or suffix")
                        );
                    }
                    "prefix" => AnythingBut::Prefixes(texts),
                    "suffix" => AnythingBut::Suffixes(texts),
                    "equals-ignore-case" => {
                        AnythingBut::IgnoreCase(texts.iter().map(|t| fold(t)).collect())
                    }
                    "wildcard" => AnythingBut::Wildcards(
                        texts
                            .iter()
                            .map(|t| self.wildcard(t))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => return Err(self.operand_error("anything-but", EXPECTED)),
                }
            }
            _ => return Err(self.operand_error("anything-but", EXPECTED)),
        };
        match &mut result {
            AnythingBut::Strings(v)
            | AnythingBut::Prefixes(v)
            | AnythingBut::Suffixes(v)
            | AnythingBut::IgnoreCase(v) => {
                v.sort();
                v.dedup();
            }
            AnythingBut::Numbers(v) => {
                v.sort_unstable();
                v.dedup();
            }
            AnythingBut::Wildcards(v) => {
                v.sort();
                v.dedup();
            }
        }
        Ok(result)
    }

    fn numeric(&self, operand: &Json) -> Result<Predicate, PatternError> {
        const EXPECTED: &str =
            "an array like [\"=\", 5], [\"<\", 5], [\">=\", 0] or [\">\", 0, \"<=\", 5]";
        let Json::Array(items) = operand else {
            return Err(self.operand_error("numeric", EXPECTED));
        };
        let bound = |op: &Json, value: &Json| -> Result<(String, u64), PatternError> {
            match (op, value) {
                (Json::String(op), Json::Number(n)) => Ok((op.clone(), self.number(n)?)),
                _ => Err(self.operand_error("numeric", EXPECTED)),
            }
        };
        let range = match &items[..] {
            [op, value] => match bound(op, value)? {
                (op, key) if op == "=" => return Ok(Predicate::NumberEquals(key)),
                (op, key) if op == ">" || op == ">=" => NumericRange {
                    lower: Some(Bound {
                        key,
                        inclusive: op == ">=",
                    }),
                    upper: None,
                },
                (op, key) if op == "<" || op == "<=" => NumericRange {
                    lower: None,
                    upper: Some(Bound {
                        key,
                        inclusive: op == "<=",
                    }),
                },
                _ => return Err(self.operand_error("numeric", EXPECTED)),
            },
            [op1, value1, op2, value2] => {
                let (low_op, low) = bound(op1, value1)?;
                let (high_op, high) = bound(op2, value2)?;
                if !(low_op == ">" || low_op == ">=") || !(high_op == "<" || high_op == "<=") {
                    return Err(self.operand_error("numeric", EXPECTED));
                }
                if low >= high {
                    return Err(PatternError::EmptyRange { path: self.path() });
                }
                NumericRange {
                    lower: Some(Bound {
                        key: low,
                        inclusive: low_op == ">=",
                    }),
                    upper: Some(Bound {
                        key: high,
                        inclusive: high_op == "<=",
                    }),
                }
            }
            _ => return Err(self.operand_error("numeric", EXPECTED)),
        };
        Ok(Predicate::Range(range))
    }
}

const STRING_OR_IGNORE_CASE: &str = "a string or {\"equals-ignore-case\": \"...\"}";

fn strings(items: &[Json]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            Json::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Pattern, PatternError> {
        Pattern::parse(json, &Limits::default())
    }

    #[test]
    fn or_expands_into_combinations() {
        let p =
            parse(r#"{"a": ["x"], "$or": [{"b": [1]}, {"c": {"$or": [{"d": [2]}, {"e": [3]}]}}]}"#)
                .expect("valid");
        assert_eq!(p.combinations(), 3);
        let paths: Vec<Vec<String>> = p.branches[2]
            .fields
            .iter()
            .map(|(p, _)| p.join("."))
            .map(|s| vec![s])
            .collect();
        assert_eq!(paths, vec![vec!["a".to_owned()], vec!["c.e".to_owned()]]);
    }

    #[test]
    fn errors_name_the_path() {
        let err =
            parse(r#"{"detail": {"price": [{"numeric": [">", "x"]}]}}"#).expect_err("invalid");
        assert_eq!(err.path(), Some("detail.price"));
        assert!(
            err.to_string().starts_with("detail.price: numeric needs"),
            "{err}"
        );
        let err = parse(r#"{"$or": [{"a": ["x"]}, {"b": []}]}"#).expect_err("invalid");
        assert_eq!(err.path(), Some("$or[1].b"));
    }

    #[test]
    fn exact_number_matches_by_value_in_range_and_by_text_outside() {
        let p = parse(r#"{"a": [300, 6e9]}"#).expect("valid");
        let preds = &p.branches[0].fields[0].1.predicates;
        assert!(preds.contains(&Predicate::NumberEquals(order_key(300.0))));
        assert!(preds.contains(&Predicate::NumberText("6e9".into())));
        assert_eq!(preds.len(), 2);
    }
}
