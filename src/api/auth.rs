//! The one middleware that decides who the caller is (`auth::Caller`) and
//! refuses what needs an operator and has no valid signature.
//!
//! Rules (docs/security.md): `/healthz` is open; `/metrics` is open when
//! `server.metrics_open` (default: on loopback); publish routes (gateway
//! `POST /events`, `POST /buses/{bus}/events`, AWS `PutEvents`) verify a SigV4
//! signature when one is sent and otherwise pass as `Anonymous` to their
//! handler; every other route needs an operator. With no credentials
//! configured every caller is `Open`. The AWS endpoint (`POST /`) refuses in
//! AWS's shape (`__type`), the rest in the native one. To hash the payload,
//! a signed request's body is read here (bounded as the handlers bound it)
//! and put back.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::aws::TARGET_HEADER;
use super::body::{BodyError, read_limited};
use super::error::{ApiError, close_connection};
use crate::auth::sigv4::{self, SigV4Error, Signable};
use crate::auth::{Access, Caller};

/// The service name a credential scope must name.
const SERVICE: &str = "events";

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    /// A signature if one is sent; none makes the caller `Anonymous`.
    Publisher,
    Operator,
}

/// The AWS endpoint or the native one, for the shape of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Aws,
    Native,
}

fn need(method: &Method, path: &str, headers: &HeaderMap, metrics_open: bool) -> Need {
    match path {
        "/healthz" => Need::Nothing,
        "/metrics" if metrics_open => Need::Nothing,
        "/events" if method == Method::POST => Need::Publisher,
        "/" if method == Method::POST
            && headers
                .get(TARGET_HEADER)
                .is_some_and(|t| t.as_bytes() == b"AWSEvents.PutEvents") =>
        {
            Need::Publisher
        }
        _ if method == Method::POST && is_bus_publish(path) => Need::Publisher,
        _ => Need::Operator,
    }
}

/// `/buses/{bus}/events`.
fn is_bus_publish(path: &str) -> bool {
    path.strip_prefix("/buses/")
        .and_then(|rest| rest.strip_suffix("/events"))
        .is_some_and(|bus| !bus.is_empty() && !bus.contains('/'))
}

fn is_sigv4(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-"))
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let access = &state.access;
    if access.is_open() {
        request.extensions_mut().insert(Caller::Open);
        return next.run(request).await;
    }
    let surface = if request.uri().path() == "/" {
        Surface::Aws
    } else {
        Surface::Native
    };
    let need = need(
        request.method(),
        request.uri().path(),
        request.headers(),
        access.metrics_open,
    );
    if need == Need::Nothing || !is_sigv4(request.headers()) {
        if need == Need::Operator {
            return Refusal::Missing.into_response(surface);
        }
        request.extensions_mut().insert(Caller::Anonymous);
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = body_limit(&state, &parts.uri);
    let body = match read_limited(&parts.headers, body, limit).await {
        Ok(body) => body,
        Err(error) => return Refusal::Body(error).into_response(surface),
    };
    let caller = match verify(access, &parts, &body, chrono::Utc::now()) {
        Ok(caller) => caller,
        Err(error) => {
            tracing::info!(path = parts.uri.path(), %error, "refused a SigV4 signature");
            return Refusal::Signature(error).into_response(surface);
        }
    };
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The bound of the handler that will read this body: the gateway's event
/// size, or the AWS endpoint's (also used for every other route).
fn body_limit(state: &AppState, uri: &axum::http::Uri) -> usize {
    let aws = (state.ingest.max_event_bytes * 12).max(4 * 1024 * 1024);
    if uri.path() == "/" {
        aws
    } else {
        aws.max(state.ingest.max_event_bytes)
    }
}

fn verify(
    access: &Access,
    parts: &axum::http::request::Parts,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Caller, SigV4Error> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let auth = sigv4::parse_authorization(header)?;
    let Some(amz_date) = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(SigV4Error::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_owned(),
        ));
    };
    let Some(secret) = access.operators.secret(&auth.access_key_id) else {
        return Err(SigV4Error::UnknownKey);
    };
    if auth.region != access.region {
        return Err(SigV4Error::BadScope(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        )));
    }
    if auth.service != SERVICE {
        return Err(SigV4Error::BadScope(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    let payload_hash = sigv4::payload_hash(&parts.headers, body);
    let request = Signable {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        payload_hash: &payload_hash,
    };
    sigv4::verify(&request, &auth, amz_date, secret, now)?;
    Ok(Caller::Operator {
        access_key_id: auth.access_key_id,
    })
}

enum Refusal {
    Missing,
    Signature(SigV4Error),
    Body(BodyError),
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const UNKNOWN_KEY: &str = "The security token included in the request is invalid.";
const MISSING: &str = "Request is missing Authentication Token";

impl Refusal {
    fn into_response(self, surface: Surface) -> Response {
        match surface {
            Surface::Aws => self.aws(),
            Surface::Native => self.native(),
        }
    }

    fn aws(self) -> Response {
        let (status, kind, message) = match self {
            Refusal::Missing => (
                StatusCode::BAD_REQUEST,
                "MissingAuthenticationTokenException",
                MISSING.to_owned(),
            ),
            Refusal::Signature(error) => {
                let (kind, message) = aws_words(&error);
                (StatusCode::BAD_REQUEST, kind, message)
            }
            Refusal::Body(BodyError::TooLarge { limit }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                format!("the request body exceeds {limit} bytes"),
            ),
            Refusal::Body(BodyError::Unreadable(e)) => (
                StatusCode::BAD_REQUEST,
                "SerializationException",
                format!("the request body could not be read: {e}"),
            ),
        };
        let body = json!({ "__type": kind, "message": message }).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-amzn-requestid", id);
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            close_connection(&mut response);
        }
        response
    }

    fn native(self) -> Response {
        let error = match self {
            Refusal::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this endpoint needs operator credentials: sign the request with AWS Signature Version 4 (the stowage CLI does with --access-key-id and --secret-access-key)",
            ),
            Refusal::Signature(error) => {
                let code = match &error {
                    SigV4Error::UnknownKey => "unknown_access_key",
                    SigV4Error::Expired { .. } | SigV4Error::NotYetCurrent { .. } => {
                        "signature_expired"
                    }
                    SigV4Error::Incomplete(_) => "incomplete_signature",
                    SigV4Error::BadScope(_) | SigV4Error::Mismatch => "invalid_signature",
                };
                ApiError::new(StatusCode::FORBIDDEN, code, aws_words(&error).1)
            }
            Refusal::Body(error) => error.into_api_error(),
        };
        error.into_response()
    }
}

/// AWS's `__type` and message for a signature refusal.
fn aws_words(error: &SigV4Error) -> (&'static str, String) {
    match error {
        SigV4Error::UnknownKey => ("UnrecognizedClientException", UNKNOWN_KEY.to_owned()),
        SigV4Error::Mismatch => ("InvalidSignatureException", MISMATCH.to_owned()),
        SigV4Error::Incomplete(message) => ("IncompleteSignatureException", message.clone()),
        SigV4Error::Expired { .. } | SigV4Error::NotYetCurrent { .. } | SigV4Error::BadScope(_) => {
            ("InvalidSignatureException", error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_what_the_contract_says() {
        let none = HeaderMap::new();
        let mut put_events = HeaderMap::new();
        put_events.insert(
            TARGET_HEADER,
            HeaderValue::from_static("AWSEvents.PutEvents"),
        );
        let mut list_rules = HeaderMap::new();
        list_rules.insert(
            TARGET_HEADER,
            HeaderValue::from_static("AWSEvents.ListRules"),
        );
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(need(&get, "/healthz", &none, false), Need::Nothing);
        assert_eq!(need(&get, "/metrics", &none, true), Need::Nothing);
        assert_eq!(need(&get, "/metrics", &none, false), Need::Operator);
        assert_eq!(need(&post, "/events", &none, false), Need::Publisher);
        assert_eq!(
            need(&post, "/buses/orders/events", &none, false),
            Need::Publisher
        );
        assert_eq!(
            need(&post, "/buses/a/b/events", &none, false),
            Need::Operator
        );
        assert_eq!(need(&post, "/", &put_events, false), Need::Publisher);
        assert_eq!(need(&post, "/", &list_rules, false), Need::Operator);
        assert_eq!(need(&post, "/", &none, false), Need::Operator);
        assert_eq!(need(&get, "/v1/dead-letters", &none, false), Need::Operator);
        assert_eq!(need(&get, "/events", &none, false), Need::Operator);
    }
}
