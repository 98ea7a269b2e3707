//! PutEvents: 1–10 entries, validated one by one, failures reported per entry in
//! request order; the valid ones are appended together and share a sync.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{AwsError, ok};
use crate::api::AppState;
use crate::api::keys::{PublishAuth, authorize_publish, retry_after_secs};
use crate::bus::DEFAULT_BUS;
use crate::event::{MAX_JSON_DEPTH, NewEvent, nesting_exceeds, now_ms};
use crate::keys::Refusal;
use crate::keys::grant::EntryRefusal;
use crate::log::{AppendRequest, Appended};

/// AWS counts a present `Time` as 14 bytes of the entry size.
const TIME_BYTES: usize = 14;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsRequest {
    entries: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<String>,
    time: Option<Timestamp>,
    resources: Option<Vec<String>>,
    event_bus_name: Option<String>,
}

/// JSON 1.1 sends epoch seconds; people with curl send RFC 3339 strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Timestamp {
    EpochSeconds(f64),
    Text(String),
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ResultEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsResponse {
    failed_entry_count: usize,
    entries: Vec<ResultEntry>,
}

fn failed(code: &'static str, message: impl Into<String>) -> ResultEntry {
    ResultEntry {
        event_id: None,
        error_code: Some(code),
        error_message: Some(message.into()),
    }
}

fn required(field: &str) -> ResultEntry {
    failed(
        "InvalidArgument",
        format!("Parameter {field} is not valid. Reason: {field} is a required argument."),
    )
}

/// The entry size as AWS computes it.
fn entry_size(entry: &Entry) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    entry.time.as_ref().map_or(0, |_| TIME_BYTES)
        + text(&entry.source)
        + text(&entry.detail_type)
        + text(&entry.detail)
        + entry
            .resources
            .as_ref()
            .map_or(0, |r| r.iter().map(String::len).sum())
}

pub async fn put_events(
    state: &AppState,
    request: PutEventsRequest,
    publish: &PublishAuth,
) -> Result<Response, AwsError> {
    let entries = request
        .entries
        .ok_or_else(|| AwsError::validation("Entries is required."))?;
    if entries.is_empty() || entries.len() > 10 {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got {})",
            entries.len()
        )));
    }
    let total: usize = entries.iter().map(entry_size).sum();
    if total > state.ingest.max_event_bytes {
        state
            .metrics
            .ingest
            .rejected
            .with_label_values(&["payload_too_large"])
            .inc_by(entries.len() as u64);
        return Err(AwsError::validation(format!(
            "Total size of the entries in the request is over the limit ({total} > {} bytes).",
            state.ingest.max_event_bytes
        )));
    }

    let mut results: Vec<ResultEntry> = Vec::with_capacity(entries.len());
    let mut appends = Vec::new();
    let mut slots = Vec::new();
    let now = now_ms();
    for (i, entry) in entries.into_iter().enumerate() {
        match to_event(state, entry, now) {
            Ok(event) => {
                results.push(ResultEntry::default());
                slots.push(i);
                appends.push(AppendRequest {
                    event,
                    idempotency_key: None,
                });
            }
            Err(result) => {
                let reason = result.error_code.unwrap_or("invalid");
                state
                    .metrics
                    .ingest
                    .rejected
                    .with_label_values(&[reason])
                    .inc();
                results.push(result);
            }
        }
    }
    let (appends, slots) = match authorize_entries(state, publish, appends, slots, &mut results) {
        Ok(allowed) => allowed,
        Err(refusal) => return Ok(aws_refusal(&refusal)),
    };
    let outcomes = state.log.append_all(appends).await;
    for (slot, outcome) in slots.into_iter().zip(outcomes) {
        results[slot] = match outcome {
            Ok(Appended::Stored { id, .. }) => {
                state.metrics.ingest.accepted.inc();
                ResultEntry {
                    event_id: Some(id.to_string()),
                    ..ResultEntry::default()
                }
            }
            Ok(Appended::Duplicate { id }) => ResultEntry {
                event_id: Some(id.to_string()),
                ..ResultEntry::default()
            },
            // PutEvents sends no idempotency key, so no key can be reused.
            Ok(Appended::KeyReused) => {
                tracing::error!("PutEvents entry answered as a reused idempotency key");
                failed(
                    "InternalFailure",
                    "The event could not be stored; retry it.",
                )
            }
            Err(error) => {
                tracing::error!(error = %error, "PutEvents entry not persisted");
                state
                    .metrics
                    .ingest
                    .rejected
                    .with_label_values(&["unavailable"])
                    .inc();
                failed(
                    "InternalFailure",
                    "The event could not be stored durably; retry it.",
                )
            }
        };
    }
    let failed_entry_count = results.iter().filter(|r| r.error_code.is_some()).count();
    ok(&PutEventsResponse {
        failed_entry_count,
        entries: results,
    })
}

/// The publisher-key check: entries the key may not publish get EventBridge's
/// per-entry errors and are dropped from `appends`; a refusal of the whole
/// request (no key, bad key, network, rate, quota) is `Err`.
fn authorize_entries(
    state: &AppState,
    publish: &PublishAuth,
    appends: Vec<AppendRequest>,
    slots: Vec<usize>,
    results: &mut [ResultEntry],
) -> Result<(Vec<AppendRequest>, Vec<usize>), Refusal> {
    let names: Vec<(&str, &str)> = appends
        .iter()
        .map(|a| (a.event.source.as_str(), a.event.detail_type.as_str()))
        .collect();
    let verdicts = authorize_publish(state, publish, &names)?;
    let mut allowed = (Vec::with_capacity(appends.len()), Vec::new());
    for ((append, slot), verdict) in appends.into_iter().zip(slots).zip(verdicts) {
        match verdict {
            Ok(()) => {
                allowed.0.push(append);
                allowed.1.push(slot);
            }
            Err(refusal) => {
                let (source, bus) = (&append.event.source, &append.event.bus);
                results[slot] = match refusal {
                    EntryRefusal::Source => failed(
                        "NotAuthorizedForSourceException",
                        format!(
                            "Not authorized to publish events with source {source} onto event bus {bus}."
                        ),
                    ),
                    EntryRefusal::DetailType => failed(
                        "NotAuthorizedForDetailTypeException",
                        format!(
                            "Not authorized to publish events with detail type {} onto event bus {bus}.",
                            append.event.detail_type
                        ),
                    ),
                };
            }
        }
    }
    Ok(allowed)
}

/// A whole PutEvents refused by the publisher-key check, in AWS's words.
fn aws_refusal(refusal: &Refusal) -> Response {
    let (status, kind, message) = match refusal {
        Refusal::Missing => (
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token: sign the request (SigV4) or send a publisher key in x-api-key.",
        ),
        Refusal::Malformed | Refusal::Unknown | Refusal::Revoked => (
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        Refusal::Network => (
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            "The publisher key may not be used from this address.",
        ),
        Refusal::RateLimited { .. } => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded.",
        ),
        Refusal::QuotaExhausted { .. } => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "The publisher key's daily quota is used up; it renews at 00:00 UTC.",
        ),
    };
    let mut response = AwsError {
        status,
        kind,
        message: message.to_string(),
    }
    .into_response();
    if let Refusal::RateLimited { retry_after } | Refusal::QuotaExhausted { retry_after } = refusal
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(*retry_after)),
        );
    }
    response
}

/// Epoch seconds to milliseconds, for times between year 0 and 9999.
fn epoch_ms(seconds: f64) -> Option<i64> {
    const MAX_SECONDS: f64 = 253_402_300_799.0;
    if !(seconds.is_finite() && (-62_167_219_200.0..=MAX_SECONDS).contains(&seconds)) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)] // range checked above
    Some((seconds * 1000.0).round() as i64)
}

fn to_event(state: &AppState, entry: Entry, now: i64) -> Result<NewEvent, ResultEntry> {
    let source = entry
        .source
        .filter(|s| !s.is_empty())
        .ok_or_else(|| required("Source"))?;
    let detail_type = entry
        .detail_type
        .filter(|s| !s.is_empty())
        .ok_or_else(|| required("DetailType"))?;
    let detail = entry.detail.ok_or_else(|| required("Detail"))?;
    let is_object = !nesting_exceeds(detail.as_bytes(), MAX_JSON_DEPTH)
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&detail).is_ok();
    if !is_object {
        return Err(failed("MalformedDetail", "Detail is malformed."));
    }
    let time_ms = match entry.time {
        None => now,
        Some(Timestamp::EpochSeconds(s)) => {
            epoch_ms(s).ok_or_else(|| failed("InvalidArgument", "Parameter Time is not valid."))?
        }
        Some(Timestamp::Text(t)) => chrono::DateTime::parse_from_rfc3339(&t)
            .map(|t| t.timestamp_millis())
            .map_err(|_| {
                failed(
                    "InvalidArgument",
                    "Parameter Time is not valid. Reason: not an RFC 3339 timestamp.",
                )
            })?,
    };
    let given_bus = entry
        .event_bus_name
        .unwrap_or_else(|| DEFAULT_BUS.to_string());
    let bus = match state.buses.resolve(&given_bus) {
        Some(name) if state.buses.exists(name) => name.to_string(),
        _ => {
            return Err(failed(
                "ResourceNotFoundException",
                format!("Event bus {given_bus} does not exist."),
            ));
        }
    };
    // After authorization, before the append: Detail against its registered schema.
    crate::api::schemas::check_detail(state, &source, &detail_type, &detail)
        .map_err(|message| failed("MalformedDetail", message))?;
    Ok(NewEvent {
        bus,
        source,
        detail_type,
        time_ms,
        ingested_ms: now,
        account: state.aws.account.clone(),
        region: state.aws.region.clone(),
        resources: entry.resources.unwrap_or_default(),
        detail,
        replay: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn arbitrary_request_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            let _ = serde_json::from_slice::<PutEventsRequest>(&body);
        }

        #[test]
        fn epoch_ms_never_panics(seconds in proptest::prelude::any::<f64>()) {
            let _ = epoch_ms(seconds);
        }
    }

    #[test]
    fn entry_size_follows_the_aws_rule() {
        let entry: Entry = serde_json::from_str(
            r#"{"Source":"ab","DetailType":"cde","Detail":"{}","Time":1700000000,"Resources":["r1","r22"]}"#,
        )
        .expect("entry parses");
        assert_eq!(entry_size(&entry), 14 + 2 + 3 + 2 + 2 + 3);
    }

    #[test]
    fn epoch_seconds_become_milliseconds() {
        assert_eq!(epoch_ms(1_700_000_000.5), Some(1_700_000_000_500));
        assert_eq!(epoch_ms(f64::NAN), None);
        assert_eq!(epoch_ms(1e300), None);
    }
}
