//! The delivery request, built without I/O: (target route, snapshot, event)
//! in → method, URL, query, headers, body and the auth still to apply out.
//! Everything a target's configuration decides is decided here and unit
//! tested; sending, the rate limit and OAuth tokens are `attempt`'s.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::failure::{Failure, Reason};
use crate::transform::{self, Context};
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::RenderedEvent;
use crate::catalog::{
    ApiDestinationRecord, Arns, ConnectionAuth, ConnectionRecord, ConnectionState, Parameter,
    SigningKeys, Snapshot, TargetRoute,
};
use crate::event::format_time;

/// Auth the sender still applies: Basic is added by the HTTP client, an OAuth
/// bearer token has to be fetched first.
pub enum Auth<'a> {
    None,
    Basic {
        username: &'a str,
        password: &'a str,
    },
    Bearer(&'a ConnectionRecord),
}

/// A request ready to send.
pub struct Outgoing<'a> {
    pub method: reqwest::Method,
    /// The endpoint with its path parameters filled in (no query string).
    pub url: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// `None` for GET and HEAD.
    pub body: Option<Vec<u8>>,
    pub auth: Auth<'a>,
    /// (API destination name, invocations per second) to wait for.
    pub rate_limit: Option<(&'a str, u32)>,
    /// The target's signing keys, if its deliveries are signed: the sender
    /// adds `webhook-timestamp` and `webhook-signature` at send time.
    pub signing: Option<&'a SigningKeys>,
}

/// What a target's ARN is resolved against: the current snapshot's API
/// destinations and connections.
pub struct Directory<'a> {
    pub arns: &'a Arns,
    pub destinations: &'a HashMap<String, Arc<ApiDestinationRecord>>,
    pub connections: &'a HashMap<String, Arc<ConnectionRecord>>,
    pub signing: &'a HashMap<String, Arc<SigningKeys>>,
}

impl<'a> Directory<'a> {
    pub fn new(arns: &'a Arns, snapshot: &'a Snapshot) -> Directory<'a> {
        Directory {
            arns,
            destinations: &snapshot.destinations,
            connections: &snapshot.connections,
            signing: &snapshot.signing,
        }
    }
}

/// Where a target sends, resolved from the snapshot.
struct Destination<'a> {
    endpoint: &'a str,
    method: reqwest::Method,
    connection: Option<&'a ConnectionRecord>,
    limit: Option<(&'a str, u32)>,
    /// What signing secrets are set for: the API destination's name or the URL.
    subject: &'a str,
}

fn resolve<'a>(
    directory: &Directory<'a>,
    route: &'a TargetRoute,
) -> Result<Destination<'a>, Failure> {
    let arn = route.target.arn.as_str();
    if arn.starts_with("http://") || arn.starts_with("https://") {
        return Ok(Destination {
            endpoint: arn,
            method: reqwest::Method::POST,
            connection: None,
            limit: None,
            subject: arn,
        });
    }
    let name = directory
        .arns
        .api_destination_name(arn)
        .ok()
        .flatten()
        .ok_or_else(|| Failure::config(format!("target ARN {arn} is not an API destination")))?;
    let destination = directory
        .destinations
        .get(name)
        .ok_or_else(|| Failure::config(format!("API destination {name} does not exist")))?;
    let connection = directory
        .connections
        .get(&destination.connection)
        .ok_or_else(|| {
            Failure::config(format!(
                "connection {} does not exist",
                destination.connection
            ))
        })?;
    if connection.state == ConnectionState::Deauthorized {
        return Err(Failure::new(
            Reason::ConnectionDeauthorized,
            format!("connection {} is deauthorized", connection.name),
        ));
    }
    let method = reqwest::Method::from_bytes(destination.method.as_bytes())
        .map_err(|_| Failure::config(format!("invalid HTTP method {}", destination.method)))?;
    Ok(Destination {
        endpoint: &destination.endpoint,
        method,
        connection: Some(connection),
        limit: Some((&destination.name, destination.rate_per_sec)),
        subject: &destination.name,
    })
}

/// Builds the request delivering `rendered` to `route`'s target.
pub fn build<'a>(
    directory: &Directory<'a>,
    route: &'a TargetRoute,
    rendered: &RenderedEvent,
) -> Result<Outgoing<'a>, Failure> {
    let (event, envelope) = (&rendered.event, rendered.envelope.as_str());
    let destination = resolve(directory, route)?;
    let ingestion_time = format_time(event.fields.ingested_ms);
    let mut body = route
        .target
        .input
        .render(&Context {
            event_json: envelope,
            rule_name: &route.rule,
            rule_arn: &route.rule_arn,
            ingestion_time: &ingestion_time,
        })
        .map_err(|e| Failure::new(Reason::InputTransformation, e.to_string()))?;

    // Dynamic parameters (`$.detail…`) read the event, parsed once for all
    // the targets that need it; a literal never parses it.
    let http = &route.target.http;
    let resolve_param = |v: &String| {
        if v.starts_with("$.") {
            transform::resolve_parameter(v, rendered.value())
        } else {
            Some(v.clone())
        }
    };

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
    let auth = match destination.connection {
        Some(connection) => match &connection.auth {
            ConnectionAuth::ApiKey { name, value } => {
                set_header(&mut headers, name, value)?;
                Auth::None
            }
            ConnectionAuth::Basic { username, password } => {
                headers.remove(reqwest::header::AUTHORIZATION);
                Auth::Basic { username, password }
            }
            ConnectionAuth::OAuth { .. } => {
                headers.remove(reqwest::header::AUTHORIZATION);
                Auth::Bearer(connection)
            }
        },
        None => Auth::None,
    };
    headers.insert(
        "webhook-id",
        HeaderValue::from_str(&event.id.to_string()).map_err(|e| Failure::config(e.to_string()))?,
    );
    let with_body =
        destination.method != reqwest::Method::GET && destination.method != reqwest::Method::HEAD;
    Ok(Outgoing {
        method: destination.method,
        url,
        query,
        headers,
        body: with_body.then_some(body),
        auth,
        rate_limit: destination.limit,
        signing: directory.signing.get(destination.subject).map(Arc::as_ref),
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
fn merge_body_parameters(body: Vec<u8>, params: &[Parameter]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&body) else {
        return body;
    };
    for p in params {
        object.insert(p.key.clone(), serde_json::Value::String(p.value.clone()));
    }
    serde_json::to_vec(&object).unwrap_or(body)
}

#[cfg(test)]
mod tests;
