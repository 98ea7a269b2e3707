//! The history owner on a real store: bounded per delivery, one range scan
//! per event across targets, and a sweep that keeps what is still owed or
//! recent.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::StorageConfig;
use crate::pending::{PendingDelivery, Routed};

const DAY_MS: i64 = 86_400_000;

struct Subject {
    _dir: tempfile::TempDir,
    history: AttemptHistory,
    pending: PendingDeliveries,
}

fn subject(keep: u32, retention_secs: u64) -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(&StorageConfig {
            data_dir: dir.path().to_path_buf(),
            cache_capacity_bytes: 1 << 20,
            ..StorageConfig::default()
        })
        .unwrap(),
    );
    Subject {
        history: AttemptHistory::open(&store, keep, retention_secs).unwrap(),
        pending: PendingDeliveries::open(store).unwrap(),
        _dir: dir,
    }
}

fn failed(at_ms: i64, ingested_ms: i64) -> AttemptRecord {
    AttemptRecord {
        at_ms,
        latency_ms: Some(3),
        code: Some("SERVER_ERROR".into()),
        status: Some(503),
        error: Some("answered 503".into()),
        ingested_ms,
        dead_letter: None,
    }
}

fn record_one(history: &AttemptHistory, uid: u64, seq: Seq, record: AttemptRecord) {
    let mut round = Round::default();
    round.add(uid, seq, record);
    history.record(&mut round).unwrap();
    assert!(round.is_empty(), "a round is emptied by writing it");
}

#[test]
fn keeps_only_the_last_n_attempts_of_a_delivery_numbered_from_one() {
    let s = subject(10, 3600);
    for at in 1..=15 {
        record_one(&s.history, 7, Seq(3), failed(at, 0));
    }
    record_one(&s.history, 8, Seq(3), failed(100, 0));
    let found = s.history.of_event(Seq(3)).unwrap();
    let numbers: Vec<u32> = found[&7].iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (6..=15).collect::<Vec<_>>());
    let times: Vec<i64> = found[&7].iter().map(|(_, r)| r.at_ms).collect();
    assert_eq!(times, (6..=15).collect::<Vec<_>>(), "the oldest go first");
    assert_eq!(found[&8].len(), 1, "another target's delivery is its own");
}

#[test]
fn two_attempts_of_one_delivery_in_one_round_get_consecutive_numbers() {
    let s = subject(2, 3600);
    record_one(&s.history, 1, Seq(0), failed(1, 0));
    let mut round = Round::default();
    round.add(1, Seq(0), failed(2, 0));
    round.add(1, Seq(0), failed(3, 0));
    s.history.record(&mut round).unwrap();
    let found = s.history.of_event(Seq(0)).unwrap();
    let kept: Vec<(u32, i64)> = found[&1].iter().map(|(n, r)| (*n, r.at_ms)).collect();
    assert_eq!(kept, vec![(2, 2), (3, 3)]);
}

#[test]
fn keys_sort_by_event_then_target_then_attempt() {
    assert!(key(Seq(1), u64::MAX, u32::MAX) < key(Seq(2), 0, 1));
    assert!(key(Seq(2), 1, u32::MAX) < key(Seq(2), 2, 1));
    assert!(
        key(Seq(2), 2, 9) < key(Seq(2), 2, 10),
        "numbers compare as numbers"
    );
    assert_eq!(parse_key(&key(Seq(5), 6, 7)), Some((Seq(5), 6, 7)));

    // One event's scan sees every target's attempts and no neighbour's,
    // whatever the uids (the highest included).
    let s = subject(10, 3600);
    for (uid, seq) in [
        (u64::MAX, Seq(1)),
        (0, Seq(2)),
        (u64::MAX, Seq(2)),
        (0, Seq(3)),
    ] {
        record_one(&s.history, uid, seq, failed(1, 0));
    }
    let found = s.history.of_event(Seq(2)).unwrap();
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), vec![0, u64::MAX]);
}

#[test]
fn nothing_is_recorded_when_history_is_off() {
    let s = subject(0, 3600);
    record_one(&s.history, 1, Seq(0), failed(1, 0));
    assert!(s.history.of_event(Seq(0)).unwrap().is_empty());
    assert!(!s.history.is_enabled());
}

#[test]
fn error_messages_are_bounded() {
    let long = "é".repeat(MAX_ERROR_CHARS + 50);
    let cut = bounded(&long);
    assert_eq!(cut.chars().count(), MAX_ERROR_CHARS + 1, "and an ellipsis");
    assert_eq!(bounded("short"), "short");
}

#[test]
fn the_sweep_drops_old_settled_deliveries_and_keeps_pending_or_recent_ones() {
    let s = subject(10, 86_400);
    let now = 10 * DAY_MS;
    let old = now - 2 * DAY_MS;
    // seq 0: settled two days ago (uid 1) and still owed (uid 2).
    record_one(&s.history, 1, Seq(0), failed(old, old));
    record_one(&s.history, 1, Seq(0), failed(old + 5, old));
    record_one(&s.history, 2, Seq(0), failed(old, old));
    let mut routed = Routed::default();
    routed.owe(2, Seq(0), &PendingDelivery::new(old));
    s.pending.record_routed(routed, Seq(1)).unwrap();
    // seq 1: an old event whose last attempt (a redrive) was recent.
    record_one(&s.history, 1, Seq(1), failed(old, old));
    record_one(&s.history, 1, Seq(1), failed(now - 1000, old));
    // seq 2: ingested within the retention; the sweep stops there.
    record_one(&s.history, 1, Seq(2), failed(now - 1000, now - 2000));

    assert_eq!(s.history.sweep(&s.pending, now).unwrap(), 2);
    let seq0 = s.history.of_event(Seq(0)).unwrap();
    assert!(!seq0.contains_key(&1), "settled and old: swept");
    assert_eq!(seq0[&2].len(), 1, "still owed: kept however old");
    assert_eq!(s.history.of_event(Seq(1)).unwrap()[&1].len(), 2);
    assert_eq!(s.history.of_event(Seq(2)).unwrap()[&1].len(), 1);

    // Once delivered, the owed one goes too.
    s.pending.complete(&[(2, Seq(0))]).unwrap();
    assert_eq!(s.history.sweep(&s.pending, now).unwrap(), 1);
    assert!(s.history.of_event(Seq(0)).unwrap().is_empty());
}

#[test]
fn a_delivered_attempt_is_a_small_record() {
    let record = AttemptRecord {
        at_ms: 1_767_225_600_000,
        latency_ms: Some(12),
        code: None,
        status: Some(200),
        error: None,
        ingested_ms: 1_767_225_599_990,
        dead_letter: None,
    };
    // 5 bytes of frame header, 25 of payload; plus the 20-byte key.
    assert_eq!(codec::encode(&record).len(), 30);
}
