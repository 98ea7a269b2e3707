//! One delivery attempt, the I/O around the pure parts: read the event if the
//! worker did not, build the request (`request::build`), wait for the
//! destination's rate limit, fetch an OAuth token, send with a timeout, and
//! classify the answer (`failure::Reason::for_status`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Inner;
use super::cache::RenderedEvent;
use super::failure::{Failure, Reason};
use super::request::{self, Auth, Directory};
use super::signing;
use crate::catalog::TargetRoute;
use crate::event::Seq;
use crate::pending::PendingDelivery;

/// How much of a failed response's body a dead letter keeps.
pub const KEPT_BODY_BYTES: usize = 1024;

pub(super) enum Outcome {
    Delivered {
        ingested_ms: i64,
        status: u16,
    },
    Failed {
        event: Arc<RenderedEvent>,
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
    /// When the attempt started, in delivery's clock.
    pub started_ms: i64,
    /// From the first byte sent to the answer or the failure; `None` if
    /// nothing was sent.
    pub latency: Option<Duration>,
}

pub(super) async fn run(
    inner: Arc<Inner>,
    uid: u64,
    seq: Seq,
    record: PendingDelivery,
    event: Option<Arc<RenderedEvent>>,
) -> Attempted {
    let started_ms = inner.clock.now_ms();
    let mut sent = None;
    let outcome = attempt(&inner, uid, seq, event, &mut sent).await;
    Attempted {
        seq,
        record,
        outcome,
        started_ms,
        latency: sent.map(|at: Instant| at.elapsed()),
    }
}

/// `event` is the event at `seq` as the router or the worker already
/// rendered it; `sent` is set when the request leaves.
async fn attempt(
    inner: &Inner,
    uid: u64,
    seq: Seq,
    event: Option<Arc<RenderedEvent>>,
    sent: &mut Option<Instant>,
) -> Outcome {
    let snapshot = inner.catalog.snapshot();
    let Some(route) = snapshot.targets.get(&uid).cloned() else {
        return Outcome::TargetGone;
    };
    let event = match event.map_or_else(
        || {
            inner
                .log
                .get(seq)
                .map(|e| e.map(|e| Arc::new(RenderedEvent::render(e))))
        },
        |e| Ok(Some(e)),
    ) {
        Ok(Some(event)) => event,
        Ok(None) => return Outcome::Unreadable(format!("event {seq} is not in the log")),
        // sled itself failed (I/O): the event may well be fine; try again.
        Err(crate::log::ReadError::Sled(error)) => return Outcome::Transient(error.to_string()),
        Err(error) => return Outcome::Unreadable(error.to_string()),
    };
    tracing::Span::current().record("event_id", tracing::field::display(&event.event.id));
    match send(
        inner,
        &Directory::new(inner.catalog.arns(), &snapshot),
        &route,
        &event,
        sent,
    )
    .await
    {
        Ok(status) => Outcome::Delivered {
            ingested_ms: event.event.fields.ingested_ms,
            status,
        },
        Err(failure) => Outcome::Failed {
            event,
            route,
            failure,
        },
    }
}

async fn send(
    inner: &Inner,
    directory: &Directory<'_>,
    route: &TargetRoute,
    event: &RenderedEvent,
    sent: &mut Option<Instant>,
) -> Result<u16, Failure> {
    let outgoing = request::build(directory, route, event)?;
    // Shared by the request and its one OAuth retry, not copied.
    let body = outgoing.body.map(bytes::Bytes::from);
    let parsed = inner.parse_url(&outgoing.url)?;
    if let Some((name, rate)) = outgoing.rate_limit {
        inner.limiter(name, rate).until_ready().await;
    }
    let timeout = Duration::from_millis(inner.config.request_timeout_ms);
    let mut headers = outgoing.headers;
    if let Some(keys) = outgoing.signing {
        sign(&mut headers, keys, inner.clock.now_ms(), body.as_deref())?;
    }
    let build = |bearer: Option<&str>| {
        let mut request = inner
            .client
            .request(outgoing.method.clone(), parsed.clone())
            .timeout(timeout)
            .headers(headers.clone());
        if !outgoing.query.is_empty() {
            request = request.query(&outgoing.query);
        }
        if let Some(body) = &body {
            request = request.body(body.clone());
        }
        match &outgoing.auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                request = request.basic_auth(username, Some(password));
            }
            Auth::Bearer(_) => {
                if let Some(token) = bearer {
                    request = request.bearer_auth(token);
                }
            }
        }
        request
    };
    let url = &outgoing.url;
    let oauth = match outgoing.auth {
        Auth::Bearer(connection) => Some(connection),
        _ => None,
    };
    let token = match oauth {
        Some(c) => Some(inner.tokens.token(&inner.client, c, timeout).await?),
        None => None,
    };
    *sent = Some(Instant::now());
    let mut response = build(token.as_deref())
        .send()
        .await
        .map_err(|e| transport_failure(e, url))?;
    if let (Some(c), Some(token)) = (oauth, &token)
        && matches!(response.status().as_u16(), 401 | 407)
    {
        // The token may have been revoked early: fetch a fresh one and try once more.
        inner.tokens.invalidate(&c.name, token);
        let fresh = inner.tokens.token(&inner.client, c, timeout).await?;
        response = build(Some(&fresh))
            .send()
            .await
            .map_err(|e| transport_failure(e, url))?;
    }
    classify(response, url, inner.clock.now_ms()).await
}

/// Adds the Standard Webhooks timestamp and signature(s) over the body as sent.
fn sign(
    headers: &mut reqwest::header::HeaderMap,
    keys: &crate::catalog::SigningKeys,
    now_ms: i64,
    body: Option<&[u8]>,
) -> Result<(), Failure> {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Failure::config("the request has no webhook-id to sign".to_owned()))?
        .to_owned();
    let timestamp = now_ms.div_euclid(1000);
    let signature = signing::signature_header(
        &keys.active(now_ms),
        &id,
        timestamp,
        body.unwrap_or_default(),
    );
    let value = |text: String| {
        reqwest::header::HeaderValue::try_from(text)
            .map_err(|_| Failure::config("signature header is not a header value".to_owned()))
    };
    headers.insert("webhook-timestamp", value(timestamp.to_string())?);
    headers.insert("webhook-signature", value(signature)?);
    Ok(())
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
    let reason = if error.is_timeout() {
        Reason::Timeout
    } else if error.is_connect() {
        Reason::Connection
    } else {
        Reason::Request
    };
    Failure::new(reason, format!("{url}: {}", describe_error(error)))
}

/// The success status, or the failure.
async fn classify(mut response: reqwest::Response, url: &str, now_ms: i64) -> Result<u16, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
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
    Err(Failure {
        reason: Reason::for_status(code),
        message: format!("{url} answered {status}"),
        status: Some(code),
        body: Some(String::from_utf8_lossy(&kept).into_owned()),
        retry_after_ms,
    })
}
