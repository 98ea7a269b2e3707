//! Reading request bodies with a size limit and a content-type check.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge { limit: usize },
    Unreadable(axum::BoxError),
}

/// Collects the body, refusing it past `limit` bytes (early, from Content-Length,
/// when the client declares one).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge { limit }),
        Err(e) => Err(BodyError::Unreadable(e)),
    }
}

/// True when the declared content type is JSON (`application/json`, `+json`,
/// or AWS's `application/x-amz-json-1.x`). An absent header counts as JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence.ends_with("+json")
        || essence.starts_with("application/x-amz-json-")
}

impl BodyError {
    pub fn into_api_error(self) -> ApiError {
        match self {
            BodyError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body exceeds the limit of {limit} bytes"),
            ),
            BodyError::Unreadable(e) => ApiError::bad_request(
                "unreadable_body",
                format!("the request body could not be read: {e}"),
            ),
        }
    }
}
