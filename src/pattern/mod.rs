//! Event patterns: the EventBridge pattern language, parsed, validated and
//! compiled into one matcher for all rules of a bus.
//!
//! [`Pattern::parse`] turns pattern JSON into a typed, validated pattern whose
//! errors name the JSON path at fault. [`MatcherBuilder`] collects the
//! patterns of many rules and `build`s an immutable [`Matcher`], an automaton
//! over field paths and values that reads each event once, descending only
//! into fields some pattern names, and returns every matching rule. The
//! semantics are EventBridge's, as implemented by aws/event-ruler; the
//! decisions on edge cases are listed with their sources in
//! `docs/patterns.md`. [`test_event_pattern`] is TestEventPattern's check of
//! one pattern against one whole event. This module does not know about
//! buses, targets or HTTP: it is a pure function of (rules, event).

mod automaton;
mod bytesearch;
mod casefold;
mod cidr;
mod error;
mod index;
mod json;
mod number;
mod parse;
mod paths;
mod predicate;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference;
mod scanner;
mod test_event;
mod values;
mod wildcard;

pub use automaton::{Matcher, MatcherBuilder};
pub use error::{EventError, MissingFields, PatternError, TestPatternError};
pub use parse::{Limits, Pattern};
pub use test_event::{REQUIRED_EVENT_FIELDS, test_event, test_event_pattern};
pub use wildcard::WildcardError;
