//! `Sink`: a real HTTP/1.1 server on 127.0.0.1:0 inside the test process that
//! stands in for a delivery Target. It records every request and answers by a
//! `Behaviour` that a test may change at any time, for all paths or per path; it
//! can also act as an OAuth client-credentials token endpoint and guard paths with
//! the Bearer token it issued last.
//!
//! It judges nothing: tests read `received()` and decide what a correct delivery
//! was. It runs on the test's tokio runtime, so a test that blocks its thread
//! stalls it. Dropping it aborts the accept loop and every connection (hanging
//! ones included), which closes the port.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

mod behaviour;

pub use behaviour::{Answer, Behaviour};
use behaviour::{Control, Plan};

/// One request, read whole.
#[derive(Clone)]
pub struct Received {
    pub method: String,
    pub path_and_query: String,
    /// Lowercased names; a repeated header's values joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When its head arrived.
    pub at: Instant,
}

impl Received {
    /// The path without its query.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }

    /// The query string's `(key, value)` pairs, decoded, sorted.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(&format!("http://sink{}", self.path_and_query))
            .unwrap_or_else(|e| panic!("sink: {:?} is no path ({e})", self.path_and_query));
        let mut pairs: Vec<_> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    /// The header's value, whatever the case of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("sink: request body is not JSON ({e}): {self:?}"))
    }
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: String = self.body_text().chars().take(300).collect();
        write!(
            f,
            "{} {} {:?} {body}",
            self.method, self.path_and_query, self.headers
        )
    }
}

struct State {
    control: Mutex<Control>,
    received: Mutex<Vec<Received>>,
    /// Bumped after each request is recorded; waiters re-check on change.
    arrivals: watch::Sender<u64>,
}

/// Locks, ignoring poison: a panicking `Custom` closure must not take the sink down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct Sink {
    addr: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl Sink {
    /// A sink answering `200` to everything.
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink to 127.0.0.1:0");
        let addr = listener.local_addr().expect("the sink's bound address");
        let state = Arc::new(State {
            control: Mutex::new(Control::new()),
            received: Mutex::new(Vec::new()),
            arrivals: watch::Sender::new(0),
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        Sink {
            addr,
            state,
            server,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sets the behaviour of paths that have none of their own.
    pub fn set(&self, behaviour: Behaviour) {
        lock(&self.state.control).set(None, behaviour);
    }

    /// Sets the behaviour of `path` (exact, query ignored).
    pub fn set_for(&self, path: &str, behaviour: Behaviour) {
        lock(&self.state.control).set(Some(path), behaviour);
    }

    /// Makes `path` a token endpoint issuing tokens valid for `lifetime_secs`
    /// (advertised only: the sink never expires a token by itself).
    pub fn oauth_token_endpoint(&self, path: &str, lifetime_secs: u64) {
        self.set_for(path, Behaviour::OAuthToken { lifetime_secs });
    }

    /// `path` answers 401 (recorded, not counted by its behaviour) unless it gets
    /// `Authorization: Bearer <latest token>`; otherwise its behaviour answers.
    pub fn require_bearer(&self, path: &str) {
        lock(&self.state.control).protect(path);
    }

    /// Stops accepting the latest token, until the next one is issued.
    pub fn revoke_tokens(&self) {
        lock(&self.state.control).revoke_tokens();
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state.control).tokens_issued()
    }

    /// Every request so far, in arrival order (token requests included).
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    /// The requests so far to `path` (query ignored).
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        on_path(&lock(&self.state.received), path)
    }

    pub fn count(&self) -> usize {
        lock(&self.state.received).len()
    }

    /// Waits until at least `n` requests arrived; returns all of them. Panics,
    /// saying how many arrived, after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        match self.wait_until(timeout, |all| all.len() >= n).await {
            Some(all) => all,
            None => panic!(
                "sink: expected {n} requests within {timeout:?}, {} arrived: {:#?}",
                self.count(),
                self.received()
            ),
        }
    }

    /// Waits until at least `n` requests to `path` arrived; returns those. Panics,
    /// saying how many arrived, after `timeout`.
    pub async fn wait_for_on(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let ready = |all: &[Received]| all.iter().filter(|r| r.path() == path).count() >= n;
        match self.wait_until(timeout, ready).await {
            Some(all) => on_path(&all, path),
            None => panic!(
                "sink: expected {n} requests to {path} within {timeout:?}, {} arrived: {:#?}",
                self.received_on(path).len(),
                self.received()
            ),
        }
    }

    /// Waits until no request has arrived for `quiet`; returns every request.
    /// Panics if requests keep arriving past `timeout`.
    pub async fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut arrivals = self.state.arrivals.subscribe();
        loop {
            arrivals.borrow_and_update();
            let until = Instant::now() + quiet;
            assert!(
                until <= deadline,
                "sink: not quiet for {quiet:?} within {timeout:?}; {} arrived",
                self.count()
            );
            if tokio::time::timeout_at(until.into(), arrivals.changed())
                .await
                .is_err()
            {
                return self.received();
            }
        }
    }

    /// Waits until `ready` holds for the requests so far; `None` at the deadline.
    async fn wait_until(
        &self,
        timeout: Duration,
        ready: impl Fn(&[Received]) -> bool,
    ) -> Option<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut arrivals = self.state.arrivals.subscribe();
        loop {
            // Marked seen before looking, so that an arrival after the look wakes us.
            arrivals.borrow_and_update();
            {
                let all = lock(&self.state.received);
                if ready(&all) {
                    return Some(all.clone());
                }
            }
            // The sender lives in `state`, which we hold: `changed` cannot fail.
            if tokio::time::timeout_at(deadline, arrivals.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: aborting it aborts them.
        self.server.abort();
    }
}

/// Requests per second between the first and the last of `received`.
pub fn rate_per_sec(received: &[Received]) -> f64 {
    assert!(
        received.len() >= 2,
        "a rate needs two requests, got {}",
        received.len()
    );
    let first = received.iter().map(|r| r.at).min().expect("not empty");
    let last = received.iter().map(|r| r.at).max().expect("not empty");
    let intervals = u32::try_from(received.len() - 1).expect("fewer than 2^32 requests");
    f64::from(intervals) / (last - first).as_secs_f64()
}

/// `http://127.0.0.1:PORT{path}` on a port nobody listens on (bound, then
/// released), so that connecting is refused.
pub fn closed_url(path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to release it");
    let addr = listener.local_addr().expect("the bound address");
    drop(listener);
    format!("http://{addr}{path}")
}

fn on_path(all: &[Received], path: &str) -> Vec<Received> {
    all.iter().filter(|r| r.path() == path).cloned().collect()
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Latency only; a failure here changes no answer.
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    connections.spawn(async move {
                        let service = service_fn(move |request| answer(Arc::clone(&state), request));
                        // A client hanging up mid-request ends its connection; nothing to report.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of descriptors, or a connection reset while queued: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            // Reaps finished connections; a `Custom` panic has already been printed.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    let received = Received {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        headers: lowercased(&parts.headers),
        body,
        at,
    };
    let plan = lock(&state.control).decide(&received);
    lock(&state.received).push(received);
    state.arrivals.send_modify(|n| *n += 1);
    let answer = match plan {
        Plan::Now(answer) => answer,
        Plan::After(delay, answer) => {
            tokio::time::sleep(delay).await;
            answer
        }
        Plan::Never => std::future::pending().await,
    };
    let status = StatusCode::from_u16(answer.status)
        .unwrap_or_else(|_| panic!("sink: {} is not an HTTP status", answer.status));
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = status;
    for (name, value) in &answer.headers {
        let name = hyper::header::HeaderName::try_from(name.as_str())
            .unwrap_or_else(|e| panic!("sink: bad header name {name:?}: {e}"));
        let value = hyper::header::HeaderValue::try_from(value.as_str())
            .unwrap_or_else(|e| panic!("sink: bad header value {value:?}: {e}"));
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// Header names are lowercase in `HeaderMap` already; repeated values are joined.
fn lowercased(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_string())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}
