//! The router: reads each durable event once, matches it against the compiled
//! rules of its bus, and records a pending delivery for every target of every
//! matching rule.
//!
//! Progress is durable and exact: the pending keys of a step and the router's
//! new position are written in one atomic sled batch, so after a crash routing
//! resumes where the last applied batch ended, and no (target, seq) is recorded
//! twice or lost. The batch is not synced on its own: the events are already
//! durable, and a lost batch is simply routed again (sled recovers a prefix of
//! its writes, so a later delivery's removal is never kept without its batch).

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::delivery::Delivery;
use crate::delivery::pending::{self, PendingDelivery, ROUTER_POSITION_KEY};
use crate::event::Seq;
use crate::log::Log;
use crate::metrics::DeliveryMetrics;

pub struct Router {
    pub log: Log,
    pub catalog: Catalog,
    pub pending: sled::Tree,
    pub delivery: Delivery,
    pub metrics: DeliveryMetrics,
    pub batch: usize,
}

/// Where routing resumes: the first event not yet routed.
pub fn position(pending: &sled::Tree) -> Result<Seq, sled::Error> {
    Ok(pending
        .get(ROUTER_POSITION_KEY)?
        .and_then(|v| Seq::from_key(&v))
        .unwrap_or(Seq(0)))
}

impl Router {
    pub async fn run(self, stop: CancellationToken) {
        let mut durable = self.log.durable();
        let mut at = match position(&self.pending) {
            Ok(at) => at,
            Err(error) => {
                tracing::error!(%error, "cannot read the router position; routing stopped");
                return;
            }
        };
        tracing::info!(position = at.0, "router started");
        loop {
            // Shutting down does not wait for a backlog to be routed.
            if stop.is_cancelled() {
                return;
            }
            let until = *durable.borrow_and_update();
            self.metrics
                .router_lag_events
                .set(i64::try_from(until.0.saturating_sub(at.0)).unwrap_or(i64::MAX));
            if at >= until {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = durable.changed() => if changed.is_err() { return },
                }
                continue;
            }
            let step = {
                let log = self.log.clone();
                let catalog = self.catalog.clone();
                let pending = self.pending.clone();
                let metrics = self.metrics.clone();
                let batch = self.batch;
                tokio::task::spawn_blocking(move || {
                    route_step(&log, &catalog, &pending, &metrics, at, until, batch)
                })
                .await
            };
            match step {
                Ok(Ok((next, touched))) => {
                    at = next;
                    for (uid, added) in touched {
                        self.delivery.wake(uid, added);
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, position = at.0, "routing step failed; retrying in 1 s");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "routing step panicked; routing stopped");
                    return;
                }
            }
        }
    }
}

/// Routes events from `at` up to `until` (at most `max`); returns the new
/// position and how many deliveries each target got.
fn route_step(
    log: &Log,
    catalog: &Catalog,
    tree: &sled::Tree,
    metrics: &DeliveryMetrics,
    at: Seq,
    until: Seq,
    max: usize,
) -> Result<(Seq, HashMap<u64, usize>), sled::Error> {
    let events = log.read_range(at, until, max)?;
    let snapshot = catalog.snapshot();
    let mut batch = sled::Batch::default();
    let mut touched = HashMap::new();
    // With nothing readable left before `until` (a torn tail), skip to it.
    let mut next = if events.is_empty() { until } else { at };
    for (seq, event) in events {
        next = Seq(seq.0 + 1);
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                metrics.unroutable_records.inc();
                tracing::error!(%seq, %error, "log record cannot be routed; skipped");
                continue;
            }
        };
        metrics.routed_events.inc();
        let envelope = event.to_envelope_json();
        let uids = match snapshot.route(&event.fields.bus, envelope.as_bytes()) {
            Ok(uids) => uids,
            Err(error) => {
                metrics.unroutable_records.inc();
                tracing::error!(%seq, %error, "stored event is not matchable; skipped");
                continue;
            }
        };
        if uids.is_empty() {
            continue;
        }
        let value = pending::encode(&PendingDelivery {
            age_base_ms: event.fields.ingested_ms,
            ..PendingDelivery::default()
        });
        for uid in uids {
            batch.insert(&pending::key(uid, seq), value.clone());
            *touched.entry(uid).or_insert(0) += 1;
        }
    }
    batch.insert(ROUTER_POSITION_KEY, &next.to_key());
    tree.apply_batch(batch)?;
    Ok((next, touched))
}
