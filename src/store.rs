//! The sled database: the only module that opens it, its trees, and durability.
//!
//! `Store::sync` is where the durability promise is kept. sled 0.34's `flush()`
//! writes its buffers and calls `sync_file_range`, which survives a process crash
//! but not a power loss: it neither flushes the device cache nor the metadata. So
//! `sync` follows the flush with an fdatasync of sled's data file (`db`) and of
//! every blob file written since the last sync (sled writes values too large for
//! its segments to `blobs/` without syncing them), then of `blobs/` itself.
//! An acknowledgement may be sent only after `sync` returned `Ok`.
//!
//! The directory itself (private modes, the sentence for one that cannot be
//! used, who holds it) is `data_dir` and `pid_file`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::StorageConfig;

mod copy;
mod data_dir;
mod pid_file;

pub use copy::{CopyError, StoreCopy};

pub use data_dir::DataDirError;
use data_dir::Prepared;
use pid_file::PidFile;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the sled database in {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("the log has used every sequence number an event id can carry")]
    SequenceExhausted,
    #[error("sled failed")]
    Sled(#[from] sled::Error),
    #[error(
        "the secrets key opens none of the {sealed} sealed records (connection and signing secrets): start with the key they were sealed with (STOWAGE_SECRETS_KEY, [secrets] key_file, or the data directory's secrets.key)"
    )]
    SecretsKeyMismatch { sealed: usize },
    #[error("fdatasync of {path} failed")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The trees Stowage keeps, by name.
pub mod tree {
    /// `Seq` (u64 big-endian) → framed `Event`.
    pub const LOG: &str = "log";
    /// bus `\0` idempotency key → framed `IdempotencyEntry`.
    pub const IDEMPOTENCY: &str = "idempotency";
    /// Singletons such as `next_seq`.
    pub const META: &str = "meta";
    /// bus name → framed `BusRecord`.
    pub const BUSES: &str = "buses";
    /// bus `\0` rule name → framed `RuleRecord` (its targets inside).
    pub const RULES: &str = "rules";
    /// connection name → sealed (see `secrets`) framed `ConnectionRecord`.
    pub const CONNECTIONS: &str = "connections";
    /// API destination name → framed `ApiDestinationRecord`.
    pub const API_DESTINATIONS: &str = "api_destinations";
    /// resource ARN → framed `TagRecord` (only resources that have tags).
    pub const TAGS: &str = "tags";
    /// subject (API destination name or target URL) → sealed `SigningRecord`.
    pub const SIGNING: &str = "signing";
    /// target uid (u64 BE) ++ `Seq` → framed `PendingDelivery`; and the router's
    /// position under `ROUTER_POSITION_KEY`.
    pub const PENDING: &str = "pending";
    /// dead-letter id (u64 BE) → framed `DeadLetter`.
    pub const DEAD_LETTERS: &str = "dead_letters";
    /// `Seq` (u64 BE) ++ dead-letter id (u64 BE) → empty: which log records
    /// letters hold, lowest first; written with the letters it indexes.
    pub const DEAD_LETTER_SEQS: &str = "dead_letter_seqs";
    /// `Seq` (u64 BE) ++ target uid (u64 BE) ++ attempt number (u32 BE) →
    /// framed `AttemptRecord`; written only by `attempts`.
    pub const ATTEMPTS: &str = "attempts";
    /// archive name → framed `ArchiveRecord`; written only by `archive`.
    pub const ARCHIVES: &str = "archives";
    /// archive entries and totals (see `archive::keys`); written only by `archive`.
    pub const ARCHIVE_INDEX: &str = "archive_index";
    /// publisher key id → framed `KeyRecord`; written only by `keys`.
    pub const PUBLISHER_KEYS: &str = "publisher_keys";
    /// source `\0` detail type `\0` version (empty for none) → framed
    /// `SchemaRecord`; written only by `schema`.
    pub const SCHEMAS: &str = "schemas";
}

/// sled's segment size (a power of two; sled allows at most 16 MiB).
const SEGMENT_BYTES: usize = 8 * 1024 * 1024;

pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    db_file: File,
    /// Highest blob id already fdatasynced; blob ids grow monotonically.
    synced_blobs: Mutex<u64>,
    /// Held shared by every removal of stored data (retention sweeps) and
    /// exclusively by a backup, so that a backup never copies a tree after the
    /// data another tree it already copied still refers to was removed.
    removals: RwLock<()>,
    /// Names this process to a second server; `None` if it could not be written.
    _pid_file: Option<PidFile>,
}

impl Store {
    /// Opens (creating if needed) the database under `config.data_dir`.
    pub fn open(config: &StorageConfig) -> Result<Store, StoreError> {
        let dir = config.data_dir.clone();
        let prepared = data_dir::prepare(&dir)?;
        let db = sled::Config::new()
            .path(&dir)
            .cache_capacity(config.cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            // 8 MiB segments: sled stores any node image over a quarter segment as a
            // separate blob file; the log's nodes (up to 17 chunks of ≤ 96 KiB) must
            // stay below that, or every split costs a file create and an fdatasync.
            .segment_size(SEGMENT_BYTES)
            .open()
            .map_err(|source| open_error(&dir, source))?;
        // sled's lock is held from here on: the pid in the file is ours.
        let pid_file = PidFile::write(&dir)
            .inspect_err(|error| tracing::warn!(%error, "cannot write {}", pid_file::NAME))
            .ok();
        keep_private(&dir, prepared);
        let db_path = dir.join("db");
        let db_file = File::open(&db_path).map_err(|source| StoreError::Sync {
            path: db_path.clone(),
            source,
        })?;
        // Make sled's own files' directory entries durable once.
        sync_path(&dir)?;
        let store = Store {
            db,
            dir,
            db_file,
            synced_blobs: Mutex::new(0),
            removals: RwLock::new(()),
            _pid_file: pid_file,
        };
        Ok(store)
    }

    /// The contents of `name`, a file of the data directory beside sled's
    /// (such as the generated secrets key), if it exists.
    pub fn data_file(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// The name of every tree in the database (sled's default tree included),
    /// for a backup that must copy trees it does not know of.
    pub fn tree_names(&self) -> Vec<String> {
        self.db
            .tree_names()
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    }

    /// A unique, increasing id (sled's persistent counter).
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Bytes sled occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Permission to remove stored data (log chunks, archive entries, letters past
    /// their retention): hold it for the removal, never across an await.
    /// Waits while a backup runs.
    pub fn removal_permit(&self) -> RwLockReadGuard<'_, ()> {
        self.removals.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops every removal of stored data until the guard is dropped (a backup
    /// copying the trees one after another).
    pub fn pause_removals(&self) -> RwLockWriteGuard<'_, ()> {
        self.removals.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every write made before this call durable (see the module doc).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.db_file
            .sync_data()
            .map_err(|source| StoreError::Sync {
                path: self.dir.join("db"),
                source,
            })?;
        self.sync_new_blobs()
    }

    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let blobs = self.dir.join("blobs");
        let Ok(entries) = std::fs::read_dir(&blobs) else {
            return Ok(());
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut newest = *synced;
        for entry in entries.flatten() {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if id <= *synced {
                continue;
            }
            let path = entry.path();
            match File::open(&path) {
                Ok(f) => f
                    .sync_data()
                    .map_err(|source| StoreError::Sync { path, source })?,
                // sled may have collected it meanwhile; then nothing refers to it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Sync { path, source }),
            }
            newest = newest.max(id);
        }
        if newest > *synced {
            sync_path(&blobs)?;
            *synced = newest;
        }
        Ok(())
    }
}

/// sled's error in the user's terms when the data directory is the cause.
fn open_error(dir: &Path, source: sled::Error) -> StoreError {
    if let Some(in_use) = data_dir::in_use(dir) {
        return in_use.into();
    }
    let source = match source {
        sled::Error::Io(io) => match data_dir::unusable(dir, io) {
            Ok(unusable) => return unusable.into(),
            Err(io) => sled::Error::Io(io),
        },
        other => other,
    };
    StoreError::Open {
        path: dir.to_path_buf(),
        source,
    }
}

/// Closes the directory and sled's files to other users (they hold connection
/// secrets); says so when a directory from before was open, or still is.
fn keep_private(dir: &Path, prepared: Prepared) {
    let dir_shown = dir.display();
    match prepared {
        Prepared::Private => {}
        Prepared::MadePrivate { was } => tracing::warn!(
            "data directory {dir_shown} was open to other users (mode {was:o}); \
             made it 0700 and its files 0600"
        ),
        Prepared::StillOpen { mode, error } => tracing::warn!(
            %error,
            "data directory {dir_shown} is open to other users (mode {mode:o}) and cannot \
             be changed; make it 0700 or move the data to a private directory"
        ),
    }
    if let Err(error) = data_dir::make_private(dir) {
        tracing::warn!(%error, "cannot make the files in {dir_shown} private");
    }
}

fn sync_path(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| StoreError::Sync {
            path: path.to_path_buf(),
            source,
        })
}
