//! Where a replay reads from: an archive's index, in (time, seq) order.
//!
//! `crate::archive::Archives` is the source the server uses; unit tests use an
//! in-memory one. The trait is what the runner needs of an archive and no more.

use crate::archive::{ArchivedRef, Archives};
use crate::store::StoreError;

use super::record::Position;

/// What a replay needs to know of its archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveView {
    pub name: String,
    pub arn: String,
    pub bus: String,
}

pub trait ReplaySource: Send + Sync + 'static {
    /// The archive named `name`, if it exists.
    fn describe(&self, name: &str) -> Result<Option<ArchiveView>, StoreError>;

    /// Up to `limit` entries with `from_ms <= time_ms <= to_ms`, in (time,
    /// seq) order, strictly after `after`.
    fn scan(
        &self,
        name: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<Position>, StoreError>;

    /// While the returned guard lives, the archive's retention keeps its entries.
    fn hold(&self, name: &str) -> Box<dyn Send>;
}

impl ReplaySource for Archives {
    fn describe(&self, name: &str) -> Result<Option<ArchiveView>, StoreError> {
        Ok(Archives::describe(self, name)?.map(|info| ArchiveView {
            name: info.name,
            arn: info.arn,
            bus: info.bus,
        }))
    }

    fn scan(
        &self,
        name: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<Position>, StoreError> {
        let after = after.map(|p| ArchivedRef {
            time_ms: p.time_ms,
            seq: p.seq,
        });
        Ok(Archives::scan(self, name, from_ms, to_ms, after, limit)?
            .into_iter()
            .map(|r| Position {
                time_ms: r.time_ms,
                seq: r.seq,
            })
            .collect())
    }

    fn hold(&self, name: &str) -> Box<dyn Send> {
        Box::new(self.hold_for_replay(name))
    }
}

#[cfg(test)]
pub mod memory {
    //! An archive held in memory, for the runner's unit tests.

    use std::collections::BTreeSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    pub struct MemorySource {
        pub view: ArchiveView,
        pub entries: Mutex<BTreeSet<Position>>,
        pub holds: std::sync::Arc<AtomicUsize>,
        /// The largest `limit` any scan asked for.
        pub largest_scan: AtomicUsize,
        /// Set: the archive is deleted (describes as absent, scans as empty).
        pub deleted: std::sync::atomic::AtomicBool,
    }

    struct Hold(std::sync::Arc<AtomicUsize>);

    impl Drop for Hold {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl MemorySource {
        pub fn new(name: &str, bus: &str) -> MemorySource {
            MemorySource {
                view: ArchiveView {
                    name: name.into(),
                    arn: format!("arn:aws:events:us-east-1:000000000000:archive/{name}"),
                    bus: bus.into(),
                },
                entries: Mutex::new(BTreeSet::new()),
                holds: Default::default(),
                largest_scan: AtomicUsize::new(0),
                deleted: Default::default(),
            }
        }
    }

    impl ReplaySource for MemorySource {
        fn describe(&self, name: &str) -> Result<Option<ArchiveView>, StoreError> {
            let exists = name == self.view.name && !self.deleted.load(Ordering::SeqCst);
            Ok(exists.then(|| self.view.clone()))
        }

        fn scan(
            &self,
            _name: &str,
            from_ms: i64,
            to_ms: i64,
            after: Option<Position>,
            limit: usize,
        ) -> Result<Vec<Position>, StoreError> {
            self.largest_scan.fetch_max(limit, Ordering::SeqCst);
            if self.deleted.load(Ordering::SeqCst) {
                return Ok(Vec::new());
            }
            let entries = self.entries.lock().expect("not poisoned");
            Ok(entries
                .iter()
                .filter(|p| p.time_ms >= from_ms && p.time_ms <= to_ms)
                .filter(|p| after.is_none_or(|a| **p > a))
                .take(limit)
                .copied()
                .collect())
        }

        fn hold(&self, _name: &str) -> Box<dyn Send> {
            self.holds.fetch_add(1, Ordering::SeqCst);
            Box::new(Hold(self.holds.clone()))
        }
    }
}
