//! The AWS EventBridge JSON 1.1 API: `POST /` with `X-Amz-Target: AWSEvents.<Op>`.
//!
//! Request and response shapes, validation and `__type` error names follow AWS so
//! that the AWS CLI and SDKs work unchanged against `--endpoint-url`. This module
//! translates; the domain modules decide. How a domain refusal reads on the wire
//! is `wording.rs`'s.

mod archives;
mod buses;
mod connection_auth;
mod connection_parameters;
mod connections;
mod constraints;
mod destinations;
mod events;
mod operations;
mod paginate;
mod patterns;
mod replays;
mod rules;
mod tags;
mod target_shape;
mod targets;
mod wording;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::AppState;
use super::body::{BodyError, read_limited};
use super::error::close_connection;
use super::keys::PublishAuth;

pub const TARGET_HEADER: &str = "x-amz-target";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A request that names one resource: `{"Name": …}`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameRequest {
    name: Option<String>,
}

/// An AWS error: HTTP status, `__type` and message.
#[derive(Debug)]
pub struct AwsError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AwsError {
    pub fn validation(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "ValidationException",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "ResourceNotFoundException",
            message: message.into(),
        }
    }

    pub fn already_exists(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "ResourceAlreadyExistsException",
            message: message.into(),
        }
    }

    pub fn invalid_pattern(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "InvalidEventPatternException",
            message: message.into(),
        }
    }

    pub fn concurrent_modification(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "ConcurrentModificationException",
            message: message.into(),
        }
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "LimitExceededException",
            message: message.into(),
        }
    }

    pub fn illegal_status(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "IllegalStatusException",
            message: message.into(),
        }
    }

    fn unknown_operation(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "UnknownOperationException",
            message: message.into(),
        }
    }

    fn serialization(message: impl Into<String>) -> Self {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            kind: "SerializationException",
            message: message.into(),
        }
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let request_id = uuid::Uuid::new_v4();
        tracing::error!(%request_id, error = %cause, "AWS API internal error");
        AwsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "InternalException",
            message: format!("internal error (request {request_id})"),
        }
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = json!({ "__type": self.kind, "message": self.message });
        let mut response = reply(self.status, &body);
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            close_connection(&mut response);
        }
        response
    }
}

fn reply<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("response types serialize");
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn ok<T: Serialize>(body: &T) -> Result<Response, AwsError> {
    Ok(reply(StatusCode::OK, body))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    from_json(body)
        .map_err(|e| AwsError::serialization(format!("the request body is not valid: {e}")))
}

/// `parse` for requests that carry secrets: serde's message may quote a value
/// (a numeric password, say), so only the place of the error is told.
fn parse_sensitive<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    from_json(body).map_err(|e| {
        AwsError::serialization(format!(
            "the request body is not valid at line {}, column {} (values are not quoted: it may hold secrets)",
            e.line(),
            e.column()
        ))
    })
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
}

/// Largest request body: ten entries of the largest event, JSON-escaped.
fn body_limit(state: &AppState) -> usize {
    (state.ingest.max_event_bytes * 12).max(4 * 1024 * 1024)
}

pub async fn dispatch(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    let result = async {
        let target = headers
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(operation) = target.strip_prefix("AWSEvents.") else {
            return Err(AwsError::unknown_operation(format!(
                "missing or unknown X-Amz-Target {target:?}; expected AWSEvents.<Operation>"
            )));
        };
        let body = read_limited(&headers, body, body_limit(&state))
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => AwsError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    kind: "ValidationException",
                    message: format!("the request body exceeds {limit} bytes"),
                },
                BodyError::Unreadable(e) => {
                    AwsError::serialization(format!("the request body could not be read: {e}"))
                }
            })?;
        let publish = PublishAuth::from_request(&headers, &extensions);
        operations::route(operation, &state, &body, &publish).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Seconds since the epoch with fraction: how JSON 1.1 encodes timestamps.
fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
