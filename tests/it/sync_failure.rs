//! A sync that fails is answered `503`, never `200`: the data dir is a small
//! tmpfs that runs full. After the first failure the log refuses every write,
//! `/healthz` says so, and the process stays up and answering.
//!
//! Mounting needs root (CI runs as root); otherwise the test says it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestServer, envelope, http};

const MAX_PUBLISHES: usize = 20_000;
const MAX_TIME: Duration = Duration::from_secs(120);

/// A mounted tmpfs, lazily unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "mount -t tmpfs failed as root: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
    }
}

#[tokio::test]
async fn failed_sync_is_503_never_200_and_the_server_stays_up() {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "SKIPPED failed_sync_is_503_never_200_and_the_server_stays_up: mounting a tmpfs needs root"
        );
        return;
    }
    // Drop order: server, then the mount, then the temp dir.
    let root = tempfile::tempdir().expect("temp dir");
    let mount = Tmpfs::mount(&root.path().join("tmpfs"), "3m");
    let mut server = TestServer::builder()
        .data_dir(&mount.dir.join("data"))
        .start()
        .await;

    let body = envelope("com.example", "Filler", json!({ "pad": "x".repeat(1000) })).to_string();
    let started = Instant::now();
    let (mut acked, mut first_503) = (0usize, None);
    for n in 0..MAX_PUBLISHES {
        let response = http()
            .post(server.url("/events"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let reply = match response {
            Ok(response) => crate::support::Reply::read(response).await,
            Err(e) => {
                let alive = server.is_running();
                panic!(
                    "publish {n} got no answer ({e}); server running: {alive}; logs:\n{}",
                    tail(&server.logs())
                );
            }
        };
        match reply.status {
            StatusCode::OK => {
                assert!(
                    first_503.is_none(),
                    "publish {n} got 200 after the first 503 (publish {first_503:?})"
                );
                acked += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(reply.error_code(), "unavailable", "{reply:?}");
                first_503.get_or_insert(n);
                if n >= first_503.unwrap_or(n) + 20 {
                    break;
                }
            }
            other => panic!(
                "publish {n} got {other}, expected 200 or 503: {reply:?}; logs:\n{}",
                tail(&server.logs())
            ),
        }
        assert!(
            started.elapsed() < MAX_TIME,
            "no 503 after {n} publishes in {MAX_TIME:?}"
        );
    }
    let first_503 =
        first_503.unwrap_or_else(|| panic!("{MAX_PUBLISHES} publishes never filled 3 MiB"));
    eprintln!("{acked} acknowledged, first 503 at publish {first_503}");
    assert!(acked > 0, "the tmpfs was full from the start");

    assert!(
        server.is_running(),
        "the process died: {}",
        tail(&server.logs())
    );
    let health = server.get("/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{health:?}");
    // PutEvents entries fail too, without an event id.
    let put = server
        .aws(
            "PutEvents",
            &json!({ "Entries": [{ "Source": "s", "DetailType": "t", "Detail": "{}" }] })
                .to_string(),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    let put = put.json();
    assert_eq!(put["FailedEntryCount"], 1, "{put}");
    assert!(put["Entries"][0]["EventId"].is_null(), "{put}");
    // Still refusing, still answering, after a pause.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = server.publish(&envelope("s", "e", json!({}))).await;
    assert_eq!(again.status, StatusCode::SERVICE_UNAVAILABLE, "{again:?}");
    assert_eq!(again.error_code(), "unavailable");
    let metrics = server.metrics().await;
    assert!(
        metrics
            .get("stowage_log_sync_failures_total")
            .is_some_and(|n| n >= 1.0),
        "the failed sync is counted"
    );
    assert!(
        server.is_running(),
        "the process died: {}",
        tail(&server.logs())
    );
    let logs = server.logs();
    assert!(
        !logs.contains("panicked"),
        "a thread panicked:\n{}",
        tail(&logs)
    );
}

fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
