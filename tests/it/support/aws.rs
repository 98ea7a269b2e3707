//! The AWS SDK for Rust pointed at a `TestServer`, and what its tests share.

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::{Client, Config};
use reqwest::StatusCode;
use serde_json::Value;

use super::TestServer;

/// ARNs of this server's buses (default region and account).
pub const ARN_PREFIX: &str = "arn:aws:events:us-east-1:000000000000:event-bus/";

/// An SDK client for `server`'s current address (it changes on restart), with
/// static credentials.
pub fn sdk(server: &TestServer) -> Client {
    let config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.base_url())
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .build();
    Client::from_conf(config)
}

/// The stored event for `id`, via `GET /v1/events/{id}`; must exist.
pub async fn stored(server: &TestServer, id: &str) -> Value {
    let reply = server.event(id).await;
    assert_eq!(reply.status, StatusCode::OK, "event {id}: {reply:?}");
    reply.json()
}
