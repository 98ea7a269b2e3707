//! Prometheus metrics: one registry per server, handles passed to whoever records.
//!
//! No global registry: a test server owns its own, so parallel tests never share
//! counters. `GET /metrics` renders `Metrics::render`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
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

/// What ingestion records: accepted and rejected events.
#[derive(Clone)]
pub struct IngestMetrics {
    pub accepted: IntCounter,
    pub duplicates: IntCounter,
    pub rejected: IntCounterVec,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub log: LogMetrics,
    pub ingest: IngestMetrics,
    pub disk_bytes: IntGauge,
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
        let disk_bytes = gauge(
            "stowage_store_disk_bytes",
            "Bytes the sled database occupies on disk.",
        );
        Metrics {
            registry,
            log,
            ingest,
            disk_bytes,
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
