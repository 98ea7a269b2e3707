//! The data directory as a place on disk: created private (`0700`), kept
//! private (its files `0600`, since the catalog holds connection secrets), and
//! refused with one sentence naming the cause and the fix when it cannot be used.
//!
//! Does not open sled; `Store::open` does that between `prepare` and
//! `make_private`, and asks `in_use` when sled cannot take its lock.

use std::fs::{DirBuilder, File, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::pid_file::PidFile;

/// Permission bits for the directory and every directory in it.
const DIR_MODE: u32 = 0o700;
/// Permission bits for every file in it.
const FILE_MODE: u32 = 0o600;
/// Bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory {path} is a file, not a directory: pass --data-dir a directory path")]
    IsAFile { path: PathBuf },
    #[error(
        "cannot create data directory {path}: {file} is a file, not a directory: \
         pass --data-dir a path under a directory"
    )]
    ParentIsAFile { path: PathBuf, file: PathBuf },
    #[error("cannot create data directory {path}: {}", remedy(source.kind()))]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use data directory {path}: {}", remedy(source.kind()))]
    Unusable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another stowage is already using {path}{}: stop it, or pass --data-dir another directory",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse { path: PathBuf, pid: Option<u32> },
}

/// What `prepare` found.
#[derive(Debug)]
pub enum Prepared {
    /// Created, or already closed to others.
    Private,
    /// It let others in (`was`, the old mode); it no longer does.
    MadePrivate { was: u32 },
    /// It lets others in and could not be changed (another owner, say).
    StillOpen { mode: u32, error: std::io::Error },
}

/// Makes sure `dir` is a directory only its owner can enter, creating it
/// (`0700`; missing parents with the default mode) if needed.
pub fn prepare(dir: &Path) -> Result<Prepared, DataDirError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & OTHERS == 0 {
                return Ok(Prepared::Private);
            }
            Ok(
                match std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)) {
                    Ok(()) => Prepared::MadePrivate { was: mode },
                    Err(error) => Prepared::StillOpen { mode, error },
                },
            )
        }
        Ok(_) => Err(DataDirError::IsAFile {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            create(dir)?;
            Ok(Prepared::Private)
        }
        Err(source) => Err(create_error(dir, source)),
    }
}

fn create(dir: &Path) -> Result<(), DataDirError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| create_error(dir, source))?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => Ok(()),
        // Created meanwhile by someone else: check it as an existing one.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => prepare(dir).map(|_| ()),
        Err(source) => Err(create_error(dir, source)),
    }
}

fn create_error(dir: &Path, source: std::io::Error) -> DataDirError {
    if source.kind() == ErrorKind::NotADirectory {
        // The nearest ancestor that exists and is not a directory.
        let file = dir
            .ancestors()
            .skip(1)
            .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()));
        if let Some(file) = file {
            return DataDirError::ParentIsAFile {
                path: dir.to_path_buf(),
                file: file.to_path_buf(),
            };
        }
    }
    DataDirError::Create {
        path: dir.to_path_buf(),
        source,
    }
}

/// Words an I/O error opening sled as a data-directory problem, if it is one
/// the user can fix by choosing another directory or its permissions.
pub fn unusable(dir: &Path, source: std::io::Error) -> Result<DataDirError, std::io::Error> {
    match source.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem | ErrorKind::StorageFull => {
            Ok(DataDirError::Unusable {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Err(source),
    }
}

/// `InUse` if another process holds sled's lock on `dir/db` (sled's own
/// error for that is a formatted `WouldBlock`), naming its pid when known.
pub fn in_use(dir: &Path) -> Option<DataDirError> {
    let db = File::open(dir.join("db")).ok()?;
    match db.try_lock() {
        Err(std::fs::TryLockError::WouldBlock) => Some(DataDirError::InUse {
            path: dir.to_path_buf(),
            pid: PidFile::read(dir),
        }),
        // Free (released when `db` closes) or unknowable: not the cause.
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// Removes others' bits from every file (`0600`) and directory (`0700`)
/// under `dir`; returns how many it changed. Symlinks are left alone.
pub fn make_private(dir: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let mode = if meta.is_dir() {
                pending.push(entry.path());
                DIR_MODE
            } else if meta.is_file() {
                FILE_MODE
            } else {
                continue;
            };
            if meta.permissions().mode() & OTHERS != 0 {
                std::fs::set_permissions(entry.path(), Permissions::from_mode(mode))?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// The fix for an I/O error on the data directory, in a few words.
fn remedy(kind: ErrorKind) -> String {
    match kind {
        ErrorKind::PermissionDenied => "permission denied: run stowage as a user that may \
                                        write there, or pass --data-dir a directory it owns"
            .to_owned(),
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only: pass --data-dir a \
                                          directory on a writable file system"
            .to_owned(),
        ErrorKind::StorageFull => {
            "no space left on the device: free some, or pass --data-dir another file system"
                .to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn new_directory_is_private() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a").join("data");
        let prepared = prepare(&dir).expect("created");
        assert!(matches!(prepared, Prepared::Private), "{prepared:?}");
        assert_eq!(mode(&dir), DIR_MODE);
    }

    #[test]
    fn existing_open_directory_and_its_files_are_made_private() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("blobs")).expect("mkdir");
        std::fs::write(dir.join("db"), b"").expect("write");
        std::fs::write(dir.join("blobs").join("1"), b"").expect("write");
        for (path, bits) in [
            (dir.clone(), 0o755),
            (dir.join("blobs"), 0o755),
            (dir.join("db"), 0o644),
            (dir.join("blobs").join("1"), 0o640),
        ] {
            std::fs::set_permissions(&path, Permissions::from_mode(bits)).expect("chmod");
        }
        let prepared = prepare(&dir).expect("prepared");
        assert!(
            matches!(prepared, Prepared::MadePrivate { was: 0o755 }),
            "{prepared:?}"
        );
        assert_eq!(make_private(&dir).expect("walk"), 3);
        assert_eq!(mode(&dir), DIR_MODE);
        assert_eq!(mode(&dir.join("blobs")), DIR_MODE);
        assert_eq!(mode(&dir.join("db")), FILE_MODE);
        assert_eq!(mode(&dir.join("blobs").join("1")), FILE_MODE);
    }

    #[test]
    fn a_file_or_a_file_above_is_named() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = root.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        let err = prepare(&file).expect_err("a file");
        assert!(matches!(err, DataDirError::IsAFile { .. }), "{err:?}");
        let err = prepare(&file.join("a").join("data")).expect_err("under a file");
        match err {
            DataDirError::ParentIsAFile { file: named, .. } => assert_eq!(named, file),
            other => panic!("{other:?}"),
        }
    }
}
