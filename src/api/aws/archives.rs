//! CreateArchive, DescribeArchive, ListArchives, UpdateArchive, DeleteArchive,
//! shaped as EventBridge's API reference gives them, and the archives'
//! refusals in AWS's words (`Archive NAME already exists.` and `Archive NAME
//! does not exist.` are the texts LocalStack records against AWS).
//!
//! Archives live in `crate::archive`; this file checks requests and shapes
//! answers. `KmsKeyIdentifier` is refused: Stowage does not encrypt at rest.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::constraints::{MAX_ARN, check_length, length_message, member};
use super::paginate::{Checks, Paging};
use super::wording::bus_not_found;
use super::{AwsError, epoch_seconds, ok};
use crate::api::AppState;
use crate::archive::{ArchiveError, ArchiveInfo, ArchiveInput, ArchiveState, ArchiveUpdate};
use crate::catalog::Resource;

/// AWS's `ArchiveName`: 1–48 of `[.\-_A-Za-z0-9]`.
const MAX_NAME: usize = 48;
const MAX_DESCRIPTION: usize = 512;

impl From<ArchiveError> for AwsError {
    fn from(error: ArchiveError) -> Self {
        match &error {
            ArchiveError::AlreadyExists { name } => {
                AwsError::already_exists(format!("Archive {name} already exists."))
            }
            ArchiveError::NotFound { name } => not_found(name),
            ArchiveError::InvalidPattern(reason) => {
                AwsError::invalid_pattern(format!("Event pattern is not valid. Reason: {reason}"))
            }
            ArchiveError::Storage(_) => AwsError::internal(&error),
        }
    }
}

fn not_found(name: &str) -> AwsError {
    AwsError::not_found(format!("Archive {name} does not exist."))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    archive_name: Option<String>,
    event_source_arn: Option<String>,
    description: Option<String>,
    event_pattern: Option<String>,
    retention_days: Option<i32>,
    kms_key_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NameRequest {
    archive_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    archive_name: Option<String>,
    description: Option<String>,
    event_pattern: Option<String>,
    retention_days: Option<i32>,
    kms_key_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    name_prefix: Option<String>,
    event_source_arn: Option<String>,
    state: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// DescribeArchive's answer; ListArchives' `Archive` is the same without the
/// ARN, description and pattern.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveView {
    #[serde(skip_serializing_if = "Option::is_none")]
    archive_arn: Option<String>,
    archive_name: String,
    event_source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_pattern: Option<String>,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    retention_days: u32,
    size_bytes: u64,
    event_count: u64,
    creation_time: f64,
}

fn view(state: &AppState, info: ArchiveInfo, full: bool) -> ArchiveView {
    ArchiveView {
        archive_arn: full.then_some(info.arn),
        event_source_arn: state.catalog.arns().bus(&info.bus),
        archive_name: info.name,
        description: info.description.filter(|_| full),
        event_pattern: info.pattern.filter(|_| full),
        state: info.state.as_str(),
        state_reason: info.state_reason,
        retention_days: info.retention_days,
        size_bytes: info.size_bytes,
        event_count: info.event_count,
        creation_time: epoch_seconds(info.created_ms),
    }
}

/// `ArchiveArn`, `State`, `StateReason`, `CreationTime`: the answer of Create and Update.
fn summary(info: &ArchiveInfo) -> serde_json::Value {
    let mut body = json!({
        "ArchiveArn": info.arn,
        "State": info.state.as_str(),
        "CreationTime": epoch_seconds(info.created_ms),
    });
    if let Some(reason) = &info.state_reason {
        body["StateReason"] = json!(reason);
    }
    body
}

/// An archive name (or `NamePrefix`): 1–48 of `[.\-_A-Za-z0-9]`.
pub(super) fn check_name(field: &str, value: &str) -> Result<(), AwsError> {
    check_length(field, value, 1, MAX_NAME).map_err(AwsError::validation)?;
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Ok(());
    }
    Err(AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
        member(field)
    )))
}

fn required_name(value: Option<String>) -> Result<String, AwsError> {
    let value = value.ok_or_else(|| AwsError::validation("ArchiveName is required."))?;
    check_name("ArchiveName", &value)?;
    Ok(value)
}

fn check_description(value: Option<&str>) -> Result<(), AwsError> {
    match value {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(AwsError::validation(
            length_message("Description", 0, MAX_DESCRIPTION),
        )),
        _ => Ok(()),
    }
}

/// `RetentionDays` (0 keeps events forever).
fn retention(value: Option<i32>) -> Result<Option<u32>, AwsError> {
    value
        .map(|days| {
            u32::try_from(days).map_err(|_| {
                AwsError::validation(format!(
                    "1 validation error detected: Value '{days}' at 'retentionDays' failed to satisfy constraint: Member must have value greater than or equal to 0"
                ))
            })
        })
        .transpose()
}

fn no_kms(value: Option<&String>) -> Result<(), AwsError> {
    if value.is_some() {
        return Err(AwsError::validation(
            "KmsKeyIdentifier is not supported by Stowage: archives are indexes over the local log, which is not encrypted by a key of its own; omit it.",
        ));
    }
    Ok(())
}

/// The existing bus an `EventSourceArn` names.
fn source_bus(state: &AppState, arn: &str) -> Result<String, AwsError> {
    check_length("EventSourceArn", arn, 1, MAX_ARN).map_err(AwsError::validation)?;
    match state.catalog.arns().parse(arn) {
        Ok(Resource::Bus(name)) if state.buses.exists(name) => Ok(name.to_owned()),
        Ok(Resource::Bus(name)) => Err(bus_not_found(name)),
        _ => Err(AwsError::validation(format!(
            "Parameter EventSourceArn is not valid. Reason: {arn} is not the ARN of an event bus of this server ({}).",
            state.catalog.arns().bus("NAME")
        ))),
    }
}

pub fn create(state: &AppState, request: CreateRequest) -> Result<Response, AwsError> {
    let name = required_name(request.archive_name)?;
    let arn = request
        .event_source_arn
        .ok_or_else(|| AwsError::validation("EventSourceArn is required."))?;
    check_description(request.description.as_deref())?;
    let retention_days = retention(request.retention_days)?.unwrap_or(0);
    no_kms(request.kms_key_identifier.as_ref())?;
    let bus = source_bus(state, &arn)?;
    // The first event not yet durable: the archive takes it and every later one.
    let from = *state.log.durable().borrow();
    let info = state.archives.create(
        ArchiveInput {
            name,
            bus,
            description: request.description,
            pattern: request.event_pattern,
            retention_days,
        },
        from,
    )?;
    ok(&summary(&info))
}

pub fn describe(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = required_name(request.archive_name)?;
    let info = state
        .archives
        .describe(&name)
        .map_err(|e| AwsError::internal(&e))?
        .ok_or_else(|| not_found(&name))?;
    ok(&view(state, info, true))
}

pub fn list(state: &AppState, request: ListRequest) -> Result<Response, AwsError> {
    if let Some(prefix) = &request.name_prefix {
        check_name("NamePrefix", prefix)?;
    }
    let archive_state = request
        .state
        .as_deref()
        .map(|text| {
            ArchiveState::parse(text).ok_or_else(|| {
                let names: Vec<_> = ArchiveState::ALL.iter().map(|s| s.as_str()).collect();
                AwsError::validation(format!(
                    "1 validation error detected: Value '{text}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    names.join(", ")
                ))
            })
        })
        .transpose()?;
    let paging = Paging::parse(Checks::Modelled, request.limit, request.next_token)?;
    let bus = request
        .event_source_arn
        .as_deref()
        .map(|arn| source_bus(state, arn))
        .transpose()?;
    let archives = state.archives.list(
        request.name_prefix.as_deref(),
        bus.as_deref(),
        archive_state,
    );
    let page = paging.after_key(archives, |a| &a.name);
    ok(&page.body("Archives", |a| view(state, a, false)))
}

pub fn update(state: &AppState, request: UpdateRequest) -> Result<Response, AwsError> {
    let name = required_name(request.archive_name)?;
    check_description(request.description.as_deref())?;
    let retention_days = retention(request.retention_days)?;
    no_kms(request.kms_key_identifier.as_ref())?;
    let info = state.archives.update(
        &name,
        ArchiveUpdate {
            description: request.description,
            pattern: request.event_pattern,
            retention_days,
        },
    )?;
    ok(&summary(&info))
}

pub fn delete(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = required_name(request.archive_name)?;
    state.archives.delete(&name)?;
    ok(&json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_1_to_48_of_the_aws_alphabet() {
        assert!(check_name("ArchiveName", &"a".repeat(48)).is_ok());
        assert!(check_name("ArchiveName", "orders.v1-all_x").is_ok());
        let long = check_name("ArchiveName", &"a".repeat(49)).expect_err("49");
        assert_eq!(
            long.message,
            "1 validation error detected: Value at 'archiveName' failed to satisfy constraint: Member must have length between 1 and 48"
        );
        let slash = check_name("ArchiveName", "a/b").expect_err("slash");
        assert!(
            slash.message.contains("Value 'a/b' at 'archiveName'"),
            "{}",
            slash.message
        );
        assert!(check_name("ArchiveName", "").is_err());
    }

    #[test]
    fn retention_is_zero_or_more_days() {
        assert_eq!(retention(None).expect("none"), None);
        assert_eq!(retention(Some(0)).expect("zero"), Some(0));
        let negative = retention(Some(-1)).expect_err("negative");
        assert_eq!(negative.kind, "ValidationException");
        assert!(negative.message.contains("'-1' at 'retentionDays'"));
    }
}
