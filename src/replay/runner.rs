//! One replay's background task: reads its archive's window in (time, seq)
//! order in bounded batches, appends each batch to the log as marked events,
//! then saves the cursor, at the configured rate, until the window is done or
//! the replay is cancelled.
//!
//! Memory is bounded by `batch_events` times the pipeline depth whatever the
//! window. Several batches are appended at once (they share the log's group
//! commits); the cursor moves only past batches whose append is durable, in
//! order. A crash between an append and its cursor save replays that batch
//! again on resume: at-least-once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Replays;
use super::record::{Position, ReplayRecord, ReplayState, batch_size, pace_delay_ms};
use crate::event::{NewEvent, ReplayMark, now_ms};
use crate::log::{AppendError, AppendRequest, Appended, Log};

/// Batches being appended at once.
const PIPELINE_DEPTH: usize = 16;
/// Entries counted per scan when sizing the window.
pub(super) const COUNT_BATCH: usize = 8192;

type Append = JoinHandle<Vec<Result<Appended, AppendError>>>;

/// A batch whose append is in flight.
struct InFlight {
    append: Append,
    last: Position,
}

/// How a batch's append ended.
enum Outcome {
    Durable(u64),
    /// The log is shutting down: stop, resume at the next start.
    Stopped,
    Failed(String),
}

pub(super) async fn run(
    replays: Replays,
    name: &str,
    cancel: CancellationToken,
    since_start: Arc<AtomicU64>,
) {
    let Some(record) = replays.get(name) else {
        return;
    };
    let source = replays.0.source.clone();
    let _hold = source.hold(&record.archive);
    let stop = replays.0.stop.clone();
    let config = replays.0.config.clone();

    let record = if record.total.is_none() {
        match count_window(&replays, &record).await {
            Ok(total) => match replays.update(name, |r| {
                let mut next = r.clone();
                next.total = Some(total);
                if next.state == ReplayState::Starting {
                    next.state = ReplayState::Running;
                }
                Ok(next)
            }) {
                Ok(record) => record,
                Err(error) => return fail(&replays, name, &error.to_string()),
            },
            Err(error) => return fail(&replays, name, &error),
        }
    } else {
        record
    };

    let batch = batch_size(config.batch_events, config.events_per_sec);
    let paced_from = Instant::now();
    let mut sent = 0u64;
    let mut cursor = record.cursor;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    loop {
        if stop.is_cancelled() {
            let _ = drain(&replays, name, &mut in_flight, &since_start).await;
            return;
        }
        if cancel.is_cancelled() {
            if drain(&replays, name, &mut in_flight, &since_start).await {
                finish(&replays, name, |_| ReplayState::Cancelled);
            }
            return;
        }
        let read = read_batch(&replays, &record, cursor, batch).await;
        let (positions, requests) = match read {
            Ok(read) => read,
            Err(error) => {
                let _ = drain(&replays, name, &mut in_flight, &since_start).await;
                return fail(&replays, name, &error);
            }
        };
        let Some(last) = positions.last().copied() else {
            if drain(&replays, name, &mut in_flight, &since_start).await {
                finish(&replays, name, ReplayState::on_exhausted);
            }
            return;
        };
        cursor = Some(last);
        let n = u64::try_from(positions.len()).unwrap_or(u64::MAX);
        let elapsed = u64::try_from(paced_from.elapsed().as_millis()).unwrap_or(u64::MAX);
        let delay = pace_delay_ms(sent, n, elapsed, config.events_per_sec);
        if delay > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay)) => {}
                () = cancel.cancelled() => continue,
                () = stop.cancelled() => continue,
            }
        }
        sent += n;
        let log = replays.0.log.clone();
        in_flight.push_back(InFlight {
            append: tokio::spawn(async move { log.append_all(requests).await }),
            last,
        });
        // The cursor follows every durable batch, not only a full pipeline's.
        while in_flight.len() >= PIPELINE_DEPTH
            || in_flight.front().is_some_and(|f| f.append.is_finished())
        {
            if !complete_front(&replays, name, &mut in_flight, &since_start).await {
                return;
            }
        }
    }
}

/// Waits for every in-flight batch in order; false if the replay must stop
/// (failed or shutting down).
async fn drain(
    replays: &Replays,
    name: &str,
    in_flight: &mut VecDeque<InFlight>,
    since_start: &AtomicU64,
) -> bool {
    while !in_flight.is_empty() {
        if !complete_front(replays, name, in_flight, since_start).await {
            return false;
        }
    }
    true
}

/// Waits for the oldest batch and moves the cursor past it.
async fn complete_front(
    replays: &Replays,
    name: &str,
    in_flight: &mut VecDeque<InFlight>,
    since_start: &AtomicU64,
) -> bool {
    let Some(front) = in_flight.pop_front() else {
        return true;
    };
    let outcome = match front.append.await {
        Ok(results) => outcome(results),
        Err(error) => Outcome::Failed(format!("append task failed: {error}")),
    };
    match outcome {
        Outcome::Durable(appended) => {
            let saved = replays.update(name, |r| Ok(r.advanced(front.last, appended)));
            if let Err(error) = saved {
                fail(replays, name, &error.to_string());
                return false;
            }
            since_start.fetch_add(appended, Ordering::Relaxed);
            if let Some(progress) = replays.progress(name) {
                let ratio = progress
                    .total
                    .filter(|t| *t > 0)
                    .map(|t| (progress.replayed as f64 / t as f64).min(1.0));
                replays
                    .0
                    .metrics
                    .replayed(name, appended, ratio, progress.rate);
            }
            true
        }
        Outcome::Stopped => {
            in_flight.clear();
            false
        }
        Outcome::Failed(reason) => {
            in_flight.clear();
            fail(replays, name, &reason);
            false
        }
    }
}

fn outcome(results: Vec<Result<Appended, AppendError>>) -> Outcome {
    let mut appended = 0;
    for result in results {
        match result {
            Ok(_) => appended += 1,
            Err(AppendError::Unavailable {
                reason: "shutting down",
            }) => return Outcome::Stopped,
            Err(error) => {
                return Outcome::Failed(format!("the log refused replayed events: {error}"));
            }
        }
    }
    Outcome::Durable(appended)
}

/// The next batch's positions and, for each whose log record is readable, the
/// append of its marked copy.
async fn read_batch(
    replays: &Replays,
    record: &ReplayRecord,
    after: Option<Position>,
    limit: usize,
) -> Result<(Vec<Position>, Vec<AppendRequest>), String> {
    let source = replays.0.source.clone();
    let log: Log = replays.0.log.clone();
    let (archive, from, to) = (record.archive.clone(), record.from_ms, record.to_ms);
    let (name, replay_id) = (record.name.clone(), record.replay_id);
    let read = tokio::task::spawn_blocking(move || {
        let positions = source
            .scan(&archive, from, to, after, limit)
            .map_err(|e| format!("reading archive {archive} failed: {e}"))?;
        // An archive deleted under the replay scans as empty: not a completion.
        if positions.is_empty()
            && source
                .describe(&archive)
                .map_err(|e| format!("reading archive {archive} failed: {e}"))?
                .is_none()
        {
            return Err(format!("Archive {archive} was deleted during the replay."));
        }
        let now = now_ms();
        let mut requests = Vec::with_capacity(positions.len());
        for position in &positions {
            match log.get(position.seq) {
                Ok(Some(event)) => {
                    let mark = ReplayMark {
                        name: name.clone(),
                        replay_id,
                        original: position.seq,
                        original_id: event.id,
                    };
                    requests.push(AppendRequest {
                        event: NewEvent {
                            ingested_ms: now,
                            replay: Some(mark),
                            ..event.fields
                        },
                        idempotency_key: None,
                    });
                }
                Ok(None) => {
                    tracing::warn!(seq = %position.seq, "archived event no longer in the log; skipped")
                }
                Err(error) => {
                    tracing::error!(seq = %position.seq, %error, "archived event unreadable; skipped")
                }
            }
        }
        Ok((positions, requests))
    });
    read.await
        .map_err(|e| format!("reading the archive panicked: {e}"))?
}

/// Counts the window's entries in bounded scans.
async fn count_window(replays: &Replays, record: &ReplayRecord) -> Result<u64, String> {
    let source = replays.0.source.clone();
    let (archive, from, to) = (record.archive.clone(), record.from_ms, record.to_ms);
    let counted = tokio::task::spawn_blocking(move || {
        let mut total = 0u64;
        let mut after = None;
        loop {
            let batch = source
                .scan(&archive, from, to, after, COUNT_BATCH)
                .map_err(|e| format!("reading archive {archive} failed: {e}"))?;
            total += u64::try_from(batch.len()).unwrap_or(u64::MAX);
            match batch.last() {
                Some(last) if batch.len() == COUNT_BATCH => after = Some(*last),
                _ => return Ok(total),
            }
        }
    });
    counted
        .await
        .map_err(|e| format!("counting the window panicked: {e}"))?
}

fn finish(replays: &Replays, name: &str, state: impl FnOnce(ReplayState) -> ReplayState) {
    let ended = replays.update(name, |r| Ok(r.ended(state(r.state), None, now_ms())));
    match ended {
        Ok(record) => {
            tracing::info!(
                state = record.state.as_aws(),
                replayed = record.replayed,
                "replay ended"
            );
            if let Err(error) = replays.0.store.sync() {
                tracing::warn!(%error, "syncing the replay's end failed");
            }
        }
        Err(error) => tracing::error!(%error, "cannot record the replay's end"),
    }
}

fn fail(replays: &Replays, name: &str, reason: &str) {
    tracing::error!(reason, "replay failed");
    let ended = replays.update(name, |r| {
        Ok(r.ended(ReplayState::Failed, Some(reason.to_owned()), now_ms()))
    });
    if let Err(error) = ended {
        tracing::error!(%error, "cannot record the replay's failure");
    }
}
