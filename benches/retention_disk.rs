//! Retention disk benchmark: disk use of the real `stowage serve` under a long
//! steady load with deliveries succeeding and retention on.
//!
//! A paced publisher (`STOWAGE_BENCH_RATE` events/s, default 2000, of 1 KiB
//! gateway events over 8 keep-alive connections) runs for `STOWAGE_BENCH_SECS`
//! (default 240) against a server with one rule and one URL target (the sink
//! in benches/delivery/sink.rs, answering 200 at once),
//! `log.min_retention = STOWAGE_BENCH_MIN_RETENTION` (default `60s`) and the
//! sweep every 5 s. Every `STOWAGE_BENCH_SAMPLE_SECS` (default 15) it prints a
//! row from `GET /v1/log`: records kept, their framed bytes ("retained"), the
//! database's size on disk, and disk / retained. Retained data levels off at
//! about rate × (min_retention + one sweep interval); the question is where
//! the disk levels.
//!
//! Scenarios (`STOWAGE_BENCH_ONLY`, a comma list; both by default):
//! - `history`: the default attempt history (10 per delivery; dropped with the
//!   log record it describes, see docs/retention.md);
//! - `nohistory`: `delivery.attempt_history_per_delivery = 0`: the log,
//!   pending and router trees alone.
//!
//! Run it with:
//!
//!     cargo bench --bench retention_disk
//!     STOWAGE_BENCH_SECS=120 STOWAGE_BENCH_MIN_RETENTION=30s cargo bench --bench retention_disk

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

// Shared with the other benches; this one uses a part of each.
#[allow(dead_code)]
mod server_process;
#[allow(dead_code)]
#[path = "delivery/sink.rs"]
mod sink;
use server_process::{Server, env_or, keep_alive, post_json};
use sink::Sink;

const CONNS: u64 = 8;
const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let secs: u64 = env_or("STOWAGE_BENCH_SECS", 240);
    let rate: u64 = env_or("STOWAGE_BENCH_RATE", 2000);
    let sample: u64 = env_or("STOWAGE_BENCH_SAMPLE_SECS", 15);
    let min_retention =
        std::env::var("STOWAGE_BENCH_MIN_RETENTION").unwrap_or_else(|_| "60s".into());
    let only = std::env::var("STOWAGE_BENCH_ONLY").unwrap_or_else(|_| "history,nohistory".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "# retention disk: {rate} events/s of 1 KiB for {secs} s, min_retention {min_retention}, \
         sweep every 5s, {cores} cores"
    );
    for scenario in only.split(',').map(str::trim) {
        let history = match scenario {
            "history" => "10",
            "nohistory" => "0",
            other => panic!("unknown scenario {other}"),
        };
        println!("\n## {scenario} (attempt_history_per_delivery = {history})");
        let server = start(&min_retention, history);
        runtime.block_on(run(&server, rate, secs, sample));
    }
}

fn start(min_retention: &str, history: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = Command::new(env!("CARGO_BIN_EXE_stowage"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .env("STOWAGE_LOG__MIN_RETENTION", min_retention)
        .env("STOWAGE_LOG__RETENTION_SWEEP_INTERVAL", "5s")
        .env("STOWAGE_DELIVERY__ATTEMPT_HISTORY_PER_DELIVERY", history)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start stowage");
    Server::started(child, dir, "stowage listening on http://")
}

async fn run(server: &Server, rate: u64, secs: u64, sample: u64) {
    let sink = Sink::start().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");
    put_rule(&client, server.addr, sink.addr).await;

    let published = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let body = Bytes::from(gateway_event(1024));
    let publishers: Vec<_> = (0..CONNS)
        .map(|_| {
            tokio::spawn(publisher(
                server.addr,
                body.clone(),
                rate / CONNS,
                deadline,
                published.clone(),
            ))
        })
        .collect();

    println!(
        "| t (s) | published | delivered | log records | retained MiB | disk MiB | disk / retained |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut delivered = 0usize;
    let mut peak_ratio = 0.0f64;
    let mut last_disk = 0.0;
    let mut next = started;
    while Instant::now() < deadline {
        next += Duration::from_secs(sample);
        tokio::time::sleep_until(next.into()).await;
        delivered += sink.take().len();
        let log = log_status(&client, server.addr).await;
        let retained = log["recordBytes"].as_f64().unwrap_or(0.0) / MIB;
        let disk = log["diskBytes"].as_f64().unwrap_or(0.0) / MIB;
        let ratio = if retained > 0.0 { disk / retained } else { 0.0 };
        // The ramp-up (nothing removed yet) says nothing about steady state.
        if log["removedRecords"].as_u64().unwrap_or(0) > 0 {
            peak_ratio = peak_ratio.max(ratio);
        }
        last_disk = disk;
        println!(
            "| {} | {} | {} | {} | {retained:.1} | {disk:.1} | {ratio:.2} |",
            started.elapsed().as_secs(),
            published.load(Ordering::Relaxed),
            delivered,
            log["records"],
        );
    }
    for task in publishers {
        task.await.expect("publisher");
    }
    println!(
        "steady state (once removals began): peak disk / retained {peak_ratio:.2} \
         (target <= 2); final disk {last_disk:.1} MiB; files in the data dir {:.1} MiB",
        server.data_mib()
    );
}

async fn log_status(client: &reqwest::Client, server: SocketAddr) -> Value {
    client
        .get(format!("http://{server}/v1/log"))
        .send()
        .await
        .expect("GET /v1/log")
        .json()
        .await
        .expect("log status JSON")
}

async fn put_rule(client: &reqwest::Client, server: SocketAddr, sink: SocketAddr) {
    let aws = async |operation: &str, body: Value| {
        let reply = client
            .post(format!("http://{server}/"))
            .header("x-amz-target", format!("AWSEvents.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .expect("AWS call");
        assert!(
            reply.status().is_success(),
            "{operation}: {}",
            reply.status()
        );
    };
    let pattern = json!({ "source": ["bench"] }).to_string();
    aws(
        "PutRule",
        json!({ "Name": "bench", "EventPattern": pattern }),
    )
    .await;
    let target = json!({ "Id": "t0", "Arn": format!("http://{sink}/t/0") });
    aws(
        "PutTargets",
        json!({ "Rule": "bench", "Targets": [target] }),
    )
    .await;
}

/// A gateway event from source `bench`, padded to `size` bytes.
fn gateway_event(size: usize) -> Vec<u8> {
    let head = r#"{"metadata":{"source":"bench","eventName":"E","eventSchemaVersion":"1"},"data":{"pad":""#;
    let tail = r#""}}"#;
    let mut body = head.as_bytes().to_vec();
    body.resize(size.saturating_sub(tail.len()).max(head.len()), b'x');
    body.extend_from_slice(tail.as_bytes());
    body
}

/// Publishes `per_sec` events a second on one connection until `deadline`.
async fn publisher(
    addr: SocketAddr,
    body: Bytes,
    per_sec: u64,
    deadline: Instant,
    published: Arc<AtomicU64>,
) {
    let mut sender = keep_alive(addr).await;
    let period = Duration::from_secs_f64(1.0 / per_sec.max(1) as f64);
    let mut next = Instant::now();
    while Instant::now() < deadline {
        let response = sender
            .send_request(post_json("/events", &body))
            .await
            .expect("publish");
        assert!(
            response.status().is_success(),
            "publish: {}",
            response.status()
        );
        published.fetch_add(1, Ordering::Relaxed);
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}
