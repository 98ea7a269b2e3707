//! The supervisor: keeps one worker per target of the current catalog
//! snapshot. It starts workers for new targets, stops those of removed targets
//! and has their pending deliveries purged, and at startup purges deliveries
//! owed to targets that no longer exist.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

use super::{Inner, TargetStats, WorkerHandle, worker};
use crate::catalog::Snapshot;
use crate::pending::PendingDeliveries;

/// Reconciles once with the current snapshot, then with every new one until
/// delivery stops.
pub(super) fn start(inner: &Arc<Inner>) {
    let inner = inner.clone();
    let mut snapshots = inner.catalog.subscribe();
    let first = snapshots.borrow_and_update().clone();
    if inner.catalog.has_damaged_records() {
        // A target of an unreadable rule looks like an orphan: keep its
        // deliveries until the rule is readable again.
        tracing::error!(
            "damaged control-plane records: pending deliveries of unknown targets are kept"
        );
    } else {
        purge_orphans(&inner, &first);
    }
    reconcile(&inner, &first);
    let tasks = inner.tasks.clone();
    let handle = inner.handle.clone();
    tasks.spawn_on(
        async move {
            loop {
                tokio::select! {
                    () = inner.stop.cancelled() => break,
                    changed = snapshots.changed() => if changed.is_err() { break },
                }
                let snapshot = snapshots.borrow_and_update().clone();
                reconcile(&inner, &snapshot);
            }
        },
        &handle,
    );
}

/// Starts workers for new targets; stops those of removed targets and drops
/// their pending deliveries.
fn reconcile(inner: &Arc<Inner>, snapshot: &Snapshot) {
    let mut workers = inner.workers();
    let removed: Vec<u64> = workers
        .keys()
        .filter(|uid| !snapshot.targets.contains_key(uid))
        .copied()
        .collect();
    for uid in removed {
        if let Some(worker) = workers.remove(&uid) {
            worker.stop.cancel();
            worker.stats.forget_series(&inner.metrics);
            let pending = inner.pending.clone();
            inner
                .tasks
                .spawn_blocking_on(move || purge(&pending, uid), &inner.handle);
        }
    }
    for (uid, route) in &snapshot.targets {
        if workers.contains_key(uid) {
            continue;
        }
        let stats = Arc::new(TargetStats::new(route, &inner.metrics));
        let wake = Arc::new(Notify::new());
        let (inbox, inbox_rx) = mpsc::unbounded_channel();
        let stop = inner.stop.child_token();
        let worker = worker::Worker::new(
            *uid,
            inner.clone(),
            stats.clone(),
            wake.clone(),
            inbox_rx,
            stop.clone(),
        );
        let span = tracing::info_span!(
            "worker",
            bus = %route.bus,
            rule = %route.rule,
            target = %route.target.id,
            uid
        );
        inner
            .tasks
            .spawn_on(worker.run().instrument(span), &inner.handle);
        workers.insert(
            *uid,
            WorkerHandle {
                wake,
                inbox,
                stats,
                stop,
            },
        );
    }
}

/// Drops the pending deliveries of a removed target.
fn purge(pending: &PendingDeliveries, uid: u64) {
    match pending.purge_target(uid) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(
            uid,
            removed,
            "target removed; its pending deliveries were dropped"
        ),
        Err(error) => {
            tracing::error!(uid, %error, "cannot drop a removed target's pending deliveries")
        }
    }
}

/// Drops pending deliveries of targets that no longer exist (removed while
/// the server was down, or between a routing step and the removal).
fn purge_orphans(inner: &Inner, snapshot: &Snapshot) {
    let owed = match inner.pending.owed_targets() {
        Ok(owed) => owed,
        Err(error) => {
            tracing::error!(%error, "cannot list the targets with pending deliveries");
            return;
        }
    };
    for (uid, _) in owed {
        if !snapshot.targets.contains_key(&uid) {
            purge(&inner.pending, uid);
        }
    }
}
