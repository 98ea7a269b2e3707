//! Testing a pattern against an event, shared by the AWS `TestEventPattern`
//! operation and the native `POST /v1/test-event-pattern`.
//!
//! AWS requires the event to carry `id`, `account`, `source`, `time`, `region`,
//! `resources` and `detail-type`; both interfaces apply that rule.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::pattern::{self, Limits, TestPatternError};

/// Fields AWS requires of an event given to TestEventPattern.
const REQUIRED_EVENT_FIELDS: [&str; 7] = [
    "id",
    "account",
    "source",
    "time",
    "region",
    "resources",
    "detail-type",
];

#[derive(Debug, thiserror::Error)]
pub enum PatternTestError {
    #[error("{0}")]
    Pattern(pattern::PatternError),
    #[error("{0}")]
    Event(String),
    #[error("the event lacks required field(s): {0}")]
    MissingFields(String),
}

/// Whether `event_json` matches `pattern_json`.
pub fn evaluate(
    pattern_json: &str,
    event_json: &str,
    limits: &Limits,
) -> Result<bool, PatternTestError> {
    let event: Value = serde_json::from_str(event_json)
        .map_err(|e| PatternTestError::Event(format!("not valid JSON: {e}")))?;
    let Some(object) = event.as_object() else {
        return Err(PatternTestError::Event(
            "the event must be a JSON object".into(),
        ));
    };
    let missing: Vec<&str> = REQUIRED_EVENT_FIELDS
        .into_iter()
        .filter(|f| !object.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(PatternTestError::MissingFields(missing.join(", ")));
    }
    pattern::test_event_pattern(pattern_json, event_json, limits).map_err(|e| match e {
        TestPatternError::Pattern(e) => PatternTestError::Pattern(e),
        TestPatternError::Event(e) => PatternTestError::Event(e.to_string()),
    })
}

/// The pattern and event each as JSON text or as a JSON object.
#[derive(Deserialize)]
pub struct NativeRequest {
    pattern: Option<Value>,
    event: Option<Value>,
}

fn as_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// `POST /v1/test-event-pattern` `{"pattern", "event"}` → `{"result": bool}`.
pub async fn native(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: NativeRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    let pattern = request
        .pattern
        .ok_or_else(|| ApiError::bad_request("missing_field", "pattern is required"))?;
    let event = request
        .event
        .ok_or_else(|| ApiError::bad_request("missing_field", "event is required"))?;
    match evaluate(&as_text(pattern), &as_text(event), &state.patterns) {
        Ok(result) => Ok(Json(json!({ "result": result })).into_response()),
        Err(e @ PatternTestError::Pattern(_)) => {
            Err(ApiError::bad_request("invalid_pattern", e.to_string()))
        }
        Err(e) => Err(ApiError::bad_request("invalid_event", e.to_string())),
    }
}
