//! The group-commit writer: one thread takes everything queued, inserts it, makes
//! it durable with one `Store::sync`, then answers every waiter.
//!
//! Invariant: a waiter hears `Ok` only after the sync that covers its insert
//! returned `Ok`. After a failed sync the writer refuses all further appends
//! (the page cache can no longer be trusted, as PostgreSQL learned), and the
//! server reports itself unhealthy until restarted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;

use super::chunk::{MAX_CHUNK_BYTES, frames, push_frame};
use super::idempotency::{Entry, RequestDigest};
use super::{AppendError, Appended, Pending};
use crate::event::{EventId, MAX_SEQ, Seq, now_ms};
use crate::metrics::LogMetrics;
use crate::store::{Store, StoreError};

const NEXT_SEQ_KEY: &[u8] = b"next_seq";

pub(super) struct Writer {
    pub store: Arc<Store>,
    pub log: sled::Tree,
    pub idempotency: sled::Tree,
    pub meta: sled::Tree,
    pub next_seq: Seq,
    pub max_batch: usize,
    pub idempotency_ttl_ms: i64,
    pub healthy: Arc<AtomicBool>,
    pub metrics: LogMetrics,
    /// The first sequence number not yet durable; readers route up to it.
    pub durable: tokio::sync::watch::Sender<Seq>,
}

/// The frames of consecutive events being gathered into one `log` value.
#[derive(Default)]
struct Chunk {
    first: Option<Seq>,
    bytes: Vec<u8>,
}

impl Chunk {
    /// Inserts the gathered frames, if any, under the first one's sequence number.
    fn store(&mut self, log: &sled::Tree) -> Result<(), StoreError> {
        if let Some(first) = self.first.take() {
            log.insert(first.to_key(), std::mem::take(&mut self.bytes))?;
        }
        Ok(())
    }
}

/// The first unused sequence number: past both the last record and the persisted
/// high-water mark, so numbers never repeat even if the tail is ever deleted.
pub(super) fn recover_next_seq(log: &sled::Tree, meta: &sled::Tree) -> Result<Seq, StoreError> {
    // A torn tail counts as one more frame: skipping a number is safe, reusing one is not.
    let after_last = match log.last()? {
        Some((key, chunk)) => {
            Seq::from_key(&key).map_or(0, |first| first.0 + frames(&chunk).count() as u64)
        }
        None => 0,
    };
    let persisted = meta
        .get(NEXT_SEQ_KEY)?
        .and_then(|v| Seq::from_key(&v))
        .map_or(0, |s| s.0);
    Ok(Seq(after_last.max(persisted)))
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.commit(&mut batch);
        }
        tracing::info!(next_seq = self.next_seq.0, "log writer stopped");
    }

    fn commit(&mut self, batch: &mut Vec<Pending>) {
        if !self.healthy.load(Ordering::Acquire) {
            for p in batch.drain(..) {
                let _ = p.reply.send(Err(AppendError::Unavailable {
                    reason: "an earlier sync failed; restart required",
                }));
            }
            return;
        }
        let started = Instant::now();
        let outcomes = self.insert_all(batch.as_mut_slice());
        let synced = outcomes.and_then(|outcomes| self.store.sync().map(|()| outcomes));
        match synced {
            Ok(outcomes) => {
                self.metrics
                    .sync_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.batch_events.observe(batch.len() as f64);
                self.durable.send_replace(self.next_seq);
                for (p, (outcome, bytes)) in batch.drain(..).zip(outcomes) {
                    if matches!(outcome, Appended::Stored { .. }) {
                        self.metrics.records.inc();
                        self.metrics.record_bytes.add(bytes);
                    }
                    let _ = p.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                self.healthy.store(false, Ordering::Release);
                self.metrics.sync_failures.inc();
                tracing::error!(error = %error, events = batch.len(), "group commit failed; refusing further appends");
                let error = Arc::new(error);
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(AppendError::Storage(error.clone())));
                }
            }
        }
    }

    /// Inserts the batch; returns per request its outcome and stored frame size.
    /// Takes each request's event out of the batch (only the replies are needed after).
    fn insert_all(&mut self, batch: &mut [Pending]) -> Result<Vec<(Appended, i64)>, StoreError> {
        let now = now_ms();
        let mut seen_in_batch: HashMap<Vec<u8>, (EventId, RequestDigest)> = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut chunk = Chunk::default();
        for p in batch {
            let bus = &p.request.event.bus;
            let key = p.request.idempotency_key.as_ref().map(|k| {
                let mut key = Vec::with_capacity(bus.len() + 1 + k.key.len());
                key.extend_from_slice(bus.as_bytes());
                key.push(0);
                key.extend_from_slice(k.key.as_bytes());
                (key, k.digest)
            });
            if let Some((key, digest)) = &key
                && let Some(outcome) = self.remembered(key, *digest, &seen_in_batch, now)?
            {
                outcomes.push((outcome, 0));
                continue;
            }
            let seq = self.next_seq;
            if seq.0 > MAX_SEQ {
                return Err(StoreError::SequenceExhausted);
            }
            let id = EventId::for_seq(seq);
            let event = std::mem::take(&mut p.request.event).into_event(id);
            let frame = super::encode_event(&event);
            let bytes = i64::try_from(frame.len()).unwrap_or(i64::MAX);
            if chunk.bytes.len() + frame.len() > MAX_CHUNK_BYTES {
                chunk.store(&self.log)?;
            }
            chunk.first.get_or_insert(seq);
            push_frame(&mut chunk.bytes, &frame);
            if let Some((key, digest)) = key {
                let entry = Entry {
                    id,
                    expires_ms: now.saturating_add(self.idempotency_ttl_ms),
                    digest,
                };
                self.idempotency.insert(&key, entry.encode())?;
                seen_in_batch.insert(key, (id, digest));
            }
            self.next_seq = Seq(seq.0 + 1);
            outcomes.push((Appended::Stored { seq, id }, bytes));
        }
        chunk.store(&self.log)?;
        self.meta.insert(NEXT_SEQ_KEY, &self.next_seq.to_key())?;
        Ok(outcomes)
    }

    /// What a live key already stands for: the same request again (`Duplicate`)
    /// or another one (`KeyReused`); `None` when the key is free.
    fn remembered(
        &self,
        key: &[u8],
        digest: RequestDigest,
        seen_in_batch: &HashMap<Vec<u8>, (EventId, RequestDigest)>,
        now: i64,
    ) -> Result<Option<Appended>, StoreError> {
        let answer = |id, matches| {
            if matches {
                Appended::Duplicate { id }
            } else {
                Appended::KeyReused
            }
        };
        if let Some((id, first)) = seen_in_batch.get(key) {
            return Ok(Some(answer(*id, *first == digest)));
        }
        let Some(value) = self.idempotency.get(key)? else {
            return Ok(None);
        };
        match Entry::decode(&value) {
            Ok(entry) if entry.expires_ms > now => {
                Ok(Some(answer(entry.id, entry.matches(digest))))
            }
            Ok(_) => Ok(None),
            Err(error) => {
                tracing::warn!(%error, "damaged idempotency entry ignored");
                Ok(None)
            }
        }
    }
}
