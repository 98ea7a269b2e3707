//! TestEventPattern: `{EventPattern, Event}` → `{Result}`, with AWS's validation.

use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AwsError, ok};
use crate::api::AppState;
use crate::pattern::{self, TestPatternError};

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
    match pattern::test_event_pattern(&pattern, &event, &state.patterns) {
        Ok(result) => ok(&json!({ "Result": result })),
        Err(TestPatternError::Pattern(e)) => Err(AwsError::invalid_pattern(format!(
            "Event pattern is not valid. Reason: {e}"
        ))),
        Err(TestPatternError::Event(e)) => Err(AwsError::validation(format!(
            "Parameter Event is not valid. Reason: {e}"
        ))),
        Err(TestPatternError::MissingFields(e)) => Err(AwsError::validation(format!(
            "Parameter Event is not valid. Reason: {e}"
        ))),
    }
}
