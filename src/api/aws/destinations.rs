//! CreateApiDestination, DescribeApiDestination, ListApiDestinations,
//! UpdateApiDestination, DeleteApiDestination.
//!
//! An API destination is ACTIVE unless its connection is DEAUTHORIZED; the state
//! is derived when shown, never stored. The endpoint may be `http://` as well as
//! AWS's `https://`.

use std::collections::HashMap;

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::constraints::{
    description, endpoint, max_chars, name_prefix, one_of, required, resource_name,
};
use super::paginate::{Checks, Paging};
use super::wording::arn_refusal;
use super::{AwsError, NameRequest, epoch_seconds, ok};
use crate::api::AppState;
use crate::catalog::{
    ApiDestinationRecord, ArnError, CatalogError, ConnectionRecord, ConnectionState,
    DEFAULT_RATE_LIMIT_PER_SEC,
};
use crate::event::now_ms;

const METHODS: [&str; 7] = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];

/// CreateApiDestination and UpdateApiDestination take the same fields.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationRequest {
    name: Option<String>,
    description: Option<String>,
    connection_arn: Option<String>,
    invocation_endpoint: Option<String>,
    http_method: Option<String>,
    invocation_rate_limit_per_second: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    name_prefix: Option<String>,
    connection_arn: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// DescribeApiDestination's answer and, without `Description`, an entry of
/// ListApiDestinations.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationView {
    api_destination_arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    api_destination_state: &'static str,
    connection_arn: String,
    invocation_endpoint: String,
    http_method: String,
    invocation_rate_limit_per_second: u32,
    creation_time: f64,
    last_modified_time: f64,
}

/// ACTIVE, or INACTIVE while the connection cannot authorize.
fn destination_state(connection: Option<&ConnectionRecord>) -> &'static str {
    match connection.map(|c| c.state) {
        Some(ConnectionState::Authorized) => "ACTIVE",
        Some(ConnectionState::Deauthorized) | None => "INACTIVE",
    }
}

fn view(
    state: &AppState,
    record: ApiDestinationRecord,
    connection: Option<&ConnectionRecord>,
    with_description: bool,
) -> DestinationView {
    let arns = state.catalog.arns();
    DestinationView {
        api_destination_arn: arns.api_destination(&record),
        api_destination_state: destination_state(connection),
        // The connection exists while a destination uses it (the catalog keeps that).
        connection_arn: connection.map(|c| arns.connection(c)).unwrap_or_default(),
        description: record.description.filter(|_| with_description),
        name: record.name,
        invocation_endpoint: record.endpoint,
        http_method: record.method,
        invocation_rate_limit_per_second: record.rate_per_sec,
        creation_time: epoch_seconds(record.created_ms),
        last_modified_time: epoch_seconds(record.modified_ms),
    }
}

/// What Create and Update answer.
fn summary(state: &AppState, record: &ApiDestinationRecord) -> Result<Response, AwsError> {
    let connection = state.catalog.connection(&record.connection);
    ok(&json!({
        "ApiDestinationArn": state.catalog.arns().api_destination(record),
        "ApiDestinationState": destination_state(connection.as_ref()),
        "CreationTime": epoch_seconds(record.created_ms),
        "LastModifiedTime": epoch_seconds(record.modified_ms),
    }))
}

/// The name of the connection that `arn` names; it must be one of this server's.
fn connection_of(state: &AppState, arn: &str) -> Result<String, AwsError> {
    max_chars("ConnectionArn", Some(arn), 1600)?;
    let not_a_connection = || {
        AwsError::validation(
            "ConnectionArn must be the ARN of a connection of this server \
             (arn:aws:events:REGION:ACCOUNT:connection/NAME/UUID).",
        )
    };
    let name = match state.catalog.arns().connection_name(arn) {
        Ok(Some(name)) => name.to_owned(),
        Ok(None) | Err(ArnError::Foreign { .. }) => return Err(not_a_connection()),
        Err(incomplete @ ArnError::Incomplete { .. }) => {
            return Err(AwsError::validation(arn_refusal(
                "ConnectionArn",
                &incomplete,
            )));
        }
    };
    // A connection deleted and created again has a new ARN: the old one is gone.
    match state.catalog.connection(&name) {
        Some(c) if state.catalog.arns().connection(&c) == arn => Ok(name),
        _ => Err(CatalogError::ConnectionNotFound { name }.into()),
    }
}

fn method(value: String) -> Result<String, AwsError> {
    one_of("HttpMethod", &value, &METHODS)?;
    Ok(value)
}

fn rate(value: i64) -> Result<u32, AwsError> {
    u32::try_from(value)
        .ok()
        .filter(|r| *r >= 1)
        .ok_or_else(|| AwsError::validation("InvocationRateLimitPerSecond must be at least 1."))
}

fn invocation_endpoint(value: String) -> Result<String, AwsError> {
    endpoint("InvocationEndpoint", &value)?;
    Ok(value)
}

pub fn create(state: &AppState, request: DestinationRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    let description = description(request.description)?.filter(|d| !d.is_empty());
    let arn = required("ConnectionArn", request.connection_arn)?;
    let url = invocation_endpoint(required("InvocationEndpoint", request.invocation_endpoint)?)?;
    let method = method(required("HttpMethod", request.http_method)?)?;
    let rate_per_sec = match request.invocation_rate_limit_per_second {
        Some(r) => rate(r)?,
        None => DEFAULT_RATE_LIMIT_PER_SEC,
    };
    let connection = connection_of(state, &arn)?;
    let now = now_ms();
    let record = state.catalog.create_api_destination(ApiDestinationRecord {
        name,
        uuid: uuid::Uuid::new_v4().to_string(),
        description,
        connection,
        endpoint: url,
        method,
        rate_per_sec,
        created_ms: now,
        modified_ms: now,
    })?;
    summary(state, &record)
}

pub fn describe(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    let record = state
        .catalog
        .api_destination(&name)
        .ok_or(CatalogError::DestinationNotFound { name })?;
    let connection = state.catalog.connection(&record.connection);
    ok(&view(state, record, connection.as_ref(), true))
}

pub fn list(state: &AppState, request: ListRequest) -> Result<Response, AwsError> {
    let prefix = name_prefix(request.name_prefix)?;
    if let Some(arn) = &request.connection_arn {
        max_chars("ConnectionArn", Some(arn), 1600)?;
    }
    let paging = Paging::parse(Checks::Short, request.limit, request.next_token)?;
    let arns = state.catalog.arns();
    let connections: HashMap<String, ConnectionRecord> = state
        .catalog
        .connections()
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let matching = state.catalog.api_destinations().into_iter().filter(|d| {
        prefix.as_deref().is_none_or(|p| d.name.starts_with(p))
            && request.connection_arn.as_deref().is_none_or(|wanted| {
                connections
                    .get(&d.connection)
                    .is_some_and(|c| arns.connection(c) == wanted)
            })
    });
    let page = paging.after_key(matching, |d| &d.name);
    ok(&page.body("ApiDestinations", |d| {
        let connection = connections.get(&d.connection);
        view(state, d, connection, false)
    }))
}

pub fn update(state: &AppState, request: DestinationRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    let description = description(request.description)?;
    let url = request
        .invocation_endpoint
        .map(invocation_endpoint)
        .transpose()?;
    let method = request.http_method.map(method).transpose()?;
    let rate_per_sec = request
        .invocation_rate_limit_per_second
        .map(rate)
        .transpose()?;
    let connection = request
        .connection_arn
        .map(|arn| connection_of(state, &arn))
        .transpose()?;
    let record = state.catalog.update_api_destination(&name, |record| {
        if let Some(description) = description {
            record.description = Some(description).filter(|d| !d.is_empty());
        }
        if let Some(connection) = connection {
            record.connection = connection;
        }
        if let Some(url) = url {
            record.endpoint = url;
        }
        if let Some(method) = method {
            record.method = method;
        }
        if let Some(rate_per_sec) = rate_per_sec {
            record.rate_per_sec = rate_per_sec;
        }
        Ok(())
    })?;
    summary(state, &record)
}

pub fn delete(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    state.catalog.delete_api_destination(&name)?;
    ok(&json!({}))
}
