//! What archives cost routing: the router's work per event (render the
//! envelope, match the bus's rules, record the pending deliveries and the
//! position in one batch) with and without the archive hook (offer each event
//! to the bus's archives, write what they took with their totals in one batch
//! before the router's), in-process on a temp dir, as `router::route_step`
//! does it.
//!
//! Scenarios, each on fresh archives: none; one archive of every event; one
//! with a pattern taking half of them; five of every event. One rule with one
//! target matches half the events throughout. Printed per scenario: events/s,
//! µs per event, and the cost over "none".
//!
//!     cargo bench --bench archive
//!     STOWAGE_BENCH_EVENTS=50000 cargo bench --bench archive

use std::sync::Arc;
use std::time::Instant;

use stowage::archive::{ArchiveInput, Archives};
use stowage::catalog::{
    Catalog, DEFAULT_QUEUE, HttpParameters, RetryPolicy, RuleInput, TargetRecord,
};
use stowage::config::Config;
use stowage::event::{Event, EventId, NewEvent, Seq};
use stowage::metrics::Metrics;
use stowage::pattern::Limits;
use stowage::pending::{PendingDeliveries, PendingDelivery, Routed};
use stowage::store::Store;
use stowage::transform::InputSpec;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The router's default batch (`delivery.router_batch`).
const BATCH: usize = 1024;
const ROUNDS: usize = 3;

struct Bench {
    catalog: Catalog,
    pending: PendingDeliveries,
    archives: Archives,
    next_seq: u64,
}

impl Bench {
    /// Routes `events` as the router does, with or without offering them to
    /// archives; returns seconds taken in all and in `Archives::write`.
    fn route(&mut self, events: &[NewEvent], archive: bool) -> (f64, f64) {
        let started = Instant::now();
        let mut writing = 0.0;
        for chunk in events.chunks(BATCH) {
            let snapshot = self.catalog.snapshot();
            let mut offered = self.archives.offering();
            let mut routed = Routed::default();
            for fields in chunk {
                let seq = Seq(self.next_seq);
                self.next_seq += 1;
                let event: Event = fields.clone().into_event(EventId::for_seq(seq));
                let envelope = if archive {
                    offered.offer(seq, &event)
                } else {
                    None
                };
                let envelope = envelope.unwrap_or_else(|| event.to_envelope_json());
                let uids = snapshot
                    .route(&event.fields.bus, envelope.as_bytes())
                    .expect("bench events are JSON");
                let owed = PendingDelivery::new(event.fields.ingested_ms);
                for uid in uids {
                    routed.owe(uid, seq, &owed);
                }
            }
            if archive {
                let write = Instant::now();
                self.archives.write(offered).expect("archive write");
                writing += write.elapsed().as_secs_f64();
            }
            self.pending
                .record_routed(routed, Seq(self.next_seq))
                .expect("record routed");
        }
        (started.elapsed().as_secs_f64(), writing)
    }

    fn create(&self, name: &str, pattern: Option<&str>) {
        self.archives
            .create(
                ArchiveInput {
                    name: name.into(),
                    bus: "default".into(),
                    description: None,
                    pattern: pattern.map(String::from),
                    retention_days: 0,
                },
                Seq(self.next_seq),
            )
            .expect("create archive");
    }
}

fn main() {
    let count: usize = std::env::var("STOWAGE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_test(dir.path());
    config.storage.cache_capacity_bytes = Config::default().storage.cache_capacity_bytes;
    let store = Arc::new(Store::open(&config.storage).expect("store opens"));
    let metrics = Metrics::new();
    let catalog = Catalog::open(
        store.clone(),
        &config.aws,
        Limits::default(),
        stowage::secrets::SecretBox::for_test(),
    )
    .expect("catalog");
    catalog
        .put_rule(RuleInput {
            bus: "default".into(),
            name: "shop".into(),
            pattern: r#"{"source":["shop"]}"#.into(),
            enabled: true,
            description: None,
            role_arn: None,
            tags: Vec::new(),
        })
        .expect("rule");
    catalog
        .put_targets(
            "default",
            "shop",
            vec![TargetRecord {
                id: "t".into(),
                uid: 0,
                arn: "http://127.0.0.1:9/t".into(),
                role_arn: None,
                input: InputSpec::Event,
                http: HttpParameters::default(),
                dead_letter_arn: None,
                queue: DEFAULT_QUEUE.into(),
                retry: RetryPolicy::default(),
            }],
        )
        .expect("target");
    let archives = Archives::open(
        store.clone(),
        catalog.arns().clone(),
        Limits::default(),
        metrics.archive.clone(),
    )
    .expect("archives");
    let mut bench = Bench {
        catalog,
        pending: PendingDeliveries::open(store.clone()).expect("pending"),
        archives,
        next_seq: 0,
    };
    let events: Vec<NewEvent> = (0..count)
        .map(|i| NewEvent {
            bus: "default".into(),
            source: if i % 2 == 0 { "shop" } else { "crm" }.into(),
            detail_type: "OrderPlaced".into(),
            time_ms: 1_764_900_000_000 + i64::try_from(i).expect("small"),
            ingested_ms: 1_764_900_000_000,
            detail: format!(
                r#"{{"orderId":{i},"customer":"c-{}","lines":[{{"sku":"A-1","qty":2}},{{"sku":"B-7","qty":1}}],"note":"{}"}}"#,
                i % 977,
                "x".repeat(120)
            ),
            ..NewEvent::default()
        })
        .collect();

    println!(
        "archive hook on routing: {count} events/round, best of {ROUNDS} rounds, batch {BATCH}, one rule matching half"
    );
    let scenarios: [(&str, &[Option<&str>]); 4] = [
        ("no archives", &[]),
        ("1 archive, every event", &[None]),
        (
            "1 archive, pattern (half)",
            &[Some(r#"{"source":["shop"]}"#)],
        ),
        ("5 archives, every event", &[None, None, None, None, None]),
    ];
    let mut baseline = None;
    for (round_set, (label, patterns)) in scenarios.iter().enumerate() {
        let (mut best, mut best_write) = (f64::MAX, 0.0);
        for round in 0..ROUNDS {
            let names: Vec<String> = (0..patterns.len())
                .map(|i| format!("s{round_set}-r{round}-a{i}"))
                .collect();
            for (name, pattern) in names.iter().zip(patterns.iter()) {
                bench.create(name, *pattern);
            }
            let (took, writing) = bench.route(&events, !patterns.is_empty());
            if took < best {
                (best, best_write) = (took, writing);
            }
            for name in &names {
                bench.archives.delete(name).expect("delete archive");
            }
        }
        let per_event_us = best * 1e6 / count as f64;
        let rate = count as f64 / best;
        let over = match baseline {
            None => {
                baseline = Some(per_event_us);
                String::new()
            }
            Some(base) => format!(
                "  (+{:.2} µs/event, {:.0}% of routing; archive batch write {:.2} µs/event)",
                per_event_us - base,
                (per_event_us - base) / base * 100.0,
                best_write * 1e6 / count as f64
            ),
        };
        println!("{label:<28} {rate:>10.0} events/s  {per_event_us:>6.2} µs/event{over}");
    }
    println!("disk after: {} bytes", store.size_on_disk());
}
