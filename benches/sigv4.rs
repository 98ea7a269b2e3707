//! What SigV4 verification costs on PutEvents: the real `stowage serve`, open
//! (no operators, unsigned requests) and with an operator (every request
//! signed), the same load of one-entry PutEvents (1 KiB detail) over N
//! keep-alive connections for `STOWAGE_BENCH_SECS` (default 5) after a 1 s
//! warm-up; printed: events/s each way and the ratio. Each connection signs
//! its request once and sends it again and again (valid for 15 minutes), so
//! the client's signing does not compete with the server for the cores;
//! the server verifies every request in full.
//!
//! Then the verification alone, in process: µs per `sigv4::verify` of a 1 KiB body.
//!
//!     STOWAGE_BENCH_CONNS=64 STOWAGE_BENCH_SECS=5 cargo bench --bench sigv4

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::HeaderMap;
use stowage::auth::sigv4::{self, Scope, Signable};

// Shared with the other benches; this one uses a part of it.
#[allow(dead_code)]
mod server_process;
use server_process::{Server, env_or, keep_alive};

const KEY_ID: &str = "AKIABENCHOPERATOR";
const SECRET: &str = "bench-operator-secret";

fn main() {
    let conns: Vec<usize> = std::env::var("STOWAGE_BENCH_CONNS")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let secs: u64 = env_or("STOWAGE_BENCH_SECS", 5);
    let body = Bytes::from(put_events_body(1024));
    println!("# sigv4: PutEvents, 1 entry of 1 KiB detail, {secs} s per run");
    println!(
        "{:<10} {:>5} {:>10} {:>7} {:>7}",
        "server", "conns", "events/s", "errors", "ratio"
    );
    for &n in &conns {
        let open = {
            let server = stowage(None);
            run_load(&server, n, secs, &body, false)
        };
        println!(
            "{:<10} {n:>5} {:>10.0} {:>7} {:>7}",
            "open", open.0, open.1, ""
        );
        let signed = {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("operators.toml");
            std::fs::write(
                &file,
                format!("[[operators]]\naccess_key_id = \"{KEY_ID}\"\nsecret_access_key = \"{SECRET}\"\n"),
            )
            .expect("write operators");
            let server = stowage(Some(&file));
            run_load(&server, n, secs, &body, true)
        };
        println!(
            "{:<10} {n:>5} {:>10.0} {:>7} {:>6.1}%",
            "sigv4",
            signed.0,
            signed.1,
            signed.0 / open.0 * 100.0
        );
    }
    verify_alone(&body);
}

fn stowage(operators: Option<&std::path::Path>) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_stowage"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(file) = operators {
        command.env("STOWAGE_AUTH__OPERATORS_FILE", file);
    }
    let child = command.spawn().expect("start stowage");
    Server::started(child, dir, "stowage listening on http://")
}

fn put_events_body(detail_bytes: usize) -> Vec<u8> {
    let detail = serde_json::json!({ "pad": "x".repeat(detail_bytes) }).to_string();
    serde_json::json!({
        "Entries": [{ "Source": "bench", "DetailType": "Tick", "Detail": detail }]
    })
    .to_string()
    .into_bytes()
}

/// The request's headers, signed when `sign`.
fn headers(body: &[u8], sign: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("host", "bench".parse().expect("host"));
    headers.insert(
        "x-amz-target",
        "AWSEvents.PutEvents".parse().expect("target"),
    );
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("type"),
    );
    if !sign {
        return headers;
    }
    let amz_date = sigv4::format_amz_date(chrono::Utc::now());
    headers.insert("x-amz-date", amz_date.parse().expect("date"));
    let hash = sigv4::sha256_hex(body);
    let authorization = sigv4::authorization(
        &Signable {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload_hash: &hash,
        },
        &amz_date,
        &Scope {
            date: &amz_date[..8],
            region: "us-east-1",
            service: "events",
        },
        KEY_ID,
        SECRET,
    );
    headers.insert("authorization", authorization.parse().expect("authz"));
    headers
}

/// Events/s acknowledged and errors.
fn run_load(server: &Server, conns: usize, secs: u64, body: &Bytes, sign: bool) -> (f64, u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = server.addr;
    let headers = headers(body, sign);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (body, headers, measuring, stop, acked, errors) = (
                body.clone(),
                headers.clone(),
                measuring.clone(),
                stop.clone(),
                acked.clone(),
                errors.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut sender = keep_alive(addr).await;
                while !stop.load(Ordering::Acquire) {
                    let mut request = Request::post("/")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    *request.headers_mut() = headers.clone();
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
                    } else if measuring.load(Ordering::Acquire) {
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
        (
            acked.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
            errors.load(Ordering::Relaxed),
        )
    })
}

/// µs per verification of a signed 1 KiB PutEvents, hashing the body included.
fn verify_alone(body: &[u8]) {
    let headers = headers(body, true);
    let header = headers["authorization"].to_str().expect("ascii");
    let amz_date = headers["x-amz-date"].to_str().expect("ascii").to_owned();
    let rounds = 20_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        let auth = sigv4::parse_authorization(header).expect("parses");
        let hash = sigv4::verified_payload_hash(&headers, body).expect("the body's hash");
        let request = Signable {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload_hash: &hash,
        };
        sigv4::verify(&request, &auth, &amz_date, SECRET, chrono::Utc::now()).expect("verifies");
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!(
        "# verify alone (parse, hash 1 KiB, canonicalise, 5 HMACs, compare): {per:.1} µs per request"
    );
}
