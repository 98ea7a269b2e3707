//! `GET /v1/log`: the log's size, what retention removed, and the oldest
//! record kept with the reason it is kept (`retention::LogStatus`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let retention = state.retention.clone();
    let status = tokio::task::spawn_blocking(move || retention.status())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(status).into_response())
}
