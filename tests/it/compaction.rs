//! Compaction end to end on the real binary: an archive fills the log, is
//! deleted, retention removes every record; the disk use stays up while the
//! server runs (sled reuses, does not shrink); `stowage compact` on the
//! stopped server brings it down, and the server starts on the result with
//! its configuration, its sequence numbers and ids never reused. Refused while
//! a server runs; an interrupted swap is finished by the next start; a bad
//! directory is named.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::aws::ARN_PREFIX;
use crate::support::server::BIN;

const WAIT: Duration = Duration::from_secs(60);
const RECORDS: usize = 8000;

async fn log_status(server: &TestServer) -> Value {
    let reply = server.get("/v1/log").await;
    assert_eq!(reply.status, StatusCode::OK, "GET /v1/log: {reply:?}");
    reply.json()
}

async fn compact(data_dir: &Path, extra: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command.arg("compact").arg("--data-dir").arg(data_dir);
    command.args(extra).env_remove("RUST_LOG");
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("compact finished in time")
        .expect("run stowage compact")
}

/// Bytes the files under `dir` occupy (allocated blocks).
fn disk_use(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let meta = entry.as_ref().expect("entry").metadata().expect("stat");
            if meta.is_dir() {
                pending.push(entry.expect("entry").path());
            }
            total += meta.blocks() * 512;
        }
    }
    total
}

/// Fills the log with `RECORDS` 4 KiB events an archive holds, deletes the
/// archive and waits until retention removed them all.
async fn fill_and_release(server: &TestServer) {
    server
        .aws_ok("CreateEventBus", &json!({ "Name": "orders" }))
        .await;
    server
        .aws_ok(
            "CreateArchive",
            &json!({
                "ArchiveName": "fill",
                "EventSourceArn": format!("{ARN_PREFIX}default"),
                "EventPattern": json!({ "source": ["shop"] }).to_string(),
            }),
        )
        .await;
    let detail = json!({ "pad": "x".repeat(4000) }).to_string();
    for _ in 0..RECORDS / 10 {
        let entries: Vec<Value> = (0..10)
            .map(|_| json!({ "Source": "shop", "DetailType": "t", "Detail": detail }))
            .collect();
        let reply = server
            .aws_ok("PutEvents", &json!({ "Entries": entries }))
            .await;
        assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    }
    server
        .aws_ok("DeleteArchive", &json!({ "ArchiveName": "fill" }))
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let log = log_status(server).await;
        if log["records"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never removed: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = log_status(server).await;
    assert_eq!(log["nextSeq"], RECORDS, "{log}");
}

#[tokio::test]
async fn compaction_gives_space_back_and_the_server_carries_on() {
    let mut server = TestServer::builder()
        .env("STOWAGE_LOG__MIN_RETENTION", "100ms")
        .env("STOWAGE_LOG__RETENTION_SWEEP_INTERVAL", "50ms")
        .env("STOWAGE_STORAGE__COMPACT_ON_START", "never")
        .start()
        .await;
    fill_and_release(&server).await;

    // Refused while the server runs, naming it; nothing changes.
    let refused = compact(server.data_dir(), &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("another stowage is already using") && stderr.contains("pid"),
        "{stderr}"
    );

    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    let before = disk_use(server.data_dir());
    let started = Instant::now();
    let done = compact(server.data_dir(), &["--json"]).await;
    let seconds = started.elapsed().as_secs_f64();
    assert!(done.status.success(), "{done:?}");
    let report: Value = serde_json::from_slice(&done.stdout).expect("JSON report");
    let after = disk_use(server.data_dir());
    eprintln!("compaction: {before} bytes -> {after} bytes in {seconds:.2} s: {report}");
    assert!(
        after * 3 < before,
        "disk use did not go down: {before} -> {after}"
    );
    assert_eq!(report["afterBytes"], after, "{report}");
    let root = server.root().to_path_buf();
    for leftover in ["data.compacting", "data.precompact"] {
        assert!(!root.join(leftover).exists(), "{leftover} left behind");
    }

    // The server starts on it: configuration kept, seqs and ids not reused.
    server.restart().await;
    let log = log_status(&server).await;
    assert_eq!(log["records"], 0, "{log}");
    assert_eq!(log["nextSeq"], RECORDS, "{log}");
    server
        .aws_ok("DescribeEventBus", &json!({ "Name": "orders" }))
        .await;
    server.publish_from("after", json!({ "n": 1 })).await;
    assert_eq!(log_status(&server).await["nextSeq"], RECORDS + 1);

    // A crash between the two renames, the copy incomplete: rolled back.
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    let data = server.data_dir().to_path_buf();
    std::fs::rename(&data, root.join("data.precompact")).expect("rename");
    std::fs::create_dir(root.join("data.compacting")).expect("mkdir");
    server.restart().await;
    assert_eq!(log_status(&server).await["nextSeq"], RECORDS + 1);
    assert!(!root.join("data.precompact").exists());
    assert!(!root.join("data.compacting").exists());

    // A crash between the two renames, the copy complete: finished.
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    std::fs::rename(&data, root.join("data.compacting")).expect("rename");
    std::fs::write(root.join("data.compacting/stowage.compacted"), b"").expect("marker");
    std::fs::create_dir(root.join("data.precompact")).expect("mkdir");
    server.restart().await;
    assert_eq!(log_status(&server).await["nextSeq"], RECORDS + 1);
    server
        .aws_ok("DescribeEventBus", &json!({ "Name": "orders" }))
        .await;
    for leftover in ["data.compacting", "data.precompact"] {
        assert!(!root.join(leftover).exists(), "{leftover} left behind");
    }
    assert!(!data.join("stowage.compacted").exists());
}

#[tokio::test]
async fn a_missing_or_foreign_directory_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let missing = root.path().join("nothing-here");
    let out = compact(&missing, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no data directory at"), "{stderr}");
    assert!(!missing.exists(), "created {missing:?}");

    let foreign = root.path().join("photos");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("a.jpg"), b"x").expect("write");
    let out = compact(&foreign, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a stowage data directory"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(foreign.join("a.jpg")).expect("kept"), b"x");
}

#[tokio::test]
async fn serve_compacts_at_start_when_the_file_is_mostly_free_space() {
    let mut server = TestServer::builder()
        .env("STOWAGE_LOG__MIN_RETENTION", "100ms")
        .env("STOWAGE_LOG__RETENTION_SWEEP_INTERVAL", "50ms")
        .start()
        .await;
    fill_and_release(&server).await;
    let running = log_status(&server).await["diskBytes"]
        .as_u64()
        .expect("diskBytes");
    let status = server.terminate().await;
    assert!(status.success(), "{status:?}");
    let before = disk_use(server.data_dir());
    server.restart().await;
    let after = log_status(&server).await["diskBytes"]
        .as_u64()
        .expect("diskBytes");
    assert!(
        after * 3 < running && disk_use(server.data_dir()) * 3 < before,
        "not compacted at start: {running} -> {after}; logs:\n{}",
        server.logs()
    );
    assert!(
        server.logs().contains("compacted the database"),
        "{}",
        server.logs()
    );
    server
        .aws_ok("DescribeEventBus", &json!({ "Name": "orders" }))
        .await;
    assert_eq!(log_status(&server).await["nextSeq"], RECORDS);
}
