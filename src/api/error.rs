//! Errors as the native and gateway APIs send them: `{"error":{"code","message"}}`.
//!
//! A 4xx message says what to fix. A 5xx message is generic; the detail is logged
//! with the request's id, which the body carries so an operator can find it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// A JSON pointer into the request naming what was refused (a schema violation).
    pub pointer: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            pointer: None,
        }
    }

    /// The same error, naming the JSON pointer of what was refused.
    pub fn at_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A 503 whose cause is logged, not sent.
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        Self::logged(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the event could not be stored durably; retry later",
            cause,
        )
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        Self::logged(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            cause,
        )
    }

    /// A 5xx: the cause goes to the log under a fresh request id, the client gets
    /// `message` and that id to quote.
    fn logged(
        status: StatusCode,
        code: &'static str,
        message: &str,
        cause: &dyn std::error::Error,
    ) -> Self {
        let request_id = uuid::Uuid::new_v4();
        tracing::error!(%request_id, %status, error = %cause, source = ?cause.source().map(|s| s.to_string()), "{message}");
        Self::new(status, code, format!("{message} (request {request_id})"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.pointer {
            Some(pointer) => {
                json!({ "error": { "code": self.code, "message": self.message, "pointer": pointer } })
            }
            None => json!({ "error": { "code": self.code, "message": self.message } }),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            close_connection(&mut response);
        }
        response
    }
}

/// Marks a response as the connection's last. A body refused unread (413) is
/// still on the wire; closing is the only way the client's next request on
/// this connection is not mistaken for it.
pub fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}
