//! `POST /v1/test-event-pattern`: the HTTP side of testing a pattern against
//! an event. The evaluation, AWS's required event fields included, is
//! `pattern::test_event_pattern`, shared with the AWS `TestEventPattern`
//! operation and `stowage test-pattern`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::pattern::{self, TestPatternError};

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
    match pattern::test_event_pattern(&as_text(pattern), &as_text(event), &state.patterns) {
        Ok(result) => Ok(Json(json!({ "result": result })).into_response()),
        Err(TestPatternError::Pattern(e)) => {
            Err(ApiError::bad_request("invalid_pattern", e.to_string()))
        }
        Err(TestPatternError::Event(e)) => {
            Err(ApiError::bad_request("invalid_event", e.to_string()))
        }
        Err(TestPatternError::MissingFields(e)) => {
            Err(ApiError::bad_request("invalid_event", e.to_string()))
        }
    }
}
