//! Publisher keys on the wire: reading the key a publisher presents
//! (`x-api-key` or `Authorization: Bearer`), the one check each publish handler
//! makes (`authorize_publish`), how refusals read (gateway and AWS), and the
//! operator routes `/v1/keys`. The decisions are `keys`'s.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::auth::Caller;
use crate::event::now_ms;
use crate::keys::grant::{EntryRefusal, GrantText};
use crate::keys::{Admitted, KeyError, NewKey, Refusal};

pub const API_KEY_HEADER: &str = "x-api-key";
/// The grace of a rotation that names none.
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// Who is publishing, as the request says: taken once per publish request.
pub struct PublishAuth {
    caller: Caller,
    token: Option<String>,
    peer: Option<IpAddr>,
}

impl PublishAuth {
    /// No `Caller` in the extensions (no authentication layer): `Open`.
    pub fn from_request(headers: &HeaderMap, extensions: &Extensions) -> PublishAuth {
        PublishAuth {
            caller: extensions.get::<Caller>().cloned().unwrap_or(Caller::Open),
            token: presented_key(headers),
            peer: extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        }
    }
}

/// The key in `x-api-key`, else in `Authorization: Bearer …`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        return Some(value.to_str().unwrap_or("").trim().to_string());
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Who may publish: anyone (open server, operator signature, or no key on an
/// open server), or a key with its grant.
pub enum Publisher {
    Unrestricted,
    Key(Admitted),
}

/// The one check of a publish: `entries` are the (source, detail type) of the
/// events about to be appended. `Err` refuses the whole request; otherwise one
/// verdict per entry, and the allowed ones are counted against rate and quota.
/// On an open server a presented key is still checked, so keys can be tried
/// before operator credentials are configured.
pub fn authorize_publish(
    state: &AppState,
    auth: &PublishAuth,
    entries: &[(&str, &str)],
) -> Result<Vec<Result<(), EntryRefusal>>, Refusal> {
    let now = now_ms();
    let publisher = match (&auth.caller, &auth.token) {
        (Caller::Operator { .. }, _) | (Caller::Open, None) => Publisher::Unrestricted,
        (Caller::Open | Caller::Anonymous, token) => {
            Publisher::Key(state.keys.admit(token.as_deref(), auth.peer, now)?)
        }
    };
    let Publisher::Key(key) = publisher else {
        return Ok(vec![Ok(()); entries.len()]);
    };
    let verdicts: Vec<_> = entries
        .iter()
        .map(|(source, detail_type)| key.allows(source, detail_type))
        .collect();
    let allowed = verdicts.iter().filter(|v| v.is_ok()).count();
    key.take(u32::try_from(allowed).unwrap_or(u32::MAX), now)?;
    Ok(verdicts)
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// How a refused publish reads on the gateway.
pub fn gateway_refusal(refusal: &Refusal) -> Response {
    let (status, code, message) = match refusal {
        Refusal::Missing => (
            StatusCode::UNAUTHORIZED,
            "missing_key",
            "send a publisher key in the x-api-key header or as Authorization: Bearer <key>"
                .to_string(),
        ),
        Refusal::Malformed => (
            StatusCode::UNAUTHORIZED,
            "malformed_key",
            "the publisher key is not a Stowage key (stk_…); check that it was copied whole"
                .to_string(),
        ),
        Refusal::Unknown => (
            StatusCode::UNAUTHORIZED,
            "unknown_key",
            "the publisher key is not valid".to_string(),
        ),
        Refusal::Revoked => (
            StatusCode::UNAUTHORIZED,
            "revoked_key",
            "the publisher key was revoked; ask the operator for a new one".to_string(),
        ),
        Refusal::Network => (
            StatusCode::FORBIDDEN,
            "network_not_allowed",
            "the publisher key may not be used from this address".to_string(),
        ),
        Refusal::RateLimited { retry_after } => {
            return too_many(
                "rate_limited",
                "the publisher key's rate is exceeded; retry after the Retry-After delay",
                *retry_after,
            );
        }
        Refusal::QuotaExhausted { retry_after } => {
            return too_many(
                "quota_exhausted",
                "the publisher key's daily quota is used up; it renews at 00:00 UTC",
                *retry_after,
            );
        }
    };
    let mut response = ApiError::new(status, code, message).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn too_many(code: &'static str, message: &str, wait: Duration) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait)),
    );
    response
}

/// How an event refused by the key's grant reads on the gateway: `403` naming it.
pub fn gateway_entry_refusal(refusal: EntryRefusal, source: &str, detail_type: &str) -> ApiError {
    match refusal {
        EntryRefusal::Source => ApiError::new(
            StatusCode::FORBIDDEN,
            "source_not_allowed",
            format!("the publisher key may not publish events with source {source:?}"),
        ),
        EntryRefusal::DetailType => ApiError::new(
            StatusCode::FORBIDDEN,
            "detail_type_not_allowed",
            format!(
                "the publisher key may not publish events with detail type {detail_type:?} \
                 (eventName) for source {source:?}"
            ),
        ),
    }
}

// ---- /v1/keys ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    name: String,
    sources: Vec<String>,
    #[serde(default)]
    detail_types: Vec<String>,
    rate: Option<String>,
    quota: Option<String>,
    #[serde(default)]
    networks: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RotateBody {
    grace_seconds: Option<u64>,
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the request body is not valid: {e}"),
        )
    })
}

fn key_error(error: KeyError) -> ApiError {
    match error {
        KeyError::Grant(_) | KeyError::BadName | KeyError::BadGrace => {
            ApiError::bad_request("invalid_field", error.to_string())
        }
        KeyError::NotFound { .. } => ApiError::not_found("key_not_found", error.to_string()),
        KeyError::Revoked { .. } => {
            ApiError::new(StatusCode::CONFLICT, "key_revoked", error.to_string())
        }
        KeyError::Store(_) | KeyError::Frame { .. } | KeyError::Random(_) => {
            ApiError::internal(&error)
        }
    }
}

/// `POST /v1/keys`: `201` with the key and its token, shown this once.
pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body: CreateBody = parse_body(&body)?;
    let issued = state
        .keys
        .create(
            NewKey {
                name: body.name,
                grant: GrantText {
                    sources: body.sources,
                    detail_types: body.detail_types,
                    rate: body.rate,
                    quota: body.quota,
                    networks: body.networks,
                },
            },
            now_ms(),
        )
        .map_err(key_error)?;
    tracing::info!(key = %issued.view.id, name = %issued.view.name, "publisher key created");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "key": issued.view, "token": issued.token })),
    )
        .into_response())
}

/// `GET /v1/keys`.
pub async fn list(State(state): State<AppState>) -> Response {
    Json(json!({ "keys": state.keys.list(now_ms()) })).into_response()
}

/// `GET /v1/keys/{id}`: the key with its usage counters.
pub async fn describe(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .keys
        .describe(&id, now_ms())
        .map(|view| Json(view).into_response())
        .ok_or_else(|| key_error(KeyError::NotFound { id }))
}

/// `POST /v1/keys/{id}/rotate` `{"graceSeconds": N}` (default 3600).
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_body(&body)?
    };
    let grace = body
        .grace_seconds
        .map_or(DEFAULT_GRACE, Duration::from_secs);
    let issued = state.keys.rotate(&id, grace, now_ms()).map_err(key_error)?;
    tracing::info!(key = %issued.view.id, grace_secs = grace.as_secs(), "publisher key rotated");
    Ok(Json(json!({ "key": issued.view, "token": issued.token })).into_response())
}

/// `DELETE /v1/keys/{id}` or `POST /v1/keys/{id}/revoke`: refused from now on.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = state.keys.revoke(&id, now_ms()).map_err(key_error)?;
    tracing::info!(key = %view.id, "publisher key revoked");
    Ok(Json(view).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_comes_from_x_api_key_or_bearer() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  abc "),
        );
        assert_eq!(presented_key(&headers).as_deref(), Some("abc"));
        headers.insert(API_KEY_HEADER, HeaderValue::from_static("xyz"));
        assert_eq!(presented_key(&headers).as_deref(), Some("xyz"));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_key(&basic), None);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
