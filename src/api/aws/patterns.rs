//! TestEventPattern: `{EventPattern, Event}` → `{Result}`, with AWS's validation.

use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AwsError, ok};
use crate::api::AppState;
use crate::api::pattern_test::{self, PatternTestError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestEventPatternRequest {
    event_pattern: Option<String>,
    event: Option<String>,
}

pub fn test_event_pattern(
    state: &AppState,
    request: TestEventPatternRequest,
) -> Result<Response, AwsError> {
    let pattern = request
        .event_pattern
        .ok_or_else(|| AwsError::validation("EventPattern is required."))?;
    let event = request
        .event
        .ok_or_else(|| AwsError::validation("Event is required."))?;
    match pattern_test::evaluate(&pattern, &event, &state.patterns) {
        Ok(result) => ok(&json!({ "Result": result })),
        Err(PatternTestError::Pattern(e)) => Err(AwsError::invalid_pattern(format!(
            "Event pattern is not valid. Reason: {e}"
        ))),
        Err(e @ (PatternTestError::Event(_) | PatternTestError::MissingFields(_))) => Err(
            AwsError::validation(format!("Parameter Event is not valid. Reason: {e}")),
        ),
    }
}
