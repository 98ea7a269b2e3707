//! `stowage backup --out DIR` against a real server, and `stowage serve
//! --data-dir DIR` on the copy: every event acknowledged before the backup
//! began is there, so is the configuration and every pending delivery; a
//! non-empty DIR is refused; a server killed mid-backup leaves no DIR behind.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::cli::{stdout, stowage};
use crate::support::load::{self, Acked};
use crate::support::routes::fast_retries;
use crate::support::server::BIN;
use crate::support::sink::{Behaviour, Sink};
use crate::support::{TestServer, envelope, http};

/// An acknowledged event and when its `200` arrived.
type Timed = (Acked, Instant);

/// Publishes `pad`-byte events through `POST /events` until `stop` is set;
/// returns every acknowledged one.
async fn publish_until_stopped(
    base: String,
    id: usize,
    pad: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Timed> {
    let client = http();
    let pad = "x".repeat(pad);
    let mut acked = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let marker = format!("p{id}-n{n}");
        let body = envelope(
            load::SOURCE,
            "Load",
            json!({ "marker": marker, "pad": pad }),
        );
        let Ok(response) = client
            .post(format!("{base}/events"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
        else {
            break;
        };
        if response.status() != StatusCode::OK {
            continue;
        }
        let Ok(reply) = response.json::<Value>().await else {
            break;
        };
        let id = reply["eventId"]
            .as_str()
            .expect("a 200 carries eventId")
            .to_owned();
        acked.push((
            Acked {
                id,
                marker,
                round: 0,
            },
            Instant::now(),
        ));
    }
    acked
}

fn start_publishers(
    server: &TestServer,
    count: usize,
    pad: usize,
) -> (Arc<AtomicBool>, JoinSet<Vec<Timed>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for id in 0..count {
        tasks.spawn(publish_until_stopped(
            server.base_url(),
            id,
            pad,
            stop.clone(),
        ));
    }
    (stop, tasks)
}

async fn stop_publishers(stop: Arc<AtomicBool>, mut tasks: JoinSet<Vec<Timed>>) -> Vec<Timed> {
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("publisher task"));
    }
    all
}

async fn backup(server: &TestServer, out: &Path) -> Output {
    let out = out.to_str().expect("a UTF-8 temp path");
    stowage(&[
        "backup",
        "--out",
        out,
        "--endpoint",
        &server.base_url(),
        "--json",
    ])
    .await
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_every_acked_event_and_the_configuration() {
    let server = TestServer::start().await;
    let sink = Sink::start().await;
    server
        .aws_ok("CreateEventBus", &json!({ "Name": "orders" }))
        .await;
    server
        .aws_ok(
            "PutRule",
            &json!({ "Name": "to-sink", "EventBusName": "orders",
                     "EventPattern": json!({ "source": ["com.example.orders"] }).to_string() }),
        )
        .await;
    let reply = server
        .aws_ok(
            "PutTargets",
            &json!({ "Rule": "to-sink", "EventBusName": "orders",
                     "Targets": [{ "Id": "sink", "Arn": sink.url("/orders") }] }),
        )
        .await;
    assert_eq!(reply["FailedEntryCount"], 0);
    let connection = server
        .create_connection(
            "conn",
            "API_KEY",
            json!({ "ApiKeyAuthParameters": { "ApiKeyName": "x-key", "ApiKeyValue": "secret" } }),
        )
        .await;
    server
        .create_api_destination("dest", &connection, &sink.url("/dest"), "POST", json!({}))
        .await;

    server
        .aws_ok(
            "CreateArchive",
            &json!({ "ArchiveName": "everything",
                     "EventSourceArn": "arn:aws:events:us-east-1:000000000000:event-bus/default" }),
        )
        .await;
    let (stop, publishers) = start_publishers(&server, 6, 400);
    // Let a few thousand events in before the backup begins.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log_records().await < 3000.0 {
        assert!(Instant::now() < deadline, "load did not flow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("copy");
    let began = Instant::now();
    let output = backup(&server, &out).await;
    let acked = stop_publishers(stop, publishers).await;
    assert!(
        output.status.success(),
        "backup failed: {}",
        stderr(&output)
    );
    let summary: Value = serde_json::from_str(stdout(&output).trim()).expect("--json summary");
    assert!(
        // Records are sled entries: the log's are chunks of many events.
        summary["records"].as_u64().expect("records") > 100,
        "{summary}"
    );
    assert!(
        summary["bytes"].as_u64().expect("bytes") > 3000 * 400,
        "{summary}"
    );
    assert!(summary["trees"].as_u64().expect("trees") >= 8, "{summary}");
    assert!(summary["seconds"].is_number(), "{summary}");
    assert_eq!(mode(&out), 0o700, "the copy is private");
    // The generated secrets key comes along: the copy's sealed connection
    // secrets open with it (the connection is checked after the restore).
    let key = out.join("secrets.key");
    assert_eq!(
        std::fs::read(&key).expect("the key is in the copy"),
        std::fs::read(server.data_dir().join("secrets.key")).expect("the server's key")
    );
    assert_eq!(mode(&key), 0o600, "the key is private");
    assert!(!root.path().join("copy.partial").exists());

    let before: Vec<Acked> = acked
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(a, _)| a.clone())
        .collect();
    let during = acked.len() - before.len();
    assert!(
        before.len() >= 3000,
        "{} acked before the backup",
        before.len()
    );

    let restored = TestServer::builder().data_dir(&out).start().await;
    load::verify(&restored, &before).await;
    let buses = restored.aws_ok("ListEventBuses", &json!({})).await;
    assert!(
        buses["EventBuses"]
            .as_array()
            .expect("buses")
            .iter()
            .any(|b| b["Name"] == "orders"),
        "{buses}"
    );
    let targets = restored
        .aws_ok(
            "ListTargetsByRule",
            &json!({ "Rule": "to-sink", "EventBusName": "orders" }),
        )
        .await;
    assert_eq!(targets["Targets"][0]["Id"], "sink", "{targets}");
    assert_eq!(
        targets["Targets"][0]["Arn"],
        sink.url("/orders"),
        "{targets}"
    );
    let described = restored
        .aws_ok("DescribeConnection", &json!({ "Name": "conn" }))
        .await;
    assert_eq!(described["AuthorizationType"], "API_KEY", "{described}");
    let described = restored
        .aws_ok("DescribeApiDestination", &json!({ "Name": "dest" }))
        .await;
    assert_eq!(
        described["InvocationEndpoint"],
        sink.url("/dest"),
        "{described}"
    );

    let archive = restored
        .aws_ok("DescribeArchive", &json!({ "ArchiveName": "everything" }))
        .await;
    assert!(
        archive["EventCount"].as_u64().expect("EventCount") > 0,
        "{archive}"
    );

    // The copy keeps taking events, with ids that follow the copied ones.
    let id = restored
        .publish_ok(&envelope(
            load::SOURCE,
            "Load",
            json!({ "marker": "after" }),
        ))
        .await;
    assert!(
        !acked.iter().any(|(a, _)| a.id == id),
        "id {id} was handed out before"
    );
    eprintln!(
        "{} events acked before the backup, {during} during it",
        before.len()
    );
}

#[tokio::test]
async fn pending_deliveries_survive_a_restore() {
    let sink = Sink::start().await;
    sink.set_for("/hook", Behaviour::Status(500));
    let mut server = fast_retries().start().await;
    server
        .route_source_to(
            "to-sink",
            "com.example.backup",
            "sink",
            &sink.url("/hook"),
            json!({}),
        )
        .await;
    sink.set_for("/dead", Behaviour::Status(400));
    server
        .route_source_to(
            "to-dead",
            "com.example.dead",
            "dead",
            &sink.url("/dead"),
            json!({}),
        )
        .await;
    server
        .publish_from("com.example.dead", json!({ "n": 0 }))
        .await;
    let letters = server
        .wait_for_dead_letters("", 1, Duration::from_secs(30))
        .await;
    let letter_id: u64 = letters[0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric id");
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            server
                .publish_from("com.example.backup", json!({ "n": n }))
                .await,
        );
    }
    // Every event has failed at least once: each is a pending delivery.
    sink.wait_for_on("/hook", 20, Duration::from_secs(30)).await;
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("copy");
    let output = backup(&server, &out).await;
    assert!(
        output.status.success(),
        "backup failed: {}",
        stderr(&output)
    );
    server.kill9().await;

    let seen_before = sink.received_on("/hook").len();
    sink.set_for("/hook", Behaviour::Ok);
    let restored = fast_retries().data_dir(&out).start().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: std::collections::HashSet<String> = sink.received_on("/hook")[seen_before..]
            .iter()
            .filter_map(|r| r.body_json()["id"].as_str().map(str::to_owned))
            .collect();
        if ids.iter().all(|id| delivered.contains(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} delivered after restore; logs:\n{}",
            delivered.len(),
            ids.len(),
            restored.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The dead letter came along, and the next one gets a new id.
    let letters = restored.dead_letters("").await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["id"], letter_id.to_string());
    restored
        .publish_from("com.example.dead", json!({ "n": 1 }))
        .await;
    let letters = restored
        .wait_for_dead_letters("", 2, Duration::from_secs(30))
        .await;
    let newest: u64 = letters
        .iter()
        .map(|l| {
            l["id"]
                .as_str()
                .expect("id")
                .parse::<u64>()
                .expect("numeric id")
        })
        .max()
        .expect("two letters");
    assert!(newest > letter_id, "letter id {newest} after {letter_id}");
}

#[tokio::test]
async fn a_non_empty_out_dir_is_refused() {
    let server = TestServer::start().await;
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("copy");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), b"mine").expect("write");
    let output = backup(&server, &out).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not empty"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(out.join("keep.txt")).expect("untouched"),
        b"mine"
    );
    assert!(!root.path().join("copy.partial").exists());

    // An empty directory is fine: the copy takes its place.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let output = backup(&server, &empty).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(empty.join("db").exists());
    assert_eq!(mode(&empty), 0o700);
}

/// About 40 MB of events: far more than the socket buffers between the
/// server and a CLI, so a stopped CLI leaves the server mid-copy.
async fn fill_large(server: &TestServer) -> Vec<Timed> {
    let (stop, publishers) = start_publishers(server, 8, 16 * 1024);
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.log_records().await < 2500.0 {
        assert!(Instant::now() < deadline, "load did not flow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_publishers(stop, publishers).await
}

/// Starts `stowage backup --out out` and, once the server is streaming,
/// freezes it (SIGSTOP): the server stays mid-copy, removals paused, until
/// the CLI is continued (SIGCONT on the returned pid).
async fn stalled_backup(server: &TestServer, out: &Path) -> (tokio::process::Child, Pid) {
    let cli = tokio::process::Command::new(BIN)
        .args([
            "backup",
            "--out",
            out.to_str().expect("UTF-8"),
            "--endpoint",
            &server.base_url(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn stowage backup");
    let cli_pid =
        Pid::from_raw(i32::try_from(cli.id().expect("running")).expect("pid")).expect("pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.metrics().await.get("stowage_backup_running") != Some(1.0) {
        assert!(Instant::now() < deadline, "the backup never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    kill_process(cli_pid, Signal::STOP).expect("SIGSTOP the CLI");
    (cli, cli_pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_archives_during_a_backup_does_not_stall_the_server() {
    const ARCHIVES: usize = 16;
    let server = TestServer::start().await;
    let bus = "arn:aws:events:us-east-1:000000000000:event-bus/default";
    for n in 0..ARCHIVES {
        server
            .aws_ok(
                "CreateArchive",
                &json!({ "ArchiveName": format!("a{n}"), "EventSourceArn": bus }),
            )
            .await;
    }
    fill_large(&server).await;
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("copy");
    let (cli, cli_pid) = stalled_backup(&server, &out).await;
    // More deletions at once than the server has async workers: each purges
    // the archive's entries, which waits for the backup to end.
    let mut deletes = JoinSet::new();
    for n in 0..ARCHIVES {
        let base = server.base_url();
        deletes.spawn(async move {
            http()
                .post(format!("{base}/"))
                .header("x-amz-target", "AWSEvents.DeleteArchive")
                .header("content-type", "application/x-amz-json-1.1")
                .body(json!({ "ArchiveName": format!("a{n}") }).to_string())
                .send()
                .await
                .map(|r| r.status())
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = tokio::time::timeout(Duration::from_secs(10), server.healthz()).await;
    kill_process(cli_pid, Signal::CONT).expect("SIGCONT the CLI");
    assert_eq!(
        health.ok(),
        Some(StatusCode::OK),
        "the server stopped answering while a backup held removals; logs:\n{}",
        server.logs()
    );
    while let Some(done) = deletes.join_next().await {
        assert_eq!(done.expect("task").expect("answered"), StatusCode::OK);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), cli.wait_with_output())
        .await
        .expect("the CLI ends")
        .expect("its output");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_backup_leaves_no_copy_and_restarts() {
    let mut server = TestServer::start().await;
    let acked = fill_large(&server).await;
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("copy");
    let (cli, cli_pid) = stalled_backup(&server, &out).await;
    server.kill9().await;
    kill_process(cli_pid, Signal::CONT).expect("SIGCONT the CLI");
    let output = tokio::time::timeout(Duration::from_secs(60), cli.wait_with_output())
        .await
        .expect("the CLI ends")
        .expect("its output");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("backup failed; nothing was written"), "{err}");
    assert!(!out.exists(), "no copy left behind");
    assert!(
        !root.path().join("copy.partial").exists(),
        "no partial copy left behind"
    );

    server.restart().await;
    assert_eq!(server.healthz().await, StatusCode::OK);
    let (last, _) = acked.last().expect("some events");
    assert_eq!(server.event(&last.id).await.status, StatusCode::OK);
}
