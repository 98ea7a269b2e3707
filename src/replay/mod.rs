//! Replays: re-sending an archive's events of a time window to some or all of
//! its bus's rules, in the background, resumably.
//!
//! Owns the `replays` tree (replay name → framed `ReplayRecord`); this module
//! is its only writer, and every write goes through one lock so that the
//! runner's progress and an operator's cancel never overwrite each other. A
//! replayed event is appended to the log as a new record carrying a
//! `ReplayMark` (see `event.rs`); the router sends it only to the replay's
//! rules (`route_filter`) and never to an archive. Does not decide AWS shapes
//! or wording (`api/aws/replays.rs`).

pub mod record;
mod runner;
pub mod source;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec;
use crate::config::ReplayConfig;
use crate::event::ReplayMark;
use crate::log::Log;
use crate::metrics::ReplayMetrics;
use crate::store::{Store, StoreError};

pub use record::{Position, Progress, ReplayRecord, ReplayState};
pub use source::{ArchiveView, ReplaySource};

/// The sled tree of replay records.
pub const TREE: &str = "replays";

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay {0} already exists")]
    AlreadyExists(String),
    #[error("replay {0} does not exist")]
    NotFound(String),
    #[error("replay {name} is {} and cannot be cancelled", state.as_aws())]
    NotCancellable { name: String, state: ReplayState },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for ReplayError {
    fn from(error: sled::Error) -> Self {
        ReplayError::Store(StoreError::from(error))
    }
}

/// What StartReplay asks for, checked by the API.
#[derive(Clone, Debug)]
pub struct StartRequest {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub archive: ArchiveView,
    pub destination_arn: String,
    pub filter_arns: Vec<String>,
    /// Rule names (empty: every rule of the archive's bus).
    pub rules: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Which rules a replayed record may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteFilter {
    Every,
    Rules(Arc<HashSet<String>>),
}

/// A running replay's in-memory side: how to cancel it, and its pace.
struct Running {
    cancel: CancellationToken,
    started: Instant,
    since_start: Arc<AtomicU64>,
}

struct Inner {
    store: Arc<Store>,
    tree: sled::Tree,
    records: Mutex<BTreeMap<String, ReplayRecord>>,
    /// Filters by replay name, for the router; kept beside `records` so that
    /// routing never waits on a runner's write.
    filters: std::sync::RwLock<HashMap<String, (u64, RouteFilter)>>,
    running: Mutex<HashMap<String, Running>>,
    source: Arc<dyn ReplaySource>,
    log: Log,
    config: ReplayConfig,
    metrics: ReplayMetrics,
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// A cheap handle on the replays; clone it freely.
#[derive(Clone)]
pub struct Replays(Arc<Inner>);

impl Replays {
    /// Loads every replay record. Runners start with `resume`.
    pub fn open(
        store: Arc<Store>,
        source: Arc<dyn ReplaySource>,
        log: Log,
        config: ReplayConfig,
        metrics: ReplayMetrics,
        stop: CancellationToken,
    ) -> Result<Replays, StoreError> {
        let tree = store.tree(TREE)?;
        let mut records = BTreeMap::new();
        let mut filters = HashMap::new();
        for item in tree.iter() {
            let (key, value) = item?;
            match codec::decode::<ReplayRecord>(&value) {
                Ok(record) => {
                    filters.insert(record.name.clone(), filter_of(&record));
                    records.insert(record.name.clone(), record);
                }
                Err(error) => {
                    tracing::error!(key = %String::from_utf8_lossy(&key), %error, "damaged replay record skipped")
                }
            }
        }
        Ok(Replays(Arc::new(Inner {
            store,
            tree,
            records: Mutex::new(records),
            filters: std::sync::RwLock::new(filters),
            running: Mutex::new(HashMap::new()),
            source,
            log,
            config,
            metrics,
            tasks: TaskTracker::new(),
            stop,
        })))
    }

    pub fn source(&self) -> &Arc<dyn ReplaySource> {
        &self.0.source
    }

    /// Starts a runner for every replay that had not ended.
    pub fn resume(&self) {
        let active: Vec<String> = self
            .records()
            .values()
            .filter(|r| r.state.is_active())
            .map(|r| r.name.clone())
            .collect();
        for name in active {
            tracing::info!(replay = %name, "resuming replay");
            self.spawn(name);
        }
    }

    /// Stops every runner (they resume at the next start) and waits for them.
    pub async fn shutdown(&self) {
        self.0.stop.cancel();
        self.0.tasks.close();
        self.0.tasks.wait().await;
    }

    /// Stores a new replay (STARTING) durably and starts its runner.
    pub fn start(&self, request: StartRequest, now_ms: i64) -> Result<ReplayRecord, ReplayError> {
        let record = {
            let mut records = self.records();
            if records.contains_key(&request.name) {
                return Err(ReplayError::AlreadyExists(request.name));
            }
            let record = ReplayRecord {
                replay_id: fastrand::u64(..),
                name: request.name,
                arn: request.arn,
                description: request.description,
                archive: request.archive.name,
                archive_arn: request.archive.arn,
                bus: request.archive.bus,
                destination_arn: request.destination_arn,
                filter_arns: request.filter_arns,
                rules: request.rules,
                from_ms: request.from_ms,
                to_ms: request.to_ms,
                state: ReplayState::Starting,
                state_reason: None,
                started_ms: now_ms,
                ended_ms: None,
                last_replayed_ms: None,
                cursor: None,
                replayed: 0,
                total: None,
            };
            self.write(&record)?;
            self.0.store.sync()?;
            self.filters_mut()
                .insert(record.name.clone(), filter_of(&record));
            records.insert(record.name.clone(), record.clone());
            record
        };
        self.spawn(record.name.clone());
        Ok(record)
    }

    /// Moves a STARTING or RUNNING replay to CANCELLING; its runner then
    /// stops between two batches and ends it CANCELLED.
    pub fn cancel(&self, name: &str) -> Result<ReplayRecord, ReplayError> {
        let record = self.update(name, |record| match record.state.on_cancel() {
            Some(state) => {
                let mut next = record.clone();
                next.state = state;
                Ok(next)
            }
            None => Err(ReplayError::NotCancellable {
                name: name.to_owned(),
                state: record.state,
            }),
        })?;
        self.0.store.sync()?;
        if let Some(running) = self.running().get(name) {
            running.cancel.cancel();
        }
        Ok(record)
    }

    pub fn get(&self, name: &str) -> Option<ReplayRecord> {
        self.records().get(name).cloned()
    }

    /// Every replay, by name.
    pub fn list(&self) -> Vec<ReplayRecord> {
        self.records().values().cloned().collect()
    }

    /// Progress of `name`: counts from its record, rate since its runner started.
    pub fn progress(&self, name: &str) -> Option<Progress> {
        let record = self.get(name)?;
        let (since, elapsed_ms) = match self.running().get(name) {
            Some(running) => (
                running.since_start.load(Ordering::Relaxed),
                u64::try_from(running.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ),
            None => (0, 0),
        };
        Some(record::progress(
            record.replayed,
            record.total,
            since,
            elapsed_ms,
        ))
    }

    /// Which rules a record with `mark` may reach; `None` when the mark names
    /// no replay this server knows (such a record is routed nowhere).
    pub fn route_filter(&self, mark: &ReplayMark) -> Option<RouteFilter> {
        let filters = self.0.filters.read().unwrap_or_else(|p| p.into_inner());
        match filters.get(&mark.name) {
            Some((id, filter)) if *id == mark.replay_id => Some(filter.clone()),
            _ => None,
        }
    }

    fn spawn(&self, name: String) {
        let cancel = CancellationToken::new();
        let since_start = Arc::new(AtomicU64::new(0));
        if self
            .get(&name)
            .is_some_and(|r| r.state == ReplayState::Cancelling)
        {
            cancel.cancel();
        }
        self.running().insert(
            name.clone(),
            Running {
                cancel: cancel.clone(),
                started: Instant::now(),
                since_start: since_start.clone(),
            },
        );
        let replays = self.clone();
        let span = tracing::info_span!("replay", replay = %name);
        self.0.tasks.spawn(tracing::Instrument::instrument(
            async move {
                runner::run(replays.clone(), &name, cancel, since_start).await;
                replays.running().remove(&name);
                replays.0.metrics.forget(&name);
            },
            span,
        ));
    }

    /// Applies `change` to the stored record of `name` under the lock.
    fn update(
        &self,
        name: &str,
        change: impl FnOnce(&ReplayRecord) -> Result<ReplayRecord, ReplayError>,
    ) -> Result<ReplayRecord, ReplayError> {
        let mut records = self.records();
        let current = records
            .get(name)
            .ok_or_else(|| ReplayError::NotFound(name.to_owned()))?;
        let next = change(current)?;
        self.write(&next)?;
        records.insert(name.to_owned(), next.clone());
        Ok(next)
    }

    fn write(&self, record: &ReplayRecord) -> Result<(), StoreError> {
        self.0
            .tree
            .insert(record.name.as_bytes(), codec::encode(record))?;
        Ok(())
    }

    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ReplayRecord>> {
        self.0.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.0.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn filters_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (u64, RouteFilter)>> {
        self.0.filters.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn filter_of(record: &ReplayRecord) -> (u64, RouteFilter) {
    let filter = if record.rules.is_empty() {
        RouteFilter::Every
    } else {
        RouteFilter::Rules(Arc::new(record.rules.iter().cloned().collect()))
    };
    (record.replay_id, filter)
}

#[cfg(test)]
mod tests;
