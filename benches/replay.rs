//! Replay benchmark: the real `stowage serve`, driven over HTTP.
//!
//! 1. **Replay throughput, archive to pending.** `STOWAGE_BENCH_REPLAY_EVENTS`
//!    (default 100 000) 1 KiB gateway events are published and archived; then
//!    one replay of all of them runs with `[replay] events_per_sec = 0`
//!    (unlimited). The bus has one rule whose target never answers (a local
//!    listener that accepts and stays silent), so every replayed event becomes
//!    a pending delivery and delivery does no further work. Printed: events/s
//!    from StartReplay until the replay is COMPLETED (appended to the log), and
//!    until the router has recorded a pending delivery for every one of them
//!    (`stowage_router_events_total`), which is the figure the target applies to.
//! 2. **Live ingest with and without a replay.** A fresh server with the default
//!    `[replay]` settings (2000 events/s), the same rule, and
//!    `STOWAGE_BENCH_REPLAY_EVENTS` archived events. `STOWAGE_BENCH_CONNS`
//!    (default 16) keep-alive connections publish 1 KiB events for
//!    `STOWAGE_BENCH_SECS` (default 10) seconds without a replay, then the same
//!    load runs while a replay of the whole archive runs. Printed: acked/s of
//!    each, the cost (1 − with/without), and the events the replay appended
//!    during the second run.
//!
//! Run it with:
//!
//!     cargo bench --bench replay
//!     STOWAGE_BENCH_REPLAY_EVENTS=50000 STOWAGE_BENCH_SECS=5 cargo bench --bench replay
//!
//! Progress is read from `/metrics` and `GET /v1/replays/{name}` every 5 ms
//! (the bench's own sampling; the server's runner does not poll).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

mod server_process;
use server_process::{Server, env_or, keep_alive, post_json};

const SOURCE: &str = "bench.legacy";
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

fn main() {
    let events: u64 = env_or("STOWAGE_BENCH_REPLAY_EVENTS", 100_000);
    let conns: usize = env_or("STOWAGE_BENCH_CONNS", 16);
    let secs: u64 = env_or("STOWAGE_BENCH_SECS", 10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let silent = silent_listener().await;
        println!(
            "# replay: {events} archived 1 KiB events, {} cores",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        throughput(events, silent).await;
        with_and_without(events, conns, secs, silent).await;
    });
}

/// `stowage serve` with `[replay] events_per_sec` set (the default when `None`).
fn server(events_per_sec: Option<u64>) -> Server {
    let Some(rate) = events_per_sec else {
        return Server::stowage();
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_stowage"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command.env("STOWAGE_REPLAY__EVENTS_PER_SEC", rate.to_string());
    let child = command.spawn().expect("start stowage");
    Server::started(child, dir, "stowage listening on http://")
}

/// A listener that accepts connections and never answers: a target whose
/// deliveries stay pending.
async fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    fn new(server: &Server) -> Control {
        Control {
            http: reqwest::Client::new(),
            base: format!("http://{}", server.addr),
        }
    }

    async fn aws(&self, operation: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/", self.base))
            .header("x-amz-target", format!("AWSEvents.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .expect("AWS call");
        let status = response.status();
        let value: Value = response.json().await.expect("JSON answer");
        assert!(status.is_success(), "{operation}: {value}");
        value
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn replay(&self, name: &str) -> Value {
        self.http
            .get(format!("{}/v1/replays/{name}", self.base))
            .send()
            .await
            .expect("progress")
            .json()
            .await
            .expect("progress JSON")
    }

    /// A rule on the default bus to the silent target, an archive of the bus,
    /// and `events` published and archived; returns the archive's ARN and the
    /// bus ARN.
    async fn setup(&self, server: &Server, events: u64, silent: SocketAddr) -> (String, String) {
        self.aws(
            "PutRule",
            json!({ "Name": "r", "EventPattern": json!({ "source": [SOURCE] }).to_string() }),
        )
        .await;
        self.aws(
            "PutTargets",
            json!({ "Rule": "r", "Targets": [{ "Id": "silent", "Arn": format!("http://{silent}/") }] }),
        )
        .await;
        let bus = self.aws("DescribeEventBus", json!({})).await["Arn"]
            .as_str()
            .expect("bus ARN")
            .to_owned();
        let archive = self
            .aws(
                "CreateArchive",
                json!({ "ArchiveName": "bench", "EventSourceArn": bus }),
            )
            .await["ArchiveArn"]
            .as_str()
            .expect("archive ARN")
            .to_owned();
        let started = Instant::now();
        publish_count(server.addr, 64, events).await;
        loop {
            let described = self
                .aws("DescribeArchive", json!({ "ArchiveName": "bench" }))
                .await;
            if described["EventCount"].as_u64() >= Some(events) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "  setup: {events} events published and archived in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        (archive, bus)
    }

    async fn start_replay(&self, name: &str, archive: &str, bus: &str, from_secs: i64) {
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        self.aws(
            "StartReplay",
            json!({
                "ReplayName": name,
                "EventSourceArn": archive,
                "EventStartTime": from_secs,
                "EventEndTime": now,
                "Destination": { "Arn": bus },
            }),
        )
        .await;
    }
}

async fn throughput(events: u64, silent: SocketAddr) {
    let server = server(Some(0));
    let control = Control::new(&server);
    println!("\n## unlimited replay: archive to pending");
    let from = chrono::Utc::now().timestamp() - 1;
    let (archive, bus) = control.setup(&server, events, silent).await;
    // Live events routed first, so that the router's count below is the replay's.
    let routed_before = loop {
        let routed = control.metric("stowage_router_events_total").await;
        if routed >= events as f64 {
            break routed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ticks_before = server.cpu_ticks();
    let started = Instant::now();
    control.start_replay("fast", &archive, &bus, from).await;
    let mut appended_at = None;
    let routed_at = loop {
        if appended_at.is_none() && control.replay("fast").await["state"] == "COMPLETED" {
            appended_at = Some(started.elapsed());
        }
        let routed = control.metric("stowage_router_events_total").await - routed_before;
        if routed >= events as f64 && appended_at.is_some() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "replay did not finish"
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    };
    let appended_at = appended_at.expect("completed");
    let cpu = (server.cpu_ticks() - ticks_before) as f64 / server_process::TICKS_PER_SEC;
    let pending = control.metric("stowage_target_pending").await;
    println!(
        "  appended to the log: {:>9.0} events/s ({events} in {:.2} s)",
        events as f64 / appended_at.as_secs_f64(),
        appended_at.as_secs_f64()
    );
    println!(
        "  routed to pending:   {:>9.0} events/s ({events} in {:.2} s; server CPU {:.0}%, {pending:.0} deliveries pending)",
        events as f64 / routed_at.as_secs_f64(),
        routed_at.as_secs_f64(),
        cpu / routed_at.as_secs_f64() * 100.0
    );
}

async fn with_and_without(events: u64, conns: usize, secs: u64, silent: SocketAddr) {
    let server = server(None);
    let control = Control::new(&server);
    println!(
        "\n## live ingest, {conns} connections, {secs} s: without and with a default-rate replay"
    );
    let from = chrono::Utc::now().timestamp() - 1;
    let (archive, bus) = control.setup(&server, events, silent).await;
    let without = load(server.addr, conns, secs).await;
    control.start_replay("live", &archive, &bus, from).await;
    let before = control.replay("live").await["replayed"]
        .as_u64()
        .unwrap_or(0);
    let with = load(server.addr, conns, secs).await;
    let progress = control.replay("live").await;
    let replayed = progress["replayed"].as_u64().unwrap_or(0) - before;
    println!("  without a replay: {without:>9.0} acked/s");
    println!(
        "  with a replay:    {with:>9.0} acked/s  (replay {}: {replayed} events appended during the run, {:.0}/s)",
        progress["state"].as_str().unwrap_or("?"),
        replayed as f64 / (secs as f64 + 1.0)
    );
    println!("  cost: {:.1}%", (1.0 - with / without) * 100.0);
    println!(
        "  server at the end: RSS {:.0} MiB, data {:.0} MiB",
        server.rss_mib(),
        server.data_mib()
    );
}

/// Publishes exactly `events` 1 KiB gateway events over `conns` connections.
async fn publish_count(addr: SocketAddr, conns: usize, events: u64) {
    let body = Bytes::from(gateway_body(1024));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (sent, body) = (sent.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = keep_alive(addr).await;
            while sent.fetch_add(1, Ordering::Relaxed) < events {
                let response = sender
                    .send_request(post_json("/events", &body))
                    .await
                    .expect("publish");
                assert!(response.status().is_success(), "{}", response.status());
                let _ = response.into_body().collect().await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
}

/// Acked events per second over `secs` (after a 1 s warm-up) at `conns` connections.
async fn load(addr: SocketAddr, conns: usize, secs: u64) -> f64 {
    let body = Bytes::from(gateway_body(1024));
    let (acked, measuring, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (acked, measuring, stop, body) =
            (acked.clone(), measuring.clone(), stop.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = keep_alive(addr).await;
            while !stop.load(Ordering::Acquire) {
                let Ok(response) = sender.send_request(post_json("/events", &body)).await else {
                    break;
                };
                let ok = response.status().is_success();
                let _ = response.into_body().collect().await;
                if ok && measuring.load(Ordering::Acquire) {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Release);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, Ordering::Release);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Release);
    for task in tasks {
        let _ = task.await;
    }
    acked.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

/// A gateway envelope padded to `size` bytes.
fn gateway_body(size: usize) -> Vec<u8> {
    let head = r#"{"metadata":{"source":"bench.legacy","eventName":"OrderPlaced","eventSchemaVersion":"1"},"data":{"pad":""#;
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut body = head.as_bytes().to_vec();
    body.extend(std::iter::repeat_n(b'x', pad));
    body.extend_from_slice(tail.as_bytes());
    body
}
