//! The typed form of a pattern: after parsing, a pattern is a disjunction of
//! branches (its `$or` combinations), each a conjunction of field conditions,
//! each condition a disjunction of value predicates.
//!
//! Everything here is plain data with `Eq + Hash + Ord`, so that identical
//! conditions of different rules can be shared when compiling. Floats are held
//! as [`number::order_key`] integers for that reason.

use super::cidr::CidrBlock;
use super::wildcard::Wildcard;

/// A field path from the event root to a leaf, as its dot-joined name split
/// at every dot: `{"a": {"b.c": …}}` and `{"a.b": {"c": …}}` are both
/// `[a, b, c]` (EventBridge and aws/event-ruler name fields by joined keys).
pub(crate) type Path = Vec<String>;

/// One `$or` combination: every condition must hold. Sorted by path, one
/// condition per path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Branch {
    pub(crate) fields: Vec<(Path, Condition)>,
}

/// What one field must satisfy: any predicate matching any of the field's values,
/// or (when `absent`) the field having no value at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Condition {
    /// Sorted and deduplicated.
    pub(crate) predicates: Vec<Predicate>,
    /// `{"exists": false}` is among the alternatives.
    pub(crate) absent: bool,
}

/// A test of one leaf value of the event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Predicate {
    /// A JSON string equal to this text.
    String(String),
    /// `true`, `false` or `null`.
    Literal(Literal),
    /// A JSON number written exactly like this.
    NumberText(String),
    /// A JSON number equal in value (order key of the f64).
    NumberEquals(u64),
    /// `{"numeric": [...]}` with at least one bound.
    Range(NumericRange),
    Prefix(String),
    Suffix(String),
    /// Folded text.
    EqualsIgnoreCase(String),
    /// Folded text.
    PrefixIgnoreCase(String),
    /// Folded text.
    SuffixIgnoreCase(String),
    Wildcard(Wildcard),
    Cidr(CidrBlock),
    /// `{"exists": true}`: any leaf value, `null` included.
    Exists,
    AnythingBut(AnythingBut),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Literal {
    True,
    False,
    Null,
}

/// A bound of a numeric range: order key and whether the bound itself matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Bound {
    pub(crate) key: u64,
    pub(crate) inclusive: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NumericRange {
    pub(crate) lower: Option<Bound>,
    pub(crate) upper: Option<Bound>,
}

/// `anything-but`: matches a value unless the value is excluded. A value is
/// excluded only by an exclusion of its own kind (a string by strings, a
/// number by numbers); `null`, booleans and other kinds are never excluded.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AnythingBut {
    /// Strings equal to one of these.
    Strings(Vec<String>),
    /// Numbers equal in value to one of these (order keys).
    Numbers(Vec<u64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Folded texts.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}
