//! The native operator API: `GET /v1/events/{id}`, `GET /v1/events/{id}/deliveries`,
//! `GET /healthz`, `GET /metrics`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::AppState;
use super::error::ApiError;
use crate::delivery::DeliveryTrace;
use crate::event::{Event, EventId, Seq, format_time};

/// The stored event `id`: 400 for a malformed id, 404 for an unknown one, 410
/// for one retention removed.
fn find(state: &AppState, id: &str) -> Result<(Seq, Event), ApiError> {
    let Some(event_id) = EventId::parse(id) else {
        return Err(ApiError::bad_request(
            "invalid_event_id",
            format!("{id:?} is not an event id (a UUID)"),
        ));
    };
    let found = state
        .log
        .lookup(event_id)
        .map_err(|e| ApiError::internal(&e))?;
    if let Some(found) = found {
        return Ok(found);
    }
    let removed = match event_id.seq() {
        Some(seq) => state
            .log
            .was_removed(seq)
            .map_err(|e| ApiError::internal(&e))?,
        None => false,
    };
    if removed {
        return Err(ApiError::new(
            StatusCode::GONE,
            "event_removed",
            format!(
                "event {id} was removed from the log by retention: nothing needed it any more \
                 and it was older than log.min_retention (see GET /v1/log)"
            ),
        ));
    }
    Err(ApiError::not_found(
        "event_not_found",
        format!("no event with id {id}"),
    ))
}

pub async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (seq, event) = find(&state, &id)?;
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Deliveries {
    event_id: String,
    seq: u64,
    bus: String,
    ingested_at: String,
    /// Whether the router has matched the event against the rules yet.
    routed: bool,
    deliveries: Vec<DeliveryTrace>,
}

/// Where the event went: per target, its state and its attempts.
pub async fn get_deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let traced = tokio::task::spawn_blocking(move || {
        let (seq, event) = find(&state, &id)?;
        let trace = state
            .delivery
            .trace(seq, &event)
            .map_err(|e| ApiError::internal(&e))?;
        Ok::<_, ApiError>(Deliveries {
            event_id: event.id.to_string(),
            seq: seq.0,
            ingested_at: format_time(event.fields.ingested_ms),
            bus: event.fields.bus,
            routed: trace.routed,
            deliveries: trace.deliveries,
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(traced).into_response())
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
    let retention = state.retention.clone();
    let _ = tokio::task::spawn_blocking(move || retention.refresh_gauges()).await;
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
