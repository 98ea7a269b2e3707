//! Delivery benchmark: the real `stowage serve` routing and delivering to an
//! HTTP sink in this process, end to end.
//!
//! The sink is a hyper HTTP/1.1 server on 127.0.0.1:0 (keep-alive) that answers
//! 200 at once and records, per request, its path, its `webhook-id` (the event
//! id) and when its head arrived; requests to `/hang` are never answered. The
//! publisher is N keep-alive connections (`STOWAGE_BENCH_CONNS`, default 64)
//! POSTing 1 KiB gateway events back to back for the publishing window
//! (`STOWAGE_BENCH_SECS`, default 10); each records the id of every acked event
//! and when its request was sent. Rules and URL targets are created with the AWS
//! JSON 1.1 API before publishing. Each run has its own server, data directory
//! and sink.
//!
//! Printed per run: ingest acked/s over the publishing window; deliveries the
//! sink received in the same window, per second; their share of what ingest
//! offered (acked/s × measured targets); drain (from the end of publishing to
//! the last delivery of an acked event); latency from sending the publish
//! request to the sink receiving its delivery, p50/p99/p99.9; the server's CPU
//! over the window, its RSS and data size at the end. Scenarios (`STOWAGE_BENCH_ONLY`, a
//! comma list; all by default):
//!
//! - `one`: ingest with no rules at all, then with one rule and one URL target.
//! - `hundred`: 20 rules × 5 URL targets, each a distinct sink path, for a fifth
//!   of the window (every event becomes 100 deliveries, so the drain is long).
//! - `hang`: target B (healthy) alone; then B plus target A of another rule
//!   answering at once; then B plus A hanging forever (the server's
//!   `delivery.request_timeout_ms`, default 5 s, ends each of A's attempts; set
//!   `STOWAGE_DELIVERY__REQUEST_TIMEOUT_MS` to change it). Only B is measured.
//!   Publishing runs at full speed, not paced: a paced rate below capacity
//!   would show any loss only once it exceeded the headroom, whereas at full
//!   speed delivery (or the two shared cores) is the bottleneck, so any capacity
//!   a hanging neighbour takes from B shows in B's delivered/s. The healthy-A run
//!   separates the cost of a second target from the cost of it hanging.
//!
//! Run it with:
//!
//!     cargo bench --bench delivery
//!     STOWAGE_BENCH_ONLY=hang STOWAGE_BENCH_SECS=5 cargo bench --bench delivery
//!
//! The publisher and the sink share the machine with the server, as in
//! benches/ingest.rs.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

mod server_process;
#[path = "delivery/sink.rs"]
mod sink;
use server_process::{Server, TICKS_PER_SEC, env_or, keep_alive, post_json};
use sink::{Received, Sink};

/// How long to wait for the sink to receive every acked event after publishing.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// Give up earlier when nothing arrives for this long.
const STALL_LIMIT: Duration = Duration::from_secs(20);

fn main() {
    let secs: u64 = env_or("STOWAGE_BENCH_SECS", 10);
    let conns: usize = env_or("STOWAGE_BENCH_CONNS", 64);
    let only = std::env::var("STOWAGE_BENCH_ONLY").unwrap_or_else(|_| "one,hundred,hang".into());
    let wants = |name: &str| only.split(',').any(|s| s.trim() == name);
    let bench = Bench {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime"),
        conns,
        body: Bytes::from(gateway_event(1024)),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# delivery: 1 KiB gateway events, {conns} connections, {cores} cores");
    if wants("one") {
        println!("\n## one target, {secs} s");
        print_header();
        let none = bench.run("no rules", &[], 0..0, secs);
        let one = bench.run("1 target", &rules(1, 1, None), 0..1, secs);
        println!(
            "ingest with delivery / without: {:.0}%; delivered / acked: {:.0}% (target >= 50%)",
            100.0 * one.acked_per_sec() / none.acked_per_sec(),
            100.0 * one.share(),
        );
    }
    if wants("hundred") {
        let secs = secs.div_ceil(5);
        println!("\n## 20 rules x 5 targets, {secs} s");
        print_header();
        bench.run("100 targets", &rules(20, 5, None), 0..100, secs);
    }
    if wants("hang") {
        println!("\n## hanging neighbour, {secs} s (B measured)");
        print_header();
        let alone = bench.run("B alone", &rules(1, 1, None), 0..1, secs);
        let healthy = bench.run("B + A ok", &rules(2, 1, None), 0..1, secs);
        let hanging = bench.run("B + A hang", &rules(2, 1, Some(1)), 0..1, secs);
        let ratio = hanging.delivered_per_sec() / alone.delivered_per_sec();
        println!(
            "B delivered/s with A hanging / B alone: {:.0}% (loss {:.0}%, target < 10%); \
             / with A healthy: {:.0}%",
            100.0 * ratio,
            100.0 * (1.0 - ratio),
            100.0 * hanging.delivered_per_sec() / healthy.delivered_per_sec(),
        );
    }
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

/// Where a target sends: sink path `/t/{n}` (recorded) or `/hang` (never answered).
#[derive(Clone, Copy)]
enum Path {
    Sink(u16),
    Hang,
}

struct Rule {
    name: String,
    targets: Vec<Path>,
}

/// `count` rules of `per_rule` targets on distinct sink paths, numbered in
/// order; rule `hang` (if any) has one target, `/hang`.
fn rules(count: u16, per_rule: u16, hang: Option<u16>) -> Vec<Rule> {
    (0..count)
        .map(|r| Rule {
            name: format!("bench-{r}"),
            targets: if Some(r) == hang {
                vec![Path::Hang]
            } else {
                (0..per_rule)
                    .map(|t| Path::Sink(r * per_rule + t))
                    .collect()
            },
        })
        .collect()
}

struct Bench {
    runtime: Runtime,
    conns: usize,
    body: Bytes,
}

impl Bench {
    /// One run on a fresh server and sink; prints and returns its figures for
    /// the targets on sink paths `measured`.
    fn run(&self, label: &str, rules: &[Rule], measured: Range<u16>, secs: u64) -> Figures {
        let sink = self.runtime.block_on(Sink::start());
        let server = Server::stowage();
        let recorded: usize = rules
            .iter()
            .flat_map(|r| &r.targets)
            .filter(|t| matches!(t, Path::Sink(_)))
            .count();
        let (published, cpu_percent) = self.runtime.block_on(async {
            put_rules(server.addr, sink.addr, rules).await;
            let ticks = server.cpu_ticks();
            let published = publish(server.addr, self.conns, secs, &self.body).await;
            let window = published.window().as_secs_f64();
            let cpu = (server.cpu_ticks() - ticks) as f64 / TICKS_PER_SEC / window * 100.0;
            sink.wait_for(published.sent.len() * recorded, STALL_LIMIT, DRAIN_LIMIT)
                .await;
            (published, cpu)
        });
        let figures = Figures::new(&published, &sink.take(), measured, cpu_percent);
        figures.print(label, server.rss_mib(), server.data_mib(), sink.hung());
        figures
    }
}

/// `PutRule` and `PutTargets` for each rule, every rule matching source `bench`.
async fn put_rules(server: SocketAddr, sink: SocketAddr, rules: &[Rule]) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");
    let aws = async |operation: &str, body: Value| -> Value {
        let reply = client
            .post(format!("http://{server}/"))
            .header("x-amz-target", format!("AWSEvents.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .expect("AWS call");
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(status.is_success(), "{operation}: {status} {text}");
        serde_json::from_str(&text).expect("AWS reply is JSON")
    };
    for rule in rules {
        let pattern = json!({ "source": ["bench"] }).to_string();
        let put_rule = json!({ "Name": rule.name, "EventPattern": pattern });
        aws("PutRule", put_rule).await;
        let targets: Vec<Value> = rule
            .targets
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let url = match path {
                    Path::Sink(n) => format!("http://{sink}/t/{n}"),
                    Path::Hang => format!("http://{sink}/hang"),
                };
                json!({ "Id": format!("t{i}"), "Arn": url })
            })
            .collect();
        let put_targets = json!({ "Rule": rule.name, "Targets": targets });
        let reply = aws("PutTargets", put_targets).await;
        assert_eq!(reply["FailedEntryCount"], 0, "PutTargets: {reply}");
    }
}

// ---- the publisher ------------------------------------------------------------

struct Published {
    /// (event id, when its publish request was sent) per acked event.
    sent: Vec<(u128, Instant)>,
    started: Instant,
    /// When the last connection got its last answer.
    ended: Instant,
    errors: u64,
}

impl Published {
    fn window(&self) -> Duration {
        self.ended - self.started
    }
}

async fn publish(addr: SocketAddr, conns: usize, secs: u64, body: &Bytes) -> Published {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(publisher(addr, body.clone(), deadline)))
        .collect();
    let mut published = Published {
        sent: Vec::new(),
        started,
        ended: started,
        errors: 0,
    };
    for task in tasks {
        let (sent, errors) = task.await.expect("publisher task");
        published.sent.extend(sent);
        published.errors += errors;
    }
    published.ended = Instant::now();
    published
}

/// One keep-alive connection publishing back to back until `deadline`.
async fn publisher(
    addr: SocketAddr,
    body: Bytes,
    deadline: Instant,
) -> (Vec<(u128, Instant)>, u64) {
    let (mut sent, mut errors) = (Vec::new(), 0);
    let mut sender = keep_alive(addr).await;
    while Instant::now() < deadline {
        let request = post_json("/events", &body);
        let at = Instant::now();
        let id = match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                body.ok().filter(|_| ok).and_then(|b| acked_id(&b))
            }
            Err(_) => None,
        };
        match id {
            Some(id) => sent.push((id, at)),
            None => {
                errors += 1;
                if sender.ready().await.is_err() {
                    break;
                }
            }
        }
    }
    (sent, errors)
}

/// The id in a `200 {"eventId":"…"}` answer.
fn acked_id(body: &[u8]) -> Option<u128> {
    #[derive(serde::Deserialize)]
    struct Ack {
        #[serde(rename = "eventId")]
        event_id: uuid::Uuid,
    }
    serde_json::from_slice::<Ack>(body)
        .ok()
        .map(|a| a.event_id.as_u128())
}

// ---- figures ------------------------------------------------------------------

struct Figures {
    acked: usize,
    window: Duration,
    targets: usize,
    /// Distinct (target, acked event) deliveries received within the window.
    in_window: usize,
    /// Time from the end of publishing to the last delivery; `None` if some
    /// acked event never reached a measured target.
    drain: Option<Duration>,
    missing: usize,
    duplicates: usize,
    /// Publish request sent → delivery received, µs.
    latency: hdrhistogram::Histogram<u64>,
    cpu_percent: f64,
    errors: u64,
}

impl Figures {
    fn new(
        published: &Published,
        received: &[Received],
        measured: Range<u16>,
        cpu_percent: f64,
    ) -> Figures {
        let sent: HashMap<u128, Instant> = published.sent.iter().copied().collect();
        let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .expect("histogram bounds");
        let mut seen = HashSet::with_capacity(received.len());
        let (mut in_window, mut duplicates, mut last) = (0, 0, published.ended);
        for r in received.iter().filter(|r| measured.contains(&r.path)) {
            let Some(sent_at) = sent.get(&r.id) else {
                continue;
            };
            if !seen.insert((r.path, r.id)) {
                duplicates += 1;
                continue;
            }
            in_window += usize::from(r.at <= published.ended);
            last = last.max(r.at);
            let us = u64::try_from((r.at - *sent_at).as_micros()).unwrap_or(u64::MAX);
            latency.saturating_record(us.max(1));
        }
        let targets = measured.len();
        let missing = sent.len() * targets - seen.len();
        Figures {
            acked: sent.len(),
            window: published.window(),
            targets,
            in_window,
            drain: (missing == 0).then(|| last - published.ended),
            missing,
            duplicates,
            latency,
            cpu_percent,
            errors: published.errors,
        }
    }

    fn acked_per_sec(&self) -> f64 {
        self.acked as f64 / self.window.as_secs_f64()
    }

    fn delivered_per_sec(&self) -> f64 {
        self.in_window as f64 / self.window.as_secs_f64()
    }

    /// Deliveries in the window per delivery ingest offered in it.
    fn share(&self) -> f64 {
        self.delivered_per_sec() / (self.acked_per_sec() * self.targets as f64)
    }

    /// One table row; `rss` and `disk` (MiB) are the server's at the end of the run.
    fn print(&self, label: &str, rss: f64, disk: f64, hung: u64) {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let mut notes = Vec::new();
        for (n, what) in [
            (self.errors, "publish errors"),
            (self.missing as u64, "never delivered"),
            (self.duplicates as u64, "duplicates"),
            (hung, "requests hung"),
        ] {
            if n > 0 {
                notes.push(format!("{n} {what}"));
            }
        }
        let measured = |text: String| if self.targets == 0 { "-".into() } else { text };
        println!(
            "{:<12} {:>8.0} {:>11} {:>6} {:>8} {:>8} {:>8} {:>8} {:>6.0} {:>8.0} {:>8.0}  {}",
            label,
            self.acked_per_sec(),
            measured(format!("{:.0}", self.delivered_per_sec())),
            measured(format!("{:.0}%", 100.0 * self.share())),
            measured(
                self.drain
                    .map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64()))
            ),
            measured(format!("{:.1}", ms(0.5))),
            measured(format!("{:.1}", ms(0.99))),
            measured(format!("{:.1}", ms(0.999))),
            self.cpu_percent,
            rss,
            disk,
            notes.join(", "),
        );
    }
}

fn print_header() {
    let names = [
        "acked/s",
        "delivered/s",
        "share",
        "drain s",
        "p50 ms",
        "p99 ms",
    ];
    let more = ["p99.9 ms", "cpu %", "rss MiB", "disk MiB"];
    let widths = [8, 11, 6, 8, 8, 8, 8, 6, 8, 8];
    let columns: Vec<String> = (names.iter().chain(&more).zip(widths))
        .map(|(name, w)| format!("{name:>w$}"))
        .collect();
    println!("{:<12} {}", "run", columns.join(" "));
}
