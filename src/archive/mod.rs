//! Archives: for each archive, an index over the log of the events of its bus
//! that match its pattern (every event without one), from its creation on.
//!
//! An archive never copies an event: its entries name log `Seq`s (with the
//! event's time, its ingestion time and its size), in two orders, by event
//! time for replays (`scan`: one `TimeBucket` key per routing step and second of event time) and by seq for retention
//! (`lowest_held`, the sweep: one `Segment` key per routing step). This module is the only writer of the `archives` and
//! `archive_index` trees. Invariant: an archive's `Totals` (event count, bytes)
//! are exactly the sums over its entries, because every change to the entries
//! is written in one sled batch with the totals, under one lock.
//!
//! The router offers every live event it routes (`offering`, `Offered::offer`)
//! and writes what was taken (`write`) before it records its own position. A
//! crash between the two makes the router offer those events again; `Totals`
//! remembers the next seq each archive expects, so nothing is counted twice.
//! Replayed events are never offered (the router's decision).
//!
//! Not here: the AWS shapes (`api::aws::archives`), replaying (`replay`), and
//! the log's own retention, which asks `lowest_held`.

mod keys;
mod matchers;
mod migrate;
mod offer;
mod record;
mod scan;
mod sweep;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub use matchers::MatcherSet;
pub use offer::Offered;
pub use record::{
    ArchiveInfo, ArchiveRecord, ArchiveState, ArchivedRef, Entry, Segment, TimeBucket, Totals,
};
pub use sweep::expiry_cutoff_ms;

use crate::catalog::Arns;
use crate::codec;
use crate::event::{Seq, now_ms};
use crate::metrics::ArchiveMetrics;
use crate::pattern::{Limits, Pattern, PatternError};
use crate::store::{Store, StoreError, tree};

/// Entries removed per batch (delete, sweep): bounds the time a removal holds
/// the lock the router's writes take.
const REMOVE_BATCH: usize = 1000;

/// Why an archive change was refused or failed. The Display is for logs; the
/// API words refusals for its clients.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {name} already exists")]
    AlreadyExists { name: String },
    #[error("archive {name} does not exist")]
    NotFound { name: String },
    #[error("the archive's event pattern is not valid")]
    InvalidPattern(#[from] PatternError),
    #[error("storing the archive failed")]
    Storage(#[from] StoreError),
}

impl From<sled::Error> for ArchiveError {
    fn from(e: sled::Error) -> Self {
        ArchiveError::Storage(StoreError::Sled(e))
    }
}

/// A new archive.
#[derive(Clone, Debug)]
pub struct ArchiveInput {
    pub name: String,
    pub bus: String,
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub retention_days: u32,
}

/// An update: `None` keeps a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ArchiveUpdate {
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub retention_days: Option<u32>,
}

/// Handle on the archives; clone it freely.
#[derive(Clone)]
pub struct Archives {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    records: sled::Tree,
    index: sled::Tree,
    arns: Arns,
    limits: Limits,
    metrics: ArchiveMetrics,
    /// The writer lock: every change to either tree holds it.
    state: Mutex<State>,
    matchers: RwLock<Arc<MatcherSet>>,
    /// Archives a replay is reading, and by how many replays.
    holds: Arc<Mutex<HashMap<String, usize>>>,
}

#[derive(Default)]
struct State {
    archives: BTreeMap<String, ArchiveRecord>,
    totals: HashMap<u64, Totals>,
}

impl State {
    fn name_of(&self, id: u64) -> Option<&str> {
        self.archives
            .values()
            .find(|a| a.id == id)
            .map(|a| a.name.as_str())
    }
}

/// While alive, the retention sweep leaves the archive's entries alone.
pub struct ReplayHold {
    holds: Arc<Mutex<HashMap<String, usize>>>,
    name: String,
}

impl Drop for ReplayHold {
    fn drop(&mut self) {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = holds.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
                holds.remove(&self.name);
            }
        }
    }
}

impl Archives {
    /// Opens the trees, loads the archives, and finishes removing the entries
    /// of archives whose deletion a crash interrupted.
    pub fn open(
        store: Arc<Store>,
        arns: Arns,
        limits: Limits,
        metrics: ArchiveMetrics,
    ) -> Result<Archives, StoreError> {
        let records = store.tree(tree::ARCHIVES)?;
        let index = store.tree(tree::ARCHIVE_INDEX)?;
        let mut state = State::default();
        for item in records.iter() {
            let (key, value) = item?;
            match codec::decode::<ArchiveRecord>(&value) {
                Ok(record) => {
                    state.archives.insert(record.name.clone(), record);
                }
                Err(error) => tracing::error!(
                    key = %String::from_utf8_lossy(&key), %error,
                    "damaged archive record skipped"
                ),
            }
        }
        let mut orphans = Vec::new();
        for item in index.range(keys::all_totals()) {
            let (key, value) = item?;
            let Some(id) = keys::totals_id(&key) else {
                continue;
            };
            if state.name_of(id).is_none() {
                orphans.push(id);
                continue;
            }
            let totals = codec::decode::<Totals>(&value).unwrap_or_else(|error| {
                tracing::error!(id, %error, "damaged archive totals; counted from zero");
                Totals::default()
            });
            state.totals.insert(id, totals);
        }
        for archive in state.archives.values() {
            let totals = state.totals.entry(archive.id).or_default();
            metrics.set(&archive.name, totals);
        }
        let matchers = MatcherSet::build(state.archives.values(), &limits);
        let archives = Archives {
            inner: Arc::new(Inner {
                store,
                records,
                index,
                arns,
                limits,
                metrics,
                state: Mutex::new(state),
                matchers: RwLock::new(Arc::new(matchers)),
                holds: Arc::default(),
            }),
        };
        for id in orphans {
            archives.purge(id)?;
        }
        let live: Vec<(String, u64)> = archives
            .state()
            .archives
            .values()
            .map(|a| (a.name.clone(), a.id))
            .collect();
        for (name, id) in live {
            archives.migrate_time_keys(&name, id)?;
        }
        Ok(archives)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn matchers(&self) -> Arc<MatcherSet> {
        self.inner
            .matchers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Compiles and publishes the patterns of `state`'s archives.
    fn publish(&self, state: &State) {
        let set = MatcherSet::build(state.archives.values(), &self.inner.limits);
        *self
            .inner
            .matchers
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    fn info(&self, record: &ArchiveRecord, totals: Totals) -> ArchiveInfo {
        ArchiveInfo {
            arn: self.inner.arns.archive(&record.name),
            name: record.name.clone(),
            bus: record.bus.clone(),
            description: record.description.clone(),
            pattern: record.pattern.clone(),
            retention_days: record.retention_days,
            state: record.state,
            state_reason: None,
            created_ms: record.created_ms,
            event_count: totals.event_count,
            size_bytes: totals.size_bytes,
        }
    }

    /// Creates an archive that takes the events from log position `from` on
    /// (the first not yet durable when it is created).
    pub fn create(&self, input: ArchiveInput, from: Seq) -> Result<ArchiveInfo, ArchiveError> {
        if let Some(pattern) = &input.pattern {
            Pattern::parse(pattern, &self.inner.limits)?;
        }
        let mut state = self.state();
        if state.archives.contains_key(&input.name) {
            return Err(ArchiveError::AlreadyExists { name: input.name });
        }
        let record = ArchiveRecord {
            id: self.inner.store.generate_id()?,
            name: input.name,
            bus: input.bus,
            description: input.description,
            pattern: input.pattern,
            retention_days: input.retention_days,
            state: ArchiveState::Enabled,
            created_ms: now_ms(),
        };
        let totals = Totals {
            next_seq: from.0,
            ..Totals::default()
        };
        // Totals first: after a crash, totals without a record are purged at
        // open; a record is never left without its totals.
        self.inner
            .index
            .insert(keys::totals(record.id), codec::encode(&totals))?;
        self.inner
            .records
            .insert(record.name.as_bytes(), codec::encode(&record))?;
        self.inner.store.sync()?;
        state.totals.insert(record.id, totals);
        state.archives.insert(record.name.clone(), record.clone());
        self.inner.metrics.set(&record.name, &totals);
        self.publish(&state);
        Ok(self.info(&record, totals))
    }

    /// Changes the fields `update` gives; events already archived stay.
    pub fn update(&self, name: &str, update: ArchiveUpdate) -> Result<ArchiveInfo, ArchiveError> {
        if let Some(pattern) = &update.pattern {
            Pattern::parse(pattern, &self.inner.limits)?;
        }
        let mut state = self.state();
        let mut record = state
            .archives
            .get(name)
            .cloned()
            .ok_or_else(|| ArchiveError::NotFound { name: name.into() })?;
        if let Some(description) = update.description {
            record.description = Some(description);
        }
        if let Some(pattern) = update.pattern {
            record.pattern = Some(pattern);
        }
        if let Some(days) = update.retention_days {
            record.retention_days = days;
        }
        self.inner
            .records
            .insert(record.name.as_bytes(), codec::encode(&record))?;
        self.inner.store.sync()?;
        let totals = state.totals.get(&record.id).copied().unwrap_or_default();
        state.archives.insert(record.name.clone(), record.clone());
        self.publish(&state);
        Ok(self.info(&record, totals))
    }

    /// Deletes an archive and then its entries.
    pub fn delete(&self, name: &str) -> Result<(), ArchiveError> {
        let id = {
            let mut state = self.state();
            let record = state
                .archives
                .get(name)
                .cloned()
                .ok_or_else(|| ArchiveError::NotFound { name: name.into() })?;
            self.inner.records.remove(name.as_bytes())?;
            self.inner.store.sync()?;
            state.archives.remove(name);
            state.totals.remove(&record.id);
            self.publish(&state);
            record.id
        };
        self.inner.metrics.forget(name);
        // The archive is gone from here on; its entries go in batches (and at
        // the next start if a crash interrupts this), on a thread of their
        // own: the purge takes the removal permit, which a running backup
        // holds for its whole copy, and the caller is an async handler.
        let this = self.clone();
        let purging = std::thread::Builder::new()
            .name("archive-purge".into())
            .spawn(move || {
                if let Err(error) = this.purge(id) {
                    tracing::warn!(%error, id, "purging a deleted archive's entries failed; the next start retries");
                }
            });
        if let Err(error) = purging {
            tracing::warn!(%error, id, "cannot start the purge of a deleted archive; the next start does it");
        }
        Ok(())
    }

    /// Removes every key of archive `id` (deleted, so no longer written).
    fn purge(&self, id: u64) -> Result<(), StoreError> {
        loop {
            let mut batch = sled::Batch::default();
            let mut removed = 0;
            for item in self.inner.index.range(keys::seq_range(id)) {
                let (key, value) = item?;
                if let (Ok(segment), Some(first)) =
                    (codec::decode::<Segment>(&value), keys::parse_by_seq(&key))
                {
                    for bucket in segment.buckets().into_keys() {
                        batch.remove(keys::by_bucket(id, bucket, first));
                    }
                    // Left by a migration a crash interrupted.
                    for (seq, entry) in &segment.entries {
                        batch.remove(keys::by_time(id, entry.time_ms, *seq));
                    }
                    removed += segment.entries.len();
                }
                batch.remove(key);
                removed += 1;
                if removed >= REMOVE_BATCH {
                    break;
                }
            }
            if removed == 0 {
                break;
            }
            let _permit = self.inner.store.removal_permit();
            self.inner.index.apply_batch(batch)?;
        }
        // Time keys whose segment was damaged.
        let mut strays: Vec<_> = self
            .inner
            .index
            .range(keys::time_range(id))
            .keys()
            .collect::<Result<_, _>>()?;
        let buckets = keys::bucket_range(id, i64::MIN, keys::bucket_of(i64::MAX));
        for key in self.inner.index.range(buckets).keys() {
            strays.push(key?);
        }
        let _permit = self.inner.store.removal_permit();
        for key in strays {
            self.inner.index.remove(key)?;
        }
        self.inner.index.remove(keys::totals(id))?;
        Ok(())
    }

    /// The archive named `name`, with its totals.
    pub fn describe(&self, name: &str) -> Result<Option<ArchiveInfo>, StoreError> {
        let state = self.state();
        Ok(state.archives.get(name).map(|record| {
            let totals = state.totals.get(&record.id).copied().unwrap_or_default();
            self.info(record, totals)
        }))
    }

    /// The archives in name order, filtered by name prefix, bus and state.
    pub fn list(
        &self,
        prefix: Option<&str>,
        bus: Option<&str>,
        archive_state: Option<ArchiveState>,
    ) -> Vec<ArchiveInfo> {
        let state = self.state();
        state
            .archives
            .values()
            .filter(|a| prefix.is_none_or(|p| a.name.starts_with(p)))
            .filter(|a| bus.is_none_or(|b| a.bus == b))
            .filter(|a| archive_state.is_none_or(|s| a.state == s))
            .map(|a| self.info(a, state.totals.get(&a.id).copied().unwrap_or_default()))
            .collect()
    }

    /// The names of the archives of `bus` (a bus is not deleted while it has any).
    pub fn of_bus(&self, bus: &str) -> Vec<String> {
        self.state()
            .archives
            .values()
            .filter(|a| a.bus == bus)
            .map(|a| a.name.clone())
            .collect()
    }

    /// While the returned guard lives, the retention sweep does not remove
    /// entries of `name`.
    pub fn hold_for_replay(&self, name: &str) -> ReplayHold {
        let mut holds = self.inner.holds.lock().unwrap_or_else(|p| p.into_inner());
        *holds.entry(name.to_owned()).or_insert(0) += 1;
        ReplayHold {
            holds: self.inner.holds.clone(),
            name: name.to_owned(),
        }
    }

    /// For retention: the lowest log seq any archive still holds, and which
    /// archive holds it.
    pub fn lowest_held(&self) -> Result<Option<(Seq, String)>, StoreError> {
        let archives: Vec<(u64, String)> = self
            .state()
            .archives
            .values()
            .map(|a| (a.id, a.name.clone()))
            .collect();
        let mut lowest: Option<(Seq, String)> = None;
        for (id, name) in archives {
            let first = self.inner.index.range(keys::seq_range(id)).keys().next();
            if let Some(seq) = first.transpose()?.and_then(|k| keys::parse_by_seq(&k))
                && lowest.as_ref().is_none_or(|(low, _)| seq < *low)
            {
                lowest = Some((seq, name));
            }
        }
        Ok(lowest)
    }
}

#[cfg(test)]
mod tests;
