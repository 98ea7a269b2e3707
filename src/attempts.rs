//! Delivery attempt history: the only module that writes the `attempts` tree.
//!
//! Invariant: for each (event seq, target uid) the tree holds at most `keep`
//! records, numbered 1, 2, 3, … in the order the attempts ended, and only the
//! highest-numbered ones: recording attempt n removes attempt n − keep in the
//! same batch. A group is removed whole by the sweep once its delivery is no
//! longer pending and its last attempt is older than the retention, and every
//! group of an event when retention removes its log record (`remove_below`):
//! history of an event that can no longer be shown only costs disk.
//!
//! History is diagnostic, not a guarantee: a round's records are one sled batch,
//! never synced on their own, and a write that fails is logged and dropped;
//! the delivery goes on. After a crash the last records may be missing.
//!
//! Key (20 bytes) and value:
//!
//! | bytes  | field                                        |
//! |--------|----------------------------------------------|
//! | 0..8   | event `Seq`, u64 big-endian                  |
//! | 8..16  | target uid, u64 big-endian                   |
//! | 16..20 | attempt number, u32 big-endian, from 1       |
//! | value  | framed `AttemptRecord` (codec, version byte) |
//!
//! So "every attempt of event S, across targets" is one range scan, and the
//! sweep walks events in log order. Not here: what an attempt does (delivery),
//! whether a delivery is owed (pending), what a dead letter holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::event::Seq;
use crate::pending::PendingDeliveries;
use crate::store::{Store, StoreError, tree};

/// Removals the sweep gathers before it writes them.
const SWEEP_BATCH: usize = 10_000;

/// Longest error message kept in a record, in characters.
pub const MAX_ERROR_CHARS: usize = 256;

/// One attempt, as kept. Small on purpose: it is written on the hot path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the attempt started, in delivery's clock (ms since the epoch).
    pub at_ms: i64,
    /// From sending to the answer or the failure; `None` if nothing was sent.
    pub latency_ms: Option<u32>,
    /// `None` when delivered; otherwise the failure's code (`SERVER_ERROR`).
    pub code: Option<String>,
    pub status: Option<u16>,
    /// At most `MAX_ERROR_CHARS`.
    pub error: Option<String>,
    /// The event's ingestion: lets the sweep stop early (seqs ingest in order).
    /// 0 when unknown.
    pub ingested_ms: i64,
    /// Set on the attempt that moved the delivery to a dead-letter queue.
    pub dead_letter: Option<BuriedIn>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuriedIn {
    pub id: u64,
    pub queue: String,
}

impl AttemptRecord {
    /// A failed attempt; the message is cut to `MAX_ERROR_CHARS`.
    pub fn failed(
        at_ms: i64,
        latency_ms: Option<u32>,
        code: &str,
        status: Option<u16>,
        message: &str,
        ingested_ms: i64,
    ) -> AttemptRecord {
        AttemptRecord {
            at_ms,
            latency_ms,
            code: Some(code.to_owned()),
            status,
            error: Some(bounded(message)),
            ingested_ms,
            dead_letter: None,
        }
    }

    pub fn delivered(&self) -> bool {
        self.code.is_none()
    }
}

/// `message` cut to `MAX_ERROR_CHARS`.
pub fn bounded(message: &str) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

fn group_prefix(seq: Seq, uid: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seq.to_key());
    key[8..].copy_from_slice(&uid.to_be_bytes());
    key
}

fn key(seq: Seq, uid: u64, number: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&group_prefix(seq, uid));
    key[16..].copy_from_slice(&number.to_be_bytes());
    key
}

/// (seq, uid, attempt number) of a key.
fn parse_key(key: &[u8]) -> Option<(Seq, u64, u32)> {
    let key: &[u8; 20] = key.try_into().ok()?;
    Some((
        Seq::from_key(&key[..8])?,
        u64::from_be_bytes(key[8..16].try_into().ok()?),
        u32::from_be_bytes(key[16..].try_into().ok()?),
    ))
}

/// The attempts that ended in one settle round of one worker, written together.
#[derive(Default)]
pub struct Round {
    attempts: Vec<(u64, Seq, AttemptRecord)>,
}

impl Round {
    pub fn add(&mut self, uid: u64, seq: Seq, record: AttemptRecord) {
        self.attempts.push((uid, seq, record));
    }

    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }
}

/// What is known of one delivery: its numbered attempts, oldest first.
pub type Attempts = Vec<(u32, AttemptRecord)>;

/// Handle on the `attempts` tree; clones share it.
#[derive(Clone)]
pub struct AttemptHistory {
    attempts: sled::Tree,
    /// Records kept per delivery; 0 records nothing.
    keep: u32,
    retention_ms: i64,
}

impl AttemptHistory {
    pub fn open(
        store: &Arc<Store>,
        keep: u32,
        retention_secs: u64,
    ) -> Result<AttemptHistory, StoreError> {
        Ok(AttemptHistory {
            attempts: store.tree(tree::ATTEMPTS)?,
            keep,
            retention_ms: i64::try_from(retention_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.keep > 0
    }

    /// How long a settled delivery's records are kept, in ms.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// Writes a round's attempts in one batch (one seek per attempt finds its
    /// number). The round is emptied either way.
    pub fn record(&self, round: &mut Round) -> Result<(), StoreError> {
        let attempts = std::mem::take(&mut round.attempts);
        if attempts.is_empty() || self.keep == 0 {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        // A worker has one attempt of a delivery in flight at a time, but a
        // round with two must still number them apart: count what it adds.
        let mut numbered: BTreeMap<(Seq, u64), u32> = BTreeMap::new();
        for (uid, seq, record) in attempts {
            let last = match numbered.get(&(seq, uid)) {
                Some(last) => *last,
                None => self.last_number(seq, uid)?,
            };
            let number = last.saturating_add(1);
            numbered.insert((seq, uid), number);
            batch.insert(&key(seq, uid, number), codec::encode(&record));
            if let Some(dropped) = number.checked_sub(self.keep).filter(|n| *n > 0) {
                batch.remove(&key(seq, uid, dropped));
            }
        }
        self.attempts.apply_batch(batch)?;
        Ok(())
    }

    fn last_number(&self, seq: Seq, uid: u64) -> Result<u32, StoreError> {
        match self
            .attempts
            .scan_prefix(group_prefix(seq, uid))
            .next_back()
        {
            Some(item) => Ok(parse_key(&item?.0).map_or(0, |(_, _, n)| n)),
            None => Ok(0),
        }
    }

    /// Every kept attempt of event `seq`, by target uid.
    pub fn of_event(&self, seq: Seq) -> Result<BTreeMap<u64, Attempts>, StoreError> {
        let mut out: BTreeMap<u64, Attempts> = BTreeMap::new();
        for item in self.attempts.scan_prefix(seq.to_key()) {
            let (key, value) = item?;
            let Some((_, uid, number)) = parse_key(&key) else {
                continue;
            };
            match codec::decode::<AttemptRecord>(&value) {
                Ok(record) => out.entry(uid).or_default().push((number, record)),
                Err(error) => {
                    tracing::warn!(%seq, uid, number, %error, "damaged attempt record skipped")
                }
            }
        }
        Ok(out)
    }

    /// Drops the records of deliveries settled for good (no longer pending)
    /// whose last attempt is older than the retention; returns how many
    /// records went. Walks in log order and stops at the first event ingested
    /// after the cutoff: every later event's attempts are later still.
    pub fn sweep(&self, pending: &PendingDeliveries, now_ms: i64) -> Result<usize, StoreError> {
        let cutoff = now_ms.saturating_sub(self.retention_ms);
        let mut removed = 0;
        let mut batched = 0;
        let mut batch = sled::Batch::default();
        let mut group: Option<Group> = None;
        for item in self.attempts.iter() {
            if removed - batched >= SWEEP_BATCH {
                self.attempts.apply_batch(std::mem::take(&mut batch))?;
                batched = removed;
            }
            let (key, value) = item?;
            let Some((seq, uid, _)) = parse_key(&key) else {
                batch.remove(key);
                removed += 1;
                continue;
            };
            let record = codec::decode::<AttemptRecord>(&value).ok();
            if group.as_ref().is_none_or(|g| (g.seq, g.uid) != (seq, uid)) {
                if let Some(done) = group.take() {
                    removed += done.drop_if_expired(pending, cutoff, &mut batch)?;
                }
                if record.as_ref().is_some_and(|r| r.ingested_ms > cutoff) {
                    break;
                }
                group = Some(Group::new(seq, uid));
            }
            if let Some(g) = group.as_mut() {
                g.keys.push(key);
                // A damaged record counts as old: it tells nothing anyway.
                g.last_ms = record.map_or(g.last_ms, |r| g.last_ms.max(r.at_ms));
            }
        }
        if let Some(done) = group.take() {
            removed += done.drop_if_expired(pending, cutoff, &mut batch)?;
        }
        self.attempts.apply_batch(batch)?;
        Ok(removed)
    }
}

impl AttemptHistory {
    /// Drops every record of the events below `seq`, whose log records
    /// retention removed; returns how many went.
    pub fn remove_below(&self, seq: Seq) -> Result<usize, StoreError> {
        let mut removed = 0;
        loop {
            let mut batch = sled::Batch::default();
            let mut count = 0;
            for item in self.attempts.range(..seq.to_key()).take(SWEEP_BATCH) {
                let (key, _) = item?;
                batch.remove(key);
                count += 1;
            }
            if count == 0 {
                return Ok(removed);
            }
            self.attempts.apply_batch(batch)?;
            removed += count;
        }
    }
}

/// One delivery's records met by the sweep.
struct Group {
    seq: Seq,
    uid: u64,
    keys: Vec<sled::IVec>,
    last_ms: i64,
}

impl Group {
    fn new(seq: Seq, uid: u64) -> Group {
        Group {
            seq,
            uid,
            keys: Vec::new(),
            last_ms: i64::MIN,
        }
    }

    fn drop_if_expired(
        self,
        pending: &PendingDeliveries,
        cutoff: i64,
        batch: &mut sled::Batch,
    ) -> Result<usize, StoreError> {
        if self.last_ms >= cutoff || pending.get(self.uid, self.seq)?.is_some() {
            return Ok(0);
        }
        let count = self.keys.len();
        for key in self.keys {
            batch.remove(key);
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
