//! A new data directory filled from a backup: the writing side of `stowage
//! backup`. It opens sled here because only the store module opens sled.
//!
//! The copy is a fresh sled database holding the same trees, keys and values
//! (not a copy of sled's files, so nothing of the source's on-disk state, its
//! pid file or its lock comes along). Two things need care:
//! - sled's id counter (`Store::generate_id`, dead-letter ids) starts at zero
//!   in a new database. `finish` raises it past the source's `id_floor`: sled
//!   0.34 resumes a reopened database at the persisted counter plus twice its
//!   `idgen_persist_interval`, so reopening once with an interval of half a
//!   counter C at or above the floor and taking one id persists C; every
//!   later open starts above that. (C is a multiple of the interval
//!   `Store::open` uses, or sled's own assertion fails on its next persist.) `copied_ids_start_above_the_floor` pins it.
//! - Durability: `finish` flushes, then fdatasyncs every file and directory,
//!   so the copy survives a power loss once it returns.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{SEGMENT_BYTES, data_dir};

/// sled's default `idgen_persist_interval`, which `Store::open` keeps.
const STORE_IDGEN_INTERVAL: u64 = 1_000_000;
/// How long `finish` waits for sled to release the closed copy's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Records buffered before a sled batch is applied.
const BATCH_RECORDS: usize = 2048;
/// Bytes buffered before a sled batch is applied.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot create the sled database in {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("writing the copy failed")]
    Sled(#[from] sled::Error),
    #[error("the backup names a data-directory file {0:?} that is not a plain file name")]
    FileName(String),
    #[error("the copy's id counter reached {got}, not the source's {floor}")]
    IdsNotRaised { floor: u64, got: u64 },
    #[error("fdatasync of {path} failed")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A database being filled, tree by tree.
pub struct StoreCopy {
    db: sled::Db,
    dir: PathBuf,
    /// The tree being filled and its buffered records.
    current: Option<(String, sled::Tree)>,
    batch: sled::Batch,
    batched_records: usize,
    batched_bytes: usize,
}

fn sled_config(dir: &Path) -> sled::Config {
    // The segment size is stored with the database; `Store::open` must find its own.
    sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .segment_size(SEGMENT_BYTES)
}

impl StoreCopy {
    /// Creates a new database in `dir` (which may exist, empty).
    pub fn create(dir: &Path) -> Result<StoreCopy, CopyError> {
        let db = sled_config(dir)
            .create_new(true)
            .open()
            .map_err(|source| CopyError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(StoreCopy {
            db,
            dir: dir.to_path_buf(),
            current: None,
            batch: sled::Batch::default(),
            batched_records: 0,
            batched_bytes: 0,
        })
    }

    /// Stores one record of tree `tree`.
    pub fn insert(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), CopyError> {
        if self.current.as_ref().is_none_or(|(name, _)| name != tree) {
            self.apply()?;
            self.current = Some((tree.to_owned(), self.db.open_tree(tree)?));
        }
        self.batch.insert(key, value);
        self.batched_records += 1;
        self.batched_bytes += key.len() + value.len();
        if self.batched_records >= BATCH_RECORDS || self.batched_bytes >= BATCH_BYTES {
            self.apply()?;
        }
        Ok(())
    }

    /// Writes `name`, a file of the data directory beside sled's (the
    /// generated secrets key), private (0600) and synced. `name` must be a
    /// plain file name.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), CopyError> {
        let plain =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(CopyError::FileName(name.to_owned()));
        }
        let path = self.dir.join(name);
        let sync_error = |source| CopyError::Sync {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(sync_error)?;
        std::io::Write::write_all(&mut file, bytes).map_err(sync_error)?;
        file.sync_all().map_err(sync_error)
    }

    /// Creates tree `tree` even if no record of it follows (an empty tree
    /// stays listed, as it was in the source).
    pub fn create_tree(&mut self, tree: &str) -> Result<(), CopyError> {
        self.apply()?;
        self.current = Some((tree.to_owned(), self.db.open_tree(tree)?));
        Ok(())
    }

    fn apply(&mut self) -> Result<(), CopyError> {
        if let Some((_, tree)) = &self.current
            && self.batched_records > 0
        {
            tree.apply_batch(std::mem::take(&mut self.batch))?;
        }
        self.batched_records = 0;
        self.batched_bytes = 0;
        Ok(())
    }

    /// Writes what is buffered, raises the id counter to at least `id_floor`
    /// and makes every file durable. The database is closed afterwards.
    pub fn finish(mut self, id_floor: u64) -> Result<(), CopyError> {
        self.apply()?;
        self.db.flush()?;
        let dir = self.dir.clone();
        drop(self);
        raise_ids(&dir, id_floor)?;
        if let Err(error) = data_dir::make_private(&dir) {
            tracing::warn!(%error, "cannot make the files in {} private", dir.display());
        }
        sync_all(&dir)
    }
}

/// See the module doc: one reopen with an interval of half the floor.
fn raise_ids(dir: &Path, id_floor: u64) -> Result<(), CopyError> {
    if id_floor == 0 {
        return Ok(());
    }
    // sled asserts that a persisted counter is a multiple of the interval the
    // opener uses, so the counter written here is a multiple of `Store::open`'s.
    let persisted = id_floor.div_ceil(STORE_IDGEN_INTERVAL).max(1) * STORE_IDGEN_INTERVAL;
    let interval = persisted / 2;
    let db = reopen(sled_config(dir).idgen_persist_interval(interval), dir)?;
    let got = db.generate_id()?;
    db.flush()?;
    if got < id_floor {
        return Err(CopyError::IdsNotRaised {
            floor: id_floor,
            got,
        });
    }
    Ok(())
}

/// Opens the closed copy again. sled releases its file lock from its flusher
/// thread a moment after the last handle is dropped, so the lock is waited
/// for (bounded) before sled is asked to take it.
fn reopen(config: sled::Config, dir: &Path) -> Result<sled::Db, CopyError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let db_file = dir.join("db");
    loop {
        let free = File::open(&db_file).map(|f| f.try_lock().is_ok());
        // Our probe's lock goes with `f`; only the answer is kept.
        if !matches!(free, Ok(false)) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    config.open().map_err(|source| CopyError::Create {
        path: dir.to_path_buf(),
        source,
    })
}

/// fdatasyncs every file under `dir`, then every directory, `dir` last.
fn sync_all(dir: &Path) -> Result<(), CopyError> {
    let sync = |path: &Path| {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|source| CopyError::Sync {
                path: path.to_path_buf(),
                source,
            })
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CopyError::Sync { path, source }
    };
    let mut dirs = vec![dir.to_path_buf()];
    let mut i = 0;
    while let Some(next) = dirs.get(i).cloned() {
        i += 1;
        for entry in std::fs::read_dir(&next).map_err(io(&next))? {
            let entry = entry.map_err(io(&next))?;
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                sync(&entry.path())?;
            }
        }
    }
    for d in dirs.iter().rev() {
        sync(d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Store;

    #[test]
    fn copied_ids_start_above_the_floor() {
        let root = tempfile::tempdir().expect("tempdir");
        for floor in [0u64, 1, 7, 3_000_001, 1 << 40] {
            let dir = root.path().join(format!("copy-{floor}"));
            std::fs::create_dir(&dir).expect("mkdir");
            let mut copy = StoreCopy::create(&dir).expect("create");
            copy.insert("buses", b"default", b"x").expect("insert");
            copy.create_tree("empty").expect("tree");
            copy.finish(floor).expect("finish");
            let config = Config::for_test(&dir);
            let store = Store::open(&config.storage).expect("a valid data dir");
            let id = store.generate_id().expect("id");
            assert!(id >= floor, "floor {floor}: id {id}");
            assert_eq!(
                store
                    .tree("buses")
                    .expect("tree")
                    .get(b"default")
                    .expect("get"),
                Some(sled::IVec::from(&b"x"[..]))
            );
            assert!(store.tree_names().iter().any(|n| n == "empty"));
            drop(store);
            let store = Store::open(&config.storage).expect("reopened");
            let later = store.generate_id().expect("id");
            assert!(later > id, "floor {floor}: {later} after {id}");
        }
    }
}
