//! Errors of the pattern module: a pattern that cannot be accepted
//! ([`PatternError`], naming the JSON path of the offending part), an event
//! that cannot be read ([`EventError`]), and their union for
//! TestEventPattern ([`TestPatternError`]), which also requires envelope
//! fields ([`MissingFields`]).

use super::wildcard::WildcardError;

/// Why a pattern was rejected. `path` is the dotted path of the offending
/// field (`detail.price`), with `$or[i]` for the i-th alternative of an `$or`;
/// it is empty for the pattern root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern is {chars} characters long; the limit is {limit}")]
    TooLong { chars: usize, limit: usize },
    #[error("pattern is not valid JSON: {reason} at character offset {offset}")]
    InvalidJson { offset: usize, reason: &'static str },
    #[error("{}: a pattern must be a JSON object", shown(path))]
    NotAnObject { path: String },
    #[error("{}: empty objects are not allowed", shown(path))]
    EmptyObject { path: String },
    #[error(
        "{}: a field's value must be an object or an array of match values",
        shown(path)
    )]
    NotObjectOrArray { path: String },
    #[error("{}: empty arrays are not allowed", shown(path))]
    EmptyArray { path: String },
    #[error(
        "{}: match values must be strings, numbers, booleans, null or operator objects",
        shown(path)
    )]
    InvalidMatchValue { path: String },
    #[error("{}: unknown operator `{operator}`", shown(path))]
    UnknownOperator { path: String, operator: String },
    #[error("{}: an operator object must have exactly one key", shown(path))]
    OperatorArity { path: String },
    #[error("{}: {operator} needs {expected}", shown(path))]
    InvalidOperand {
        path: String,
        operator: &'static str,
        expected: &'static str,
    },
    #[error("{}: invalid wildcard: {source}", shown(path))]
    InvalidWildcard {
        path: String,
        #[source]
        source: WildcardError,
    },
    #[error(
        "{}: rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character (a value could keep more than {limit} wildcard positions open at once)",
        shown(path)
    )]
    TooComplex { path: String, limit: usize },
    #[error("{}: number {literal} is outside -5e9..=5e9", shown(path))]
    NumberOutOfRange { path: String, literal: String },
    #[error(
        "{}: numeric range lower bound must be below its upper bound",
        shown(path)
    )]
    EmptyRange { path: String },
    #[error(
        "{}: `{value}` is not a CIDR block like 10.0.0.0/24 or 2001:db8::/32",
        shown(path)
    )]
    InvalidCidr { path: String, value: String },
    #[error(
        "{}: $or needs an array of at least two non-empty objects",
        shown(path)
    )]
    InvalidOr { path: String },
    #[error(
        "{}: `{name}` is an operator name and cannot be a field name inside $or",
        shown(path)
    )]
    ReservedFieldInOr { path: String, name: String },
    #[error("{}: the field is named twice in one $or combination", shown(path))]
    DuplicateField { path: String },
    #[error("pattern expands to more than {limit} $or combinations")]
    TooManyCombinations { limit: usize },
}

impl PatternError {
    /// The JSON path of the offending part, when the error has one.
    pub fn path(&self) -> Option<&str> {
        match self {
            PatternError::TooLong { .. }
            | PatternError::InvalidJson { .. }
            | PatternError::TooManyCombinations { .. } => None,
            PatternError::NotAnObject { path }
            | PatternError::EmptyObject { path }
            | PatternError::NotObjectOrArray { path }
            | PatternError::EmptyArray { path }
            | PatternError::InvalidMatchValue { path }
            | PatternError::UnknownOperator { path, .. }
            | PatternError::OperatorArity { path }
            | PatternError::InvalidOperand { path, .. }
            | PatternError::InvalidWildcard { path, .. }
            | PatternError::TooComplex { path, .. }
            | PatternError::NumberOutOfRange { path, .. }
            | PatternError::EmptyRange { path }
            | PatternError::InvalidCidr { path, .. }
            | PatternError::InvalidOr { path }
            | PatternError::ReservedFieldInOr { path, .. }
            | PatternError::DuplicateField { path } => Some(path),
        }
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "(pattern root)"
    } else {
        path
    }
}

/// Why an event could not be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event is not valid JSON: {reason} at byte {offset}")]
    InvalidJson { offset: usize, reason: &'static str },
    #[error("event must be a JSON object")]
    NotAnObject,
    #[error("event nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("event is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// Why `test_event_pattern` could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestPatternError {
    #[error("invalid event pattern: {0}")]
    Pattern(#[from] PatternError),
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    #[error("invalid event: {0}")]
    MissingFields(#[from] MissingFields),
}

/// The envelope fields TestEventPattern requires that an event lacks, in
/// AWS's order (`REQUIRED_EVENT_FIELDS`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event lacks required field(s): {}", .0.join(", "))]
pub struct MissingFields(pub Vec<&'static str>);
