//! The three directories of a compaction and the crash-safe swap between them.
//!
//! A compaction of `DIR` writes the fresh database into `DIR.compacting`,
//! makes it durable, then writes the marker `stowage.compacted` into it (and
//! syncs it): from then on `DIR.compacting` is complete. The swap is two
//! renames, `DIR` → `DIR.precompact` and `DIR.compacting` → `DIR`, a sync of
//! the parent, the removal of `DIR.precompact`, and last the removal of the
//! marker from `DIR`. A crash can stop it between any two steps; `recover`
//! reads which directories exist and which carry the marker (`Found`),
//! `plan` decides (pure), and `recover` applies the plan: the swap is
//! completed when the fresh copy is complete, otherwise rolled back. Data is
//! never lost, because the old database is removed only once the complete
//! new one is `DIR`.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Written into the fresh database once it is complete and durable.
pub const MARKER: &str = "stowage.compacted";

#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error(
        "data directory {} has no file name: pass --data-dir a path such as ./data",
        dir.display()
    )]
    NoName { dir: PathBuf },
    #[error(
        "{} is left from an interrupted compaction but {} is not the compacted copy: \
         keep the one you want as {}, remove the other, and start again",
        precompact.display(), dir.display(), dir.display()
    )]
    Ambiguous { dir: PathBuf, precompact: PathBuf },
    #[error("{what} {} failed", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The paths of one compaction of `dir`.
#[derive(Clone, Debug)]
pub struct Paths {
    pub dir: PathBuf,
    /// The fresh database being written.
    pub compacting: PathBuf,
    /// The old database, between the two renames and until it is removed.
    pub precompact: PathBuf,
}

impl Paths {
    pub fn of(dir: &Path) -> Result<Paths, SwapError> {
        // A symlinked data directory: the renames happen where the data is.
        let dir = &resolve_links(dir);
        // `./data/` and `data/.` name `data`; `.` alone needs the real name.
        let dir = match dir.file_name() {
            Some(_) => dir.to_path_buf(),
            None => std::fs::canonicalize(dir).map_err(|_| SwapError::NoName {
                dir: dir.to_path_buf(),
            })?,
        };
        let name = dir.file_name().ok_or_else(|| SwapError::NoName {
            dir: dir.to_path_buf(),
        })?;
        let sibling = |suffix: &str| {
            let mut name = name.to_os_string();
            name.push(suffix);
            dir.with_file_name(name)
        };
        Ok(Paths {
            compacting: sibling(".compacting"),
            precompact: sibling(".precompact"),
            dir,
        })
    }

    fn parent(&self) -> PathBuf {
        match self.dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

/// Follows `dir` through symlinks (at most a few), even to a target that no
/// longer exists (renamed away by an interrupted swap).
fn resolve_links(dir: &Path) -> PathBuf {
    let mut dir = dir.to_path_buf();
    for _ in 0..8 {
        let is_link = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink());
        let Some(target) = is_link.then(|| std::fs::read_link(&dir).ok()).flatten() else {
            break;
        };
        dir = match dir.parent() {
            Some(parent) if target.is_relative() => parent.join(target),
            _ => target,
        };
    }
    dir
}

/// What is on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub dir: bool,
    pub dir_marked: bool,
    pub compacting: bool,
    pub compacting_marked: bool,
    pub precompact: bool,
}

/// What `recover` does about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// No compaction was interrupted.
    Nothing,
    /// The copy never completed (the old database is still `DIR`): remove it.
    DiscardCopy,
    /// The first rename happened, the copy is incomplete: put the old one back.
    RollBack,
    /// The copy is complete and not yet `DIR`: rename it into place, then tidy.
    Complete,
    /// The copy is `DIR`: remove what is left of the old one, then the marker.
    Tidy,
    /// `DIR.precompact` exists but `DIR` is not a compacted copy: ask a person.
    Ambiguous,
}

pub fn plan(found: Found) -> Plan {
    match found {
        Found {
            dir: true,
            dir_marked: true,
            ..
        } => Plan::Tidy,
        Found {
            dir: true,
            precompact: true,
            ..
        } => Plan::Ambiguous,
        Found {
            dir: true,
            compacting,
            ..
        } => {
            if compacting {
                Plan::DiscardCopy
            } else {
                Plan::Nothing
            }
        }
        Found {
            dir: false,
            compacting: true,
            compacting_marked: true,
            ..
        } => Plan::Complete,
        Found {
            dir: false,
            precompact: true,
            ..
        } => Plan::RollBack,
        Found {
            dir: false,
            compacting: true,
            ..
        } => Plan::DiscardCopy,
        Found { .. } => Plan::Nothing,
    }
}

/// Reads what is on disk for `paths`.
pub fn look(paths: &Paths) -> Found {
    let is_dir = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_dir());
    let marked = |p: &Path| p.join(MARKER).exists();
    Found {
        dir: is_dir(&paths.dir),
        dir_marked: marked(&paths.dir),
        compacting: is_dir(&paths.compacting),
        compacting_marked: marked(&paths.compacting),
        precompact: is_dir(&paths.precompact),
    }
}

/// Completes or rolls back an interrupted compaction of `paths.dir`; returns
/// what it did (`Plan::Nothing` when there was nothing to do).
pub fn recover(paths: &Paths) -> Result<Plan, SwapError> {
    let plan = plan(look(paths));
    match plan {
        Plan::Nothing => {}
        Plan::DiscardCopy => remove_dir(&paths.compacting)?,
        Plan::RollBack => {
            rename(&paths.precompact, &paths.dir)?;
            sync_dir(&paths.parent())?;
            remove_dir(&paths.compacting)?;
        }
        Plan::Complete => {
            rename(&paths.compacting, &paths.dir)?;
            sync_dir(&paths.parent())?;
            tidy(paths)?;
        }
        Plan::Tidy => tidy(paths)?,
        Plan::Ambiguous => {
            return Err(SwapError::Ambiguous {
                dir: paths.dir.clone(),
                precompact: paths.precompact.clone(),
            });
        }
    }
    Ok(plan)
}

/// Marks the complete, durable copy in `paths.compacting`.
pub fn mark_complete(paths: &Paths) -> Result<(), SwapError> {
    let marker = paths.compacting.join(MARKER);
    let io = |what| {
        let path = marker.clone();
        move |source| SwapError::Io { what, path, source }
    };
    let file = File::create(&marker).map_err(io("creating"))?;
    file.sync_all().map_err(io("syncing"))?;
    sync_dir(&paths.compacting)
}

/// The swap proper, once `mark_complete` returned and nothing holds `paths.dir`.
pub fn swap(paths: &Paths) -> Result<(), SwapError> {
    rename(&paths.dir, &paths.precompact)?;
    rename(&paths.compacting, &paths.dir)?;
    sync_dir(&paths.parent())?;
    tidy(paths)
}

/// Removes the old database, then the marker: the copy is now plain `DIR`.
fn tidy(paths: &Paths) -> Result<(), SwapError> {
    remove_dir(&paths.precompact)?;
    remove_dir(&paths.compacting)?;
    sync_dir(&paths.parent())?;
    let marker = paths.dir.join(MARKER);
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(SwapError::Io {
                what: "removing",
                path: marker,
                source,
            });
        }
    }
    sync_dir(&paths.dir)
}

fn rename(from: &Path, to: &Path) -> Result<(), SwapError> {
    std::fs::rename(from, to).map_err(|source| SwapError::Io {
        what: "renaming",
        path: from.to_path_buf(),
        source,
    })
}

fn remove_dir(path: &Path) -> Result<(), SwapError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SwapError::Io {
            what: "removing",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn sync_dir(path: &Path) -> Result<(), SwapError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| SwapError::Io {
            what: "syncing",
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interrupted_state_is_completed_or_rolled_back() {
        let f = Found::default();
        assert_eq!(plan(f), Plan::Nothing);
        let dir = Found { dir: true, ..f };
        assert_eq!(plan(dir), Plan::Nothing);
        // Crash during the copy or before the first rename.
        let copying = Found {
            compacting: true,
            ..dir
        };
        assert_eq!(plan(copying), Plan::DiscardCopy);
        assert_eq!(
            plan(Found {
                compacting_marked: true,
                ..copying
            }),
            Plan::DiscardCopy
        );
        // Between the two renames.
        let moved = Found {
            precompact: true,
            compacting: true,
            ..f
        };
        assert_eq!(plan(moved), Plan::RollBack);
        assert_eq!(
            plan(Found {
                compacting_marked: true,
                ..moved
            }),
            Plan::Complete
        );
        // After the second rename, before or during the tidying.
        let swapped = Found {
            dir: true,
            dir_marked: true,
            precompact: true,
            ..f
        };
        assert_eq!(plan(swapped), Plan::Tidy);
        assert_eq!(
            plan(Found {
                precompact: false,
                ..swapped
            }),
            Plan::Tidy
        );
        // A DIR.precompact next to a DIR that is not the copy.
        assert_eq!(
            plan(Found {
                precompact: true,
                ..dir
            }),
            Plan::Ambiguous
        );
    }

    #[test]
    fn recovery_completes_a_marked_copy_and_rolls_back_an_unmarked_one() {
        let root = tempfile::tempdir().expect("tempdir");
        let paths = Paths::of(&root.path().join("data")).expect("paths");
        for marked in [true, false] {
            std::fs::create_dir(&paths.precompact).expect("mkdir");
            std::fs::write(paths.precompact.join("db"), b"old").expect("write");
            std::fs::create_dir(&paths.compacting).expect("mkdir");
            std::fs::write(paths.compacting.join("db"), b"new").expect("write");
            if marked {
                mark_complete(&paths).expect("mark");
            }
            let done = recover(&paths).expect("recovered");
            let expected = if marked { "new" } else { "old" };
            assert_eq!(
                std::fs::read(paths.dir.join("db")).expect("db"),
                expected.as_bytes()
            );
            assert_eq!(
                done,
                if marked {
                    Plan::Complete
                } else {
                    Plan::RollBack
                }
            );
            assert_eq!(
                look(&paths),
                Found {
                    dir: true,
                    ..Found::default()
                }
            );
            std::fs::remove_dir_all(&paths.dir).expect("clean");
        }
    }

    #[test]
    fn a_symlinked_directory_is_swapped_where_its_data_is() {
        let root = tempfile::tempdir().expect("tempdir");
        let real = root.path().join("disk").join("stowage");
        std::fs::create_dir_all(&real).expect("mkdir");
        let link = root.path().join("data");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let paths = Paths::of(&link).expect("paths");
        assert_eq!(paths.dir, real);
        assert_eq!(paths.precompact, real.with_file_name("stowage.precompact"));
        // Between the two renames the target is gone; the link still leads there.
        std::fs::rename(&real, &paths.precompact).expect("rename");
        assert_eq!(Paths::of(&link).expect("paths").dir, real);
        assert_eq!(recover(&paths).expect("rolled back"), Plan::RollBack);
        assert!(link.join(".").is_dir());
    }

    #[test]
    fn siblings_are_named_after_the_directory() {
        let paths = Paths::of(Path::new("/srv/stowage/data/")).expect("paths");
        assert_eq!(paths.compacting, Path::new("/srv/stowage/data.compacting"));
        assert_eq!(paths.precompact, Path::new("/srv/stowage/data.precompact"));
    }
}
