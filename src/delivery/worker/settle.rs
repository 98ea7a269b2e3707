//! Settling finished attempts, for the worker: delivered (removed from the
//! pending tree in one write per round), retried (rescheduled with backoff), or
//! dead-lettered; and every attempt noted for the attempt history, written in
//! one batch per round. Retry timing is `retry.rs`'s; this file applies it.

use std::sync::atomic::Ordering;

use super::Worker;
use crate::attempts::{AttemptRecord, BuriedIn};
use crate::dead_letter::DeadLetter;
use crate::delivery::RecordedError;
use crate::delivery::attempt::{Attempted, Outcome};
use crate::delivery::failure::{Failure, Reason};
use crate::delivery::retry::{Backoff, Failed, Jitter, Verdict};
use crate::event::Seq;
use crate::pending::PendingDelivery;

impl Worker {
    /// Removes the delivered entries gathered since the last call, in one
    /// write. Until it lands, a crash means they are sent again (at least once).
    pub(super) fn complete_delivered(&mut self) {
        if self.delivered.is_empty() {
            return;
        }
        if let Err(error) = self.inner.pending.complete(&self.delivered) {
            tracing::error!(uid = self.uid, count = self.delivered.len(), %error, "cannot remove delivered events' pending entries; they will be sent again");
        }
        self.delivered.clear();
    }

    /// Writes the attempts settled since the last call, in one batch. History
    /// is diagnostic: a failed write is logged and delivery goes on.
    pub(super) fn write_history(&mut self) {
        if let Err(error) = self.inner.history.record(&mut self.history) {
            tracing::warn!(uid = self.uid, %error, "cannot record delivery attempts; their history is incomplete");
        }
    }

    /// Keeps `record` for the next history write.
    pub(super) fn note(&mut self, seq: Seq, record: AttemptRecord) {
        if self.inner.history.is_enabled() {
            self.history.add(self.uid, seq, record);
        }
    }

    /// An attempt's task panicked: its delivery is retried later, never
    /// stranded.
    pub(super) fn recover(&mut self, error: tokio::task::JoinError) {
        let Some((seq, mut record)) = self.flight_ids.remove(&error.id()) else {
            return;
        };
        tracing::error!(uid = self.uid, %seq, %error, "delivery attempt panicked; retrying later");
        self.stats.in_flight.dec();
        self.scheduled.remove(&seq);
        record.attempts = record.attempts.saturating_add(1);
        let failure = Failure::new(
            Reason::Internal,
            "the delivery attempt failed unexpectedly".into(),
        );
        let now = self.inner.clock.now_ms();
        let attempt = AttemptRecord::failed(now, None, failure.code(), None, &failure.message, 0);
        self.note(seq, attempt);
        self.retry_later(seq, record, &failure, now);
    }

    pub(super) fn settle(&mut self, attempted: Attempted) {
        let Attempted {
            seq,
            mut record,
            outcome,
            started_ms,
            latency,
        } = attempted;
        self.stats.in_flight.dec();
        self.scheduled.remove(&seq);
        let now = self.inner.clock.now_ms();
        let latency_ms = latency.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        match outcome {
            Outcome::Delivered {
                ingested_ms,
                status,
            } => {
                self.note(
                    seq,
                    AttemptRecord {
                        at_ms: started_ms,
                        latency_ms,
                        code: None,
                        status: Some(status),
                        error: None,
                        ingested_ms,
                        dead_letter: None,
                    },
                );
                self.delivered.push((self.uid, seq));
                self.stats.pending.dec();
                self.stats.delivered.inc();
                self.stats.gone.store(false, Ordering::Relaxed);
                self.inner
                    .metrics
                    .latency_seconds
                    .observe((crate::event::now_ms() - ingested_ms).max(0) as f64 / 1000.0);
            }
            Outcome::TargetGone => {}
            Outcome::Transient(reason) => {
                tracing::warn!(uid = self.uid, %seq, %reason, "reading the event failed; retrying later");
                let failure = Failure::new(Reason::LogRead, reason);
                let attempt = AttemptRecord::failed(
                    started_ms,
                    None,
                    failure.code(),
                    None,
                    &failure.message,
                    0,
                );
                self.note(seq, attempt);
                self.retry_later(seq, record, &failure, now);
            }
            Outcome::Unreadable(reason) => {
                tracing::error!(uid = self.uid, %seq, %reason, "event cannot be read from the log; not delivered");
                let _ = self.inner.pending.complete(&[(self.uid, seq)]);
                self.stats.pending.dec();
            }
            Outcome::Failed {
                event,
                route,
                failure,
            } => {
                record.attempts = record.attempts.saturating_add(1);
                record.last_status = failure.status;
                record.last_error = Some(failure.message.clone());
                let mut attempt = AttemptRecord::failed(
                    started_ms,
                    latency_ms,
                    failure.code(),
                    failure.status,
                    &failure.message,
                    event.event.fields.ingested_ms,
                );
                self.stats.set_last_error(RecordedError {
                    at_ms: now,
                    code: failure.code().into(),
                    message: failure.message.clone(),
                    status: failure.status,
                });
                if failure.status == Some(410) {
                    self.stats.gone.store(true, Ordering::Relaxed);
                    tracing::warn!(target = %self.stats.target, rule = %self.stats.rule, "endpoint answered 410 Gone");
                }
                let failed = Failed {
                    attempts: record.attempts,
                    age_base_ms: record.age_base_ms,
                    retryable: failure.retryable(),
                    retry_after_ms: failure.retry_after_ms,
                };
                let exhausted = match self.backoff().after_failure(
                    route.target.retry,
                    failed,
                    now,
                    Jitter::random(),
                ) {
                    Verdict::RetryAt { due_ms } => {
                        self.note(seq, attempt);
                        self.reschedule(seq, record, due_ms);
                        return;
                    }
                    Verdict::Dead(exhausted) => exhausted,
                };
                let letter = DeadLetter {
                    id: 0,
                    queue: route.target.queue.clone(),
                    event: event.event.clone(),
                    seq,
                    rule: route.rule.clone(),
                    rule_arn: route.rule_arn.clone(),
                    target_id: route.target.id.clone(),
                    target_arn: route.target.arn.clone(),
                    target_uid: self.uid,
                    error_code: failure.code().into(),
                    error_message: failure.message,
                    exhausted_retry_condition: exhausted.map(|e| e.as_str().to_owned()),
                    attempts: record.attempts,
                    last_status: failure.status,
                    last_response: failure.body,
                    age_base_ms: record.age_base_ms,
                    dead_lettered_ms: now,
                };
                let queue = letter.queue.clone();
                match self.inner.pending.bury(letter) {
                    Ok(id) => {
                        attempt.dead_letter = Some(BuriedIn { id, queue });
                        self.note(seq, attempt);
                        tracing::warn!(target = %self.stats.target, rule = %self.stats.rule, %seq, dead_letter = id, code = failure.reason.code(), "delivery dead-lettered");
                        self.stats.pending.dec();
                        self.stats.dead_lettered.inc();
                    }
                    Err(error) => {
                        // Keep it pending rather than lose it; try again later.
                        tracing::error!(%seq, %error, "cannot write a dead letter; the delivery stays pending");
                        self.note(seq, attempt);
                        let retry = Failure::new(Reason::DeadLetterWrite, error.to_string());
                        self.retry_later(seq, record, &retry, now);
                    }
                }
            }
        }
    }

    pub(super) fn backoff(&self) -> Backoff {
        Backoff {
            base_ms: self.inner.config.backoff_base_ms,
            cap_ms: self.inner.config.backoff_cap_ms,
        }
    }

    /// Schedules the next attempt after a fault of our own (no retry limit
    /// applies: the target was never asked).
    pub(super) fn retry_later(
        &mut self,
        seq: Seq,
        record: PendingDelivery,
        failure: &Failure,
        now: i64,
    ) {
        let due_ms = self.backoff().retry_at(
            record.attempts,
            failure.retry_after_ms,
            now,
            Jitter::random(),
        );
        self.reschedule(seq, record, due_ms);
    }

    /// Records that the delivery stays owed, due at `due_ms`, and holds it.
    pub(super) fn reschedule(&mut self, seq: Seq, mut record: PendingDelivery, due_ms: i64) {
        record.due_ms = due_ms;
        if let Err(error) = self.inner.pending.reschedule(self.uid, seq, &record) {
            tracing::error!(%seq, %error, "cannot record a retry; it keeps its earlier state");
        }
        self.stats.retried.inc();
        self.scheduled.insert(seq);
        self.waiting.insert((record.due_ms, seq), record);
    }
}
