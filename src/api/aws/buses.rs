//! CreateEventBus (with its `Tags`), DescribeEventBus, ListEventBuses,
//! DeleteEventBus (which forgets the bus's tags).

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::paginate::{Checks, Paging};
use super::tags::{TagShape, checked_tags};
use super::wording::bus_not_found;
use super::{AwsError, NameRequest, epoch_seconds, ok};
use crate::api::AppState;
use crate::bus::{BusError, BusRecord, DEFAULT_BUS};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    name: Option<String>,
    event_source_name: Option<String>,
    description: Option<String>,
    tags: Option<Vec<TagShape>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    name_prefix: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BusView {
    name: String,
    arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    creation_time: f64,
    last_modified_time: f64,
}

fn view(state: &AppState, record: BusRecord) -> BusView {
    BusView {
        arn: state.buses.arn(&record.name),
        name: record.name,
        description: record.description,
        creation_time: epoch_seconds(record.created_ms),
        last_modified_time: epoch_seconds(record.modified_ms),
    }
}

pub fn create(state: &AppState, request: CreateRequest) -> Result<Response, AwsError> {
    let name = request
        .name
        .ok_or_else(|| AwsError::validation("Name is required."))?;
    if request.event_source_name.is_some() {
        return Err(AwsError::validation(
            "partner event sources are not supported; omit EventSourceName",
        ));
    }
    if request
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 512)
    {
        return Err(AwsError::validation(
            "Description must be at most 512 characters.",
        ));
    }
    let tags = checked_tags(request.tags)?;
    let record = state.buses.create(&name, request.description)?;
    // Replaced, not added to: tags left by a delete interrupted before it
    // forgot them do not come back.
    state.catalog.replace_bus_tags(&record.name, tags)?;
    let mut body = json!({ "EventBusArn": state.buses.arn(&record.name) });
    if let Some(description) = record.description {
        body["Description"] = json!(description);
    }
    ok(&body)
}

pub fn describe(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let given = request.name.unwrap_or_else(|| DEFAULT_BUS.to_string());
    let name = state
        .buses
        .resolve(&given)
        .ok_or_else(|| bus_not_found(&given))?;
    let record = state.buses.get(name).ok_or_else(|| bus_not_found(name))?;
    ok(&view(state, record))
}

pub fn list(state: &AppState, request: ListRequest) -> Result<Response, AwsError> {
    let paging = Paging::parse(Checks::LimitOnly, request.limit, request.next_token)?;
    let buses = state.buses.list(request.name_prefix.as_deref());
    let page = paging.after_key(buses, |b| &b.name);
    ok(&page.body("EventBuses", |b| view(state, b)))
}

pub fn delete(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let given = request
        .name
        .ok_or_else(|| AwsError::validation("Name is required."))?;
    let Some(name) = state.buses.resolve(&given) else {
        return ok(&json!({}));
    };
    // The API reference: "All rules associated with this event bus need to be
    // deleted" first. Deleting them here would drop their pending deliveries.
    if name != DEFAULT_BUS && state.catalog.has_rules(name) {
        return Err(AwsError::validation(format!(
            "Event bus {name} still has rules; delete them first."
        )));
    }
    // Deleting the bus would leave them indexing nothing; they go first.
    let archives = state.archives.of_bus(name);
    if !archives.is_empty() {
        return Err(AwsError::validation(format!(
            "Event bus {name} is used by archives {}; delete them first.",
            archives.join(", ")
        )));
    }
    match state.buses.delete(name) {
        // Like AWS, deleting a bus that does not exist succeeds.
        Ok(()) | Err(BusError::NotFound(_)) => {
            state.catalog.forget_bus_tags(name)?;
            ok(&json!({}))
        }
        Err(e) => Err(e.into()),
    }
}
