//! The time order replays read: `Archives::scan` over the bucket keys
//! (`keys::by_bucket`). A bucket holds one key per routing step that archived
//! an event of that second, so a bucket's entries come from several keys, in
//! no order between them: they are gathered bucket by bucket, keeping only the
//! entries the caller can still take (at most twice the `limit` left, plus one
//! key's), and a bucket is finished before the next one is read.

use std::ops::RangeInclusive;

use super::{ArchivedRef, Archives, TimeBucket, keys};
use crate::codec;
use crate::event::Seq;
use crate::store::StoreError;

/// Which entries a scan returns: `from_ms <= time_ms <= to_ms`, strictly after
/// `after`, the first `limit` of them in (time, seq) order.
struct Window {
    from_ms: i64,
    to_ms: i64,
    after: Option<ArchivedRef>,
    limit: usize,
}

impl Window {
    fn wants(&self, time_ms: i64, seq: Seq) -> bool {
        let entry = ArchivedRef { time_ms, seq };
        self.from_ms <= time_ms
            && time_ms <= self.to_ms
            && self.after.is_none_or(|after| entry > after)
    }

    /// The buckets that may hold wanted entries; `None` when none can.
    fn buckets(&self) -> Option<RangeInclusive<i64>> {
        let lowest = match self.after {
            Some(after) => after.time_ms.max(self.from_ms),
            None => self.from_ms,
        };
        if self.limit == 0 || lowest > self.to_ms {
            return None;
        }
        Some(keys::bucket_of(lowest)..=keys::bucket_of(self.to_ms))
    }
}

/// The entries taken so far: `done` from finished buckets (all lower than
/// any later bucket's), `current` from the bucket being read.
struct Gathered {
    done: Vec<ArchivedRef>,
    current: Vec<ArchivedRef>,
    limit: usize,
}

impl Gathered {
    fn room(&self) -> usize {
        self.limit - self.done.len()
    }

    fn take(&mut self, window: &Window, bucket: &TimeBucket) {
        let wanted = bucket
            .entries
            .iter()
            .filter(|(time_ms, seq)| window.wants(*time_ms, *seq))
            .map(|&(time_ms, seq)| ArchivedRef { time_ms, seq });
        self.current.extend(wanted);
        if self.current.len() > self.room().saturating_mul(2) {
            self.keep_lowest();
        }
    }

    fn keep_lowest(&mut self) {
        self.current.sort_unstable();
        self.current.truncate(self.room());
    }

    /// Ends the current bucket; true when no more entries are wanted.
    fn end_bucket(&mut self) -> bool {
        self.keep_lowest();
        self.done.append(&mut self.current);
        self.done.len() >= self.limit
    }
}

impl Archives {
    /// Entries with `from_ms <= time_ms <= to_ms`, ordered by (time_ms, seq),
    /// strictly after `after`; none for an archive that does not exist.
    pub fn scan(
        &self,
        name: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<ArchivedRef>,
        limit: usize,
    ) -> Result<Vec<ArchivedRef>, StoreError> {
        let Some(id) = self.state().archives.get(name).map(|a| a.id) else {
            return Ok(Vec::new());
        };
        let window = Window {
            from_ms,
            to_ms,
            after,
            limit,
        };
        let Some(buckets) = window.buckets() else {
            return Ok(Vec::new());
        };
        let mut gathered = Gathered {
            done: Vec::new(),
            current: Vec::new(),
            limit,
        };
        let mut reading = None;
        let range = keys::bucket_range(id, *buckets.start(), *buckets.end());
        for item in self.inner.index.range(range) {
            let (key, value) = item?;
            let Some(bucket) = keys::parse_by_bucket(&key) else {
                continue;
            };
            if reading != Some(bucket) {
                if reading.is_some() && gathered.end_bucket() {
                    return Ok(gathered.done);
                }
                reading = Some(bucket);
            }
            match codec::decode::<TimeBucket>(&value) {
                Ok(times) => gathered.take(&window, &times),
                Err(error) => {
                    tracing::error!(archive = name, bucket, %error, "damaged archive time bucket skipped")
                }
            }
        }
        gathered.end_bucket();
        Ok(gathered.done)
    }
}
