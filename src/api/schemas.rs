//! The schema registry's routes (`PUT|GET /v1/schemas`,
//! `GET|DELETE /v1/schemas/{source}/{detailType}?version=V`) and the checks
//! the publish handlers call: [`check_gateway`] for a gateway body's `data`,
//! [`check_detail`] for a PutEvents `Detail`.
//!
//! Both checks cost one map lookup when no schema covers the event; the
//! JSON tree is built only for events that have a schema.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::AppState;
use super::error::ApiError;
use crate::event::format_time;
use crate::schema::{Put, RegistryError, SchemaKey, SchemaRecord, Schemas, Violation};

/// The gateway body, read again only when a schema covers the event.
#[derive(Deserialize)]
struct GatewayData {
    #[serde(default)]
    metadata: Option<GatewayMetadata>,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct GatewayMetadata {
    #[serde(default, rename = "eventSchemaVersion")]
    version: Option<Value>,
}

/// The version an `eventSchemaVersion` names: a string as is, a number as
/// written (`1` → "1"); anything else names none.
fn version_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Checks a gateway body's `data` (absent `data` is `null`) against the schema
/// of (source, detail type, `metadata.eventSchemaVersion`): `400
/// schema_violation` naming the pointer (`/data/...`) and the rule.
pub fn check_gateway(
    state: &AppState,
    source: &str,
    detail_type: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    if !state.schemas.covers(source, detail_type) {
        return Ok(());
    }
    let started = Instant::now();
    let parsed: GatewayData = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    let version = version_text(parsed.metadata.as_ref().and_then(|m| m.version.as_ref()));
    let verdict = check(
        &state.schemas,
        source,
        detail_type,
        version.as_deref(),
        &parsed.data,
    );
    observe(state, "gateway", started, verdict.is_some());
    match verdict {
        None => Ok(()),
        Some((key, violation)) => {
            let pointer = format!("/data{}", violation.pointer);
            Err(ApiError::bad_request(
                "schema_violation",
                format!(
                    "data does not match the schema for {key}: at {pointer:?} rule {:?} failed: {}",
                    violation.keyword, violation.message
                ),
            )
            .at_pointer(pointer))
        }
    }
}

/// Checks a PutEvents `Detail` (already known to be a JSON object) against
/// the schema of (source, detail type) without version: PutEvents carries
/// none. `Err` is the per-entry message of a `MalformedDetail` refusal.
pub fn check_detail(
    state: &AppState,
    source: &str,
    detail_type: &str,
    detail: &str,
) -> Result<(), String> {
    if !state.schemas.covers(source, detail_type) {
        return Ok(());
    }
    let started = Instant::now();
    let detail: Value =
        serde_json::from_str(detail).map_err(|_| "Detail is malformed.".to_owned())?;
    let verdict = check(&state.schemas, source, detail_type, None, &detail);
    observe(state, "put_events", started, verdict.is_some());
    match verdict {
        None => Ok(()),
        Some((_, violation)) => Err(format!(
            "Detail is malformed: it does not match the registered schema at {:?}: rule {:?} failed: {}",
            violation.pointer, violation.keyword, violation.message
        )),
    }
}

/// The schema that applies and the first rule broken, if any.
fn check(
    schemas: &Schemas,
    source: &str,
    detail_type: &str,
    version: Option<&str>,
    value: &Value,
) -> Option<(String, Violation)> {
    let (versioned, compiled) = schemas.lookup(source, detail_type, version)?;
    let violation = compiled.check(value)?;
    let key = SchemaKey {
        source: source.to_owned(),
        detail_type: detail_type.to_owned(),
        version: version.filter(|_| versioned).map(str::to_owned),
    };
    Some((key.to_string(), violation))
}

fn observe(state: &AppState, api: &str, started: Instant, refused: bool) {
    let metrics = &state.metrics.schema;
    metrics
        .validation_seconds
        .observe(started.elapsed().as_secs_f64());
    if refused {
        metrics.refused.with_label_values(&[api]).inc();
    }
}

/// `PUT /v1/schemas` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutBody<'a> {
    source: String,
    detail_type: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(borrow)]
    schema: &'a RawValue,
}

/// A schema as `/v1/schemas` shows it (and `stowage schemas` reads it).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaView {
    pub source: String,
    pub detail_type: String,
    pub version: Option<String>,
    /// The schema text's length in bytes.
    pub bytes: usize,
    pub created_at: String,
    pub modified_at: String,
    /// The schema itself (not in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Box<RawValue>>,
}

fn view(record: SchemaRecord, with_schema: bool) -> Result<SchemaView, ApiError> {
    let schema = if with_schema {
        Some(RawValue::from_string(record.text.clone()).map_err(|e| ApiError::internal(&e))?)
    } else {
        None
    };
    Ok(SchemaView {
        bytes: record.text.len(),
        source: record.key.source,
        detail_type: record.key.detail_type,
        version: record.key.version,
        created_at: format_time(record.created_ms),
        modified_at: format_time(record.modified_ms),
        schema,
    })
}

fn refusal(error: RegistryError) -> ApiError {
    match error {
        RegistryError::Schema(e) => ApiError::bad_request("invalid_schema", e.to_string()),
        e @ RegistryError::InvalidKey { .. } => {
            ApiError::bad_request("invalid_field", e.to_string())
        }
        e @ RegistryError::NotFound(_) => ApiError::not_found("schema_not_found", e.to_string()),
        e @ RegistryError::Full => {
            ApiError::new(StatusCode::CONFLICT, "registry_full", e.to_string())
        }
        RegistryError::Storage(e) => ApiError::internal(&e),
    }
}

fn blocking_error(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(&e)
}

pub async fn put(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let parsed: PutBody<'_> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected {{\"source\", \"detailType\", \"version\"?, \"schema\"}}: {e}"),
        )
    })?;
    let key = SchemaKey {
        source: parsed.source,
        detail_type: parsed.detail_type,
        version: parsed.version,
    };
    let text = parsed.schema.get().to_owned();
    let schemas = state.schemas.clone();
    let (record, put) = tokio::task::spawn_blocking(move || schemas.put(key, text))
        .await
        .map_err(blocking_error)?
        .map_err(refusal)?;
    let status = match put {
        Put::Created => StatusCode::CREATED,
        Put::Replaced => StatusCode::OK,
    };
    Ok((status, Json(view(record, true)?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    source: Option<String>,
}

#[derive(Serialize)]
struct ListReply {
    items: Vec<SchemaView>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}; expected source")))?;
    let schemas = state.schemas.clone();
    let records = tokio::task::spawn_blocking(move || schemas.list(query.source.as_deref()))
        .await
        .map_err(blocking_error)?
        .map_err(refusal)?;
    let items = records
        .into_iter()
        .map(|r| view(r, false))
        .collect::<Result<_, _>>()?;
    Ok(Json(ListReply { items }).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneQuery {
    version: Option<String>,
}

fn one_key(
    (source, detail_type): (String, String),
    query: Result<Query<OneQuery>, QueryRejection>,
) -> Result<SchemaKey, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}; expected version")))?;
    let key = SchemaKey {
        source,
        detail_type,
        version: query.version,
    };
    key.validate().map_err(refusal)?;
    Ok(key)
}

pub async fn show(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    query: Result<Query<OneQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = one_key(path, query)?;
    let schemas = state.schemas.clone();
    let record = tokio::task::spawn_blocking(move || schemas.get(&key))
        .await
        .map_err(blocking_error)?
        .map_err(refusal)?;
    Ok(Json(view(record, true)?).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    query: Result<Query<OneQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = one_key(path, query)?;
    let schemas = state.schemas.clone();
    tokio::task::spawn_blocking(move || schemas.delete(&key))
        .await
        .map_err(blocking_error)?
        .map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_versions_are_strings_or_numbers_as_written() {
        assert_eq!(version_text(Some(&json!("2"))), Some("2".into()));
        assert_eq!(version_text(Some(&json!(2))), Some("2".into()));
        assert_eq!(version_text(Some(&json!(1.5))), Some("1.5".into()));
        assert_eq!(version_text(Some(&json!(null))), None);
        assert_eq!(version_text(None), None);
    }
}
