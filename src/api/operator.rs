//! The native operator API: `GET /v1/events/{id}`, `GET /healthz`, `GET /metrics`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::AppState;
use super::error::ApiError;
use crate::event::{EventId, format_time};

pub async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(event_id) = EventId::parse(&id) else {
        return Err(ApiError::bad_request(
            "invalid_event_id",
            format!("{id:?} is not an event id (a UUID)"),
        ));
    };
    let found = state
        .log
        .lookup(event_id)
        .map_err(|e| ApiError::internal(&e))?;
    let Some((seq, event)) = found else {
        return Err(ApiError::not_found(
            "event_not_found",
            format!("no event with id {id}"),
        ));
    };
    let envelope =
        RawValue::from_string(event.to_envelope_json()).map_err(|e| ApiError::internal(&e))?;
    // A struct, not json!(): the envelope must stay raw so that the detail is
    // served byte for byte (key order, number literals) as it was stored.
    let stored = StoredEvent {
        seq: seq.0,
        bus: &event.fields.bus,
        ingested_at: format_time(event.fields.ingested_ms),
        event: &envelope,
    };
    Ok(Json(stored).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredEvent<'a> {
    seq: u64,
    bus: &'a str,
    ingested_at: String,
    event: &'a RawValue,
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    if state.log.is_healthy() {
        (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response()
    } else {
        let body = json!({ "status": "failing", "reason": "a log sync failed; the log refuses writes until restarted" });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let delivery = state.delivery.clone();
    let _ = tokio::task::spawn_blocking(move || delivery.refresh_gauges()).await;
    state
        .metrics
        .disk_bytes
        .set(i64::try_from(state.store.size_on_disk()).unwrap_or(i64::MAX));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
