//! Prometheus metrics: one registry per server, handles passed to whoever records.
//!
//! No global registry: a test server owns its own, so parallel tests never share
//! counters. `GET /metrics` renders `Metrics::render`.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// What the log records about itself.
#[derive(Clone)]
pub struct LogMetrics {
    pub batch_events: Histogram,
    pub sync_seconds: Histogram,
    pub sync_failures: IntCounter,
    pub records: IntGauge,
    pub record_bytes: IntGauge,
    pub corrupt_records: IntCounter,
    pub check_complete: IntGauge,
}

/// What retention records.
#[derive(Clone)]
pub struct RetentionMetrics {
    pub removed_records: IntCounter,
    pub removed_dead_letters: IntCounter,
    pub oldest_record_age_seconds: IntGauge,
}

/// What ingestion records: accepted and rejected events.
#[derive(Clone)]
pub struct IngestMetrics {
    pub accepted: IntCounter,
    pub duplicates: IntCounter,
    pub rejected: IntCounterVec,
}

/// What routing and delivery record; per-target series carry the labels
/// `bus`, `rule` and `target` (the target's Id).
#[derive(Clone)]
pub struct DeliveryMetrics {
    pub routed_events: IntCounter,
    pub router_lag_events: IntGauge,
    pub unroutable_records: IntCounter,
    pub pending: IntGaugeVec,
    pub in_flight: IntGaugeVec,
    pub oldest_pending_age_seconds: IntGaugeVec,
    pub delivered: IntCounterVec,
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub latency_seconds: Histogram,
}

/// What replays record; per-replay gauges (label `replay`) exist while its
/// runner runs.
#[derive(Clone)]
pub struct ReplayMetrics {
    pub events: IntCounter,
    pub progress_ratio: GaugeVec,
    pub rate: GaugeVec,
}

impl ReplayMetrics {
    /// After a durable batch of `appended` events of `replay`.
    pub fn replayed(&self, replay: &str, appended: u64, ratio: Option<f64>, rate: f64) {
        self.events.inc_by(appended);
        if let Some(ratio) = ratio {
            self.progress_ratio.with_label_values(&[replay]).set(ratio);
        }
        self.rate.with_label_values(&[replay]).set(rate);
    }

    /// Drops the series of a replay whose runner stopped.
    pub fn forget(&self, replay: &str) {
        let _ = self.progress_ratio.remove_label_values(&[replay]);
        let _ = self.rate.remove_label_values(&[replay]);
    }
}

/// What archives record; per-archive series carry the label `archive`.
#[derive(Clone)]
pub struct ArchiveMetrics {
    pub events: IntGaugeVec,
    pub bytes: IntGaugeVec,
    pub archived_events: IntCounter,
}

impl ArchiveMetrics {
    /// Sets an archive's gauges to its totals.
    pub fn set(&self, archive: &str, totals: &crate::archive::Totals) {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.events
            .with_label_values(&[archive])
            .set(clamp(totals.event_count));
        self.bytes
            .with_label_values(&[archive])
            .set(clamp(totals.size_bytes));
    }

    /// Drops a deleted archive's series.
    pub fn forget(&self, archive: &str) {
        let _ = self.events.remove_label_values(&[archive]);
        let _ = self.bytes.remove_label_values(&[archive]);
    }
}

/// What backups record (`POST /v1/backup`).
#[derive(Clone)]
pub struct BackupMetrics {
    pub completed: IntCounter,
    pub failed: IntCounter,
    pub bytes: IntCounter,
    pub last_duration_seconds: Gauge,
    pub running: IntGauge,
}

/// What publisher keys record: publishes refused by reason (label `reason`:
/// `missing_key`, `malformed_key`, `unknown_key`, `revoked_key`, `network`,
/// `source`, `detail_type`, `rate`, `quota`) and events published per key id.
#[derive(Clone)]
pub struct KeyMetrics {
    pub refused: IntCounterVec,
    pub published: IntCounterVec,
}

impl KeyMetrics {
    fn register(registry: &Registry) -> KeyMetrics {
        let vec = |name: &str, help: &str, label: &str| {
            let c =
                IntCounterVec::new(Opts::new(name, help), &[label]).expect("metric name is valid");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        KeyMetrics {
            refused: vec(
                "stowage_publisher_key_refusals_total",
                "Publishes (or events) refused by publisher-key checks, by reason.",
                "reason",
            ),
            published: vec(
                "stowage_publisher_key_events_total",
                "Events admitted under each publisher key (label: key id).",
                "key",
            ),
        }
    }
}

/// What schema validation at ingest records. Labelled by API only (`gateway`,
/// `put_events`): sources and detail types are publishers' text, unbounded.
#[derive(Clone)]
pub struct SchemaMetrics {
    pub refused: IntCounterVec,
    pub validation_seconds: Histogram,
    pub registered: IntGauge,
}

/// The labels of a target's series.
pub const TARGET_LABELS: &[&str] = &["bus", "rule", "target"];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub log: LogMetrics,
    pub ingest: IngestMetrics,
    pub delivery: DeliveryMetrics,
    pub disk_bytes: IntGauge,
    pub archive: ArchiveMetrics,
    pub retention: RetentionMetrics,
    pub replay: ReplayMetrics,
    pub backup: BackupMetrics,
    pub keys: KeyMetrics,
    pub schema: SchemaMetrics,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("metric name is valid");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("metric name is valid");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("metric name is valid");
            registry
                .register(Box::new(h.clone()))
                .expect("metric registered once");
            h
        };
        let log = LogMetrics {
            batch_events: histogram(
                "stowage_log_batch_events",
                "Events made durable by one group-commit sync.",
                vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
                ],
            ),
            sync_seconds: histogram(
                "stowage_log_sync_seconds",
                "Latency of one group commit: sled flush plus fdatasync.",
                vec![
                    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
                ],
            ),
            sync_failures: counter(
                "stowage_log_sync_failures_total",
                "Group commits whose sync failed.",
            ),
            records: gauge("stowage_log_records", "Events in the log."),
            record_bytes: gauge(
                "stowage_log_record_bytes",
                "Bytes of framed events in the log.",
            ),
            corrupt_records: counter(
                "stowage_log_corrupt_records_total",
                "Log records whose crc32 or encoding did not check out; skipped, never served.",
            ),
            check_complete: gauge(
                "stowage_log_check_complete",
                "1 once the startup check of every log record has finished.",
            ),
        };
        let rejected = IntCounterVec::new(
            Opts::new(
                "stowage_events_rejected_total",
                "Events refused, by reason.",
            ),
            &["reason"],
        )
        .expect("metric name is valid");
        registry
            .register(Box::new(rejected.clone()))
            .expect("metric registered once");
        let ingest = IngestMetrics {
            accepted: counter("stowage_events_accepted_total", "Events durably accepted."),
            duplicates: counter(
                "stowage_events_duplicate_total",
                "Publishes answered with an earlier event id (Idempotency-Key).",
            ),
            rejected,
        };
        let counter_vec = |name: &str, help: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), TARGET_LABELS)
                .expect("metric name is valid");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let gauge_vec = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), TARGET_LABELS)
                .expect("metric name is valid");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let delivery = DeliveryMetrics {
            routed_events: counter(
                "stowage_router_events_total",
                "Events matched against their bus's rules.",
            ),
            router_lag_events: gauge(
                "stowage_router_lag_events",
                "Durable events not yet routed.",
            ),
            unroutable_records: counter(
                "stowage_router_unroutable_records_total",
                "Log records the router could not read (damaged); reported, never delivered.",
            ),
            pending: gauge_vec(
                "stowage_target_pending",
                "Deliveries waiting for a target (due or backing off).",
            ),
            in_flight: gauge_vec(
                "stowage_target_in_flight",
                "Delivery requests to a target in flight.",
            ),
            oldest_pending_age_seconds: gauge_vec(
                "stowage_target_oldest_pending_age_seconds",
                "Age of the oldest pending delivery of a target, since ingestion.",
            ),
            delivered: counter_vec(
                "stowage_target_delivered_total",
                "Events a target answered with 2xx.",
            ),
            retried: counter_vec(
                "stowage_target_retried_total",
                "Failed attempts that were scheduled for a retry.",
            ),
            dead_lettered: counter_vec(
                "stowage_target_dead_lettered_total",
                "Deliveries moved to a dead-letter queue.",
            ),
            latency_seconds: histogram(
                "stowage_delivery_latency_seconds",
                "From ingestion to the target's 2xx.",
                vec![
                    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
                ],
            ),
        };
        let disk_bytes = gauge(
            "stowage_store_disk_bytes",
            "Bytes the sled database occupies on disk.",
        );
        let replay_gauge = |name: &str, help: &str| {
            let g =
                GaugeVec::new(Opts::new(name, help), &["replay"]).expect("metric name is valid");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let archive_gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["archive"])
                .expect("metric name is valid");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let replay = ReplayMetrics {
            events: counter(
                "stowage_replay_events_total",
                "Archived events replayed (appended to the log as replayed events).",
            ),
            progress_ratio: replay_gauge(
                "stowage_replay_progress_ratio",
                "Share of its window a running replay has replayed (0 to 1).",
            ),
            rate: replay_gauge(
                "stowage_replay_rate_events_per_second",
                "Events per second a running replay appends, since its runner started.",
            ),
        };
        let archive = ArchiveMetrics {
            events: archive_gauge("stowage_archive_events", "Events an archive holds."),
            bytes: archive_gauge(
                "stowage_archive_bytes",
                "Bytes of the events an archive holds (their envelope JSON).",
            ),
            archived_events: counter(
                "stowage_archive_events_archived_total",
                "Archive entries written (an event taken by two archives counts twice).",
            ),
        };
        let retention = RetentionMetrics {
            removed_records: counter(
                "stowage_retention_removed_records_total",
                "Log records removed by retention (nothing needed them and they were past log.min_retention).",
            ),
            removed_dead_letters: counter(
                "stowage_retention_removed_dead_letters_total",
                "Dead letters removed by retention (past dead_letters.retention).",
            ),
            oldest_record_age_seconds: gauge(
                "stowage_log_oldest_record_age_seconds",
                "Age of the oldest record the log keeps, since its ingestion (0 when empty).",
            ),
        };
        let last_backup = Gauge::new(
            "stowage_backup_last_duration_seconds",
            "How long the last completed backup took (and paused retention).",
        )
        .expect("metric name is valid");
        registry
            .register(Box::new(last_backup.clone()))
            .expect("metric registered once");
        let backup = BackupMetrics {
            completed: counter(
                "stowage_backups_total",
                "Backups streamed to the end (trailer sent).",
            ),
            failed: counter(
                "stowage_backups_failed_total",
                "Backups that ended early: a store error, or the reader went away.",
            ),
            bytes: counter(
                "stowage_backup_bytes_total",
                "Bytes of backup stream sent, framing included.",
            ),
            last_duration_seconds: last_backup,
            running: gauge("stowage_backup_running", "Backups being streamed now."),
        };
        let keys = KeyMetrics::register(&registry);
        let schema_refused = IntCounterVec::new(
            Opts::new(
                "stowage_schema_refused_total",
                "Events refused because their data or Detail broke the registered JSON Schema, by API.",
            ),
            &["api"],
        )
        .expect("metric name is valid");
        registry
            .register(Box::new(schema_refused.clone()))
            .expect("metric registered once");
        let schema = SchemaMetrics {
            refused: schema_refused,
            validation_seconds: histogram(
                "stowage_schema_validation_seconds",
                "Time to parse and validate one event against its schema (events with a schema only).",
                vec![
                    0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.05,
                ],
            ),
            registered: gauge(
                "stowage_schemas_registered",
                "JSON Schemas in the registry.",
            ),
        };
        Metrics {
            keys,
            registry,
            log,
            ingest,
            delivery,
            disk_bytes,
            archive,
            retention,
            replay,
            backup,
            schema,
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
