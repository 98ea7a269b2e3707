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
//! `docs/patterns.md`. This module does not know about buses, targets or
//! HTTP: it is a pure function of (rules, event).

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
mod values;
mod wildcard;

pub use automaton::{Matcher, MatcherBuilder};
pub use error::{EventError, PatternError, TestPatternError};
pub use parse::{Limits, Pattern};
pub use wildcard::WildcardError;

/// `TestEventPattern`: whether `event_json` matches `pattern_json`. Unlike
/// [`Matcher::matches`], which reads an event only as far as its rules need,
/// this checks that the whole event is valid JSON.
pub fn test_event_pattern(
    pattern_json: &str,
    event_json: &str,
    limits: &Limits,
) -> Result<bool, TestPatternError> {
    let pattern = Pattern::parse(pattern_json, limits)?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(event_json) {
        let line_start: usize = event_json
            .split_inclusive('\n')
            .take(e.line().saturating_sub(1))
            .map(str::len)
            .sum();
        return Err(EventError::InvalidJson {
            offset: line_start + e.column().saturating_sub(1),
            reason: "not valid JSON",
        }
        .into());
    }
    let mut builder = MatcherBuilder::new();
    builder.add((), &pattern);
    let matcher = builder.build();
    Ok(!matcher.matches(event_json.as_bytes())?.is_empty())
}
