//! CreateConnection, DescribeConnection, ListConnections, UpdateConnection,
//! DeauthorizeConnection, DeleteConnection.
//!
//! A connection is AUTHORIZED once its credentials are stored: Stowage does not
//! call an OAuth endpoint here, it fetches the token at the first delivery.
//! DeauthorizeConnection removes the secrets and makes it DEAUTHORIZED until
//! UpdateConnection brings new ones. Auth parameters live in `connection_auth`.

use axum::response::Response;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connection_auth::{self, AuthParametersIn, AuthView, has_secret};
use super::constraints::{description, name_prefix, one_of, resource_name};
use super::paginate::{Checks, Paging};
use super::{AwsError, NameRequest, epoch_seconds, ok};
use crate::api::AppState;
use crate::catalog::{CatalogError, ConnectionAuth, ConnectionRecord, ConnectionState};
use crate::event::now_ms;

/// Every state AWS defines; Stowage's connections are only ever the first two.
const STATES: [&str; 9] = [
    "AUTHORIZED",
    "DEAUTHORIZED",
    "CREATING",
    "UPDATING",
    "DELETING",
    "AUTHORIZING",
    "DEAUTHORIZING",
    "ACTIVE",
    "FAILED_CONNECTIVITY",
];

/// CreateConnection and UpdateConnection take the same fields.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectionRequest {
    name: Option<String>,
    description: Option<String>,
    authorization_type: Option<String>,
    auth_parameters: Option<AuthParametersIn>,
    invocation_connectivity_parameters: Option<IgnoredAny>,
    kms_key_identifier: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    name_prefix: Option<String>,
    connection_state: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

/// DescribeConnection's answer. `AuthView` cannot hold a secret.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectionView {
    connection_arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    connection_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    authorization_type: &'static str,
    secret_arn: String,
    auth_parameters: AuthView,
    creation_time: f64,
    last_modified_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_authorized_time: Option<f64>,
}

/// A connection in ListConnections.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectionItem {
    connection_arn: String,
    name: String,
    connection_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    authorization_type: &'static str,
    creation_time: f64,
    last_modified_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_authorized_time: Option<f64>,
}

/// What Update, Deauthorize and Delete answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    connection_arn: String,
    connection_state: &'static str,
    creation_time: f64,
    last_modified_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_authorized_time: Option<f64>,
}

fn summary(state: &AppState, record: &ConnectionRecord) -> Summary {
    Summary {
        connection_arn: state.catalog.arns().connection(record),
        connection_state: record.state.as_aws(),
        creation_time: epoch_seconds(record.created_ms),
        last_modified_time: epoch_seconds(record.modified_ms),
        last_authorized_time: record.authorized_ms.map(epoch_seconds),
    }
}

/// Where AWS would keep the credentials; Stowage keeps them in its own store.
fn secret_arn(state: &AppState, record: &ConnectionRecord) -> String {
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:events!connection/{}/{}",
        state.aws.region, state.aws.account, record.name, record.uuid
    )
}

fn authorized_reason(auth: &ConnectionAuth) -> Option<String> {
    matches!(auth, ConnectionAuth::OAuth { .. }).then(|| {
        "The client credentials are stored; Stowage requests the OAuth token at the first delivery."
            .to_owned()
    })
}

fn refuse_private_endpoints(request: &ConnectionRequest) -> Result<(), AwsError> {
    if request.invocation_connectivity_parameters.is_some() {
        return Err(AwsError::validation(
            "InvocationConnectivityParameters (private APIs) are not supported by Stowage.",
        ));
    }
    if request.kms_key_identifier.is_some() {
        return Err(AwsError::validation(
            "KmsKeyIdentifier is not supported: Stowage keeps credentials in its own store.",
        ));
    }
    Ok(())
}

pub fn create(state: &AppState, request: ConnectionRequest) -> Result<Response, AwsError> {
    refuse_private_endpoints(&request)?;
    let name = resource_name("Name", request.name)?;
    let description = description(request.description)?.filter(|d| !d.is_empty());
    let (auth, invocation) =
        connection_auth::create(request.authorization_type, request.auth_parameters)?;
    let now = now_ms();
    let record = state.catalog.create_connection(ConnectionRecord {
        name,
        uuid: uuid::Uuid::new_v4().to_string(),
        description,
        state_reason: authorized_reason(&auth),
        auth,
        invocation,
        state: ConnectionState::Authorized,
        created_ms: now,
        modified_ms: now,
        authorized_ms: Some(now),
    })?;
    ok(&json!({
        "ConnectionArn": state.catalog.arns().connection(&record),
        "ConnectionState": record.state.as_aws(),
        "CreationTime": epoch_seconds(record.created_ms),
        "LastModifiedTime": epoch_seconds(record.modified_ms),
    }))
}

pub fn describe(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    let record = state
        .catalog
        .connection(&name)
        .ok_or(CatalogError::ConnectionNotFound { name })?;
    ok(&ConnectionView {
        connection_arn: state.catalog.arns().connection(&record),
        secret_arn: secret_arn(state, &record),
        auth_parameters: AuthView::of(&record.auth, &record.invocation),
        authorization_type: record.auth.kind(),
        connection_state: record.state.as_aws(),
        creation_time: epoch_seconds(record.created_ms),
        last_modified_time: epoch_seconds(record.modified_ms),
        last_authorized_time: record.authorized_ms.map(epoch_seconds),
        name: record.name,
        description: record.description,
        state_reason: record.state_reason,
    })
}

pub fn list(state: &AppState, request: ListRequest) -> Result<Response, AwsError> {
    let prefix = name_prefix(request.name_prefix)?;
    if let Some(wanted) = &request.connection_state {
        one_of("ConnectionState", wanted, &STATES)?;
    }
    let paging = Paging::parse(Checks::Short, request.limit, request.next_token)?;
    let matching = state.catalog.connections().into_iter().filter(|c| {
        prefix.as_deref().is_none_or(|p| c.name.starts_with(p))
            && request
                .connection_state
                .as_deref()
                .is_none_or(|s| c.state.as_aws() == s)
    });
    let page = paging.after_key(matching, |c| &c.name);
    ok(&page.body("Connections", |record| ConnectionItem {
        connection_arn: state.catalog.arns().connection(&record),
        connection_state: record.state.as_aws(),
        authorization_type: record.auth.kind(),
        creation_time: epoch_seconds(record.created_ms),
        last_modified_time: epoch_seconds(record.modified_ms),
        last_authorized_time: record.authorized_ms.map(epoch_seconds),
        name: record.name,
        state_reason: record.state_reason,
    }))
}

pub fn update(state: &AppState, request: ConnectionRequest) -> Result<Response, AwsError> {
    refuse_private_endpoints(&request)?;
    let name = resource_name("Name", request.name)?;
    let description = description(request.description)?;
    let record = change(state, &name, |record| {
        let credentials = connection_auth::update(
            &mut record.auth,
            &mut record.invocation,
            request.authorization_type,
            request.auth_parameters,
        )?;
        if let Some(description) = description {
            record.description = Some(description).filter(|d| !d.is_empty());
        }
        if credentials && has_secret(&record.auth) {
            record.state = ConnectionState::Authorized;
            record.state_reason = authorized_reason(&record.auth);
            record.authorized_ms = Some(now_ms());
        }
        Ok(())
    })?;
    ok(&summary(state, &record))
}

pub fn deauthorize(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    let record = change(state, &name, |record| {
        record.auth = record.auth.without_secrets();
        record.invocation = record.invocation.without_secrets();
        record.state = ConnectionState::Deauthorized;
        record.state_reason = Some(
            "Deauthorized: its secrets were removed. UpdateConnection with new credentials authorizes it again."
                .to_owned(),
        );
        Ok(())
    })?;
    ok(&summary(state, &record))
}

pub fn delete(state: &AppState, request: NameRequest) -> Result<Response, AwsError> {
    let name = resource_name("Name", request.name)?;
    let record = state.catalog.delete_connection(&name)?;
    // As AWS: the state the connection had before it was deleted.
    ok(&summary(state, &record))
}

/// Runs `edit` on the stored connection under the catalog's lock, so that a
/// merge never works on a stale copy. If `edit` refuses, nothing is saved and
/// its error is the answer (`update_connection` only speaks `CatalogError`, so
/// the refusal travels beside it).
fn change(
    state: &AppState,
    name: &str,
    edit: impl FnOnce(&mut ConnectionRecord) -> Result<(), AwsError>,
) -> Result<ConnectionRecord, AwsError> {
    let mut refused = None;
    let saved = state.catalog.update_connection(name, |record| {
        edit(record).map_err(|error| {
            refused = Some(error);
            CatalogError::ConnectionNotFound { name: name.into() }
        })
    });
    match (refused, saved) {
        (Some(error), _) => Err(error),
        (None, saved) => Ok(saved?),
    }
}
