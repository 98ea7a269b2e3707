//! The client side of Stowage's HTTP API, as tests use it: publish, look events
//! up, scrape metrics, call the AWS JSON 1.1 endpoint. Every request is bounded
//! by the client's timeout.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::TestServer;

/// Longest any single request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A shared client per test binary; connection pools are per host:port, so
/// servers never share connections.
pub fn http() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("build the HTTP client")
        })
        .clone()
}

/// A gateway envelope: `{"metadata":{source,eventName,eventSchemaVersion},"data"}`.
pub fn envelope(source: &str, event_name: &str, data: Value) -> Value {
    json!({
        "metadata": { "source": source, "eventName": event_name, "eventSchemaVersion": "1" },
        "data": data,
    })
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .expect("read the response body")
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {self:?}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `error.code` of a native/gateway error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {self:?}"))
            .to_string()
    }

    /// `__type` of an AWS error body.
    pub fn aws_type(&self) -> String {
        self.json()["__type"]
            .as_str()
            .unwrap_or_else(|| panic!("no __type in {self:?}"))
            .to_string()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        let shown: String = text.chars().take(600).collect();
        write!(f, "{} {shown}", self.status)
    }
}

/// Prometheus text, parsed into `name{labels}` → value.
pub struct Metrics(HashMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let values = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.parse::<f64>().ok()?))
            })
            .collect();
        Metrics(values)
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }
}

impl TestServer {
    /// Sends any request built on `http()`.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("send the request");
        Reply::read(response).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = http()
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Reply::read(response).await
    }

    /// POSTs `body` with the given content type (none if `None`).
    pub async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = http().post(self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Reply::read(response).await
    }

    /// `POST /events` with a JSON body.
    pub async fn publish(&self, body: &Value) -> Reply {
        self.post("/events", Some("application/json"), body.to_string())
            .await
    }

    /// Publishes and insists on `200 {"eventId"}`; returns the id.
    pub async fn publish_ok(&self, body: &Value) -> String {
        let reply = self.publish(body).await;
        assert_eq!(reply.status, StatusCode::OK, "publish failed: {reply:?}");
        event_id(&reply)
    }

    /// `GET /v1/events/{id}`.
    pub async fn event(&self, id: &str) -> Reply {
        self.get(&format!("/v1/events/{id}")).await
    }

    /// An AWS JSON 1.1 call: `POST /` with `X-Amz-Target: AWSEvents.<operation>`.
    pub async fn aws(&self, operation: &str, body: &str) -> Reply {
        let response = http()
            .post(self.url("/"))
            .header("x-amz-target", format!("AWSEvents.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("AWS {operation}: {e}"));
        Reply::read(response).await
    }

    pub async fn metrics(&self) -> Metrics {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, StatusCode::OK, "GET /metrics: {reply:?}");
        Metrics::parse(&reply.text())
    }

    /// `stowage_log_records`: events in the log.
    pub async fn log_records(&self) -> f64 {
        self.metrics()
            .await
            .get("stowage_log_records")
            .expect("stowage_log_records is exported")
    }

    /// Waits (bounded) until metric `name` equals `value`; panics with the last
    /// value otherwise.
    pub async fn wait_for_metric(&self, name: &str, value: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.metrics().await.get(name);
            if seen == Some(value) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("metric {name} is {seen:?}, expected {value} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the startup log check, so that `stowage_log_records` is final.
    pub async fn wait_for_log_check(&self) {
        self.wait_for_metric("stowage_log_check_complete", 1.0, Duration::from_secs(30))
            .await;
    }

    pub async fn healthz(&self) -> StatusCode {
        self.get("/healthz").await.status
    }
}

/// The `eventId` of a `200` publish reply.
pub fn event_id(reply: &Reply) -> String {
    let id = reply.json()["eventId"]
        .as_str()
        .unwrap_or_else(|| panic!("no eventId in {reply:?}"))
        .to_string();
    assert!(
        uuid_like(&id),
        "eventId {id:?} is not a hyphenated UUID: {reply:?}"
    );
    id
}

/// A hyphenated UUID: 8-4-4-4-12 hex digits.
pub fn uuid_like(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A gateway body of exactly `len` bytes (compact JSON, padded in `data.pad`).
pub fn body_of_len(len: usize) -> String {
    let empty = envelope("com.example", "Padded", json!({ "pad": "" })).to_string();
    assert!(
        len >= empty.len(),
        "{len} is shorter than an empty envelope"
    );
    let body = envelope(
        "com.example",
        "Padded",
        json!({ "pad": "x".repeat(len - empty.len()) }),
    )
    .to_string();
    assert_eq!(body.len(), len);
    body
}
