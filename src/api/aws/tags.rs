//! TagResource, UntagResource, ListTagsForResource, and the `Tags` member that
//! CreateEventBus and PutRule accept.
//!
//! A `ResourceARN` names a bus, a rule (`rule/[BUS/]NAME`), a connection or an
//! API destination (`…/NAME/ID`) of this server. This file checks the shape of
//! ARNs and tags (AWS's limits: key 1–128 characters, value 0–256, no `aws:`
//! prefix); the catalog keeps the tags and their count.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::constraints::{MAX_ARN, check_length};
use super::wording::{arn_refusal, bus_not_found};
use super::{AwsError, ok};
use crate::api::AppState;
use crate::catalog::{MAX_TAGS_PER_RESOURCE, Resource, Tag};

const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;
/// Keys AWS keeps for itself; it refuses them from users, in any case.
const RESERVED_PREFIX: &str = "aws:";

/// AWS's `Tag`.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagShape {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
pub struct TagResourceRequest {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(rename = "Tags")]
    tags: Option<Vec<TagShape>>,
}

#[derive(Deserialize)]
pub struct UntagResourceRequest {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    #[serde(rename = "TagKeys")]
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct ListTagsRequest {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

/// The `Tags` of a request, checked: at most 50, each key 1–128 characters and
/// not reserved, each value 0–256 characters.
pub(super) fn checked_tags(tags: Option<Vec<TagShape>>) -> Result<Vec<Tag>, AwsError> {
    let tags = tags.unwrap_or_default();
    if tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_TAGS_PER_RESOURCE}"
        )));
    }
    tags.into_iter()
        .map(|t| {
            let key = t
                .key
                .ok_or_else(|| AwsError::validation("Tag Key is required."))?;
            check_key(&key)?;
            let value = t
                .value
                .ok_or_else(|| AwsError::validation(format!("Tag {key} needs a Value.")))?;
            check_length("Tags.member.Value", &value, 0, MAX_VALUE)
                .map_err(AwsError::validation)?;
            Ok(Tag { key, value })
        })
        .collect()
}

fn check_key(key: &str) -> Result<(), AwsError> {
    check_length("Tags.member.Key", key, 1, MAX_KEY).map_err(AwsError::validation)?;
    if key
        .get(..RESERVED_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX))
    {
        return Err(AwsError::validation(format!(
            "Tag key {key} is not valid: the prefix aws: is reserved for AWS use."
        )));
    }
    Ok(())
}

/// The existing resource a `ResourceARN` names; a bus is checked here, the
/// catalog checks the rest.
fn resource<'a>(state: &AppState, arn: &'a Option<String>) -> Result<Resource<'a>, AwsError> {
    let arn = arn
        .as_deref()
        .ok_or_else(|| AwsError::validation("ResourceARN is required."))?;
    check_length("ResourceARN", arn, 1, MAX_ARN).map_err(AwsError::validation)?;
    let resource = state
        .catalog
        .arns()
        .parse(arn)
        .map_err(|e| AwsError::validation(arn_refusal("ResourceARN", &e)))?;
    if let Resource::Bus(name) | Resource::Rule { bus: name, .. } = resource
        && !state.buses.exists(name)
    {
        return Err(bus_not_found(name));
    }
    Ok(resource)
}

pub fn tag(state: &AppState, request: TagResourceRequest) -> Result<Response, AwsError> {
    let resource = resource(state, &request.resource_arn)?;
    let tags = request
        .tags
        .ok_or_else(|| AwsError::validation("Tags is required."))?;
    let tags = checked_tags(Some(tags))?;
    state.catalog.tag(resource, tags)?;
    ok(&json!({}))
}

pub fn untag(state: &AppState, request: UntagResourceRequest) -> Result<Response, AwsError> {
    let resource = resource(state, &request.resource_arn)?;
    let keys = request
        .tag_keys
        .ok_or_else(|| AwsError::validation("TagKeys is required."))?;
    for key in &keys {
        check_length("TagKeys.member", key, 1, MAX_KEY).map_err(AwsError::validation)?;
    }
    state.catalog.untag(resource, &keys)?;
    ok(&json!({}))
}

pub fn list(state: &AppState, request: ListTagsRequest) -> Result<Response, AwsError> {
    let resource = resource(state, &request.resource_arn)?;
    let tags: Vec<TagShape> = state
        .catalog
        .tags(resource)?
        .into_iter()
        .map(|t| TagShape {
            key: Some(t.key),
            value: Some(t.value),
        })
        .collect();
    ok(&json!({ "Tags": tags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(key: &str, value: &str) -> TagShape {
        TagShape {
            key: Some(key.into()),
            value: Some(value.into()),
        }
    }

    #[test]
    fn tags_follow_aws_limits() {
        assert!(checked_tags(Some(vec![shape(&"k".repeat(128), &"v".repeat(256))])).is_ok());
        assert!(
            checked_tags(Some(vec![shape("k", "")])).is_ok(),
            "an empty value"
        );
        for bad in [
            shape("", "v"),
            shape(&"k".repeat(129), "v"),
            shape("k", &"v".repeat(257)),
            shape("aws:cloudformation:stack-name", "v"),
            shape("AWS:x", "v"),
        ] {
            assert!(checked_tags(Some(vec![bad])).is_err());
        }
        let many = (0..51).map(|i| shape(&format!("k{i}"), "")).collect();
        assert!(checked_tags(Some(many)).is_err());
        assert!(checked_tags(None).expect("no tags").is_empty());
    }
}
