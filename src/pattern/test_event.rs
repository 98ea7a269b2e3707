//! TestEventPattern's evaluation: one pattern against one whole event, with
//! AWS's rules for the event: valid JSON, an object, and the envelope fields
//! AWS requires ([`REQUIRED_EVENT_FIELDS`]). The pattern is checked first, so
//! a bad pattern is reported even when the event is bad too.
//!
//! Shared by the AWS `TestEventPattern` operation, `POST /v1/test-event-pattern`
//! and `stowage test-pattern`; the CLI completes a missing envelope before
//! calling it, the server does not. Nothing here knows about HTTP.

use std::collections::HashMap;

use serde::de::IgnoredAny;

use super::{EventError, Limits, MatcherBuilder, MissingFields, Pattern, TestPatternError};

/// Fields AWS requires of an event given to TestEventPattern.
pub const REQUIRED_EVENT_FIELDS: [&str; 7] = [
    "id",
    "account",
    "source",
    "time",
    "region",
    "resources",
    "detail-type",
];

/// `TestEventPattern`: whether `event_json` matches `pattern_json`. Unlike
/// [`Matcher::matches`](super::Matcher::matches), which reads an event only as
/// far as its rules need, this checks the whole event.
pub fn test_event_pattern(
    pattern_json: &str,
    event_json: &str,
    limits: &Limits,
) -> Result<bool, TestPatternError> {
    let pattern = Pattern::parse(pattern_json, limits)?;
    test_event(&pattern, event_json)
}

/// Whether `event_json`, a JSON object with every required field, matches
/// the (already valid) `pattern`.
pub fn test_event(pattern: &Pattern, event_json: &str) -> Result<bool, TestPatternError> {
    let fields = top_level_fields(event_json)?;
    let missing: Vec<&'static str> = REQUIRED_EVENT_FIELDS
        .into_iter()
        .filter(|field| !fields.contains_key(*field))
        .collect();
    if !missing.is_empty() {
        return Err(MissingFields(missing).into());
    }
    let mut builder = MatcherBuilder::new();
    builder.add((), pattern);
    let matcher = builder.build();
    Ok(!matcher.matches(event_json.as_bytes())?.is_empty())
}

/// The top-level field names of `event_json`, once the whole text has been
/// read as JSON.
fn top_level_fields(event_json: &str) -> Result<HashMap<String, IgnoredAny>, EventError> {
    if let Err(e) = serde_json::from_str::<IgnoredAny>(event_json) {
        let line_start: usize = event_json
            .split_inclusive('\n')
            .take(e.line().saturating_sub(1))
            .map(str::len)
            .sum();
        return Err(EventError::InvalidJson {
            offset: line_start + e.column().saturating_sub(1),
            reason: "not valid JSON",
        });
    }
    serde_json::from_str(event_json).map_err(|_| EventError::NotAnObject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::PatternError;

    const EVENT: &str = r#"{"version":"0","id":"1","detail-type":"t","source":"shop",
        "account":"1","time":"2025-01-01T00:00:00Z","region":"r","resources":[],
        "detail":{"n":5}}"#;

    fn limits() -> Limits {
        crate::config::Config::default().patterns.limits()
    }

    #[test]
    fn a_complete_event_is_matched() {
        let test = |pattern| test_event_pattern(pattern, EVENT, &limits());
        assert_eq!(test(r#"{"detail":{"n":[5]}}"#), Ok(true));
        assert_eq!(test(r#"{"detail":{"n":[6]}}"#), Ok(false));
    }

    #[test]
    fn missing_envelope_fields_are_named_in_aws_order() {
        let result = test_event_pattern(
            r#"{"source":["shop"]}"#,
            r#"{"source":"shop","detail":{}}"#,
            &limits(),
        );
        assert_eq!(
            result,
            Err(TestPatternError::MissingFields(MissingFields(vec![
                "id",
                "account",
                "time",
                "region",
                "resources",
                "detail-type"
            ])))
        );
    }

    #[test]
    fn the_pattern_is_checked_before_the_event() {
        for event in ["{not json", "[]", "{}"] {
            let result = test_event_pattern(r#"{"source":"shop"}"#, event, &limits());
            assert!(
                matches!(
                    result,
                    Err(TestPatternError::Pattern(
                        PatternError::NotObjectOrArray { .. }
                    ))
                ),
                "{event}: {result:?}"
            );
        }
    }

    #[test]
    fn an_event_that_is_not_an_object_or_not_json_says_so() {
        let test = |event| test_event_pattern(r#"{"source":["shop"]}"#, event, &limits());
        assert_eq!(
            test("[1, 2]"),
            Err(TestPatternError::Event(EventError::NotAnObject))
        );
        // serde_json stops at the `o`: `n` could have begun `null`.
        assert_eq!(
            test("{\n  \"a\": nope}"),
            Err(TestPatternError::Event(EventError::InvalidJson {
                offset: 10,
                reason: "not valid JSON"
            }))
        );
    }
}
