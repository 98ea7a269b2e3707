//! The native dead-letter and target-status API:
//! `GET /v1/dead-letters`, `GET|DELETE /v1/dead-letters/{id}`,
//! `POST /v1/dead-letters/redrive`, and `GET /v1/targets`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use super::AppState;
use super::error::ApiError;
use crate::dead_letter::{DeadLetter, Filter};
use crate::delivery::{Redriven, Skipped};
use crate::event::format_time;

/// Most letters one page or one redrive call handles.
const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    queue: Option<String>,
    rule: Option<String>,
    target: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A dead letter as the native API shows it (and `stowage dlq` reads it).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LetterView {
    pub id: String,
    pub queue: String,
    pub event_id: String,
    pub bus: String,
    pub rule: String,
    pub rule_arn: String,
    pub target_id: String,
    pub target_arn: String,
    pub attempts: u32,
    pub error_code: String,
    pub error_message: String,
    pub exhausted_retry_condition: Option<String>,
    pub last_status: Option<u16>,
    pub last_response: Option<String>,
    pub retries_counted_from: String,
    pub dead_lettered_at: String,
    pub event: Box<RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListReply {
    items: Vec<LetterView>,
    next_cursor: Option<String>,
}

fn view(letter: DeadLetter) -> Result<LetterView, ApiError> {
    let event = RawValue::from_string(letter.event.to_envelope_json())
        .map_err(|e| ApiError::internal(&e))?;
    Ok(LetterView {
        id: letter.id.to_string(),
        queue: letter.queue,
        event_id: letter.event.id.to_string(),
        bus: letter.event.fields.bus,
        rule: letter.rule,
        rule_arn: letter.rule_arn,
        target_id: letter.target_id,
        target_arn: letter.target_arn,
        attempts: letter.attempts,
        error_code: letter.error_code,
        error_message: letter.error_message,
        exhausted_retry_condition: letter.exhausted_retry_condition,
        last_status: letter.last_status,
        last_response: letter.last_response,
        retries_counted_from: format_time(letter.age_base_ms),
        dead_lettered_at: format_time(letter.dead_lettered_ms),
        event,
    })
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_dead_letter_id",
            format!("{id:?} is not a dead-letter id"),
        )
    })
}

fn blocking_error(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(&e)
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("{e}; expected queue, rule, target, limit, cursor"),
        )
    })?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_PAGE) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a number from 1 to {MAX_PAGE}"),
                ));
            }
        },
    };
    let after = query.cursor.as_deref().map(parse_id).transpose()?;
    let filter = Filter {
        queue: query.queue,
        rule: query.rule,
        target: query.target,
    };
    let letters = state.dead_letters.clone();
    let (page, more) = tokio::task::spawn_blocking(move || letters.list(&filter, after, limit))
        .await
        .map_err(blocking_error)?
        .map_err(|e| ApiError::internal(&e))?;
    let next_cursor = if more {
        page.last().map(|l| l.id.to_string())
    } else {
        None
    };
    let items = page.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    // A struct, not json!(): the events must keep their stored key order.
    Ok(Json(ListReply { items, next_cursor }).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let letter = state
        .dead_letters
        .get(id)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::not_found("dead_letter_not_found", format!("no dead letter {id}"))
        })?;
    Ok(Json(view(letter)?).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let letters = state.dead_letters.clone();
    let store = state.store.clone();
    let removed = tokio::task::spawn_blocking(move || {
        // A backup copies letters before their seq index: a letter deleted
        // between the two would be copied without the entry that holds its
        // log record, so deletion waits for a running backup.
        let _permit = store.removal_permit();
        letters.delete(id)
    })
    .await
    .map_err(blocking_error)?
    .map_err(|e| ApiError::internal(&e))?;
    if !removed {
        return Err(ApiError::not_found(
            "dead_letter_not_found",
            format!("no dead letter {id}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"ids":[…]}` or `{"queue":Q,"rule"?,"target"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedriveRequest {
    ids: Option<Vec<IdValue>>,
    queue: Option<String>,
    rule: Option<String>,
    target: Option<String>,
}

/// Ids as strings (as listed) or numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(u64),
}

pub async fn redrive(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: RedriveRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("expected {{\"ids\":[…]}} or {{\"queue\":…,\"rule\"?,\"target\"?}}: {e}"),
        )
    })?;
    let selection = match (request.ids, request.queue) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "give either ids or queue, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "give ids or queue",
            ));
        }
        (Some(ids), None) => {
            if request.rule.is_some() || request.target.is_some() {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "rule and target filter a queue; give them with queue",
                ));
            }
            let ids = ids
                .into_iter()
                .map(|id| match id {
                    IdValue::Number(n) => Ok(n),
                    IdValue::Text(t) => parse_id(&t),
                })
                .collect::<Result<Vec<u64>, ApiError>>()?;
            Selection::Ids(ids)
        }
        (None, Some(queue)) => Selection::Filter(Filter {
            queue: Some(queue),
            rule: request.rule,
            target: request.target,
        }),
    };
    let letters = state.dead_letters.clone();
    let delivery = state.delivery.clone();
    let store = state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        // A redrive removes letters to add deliveries: it waits for a backup,
        // which copies `pending` before `dead_letters` (see `backup`).
        let _permit = store.removal_permit();
        let mut missing = Vec::new();
        let chosen = match selection {
            Selection::Ids(ids) => {
                let mut chosen = Vec::with_capacity(ids.len());
                for id in ids {
                    match letters.get(id)? {
                        Some(letter) => chosen.push(letter),
                        None => missing.push(id),
                    }
                }
                chosen
            }
            Selection::Filter(filter) => {
                // Page by page: a queue may hold more letters than fit in memory.
                let mut total = Redriven::default();
                let mut after = None;
                loop {
                    let (page, more) = letters.list(&filter, after, MAX_PAGE)?;
                    after = page.last().map(|l| l.id);
                    let done = delivery.redrive(page)?;
                    total.redriven += done.redriven;
                    total.skipped.extend(done.skipped);
                    if !more {
                        break;
                    }
                }
                return Ok(total);
            }
        };
        let mut outcome = delivery.redrive(chosen)?;
        outcome
            .skipped
            .extend(missing.into_iter().map(|id| Skipped {
                id: id.to_string(),
                reason: "no such dead letter".into(),
            }));
        Ok::<_, crate::store::StoreError>(outcome)
    })
    .await
    .map_err(blocking_error)?
    .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(outcome).into_response())
}

enum Selection {
    Ids(Vec<u64>),
    Filter(Filter),
}

pub async fn targets(State(state): State<AppState>) -> Response {
    let delivery = state.delivery.clone();
    match tokio::task::spawn_blocking(move || delivery.status()).await {
        Ok(targets) => Json(json!({ "targets": targets })).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}
