//! Ingest benchmark: the real `stowage serve` against the machine's own ceiling.
//!
//! For each concurrency N (default 1, 16, 64, 256), N keep-alive connections POST
//! 1 KiB gateway events for `STOWAGE_BENCH_SECS` (default 10) seconds after a 1 s
//! warm-up. The same load generator then drives a minimal hyper server that answers
//! each POST only after a group-commit append + fdatasync of its body to a file on
//! the same filesystem (no parsing, no sled): the ceiling. Printed per N: acked
//! events/s, p50/p99/p99.9 ack latency, server CPU and RSS, and ours/ceiling.
//!
//! Then an RSS run: publish `STOWAGE_BENCH_RSS_EVENTS` (default 400 000) events and
//! sample the server's RSS as the log grows.
//!
//!     cargo bench --bench ingest
//!     STOWAGE_BENCH_CONNS=64 STOWAGE_BENCH_SECS=5 cargo bench --bench ingest
//!
//! With `STOWAGE_BENCH_SCHEMA=1` each N also runs against a server with a JSON
//! Schema registered for the events (row `+schema`), and the in-process cost of
//! one schema check (parse + validate) is printed first.
//!
//! The same binary re-executes itself as the ceiling server (`STOWAGE_BENCH_ROLE=ceiling`).
//!
//! With `STOWAGE_BENCH_KEYS=1`, each N also runs against a server where every
//! connection publishes with its own publisher key (N keys, each limited to the
//! bench's source and detail type): the row `keys`, and its cost against the
//! keyless run of the same N.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

mod server_process;
use server_process::{Server, TICKS_PER_SEC, env_or, keep_alive, post_json};

fn main() {
    if std::env::var("STOWAGE_BENCH_ROLE").as_deref() == Ok("ceiling") {
        run_ceiling_server();
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    let conns: Vec<usize> = std::env::var("STOWAGE_BENCH_CONNS")
        .unwrap_or_else(|_| "1,16,64,256".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let secs: u64 = env_or("STOWAGE_BENCH_SECS", 10);
    let rss_events: u64 = env_or("STOWAGE_BENCH_RSS_EVENTS", 400_000);
    let with_keys = env_or("STOWAGE_BENCH_KEYS", 0u8) == 1;
    let body = Bytes::from(gateway_body(1024));
    let with_schema = std::env::var("STOWAGE_BENCH_SCHEMA").as_deref() == Ok("1");
    if with_schema {
        schema_check_cost(&body);
    }
    println!(
        "# ingest: 1 KiB gateway events, {secs} s per run, {} cores",
        cores()
    );
    println!(
        "{:<9} {:>5} {:>10} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7}",
        "server", "conns", "acked/s", "p50 ms", "p99 ms", "p99.9", "cpu %", "rss MiB", "ratio"
    );
    for &n in &conns {
        let ours = {
            let server = Server::stowage();
            run_load(&server, n, secs, &body, "/events", &[])
        };
        let keyed = with_keys.then(|| {
            let server = Server::stowage();
            let keys = publisher_keys(&server, n);
            run_load(&server, n, secs, &body, "/events", &keys)
        });
        let ceiling = {
            let server = ceiling_server();
            run_load(&server, n, secs, &body, "/", &[])
        };
        ours.print(
            "stowage",
            n,
            Some(ours.acked_per_sec / ceiling.acked_per_sec),
        );
        ceiling.print("ceiling", n, None);
        if let Some(keyed) = keyed {
            keyed.print("keys", n, Some(keyed.acked_per_sec / ceiling.acked_per_sec));
            println!(
                "# keys at {n} conns: {:.1}% of keyless throughput lost",
                (1.0 - keyed.acked_per_sec / ours.acked_per_sec) * 100.0
            );
        }
        if with_schema {
            let server = Server::stowage();
            register_schema(&server);
            let checked = run_load(&server, n, secs, &body, "/events", &[]);
            checked.print(
                "+schema",
                n,
                Some(checked.acked_per_sec / ours.acked_per_sec),
            );
        }
    }
    if rss_events > 0 {
        rss_growth(rss_events, &body);
    }
}

/// The schema the `+schema` rows register for the bench's events: the shape of
/// a typical event contract (types, lengths, a pattern, a required field).
const BENCH_SCHEMA: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema",
  "type":"object","required":["pad"],"additionalProperties":false,
  "properties":{"pad":{"type":"string","minLength":1,"maxLength":4096,"pattern":"^x+$"},
    "orderId":{"type":"string","format":"uuid"},"amount":{"type":"number","minimum":0}}}"#;

/// Registers `BENCH_SCHEMA` for bench.legacy / OrderPlaced (version 1).
fn register_schema(server: &Server) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut sender = keep_alive(server.addr).await;
        let body = format!(
            r#"{{"source":"bench.legacy","detailType":"OrderPlaced","version":"1","schema":{BENCH_SCHEMA}}}"#
        );
        let request = Request::put("/v1/schemas")
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = sender.send_request(request).await.expect("PUT /v1/schemas");
        assert!(response.status().is_success(), "schema registered: {}", response.status());
    });
}

/// What one schema check costs in-process: parsing the body's `data` and
/// validating it, as the gateway does for an event with a schema.
fn schema_check_cost(body: &Bytes) {
    let compiled = stowage::schema::Compiled::build(BENCH_SCHEMA).expect("bench schema compiles");
    let rounds = 200_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        let value: serde_json::Value = serde_json::from_slice(body).expect("bench body is JSON");
        assert!(
            compiled.check(&value["data"]).is_none(),
            "bench event is valid"
        );
    }
    let per_event = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        let value: serde_json::Value = serde_json::from_slice(body).expect("bench body is JSON");
        std::hint::black_box(&value);
    }
    let parse_only = started.elapsed() / rounds;
    println!(
        "# schema check of a 1 KiB event, in-process: {:.2} µs (of which parsing {:.2} µs)",
        per_event.as_secs_f64() * 1e6,
        parse_only.as_secs_f64() * 1e6
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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

/// The ceiling server: this binary re-executed with `STOWAGE_BENCH_ROLE=ceiling`.
fn ceiling_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = Command::new(std::env::current_exe().expect("own path"))
        .env("STOWAGE_BENCH_ROLE", "ceiling")
        .env("STOWAGE_BENCH_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ceiling server");
    Server::started(child, dir, "ceiling listening on http://")
}

struct LoadResult {
    acked_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    cpu_percent: f64,
    rss_mib: f64,
    errors: u64,
}

impl LoadResult {
    fn print(&self, name: &str, conns: usize, ratio: Option<f64>) {
        let ratio = ratio.map_or(String::from("-"), |r| format!("{:.0}%", r * 100.0));
        println!(
            "{:<9} {:>5} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>7.0} {:>8.1} {:>7}{}",
            name,
            conns,
            self.acked_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.cpu_percent,
            self.rss_mib,
            ratio,
            if self.errors > 0 {
                format!("  ({} errors)", self.errors)
            } else {
                String::new()
            }
        );
    }
}

/// Creates `n` publisher keys for the bench's events (`POST /v1/keys` on the
/// open bench server); returns their tokens.
fn publisher_keys(server: &Server, n: usize) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut sender = keep_alive(server.addr).await;
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            let body = Bytes::from(format!(
                r#"{{"name":"bench-{i}","sources":["bench.*"],"detailTypes":["Order*"]}}"#
            ));
            let response = sender
                .send_request(post_json("/v1/keys", &body))
                .await
                .expect("create a key");
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("read the key")
                .to_bytes();
            let created: serde_json::Value = serde_json::from_slice(&bytes).expect("key JSON");
            tokens.push(created["token"].as_str().expect("a token").to_string());
        }
        tokens
    })
}

/// Drives `conns` keep-alive connections for a warm-up second plus `secs`;
/// connection i sends `keys[i]` as `x-api-key` when given.
fn run_load(
    server: &Server,
    conns: usize,
    secs: u64,
    body: &Bytes,
    path: &str,
    keys: &[String],
) -> LoadResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = server.addr;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let histograms = runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..conns {
            let key = keys.get(i).cloned();
            let (body, measuring, stop, errors) = (
                body.clone(),
                measuring.clone(),
                stop.clone(),
                errors.clone(),
            );
            let path = path.to_string();
            tasks.push(tokio::spawn(async move {
                connection(addr, path, key, body, measuring, stop, errors).await
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ticks_before = server.cpu_ticks();
        measuring.store(true, Ordering::Release);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        measuring.store(false, Ordering::Release);
        let elapsed = started.elapsed();
        let ticks = server.cpu_ticks() - ticks_before;
        stop.store(true, Ordering::Release);
        let mut total = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
            .expect("histogram bounds");
        for task in tasks {
            if let Ok(h) = task.await {
                total.add(h).expect("same bounds");
            }
        }
        (total, elapsed, ticks)
    });
    let (hist, elapsed, ticks) = histograms;
    LoadResult {
        acked_per_sec: hist.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        p999_ms: hist.value_at_quantile(0.999) as f64 / 1000.0,
        cpu_percent: ticks as f64 / TICKS_PER_SEC / elapsed.as_secs_f64() * 100.0,
        rss_mib: server.rss_mib(),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// One keep-alive connection publishing back to back; latencies in µs while measuring.
async fn connection(
    addr: SocketAddr,
    path: String,
    key: Option<String>,
    body: Bytes,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
) -> hdrhistogram::Histogram<u64> {
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .expect("histogram bounds");
    let mut sender = keep_alive(addr).await;
    while !stop.load(Ordering::Acquire) {
        let mut request = post_json(&path, &body);
        if let Some(key) = &key {
            request.headers_mut().insert(
                "x-api-key",
                hyper::header::HeaderValue::from_str(key).expect("a token is a header value"),
            );
        }
        let started = Instant::now();
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let _ = response.into_body().collect().await;
                status.is_success()
            }
            Err(_) => false,
        };
        if !ok {
            errors.fetch_add(1, Ordering::Relaxed);
            if sender.ready().await.is_err() {
                break;
            }
            continue;
        }
        if measuring.load(Ordering::Acquire) {
            let us = u64::try_from(started.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            let _ = hist.record(us);
        }
    }
    hist
}

/// Publishes `events` at 64 connections and prints the server's RSS as the log grows.
fn rss_growth(events: u64, body: &Bytes) {
    println!("\n# RSS while the log grows (64 connections, {events} events of 1 KiB)");
    println!("{:>10} {:>10} {:>9}", "events", "log MiB", "rss MiB");
    let server = Server::stowage();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sent = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (sent, body, addr) = (sent.clone(), body.clone(), server.addr);
            tasks.push(tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                while sent.fetch_add(1, Ordering::Relaxed) < events {
                    let request = Request::post("/events")
                        .header("host", "bench")
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    if let Ok(response) = sender.send_request(request).await {
                        let _ = response.into_body().collect().await;
                    }
                }
            }));
        }
        let step = (events / 8).max(1);
        let mut next = step;
        while tasks.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let done = sent.load(Ordering::Relaxed).min(events);
            if done >= next {
                println!(
                    "{:>10} {:>10.0} {:>9.1}",
                    done,
                    server.data_mib(),
                    server.rss_mib()
                );
                next += step;
            }
        }
        println!(
            "{:>10} {:>10.0} {:>9.1}",
            events,
            server.data_mib(),
            server.rss_mib()
        );
    });
}

// ---- the ceiling server -------------------------------------------------------

type Append = (Bytes, oneshot::Sender<()>);

/// Group-commit writer: append every queued body to one file, one fdatasync, ack all.
fn ceiling_writer(dir: &Path, mut rx: mpsc::UnboundedReceiver<Append>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("ceiling.log"))
        .expect("open the ceiling log");
    let mut buf = Vec::with_capacity(4 << 20);
    let mut acks = Vec::with_capacity(4096);
    while let Some((body, ack)) = rx.blocking_recv() {
        buf.clear();
        buf.extend_from_slice(&body);
        acks.push(ack);
        while acks.len() < 4096 {
            match rx.try_recv() {
                Ok((body, ack)) => {
                    buf.extend_from_slice(&body);
                    acks.push(ack);
                }
                Err(_) => break,
            }
        }
        file.write_all(&buf).expect("append");
        file.sync_data().expect("fdatasync");
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

fn run_ceiling_server() {
    let dir =
        std::path::PathBuf::from(std::env::var("STOWAGE_BENCH_DIR").expect("STOWAGE_BENCH_DIR"));
    let (tx, rx) = mpsc::unbounded_channel::<Append>();
    std::thread::spawn(move || ceiling_writer(&dir, rx));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!(
            "ceiling listening on http://{}",
            listener.local_addr().expect("addr")
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let tx = tx.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let (ack, acked) = oneshot::channel();
                            let _ = tx.send((body, ack));
                            let _ = acked.await;
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(
                                b"{}",
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
