//! The gateway publish endpoint: `POST /events` and `POST /buses/{bus}/events`.
//!
//! Body: `{"metadata":{"source":S,"eventName":T,"eventSchemaVersion":V},"data":{…}}`.
//! The event gets `source` = S, `detail-type` = T and `detail` = the whole body,
//! kept verbatim. `200 {"eventId"}` is sent only once the event is durable.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::AppState;
use super::body::{is_json, read_limited};
use super::error::ApiError;
use super::keys::{PublishAuth, authorize_publish, gateway_entry_refusal, gateway_refusal};
use crate::bus::DEFAULT_BUS;
use crate::event::{EventId, MAX_JSON_DEPTH, NewEvent, nesting_exceeds, now_ms};
use crate::log::{AppendRequest, Appended, IdempotencyKey, RequestDigest};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The parts of the body Stowage reads; the rest is only validated. Borrowed raw
/// values: no tree is built for a publish.
#[derive(Deserialize)]
struct GatewayBody<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "eventName")]
    event_name: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "eventSchemaVersion")]
    schema_version: Option<&'a RawValue>,
}

/// A metadata field that must be a non-blank string (`null` counts as absent).
fn required_text(name: &str, value: Option<&RawValue>) -> Result<String, ApiError> {
    let Some(raw) = value else {
        return Err(ApiError::bad_request(
            "missing_field",
            format!("metadata.{name} is required"),
        ));
    };
    let text: String = serde_json::from_str(raw.get()).map_err(|_| {
        ApiError::bad_request("invalid_field", format!("metadata.{name} must be a string"))
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("metadata.{name} must not be empty"),
        ));
    }
    Ok(text)
}

pub async fn publish_default(State(state): State<AppState>, request: Request) -> Response {
    publish(state, DEFAULT_BUS, request).await
}

pub async fn publish_to_bus(
    State(state): State<AppState>,
    Path(bus): Path<String>,
    request: Request,
) -> Response {
    publish(state, &bus, request).await
}

/// Takes the request whole: the `HeaderMap` extractor would copy every header.
async fn publish(state: AppState, bus: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let auth = PublishAuth::from_request(&parts.headers, &parts.extensions);
    match try_publish(&state, bus, &parts.headers, &auth, body).await {
        Ok(response) => response,
        Err(error) => {
            state
                .metrics
                .ingest
                .rejected
                .with_label_values(&[error.code])
                .inc();
            error.into_response()
        }
    }
}

async fn try_publish(
    state: &AppState,
    bus: &str,
    headers: &HeaderMap,
    auth: &PublishAuth,
    body: Body,
) -> Result<Response, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the event as JSON with Content-Type: application/json",
        ));
    }
    let idempotency_key = idempotency_key(headers)?;
    let body = read_limited(headers, body, state.ingest.max_event_bytes)
        .await
        .map_err(|e| e.into_api_error())?;
    if !state.buses.exists(bus) {
        return Err(ApiError::not_found(
            "bus_not_found",
            format!("event bus {bus:?} does not exist"),
        ));
    }
    let (source, detail_type) = parse_envelope(&body)?;
    match authorize_publish(state, auth, &[(&source, &detail_type)]) {
        Err(refusal) => return Ok(gateway_refusal(&refusal)),
        Ok(verdicts) => {
            if let Some(Err(refusal)) = verdicts.first() {
                return Err(gateway_entry_refusal(*refusal, &source, &detail_type));
            }
        }
    }
    // What makes a retry a retry: the same bus and the same body, byte for byte
    // (the body holds source and event name; they are hashed too, explicitly).
    let idempotency_key = idempotency_key.map(|key| IdempotencyKey {
        key,
        digest: RequestDigest::of(&[
            bus.as_bytes(),
            source.as_bytes(),
            detail_type.as_bytes(),
            &body,
        ]),
    });
    let key_for_message = idempotency_key.as_ref().map(|k| k.key.clone());
    // After authorization, before the append: `data` against its registered schema.
    super::schemas::check_gateway(state, &source, &detail_type, &body)?;
    let detail = String::from_utf8(Vec::from(body))
        .map_err(|_| ApiError::bad_request("malformed_json", "the body is not valid UTF-8"))?;
    let now = now_ms();
    let event = NewEvent {
        bus: bus.to_string(),
        source,
        detail_type,
        time_ms: now,
        ingested_ms: now,
        account: state.aws.account.clone(),
        region: state.aws.region.clone(),
        resources: Vec::new(),
        detail,
        replay: None,
    };
    match state
        .log
        .append(AppendRequest {
            event,
            idempotency_key,
        })
        .await
    {
        Ok(Appended::Stored { id, .. }) => {
            state.metrics.ingest.accepted.inc();
            Ok(event_id_reply(id))
        }
        Ok(Appended::Duplicate { id }) => {
            state.metrics.ingest.duplicates.inc();
            let mut response = event_id_reply(id);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        Ok(Appended::KeyReused) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            format!(
                "Idempotency-Key {:?} was already used on bus {bus:?} for a different event; \
                 a retry must repeat the same body, a new event needs a new key",
                key_for_message.unwrap_or_default()
            ),
        )),
        Err(error) => Err(ApiError::unavailable(&error)),
    }
}

/// `200 {"eventId":"…"}`, written without building a JSON tree.
fn event_id_reply(id: EventId) -> Response {
    let body = format!(r#"{{"eventId":"{id}"}}"#);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Validates the envelope; returns (source, detail-type).
fn parse_envelope(body: &[u8]) -> Result<(String, String), ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the body must be a JSON object",
        ));
    }
    if nesting_exceeds(body, MAX_JSON_DEPTH) {
        return Err(ApiError::bad_request(
            "malformed_json",
            format!("the body nests objects and arrays deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    let parsed: GatewayBody<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    let Some(metadata) = parsed.metadata else {
        return Err(ApiError::bad_request(
            "missing_field",
            "metadata is required",
        ));
    };
    if !metadata.get().starts_with('{') {
        return Err(ApiError::bad_request(
            "invalid_field",
            "metadata must be an object",
        ));
    }
    let metadata: Metadata<'_> = serde_json::from_str(metadata.get()).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("metadata is not valid: {e}"))
    })?;
    let source = required_text("source", metadata.source)?;
    let event_name = required_text("eventName", metadata.event_name)?;
    let version_ok = metadata.schema_version.is_none_or(|v| {
        let v = v.get();
        v.starts_with('"') || v.starts_with('-') || v.starts_with(|c: char| c.is_ascii_digit())
    });
    if !version_ok {
        return Err(ApiError::bad_request(
            "invalid_field",
            "metadata.eventSchemaVersion must be a string or a number",
        ));
    }
    Ok((source, event_name))
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_needs_source_and_event_name() {
        let ok =
            br#"{"metadata":{"source":"s","eventName":"e","eventSchemaVersion":"1"},"data":{}}"#;
        assert_eq!(parse_envelope(ok).expect("valid"), ("s".into(), "e".into()));
        let missing = br#"{"metadata":{"source":"s"},"data":{}}"#;
        assert_eq!(
            parse_envelope(missing).expect_err("no eventName").message,
            "metadata.eventName is required"
        );
        assert_eq!(
            parse_envelope(b"[1]").expect_err("array").code,
            "invalid_body"
        );
        assert_eq!(
            parse_envelope(b"{\"a\":").expect_err("truncated").code,
            "malformed_json"
        );
        let wrong_type = br#"{"metadata":{"source":5,"eventName":"e"}}"#;
        assert_eq!(
            parse_envelope(wrong_type).expect_err("number").code,
            "invalid_field"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = parse_envelope(&body);
        }

        #[test]
        fn any_valid_envelope_is_accepted(source in "[a-z.]{1,20}", name in "[A-Za-z]{1,20}", data in proptest::arbitrary::any::<Vec<(String, i64)>>()) {
            let data: serde_json::Map<String, serde_json::Value> =
                data.into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect();
            let body = serde_json::json!({"metadata": {"source": source, "eventName": name}, "data": data});
            let parsed = parse_envelope(body.to_string().as_bytes()).expect("a valid envelope parses");
            proptest::prop_assert_eq!(parsed, (source, name));
        }
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let mut body = String::from(r#"{"metadata":{"source":"s","eventName":"e"},"data":"#);
        body.push_str(&"[".repeat(100_000));
        body.push_str(&"]".repeat(100_000));
        body.push('}');
        assert_eq!(
            parse_envelope(body.as_bytes()).expect_err("too deep").code,
            "malformed_json"
        );
    }
}
