//! The publisher-key check on its own: what `authorize_publish` costs a gateway
//! publish with a key (find the key, SHA-256 of the token, constant-time
//! compare, network, source and detail-type patterns, rate bucket, quota
//! counter), from `STOWAGE_BENCH_THREADS` (default 64) threads, each with its
//! own key, for `STOWAGE_BENCH_SECS` (default 3) seconds. Prints checks/s and
//! CPU ns per check, to set against the CPU one ingested event costs.
//!
//!     cargo bench --bench publisher_keys

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stowage::config::StorageConfig;
use stowage::keys::grant::GrantText;
use stowage::keys::{NewKey, PublisherKeys};
use stowage::metrics::Metrics;
use stowage::store::Store;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let threads: usize = env_or("STOWAGE_BENCH_THREADS", 64);
    let secs: u64 = env_or("STOWAGE_BENCH_SECS", 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        Store::open(&StorageConfig {
            data_dir: dir.path().join("data"),
            ..StorageConfig::default()
        })
        .expect("open the store"),
    );
    let keys = PublisherKeys::open(store, Metrics::new().keys.clone()).expect("open the keys");
    let now = chrono::Utc::now().timestamp_millis();
    let tokens: Vec<String> = (0..threads)
        .map(|i| {
            keys.create(
                NewKey {
                    name: format!("bench-{i}"),
                    grant: GrantText {
                        sources: vec!["com.external.orders".into(), "bench.*".into()],
                        detail_types: vec!["Order*".into()],
                        // Rate and quota on, set high enough never to refuse.
                        rate: Some("100000000/s".into()),
                        quota: Some("1000000000000/day".into()),
                        networks: vec!["127.0.0.0/8".into()],
                    },
                },
                now,
            )
            .expect("create a key")
            .token
        })
        .collect();
    let peer = Some("127.0.0.1".parse().expect("an address"));
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for token in &tokens {
            let (keys, stop, checks) = (&keys, stop.clone(), checks.clone());
            scope.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let now = chrono::Utc::now().timestamp_millis();
                        let admitted = keys.admit(Some(token), peer, now).expect("admitted");
                        admitted
                            .allows("bench.legacy", "OrderPlaced")
                            .expect("allowed");
                        admitted.take(1, now).expect("within rate and quota");
                    }
                    n += 256;
                }
                checks.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu_before;
    let total = checks.load(Ordering::Relaxed) as f64;
    println!(
        "# publisher keys: {threads} threads, one key each, {secs} s, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "checks/s {:.0}  cpu ns/check {:.0}",
        total / elapsed,
        cpu.as_secs_f64() * 1e9 / total
    );
}

/// User + system CPU time of this process (Linux USER_HZ ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}
