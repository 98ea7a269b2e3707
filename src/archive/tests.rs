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

/// Writes one routing step as the archives did before time buckets: a
/// segment, one empty legacy time key per entry, and the totals.
fn write_legacy(fx: &Fixture, archives: &Archives, name: &str, events: &[(u64, Event)]) {
    let index = fx.store.tree(tree::ARCHIVE_INDEX).expect("tree");
    let id = archives.state().archives[name].id;
    let mut totals = archives.state().totals[&id];
    let mut segment = Segment::default();
    for (seq, event) in events {
        let entry = Entry {
            time_ms: event.fields.time_ms,
            ingested_ms: event.fields.ingested_ms,
            size: event.to_envelope_json().len() as u64,
        };
        index
            .insert(keys::by_time(id, entry.time_ms, Seq(*seq)), &[])
            .expect("insert");
        segment.entries.push((Seq(*seq), entry));
        totals.event_count += 1;
        totals.size_bytes += entry.size;
        totals.next_seq = seq + 1;
    }
    let first = segment.entries[0].0;
    index
        .insert(keys::by_seq(id, first), codec::encode(&segment))
        .expect("insert");
    index
        .insert(keys::totals(id), codec::encode(&totals))
        .expect("insert");
}

fn legacy_keys(fx: &Fixture) -> usize {
    let index = fx.store.tree(tree::ARCHIVE_INDEX).expect("tree");
    index
        .iter()
        .keys()
        .filter(|k| keys::parse_by_time(k.as_ref().expect("key")).is_some())
        .count()
}

#[test]
fn an_archive_written_with_one_time_key_per_event_is_migrated_at_open_and_replays() {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let now = 100 * DAY;
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("old", "default", None, 7), Seq(0))
        .expect("create");
    // Two steps with out-of-order and equal times across buckets.
    let first = [
        (0, event(0, "default", "s", 2_500, now - 9 * DAY)),
        (1, event(1, "default", "s", -1, now - 9 * DAY)),
        (2, event(2, "default", "s", 2_500, now - 9 * DAY)),
    ];
    let second = [
        (3, event(3, "default", "s", 999, now)),
        (4, event(4, "default", "s", 1_000, now)),
    ];
    write_legacy(&fx, &archives, "old", &first);
    drop(archives);
    // Opened once between the steps: a crash midway leaves the first
    // segment migrated and the second not.
    let archives = fx.archives();
    assert_eq!(legacy_keys(&fx), 0);
    write_legacy(&fx, &archives, "old", &second);
    drop(archives);
    assert_eq!(legacy_keys(&fx), 2);
    let archives = fx.archives();
    assert_eq!(legacy_keys(&fx), 0);
    let size = |e: &Event| e.to_envelope_json().len() as u64;
    let all_size: u64 = first.iter().chain(&second).map(|(_, e)| size(e)).sum();
    assert_eq!(totals(&archives, "old"), (5, all_size));
    let order: Vec<_> = archives
        .scan("old", i64::MIN, i64::MAX, None, 10)
        .expect("scan")
        .iter()
        .map(|r| (r.time_ms, r.seq.0))
        .collect();
    assert_eq!(
        order,
        vec![(-1, 1), (999, 3), (1_000, 4), (2_500, 0), (2_500, 2)]
    );
    // New steps go on after the migrated ones; a re-offer is skipped.
    route(&archives, &[(4, event(4, "default", "s", 1_000, now))]);
    route(&archives, &[(5, event(5, "default", "s", 2_500, now))]);
    let page = archives
        .scan(
            "old",
            0,
            3_000,
            Some(ArchivedRef {
                time_ms: 2_500,
                seq: Seq(0),
            }),
            10,
        )
        .expect("scan");
    let page: Vec<_> = page.iter().map(|r| r.seq.0).collect();
    assert_eq!(page, vec![2, 5]);
    // Retention finds the migrated segment's bucket keys.
    assert_eq!(archives.sweep(now).expect("sweep"), 3);
    let left: Vec<_> = archives
        .scan("old", i64::MIN, i64::MAX, None, 10)
        .expect("scan")
        .iter()
        .map(|r| r.seq.0)
        .collect();
    assert_eq!(left, vec![3, 4, 5]);
    assert_eq!(totals(&archives, "old").0, 3);
    assert_eq!(
        archives.lowest_held().expect("lowest"),
        Some((Seq(3), "old".into()))
    );
}

#[test]
fn the_sweep_and_a_delete_leave_no_time_bucket_behind() {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let fx = Fixture::new();
    let archives = fx.archives();
    archives
        .create(input("a", "default", None, 1), Seq(0))
        .expect("create");
    let events: Vec<_> = (0..50)
        .map(|s| (s, event(s, "default", "s", (s as i64 % 7) * 700 - 2_000, 0)))
        .collect();
    for step in events.chunks(9) {
        route(&archives, step);
    }
    assert_eq!(archives.sweep(2 * DAY).expect("sweep"), 50);
    let index = fx.store.tree(tree::ARCHIVE_INDEX).expect("tree");
    let id = archives.state().archives["a"].id;
    let all = keys::bucket_range(id, i64::MIN, keys::bucket_of(i64::MAX));
    assert_eq!(index.range(all.clone()).count(), 0);
    route(&archives, &[(50, event(50, "default", "s", 5, 0))]);
    assert_eq!(index.range(all).count(), 1);
}

mod model {
    use super::*;
    use proptest::prelude::*;

    fn times() -> impl Strategy<Value = Vec<Vec<i64>>> {
        // Few distinct times across bucket boundaries and zero: many equal.
        let time = prop_oneof![
            -2_100i64..2_100,
            Just(-1_000i64),
            Just(999i64),
            Just(1_000i64),
            Just(i64::MIN),
            Just(i64::MAX),
        ];
        prop::collection::vec(prop::collection::vec(time, 0..12), 1..8)
    }

    fn window() -> impl Strategy<Value = (i64, i64, Option<(i64, u64)>, usize)> {
        (
            prop_oneof![-2_200i64..2_200, Just(i64::MIN)],
            prop_oneof![-2_200i64..2_200, Just(i64::MAX)],
            prop::option::of((-2_200i64..2_200, 0u64..60)),
            1usize..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn scan_is_the_sorted_window_strictly_after_the_cursor(
            steps in times(),
            windows in prop::collection::vec(window(), 1..8),
        ) {
            let fx = Fixture::new();
            let archives = fx.archives();
            archives.create(input("m", "default", None, 0), Seq(0)).expect("create");
            let mut model = Vec::new();
            let mut seq = 0u64;
            for step in &steps {
                let events: Vec<_> = step
                    .iter()
                    .map(|&t| {
                        seq += 1;
                        (seq, event(seq, "default", "s", t, 0))
                    })
                    .collect();
                model.extend(events.iter().map(|(s, e)| ArchivedRef { time_ms: e.fields.time_ms, seq: Seq(*s) }));
                route(&archives, &events);
            }
            model.sort();
            for (from, to, after, limit) in windows {
                let after = after.map(|(time_ms, s)| ArchivedRef { time_ms, seq: Seq(s) });
                let expected: Vec<_> = model
                    .iter()
                    .filter(|r| from <= r.time_ms && r.time_ms <= to)
                    .filter(|r| after.is_none_or(|a| **r > a))
                    .take(limit)
                    .copied()
                    .collect();
                let got = archives.scan("m", from, to, after, limit).expect("scan");
                prop_assert_eq!(&got, &expected);
                // Paging with the last ref as cursor walks the whole window.
                let mut walked = Vec::new();
                let mut cursor = after;
                loop {
                    let page = archives.scan("m", from, to, cursor, limit).expect("scan");
                    walked.extend_from_slice(&page);
                    match page.last() {
                        Some(last) if page.len() == limit => cursor = Some(*last),
                        _ => break,
                    }
                }
                let whole: Vec<_> = model
                    .iter()
                    .filter(|r| from <= r.time_ms && r.time_ms <= to)
                    .filter(|r| after.is_none_or(|a| **r > a))
                    .copied()
                    .collect();
                prop_assert_eq!(walked, whole);
            }
        }
    }
}
