//! Migration at open of the time order written before the bucket keys: one
//! empty key per entry (`keys::by_time`, tag 1). Each segment's legacy keys
//! are replaced by its bucket keys (`keys::by_bucket`, tag 3) in one batch, so
//! a crash leaves every segment either migrated or not; the next open finishes
//! (a segment whose first legacy key is gone was migrated). Counts, sizes and
//! segments are unchanged. Once an archive has no legacy key, opening it
//! costs one range read.

use super::{Archives, REMOVE_BATCH, Segment, keys};
use crate::codec;
use crate::store::StoreError;

impl Archives {
    /// Migrates archive `id`'s legacy time keys; returns the entries moved.
    pub(super) fn migrate_time_keys(&self, name: &str, id: u64) -> Result<u64, StoreError> {
        let index = &self.inner.index;
        if index.range(keys::time_range(id)).next().is_none() {
            return Ok(0);
        }
        let mut moved = 0u64;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for item in index.range(keys::seq_range(id)) {
            let (key, value) = item?;
            let (Some(first), Ok(segment)) =
                (keys::parse_by_seq(&key), codec::decode::<Segment>(&value))
            else {
                tracing::error!(archive = name, "damaged archive segment not migrated");
                continue;
            };
            let Some((seq, entry)) = segment.entries.first() else {
                continue;
            };
            if !index.contains_key(keys::by_time(id, entry.time_ms, *seq))? {
                continue;
            }
            for (bucket, times) in segment.buckets() {
                batch.insert(keys::by_bucket(id, bucket, first), codec::encode(&times));
            }
            for (seq, entry) in &segment.entries {
                batch.remove(keys::by_time(id, entry.time_ms, *seq));
            }
            in_batch += segment.entries.len();
            moved += segment.entries.len() as u64;
            if in_batch >= REMOVE_BATCH {
                index.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        if in_batch > 0 {
            index.apply_batch(batch)?;
        }
        self.inner.store.sync()?;
        let left = index.range(keys::time_range(id)).count();
        tracing::info!(
            archive = name,
            moved,
            left,
            "archive time order migrated to time buckets"
        );
        if left > 0 {
            tracing::warn!(
                archive = name,
                left,
                "legacy archive time keys without a readable segment are not replayed; deleting the archive removes them"
            );
        }
        Ok(moved)
    }
}
