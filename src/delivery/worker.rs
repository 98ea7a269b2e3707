//! One target's worker: takes its due pending deliveries in log order, keeps
//! up to `max_in_flight` attempts running, schedules retries, and moves what
//! cannot be delivered to its dead-letter queue.
//!
//! The `pending` tree is the truth; the worker's memory is a cursor over it
//! (`scan_from`: keys below it have been picked up), the retries it scheduled
//! (`waiting`, by due time) and the attempts in flight. New keys only appear
//! at or after the cursor (the router appends in log order), except redriven
//! ones, which come through the inbox. What happens once an attempt ends is
//! `worker/settle.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::attempt::{self, Attempted};
use super::cache::RenderedEvent;
mod settle;

use super::{Inner, TargetStats};
use crate::attempts::Round;
use crate::event::{Event, Seq};
use crate::pending::PendingDelivery;
use crate::store::StoreError;

/// Most scheduled retries a worker holds in memory before it stops reading
/// further pending deliveries.
const MAX_WAITING: usize = 10_000;

pub(super) struct Worker {
    uid: u64,
    inner: Arc<Inner>,
    stats: Arc<TargetStats>,
    wake: Arc<Notify>,
    /// Changes when delivery's clock is moved: due times are looked at again.
    clock_moved: watch::Receiver<()>,
    inbox: mpsc::UnboundedReceiver<Seq>,
    stop: CancellationToken,
    /// Keys below this have been picked up.
    scan_from: Seq,
    /// The tree had no more keys at or after `scan_from` when last read.
    scan_exhausted: bool,
    /// Scheduled retries (and redriven letters): (due ms, seq) → state.
    waiting: BTreeMap<(i64, Seq), PendingDelivery>,
    /// In `waiting` or in flight.
    scheduled: HashSet<Seq>,
    flights: JoinSet<Attempted>,
    /// What each flight is delivering, to recover it if its task panics.
    flight_ids: HashMap<tokio::task::Id, (Seq, PendingDelivery)>,
    /// Settled as delivered, not yet removed from the pending tree.
    delivered: Vec<(u64, Seq)>,
    /// Attempts settled, not yet written to the history.
    history: Round,
}

impl Worker {
    pub(super) fn new(
        uid: u64,
        inner: Arc<Inner>,
        stats: Arc<TargetStats>,
        wake: Arc<Notify>,
        inbox: mpsc::UnboundedReceiver<Seq>,
        stop: CancellationToken,
    ) -> Worker {
        Worker {
            uid,
            clock_moved: inner.clock.moved(),
            inner,
            stats,
            wake,
            inbox,
            stop,
            scan_from: Seq(0),
            scan_exhausted: false,
            waiting: BTreeMap::new(),
            scheduled: HashSet::new(),
            flights: JoinSet::new(),
            flight_ids: HashMap::new(),
            delivered: Vec::new(),
            history: Round::default(),
        }
    }

    pub(super) async fn run(mut self) {
        // Counting a large backlog takes a while: off the runtime's threads.
        let pending = self.inner.pending.clone();
        let uid = self.uid;
        let count = tokio::task::spawn_blocking(move || pending.backlog(uid))
            .await
            .unwrap_or(0);
        self.stats
            .pending
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        let max = self.inner.config.max_in_flight;
        loop {
            let now = self.inner.clock.now_ms();
            self.launch_due(now, max);
            if let Err(error) = self.scan(now, max) {
                tracing::error!(uid = self.uid, %error, "reading pending deliveries failed");
            }
            // With every slot taken, a due retry waits for a flight to end;
            // sleeping until its (past) due time would spin.
            let next_due = self
                .waiting
                .keys()
                .next()
                .map(|(due, _)| *due)
                .filter(|_| self.flights.len() < max);
            let sleep = next_due.map_or(Duration::from_secs(3600), |due| {
                Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
            });
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = self.wake.notified() => self.scan_exhausted = false,
                Ok(()) = self.clock_moved.changed() => {}
                Some(seq) = self.inbox.recv() => self.take_redriven(seq),
                Some(done) = self.flights.join_next_with_id(), if !self.flights.is_empty() => {
                    // Settle every attempt that has ended, then remove all
                    // their delivered entries in one write.
                    self.finish(done);
                    while let Some(done) = self.flights.try_join_next_with_id() {
                        self.finish(done);
                    }
                    self.complete_delivered();
                    self.write_history();
                }
                () = tokio::time::sleep(sleep), if next_due.is_some() => {}
            }
        }
        self.flights.abort_all();
        self.stats.in_flight.set(0);
    }

    fn launch(&mut self, seq: Seq, record: PendingDelivery, event: Option<Arc<RenderedEvent>>) {
        self.scheduled.insert(seq);
        self.stats.in_flight.inc();
        // A child of the worker's span; the event id is recorded once known.
        let span = tracing::info_span!("attempt", seq = seq.0, event_id = tracing::field::Empty);
        let handle = self.flights.spawn(
            attempt::run(self.inner.clone(), self.uid, seq, record.clone(), event).instrument(span),
        );
        self.flight_ids.insert(handle.id(), (seq, record));
    }

    fn finish(&mut self, done: Result<(tokio::task::Id, Attempted), tokio::task::JoinError>) {
        match done {
            Ok((id, attempted)) => {
                self.flight_ids.remove(&id);
                self.settle(attempted);
            }
            Err(error) => self.recover(error),
        }
    }

    fn launch_due(&mut self, now: i64, max: usize) {
        while self.flights.len() < max {
            let Some(entry) = self.waiting.first_entry() else {
                return;
            };
            if entry.key().0 > now {
                return;
            }
            let ((_, seq), record) = entry.remove_entry();
            self.scheduled.remove(&seq);
            self.launch(seq, record, None);
        }
    }

    /// Picks up keys at and after the cursor while there is room in flight.
    fn scan(&mut self, now: i64, max: usize) -> Result<(), StoreError> {
        // While many deliveries already wait for a retry (a target that is
        // down), leave the rest in the tree: memory stays bounded.
        while !self.scan_exhausted && self.flights.len() < max && self.waiting.len() < MAX_WAITING {
            let want = max - self.flights.len();
            let found = self.inner.pending.scan(self.uid, self.scan_from, want)?;
            let mut due = Vec::new();
            let found_count = found.len();
            for (seq, record) in found {
                self.scan_from = Seq(seq.0 + 1);
                if self.scheduled.contains(&seq) {
                    continue;
                }
                if record.due_ms > now {
                    self.scheduled.insert(seq);
                    self.waiting.insert((record.due_ms, seq), record);
                } else {
                    due.push((seq, record));
                }
            }
            // What the router rendered for this target; the rest from the log.
            let mut events: HashMap<Seq, Arc<RenderedEvent>> = due
                .iter()
                .filter_map(|(seq, _)| Some((*seq, self.inner.cache.take(*seq)?)))
                .collect();
            let missing: Vec<Seq> = due
                .iter()
                .map(|(seq, _)| *seq)
                .filter(|seq| !events.contains_key(seq))
                .collect();
            for (seq, event) in self.read_events(&missing) {
                events.insert(seq, Arc::new(RenderedEvent::render(event)));
            }
            for (seq, record) in due {
                let event = events.remove(&seq);
                self.launch(seq, record, event);
            }
            if found_count < want {
                self.scan_exhausted = true;
            }
        }
        Ok(())
    }

    /// The events of `due` in one pass over the log when they lie close
    /// together (the usual case: a target's new deliveries are consecutive
    /// events); otherwise each attempt reads its own.
    fn read_events(&self, due: &[Seq]) -> HashMap<Seq, Event> {
        let (Some(first), Some(last)) = (due.first(), due.last()) else {
            return HashMap::new();
        };
        let span = last.0 - first.0 + 1;
        if due.len() < 2 || span > 4 * due.len() as u64 {
            return HashMap::new();
        }
        let wanted: HashSet<Seq> = due.iter().copied().collect();
        let Ok(items) = self.inner.log.read_range(
            *first,
            Seq(last.0 + 1),
            usize::try_from(span).unwrap_or(usize::MAX),
        ) else {
            return HashMap::new();
        };
        items
            .into_iter()
            .filter(|(seq, _)| wanted.contains(seq))
            .filter_map(|(seq, event)| event.ok().map(|e| (seq, e)))
            .collect()
    }

    /// A redriven delivery: due now. Ahead of the cursor the scan finds it.
    fn take_redriven(&mut self, seq: Seq) {
        if seq >= self.scan_from {
            self.scan_exhausted = false;
            return;
        }
        if self.scheduled.contains(&seq) {
            return;
        }
        if let Ok(Some(record)) = self.inner.pending.get(self.uid, seq) {
            self.scheduled.insert(seq);
            self.waiting.insert((0, seq), record);
        }
    }
}
