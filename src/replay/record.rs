//! A replay's stored record and the pure decisions about it: which state
//! follows which, how fast to go, how far it has come.
//!
//! No I/O here: `Replays` (mod.rs) stores records, `runner` acts on them.

use serde::{Deserialize, Serialize};

use crate::event::Seq;

/// A replay's state, as EventBridge names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplayState {
    Starting,
    Running,
    Cancelling,
    Completed,
    Cancelled,
    Failed,
}

impl ReplayState {
    pub fn as_aws(self) -> &'static str {
        match self {
            ReplayState::Starting => "STARTING",
            ReplayState::Running => "RUNNING",
            ReplayState::Cancelling => "CANCELLING",
            ReplayState::Completed => "COMPLETED",
            ReplayState::Cancelled => "CANCELLED",
            ReplayState::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<ReplayState> {
        [
            ReplayState::Starting,
            ReplayState::Running,
            ReplayState::Cancelling,
            ReplayState::Completed,
            ReplayState::Cancelled,
            ReplayState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_aws() == s)
    }

    /// Whether a runner still has work: such a replay is resumed at startup.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ReplayState::Starting | ReplayState::Running | ReplayState::Cancelling
        )
    }

    /// CancelReplay's decision: the state to move to, or `None` when the
    /// replay cannot be cancelled (it has ended, or is already cancelling).
    pub fn on_cancel(self) -> Option<ReplayState> {
        match self {
            ReplayState::Starting | ReplayState::Running => Some(ReplayState::Cancelling),
            _ => None,
        }
    }

    /// The state a runner ends in when it has nothing left to replay: a cancel
    /// asked for before the end still wins.
    pub fn on_exhausted(self) -> ReplayState {
        match self {
            ReplayState::Cancelling => ReplayState::Cancelled,
            _ => ReplayState::Completed,
        }
    }
}

/// A position in an archive: the event's time, then its log seq (the order a
/// replay reads in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub time_ms: i64,
    pub seq: Seq,
}

/// One replay, as stored (framed, v1) in the `replays` tree under its name.
///
/// Durability: written (not synced) on every batch; the log's next group
/// commit syncs it. After a crash the cursor may be one or more batches
/// behind what was appended, so those events are replayed again: a replay is
/// at-least-once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    pub name: String,
    /// Random, fixed at start: the id in each replayed record's mark.
    pub replay_id: u64,
    pub arn: String,
    pub description: Option<String>,
    pub archive: String,
    pub archive_arn: String,
    pub bus: String,
    pub destination_arn: String,
    /// `Destination.FilterArns` as given, and the rule names they name (empty:
    /// every rule of the bus).
    pub filter_arns: Vec<String>,
    pub rules: Vec<String>,
    /// The window, inclusive at both ends, in event time.
    pub from_ms: i64,
    pub to_ms: i64,
    pub state: ReplayState,
    pub state_reason: Option<String>,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    /// `EventLastReplayedTime`: the event time of the last replayed event.
    pub last_replayed_ms: Option<i64>,
    /// The last archived event appended (durably) to the log.
    pub cursor: Option<Position>,
    /// Events appended so far (a batch appended twice after a crash counts twice).
    pub replayed: u64,
    /// Events in the window, once counted.
    pub total: Option<u64>,
}

impl ReplayRecord {
    /// The record after a durable batch ending at `last`.
    pub fn advanced(&self, last: Position, appended: u64) -> ReplayRecord {
        let mut next = self.clone();
        next.cursor = Some(last);
        next.replayed = next.replayed.saturating_add(appended);
        next.last_replayed_ms = Some(last.time_ms);
        if next.state == ReplayState::Starting {
            next.state = ReplayState::Running;
        }
        next
    }

    /// The record once it ends in `state` at `now_ms`.
    pub fn ended(&self, state: ReplayState, reason: Option<String>, now_ms: i64) -> ReplayRecord {
        let mut next = self.clone();
        next.state = state;
        next.state_reason = reason;
        next.ended_ms = Some(now_ms);
        next
    }
}

/// How many events to take per batch: `batch_events`, but small enough at a
/// low rate that a batch takes about a tenth of a second, so that progress
/// and cancel stay prompt.
pub fn batch_size(batch_events: usize, events_per_sec: u64) -> usize {
    let batch_events = batch_events.max(1);
    if events_per_sec == 0 {
        return batch_events;
    }
    let tenth = usize::try_from(events_per_sec / 10).unwrap_or(usize::MAX);
    batch_events.min(tenth.max(1))
}

/// How long to wait before sending `next` more events, `sent` having been
/// sent `elapsed_ms` after the pace started, so that the rate stays at or under
/// `events_per_sec` (0: unlimited).
pub fn pace_delay_ms(sent: u64, next: u64, elapsed_ms: u64, events_per_sec: u64) -> u64 {
    if events_per_sec == 0 {
        return 0;
    }
    // The moment the last of the new events may go out.
    let due_ms =
        (sent.saturating_add(next).saturating_sub(1)).saturating_mul(1000) / events_per_sec;
    due_ms.saturating_sub(elapsed_ms)
}

/// Progress as shown by `GET /v1/replays/{name}` and the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub replayed: u64,
    pub total: Option<u64>,
    /// Events per second since the runner (re)started.
    pub rate: f64,
    pub eta_secs: Option<f64>,
}

/// Rate and ETA from what a runner has done since it (re)started.
pub fn progress(replayed: u64, total: Option<u64>, since_start: u64, elapsed_ms: u64) -> Progress {
    let rate = if elapsed_ms == 0 {
        0.0
    } else {
        since_start as f64 * 1000.0 / elapsed_ms as f64
    };
    let eta_secs = match total {
        Some(total) if rate > 0.0 => Some(total.saturating_sub(replayed) as f64 / rate),
        Some(total) if replayed >= total => Some(0.0),
        _ => None,
    };
    Progress {
        replayed,
        total,
        rate,
        eta_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_starting_or_running_replay_can_be_cancelled() {
        assert_eq!(
            ReplayState::Starting.on_cancel(),
            Some(ReplayState::Cancelling)
        );
        assert_eq!(
            ReplayState::Running.on_cancel(),
            Some(ReplayState::Cancelling)
        );
        for ended in [
            ReplayState::Cancelling,
            ReplayState::Completed,
            ReplayState::Cancelled,
            ReplayState::Failed,
        ] {
            assert_eq!(ended.on_cancel(), None, "{ended:?}");
        }
    }

    #[test]
    fn a_cancel_asked_before_the_end_wins_over_completion() {
        assert_eq!(
            ReplayState::Cancelling.on_exhausted(),
            ReplayState::Cancelled
        );
        assert_eq!(ReplayState::Running.on_exhausted(), ReplayState::Completed);
    }

    #[test]
    fn states_parse_their_aws_names() {
        for s in [
            "STARTING",
            "RUNNING",
            "CANCELLING",
            "COMPLETED",
            "CANCELLED",
            "FAILED",
        ] {
            assert_eq!(ReplayState::parse(s).map(ReplayState::as_aws), Some(s));
        }
        assert_eq!(ReplayState::parse("running"), None);
    }

    #[test]
    fn batches_shrink_at_low_rates_and_never_vanish() {
        assert_eq!(batch_size(256, 0), 256);
        assert_eq!(batch_size(256, 2000), 200);
        assert_eq!(batch_size(256, 100_000), 256);
        assert_eq!(batch_size(256, 5), 1);
        assert_eq!(batch_size(0, 0), 1);
    }

    #[test]
    fn pacing_keeps_the_rate_at_or_under_the_limit() {
        assert_eq!(pace_delay_ms(0, 10, 0, 0), 0);
        // 100/s: the 10 events of the first batch are due by 90 ms.
        assert_eq!(pace_delay_ms(0, 10, 0, 100), 90);
        assert_eq!(pace_delay_ms(10, 10, 0, 100), 190);
        assert_eq!(pace_delay_ms(10, 10, 500, 100), 0);
        // Whatever the steps, n events never go out in less than (n-1)/rate.
        let (mut sent, mut clock) = (0u64, 0u64);
        for step in [1u64, 7, 3, 20, 1, 50] {
            clock += pace_delay_ms(sent, step, clock, 40);
            sent += step;
            assert!(clock >= (sent - 1) * 1000 / 40, "{sent} by {clock}");
        }
    }

    #[test]
    fn progress_reports_rate_and_eta() {
        let p = progress(500, Some(1500), 500, 1000);
        assert_eq!(p.rate, 500.0);
        assert_eq!(p.eta_secs, Some(2.0));
        assert_eq!(progress(10, None, 10, 1000).eta_secs, None);
        assert_eq!(progress(0, Some(0), 0, 0).eta_secs, Some(0.0));
    }

    #[test]
    fn advancing_moves_the_cursor_and_starts_running() {
        let record = ReplayRecord {
            name: "r".into(),
            replay_id: 1,
            arn: String::new(),
            description: None,
            archive: "a".into(),
            archive_arn: String::new(),
            bus: "default".into(),
            destination_arn: String::new(),
            filter_arns: vec![],
            rules: vec![],
            from_ms: 0,
            to_ms: 10,
            state: ReplayState::Starting,
            state_reason: None,
            started_ms: 0,
            ended_ms: None,
            last_replayed_ms: None,
            cursor: None,
            replayed: 0,
            total: None,
        };
        let last = Position {
            time_ms: 5,
            seq: Seq(9),
        };
        let next = record.advanced(last, 3);
        assert_eq!(
            (
                next.state,
                next.cursor,
                next.replayed,
                next.last_replayed_ms
            ),
            (ReplayState::Running, Some(last), 3, Some(5))
        );
        let cancelling = ReplayRecord {
            state: ReplayState::Cancelling,
            ..record
        };
        assert_eq!(
            cancelling.advanced(last, 1).state,
            ReplayState::Cancelling,
            "a cancel is not undone by progress"
        );
    }
}
