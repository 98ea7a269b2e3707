//! Rules, targets and connections set up through the AWS JSON 1.1 API, and
//! the native delivery API (`/v1/targets`, `/v1/dead-letters`), as delivery
//! tests use them.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Reply, TestServer, server::Builder};

/// A server whose retries are fast: 20 ms backoff base, 200 ms cap, 1 s
/// request timeout.
pub fn fast_retries() -> Builder {
    TestServer::builder()
        .env("STOWAGE_DELIVERY__BACKOFF_BASE_MS", "20")
        .env("STOWAGE_DELIVERY__BACKOFF_CAP_MS", "200")
        .env("STOWAGE_DELIVERY__REQUEST_TIMEOUT_MS", "1000")
}

impl TestServer {
    /// An AWS call that must succeed; returns its JSON.
    pub async fn aws_ok(&self, operation: &str, body: &Value) -> Value {
        let reply = self.aws(operation, &body.to_string()).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{operation} failed: {reply:?}"
        );
        reply.json()
    }

    /// `PutRule` on the default bus with `pattern`.
    pub async fn put_rule(&self, name: &str, pattern: &Value) -> Value {
        self.aws_ok(
            "PutRule",
            &json!({ "Name": name, "EventPattern": pattern.to_string() }),
        )
        .await
    }

    /// `PutTargets` with these target objects; asserts no entry failed.
    pub async fn put_targets(&self, rule: &str, targets: Value) {
        let reply = self
            .aws_ok("PutTargets", &json!({ "Rule": rule, "Targets": targets }))
            .await;
        assert_eq!(reply["FailedEntryCount"], 0, "PutTargets: {reply}");
    }

    /// A rule matching `source` with one URL target `id` (extra target fields merged in).
    pub async fn route_source_to(
        &self,
        rule: &str,
        source: &str,
        id: &str,
        url: &str,
        extra: Value,
    ) {
        self.put_rule(rule, &json!({ "source": [source] })).await;
        let mut target = json!({ "Id": id, "Arn": url });
        if let (Some(t), Some(extra)) = (target.as_object_mut(), extra.as_object()) {
            t.extend(extra.clone());
        }
        self.put_targets(rule, json!([target])).await;
    }

    /// `GET /v1/targets` → the `targets` array.
    pub async fn targets(&self) -> Vec<Value> {
        let reply = self.get("/v1/targets").await;
        assert_eq!(reply.status, StatusCode::OK, "GET /v1/targets: {reply:?}");
        reply.json()["targets"]
            .as_array()
            .cloned()
            .expect("targets is an array")
    }

    /// Target `id`'s entry of `GET /v1/targets`, if it is listed.
    pub async fn target(&self, id: &str) -> Option<Value> {
        self.targets()
            .await
            .into_iter()
            .find(|t| t["targetId"] == id)
    }

    /// Waits (bounded) until target `id` is listed and `ready` holds for its
    /// status; returns that status.
    pub async fn wait_for_target(
        &self,
        id: &str,
        timeout: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.target(id).await;
            if let Some(status) = status.as_ref().filter(|s| ready(s)) {
                return status.clone();
            }
            assert!(
                Instant::now() < deadline,
                "target {id} not ready within {timeout:?}: {status:?}; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `CreateConnection` of `kind` with these raw `AuthParameters`; returns its ARN.
    pub async fn create_connection(&self, name: &str, kind: &str, auth: Value) -> String {
        let body = json!({ "Name": name, "AuthorizationType": kind, "AuthParameters": auth });
        let reply = self.aws_ok("CreateConnection", &body).await;
        reply["ConnectionArn"]
            .as_str()
            .expect("CreateConnection answers its ARN")
            .to_owned()
    }

    /// `CreateApiDestination` to `endpoint` with `method` (extra fields merged
    /// in, e.g. `InvocationRateLimitPerSecond`); returns its ARN.
    pub async fn create_api_destination(
        &self,
        name: &str,
        connection_arn: &str,
        endpoint: &str,
        method: &str,
        extra: Value,
    ) -> String {
        let mut body = json!({
            "Name": name,
            "ConnectionArn": connection_arn,
            "InvocationEndpoint": endpoint,
            "HttpMethod": method,
        });
        if let (Some(b), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        let reply = self.aws_ok("CreateApiDestination", &body).await;
        reply["ApiDestinationArn"]
            .as_str()
            .expect("CreateApiDestination answers its ARN")
            .to_owned()
    }

    /// `POST /v1/dead-letters/redrive` with this JSON body.
    pub async fn redrive(&self, body: &Value) -> Reply {
        self.post(
            "/v1/dead-letters/redrive",
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// `GET /v1/dead-letters?{query}` → the `items` array (first page).
    pub async fn dead_letters(&self, query: &str) -> Vec<Value> {
        let reply = self.get(&format!("/v1/dead-letters?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "GET /v1/dead-letters: {reply:?}"
        );
        reply.json()["items"]
            .as_array()
            .cloned()
            .expect("items is an array")
    }

    /// Waits (bounded) until the dead-letter list for `query` has `n` items.
    pub async fn wait_for_dead_letters(
        &self,
        query: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let items = self.dead_letters(query).await;
            if items.len() >= n {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "{} dead letters after {timeout:?}, wanted {n}; logs:\n{}",
                items.len(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Publishes a gateway event with `source` and `data`; returns its id.
    pub async fn publish_from(&self, source: &str, data: Value) -> String {
        self.publish_ok(&super::envelope(source, "Test", data))
            .await
    }
}
