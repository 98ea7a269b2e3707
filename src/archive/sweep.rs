//! Retention of archive entries: an entry goes once its event was ingested
//! more than `RetentionDays` days ago (never with 0), unless a replay holds
//! the archive; entries go by whole segments (one routing step's). Removals hold the store's removal permit and are written in
//! batches with the archive's totals.

use super::{Archives, REMOVE_BATCH, Segment, keys};
use crate::codec;
use crate::store::StoreError;

/// What one sweep batch did: entries removed, and whether more may follow.
enum Swept {
    More(u64),
    Done(u64),
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Entries ingested before the returned time have expired at `now_ms`; `None`
/// when the archive keeps its entries forever (`retention_days` 0).
pub fn expiry_cutoff_ms(retention_days: u32, now_ms: i64) -> Option<i64> {
    if retention_days == 0 {
        return None;
    }
    Some(now_ms.saturating_sub(i64::from(retention_days).saturating_mul(DAY_MS)))
}

impl Archives {
    /// Removes every expired entry of every archive not held by a replay, as
    /// of `now_ms`; returns how many entries went.
    pub fn sweep(&self, now_ms: i64) -> Result<u64, StoreError> {
        let archives: Vec<(String, u64, u32)> = self
            .state()
            .archives
            .values()
            .map(|a| (a.name.clone(), a.id, a.retention_days))
            .collect();
        let mut removed = 0;
        for (name, id, days) in archives {
            let Some(cutoff) = expiry_cutoff_ms(days, now_ms) else {
                continue;
            };
            loop {
                match self.sweep_batch(&name, id, cutoff)? {
                    Swept::More(step) => removed += step,
                    Swept::Done(step) => {
                        removed += step;
                        break;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// One batch of archive `id`'s oldest segments whose every entry was
    /// ingested before `cutoff`. Segments are in seq order, which is
    /// ingestion order: the first one not wholly expired ends the sweep (its
    /// expired entries go with it later; an entry is kept at most one routing
    /// step longer than its retention).
    fn sweep_batch(&self, name: &str, id: u64, cutoff: i64) -> Result<Swept, StoreError> {
        let _permit = self.inner.store.removal_permit();
        // Held across the batch: a replay that asks for a hold waits for it.
        let holds = self.inner.holds.lock().unwrap_or_else(|p| p.into_inner());
        if holds.contains_key(name) {
            return Ok(Swept::Done(0));
        }
        let mut state = self.state();
        let Some(mut totals) = state.totals.get(&id).copied() else {
            return Ok(Swept::Done(0));
        };
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        let mut done = true;
        for item in self.inner.index.range(keys::seq_range(id)) {
            if removed >= REMOVE_BATCH as u64 {
                done = false;
                break;
            }
            let (key, value) = item?;
            let segment = match codec::decode::<Segment>(&value) {
                Ok(segment) => segment,
                Err(error) => {
                    tracing::error!(archive = name, %error, "damaged archive segment kept");
                    continue;
                }
            };
            if segment.newest_ingested_ms() >= cutoff {
                break;
            }
            if let Some(first) = keys::parse_by_seq(&key) {
                for bucket in segment.buckets().into_keys() {
                    batch.remove(keys::by_bucket(id, bucket, first));
                }
            }
            for (_, entry) in &segment.entries {
                totals.event_count = totals.event_count.saturating_sub(1);
                totals.size_bytes = totals.size_bytes.saturating_sub(entry.size);
                removed += 1;
            }
            batch.remove(key);
        }
        if removed > 0 {
            batch.insert(keys::totals(id), codec::encode(&totals));
            self.inner.index.apply_batch(batch)?;
            state.totals.insert(id, totals);
            self.inner.metrics.set(name, &totals);
        }
        Ok(if done {
            Swept::Done(removed)
        } else {
            Swept::More(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_keeps_forever_and_days_count_back_from_now() {
        assert_eq!(expiry_cutoff_ms(0, 1_000), None);
        assert_eq!(expiry_cutoff_ms(1, 3 * DAY_MS), Some(2 * DAY_MS));
        assert_eq!(
            expiry_cutoff_ms(u32::MAX, 0),
            Some(-i64::from(u32::MAX) * DAY_MS)
        );
        assert_eq!(expiry_cutoff_ms(1, i64::MIN), Some(i64::MIN));
    }
}
