//! PutRule, DescribeRule, ListRules, DeleteRule, EnableRule, DisableRule, and
//! what the rule and target operations share: AWS's name rule and wording for
//! constraint violations, and bus resolution. How the catalog's refusals read
//! is `wording.rs`'s.
//!
//! Rules live in the catalog; this file checks requests and shapes answers.
//! PutRule's `Tags` are set on a new rule and added to an existing one's.
//! Schedules (`ScheduleExpression`) are refused: Stowage routes events, it runs
//! no clock. Targets are in `targets.rs`.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::constraints::{MAX_ARN, check_length, member};
use super::paginate::{Checks, Paging};
use super::tags::{TagShape, checked_tags};
use super::wording::bus_not_found;
use super::{AwsError, ok};
use crate::api::AppState;
use crate::bus::DEFAULT_BUS;
use crate::catalog::{CatalogError, RuleInput, RuleRecord};

/// AWS's `RuleName` and `TargetId`: 1–64 of `[.\-_A-Za-z0-9]`.
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 512;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRuleRequest {
    name: Option<String>,
    schedule_expression: Option<String>,
    event_pattern: Option<String>,
    state: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
    event_bus_name: Option<String>,
    tags: Option<Vec<TagShape>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleRequest {
    name: Option<String>,
    event_bus_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRuleRequest {
    name: Option<String>,
    event_bus_name: Option<String>,
    /// Type-checked, then ignored: in AWS `Force` lets a rule managed by an AWS
    /// service be deleted; a customer rule with targets is refused even with it.
    #[serde(rename = "Force")]
    _force: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRulesRequest {
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// AWS's `Rule` (ListRules) and DescribeRule's answer (which adds `CreatedBy`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuleView {
    name: String,
    arn: String,
    event_pattern: String,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<String>,
    event_bus_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
}

fn view(state: &AppState, rule: RuleRecord) -> RuleView {
    RuleView {
        arn: state.catalog.arns().rule(&rule.bus, &rule.name),
        name: rule.name,
        event_pattern: rule.pattern,
        state: if rule.enabled { "ENABLED" } else { "DISABLED" },
        description: rule.description,
        role_arn: rule.role_arn,
        event_bus_name: rule.bus,
        created_by: None,
    }
}

/// A rule that a request names is missing, worded as the catalog's refusal is.
pub(super) fn rule_not_found(bus: &str, name: &str) -> AwsError {
    AwsError::from(CatalogError::RuleNotFound {
        bus: bus.into(),
        name: name.into(),
    })
}

/// A rule name or target id: 1–64 of `[.\-_A-Za-z0-9]`.
pub(super) fn check_name(field: &str, value: &str) -> Result<(), String> {
    check_length(field, value, 1, MAX_NAME)?;
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        Ok(())
    } else {
        Err(format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
            member(field)
        ))
    }
}

/// A required rule name (`Name` or `Rule`).
pub(super) fn required_name(field: &str, value: Option<String>) -> Result<String, AwsError> {
    let value = value.ok_or_else(|| AwsError::validation(format!("{field} is required.")))?;
    check_name(field, &value).map_err(AwsError::validation)?;
    Ok(value)
}

/// The bus a request names by name or ARN (`default` when omitted); it must exist.
pub(super) fn existing_bus(state: &AppState, given: Option<String>) -> Result<String, AwsError> {
    let given = given.unwrap_or_else(|| DEFAULT_BUS.to_string());
    check_length("EventBusName", &given, 1, MAX_ARN).map_err(AwsError::validation)?;
    match state.buses.resolve(&given) {
        Some(name) if state.buses.exists(name) => Ok(name.to_string()),
        _ => Err(bus_not_found(&given)),
    }
}

pub fn put(state: &AppState, request: PutRuleRequest) -> Result<Response, AwsError> {
    let name = required_name("Name", request.name)?;
    if let Some(description) = &request.description {
        check_length("Description", description, 0, MAX_DESCRIPTION)
            .map_err(AwsError::validation)?;
    }
    if let Some(role) = &request.role_arn {
        check_length("RoleArn", role, 1, MAX_ARN).map_err(AwsError::validation)?;
    }
    let enabled = match request.state.as_deref() {
        // Stowage has no CloudTrail management events; both mean "match events".
        None | Some("ENABLED" | "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => true,
        Some("DISABLED") => false,
        Some(other) => {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
            )));
        }
    };
    if request.schedule_expression.is_some() {
        return Err(AwsError::validation(
            "ScheduleExpression is not supported by Stowage: schedules are not supported; a rule matches events with an EventPattern.",
        ));
    }
    let pattern = request.event_pattern.ok_or_else(|| {
        AwsError::validation(
            "EventPattern is required: Stowage rules match events (schedules are not supported).",
        )
    })?;
    let tags = checked_tags(request.tags)?;
    let bus = existing_bus(state, request.event_bus_name)?;
    let rule = state
        .catalog
        .put_rule(RuleInput {
            bus,
            name,
            pattern,
            enabled,
            description: request.description,
            role_arn: request.role_arn,
            tags,
        })
        .map_err(AwsError::from)?;
    ok(&json!({ "RuleArn": state.catalog.arns().rule(&rule.bus, &rule.name) }))
}

pub fn describe(state: &AppState, request: RuleRequest) -> Result<Response, AwsError> {
    let name = required_name("Name", request.name)?;
    let bus = existing_bus(state, request.event_bus_name)?;
    let rule = state
        .catalog
        .rule(&bus, &name)
        .ok_or_else(|| rule_not_found(&bus, &name))?;
    ok(&RuleView {
        created_by: Some(state.aws.account.clone()),
        ..view(state, rule)
    })
}

pub fn list(state: &AppState, request: ListRulesRequest) -> Result<Response, AwsError> {
    if let Some(prefix) = &request.name_prefix {
        check_name("NamePrefix", prefix).map_err(AwsError::validation)?;
    }
    let paging = Paging::parse(Checks::Modelled, request.limit, request.next_token)?;
    let bus = existing_bus(state, request.event_bus_name)?;
    let rules = state.catalog.rules(&bus, request.name_prefix.as_deref());
    let page = paging.after_key(rules, |r| &r.name);
    ok(&page.body("Rules", |r| view(state, r)))
}

pub fn delete(state: &AppState, request: DeleteRuleRequest) -> Result<Response, AwsError> {
    let name = required_name("Name", request.name)?;
    let bus = existing_bus(state, request.event_bus_name)?;
    // Like AWS: a missing rule is deleted already; a missing bus is an error;
    // a rule with targets is refused, `Force` or not.
    state
        .catalog
        .delete_rule(&bus, &name)
        .map_err(AwsError::from)?;
    ok(&json!({}))
}

/// EnableRule (`enabled`) and DisableRule.
pub fn set_enabled(
    state: &AppState,
    request: RuleRequest,
    enabled: bool,
) -> Result<Response, AwsError> {
    let name = required_name("Name", request.name)?;
    let bus = existing_bus(state, request.event_bus_name)?;
    state
        .catalog
        .set_rule_enabled(&bus, &name, enabled)
        .map_err(AwsError::from)?;
    ok(&json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_aws_rule() {
        assert!(check_name("Name", "orders.created-v1_x").is_ok());
        assert!(check_name("Name", &"a".repeat(64)).is_ok());
        let too_long = check_name("Name", &"a".repeat(65)).expect_err("65 characters");
        assert!(too_long.contains("'name'") && too_long.contains("between 1 and 64"));
        assert!(check_name("Name", "").is_err());
        let pattern = check_name("Rule", "a/b").expect_err("slash");
        assert!(pattern.contains("'a/b' at 'rule'"), "{pattern}");
    }

    #[test]
    fn members_are_named_as_aws_names_them() {
        assert_eq!(member("EventBusName"), "eventBusName");
        assert_eq!(member(""), "");
    }

    #[test]
    fn lengths_count_characters() {
        assert!(check_length("Description", &"é".repeat(512), 0, 512).is_ok());
        assert!(check_length("Description", &"é".repeat(513), 0, 512).is_err());
    }
}
