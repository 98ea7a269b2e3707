//! AWS's `Target` on the wire: one PutTargets entry checked and read into the
//! catalog's [`TargetRecord`], and a stored target shaped back for
//! ListTargetsByRule.
//!
//! A target's `Arn` is an API destination of this server or, as Stowage's
//! extension, a plain `http(s)://` URL; a `DeadLetterConfig` Arn
//! `arn:aws:sqs:REGION:ACCOUNT:NAME` names the local dead-letter queue `NAME`.
//! Fields of other target kinds (Lambda, SQS, ECS, …) are refused by name.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::constraints::{MAX_ARN, check_length};
use super::rules::check_name;
use super::wording::arn_refusal;
use crate::api::AppState;
use crate::catalog::{
    ArnError, DEFAULT_QUEUE, HttpParameters, MAX_EVENT_AGE_SECS, MAX_RETRY_ATTEMPTS,
    MIN_EVENT_AGE_SECS, RetryPolicy, TargetRecord,
};
use crate::transform::{InputSpec, undefined_placeholder, validate_parameter};

const MAX_HTTP_PARAMETER: usize = 512;
const MAX_QUEUE_NAME: usize = 80;

/// AWS's `Target`, in both directions.
#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TargetShape {
    pub(super) id: Option<String>,
    arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_transformer: Option<InputTransformerShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_parameters: Option<HttpParametersShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_letter_config: Option<DeadLetterConfigShape>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_policy: Option<RetryPolicyShape>,
    // Parameters of target kinds Stowage does not deliver to: present means refused.
    #[serde(skip_serializing)]
    kinesis_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    run_command_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    ecs_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    batch_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    sqs_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    redshift_data_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    sage_maker_pipeline_parameters: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    app_sync_parameters: Option<IgnoredAny>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct InputTransformerShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    input_paths_map: Option<BTreeMap<String, String>>,
    input_template: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct HttpParametersShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    path_parameter_values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header_parameters: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_string_parameters: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeadLetterConfigShape {
    arn: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RetryPolicyShape {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
}

/// Why one target entry was refused.
pub(super) struct Refusal {
    pub(super) code: &'static str,
    pub(super) message: String,
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal {
        code: "ValidationException",
        message: message.into(),
    }
}

/// Names the fields of target kinds other than HTTP (Lambda, SQS, ECS, …).
fn other_kind_field(target: &TargetShape) -> Option<&'static str> {
    [
        ("KinesisParameters", target.kinesis_parameters.is_some()),
        (
            "RunCommandParameters",
            target.run_command_parameters.is_some(),
        ),
        ("EcsParameters", target.ecs_parameters.is_some()),
        ("BatchParameters", target.batch_parameters.is_some()),
        ("SqsParameters", target.sqs_parameters.is_some()),
        (
            "RedshiftDataParameters",
            target.redshift_data_parameters.is_some(),
        ),
        (
            "SageMakerPipelineParameters",
            target.sage_maker_pipeline_parameters.is_some(),
        ),
        ("AppSyncParameters", target.app_sync_parameters.is_some()),
    ]
    .into_iter()
    .find_map(|(name, present)| present.then_some(name))
}

/// The `Arn` must be an existing API destination of this server or an http(s) URL.
fn check_arn(state: &AppState, arn: &str) -> Result<(), Refusal> {
    check_length("Arn", arn, 1, MAX_ARN).map_err(invalid)?;
    if arn.starts_with("http://") || arn.starts_with("https://") {
        return match reqwest::Url::parse(arn) {
            Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
            _ => Err(invalid(format!(
                "Target Arn {arn} is not a valid http(s) URL."
            ))),
        };
    }
    let arns = state.catalog.arns();
    if let Err(incomplete @ ArnError::Incomplete { .. }) = arns.parse(arn) {
        return Err(invalid(arn_refusal("Target Arn", &incomplete)));
    }
    if let Ok(Some(name)) = arns.api_destination_name(arn) {
        return match state.catalog.api_destination(name) {
            Some(destination) if arns.api_destination(&destination) == arn => Ok(()),
            _ => Err(Refusal {
                code: "ResourceNotFoundException",
                message: format!("API destination {arn} does not exist."),
            }),
        };
    }
    Err(invalid(format!(
        "Target Arn {arn} is not supported: Stowage delivers only to API destinations of this server (arn:aws:events:REGION:ACCOUNT:api-destination/NAME/ID) and to http:// or https:// URLs."
    )))
}

/// What AWS refuses for the whole PutTargets request (HTTP 400), not as one of
/// its `FailedEntries`: more than one of `Input`, `InputPath` and
/// `InputTransformer`, and an `InputTemplate` placeholder that is neither an
/// `InputPathsMap` key nor predefined. The messages are AWS's (localstack's
/// `test_events_inputs.snapshot.json`, recorded against AWS).
pub(super) fn request_error(target: &TargetShape) -> Option<String> {
    let id = target.id.as_deref().unwrap_or_default();
    let given = [
        target.input.is_some(),
        target.input_path.is_some(),
        target.input_transformer.is_some(),
    ];
    if given.into_iter().filter(|g| *g).count() > 1 {
        return Some(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        ));
    }
    let transformer = target.input_transformer.as_ref()?;
    let template = transformer.input_template.as_deref()?;
    let no_paths = BTreeMap::new();
    let paths_map = transformer.input_paths_map.as_ref().unwrap_or(&no_paths);
    undefined_placeholder(paths_map, template)
        .map(|name| format!("InputTemplate for target {id} contains invalid placeholder {name}."))
}

/// `Input`, `InputPath` or `InputTransformer` as an [`InputSpec`], validated
/// as the delivery side will render it. [`request_error`] has already refused
/// a target with more than one of them.
fn input_spec(target: &mut TargetShape) -> Result<InputSpec, Refusal> {
    let spec = if let Some(input) = target.input.take() {
        InputSpec::Constant(input)
    } else if let Some(path) = target.input_path.take() {
        InputSpec::Path(path)
    } else if let Some(transformer) = target.input_transformer.take() {
        InputSpec::Transformer {
            paths_map: transformer.input_paths_map.unwrap_or_default(),
            template: transformer
                .input_template
                .ok_or_else(|| invalid("InputTransformer.InputTemplate is required."))?,
        }
    } else {
        InputSpec::Event
    };
    spec.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(spec)
}

/// RFC 9110 token characters, the intent of AWS's `HeaderKey` pattern.
fn is_header_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Printable ASCII and tabs, not only tabs (AWS's `HeaderValue`).
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
        && value.bytes().any(|b| b != b'\t')
}

fn http_parameters(shape: Option<HttpParametersShape>) -> Result<HttpParameters, Refusal> {
    let Some(shape) = shape else {
        return Ok(HttpParameters::default());
    };
    let http = HttpParameters {
        path_values: shape.path_parameter_values.unwrap_or_default(),
        headers: shape.header_parameters.unwrap_or_default(),
        query: shape.query_string_parameters.unwrap_or_default(),
    };
    // Values starting with `$.` are read from the event at delivery.
    let dynamic = |field: String, value: &str| {
        validate_parameter(&field, value).map_err(|e| invalid(e.to_string()))
    };
    for value in &http.path_values {
        if value.trim().is_empty() || value.contains(['\n', '\r']) {
            return Err(invalid(format!(
                "PathParameterValues member {value:?} must be non-blank and on one line."
            )));
        }
        dynamic("HttpParameters.PathParameterValues".into(), value)?;
    }
    for (key, value) in &http.headers {
        check_length("HeaderParameters key", key, 1, MAX_HTTP_PARAMETER).map_err(invalid)?;
        check_length("HeaderParameters value", value, 1, MAX_HTTP_PARAMETER).map_err(invalid)?;
        if !is_header_name(key) || !is_header_value(value) {
            return Err(invalid(format!(
                "HeaderParameters {key:?} is not a valid HTTP header name and value."
            )));
        }
        dynamic(format!("HttpParameters.HeaderParameters.{key}"), value)?;
    }
    for (key, value) in &http.query {
        check_length("QueryStringParameters key", key, 1, MAX_HTTP_PARAMETER).map_err(invalid)?;
        check_length("QueryStringParameters value", value, 1, MAX_HTTP_PARAMETER)
            .map_err(invalid)?;
        let control = |c: char, allowed: &[char]| c.is_ascii_control() && !allowed.contains(&c);
        if key.chars().any(|c| control(c, &[])) || value.chars().any(|c| control(c, &['\n', '\r']))
        {
            return Err(invalid(format!(
                "QueryStringParameters {key:?} contains control characters."
            )));
        }
        dynamic(format!("HttpParameters.QueryStringParameters.{key}"), value)?;
    }
    Ok(http)
}

/// The local queue named by `arn:aws:sqs:REGION:ACCOUNT:NAME`, if `NAME` follows
/// SQS's rule: 1–80 of `[A-Za-z0-9_-]`, optionally ending in `.fifo`.
fn queue_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, _region, _account, name] = parts.as_slice() else {
        return None;
    };
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "sqs"
        && name.len() <= MAX_QUEUE_NAME
        && !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    valid.then_some(*name)
}

fn retry_policy(shape: Option<RetryPolicyShape>) -> Result<RetryPolicy, Refusal> {
    let mut policy = RetryPolicy::default();
    let Some(shape) = shape else {
        return Ok(policy);
    };
    if let Some(n) = shape.maximum_retry_attempts {
        policy.max_attempts = u32::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_RETRY_ATTEMPTS)
            .ok_or_else(|| {
                invalid(format!(
                    "RetryPolicy.MaximumRetryAttempts {n} must be between 0 and {MAX_RETRY_ATTEMPTS}."
                ))
            })?;
    }
    if let Some(n) = shape.maximum_event_age_in_seconds {
        policy.max_age_secs = u32::try_from(n)
            .ok()
            .filter(|n| (MIN_EVENT_AGE_SECS..=MAX_EVENT_AGE_SECS).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "RetryPolicy.MaximumEventAgeInSeconds {n} must be between {MIN_EVENT_AGE_SECS} and {MAX_EVENT_AGE_SECS}."
                ))
            })?;
    }
    Ok(policy)
}

/// One PutTargets entry, checked, as the catalog stores it (`uid` is assigned there).
pub(super) fn target_record(
    state: &AppState,
    mut target: TargetShape,
) -> Result<TargetRecord, Refusal> {
    let id = target
        .id
        .take()
        .ok_or_else(|| invalid("Target Id is required."))?;
    check_name("Id", &id).map_err(invalid)?;
    let arn = target
        .arn
        .take()
        .ok_or_else(|| invalid("Target Arn is required."))?;
    if let Some(field) = other_kind_field(&target) {
        return Err(invalid(format!(
            "{field} is not supported: Stowage delivers only to API destinations and http(s) URLs."
        )));
    }
    check_arn(state, &arn)?;
    if let Some(role) = &target.role_arn {
        check_length("RoleArn", role, 1, MAX_ARN).map_err(invalid)?;
    }
    let input = input_spec(&mut target)?;
    let http = http_parameters(target.http_parameters.take())?;
    let (dead_letter_arn, queue) = match target.dead_letter_config.take().and_then(|d| d.arn) {
        None => (None, DEFAULT_QUEUE.to_string()),
        Some(dlq) => {
            let queue = queue_name(&dlq).map(str::to_string).ok_or_else(|| {
                invalid(format!(
                    "DeadLetterConfig Arn {dlq} must be arn:aws:sqs:REGION:ACCOUNT:NAME, NAME being 1-{MAX_QUEUE_NAME} of letters, digits, '-' and '_' (optionally ending in .fifo); it names a local dead-letter queue."
                ))
            })?;
            (Some(dlq), queue)
        }
    };
    let retry = retry_policy(target.retry_policy.take())?;
    Ok(TargetRecord {
        id,
        uid: 0,
        arn,
        role_arn: target.role_arn,
        input,
        http,
        dead_letter_arn,
        queue,
        retry,
    })
}

/// A stored target in AWS's shape for ListTargetsByRule. `RetryPolicy` is always
/// shown: AWS's defaults when none was given.
pub(super) fn view(target: &TargetRecord) -> TargetShape {
    let mut shape = TargetShape {
        id: Some(target.id.clone()),
        arn: Some(target.arn.clone()),
        role_arn: target.role_arn.clone(),
        dead_letter_config: target
            .dead_letter_arn
            .clone()
            .map(|arn| DeadLetterConfigShape { arn: Some(arn) }),
        retry_policy: Some(RetryPolicyShape {
            maximum_retry_attempts: Some(target.retry.max_attempts.into()),
            maximum_event_age_in_seconds: Some(target.retry.max_age_secs.into()),
        }),
        ..TargetShape::default()
    };
    match &target.input {
        InputSpec::Event => {}
        InputSpec::Constant(input) => shape.input = Some(input.clone()),
        InputSpec::Path(path) => shape.input_path = Some(path.clone()),
        InputSpec::Transformer {
            paths_map,
            template,
        } => {
            shape.input_transformer = Some(InputTransformerShape {
                input_paths_map: (!paths_map.is_empty()).then(|| paths_map.clone()),
                input_template: Some(template.clone()),
            });
        }
    }
    let http = &target.http;
    if http != &HttpParameters::default() {
        shape.http_parameters = Some(HttpParametersShape {
            path_parameter_values: (!http.path_values.is_empty()).then(|| http.path_values.clone()),
            header_parameters: (!http.headers.is_empty()).then(|| http.headers.clone()),
            query_string_parameters: (!http.query.is_empty()).then(|| http.query.clone()),
        });
    }
    shape
}

#[cfg(test)]
mod tests;
