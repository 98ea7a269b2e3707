//! Delivery: one worker per target pushes the target's pending deliveries over
//! HTTP, with the input transformation, the connection's auth, the API
//! destination's rate limit, a timeout, retries with backoff, and dead letters.
//!
//! A supervisor keeps one worker per target of the current catalog snapshot:
//! it starts workers for new targets, stops those of removed targets and
//! drops their pending deliveries. Workers share an HTTP client (with a
//! connection pool per host) but nothing that can block: a slow, failing or
//! unreachable target only ever occupies its own worker's in-flight slots.

mod attempt;
mod auth;
pub mod cache;
mod clock;
mod failure;
mod request;
mod retry;
mod runtime;
pub mod signing;
mod status;
mod supervisor;
mod trace;
mod worker;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use clock::Clock;
pub use runtime::Runtime;
pub use status::{LastError, RecordedError, TargetStats, TargetStatus};
pub use trace::{AttemptView, DeliveryState, DeliveryTrace, LetterRef, Trace};

use crate::attempts::AttemptHistory;
use crate::catalog::Catalog;
use crate::config::DeliveryConfig;
use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::event::{Event, Seq};
use crate::log::Log;
use crate::metrics::DeliveryMetrics;
use crate::pending::PendingDeliveries;
use crate::store::StoreError;

/// `user-agent` of every delivery request.
pub const USER_AGENT: &str = concat!("stowage/", env!("CARGO_PKG_VERSION"));

/// Handle on delivery; clone it freely.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pending: PendingDeliveries,
    /// Events as the router rendered them, for the workers of their targets.
    cache: cache::EventCache,
    history: AttemptHistory,
    log: Log,
    catalog: Catalog,
    dead_letters: DeadLetters,
    config: DeliveryConfig,
    clock: Clock,
    client: reqwest::Client,
    tokens: auth::TokenCache,
    /// Parsed endpoint URLs by text: parsing (with IDNA) cost 11% of an attempt.
    urls: Mutex<HashMap<String, reqwest::Url>>,
    /// Per API destination: its rate and limiter (replaced when the rate changes).
    limiters: Mutex<HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>>,
    workers: Mutex<HashMap<u64, WorkerHandle>>,
    metrics: DeliveryMetrics,
    /// Delivery's own runtime (see `Runtime`): every delivery task runs there.
    handle: tokio::runtime::Handle,
    tasks: TaskTracker,
    stop: CancellationToken,
}

struct WorkerHandle {
    wake: Arc<Notify>,
    inbox: mpsc::UnboundedSender<Seq>,
    stats: Arc<TargetStats>,
    stop: CancellationToken,
}

/// What a redrive did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redriven {
    pub redriven: usize,
    /// Letters left in place, with why (their target no longer exists).
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

impl Delivery {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pending: PendingDeliveries,
        history: AttemptHistory,
        log: Log,
        catalog: Catalog,
        dead_letters: DeadLetters,
        config: DeliveryConfig,
        metrics: DeliveryMetrics,
        handle: tokio::runtime::Handle,
        stop: CancellationToken,
    ) -> Result<Delivery, StoreError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(config.request_timeout_ms))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| StoreError::Sled(sled::Error::Unsupported(format!("HTTP client: {e}"))))?;
        Ok(Delivery {
            inner: Arc::new(Inner {
                pending,
                cache: cache::EventCache::new(config.event_cache_bytes),
                history,
                log,
                catalog,
                dead_letters,
                config,
                clock: Clock::default(),
                client,
                tokens: auth::TokenCache::default(),
                urls: Mutex::new(HashMap::new()),
                limiters: Mutex::new(HashMap::new()),
                workers: Mutex::new(HashMap::new()),
                metrics,
                handle,
                tasks: TaskTracker::new(),
                stop,
            }),
        })
    }

    pub fn pending(&self) -> &PendingDeliveries {
        &self.inner.pending
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn history(&self) -> &AttemptHistory {
        &self.inner.history
    }

    /// Where event `seq`'s deliveries stand, per target (reads the store:
    /// call it off the async runtime).
    pub fn trace(&self, seq: Seq, event: &Event) -> Result<Trace, StoreError> {
        trace::trace(&self.inner, seq, event)
    }

    /// Starts the supervisor: workers follow the catalog from now on.
    pub fn start(&self) {
        supervisor::start(&self.inner);
    }

    /// Runs `future` on delivery's runtime, tracked for shutdown.
    pub fn spawn<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn_on(future, &self.inner.handle);
    }

    /// Stops every worker and waits for them (in-flight requests are dropped;
    /// their deliveries stay pending and are sent again after a restart).
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Keeps routed events, rendered, for the workers of the targets they
    /// matched: (seq, event, how many targets). Call it before the pending
    /// deliveries are recorded, so that a worker finds them here.
    pub fn remember_routed(&self, routed: Vec<(Seq, Arc<cache::RenderedEvent>, usize)>) {
        self.inner.cache.insert_all(routed);
    }

    /// The router recorded `added` new deliveries for target `uid`.
    pub fn wake(&self, uid: u64, added: usize) {
        let workers = self.inner.workers();
        if let Some(worker) = workers.get(&uid) {
            worker
                .stats
                .pending
                .add(i64::try_from(added).unwrap_or(i64::MAX));
            worker.wake.notify_one();
        }
    }

    /// Moves dead letters back to their targets' pending deliveries, to be
    /// delivered through the normal path with fresh retry limits.
    pub fn redrive(&self, letters: Vec<DeadLetter>) -> Result<Redriven, StoreError> {
        let mut out = Redriven::default();
        for letter in letters {
            // Under the workers' lock: a target being removed loses its worker
            // under the same lock before its pending deliveries are purged, so
            // a letter is only moved back to a target that still has a worker.
            let workers = self.inner.workers();
            let Some(worker) = workers.get(&letter.target_uid) else {
                out.skipped.push(Skipped {
                    id: letter.id.to_string(),
                    reason: format!(
                        "target {} of rule {} no longer exists",
                        letter.target_id, letter.rule
                    ),
                });
                continue;
            };
            let moved = self
                .inner
                .pending
                .redrive(&letter, self.inner.clock.now_ms())?;
            if moved {
                out.redriven += 1;
                worker.stats.pending.inc();
                let _ = worker.inbox.send(letter.seq);
            }
        }
        self.inner.dead_letters.sync()?;
        Ok(out)
    }

    /// Every target's status, in (bus, rule, target) order.
    pub fn status(&self) -> Vec<TargetStatus> {
        let snapshot = self.inner.catalog.snapshot();
        let now = self.inner.clock.now_ms();
        let workers = self.inner.workers();
        let mut out: Vec<TargetStatus> = workers
            .values()
            .filter_map(|w| {
                let route = snapshot.targets.get(&w.stats.uid)?;
                let age_ms = self
                    .oldest_pending_ms(w.stats.uid)
                    .map(|ms| (now - ms).max(0));
                w.stats
                    .oldest_gauge(&self.inner.metrics)
                    .set(age_ms.map_or(0, |ms| ms / 1000));
                let age = age_ms.map(|ms| ms as f64 / 1000.0);
                Some(w.stats.status(route, age, now))
            })
            .collect();
        out.sort_by(|a, b| (&a.bus, &a.rule, &a.target_id).cmp(&(&b.bus, &b.rule, &b.target_id)));
        out
    }

    /// Refreshes the gauges that are computed on demand (before /metrics renders).
    pub fn refresh_gauges(&self) {
        let _ = self.status();
    }

    /// Ingestion time of the oldest pending delivery of `uid`.
    fn oldest_pending_ms(&self, uid: u64) -> Option<i64> {
        let seq = self.inner.pending.lowest_owed(uid).ok()??;
        let event = self.inner.log.get(seq).ok()??;
        Some(event.fields.ingested_ms)
    }
}

/// Most parsed URLs kept; past it the cache starts over.
const URL_CACHE_ENTRIES: usize = 4096;

impl Inner {
    /// `url` parsed, from the cache when it was seen before.
    fn parse_url(&self, url: &str) -> Result<reqwest::Url, failure::Failure> {
        let mut urls = self.urls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(parsed) = urls.get(url) {
            return Ok(parsed.clone());
        }
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| failure::Failure::config(format!("invalid endpoint URL: {e}")))?;
        if urls.len() >= URL_CACHE_ENTRIES {
            urls.clear();
        }
        urls.insert(url.to_owned(), parsed.clone());
        Ok(parsed)
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<u64, WorkerHandle>> {
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared limiter of API destination `name` at `rate` per second. A
    /// burst of one: requests are spaced evenly, never bunched.
    fn limiter(&self, name: &str, rate: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((r, limiter)) = limiters.get(name)
            && *r == rate
        {
            return limiter.clone();
        }
        let period = Duration::from_secs(1) / rate.max(1);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let limiter = Arc::new(RateLimiter::direct(quota));
        limiters.insert(name.to_owned(), (rate, limiter.clone()));
        limiter
    }
}
