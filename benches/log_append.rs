//! Log append benchmark: the group-commit writer without HTTP.
//!
//! 64 tasks append 1 KiB events through `Log::append` (each waits for its sync),
//! in-process, on a temp dir. Printed: appends/s, the average batch per sync, and
//! CPU per event of the writer thread, of sled's IO threads and of the whole
//! process (from /proc). This is the measurement behind the log's format choices
//! (docs/performance.md: "The log writer").
//!
//!     cargo bench --bench log_append
//!     STOWAGE_BENCH_APPENDS=100000 cargo bench --bench log_append

use std::sync::Arc;
use std::time::Instant;

use stowage::config::Config;
use stowage::event::NewEvent;
use stowage::log::{AppendRequest, Log};
use stowage::metrics::Metrics;
use stowage::store::Store;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TASKS: usize = 64;

/// CPU seconds of this process's threads whose name satisfies `wanted`.
fn thread_cpu(wanted: impl Fn(&str) -> bool) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !wanted(comm.trim()) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(11) + field(12);
    }
    ticks as f64 / 100.0
}

fn main() {
    let appends: usize = std::env::var("STOWAGE_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(192_000);
    let per_task = appends / TASKS;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_test(dir.path());
        config.storage.cache_capacity_bytes = Config::default().storage.cache_capacity_bytes;
        let store = Arc::new(Store::open(&config.storage).expect("store opens"));
        let metrics = Metrics::new();
        let (log, writer) = Log::open(store, &config.ingest, metrics.log.clone()).expect("log opens");
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    let event = NewEvent {
                        bus: "default".into(),
                        source: "bench".into(),
                        detail_type: "Appended".into(),
                        detail: format!("{{\"pad\":\"{}\"}}", "x".repeat(1000)),
                        ..NewEvent::default()
                    };
                    log.append(AppendRequest { event, idempotency_key: None }).await.expect("append");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let n = (per_task * TASKS) as f64;
        let syncs = metrics.log.batch_events.get_sample_count() as f64;
        let writer_cpu = thread_cpu(|name| name == "log-writer");
        let sled_cpu = thread_cpu(|name| name.starts_with("sled-io"));
        let all_cpu = thread_cpu(|_| true);
        println!("# log append: {TASKS} tasks, 1 KiB events, {} appends", n);
        println!(
            "{:.0} appends/s, {:.1} events/sync; CPU per event: writer {:.1} us, sled IO {:.1} us, process {:.1} us",
            n / elapsed,
            n / syncs,
            writer_cpu * 1e6 / n,
            sled_cpu * 1e6 / n,
            all_cpu * 1e6 / n
        );
        drop(log);
        writer.join();
    });
}
