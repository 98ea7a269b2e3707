//! The router: reads each durable event once, matches it against the compiled
//! rules of its bus, and records a pending delivery for every target of every
//! matching rule.
//!
//! Progress is durable and exact: the pending keys of a step and the router's
//! new position are written in one atomic sled batch, so after a crash routing
//! resumes where the last applied batch ended, and no (target, seq) is recorded
//! twice or lost. The archives take their entries just before (`archive`).
//! The batch is not synced on its own: the events are already
//! durable, and a lost batch is simply routed again (sled recovers a prefix of
//! its writes, so a later delivery's removal is never kept without its batch).
//!
//! A replayed record (one with a `ReplayMark`) goes only to its replay's rules
//! (`Replays::route_filter`) and is never offered to an archive.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::archive::Archives;
use crate::catalog::Catalog;
use crate::delivery::Delivery;
use crate::delivery::cache::RenderedEvent;
use crate::event::Seq;
use crate::log::Log;
use crate::metrics::DeliveryMetrics;
use crate::pending::{PendingDeliveries, PendingDelivery, Routed};
use crate::replay::{Replays, RouteFilter};
use crate::store::StoreError;

pub struct Router {
    pub log: Log,
    pub catalog: Catalog,
    pub pending: PendingDeliveries,
    pub delivery: Delivery,
    pub metrics: DeliveryMetrics,
    pub batch: usize,
    pub archives: Archives,
    /// Where replayed records find their rules.
    pub replays: Replays,
}

impl Router {
    pub async fn run(self, stop: CancellationToken) {
        let mut durable = self.log.durable();
        let mut at = match self.pending.position() {
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
                let delivery = self.delivery.clone();
                let archives = self.archives.clone();
                let replays = self.replays.clone();
                let batch = self.batch;
                tokio::task::spawn_blocking(move || {
                    route_step(
                        &log, &catalog, &pending, &delivery, &metrics, &archives, &replays, at,
                        until, batch,
                    )
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
#[allow(clippy::too_many_arguments)]
fn route_step(
    log: &Log,
    catalog: &Catalog,
    pending: &PendingDeliveries,
    delivery: &Delivery,
    metrics: &DeliveryMetrics,
    archives: &Archives,
    replays: &Replays,
    at: Seq,
    until: Seq,
    max: usize,
) -> Result<(Seq, HashMap<u64, usize>), StoreError> {
    let events = log.read_range(at, until, max)?;
    let snapshot = catalog.snapshot();
    let mut archived = archives.offering();
    let mut routed = Routed::default();
    let mut touched = HashMap::new();
    let mut rendered = Vec::new();
    // Replay filters looked up once per step and replay.
    let mut filters: HashMap<(String, u64), Option<RouteFilter>> = HashMap::new();
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
        // A replayed record: only its replay's rules, and never an archive.
        let (filter, envelope) = match &event.fields.replay {
            None => (RouteFilter::Every, archived.offer(seq, &event)),
            Some(mark) => {
                let found = filters
                    .entry((mark.name.clone(), mark.replay_id))
                    .or_insert_with(|| replays.route_filter(mark));
                match found {
                    Some(filter) => (filter.clone(), None),
                    None => {
                        tracing::warn!(%seq, replay = %mark.name, "replayed record of an unknown replay; not routed");
                        continue;
                    }
                }
            }
        };
        if !snapshot.routes_anything(&event.fields.bus) {
            continue;
        }
        let envelope = envelope.unwrap_or_else(|| event.to_envelope_json());
        let routed_to = match &filter {
            RouteFilter::Every => snapshot.route(&event.fields.bus, envelope.as_bytes()),
            RouteFilter::Rules(rules) => {
                snapshot.route_rules(&event.fields.bus, envelope.as_bytes(), rules)
            }
        };
        let uids = match routed_to {
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
        let owed = PendingDelivery::new(event.fields.ingested_ms);
        for uid in &uids {
            routed.owe(*uid, seq, &owed);
            *touched.entry(*uid).or_insert(0) += 1;
        }
        rendered.push((
            seq,
            Arc::new(RenderedEvent::new(event, envelope)),
            uids.len(),
        ));
    }
    // Before the deliveries exist, so that their workers find the events.
    delivery.remember_routed(rendered);
    // Before the position moves: a crash in between offers these again, and
    // the archives skip what they already have.
    archives.write(archived)?;
    pending.record_routed(routed, next)?;
    Ok((next, touched))
}
