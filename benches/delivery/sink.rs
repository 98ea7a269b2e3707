//! The delivery bench's sink: a hyper HTTP/1.1 server on 127.0.0.1:0 standing
//! in for every target. It answers `/t/{n}` with 200 at once, recording the
//! path's number, the `webhook-id` header and when the request's head arrived;
//! it never answers `/hang`, only counts it. Anything else gets a 400.
//!
//! It does not judge what it received; the bench does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// One delivery the sink received.
pub struct Received {
    pub path: u16,
    pub id: u128,
    pub at: Instant,
}

pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests to `/hang`.
    hung: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("sink address");
        let received = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
        let hung = Arc::new(AtomicU64::new(0));
        let (rec, hang) = (received.clone(), hung.clone());
        let accept = tokio::spawn(async move {
            // The connections live in this task: aborting it drops them all, hung ones too.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (rec, hang) = (rec.clone(), hang.clone());
                let service = hyper::service::service_fn(move |request| {
                    answer(request, rec.clone(), hang.clone())
                });
                connections.spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
                while connections.try_join_next().is_some() {}
            }
        });
        Sink {
            addr,
            received,
            hung,
            accept,
        }
    }

    /// Everything received so far, leaving the record empty.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Requests to `/hang` so far.
    pub fn hung(&self) -> u64 {
        self.hung.load(Ordering::Relaxed)
    }

    fn count(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until `n` deliveries arrived, nothing arrived for `stall`, or
    /// `limit` passed.
    pub async fn wait_for(&self, n: usize, stall: Duration, limit: Duration) {
        let give_up = Instant::now() + limit;
        let (mut last_count, mut last_change) = (self.count(), Instant::now());
        while last_count < n && Instant::now() < give_up && last_change.elapsed() < stall {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let count = self.count();
            if count != last_count {
                (last_count, last_change) = (count, Instant::now());
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn answer(
    request: Request<Incoming>,
    received: Arc<Mutex<Vec<Received>>>,
    hung: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    if request.uri().path() == "/hang" {
        hung.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }
    let path = request
        .uri()
        .path()
        .strip_prefix("/t/")
        .and_then(|n| n.parse().ok());
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| uuid::Uuid::try_parse_ascii(v.as_bytes()).ok());
    // Read the body so that the connection stays usable.
    let _ = request.into_body().collect().await;
    let status = match (path, id) {
        (Some(path), Some(id)) => {
            let id = id.as_u128();
            let mut received = received.lock().unwrap_or_else(PoisonError::into_inner);
            received.push(Received { path, id, at });
            StatusCode::OK
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}
