//! The runner against a real log in a temp dir and an in-memory archive.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::source::memory::MemorySource;
use super::*;
use crate::config::Config;
use crate::event::{NewEvent, Seq};
use crate::log::{AppendRequest, Appended, Log, WriterHandle};
use crate::metrics::Metrics;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    log: Log,
    _writer: WriterHandle,
    source: Arc<MemorySource>,
}

/// A log with `n` live events (event time 1000 + 10·i ms, appended in reverse
/// time order so that time order and log order differ), all archived.
async fn fixture(n: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::for_test(dir.path());
    let store = Arc::new(Store::open(&config.storage).expect("store opens"));
    let (log, writer) = Log::open(store.clone(), &config.ingest, Metrics::new().log).expect("log");
    let source = Arc::new(MemorySource::new("arch", "orders"));
    let requests = (0..n)
        .rev()
        .map(|i| AppendRequest {
            event: NewEvent {
                bus: "orders".into(),
                source: "shop".into(),
                time_ms: 1000 + 10 * i as i64,
                detail: format!("{{\"n\":{i}}}"),
                ..NewEvent::default()
            },
            idempotency_key: None,
        })
        .collect();
    for (appended, i) in log.append_all(requests).await.into_iter().zip((0..n).rev()) {
        let Ok(Appended::Stored { seq, .. }) = appended else {
            panic!("stored: {appended:?}");
        };
        source.entries.lock().expect("lock").insert(Position {
            time_ms: 1000 + 10 * i as i64,
            seq,
        });
    }
    Fixture {
        _dir: dir,
        store,
        log,
        _writer: writer,
        source,
    }
}

fn replays(f: &Fixture, events_per_sec: u64, stop: CancellationToken) -> Replays {
    let config = ReplayConfig {
        events_per_sec,
        batch_events: 16,
    };
    let replays = Replays::open(
        f.store.clone(),
        f.source.clone(),
        f.log.clone(),
        config,
        Metrics::new().replay,
        stop,
    )
    .expect("replays open");
    replays.resume();
    replays
}

fn request(f: &Fixture, name: &str, from_ms: i64, to_ms: i64) -> StartRequest {
    StartRequest {
        name: name.into(),
        arn: format!("arn:replay/{name}"),
        description: None,
        archive: f.source.view.clone(),
        destination_arn: "arn:event-bus/orders".into(),
        filter_arns: vec![],
        rules: vec![],
        from_ms,
        to_ms,
    }
}

async fn wait_for(
    replays: &Replays,
    name: &str,
    done: impl Fn(ReplayState) -> bool,
) -> ReplayRecord {
    for _ in 0..500 {
        let record = replays.get(name).expect("replay exists");
        if done(record.state) {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "replay {name} did not reach the state: {:?}",
        replays.get(name)
    );
}

/// The replayed records in the log from `from` on: (original seq, time).
fn replayed(log: &Log, from: Seq, name: &str) -> Vec<(Seq, i64)> {
    log.read_range(from, Seq(u64::MAX >> 2), 100_000)
        .expect("read")
        .into_iter()
        .map(|(_, event)| event.expect("readable"))
        .filter(|event| event.replay_name() == Some(name))
        .map(|event| {
            let mark = event.fields.replay.expect("marked");
            (mark.original, event.fields.time_ms)
        })
        .collect()
}

#[tokio::test]
async fn a_window_is_replayed_once_in_event_time_order_in_bounded_batches() {
    let f = fixture(100).await;
    let stop = CancellationToken::new();
    let replays = replays(&f, 0, stop.clone());
    let start = replays
        .start(request(&f, "r1", 1200, 1490), 0)
        .expect("started");
    assert_eq!(start.state, ReplayState::Starting);
    let done = wait_for(&replays, "r1", |s| s == ReplayState::Completed).await;
    assert_eq!((done.replayed, done.total), (30, Some(30)));
    assert_eq!(done.last_replayed_ms, Some(1490));

    let got = replayed(&f.log, Seq(100), "r1");
    let times: Vec<i64> = got.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, (20..50).map(|i| 1000 + 10 * i).collect::<Vec<i64>>());
    let expected: Vec<Seq> = f
        .source
        .entries
        .lock()
        .expect("lock")
        .iter()
        .filter(|p| (1200..=1490).contains(&p.time_ms))
        .map(|p| p.seq)
        .collect();
    assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), expected);
    assert!(f.source.largest_scan.load(Ordering::SeqCst) <= super::runner::COUNT_BATCH);
    assert_eq!(f.source.holds.load(Ordering::SeqCst), 0, "hold released");
    assert!(matches!(
        replays.start(request(&f, "r1", 0, 1), 0),
        Err(ReplayError::AlreadyExists(_))
    ));
    replays.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_replay_stops_between_batches() {
    let f = fixture(200).await;
    let replays = replays(&f, 50, CancellationToken::new());
    replays
        .start(request(&f, "slow", 0, 10_000), 0)
        .expect("started");
    wait_for(&replays, "slow", |s| s == ReplayState::Running).await;
    let cancelling = replays.cancel("slow").expect("cancellable");
    assert_eq!(cancelling.state, ReplayState::Cancelling);
    let done = wait_for(&replays, "slow", |s| s == ReplayState::Cancelled).await;
    assert!(done.replayed < 200, "stopped early: {}", done.replayed);
    assert!(done.ended_ms.is_some());
    assert!(matches!(
        replays.cancel("slow"),
        Err(ReplayError::NotCancellable {
            state: ReplayState::Cancelled,
            ..
        })
    ));
    assert!(matches!(
        replays.cancel("nope"),
        Err(ReplayError::NotFound(_))
    ));
    replays.shutdown().await;
}

#[tokio::test]
async fn a_stopped_replay_resumes_from_its_cursor_and_finishes() {
    let f = fixture(120).await;
    let stop = CancellationToken::new();
    let first = replays(&f, 200, stop.clone());
    first
        .start(request(&f, "resumed", 0, 10_000), 0)
        .expect("started");
    for _ in 0..200 {
        if first.get("resumed").expect("exists").replayed >= 32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.shutdown().await;
    let paused = first.get("resumed").expect("exists");
    assert_eq!(paused.state, ReplayState::Running);
    assert!(paused.replayed < 120, "stopped midway: {}", paused.replayed);
    drop(first);

    let second = replays(&f, 0, CancellationToken::new());
    let done = wait_for(&second, "resumed", |s| s == ReplayState::Completed).await;
    let got = replayed(&f.log, Seq(120), "resumed");
    let mut originals: Vec<Seq> = got.iter().map(|(s, _)| *s).collect();
    originals.sort();
    originals.dedup();
    assert_eq!(originals.len(), 120, "every event at least once");
    assert_eq!(done.replayed, got.len() as u64);
    second.shutdown().await;
}

#[tokio::test]
async fn a_replay_whose_archive_is_deleted_fails_with_the_reason() {
    let f = fixture(100).await;
    let replays = replays(&f, 100, CancellationToken::new());
    replays
        .start(request(&f, "orphan", 0, 10_000), 0)
        .expect("started");
    wait_for(&replays, "orphan", |s| s == ReplayState::Running).await;
    f.source.deleted.store(true, Ordering::SeqCst);
    let failed = wait_for(&replays, "orphan", |s| s == ReplayState::Failed).await;
    assert_eq!(
        failed.state_reason.as_deref(),
        Some("Archive arch was deleted during the replay.")
    );
    assert!(failed.replayed < 100);
    replays.shutdown().await;
}
