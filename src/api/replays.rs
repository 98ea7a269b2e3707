//! `GET /v1/replays/{name}`: a replay's progress for operators and
//! `stowage replay start --wait` (events replayed of the window's total, rate,
//! ETA, state); `GET /v1/replays`: the progress of every replay still running
//! (for `stowage status`). Starting and cancelling are the AWS API's.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::event::format_time_millis;

/// A replay's progress as the native API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressView {
    pub name: String,
    pub arn: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub archive: String,
    pub bus: String,
    /// Rule names the replay is limited to (empty: every rule of the bus).
    pub rules: Vec<String>,
    pub from: String,
    pub to: String,
    pub started: String,
    pub ended: Option<String>,
    pub last_replayed: Option<String>,
    /// Events appended so far (a batch re-appended after a crash counts twice).
    pub replayed: u64,
    /// Events in the window, once counted.
    pub total: Option<u64>,
    /// Events per second since the replay's runner (re)started.
    pub rate: f64,
    pub eta_secs: Option<f64>,
}

/// `GET /v1/replays`: the replays that have not ended.
#[derive(Serialize, Deserialize)]
pub struct Running {
    pub replays: Vec<ProgressView>,
}

pub async fn show(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match view(&state, &name) {
        Some(view) => Json(view).into_response(),
        None => ApiError::not_found("replay_not_found", format!("no replay named {name}"))
            .into_response(),
    }
}

pub async fn running(State(state): State<AppState>) -> Json<Running> {
    let replays = state
        .replays
        .list()
        .into_iter()
        .filter(|r| r.state.is_active())
        .filter_map(|r| view(&state, &r.name))
        .collect();
    Json(Running { replays })
}

fn view(state: &AppState, name: &str) -> Option<ProgressView> {
    let record = state.replays.get(name)?;
    let progress = state.replays.progress(name)?;
    Some(ProgressView {
        name: record.name,
        arn: record.arn,
        state: record.state.as_aws().to_owned(),
        state_reason: record.state_reason,
        archive: record.archive,
        bus: record.bus,
        rules: record.rules,
        from: format_time_millis(record.from_ms),
        to: format_time_millis(record.to_ms),
        started: format_time_millis(record.started_ms),
        ended: record.ended_ms.map(format_time_millis),
        last_replayed: record.last_replayed_ms.map(format_time_millis),
        replayed: progress.replayed,
        total: progress.total,
        rate: progress.rate,
        eta_secs: progress.eta_secs,
    })
}
