//! Backup benchmark: how fast `POST /v1/backup` streams a database and how
//! fast `stowage backup` turns it into a restorable copy, against the real
//! `stowage serve` (release build) on a temporary data directory.
//!
//! The server is first filled with `STOWAGE_BENCH_EVENTS` (default 200,000)
//! 1 KiB gateway events from 64 keep-alive connections. Then, with nothing
//! else running:
//!
//! - `stream`: the raw stream read to its end and checked by
//!   `backup::Decoder` (every crc and the trailer), nothing written: the
//!   server's copy rate (and how long it paused retention).
//! - `cli`: `stowage backup --out DIR --json`: the stream plus writing the
//!   new sled database, its fdatasyncs and the rename, as an operator runs it.
//!
//! Printed: MiB/s and sled records/s of the stream, events/s (events in the
//! database over the time), the copy's size on disk. Run it with:
//!
//!     cargo bench --bench backup
//!     STOWAGE_BENCH_EVENTS=50000 cargo bench --bench backup

use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use stowage::backup::{Decoder, Item};

mod server_process;
use server_process::{Server, TICKS_PER_SEC, env_or, keep_alive, post_json};

const CONNS: usize = 64;

fn main() {
    let events: usize = env_or("STOWAGE_BENCH_EVENTS", 200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# backup: {events} gateway events of 1 KiB, {cores} cores");
    let server = Server::stowage();
    let started = Instant::now();
    runtime.block_on(fill(&server, events));
    let filled = started.elapsed().as_secs_f64();
    println!(
        "filled in {filled:.1} s ({:.0} events/s); data dir {:.1} MiB",
        events as f64 / filled,
        server.data_mib()
    );

    let ticks = server.cpu_ticks();
    let (bytes, records, seconds) = runtime.block_on(stream(&server));
    let cpu = (server.cpu_ticks() - ticks) as f64 / TICKS_PER_SEC;
    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!(
        "stream: {mib:.1} MiB, {records} records in {seconds:.2} s: {:.1} MiB/s, {:.0} records/s, {:.0} events/s; server CPU {cpu:.2} s, RSS {:.0} MiB (pid {})",
        mib / seconds,
        records as f64 / seconds,
        events as f64 / seconds,
        server.rss_mib(),
        server.pid()
    );

    let out = tempfile::tempdir().expect("tempdir");
    let copy = out.path().join("copy");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_stowage"))
        .args([
            "backup",
            "--json",
            "--endpoint",
            &format!("http://{}", server.addr),
            "--out",
        ])
        .arg(&copy)
        .output()
        .expect("run stowage backup");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "stowage backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("--json summary");
    let bytes = summary["bytes"].as_f64().unwrap_or(0.0);
    let mib = bytes / (1024.0 * 1024.0);
    println!(
        "cli: {mib:.1} MiB, {} records in {seconds:.2} s: {:.1} MiB/s, {:.0} records/s, {:.0} events/s; copy on disk {:.1} MiB",
        summary["records"],
        mib / seconds,
        summary["records"].as_f64().unwrap_or(0.0) / seconds,
        events as f64 / seconds,
        dir_mib(&copy)
    );
}

/// Publishes `events` 1 KiB events over `CONNS` connections.
async fn fill(server: &Server, events: usize) {
    let body = Bytes::from(gateway_event(1024));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CONNS {
        let share = events / CONNS + usize::from(c < events % CONNS);
        let addr = server.addr;
        let body = body.clone();
        tasks.spawn(async move {
            let mut sender = keep_alive(addr).await;
            for _ in 0..share {
                let response = sender
                    .send_request(post_json("/events", &body))
                    .await
                    .expect("publish");
                assert!(response.status().is_success(), "{}", response.status());
                response.into_body().collect().await.expect("reply");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("publisher");
    }
}

/// Reads a whole backup stream, checking it; bytes, records and seconds.
async fn stream(server: &Server) -> (u64, u64, f64) {
    let mut sender = keep_alive(server.addr).await;
    let request = post_json("/v1/backup", &Bytes::new());
    let started = Instant::now();
    let response = sender.send_request(request).await.expect("backup");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.into_body();
    let mut decoder = Decoder::new();
    let (mut bytes, mut records) = (0u64, 0u64);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.expect("stream").into_data() else {
            continue;
        };
        bytes += data.len() as u64;
        decoder.push(&data);
        while let Some(item) = decoder.next_item().expect("intact stream") {
            if matches!(item, Item::Record { .. }) {
                records += 1;
            }
        }
    }
    decoder.finish().expect("complete stream");
    (bytes, records, started.elapsed().as_secs_f64())
}

fn dir_mib(dir: &std::path::Path) -> f64 {
    let mut bytes = 0u64;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(next) = dirs.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => dirs.push(entry.path()),
                Ok(m) => bytes += m.len(),
                Err(_) => {}
            }
        }
    }
    bytes as f64 / (1024.0 * 1024.0)
}

fn gateway_event(size: usize) -> Vec<u8> {
    let head = r#"{"metadata":{"source":"bench","eventName":"E","eventSchemaVersion":"1"},"data":{"pad":""#;
    let tail = r#""}}"#;
    let mut body = head.as_bytes().to_vec();
    body.resize(size.saturating_sub(tail.len()).max(head.len()), b'x');
    body.extend_from_slice(tail.as_bytes());
    body
}
