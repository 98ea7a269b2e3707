//! `/v1/signing`: signing secrets for delivered requests (Standard Webhooks),
//! a Stowage extension (EventBridge has no such field). A subject is an API
//! destination's name or a plain `http(s)://` target URL (percent-encoded in
//! the path). A secret the server generates is returned once, by the call that
//! made it; no call ever returns a stored secret.
//!
//! - `GET /v1/signing`: the subjects signed, with rotation state.
//! - `PUT /v1/signing/{subject}` `{"secret"?}`: set (generated when absent).
//! - `POST /v1/signing/{subject}/rotate` `{"secret"?, "graceSecs"?}`: new
//!   secret; the old one keeps signing for the grace (default 24 h).
//! - `DELETE /v1/signing/{subject}`: stop signing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::catalog::{CatalogError, SigningRecord};
use crate::delivery::signing::{GENERATED_KEY_BYTES, SigningKey};
use crate::event::format_time;

/// How long a rotated-out secret keeps signing unless told otherwise.
pub const DEFAULT_GRACE_SECS: u64 = 24 * 60 * 60;
/// The longest grace accepted (30 days).
const MAX_GRACE_SECS: u64 = 30 * 24 * 60 * 60;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRequest {
    secret: Option<String>,
    grace_secs: Option<u64>,
}

/// A subject's signing state as the API shows it: never a secret, except a
/// generated one in `secret`, once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningView {
    pub subject: String,
    /// Whether a previous secret still signs (a rotation's grace period).
    pub rotating: bool,
    pub previous_until: Option<String>,
    pub created: String,
    pub modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SigningList {
    pub signing: Vec<SigningView>,
}

fn view(record: &SigningRecord, generated: Option<String>) -> SigningView {
    let now = crate::event::now_ms();
    let until = record.previous_until_ms.filter(|&u| u > now);
    SigningView {
        subject: record.subject.clone(),
        rotating: until.is_some(),
        previous_until: until.map(format_time),
        created: format_time(record.created_ms),
        modified: format_time(record.modified_ms),
        secret: generated,
    }
}

pub async fn list(State(state): State<AppState>) -> Json<SigningList> {
    Json(SigningList {
        signing: state
            .catalog
            .signings()
            .iter()
            .map(|r| view(r, None))
            .collect(),
    })
}

/// The request body; an empty body is `{}`. serde's message is not echoed:
/// it could quote a secret.
fn parse_body(body: &[u8]) -> Result<SecretRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(SecretRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "expected {{\"secret\"?: \"whsec_…\", \"graceSecs\"?: seconds}} (JSON error at line {} column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Checks that `subject` names an API destination or is an http(s) URL.
fn check_subject(state: &AppState, subject: &str) -> Result<(), ApiError> {
    if subject.starts_with("http://") || subject.starts_with("https://") {
        return Ok(());
    }
    if state.catalog.api_destination(subject).is_some() {
        return Ok(());
    }
    Err(ApiError::not_found(
        "subject_not_found",
        format!(
            "{subject} is neither an API destination nor an http(s):// target URL; create the API destination first"
        ),
    ))
}

/// The supplied secret (checked) or a generated one (to be shown once).
fn secret_of(request: &SecretRequest) -> Result<(String, Option<String>), ApiError> {
    match &request.secret {
        Some(secret) => {
            SigningKey::parse(secret).map_err(|e| {
                ApiError::bad_request("invalid_secret", format!("invalid signing secret: {e}"))
            })?;
            Ok((secret.clone(), None))
        }
        None => {
            let mut random = [0u8; GENERATED_KEY_BYTES];
            getrandom::getrandom(&mut random).expect("the OS random source is available");
            let secret = SigningKey::from_random(random).to_secret();
            Ok((secret.clone(), Some(secret)))
        }
    }
}

fn catalog_error(error: CatalogError) -> ApiError {
    match error {
        CatalogError::SigningNotFound { subject } => ApiError::not_found(
            "signing_not_found",
            format!("no signing secret is set for {subject}; set one with PUT first"),
        ),
        other => ApiError::internal(&other),
    }
}

pub async fn set(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_body(&body)?;
    if request.grace_secs.is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "graceSecs applies to rotate, not set",
        ));
    }
    check_subject(&state, &subject)?;
    let (secret, generated) = secret_of(&request)?;
    let record = state
        .catalog
        .set_signing(&subject, secret)
        .map_err(catalog_error)?;
    tracing::info!(subject = %subject, "signing secret set");
    Ok(Json(view(&record, generated)).into_response())
}

pub async fn rotate(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_body(&body)?;
    let grace = request.grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("graceSecs is at most {MAX_GRACE_SECS} (30 days)"),
        ));
    }
    let (secret, generated) = secret_of(&request)?;
    let grace_ms = i64::try_from(grace * 1000).expect("at most 30 days in ms fits i64");
    let record = state
        .catalog
        .rotate_signing(&subject, secret, grace_ms)
        .map_err(catalog_error)?;
    tracing::info!(subject = %subject, grace_secs = grace, "signing secret rotated");
    Ok(Json(view(&record, generated)).into_response())
}

pub async fn clear(
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    state
        .catalog
        .clear_signing(&subject)
        .map_err(catalog_error)?;
    tracing::info!(subject = %subject, "signing secret cleared");
    Ok(StatusCode::NO_CONTENT.into_response())
}
