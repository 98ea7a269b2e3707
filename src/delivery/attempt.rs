//! One delivery attempt: resolve where and how to send, build the request
//! (input, HTTP parameters, headers, auth), respect the destination's rate
//! limit, send with a timeout, and classify the answer.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::Inner;
use super::transform::{self, Context};
use crate::catalog::{ConnectionAuth, ConnectionRecord, ConnectionState, Snapshot, TargetRoute};
use crate::event::{Event, Seq, format_time};
use crate::pending::PendingDelivery;

/// How much of a failed response's body a dead letter keeps.
pub const KEPT_BODY_BYTES: usize = 1024;

/// Why an attempt failed, and whether trying again may help.
#[derive(Clone, Debug)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    pub fn retryable(code: &'static str, message: String) -> Failure {
        Failure {
            code,
            message,
            retryable: true,
            status: None,
            body: None,
            retry_after_ms: None,
        }
    }

    /// A failure of the target's configuration: retrying cannot help until an
    /// operator fixes it (then redrives).
    pub fn config(message: String) -> Failure {
        Failure {
            retryable: false,
            ..Failure::retryable("CONFIGURATION_ERROR", message)
        }
    }
}

pub(super) enum Outcome {
    Delivered {
        ingested_ms: i64,
    },
    Failed {
        event: Box<Event>,
        route: Arc<TargetRoute>,
        failure: Failure,
    },
    /// The target was removed meanwhile; its worker is stopping.
    TargetGone,
    /// The log cannot serve the event (damaged or missing).
    Unreadable(String),
    /// Reading the event failed for a reason that may pass.
    Transient(String),
}

pub(super) struct Attempted {
    pub seq: Seq,
    pub record: PendingDelivery,
    pub outcome: Outcome,
}

pub(super) async fn run(
    inner: Arc<Inner>,
    uid: u64,
    seq: Seq,
    record: PendingDelivery,
    event: Option<Event>,
) -> Attempted {
    let outcome = attempt(&inner, uid, seq, event).await;
    Attempted {
        seq,
        record,
        outcome,
    }
}

/// `event` is the event at `seq` if the worker already read it.
async fn attempt(inner: &Inner, uid: u64, seq: Seq, event: Option<Event>) -> Outcome {
    let snapshot = inner.catalog.snapshot();
    let Some(route) = snapshot.targets.get(&uid).cloned() else {
        return Outcome::TargetGone;
    };
    let event = match event.map_or_else(|| inner.log.get(seq), |e| Ok(Some(e))) {
        Ok(Some(event)) => event,
        Ok(None) => return Outcome::Unreadable(format!("event {seq} is not in the log")),
        // sled itself failed (I/O): the event may well be fine; try again.
        Err(crate::log::ReadError::Sled(error)) => return Outcome::Transient(error.to_string()),
        Err(error) => return Outcome::Unreadable(error.to_string()),
    };
    match send(inner, &snapshot, &route, &event).await {
        Ok(()) => Outcome::Delivered {
            ingested_ms: event.fields.ingested_ms,
        },
        Err(failure) => Outcome::Failed {
            event: Box::new(event),
            route,
            failure,
        },
    }
}

/// Where a target sends, resolved from the current snapshot.
struct Destination<'a> {
    endpoint: &'a str,
    method: reqwest::Method,
    connection: Option<&'a ConnectionRecord>,
    /// (API destination name, rate per second)
    limit: Option<(&'a str, u32)>,
}

fn resolve<'a>(
    inner: &Inner,
    snapshot: &'a Snapshot,
    route: &'a TargetRoute,
) -> Result<Destination<'a>, Failure> {
    let arn = route.target.arn.as_str();
    if arn.starts_with("http://") || arn.starts_with("https://") {
        return Ok(Destination {
            endpoint: arn,
            method: reqwest::Method::POST,
            connection: None,
            limit: None,
        });
    }
    let name = inner
        .catalog
        .arns()
        .api_destination_name(arn)
        .ok()
        .flatten()
        .ok_or_else(|| Failure::config(format!("target ARN {arn} is not an API destination")))?;
    let destination = snapshot
        .destinations
        .get(name)
        .ok_or_else(|| Failure::config(format!("API destination {name} does not exist")))?;
    let connection = snapshot
        .connections
        .get(&destination.connection)
        .ok_or_else(|| {
            Failure::config(format!(
                "connection {} does not exist",
                destination.connection
            ))
        })?;
    if connection.state == ConnectionState::Deauthorized {
        return Err(Failure {
            code: "CONNECTION_DEAUTHORIZED",
            ..Failure::config(format!("connection {} is deauthorized", connection.name))
        });
    }
    let method = reqwest::Method::from_bytes(destination.method.as_bytes())
        .map_err(|_| Failure::config(format!("invalid HTTP method {}", destination.method)))?;
    Ok(Destination {
        endpoint: &destination.endpoint,
        method,
        connection: Some(connection),
        limit: Some((&destination.name, destination.rate_per_sec)),
    })
}

/// The endpoint with each `*` replaced by the next path parameter value.
fn fill_path(endpoint: &str, values: &[String]) -> Result<String, Failure> {
    let stars = endpoint.matches('*').count();
    if stars != values.len() {
        return Err(Failure::config(format!(
            "the endpoint has {stars} path parameter(s) but the target gives {}",
            values.len()
        )));
    }
    let mut out = String::with_capacity(endpoint.len());
    let mut values = values.iter();
    for (i, part) in endpoint.split('*').enumerate() {
        if i > 0 {
            let value = values.next().map_or("", String::as_str);
            out.extend(url_escape_segment(value));
        }
        out.push_str(part);
    }
    Ok(out)
}

/// Percent-encodes what may not appear raw in a path segment.
fn url_escape_segment(value: &str) -> impl Iterator<Item = String> + '_ {
    value.bytes().map(|b| {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()+,;=:@".contains(&b) {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        }
    })
}

async fn send(
    inner: &Inner,
    snapshot: &Snapshot,
    route: &TargetRoute,
    event: &Event,
) -> Result<(), Failure> {
    let destination = resolve(inner, snapshot, route)?;
    let envelope = event.to_envelope_json();
    let ingestion_time = format_time(event.fields.ingested_ms);
    let body = route
        .target
        .input
        .render(&Context {
            event_json: &envelope,
            rule_name: &route.rule,
            rule_arn: &route.rule_arn,
            ingestion_time: &ingestion_time,
        })
        .map_err(|e| Failure {
            code: "INPUT_TRANSFORMATION_FAILED",
            ..Failure::config(e.to_string())
        })?;

    // Dynamic parameters (`$.detail…`) read the event; parse it only if needed.
    let http = &route.target.http;
    let dynamic = http
        .path_values
        .iter()
        .chain(http.headers.values())
        .chain(http.query.keys())
        .chain(http.query.values())
        .any(|v| v.starts_with("$."));
    let event_value: serde_json::Value = if dynamic {
        serde_json::from_str(&envelope).unwrap_or(serde_json::Value::Null)
    } else {
        serde_json::Value::Null
    };
    let resolve_param = |v: &String| transform::resolve_parameter(v, &event_value);

    // A path parameter that selects nothing would send to another URL: refuse.
    let path_values = http
        .path_values
        .iter()
        .map(|v| {
            resolve_param(v).ok_or_else(|| {
                Failure::config(format!("path parameter {v} selects nothing in this event"))
            })
        })
        .collect::<Result<Vec<String>, Failure>>()?;
    let url = fill_path(destination.endpoint, &path_values)?;
    let parsed = inner.parse_url(&url)?;

    // Query string keys may be paths too; a key or value that selects nothing
    // leaves the parameter out.
    let mut query: Vec<(String, String)> = http
        .query
        .iter()
        .filter_map(|(k, v)| Some((resolve_param(k)?, resolve_param(v)?)))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("user-agent", HeaderValue::from_static(super::USER_AGENT));
    for (k, v) in &http.headers {
        if let Some(v) = resolve_param(v) {
            set_header(&mut headers, k, &v)?;
        }
    }
    let mut body = body;
    if let Some(connection) = destination.connection {
        // The connection's parameters win over the target's.
        for p in &connection.invocation.headers {
            set_header(&mut headers, &p.key, &p.value)?;
        }
        for p in &connection.invocation.query {
            query.retain(|(k, _)| *k != p.key);
            query.push((p.key.clone(), p.value.clone()));
        }
        if !connection.invocation.body.is_empty() {
            body = merge_body_parameters(body, &connection.invocation.body);
        }
    }
    // The auth header comes last and wins over a parameter of the same name.
    match destination.connection.map(|c| &c.auth) {
        Some(ConnectionAuth::ApiKey { name, value }) => set_header(&mut headers, name, value)?,
        Some(ConnectionAuth::Basic { .. } | ConnectionAuth::OAuth { .. }) => {
            headers.remove(reqwest::header::AUTHORIZATION);
        }
        None => {}
    }
    headers.insert(
        "webhook-id",
        HeaderValue::from_str(&event.id.to_string()).map_err(|e| Failure::config(e.to_string()))?,
    );

    if let Some((name, rate)) = destination.limit {
        inner.limiter(name, rate).until_ready().await;
    }

    let with_body =
        destination.method != reqwest::Method::GET && destination.method != reqwest::Method::HEAD;
    let timeout = Duration::from_millis(inner.config.request_timeout_ms);
    let build = |bearer: Option<&str>| {
        let mut request = inner
            .client
            .request(destination.method.clone(), parsed.clone())
            .timeout(timeout)
            .headers(headers.clone());
        if !query.is_empty() {
            request = request.query(&query);
        }
        if with_body {
            request = request.body(body.clone());
        }
        match destination.connection.map(|c| &c.auth) {
            // Set with the other headers above, replacing any of the same name.
            Some(ConnectionAuth::ApiKey { .. }) => {}
            Some(ConnectionAuth::Basic { username, password }) => {
                request = request.basic_auth(username, Some(password))
            }
            Some(ConnectionAuth::OAuth { .. }) => {
                if let Some(token) = bearer {
                    request = request.bearer_auth(token);
                }
            }
            None => {}
        }
        request
    };

    let oauth = destination
        .connection
        .filter(|c| matches!(c.auth, ConnectionAuth::OAuth { .. }));
    let token = match oauth {
        Some(c) => Some(inner.tokens.token(&inner.client, c, timeout).await?),
        None => None,
    };
    let mut response = build(token.as_deref())
        .send()
        .await
        .map_err(|e| transport_failure(e, &url))?;
    if let (Some(c), Some(token)) = (oauth, &token)
        && matches!(response.status().as_u16(), 401 | 407)
    {
        // The token may have been revoked early: fetch a fresh one and try once more.
        inner.tokens.invalidate(&c.name, token);
        let fresh = inner.tokens.token(&inner.client, c, timeout).await?;
        response = build(Some(&fresh))
            .send()
            .await
            .map_err(|e| transport_failure(e, &url))?;
    }
    classify(response, &url, inner.clock.now_ms()).await
}

fn set_header(headers: &mut HeaderMap, key: &str, value: &str) -> Result<(), Failure> {
    let name = HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| Failure::config(format!("invalid header name {key:?}")))?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| Failure::config(format!("invalid value for header {key}")))?;
    headers.insert(name, value);
    Ok(())
}

/// Adds the connection's body parameters to a JSON object body (they win);
/// other bodies are sent unchanged.
fn merge_body_parameters(body: Vec<u8>, params: &[crate::catalog::Parameter]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&body) else {
        return body;
    };
    for p in params {
        object.insert(p.key.clone(), serde_json::Value::String(p.value.clone()));
    }
    serde_json::to_vec(&object).unwrap_or(body)
}

/// A transport error in words, with its causes, without its URL: a query
/// string may carry a connection's secret parameters.
pub fn describe_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn transport_failure(error: reqwest::Error, url: &str) -> Failure {
    if error.is_builder() {
        return Failure::config(format!(
            "{url}: the request cannot be built: {}",
            describe_error(error)
        ));
    }
    let code = if error.is_timeout() {
        "TIMEOUT"
    } else if error.is_connect() {
        "CONNECTION_ERROR"
    } else {
        "REQUEST_FAILED"
    };
    Failure::retryable(code, format!("{url}: {}", describe_error(error)))
}

async fn classify(mut response: reqwest::Response, url: &str, now_ms: i64) -> Result<(), Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    let retry_after_ms = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| super::retry::retry_after_ms(v, now_ms));
    let mut kept = Vec::new();
    while kept.len() < KEPT_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(KEPT_BODY_BYTES);
    let (error_code, retryable) = match code {
        401 | 407 => ("UNAUTHORIZED", true),
        408 => ("REQUEST_TIMEOUT", true),
        409 => ("CONFLICT", true),
        410 => ("GONE", false),
        429 => ("THROTTLED", true),
        500..=599 => ("SERVER_ERROR", true),
        _ => ("CLIENT_ERROR", false),
    };
    Err(Failure {
        code: error_code,
        message: format!("{url} answered {status}"),
        retryable,
        status: Some(code),
        body: Some(String::from_utf8_lossy(&kept).into_owned()),
        retry_after_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_fill_the_stars_in_order_and_are_escaped() {
        let url = fill_path("http://h/a/*/b/*", &["x y".into(), "1/2".into()]).expect("filled");
        assert_eq!(url, "http://h/a/x%20y/b/1%2F2");
        assert!(fill_path("http://h/*", &[]).is_err());
        assert_eq!(fill_path("http://h/", &[]).expect("no stars"), "http://h/");
    }

    #[test]
    fn body_parameters_join_json_objects_only() {
        let p = [crate::catalog::Parameter {
            key: "k".into(),
            value: "v".into(),
            secret: true,
        }];
        let merged: serde_json::Value =
            serde_json::from_slice(&merge_body_parameters(br#"{"a":1,"k":0}"#.to_vec(), &p))
                .expect("json");
        assert_eq!(merged, serde_json::json!({"a":1,"k":"v"}));
        assert_eq!(merge_body_parameters(b"[1]".to_vec(), &p), b"[1]");
    }
}
