//! Compaction: gives back to the file system the disk space sled keeps after
//! removals (sled reuses freed segments but never shrinks its file much;
//! docs/retention.md). The database is copied, tree by tree in backup's
//! order, into a fresh sled database next to it (`StoreCopy`, id counter
//! raised past the source's, fsynced), which then replaces it by a crash-safe
//! swap (`swap`). Offline only: `Store::open` refuses a directory a running
//! server holds, with its usual sentence.
//!
//! `stowage compact` runs it on demand; `serve` runs `at_start` first, which
//! finishes an interrupted compaction and compacts when `[storage]
//! compact_on_start` says so (`wanted`, pure).

mod swap;

use std::fs::{DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backup::copy_order;
use crate::config::{CompactOnStart, StorageConfig};
use crate::store::{CopyError, Store, StoreError};
use swap::Paths;
pub use swap::{Plan, SwapError};

/// `auto` compacts a directory using more than three times its live data
/// plus this: a fresh sled database filled in key order takes about 2.7 times
/// its live data (node images rewritten as they fill; docs/retention.md), and
/// sled's floor is a few 8 MiB segments whatever it holds.
pub const AUTO_SLACK_BYTES: u64 = 64 * 1024 * 1024;
/// How long to wait for sled to let go of a closed database's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(
        "no data directory at {}: pass --data-dir the directory a stopped server used",
        dir.display()
    )]
    Missing { dir: PathBuf },
    #[error(
        "{} is not a stowage data directory (it has no sled database file `db`): \
         pass --data-dir the directory a stopped server used",
        dir.display()
    )]
    NotADataDir { dir: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the compacted copy in {} failed", dir.display())]
    Copy {
        dir: PathBuf,
        #[source]
        source: CopyError,
    },
    #[error(transparent)]
    Swap(#[from] SwapError),
    #[error("cannot create {}", dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What one compaction did.
#[derive(Clone, Debug)]
pub struct Compacted {
    /// False when the copy was not smaller than the original, which was kept.
    pub swapped: bool,
    pub dir: PathBuf,
    /// Bytes the directory occupied on disk before and after.
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub trees: usize,
    pub records: u64,
    /// Keys and values copied.
    pub live_bytes: u64,
    pub elapsed: Duration,
}

/// Whether `serve` should compact, given the policy, the bytes on disk and
/// the live bytes (keys and values).
pub fn wanted(policy: CompactOnStart, disk_bytes: u64, live_bytes: u64) -> bool {
    match policy {
        CompactOnStart::Always => true,
        CompactOnStart::Never => false,
        CompactOnStart::Auto => disk_bytes > live_bytes.saturating_mul(3) + AUTO_SLACK_BYTES,
    }
}

/// Finishes an interrupted compaction of `dir`, if any (see `swap`).
pub fn recover(dir: &Path) -> Result<Plan, CompactError> {
    Ok(swap::recover(&Paths::of(dir)?)?)
}

/// Compacts the stopped server's database in `config.data_dir`.
pub fn compact(config: &StorageConfig) -> Result<Compacted, CompactError> {
    let dir = &config.data_dir;
    recover(dir)?;
    check_data_dir(dir)?;
    let store = Store::open(config)?;
    compact_open(config, store)
}

/// What `serve` does before it opens the store: recovery, then a compaction
/// if `config.compact_on_start` wants one. Logs what it did.
pub fn at_start(config: &StorageConfig) -> Result<Option<Compacted>, CompactError> {
    let dir = &config.data_dir;
    match recover(dir)? {
        Plan::Nothing => {}
        plan => tracing::warn!(
            ?plan,
            data_dir = %dir.display(),
            "finished a compaction that was interrupted"
        ),
    }
    if config.compact_on_start == CompactOnStart::Never || check_data_dir(dir).is_err() {
        return Ok(None);
    }
    let disk = disk_usage(dir);
    // A quick no before the scan: under the slack, `auto` never compacts.
    if !wanted(config.compact_on_start, disk, 0) {
        return Ok(None);
    }
    let store = Store::open(config)?;
    let live = live_bytes(&store)?;
    if !wanted(config.compact_on_start, disk, live) {
        tracing::info!(
            disk_bytes = disk,
            live_bytes = live,
            "not compacting: the database is not much larger than its live data"
        );
        drop(store);
        wait_for_lock(dir);
        return Ok(None);
    }
    tracing::info!(
        disk_bytes = disk,
        live_bytes = live,
        "compacting the database before starting"
    );
    let compacted = compact_open(config, store)?;
    tracing::info!(
        swapped = compacted.swapped,
        before_bytes = compacted.before_bytes,
        after_bytes = compacted.after_bytes,
        records = compacted.records,
        seconds = compacted.elapsed.as_secs_f64(),
        "compacted the database"
    );
    Ok(Some(compacted))
}

fn check_data_dir(dir: &Path) -> Result<(), CompactError> {
    if !dir.is_dir() {
        return Err(CompactError::Missing {
            dir: dir.to_path_buf(),
        });
    }
    if !dir.join("db").is_file() {
        return Err(CompactError::NotADataDir {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

fn compact_open(config: &StorageConfig, store: Store) -> Result<Compacted, CompactError> {
    let started = Instant::now();
    let paths = Paths::of(&config.data_dir)?;
    let before_bytes = disk_usage(&paths.dir);
    DirBuilder::new()
        .mode(0o700)
        .create(&paths.compacting)
        .map_err(|source| CompactError::Create {
            dir: paths.compacting.clone(),
            source,
        })?;
    let copied = copy_into(&store, &paths.compacting);
    let copied = match copied {
        Ok(copied) => copied,
        Err(error) => {
            // The source is untouched; leave no half copy behind.
            let _ = std::fs::remove_dir_all(&paths.compacting);
            return Err(error);
        }
    };
    let copy_bytes = disk_usage(&paths.compacting);
    if copy_bytes >= before_bytes {
        // Nothing to give back: keep the original, untouched.
        swap::recover(&paths)?;
        drop(store);
        wait_for_lock(&paths.dir);
        return Ok(Compacted {
            swapped: false,
            dir: paths.dir.clone(),
            before_bytes,
            after_bytes: before_bytes,
            trees: copied.0,
            records: copied.1,
            live_bytes: copied.2,
            elapsed: started.elapsed(),
        });
    }
    swap::mark_complete(&paths)?;
    drop(store);
    wait_for_lock(&paths.dir);
    swap::swap(&paths)?;
    wait_for_lock(&paths.dir);
    Ok(Compacted {
        swapped: true,
        dir: paths.dir.clone(),
        before_bytes,
        after_bytes: disk_usage(&paths.dir),
        trees: copied.0,
        records: copied.1,
        live_bytes: copied.2,
        elapsed: started.elapsed(),
    })
}

/// Copies every tree of `store` into a new database in `into`; returns the
/// trees, records and bytes copied.
fn copy_into(store: &Store, into: &Path) -> Result<(usize, u64, u64), CompactError> {
    let copy_error = |source| CompactError::Copy {
        dir: into.to_path_buf(),
        source,
    };
    let mut copy = crate::store::StoreCopy::create(into).map_err(copy_error)?;
    let names = copy_order(&store.tree_names());
    let (mut records, mut bytes) = (0u64, 0u64);
    for name in &names {
        copy.create_tree(name).map_err(copy_error)?;
        for entry in store.tree(name)?.iter() {
            let (key, value) = entry.map_err(StoreError::from)?;
            copy.insert(name, &key, &value).map_err(copy_error)?;
            records += 1;
            bytes += (key.len() + value.len()) as u64;
        }
    }
    // Taken after the copy: every id in the copied records is below it.
    let id_floor = store.generate_id()?;
    copy.finish(id_floor).map_err(copy_error)?;
    Ok((names.len(), records, bytes))
}

/// Keys and values of every tree: what a compacted database must hold.
fn live_bytes(store: &Store) -> Result<u64, StoreError> {
    let mut bytes = 0u64;
    for name in store.tree_names() {
        for entry in store.tree(&name)?.iter() {
            let (key, value) = entry?;
            bytes += (key.len() + value.len()) as u64;
        }
    }
    Ok(bytes)
}

/// Bytes the files under `dir` occupy on disk (allocated blocks).
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            }
            total += meta.blocks() * 512;
        }
    }
    total
}

/// sled lets go of a dropped database's file lock from its flusher thread a
/// moment later: wait (bounded) until the lock on `dir/db` is free, so that
/// the next open of `dir` does not take it for another server.
fn wait_for_lock(dir: &Path) {
    let deadline = Instant::now() + LOCK_WAIT;
    while Instant::now() < deadline {
        let held = File::open(dir.join("db")).is_ok_and(|f| f.try_lock().is_err());
        if !held {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_compacts_only_a_file_well_above_its_live_data() {
        const MIB: u64 = 1024 * 1024;
        assert!(!wanted(CompactOnStart::Auto, 60 * MIB, 0));
        assert!(!wanted(CompactOnStart::Auto, 180 * MIB, 40 * MIB));
        assert!(wanted(CompactOnStart::Auto, 190 * MIB, 40 * MIB));
        assert!(wanted(CompactOnStart::Auto, 142 * MIB, MIB));
        assert!(wanted(CompactOnStart::Always, 0, 0));
        assert!(!wanted(CompactOnStart::Never, 1 << 40, 0));
    }

    #[test]
    fn compaction_keeps_every_record_and_raises_ids() {
        let root = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config::for_test(&root.path().join("data"));
        let used = {
            let store = Store::open(&config.storage).expect("open");
            let log = store.tree("log").expect("log");
            for n in 0u64..2000 {
                log.insert(n.to_be_bytes(), vec![7u8; 1000])
                    .expect("insert");
            }
            for n in 0u64..1990 {
                log.remove(n.to_be_bytes()).expect("remove");
            }
            store.sync().expect("sync");
            store.generate_id().expect("id")
        };
        wait_for_lock(&config.storage.data_dir);
        let compacted = compact(&config.storage).expect("compacted");
        assert_eq!(compacted.records, 10);
        assert!(compacted.swapped);
        let store = Store::open(&config.storage).expect("reopen");
        let log = store.tree("log").expect("log");
        assert_eq!(log.len(), 10);
        assert_eq!(
            log.get(1995u64.to_be_bytes())
                .expect("get")
                .map(|v| v.len()),
            Some(1000)
        );
        assert!(store.generate_id().expect("id") > used);
        let paths = Paths::of(&config.storage.data_dir).expect("paths");
        assert!(!paths.compacting.exists() && !paths.precompact.exists());
        assert!(!paths.dir.join(swap::MARKER).exists());
    }
}
