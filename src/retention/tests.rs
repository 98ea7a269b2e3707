//! The sweep over a real store: an extra holder (as archives plug in) keeps
//! its records, and attempt history goes with the records it describes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::attempts::{AttemptHistory, AttemptRecord, Round};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::dead_letter::DeadLetters;
use crate::delivery::Clock;
use crate::event::NewEvent;
use crate::log::{AppendRequest, Appended, Log};
use crate::metrics::Metrics;
use crate::pending::{PendingDeliveries, Routed};
use crate::store::Store;

#[tokio::test]
async fn an_extra_holder_keeps_its_record_and_history_goes_with_removed_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::for_test(dir.path());
    let store = Arc::new(Store::open(&config.storage).expect("store opens"));
    let metrics = Metrics::new();
    let (log, writer) = Log::open(store.clone(), &config.ingest, metrics.log.clone()).expect("log");
    for _ in 0..200 {
        if log.check_complete() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        log.check_complete(),
        "the startup check of an empty log ends"
    );
    // Appended one at a time: one chunk each.
    for n in 0..10 {
        let appended = log
            .append(AppendRequest {
                event: NewEvent {
                    bus: "default".into(),
                    detail: format!("{{\"n\":{n}}}"),
                    ingested_ms: crate::event::now_ms(),
                    ..NewEvent::default()
                },
                idempotency_key: None,
            })
            .await
            .expect("appended");
        assert!(matches!(appended, Appended::Stored { seq, .. } if seq == Seq(n)));
    }
    let pending = PendingDeliveries::open(store.clone()).expect("pending");
    pending
        .record_routed(Routed::default(), Seq(10))
        .expect("router position");
    let history = AttemptHistory::open(&store, 10, 3600).expect("history");
    let mut round = Round::default();
    for seq in [1, 7] {
        round.add(
            7,
            Seq(seq),
            AttemptRecord::failed(0, None, "SERVER_ERROR", Some(500), "no", 0),
        );
    }
    history.record(&mut round).expect("recorded");

    let held = Arc::new(AtomicU64::new(4));
    let holder = held.clone();
    let letters = DeadLetters::open(store.clone()).expect("letters");
    let retention = Retention::new(
        store.clone(),
        log.clone(),
        Holders {
            pending,
            dead_letters: letters.clone(),
            catalog: Catalog::open(
                store.clone(),
                &config.aws,
                config.patterns.limits(),
                crate::secrets::SecretBox::for_test(),
            )
            .expect("catalog"),
            extra: vec![ExtraHolder::new("archive", move || {
                Ok(Some((
                    Seq(holder.load(Ordering::SeqCst)),
                    "all-orders".into(),
                )))
            })],
        },
        letters,
        history.clone(),
        Clock::default(),
        Duration::ZERO,
        Duration::ZERO,
        metrics.retention.clone(),
    );

    let report = retention.sweep_once().expect("sweep");
    assert_eq!(report.log.records, 4, "{report:?}");
    assert!(log.get(Seq(3)).expect("read").is_none());
    assert!(log.get(Seq(4)).expect("read").is_some());
    assert!(history.of_event(Seq(1)).expect("history").is_empty());
    assert_eq!(history.of_event(Seq(7)).expect("history").len(), 1);
    let status = retention.status().expect("status");
    let oldest = status.oldest.expect("records kept");
    assert_eq!(oldest.seq, 4);
    assert_eq!(
        oldest.kept,
        Kept::Held {
            holder: Holder::Extra {
                kind: "archive".into(),
                name: "all-orders".into()
            },
            seq: 4
        }
    );
    assert_eq!(status.records, 6);

    // Released: the router position (everything routed) is all that is left.
    held.store(u64::MAX, Ordering::SeqCst);
    let report = retention.sweep_once().expect("sweep");
    assert_eq!(report.log.records, 6, "{report:?}");
    assert!(history.of_event(Seq(7)).expect("history").is_empty());
    let status = retention.status().expect("status");
    assert!(status.oldest.is_none());
    assert_eq!((status.records, status.next_seq), (0, 10));
    assert_eq!(metrics.retention.removed_records.get(), 10);
    drop((retention, log));
    writer.join();
}
