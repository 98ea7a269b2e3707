//! `stowage.pid` in the data directory: the pid of the server using it, so that
//! a second server can say which process to stop.
//!
//! sled's lock on `db` decides who owns the directory; this file only supplies
//! the number. It is written after that lock is taken and removed when the
//! store is dropped, so a file left by a crashed server is overwritten, never
//! obeyed.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file's name inside the data directory.
pub const NAME: &str = "stowage.pid";

/// Removes the file on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Records this process's pid in `dir`. Call only while holding sled's lock.
    pub fn write(dir: &Path) -> std::io::Result<PidFile> {
        let path = dir.join(NAME);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        writeln!(file, "{}", std::process::id())?;
        Ok(PidFile { path })
    }

    /// The pid recorded in `dir`, if the file is there and holds one.
    pub fn read(dir: &Path) -> Option<u32> {
        std::fs::read_to_string(dir.join(NAME))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Best effort: a file left behind only names a pid the next server ignores.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_pid_is_read_back_and_removed_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = PidFile::write(dir.path()).expect("write");
        assert_eq!(PidFile::read(dir.path()), Some(std::process::id()));
        drop(pid_file);
        assert!(!dir.path().join(NAME).exists());
        assert_eq!(PidFile::read(dir.path()), None);
    }

    #[test]
    fn stale_file_is_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(NAME), "4194999999\nleftover text\n").expect("write");
        let _pid_file = PidFile::write(dir.path()).expect("write");
        assert_eq!(PidFile::read(dir.path()), Some(std::process::id()));
    }
}
