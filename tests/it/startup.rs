//! `serve` refuses to start, saying why in one sentence, when it cannot own its
//! data dir: one server per data dir (naming the other one's pid), a data dir
//! that is a file or under one, one this user may not write. It keeps the data
//! dir private: `0700`, its files `0600`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::TestServer;
use crate::support::server::{
    output_of_refused, serve_command, serve_command_of, serve_expecting_exit,
};

/// The user the permission test runs the server as when the tests run as root
/// (root ignores permission bits).
const NOBODY: u32 = 65534;

/// Neither a raw error from sled or the OS, nor a backtrace, stands alone.
fn assert_no_raw_error(stderr: &str) {
    assert!(!stderr.contains("WouldBlock"), "{stderr}");
    assert!(!stderr.contains("could not acquire lock"), "{stderr}");
    assert!(!stderr.contains("File exists"), "{stderr}");
}

#[tokio::test]
async fn second_server_on_the_same_data_dir_names_the_first_ones_pid() {
    let server = TestServer::start().await;
    let root = server
        .data_dir()
        .parent()
        .expect("the data dir has a parent");
    let output = serve_expecting_exit(root, &[], &[]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sentence = format!(
        "another stowage is already using {} (pid {}): stop it, or pass --data-dir another directory",
        server.data_dir().display(),
        server.pid()
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert_no_raw_error(&stderr);
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
    assert_eq!(
        server.healthz().await,
        reqwest::StatusCode::OK,
        "the first one is unharmed"
    );
}

#[tokio::test]
async fn stale_pid_file_does_not_block_startup_and_is_removed_on_clean_exit() {
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("data");
    std::fs::create_dir(&data_dir).expect("create the data dir");
    // As if left by a crashed server: sled's lock is free, the file is not.
    std::fs::write(data_dir.join("stowage.pid"), "4194000\n").expect("write a stale pid");
    let mut server = TestServer::builder().data_dir(&data_dir).start().await;
    let recorded = std::fs::read_to_string(data_dir.join("stowage.pid")).expect("pid file");
    assert_eq!(recorded.trim(), server.pid().to_string());

    assert_eq!(server.healthz().await, reqwest::StatusCode::OK);
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    assert!(
        !data_dir.join("stowage.pid").exists(),
        "removed on a clean exit; logs:\n{}",
        server.logs()
    );
}

#[tokio::test]
async fn data_dir_that_is_a_file_stops_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("data"), b"not a directory").expect("write file");
    let output = serve_expecting_exit(dir.path(), &[], &[]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sentence = format!(
        "data directory {} is a file, not a directory: pass --data-dir a directory path",
        dir.path().join("data").display()
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert_no_raw_error(&stderr);
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
}

#[tokio::test]
async fn data_dir_under_a_file_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain");
    std::fs::write(&file, b"not a directory").expect("write file");
    let data_dir = file.join("stowage").join("data");
    let output = output_of_refused(serve_command(&data_dir)).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sentence = format!(
        "cannot create data directory {}: {} is a file, not a directory",
        data_dir.display(),
        file.display()
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert!(!stderr.contains("Not a directory (os error"), "{stderr}");
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
}

#[tokio::test]
async fn data_dir_this_user_may_not_write_says_permission_denied() {
    let root = tempfile::tempdir().expect("temp dir");
    let locked = root.path().join("locked");
    std::fs::create_dir(&locked).expect("create a dir");
    let existing = locked.join("existing");
    std::fs::create_dir(&existing).expect("create a dir");
    // Others (nobody) may enter but not write; as root the server runs as nobody.
    for (path, mode) in [(root.path(), 0o755), (&locked, 0o555), (&existing, 0o555)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let as_nobody = rustix::process::geteuid().is_root();
    // The build's own binary may sit under a directory nobody cannot enter
    // (a checkout in /root): nobody runs a copy inside the test's directory.
    let bin = if as_nobody {
        let copy = root.path().join("stowage");
        std::fs::copy(crate::support::server::BIN, &copy).expect("copy the binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        copy
    } else {
        Path::new(crate::support::server::BIN).to_path_buf()
    };
    let run = |data_dir: &Path| {
        let mut command = serve_command_of(&bin, data_dir);
        if as_nobody {
            command.uid(NOBODY).gid(NOBODY);
        }
        output_of_refused(command)
    };

    let missing = locked.join("data");
    let output = run(&missing).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sentence = format!(
        "cannot create data directory {}: permission denied: run stowage as a user that may \
         write there, or pass --data-dir a directory it owns",
        missing.display()
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert!(!stderr.contains("No such file or directory"), "{stderr}");

    let output = run(&existing).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let sentence = format!(
        "cannot use data directory {}: permission denied: run stowage as a user that may \
         write there, or pass --data-dir a directory it owns",
        existing.display()
    );
    assert!(stderr.contains(&sentence), "{stderr}");
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");

    // Let the temp dir be removed.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Every entry under `dir` (not following symlinks), with its permission bits.
fn modes_under(dir: &Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let entry = entry.expect("dir entry");
            let meta = entry.metadata().expect("stat");
            if meta.is_dir() {
                pending.push(entry.path());
            }
            found.push((
                entry.path(),
                meta.is_dir(),
                meta.permissions().mode() & 0o7777,
            ));
        }
    }
    found
}

fn assert_private(dir: &Path) {
    let mode = std::fs::metadata(dir).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    let entries = modes_under(dir);
    assert!(
        entries.iter().any(|(p, ..)| p.ends_with("db")),
        "{entries:?}"
    );
    for (path, is_dir, mode) in entries {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

#[tokio::test]
async fn new_data_dir_and_every_file_in_it_are_private() {
    let mut server = TestServer::start().await;
    let body = crate::support::envelope("com.example", "Made", serde_json::json!({ "n": 1 }));
    server.publish_ok(&body).await;
    assert_private(server.data_dir());
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    assert_private(server.data_dir());
}

#[tokio::test]
async fn existing_open_data_dir_is_made_private_with_a_warning() {
    let root = tempfile::tempdir().expect("temp dir");
    let data_dir = root.path().join("data");
    let mut server = TestServer::builder().data_dir(&data_dir).start().await;
    assert!(server.terminate().await.success());
    // As an older version, or a careless umask, left it.
    for (path, is_dir, _) in modes_under(&data_dir) {
        let mode = if is_dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    server.restart().await;
    assert_private(&data_dir);
    let logs = server.logs();
    assert!(
        logs.contains("was open to other users (mode 755); made it 0700 and its files 0600"),
        "{logs}"
    );
}
