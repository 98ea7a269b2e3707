//! The HTTP surface: routes, shared state, and the translation of wire formats
//! into domain calls. Only this module decides HTTP status codes.

pub mod auth;
pub mod aws;
mod backup;
mod body;
pub mod dead_letters;
pub mod error;
pub mod gateway;
pub mod keys;
mod log;
mod operator;
pub mod pattern_test;
pub mod replays;
pub mod schemas;
pub mod signing;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post, put};

use crate::archive::Archives;
use crate::auth::Access;
use crate::bus::Buses;
use crate::catalog::Catalog;
use crate::config::{AwsConfig, IngestConfig};
use crate::dead_letter::DeadLetters;
use crate::delivery::Delivery;
use crate::keys::PublisherKeys;
use crate::log::Log;
use crate::metrics::Metrics;
use crate::pattern::Limits;
use crate::replay::Replays;
use crate::retention::Retention;
use crate::schema::Schemas;
use crate::store::Store;
use error::ApiError;

/// What every handler may use. axum clones the state for every request, so it
/// is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub log: Log,
    pub buses: Buses,
    pub catalog: Catalog,
    pub delivery: Delivery,
    pub dead_letters: DeadLetters,
    pub archives: Archives,
    pub retention: Retention,
    pub replays: Replays,
    pub store: Arc<Store>,
    pub metrics: Metrics,
    pub ingest: Arc<IngestConfig>,
    pub aws: Arc<AwsConfig>,
    pub patterns: Arc<Limits>,
    /// Operator credentials and what is open (`auth`).
    pub access: Arc<Access>,
    pub keys: PublisherKeys,
    pub schemas: Schemas,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(aws::dispatch))
        .route("/events", post(gateway::publish_default))
        .route("/buses/{bus}/events", post(gateway::publish_to_bus))
        .route("/v1/events/{id}", get(operator::get_event))
        .route("/v1/events/{id}/deliveries", get(operator::get_deliveries))
        .route("/v1/log", get(log::status))
        .route("/v1/test-event-pattern", post(pattern_test::native))
        .route("/v1/targets", get(dead_letters::targets))
        .route("/v1/dead-letters", get(dead_letters::list))
        .route("/v1/dead-letters/redrive", post(dead_letters::redrive))
        .route(
            "/v1/dead-letters/{id}",
            get(dead_letters::show).delete(dead_letters::delete),
        )
        .route("/v1/replays", get(replays::running))
        .route("/v1/replays/{name}", get(replays::show))
        .route("/v1/backup", post(backup::backup))
        .route("/v1/signing", get(signing::list))
        .route(
            "/v1/signing/{subject}",
            put(signing::set).delete(signing::clear),
        )
        .route("/v1/signing/{subject}/rotate", post(signing::rotate))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", get(keys::describe).delete(keys::revoke))
        .route("/v1/keys/{id}/rotate", post(keys::rotate))
        .route("/v1/keys/{id}/revoke", post(keys::revoke))
        .route("/v1/schemas", get(schemas::list).put(schemas::put))
        .route(
            "/v1/schemas/{source}/{detail_type}",
            get(schemas::show).delete(schemas::delete),
        )
        .route("/healthz", get(operator::healthz))
        .route("/metrics", get(operator::metrics))
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
}
