//! PutTargets, ListTargetsByRule, RemoveTargets.
//!
//! PutTargets checks each entry on its own (`target_shape.rs`), reports the bad
//! ones in `FailedEntries` and stores the rest. The whole request is refused,
//! as AWS does, when an entry gives more than one input or its template names
//! an undefined placeholder, and by the catalog when the rule would end up with
//! more than five targets.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::paginate::{Checks, Paging};
use super::rules::{check_name, existing_bus, required_name, rule_not_found};
use super::target_shape::{TargetShape, request_error, target_record, view};
use super::{AwsError, ok};
use crate::api::AppState;

/// Entries per PutTargets request (AWS's API reference).
const MAX_TARGETS_PER_REQUEST: usize = 10;
/// Ids per RemoveTargets request (AWS's `TargetIdList`).
const MAX_IDS_PER_REQUEST: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTargetsRequest {
    rule: Option<String>,
    event_bus_name: Option<String>,
    targets: Option<Vec<TargetShape>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTargetsRequest {
    rule: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTargetsRequest {
    rule: Option<String>,
    event_bus_name: Option<String>,
    ids: Option<Vec<String>>,
    // `Force` only matters for rules managed by AWS services; there are none.
}

/// A `FailedEntries` member of PutTargets and RemoveTargets.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FailedEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    target_id: Option<String>,
    error_code: &'static str,
    error_message: String,
}

pub fn put(state: &AppState, request: PutTargetsRequest) -> Result<Response, AwsError> {
    let rule = required_name("Rule", request.rule)?;
    let targets = request
        .targets
        .ok_or_else(|| AwsError::validation("Targets is required."))?;
    if targets.is_empty() || targets.len() > MAX_TARGETS_PER_REQUEST {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and {MAX_TARGETS_PER_REQUEST} (got {})",
            targets.len()
        )));
    }
    if let Some(message) = targets.iter().find_map(request_error) {
        return Err(AwsError::validation(message));
    }
    let bus = existing_bus(state, request.event_bus_name)?;
    if state.catalog.rule(&bus, &rule).is_none() {
        return Err(rule_not_found(&bus, &rule));
    }
    let mut failed = Vec::new();
    let mut valid = Vec::new();
    for target in targets {
        let target_id = target.id.clone();
        match target_record(state, target) {
            Ok(record) => valid.push(record),
            Err(refusal) => failed.push(FailedEntry {
                target_id,
                error_code: refusal.code,
                error_message: refusal.message,
            }),
        }
    }
    if !valid.is_empty() {
        state
            .catalog
            .put_targets(&bus, &rule, valid)
            .map_err(AwsError::from)?;
    }
    ok(&json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
}

pub fn list(state: &AppState, request: ListTargetsRequest) -> Result<Response, AwsError> {
    let rule_name = required_name("Rule", request.rule)?;
    // The token is the position of the next target: rules have at most five.
    let paging =
        Paging::parse(Checks::Modelled, request.limit, request.next_token)?.by_position()?;
    let bus = existing_bus(state, request.event_bus_name)?;
    let rule = state
        .catalog
        .rule(&bus, &rule_name)
        .ok_or_else(|| rule_not_found(&bus, &rule_name))?;
    let page = paging.page(&rule.targets);
    ok(&page.body("Targets", view))
}

pub fn remove(state: &AppState, request: RemoveTargetsRequest) -> Result<Response, AwsError> {
    let rule = required_name("Rule", request.rule)?;
    let ids = request
        .ids
        .ok_or_else(|| AwsError::validation("Ids is required."))?;
    if ids.is_empty() || ids.len() > MAX_IDS_PER_REQUEST {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and {MAX_IDS_PER_REQUEST} (got {})",
            ids.len()
        )));
    }
    for id in &ids {
        check_name("Ids", id).map_err(AwsError::validation)?;
    }
    let bus = existing_bus(state, request.event_bus_name)?;
    let missing = state
        .catalog
        .remove_targets(&bus, &rule, &ids)
        .map_err(AwsError::from)?;
    let failed: Vec<FailedEntry> = missing
        .into_iter()
        .map(|id| FailedEntry {
            error_message: format!("Target {id} does not exist on rule {rule}."),
            target_id: Some(id),
            error_code: "ResourceNotFoundException",
        })
        .collect();
    ok(&json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
}
