//! The retention sweep: every `log.retention_sweep_interval` it removes dead
//! letters past `dead_letters.retention`, then the log chunks nothing needs
//! that are older than `log.min_retention`, with their attempt history.
//!
//! Each removal is one sled batch of at most `CHUNKS_PER_BATCH` chunks (or a
//! few hundred letters) under `Store::removal_permit`, taken and dropped on a
//! blocking thread, never across an await; the holders are read again before
//! every batch. Also answers `GET /v1/log` (`status`).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Holders, Kept, decide};
use crate::attempts::AttemptHistory;
use crate::dead_letter::DeadLetters;
use crate::delivery::Clock;
use crate::event::{Seq, format_time};
use crate::log::{Log, Removed};
use crate::metrics::RetentionMetrics;
use crate::store::{Store, StoreError};

/// Log chunks removed by one sled batch at most (≤ 96 KiB each).
const CHUNKS_PER_BATCH: usize = 256;
/// Dead letters removed by one transaction at most.
const LETTERS_PER_BATCH: usize = 256;

/// Handle on retention; clones share it.
#[derive(Clone)]
pub struct Retention {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    log: Log,
    holders: Holders,
    dead_letters: DeadLetters,
    history: AttemptHistory,
    clock: Clock,
    min_retention: Duration,
    letter_retention: Duration,
    metrics: RetentionMetrics,
}

/// What one sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub log: Removed,
    pub attempt_records: u64,
    pub dead_letters: u64,
}

/// `GET /v1/log`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatus {
    /// Records in the log (exact once the startup check has finished).
    pub records: i64,
    /// Framed bytes of those records.
    pub record_bytes: i64,
    /// Bytes the whole database occupies on disk (every tree, sled's overhead).
    pub disk_bytes: u64,
    pub check_complete: bool,
    /// The first sequence number not yet used.
    pub next_seq: u64,
    pub min_retention: String,
    pub min_retention_secs: u64,
    /// `"0"` when letters are kept until purged.
    pub dead_letter_retention: String,
    pub removed_records: u64,
    pub removed_dead_letters: u64,
    /// `None` when the log is empty.
    pub oldest: Option<OldestKept>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OldestKept {
    pub seq: u64,
    /// Its ingestion time (RFC 3339), when the record is readable.
    pub time: Option<String>,
    pub age_secs: Option<f64>,
    /// Why it is still there.
    pub kept: Kept,
}

impl Retention {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<Store>,
        log: Log,
        holders: Holders,
        dead_letters: DeadLetters,
        history: AttemptHistory,
        clock: Clock,
        min_retention: Duration,
        letter_retention: Duration,
        metrics: RetentionMetrics,
    ) -> Retention {
        Retention {
            inner: Arc::new(Inner {
                store,
                log,
                holders,
                dead_letters,
                history,
                clock,
                min_retention,
                letter_retention,
                metrics,
            }),
        }
    }

    /// Runs the sweep every `every` until `stop`.
    pub async fn run(self, every: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.sweep_once()).await {
                Ok(Ok(report)) if report != SweepReport::default() => tracing::info!(
                    chunks = report.log.chunks,
                    records = report.log.records,
                    attempt_records = report.attempt_records,
                    dead_letters = report.dead_letters,
                    "retention removed"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "retention sweep failed"),
                Err(error) => tracing::warn!(%error, "retention sweep panicked"),
            }
        }
    }

    /// One sweep: dead letters past their retention, then the log's head.
    /// Blocking: call it off the async runtime.
    pub fn sweep_once(&self) -> Result<SweepReport, StoreError> {
        let inner = &*self.inner;
        let mut report = SweepReport {
            dead_letters: self.remove_old_letters()?,
            ..SweepReport::default()
        };
        // Until the startup check has counted every record, a removal would be
        // subtracted from gauges that do not yet hold it.
        if !inner.log.check_complete() {
            return Ok(report);
        }
        let min_retention_ms = millis(inner.min_retention);
        loop {
            let lowest = inner.holders.lowest()?;
            // Most sweeps remove nothing: look at the first chunk before
            // decoding a batch of them.
            let first = inner.log.oldest_chunks(1)?;
            let probe = decide(
                &first,
                lowest.as_ref(),
                inner.clock.now_ms(),
                min_retention_ms,
            );
            if probe.remove == 0 {
                break;
            }
            let chunks = inner.log.oldest_chunks(CHUNKS_PER_BATCH)?;
            let decision = decide(
                &chunks,
                lowest.as_ref(),
                inner.clock.now_ms(),
                min_retention_ms,
            );
            let Some(last) = decision.remove.checked_sub(1).map(|i| chunks[i]) else {
                break;
            };
            let (removed, history) = {
                let _permit = inner.store.removal_permit();
                let removed = inner.log.remove_chunks(&chunks[..decision.remove])?;
                (removed, inner.history.remove_below(last.end)?)
            };
            inner.metrics.removed_records.inc_by(removed.records);
            report.log.chunks += removed.chunks;
            report.log.records += removed.records;
            report.log.bytes += removed.bytes;
            report.attempt_records += history as u64;
            if decision.kept.is_some() {
                break;
            }
        }
        self.refresh_oldest_age()?;
        Ok(report)
    }

    /// Refreshes the oldest-record gauge (before /metrics renders). Blocking.
    pub fn refresh_gauges(&self) {
        if let Err(error) = self.refresh_oldest_age() {
            tracing::warn!(%error, "cannot read the oldest log record");
        }
    }

    fn remove_old_letters(&self) -> Result<u64, StoreError> {
        let inner = &*self.inner;
        if inner.letter_retention.is_zero() {
            return Ok(0);
        }
        let cutoff = inner
            .clock
            .now_ms()
            .saturating_sub(millis(inner.letter_retention));
        let mut total = 0;
        loop {
            let removed = {
                let _permit = inner.store.removal_permit();
                inner
                    .dead_letters
                    .remove_older_than(cutoff, LETTERS_PER_BATCH)?
            };
            inner.metrics.removed_dead_letters.inc_by(removed);
            total += removed;
            if removed < LETTERS_PER_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Sets the oldest-record gauge; returns the oldest record kept, if any.
    fn refresh_oldest_age(&self) -> Result<Option<(Seq, Option<i64>)>, StoreError> {
        let inner = &*self.inner;
        let first = inner.log.first_kept()?;
        let oldest = first.map(|(seq, event)| (seq, event.map(|e| e.fields.ingested_ms)));
        let age_secs = oldest
            .and_then(|(_, ms)| ms)
            .map_or(0, |ms| (inner.clock.now_ms() - ms).max(0) / 1000);
        inner.metrics.oldest_record_age_seconds.set(age_secs);
        Ok(oldest)
    }

    /// The log's size and its oldest record, and why it is kept. Blocking.
    pub fn status(&self) -> Result<LogStatus, StoreError> {
        let inner = &*self.inner;
        let oldest = match self.refresh_oldest_age()? {
            None => None,
            Some((seq, ingested_ms)) => {
                let lowest = inner.holders.lowest()?;
                let chunks = inner.log.oldest_chunks(1)?;
                let decision = decide(
                    &chunks,
                    lowest.as_ref(),
                    inner.clock.now_ms(),
                    millis(inner.min_retention),
                );
                let kept = match decision.kept {
                    Some(kept) if decision.remove == 0 => kept,
                    _ => Kept::AwaitingSweep,
                };
                let now = inner.clock.now_ms();
                Some(OldestKept {
                    seq: seq.0,
                    time: ingested_ms.map(format_time),
                    age_secs: ingested_ms.map(|ms| (now - ms).max(0) as f64 / 1000.0),
                    kept,
                })
            }
        };
        let (records, record_bytes) = inner.log.counts();
        Ok(LogStatus {
            records,
            record_bytes,
            disk_bytes: inner.store.size_on_disk(),
            check_complete: inner.log.check_complete(),
            next_seq: inner.log.next_seq().0,
            min_retention: crate::config::duration::display(inner.min_retention),
            min_retention_secs: inner.min_retention.as_secs(),
            dead_letter_retention: crate::config::duration::display(inner.letter_retention),
            removed_records: inner.metrics.removed_records.get(),
            removed_dead_letters: inner.metrics.removed_dead_letters.get(),
            oldest,
        })
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
