//! StartReplay, DescribeReplay, ListReplays, CancelReplay.
//!
//! Checks and wording follow the EventBridge API reference and LocalStack's
//! AWS-validated provider where they say something (window order, cross-bus
//! destination, duplicate name); docs/replays.md lists the wording that could
//! not be confirmed. The replay itself is `crate::replay`'s.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::constraints::{MAX_ARN, check_length, description, name_prefix, resource_name};
use super::paginate::{Checks, Paging};
use super::rules::rule_not_found;
use super::wording::{arn_refusal, bus_not_found};
use super::{AwsError, epoch_seconds, ok};
use crate::api::AppState;
use crate::catalog::Resource;
use crate::event::now_ms;
use crate::replay::{ArchiveView, ReplayError, ReplayRecord, ReplayState, StartRequest};

/// Replays that may be STARTING, RUNNING or CANCELLING at once (AWS: 10 active
/// concurrent replays per account and region).
const MAX_ACTIVE_REPLAYS: usize = 10;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartRequestShape {
    replay_name: Option<String>,
    description: Option<String>,
    event_source_arn: Option<String>,
    event_start_time: Option<f64>,
    event_end_time: Option<f64>,
    destination: Option<DestinationShape>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationShape {
    arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter_arns: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameShape {
    replay_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShape {
    name_prefix: Option<String>,
    state: Option<String>,
    event_source_arn: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// A `Replay` of ListReplays.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReplaySummary {
    replay_name: String,
    event_source_arn: String,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    event_start_time: f64,
    event_end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_last_replayed_time: Option<f64>,
    replay_start_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_end_time: Option<f64>,
}

fn summary(record: ReplayRecord) -> ReplaySummary {
    ReplaySummary {
        state: record.state.as_aws(),
        replay_name: record.name,
        event_source_arn: record.archive_arn,
        state_reason: record.state_reason,
        event_start_time: epoch_seconds(record.from_ms),
        event_end_time: epoch_seconds(record.to_ms),
        event_last_replayed_time: record.last_replayed_ms.map(epoch_seconds),
        replay_start_time: epoch_seconds(record.started_ms),
        replay_end_time: record.ended_ms.map(epoch_seconds),
    }
}

pub fn start(state: &AppState, request: StartRequestShape) -> Result<Response, AwsError> {
    let name = resource_name("ReplayName", request.replay_name)?;
    let description = description(request.description)?;
    let source_arn = request
        .event_source_arn
        .ok_or_else(|| AwsError::validation("EventSourceArn is required."))?;
    check_length("EventSourceArn", &source_arn, 1, MAX_ARN).map_err(AwsError::validation)?;
    let from_ms = required_time("EventStartTime", request.event_start_time)?;
    let to_ms = required_time("EventEndTime", request.event_end_time)?;
    let destination = request
        .destination
        .ok_or_else(|| AwsError::validation("Destination is required."))?;
    let destination_arn = destination
        .arn
        .ok_or_else(|| AwsError::validation("Destination.Arn is required."))?;

    // LocalStack's order (validated against AWS): name, window, archive, destination.
    if state.replays.get(&name).is_some() {
        return Err(refusal(ReplayError::AlreadyExists(name)));
    }
    if to_ms <= from_ms {
        return Err(AwsError::validation(
            "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.",
        ));
    }
    let archive = archive_by_arn(state, &source_arn)?;
    let destination_bus = match state.catalog.arns().parse(&destination_arn) {
        Ok(Resource::Bus(bus)) => bus.to_owned(),
        Ok(_) => {
            return Err(AwsError::validation(
                "Parameter Destination.Arn is not valid. Reason: Must contain an event bus ARN.",
            ));
        }
        Err(error) => {
            return Err(AwsError::validation(arn_refusal("Destination.Arn", &error)));
        }
    };
    if destination_bus != archive.bus {
        if state.buses.get(&destination_bus).is_none() {
            return Err(bus_not_found(&destination_bus));
        }
        return Err(AwsError::validation(
            "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.",
        ));
    }
    let now = now_ms();
    if from_ms > now {
        return Err(AwsError::validation(
            "Parameter EventStartTime is not valid. Reason: EventStartTime must not be in the future.",
        ));
    }
    if to_ms > now {
        return Err(AwsError::validation(
            "Parameter EventEndTime is not valid. Reason: EventEndTime must not be in the future.",
        ));
    }
    let filter_arns = destination.filter_arns.unwrap_or_default();
    let mut rules = Vec::with_capacity(filter_arns.len());
    for arn in &filter_arns {
        let (bus, rule) = match state.catalog.arns().parse(arn) {
            Ok(Resource::Rule { bus, name }) => (bus, name),
            Ok(_) => {
                return Err(AwsError::validation(format!(
                    "Parameter Destination.FilterArns is not valid. Reason: {arn} is not a rule ARN."
                )));
            }
            Err(error) => {
                return Err(AwsError::validation(arn_refusal(
                    "Destination.FilterArns",
                    &error,
                )));
            }
        };
        if bus != archive.bus {
            return Err(AwsError::validation(format!(
                "Parameter Destination.FilterArns is not valid. Reason: rule {rule} is on event bus {bus}, not on the destination {}.",
                archive.bus
            )));
        }
        if state.catalog.rule(bus, rule).is_none() {
            return Err(rule_not_found(bus, rule));
        }
        rules.push(rule.to_owned());
    }
    let replays = &state.replays;
    let active = replays
        .list()
        .iter()
        .filter(|r| r.state.is_active())
        .count();
    if replays.get(&name).is_none() && active >= MAX_ACTIVE_REPLAYS {
        return Err(AwsError::limit_exceeded(format!(
            "The requested resource exceeds the maximum number allowed: at most {MAX_ACTIVE_REPLAYS} replays may be active at once."
        )));
    }
    let arn = replay_arn(state, &name);
    let record = replays
        .start(
            StartRequest {
                name,
                arn,
                description,
                archive,
                destination_arn,
                filter_arns,
                rules,
                from_ms,
                to_ms,
            },
            now,
        )
        .map_err(refusal)?;
    let mut body = json!({
        "ReplayArn": record.arn,
        "State": record.state.as_aws(),
        "ReplayStartTime": epoch_seconds(record.started_ms),
    });
    if let Some(reason) = record.state_reason {
        body["StateReason"] = json!(reason);
    }
    ok(&body)
}

pub fn describe(state: &AppState, request: NameShape) -> Result<Response, AwsError> {
    let name = resource_name("ReplayName", request.replay_name)?;
    let record = state
        .replays
        .get(&name)
        .ok_or_else(|| replay_not_found(&name))?;
    let destination = DestinationShape {
        arn: Some(record.destination_arn.clone()),
        filter_arns: (!record.filter_arns.is_empty()).then(|| record.filter_arns.clone()),
    };
    let mut body =
        serde_json::to_value(summary(record.clone())).map_err(|e| AwsError::internal(&e))?;
    body["ReplayArn"] = json!(record.arn);
    body["Destination"] = json!(destination);
    if let Some(description) = record.description {
        body["Description"] = json!(description);
    }
    ok(&body)
}

pub fn list(state: &AppState, request: ListShape) -> Result<Response, AwsError> {
    let prefix = name_prefix(request.name_prefix)?;
    let wanted_state = match request.state.as_deref() {
        None => None,
        Some(s) => Some(ReplayState::parse(s).ok_or_else(|| {
            AwsError::validation(format!(
                "1 validation error detected: Value '{s}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [CANCELLED, RUNNING, STARTING, FAILED, CANCELLING, COMPLETED]"
            ))
        })?),
    };
    if let Some(arn) = &request.event_source_arn {
        check_length("EventSourceArn", arn, 1, MAX_ARN).map_err(AwsError::validation)?;
    }
    let paging = Paging::parse(Checks::Short, request.limit, request.next_token)?;
    let replays = state.replays.list().into_iter().filter(|r| {
        prefix.as_deref().is_none_or(|p| r.name.starts_with(p))
            && wanted_state.is_none_or(|s| r.state == s)
            && request
                .event_source_arn
                .as_deref()
                .is_none_or(|arn| r.archive_arn == arn)
    });
    let page = paging.after_key(replays, |r| &r.name);
    ok(&page.body("Replays", summary))
}

pub fn cancel(state: &AppState, request: NameShape) -> Result<Response, AwsError> {
    let name = resource_name("ReplayName", request.replay_name)?;
    let record = state.replays.cancel(&name).map_err(refusal)?;
    let mut body = json!({ "ReplayArn": record.arn, "State": record.state.as_aws() });
    if let Some(reason) = record.state_reason {
        body["StateReason"] = json!(reason);
    }
    ok(&body)
}

/// The archive an `EventSourceArn` names; it must exist.
fn archive_by_arn(state: &AppState, arn: &str) -> Result<ArchiveView, AwsError> {
    let name = arn
        .rsplit_once(":archive/")
        .map(|(_, name)| name)
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| {
            AwsError::validation(format!(
                "Parameter EventSourceArn is not valid. Reason: {arn} is not an archive ARN."
            ))
        })?;
    state
        .replays
        .source()
        .describe(name)
        .map_err(|e| AwsError::internal(&e))?
        .filter(|archive| archive.arn == arn)
        .ok_or_else(|| {
            AwsError::validation(format!(
                "Parameter EventSourceArn is not valid. Reason: Archive {name} does not exist."
            ))
        })
}

fn replay_arn(state: &AppState, name: &str) -> String {
    format!(
        "arn:aws:events:{}:{}:replay/{name}",
        state.aws.region, state.aws.account
    )
}

/// Epoch seconds (JSON 1.1 timestamps) as milliseconds.
fn required_time(field: &str, value: Option<f64>) -> Result<i64, AwsError> {
    let seconds = value.ok_or_else(|| AwsError::validation(format!("{field} is required.")))?;
    if !seconds.is_finite() || !(0.0..=253_402_300_799.0).contains(&seconds) {
        return Err(AwsError::validation(format!(
            "Parameter {field} is not valid. Reason: not a time stamp."
        )));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok((seconds * 1000.0).round() as i64)
}

fn replay_not_found(name: &str) -> AwsError {
    AwsError::not_found(format!("Replay {name} does not exist."))
}

fn refusal(error: ReplayError) -> AwsError {
    match error {
        ReplayError::AlreadyExists(name) => {
            AwsError::already_exists(format!("Replay {name} already exists."))
        }
        ReplayError::NotFound(name) => replay_not_found(&name),
        ReplayError::NotCancellable { name, .. } => AwsError::illegal_status(format!(
            "Replay {name} is not in a valid state for this operation."
        )),
        ReplayError::Store(error) => AwsError::internal(&error),
    }
}
