//! Removal of whole chunks from the head of the log, for retention.
//!
//! Owns reading the oldest chunks' extents and deleting them; it does not decide
//! which may go (that is `retention`, which also holds the store's removal
//! permit around `remove_chunks`). Only whole chunks at the head are removed, so
//! the log stays one contiguous run of sequence numbers from its first kept
//! record to `next_seq`; an event id below the first kept record was removed.
//!
//! Sequence numbers are never reused after a removal, even of every chunk: the
//! writer persists `next_seq` in `meta` with every batch and recovery takes the
//! larger of it and the end of the last chunk (`writer::recover_next_seq`).

use super::{Log, chunk};
use crate::codec;
use crate::event::{Event, Seq};
use crate::store::StoreError;

/// One chunk of the log as retention sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkExtent {
    /// Its first record's sequence number (the chunk's key).
    pub first: Seq,
    /// One past its last record.
    pub end: Seq,
    /// The latest ingestion time of its records (ms since the epoch); a
    /// damaged record counts as old: it can never be delivered anyway.
    pub newest_ms: i64,
    /// Its readable records and their framed bytes, as `stowage_log_records`
    /// and `stowage_log_record_bytes` count them (damaged ones are not).
    pub records: u64,
    pub bytes: u64,
}

/// What a removal took away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub chunks: u64,
    pub records: u64,
    pub bytes: u64,
}

impl Log {
    /// The extents of up to `max` chunks from the head of the log, in order.
    pub fn oldest_chunks(&self, max: usize) -> Result<Vec<ChunkExtent>, StoreError> {
        let mut out = Vec::new();
        for item in self.log.iter().take(max) {
            let (key, value) = item?;
            let Some(first) = Seq::from_key(&key) else {
                continue;
            };
            let mut extent = ChunkExtent {
                first,
                end: first,
                newest_ms: i64::MIN,
                records: 0,
                bytes: 0,
            };
            for frame in chunk::frames(&value) {
                extent.end = Seq(extent.end.0 + 1);
                let Ok(frame) = frame else {
                    break;
                };
                if let Ok(event) = codec::decode::<Event>(frame) {
                    extent.newest_ms = extent.newest_ms.max(event.fields.ingested_ms);
                    extent.records += 1;
                    extent.bytes += frame.len() as u64;
                }
            }
            out.push(extent);
        }
        Ok(out)
    }

    /// Removes `chunks` (extents `oldest_chunks` returned) in one sled batch and
    /// lowers the record gauges. The caller holds `Store::removal_permit` and
    /// has made sure nothing needs their records. Not synced: a removal lost
    /// in a crash is made again by the next sweep.
    pub fn remove_chunks(&self, chunks: &[ChunkExtent]) -> Result<Removed, StoreError> {
        let mut batch = sled::Batch::default();
        let mut removed = Removed::default();
        for extent in chunks {
            batch.remove(&extent.first.to_key());
            removed.chunks += 1;
            removed.records += extent.records;
            removed.bytes += extent.bytes;
        }
        self.log.apply_batch(batch)?;
        self.metrics
            .records
            .sub(i64::try_from(removed.records).unwrap_or(i64::MAX));
        self.metrics
            .record_bytes
            .sub(i64::try_from(removed.bytes).unwrap_or(i64::MAX));
        Ok(removed)
    }

    /// The first record the log still holds, with its event if it is readable.
    pub fn first_kept(&self) -> Result<Option<(Seq, Option<Event>)>, StoreError> {
        let Some((key, value)) = self.log.first()? else {
            return Ok(None);
        };
        let Some(first) = Seq::from_key(&key) else {
            return Ok(None);
        };
        let event = chunk::frames(&value)
            .next()
            .and_then(Result::ok)
            .and_then(|frame| codec::decode::<Event>(frame).ok());
        Ok(Some((first, event)))
    }

    /// Whether the record at `seq` was written once and has since been removed:
    /// it lies below the first kept record (or the log is empty) and below
    /// the first unused sequence number.
    pub fn was_removed(&self, seq: Seq) -> Result<bool, StoreError> {
        let next = *self.durable.borrow();
        if seq >= next {
            return Ok(false);
        }
        Ok(match self.log.first()? {
            Some((key, _)) => Seq::from_key(&key).is_some_and(|first| seq < first),
            None => true,
        })
    }

    /// The first sequence number not yet used (durable).
    pub fn next_seq(&self) -> Seq {
        *self.durable.borrow()
    }

    /// Whether the startup check has counted every record (the record gauges
    /// are exact only from then on).
    pub fn check_complete(&self) -> bool {
        self.metrics.check_complete.get() == 1
    }

    /// (records, framed bytes) in the log, as the gauges count them.
    pub fn counts(&self) -> (i64, i64) {
        (self.metrics.records.get(), self.metrics.record_bytes.get())
    }
}
