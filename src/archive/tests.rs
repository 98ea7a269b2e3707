//! The archives against a real sled store in a temporary directory.

use super::*;
use crate::config::Config;
use crate::event::{EventId, NewEvent};
use crate::metrics::Metrics;

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    store: Arc<Store>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_test(dir.path());
        let store = Arc::new(Store::open(&config.storage).expect("store"));
        Fixture {
            _dir: dir,
            config,
            store,
        }
    }

    fn archives(&self) -> Archives {
        Archives::open(
            self.store.clone(),
            Arns::new(&self.config.aws),
            Limits::default(),
            Metrics::new().archive,
        )
        .expect("archives")
    }
}

fn input(name: &str, bus: &str, pattern: Option<&str>, days: u32) -> ArchiveInput {
    ArchiveInput {
        name: name.into(),
        bus: bus.into(),
        description: None,
        pattern: pattern.map(String::from),
        retention_days: days,
    }
}

fn event(seq: u64, bus: &str, source: &str, time_ms: i64, ingested_ms: i64) -> Event {
    NewEvent {
        bus: bus.into(),
        source: source.into(),
        detail_type: "t".into(),
        time_ms,
        ingested_ms,
        detail: "{}".into(),
        ..NewEvent::default()
    }
    .into_event(EventId::for_seq(Seq(seq)))
}

use crate::event::Event;

/// Offers `events` (seq, event) as one routing step and writes it.
fn route(archives: &Archives, events: &[(u64, Event)]) {
    let mut offered = archives.offering();
    for (seq, event) in events {
        offered.offer(Seq(*seq), event);
    }
    archives.write(offered).expect("write");
}

fn totals(archives: &Archives, name: &str) -> (u64, u64) {
    let info = archives.describe(name).expect("describe").expect("exists");
    (info.event_count, info.size_bytes)
}

#[test]
fn archives_take_matching_events_once_even_when_offered_again() {
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("all", "orders", None, 0), Seq(0))
        .expect("create");
    archives
        .create(
            input("shop", "orders", Some(r#"{"source":["shop"]}"#), 0),
            Seq(0),
        )
        .expect("create");
    let step: Vec<_> = vec![
        (0, event(0, "orders", "shop", 30, 1)),
        (1, event(1, "orders", "crm", 10, 1)),
        (2, event(2, "default", "shop", 20, 1)),
        (3, event(3, "orders", "shop", 10, 1)),
    ];
    route(&archives, &step);
    // A crash after the archive batch but before the router's: offered again.
    route(&archives, &step);
    let size = |seq: usize| step[seq].1.to_envelope_json().len() as u64;
    assert_eq!(totals(&archives, "all"), (3, size(0) + size(1) + size(3)));
    assert_eq!(totals(&archives, "shop"), (2, size(0) + size(3)));

    // By event time, then seq; bounds inclusive; resumable after a ref.
    let all = archives
        .scan("all", i64::MIN, i64::MAX, None, 10)
        .expect("scan");
    let order: Vec<_> = all.iter().map(|r| (r.time_ms, r.seq.0)).collect();
    assert_eq!(order, vec![(10, 1), (10, 3), (30, 0)]);
    let window = archives.scan("all", 10, 10, None, 10).expect("scan");
    assert_eq!(window.len(), 2);
    let next = archives.scan("all", 10, 30, Some(all[0]), 1).expect("scan");
    assert_eq!(next, vec![all[1]]);
    assert!(
        archives
            .scan("nope", 0, 100, None, 10)
            .expect("scan")
            .is_empty()
    );
    assert_eq!(
        archives.lowest_held().expect("lowest"),
        Some((Seq(0), "all".into()))
    );

    // Everything comes back from disk.
    drop(archives);
    let reopened = fx.archives();
    assert_eq!(totals(&reopened, "all").0, 3);
    route(&reopened, &step);
    assert_eq!(totals(&reopened, "all").0, 3, "still not counted twice");
}

#[test]
fn an_archive_takes_only_events_from_its_creation_on() {
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("late", "default", None, 0), Seq(5))
        .expect("create");
    route(
        &archives,
        &[
            (4, event(4, "default", "s", 1, 1)),
            (5, event(5, "default", "s", 1, 1)),
        ],
    );
    assert_eq!(totals(&archives, "late").0, 1);
}

#[test]
fn names_are_unique_patterns_checked_and_refusals_change_nothing() {
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("a", "default", None, 0), Seq(0))
        .expect("create");
    assert!(matches!(
        archives.create(input("a", "other", None, 0), Seq(0)),
        Err(ArchiveError::AlreadyExists { .. })
    ));
    assert!(matches!(
        archives.create(input("b", "default", Some(r#"{"a":[]}"#), 0), Seq(0)),
        Err(ArchiveError::InvalidPattern(_))
    ));
    assert!(matches!(
        archives.update(
            "a",
            ArchiveUpdate {
                pattern: Some("nope".into()),
                ..ArchiveUpdate::default()
            }
        ),
        Err(ArchiveError::InvalidPattern(_))
    ));
    assert!(matches!(
        archives.update("zz", ArchiveUpdate::default()),
        Err(ArchiveError::NotFound { .. })
    ));
    assert!(matches!(
        archives.delete("zz"),
        Err(ArchiveError::NotFound { .. })
    ));
    let names: Vec<_> = archives
        .list(None, None, None)
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, vec!["a"]);
    assert_eq!(
        archives.describe("a").expect("describe").expect("a").bus,
        "default"
    );
    assert_eq!(archives.of_bus("default"), vec!["a"]);
}

#[test]
fn deleting_an_archive_removes_its_entries() {
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("gone", "default", None, 0), Seq(0))
        .expect("create");
    let events: Vec<_> = (0..2500)
        .map(|s| (s, event(s, "default", "s", 1, 1)))
        .collect();
    route(&archives, &events);
    assert_eq!(totals(&archives, "gone").0, 2500);
    archives.delete("gone").expect("delete");
    assert!(archives.describe("gone").expect("describe").is_none());
    assert_eq!(archives.lowest_held().expect("lowest"), None);
    // The entries go on a purge thread of their own.
    let index = fx.store.tree(tree::ARCHIVE_INDEX).expect("tree");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !index.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} entries left",
            index.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // A later archive of the same name starts empty.
    archives
        .create(input("gone", "default", None, 0), Seq(2500))
        .expect("create");
    assert_eq!(totals(&archives, "gone"), (0, 0));
}

#[test]
fn the_sweep_removes_expired_entries_unless_a_replay_holds_the_archive() {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("week", "default", None, 7), Seq(0))
        .expect("create");
    archives
        .create(input("forever", "default", None, 0), Seq(0))
        .expect("create");
    let now = 100 * DAY;
    let events = [
        (0, event(0, "default", "s", 5, now - 9 * DAY)),
        (1, event(1, "default", "s", 1, now - 8 * DAY)),
        (2, event(2, "default", "s", 7, now - DAY)),
    ];
    // One routing step each: retention removes whole steps' segments.
    for one in events.chunks(1) {
        route(&archives, one);
    }
    // A step of an expired and a fresh event stays whole until both expire.
    route(
        &archives,
        &[
            (3, event(3, "default", "s", 9, now - 9 * DAY)),
            (4, event(4, "default", "s", 9, now)),
        ],
    );
    let hold = archives.hold_for_replay("week");
    assert_eq!(archives.sweep(now).expect("sweep"), 0, "held by a replay");
    drop(hold);
    assert_eq!(archives.sweep(now).expect("sweep"), 2);
    let size = |e: &Event| e.to_envelope_json().len() as u64;
    let kept = size(&events[2].1) + 2 * size(&event(3, "default", "s", 9, 0));
    assert_eq!(totals(&archives, "week"), (3, kept));
    assert_eq!(totals(&archives, "forever").0, 5);
    let left = archives
        .scan("week", i64::MIN, i64::MAX, None, 10)
        .expect("scan");
    let left: Vec<_> = left.iter().map(|r| r.seq.0).collect();
    assert_eq!(left, vec![2, 3, 4]);
    assert_eq!(archives.sweep(now).expect("sweep"), 0);
    assert_eq!(archives.sweep(now + 8 * DAY).expect("sweep"), 3);
    assert_eq!(totals(&archives, "week"), (0, 0));
    assert_eq!(
        archives.lowest_held().expect("lowest"),
        Some((Seq(0), "forever".into()))
    );
}
