//! A target's live counters and its status as operators see it, with its
//! latest failure and how long ago that was (a failure stays after later
//! successes; its age tells an old one from a current one).

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use prometheus::{IntCounter, IntGauge};
use serde::Serialize;

use crate::catalog::TargetRoute;
use crate::event::format_time;
use crate::metrics::DeliveryMetrics;

/// A target's live counters (the same handles back the Prometheus series).
pub struct TargetStats {
    pub bus: String,
    pub rule: String,
    pub target: String,
    pub uid: u64,
    pub(super) pending: IntGauge,
    pub(super) in_flight: IntGauge,
    pub(super) delivered: IntCounter,
    pub(super) retried: IntCounter,
    pub(super) dead_lettered: IntCounter,
    last_error: Mutex<Option<RecordedError>>,
    /// Set when the endpoint answered 410 Gone; cleared by a later success.
    pub(super) gone: AtomicBool,
}

/// A target's latest failure as the worker records it.
#[derive(Clone, Debug)]
pub struct RecordedError {
    /// When, in delivery's clock (ms since the Unix epoch).
    pub at_ms: i64,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
}

/// A target's latest failure, as `GET /v1/targets` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// RFC 3339, to the second.
    pub at: String,
    /// Seconds from `at` to when the status was read, by the server's clock
    /// (so a client's clock cannot skew it).
    pub age_secs: f64,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
}

impl LastError {
    fn new(recorded: &RecordedError, now_ms: i64) -> LastError {
        let age_ms = now_ms.saturating_sub(recorded.at_ms).max(0);
        LastError {
            at: format_time(recorded.at_ms),
            age_secs: age_ms as f64 / 1000.0,
            code: recorded.code.clone(),
            message: recorded.message.clone(),
            status: recorded.status,
        }
    }
}

/// One target's status, as `GET /v1/targets` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    pub bus: String,
    pub rule: String,
    pub target_id: String,
    pub arn: String,
    pub enabled: bool,
    pub pending: i64,
    pub oldest_pending_age_secs: Option<f64>,
    pub in_flight: i64,
    pub delivered: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub endpoint_gone: bool,
    pub last_error: Option<LastError>,
}

impl TargetStats {
    pub(super) fn new(route: &TargetRoute, metrics: &DeliveryMetrics) -> TargetStats {
        let labels = [
            route.bus.as_str(),
            route.rule.as_str(),
            route.target.id.as_str(),
        ];
        TargetStats {
            bus: route.bus.clone(),
            rule: route.rule.clone(),
            target: route.target.id.clone(),
            uid: route.target.uid,
            pending: metrics.pending.with_label_values(&labels),
            in_flight: metrics.in_flight.with_label_values(&labels),
            delivered: metrics.delivered.with_label_values(&labels),
            retried: metrics.retried.with_label_values(&labels),
            dead_lettered: metrics.dead_lettered.with_label_values(&labels),
            last_error: Mutex::new(None),
            gone: AtomicBool::new(false),
        }
    }

    fn labels(&self) -> [&str; 3] {
        [self.bus.as_str(), self.rule.as_str(), self.target.as_str()]
    }

    pub(super) fn oldest_gauge(&self, metrics: &DeliveryMetrics) -> IntGauge {
        metrics
            .oldest_pending_age_seconds
            .with_label_values(&self.labels())
    }

    pub(super) fn forget_series(&self, metrics: &DeliveryMetrics) {
        let labels = self.labels();
        for vec in [
            &metrics.pending,
            &metrics.in_flight,
            &metrics.oldest_pending_age_seconds,
        ] {
            let _ = vec.remove_label_values(&labels);
        }
        for vec in [&metrics.delivered, &metrics.retried, &metrics.dead_lettered] {
            let _ = vec.remove_label_values(&labels);
        }
    }

    pub(super) fn set_last_error(&self, error: RecordedError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }

    /// The status as read at `now_ms` (delivery's clock).
    pub(super) fn status(
        &self,
        route: &TargetRoute,
        oldest_age_secs: Option<f64>,
        now_ms: i64,
    ) -> TargetStatus {
        TargetStatus {
            bus: self.bus.clone(),
            rule: self.rule.clone(),
            target_id: self.target.clone(),
            arn: route.target.arn.clone(),
            enabled: route.rule_enabled,
            pending: self.pending.get(),
            oldest_pending_age_secs: oldest_age_secs,
            in_flight: self.in_flight.get(),
            delivered: self.delivered.get(),
            retried: self.retried.get(),
            dead_lettered: self.dead_lettered.get(),
            endpoint_gone: self.gone.load(std::sync::atomic::Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|recorded| LastError::new(recorded, now_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_error_shows_its_time_and_its_age_at_reading() {
        let recorded = RecordedError {
            at_ms: 1_735_689_600_000,
            code: "SERVER_ERROR".into(),
            message: "answered 503".into(),
            status: Some(503),
        };
        let shown = LastError::new(&recorded, recorded.at_ms + 240_500);
        assert_eq!(shown.at, "2025-01-01T00:00:00Z");
        assert_eq!(shown.age_secs, 240.5);
        let json = serde_json::to_value(&shown).expect("serializes");
        assert_eq!(json["ageSecs"], 240.5);
        assert_eq!(json["status"], 503);
    }

    #[test]
    fn a_last_error_from_the_future_is_zero_seconds_old() {
        let recorded = RecordedError {
            at_ms: 10_000,
            code: "TIMEOUT".into(),
            message: String::new(),
            status: None,
        };
        assert_eq!(LastError::new(&recorded, 9_000).age_secs, 0.0);
    }
}
