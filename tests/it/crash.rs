//! The crash test: the real binary under concurrent load is `kill -9`ed at random
//! moments, restarted on the same data dir, and every event that was
//! acknowledged must be there, with sequence numbers that never repeat and keep
//! growing across restarts. Seeded; the seed is printed (replay with
//! `STOWAGE_TEST_SEED`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::support::load::{Acked, Publisher, Via, publish_until_gone, verify};
use crate::support::{Rng, TestServer, envelope};

const FIRST_ACK_WITHIN: Duration = Duration::from_secs(30);

/// One crash test: rounds of load, each ended by `kill -9` and a restart.
struct Scenario {
    name: &'static str,
    rounds: usize,
    /// Publishers per round, drawn from this range.
    publishers: (u64, u64),
    /// Padding per event, drawn per publisher from this range.
    pad_bytes: (u64, u64),
    /// Every n-th publisher uses PutEvents with 1–10 entries (0: none).
    put_events_every: u64,
    /// Milliseconds of load (from the first acknowledgement) before the kill,
    /// drawn from this range.
    kill_after_ms: (u64, u64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_under_load_and_seqs_never_repeat() {
    run(Scenario {
        name: "crash",
        rounds: 4,
        publishers: (16, 33),
        pad_bytes: (100, 300),
        put_events_every: 4,
        kill_after_ms: (100, 601),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_large_events_survive_kill_9() {
    // Values this large go to sled's separate blob files.
    run(Scenario {
        name: "crash-large",
        rounds: 3,
        publishers: (4, 9),
        pad_bytes: (100 * 1024, 200 * 1024),
        put_events_every: 0,
        kill_after_ms: (100, 601),
    })
    .await;
}

async fn run(scenario: Scenario) {
    let mut rng = Rng::from_env_or_clock(scenario.name);
    let mut server = TestServer::start().await;
    let mut acked: Vec<Acked> = Vec::new();
    let mut seq_of: HashMap<String, u64> = HashMap::new();
    let mut max_seq_before: Option<u64> = None;

    for round in 0..scenario.rounds {
        let publishers = rng.range(scenario.publishers.0, scenario.publishers.1);
        let kill_after =
            Duration::from_millis(rng.range(scenario.kill_after_ms.0, scenario.kill_after_ms.1));
        let mut tasks = JoinSet::new();
        let first_ack = Arc::new(Notify::new());
        for id in 0..publishers {
            let every = scenario.put_events_every;
            let via = if every > 0 && id % every == every - 1 {
                Via::PutEvents {
                    entries: usize::try_from(rng.range(1, 11)).expect("small"),
                }
            } else {
                Via::Gateway
            };
            let pad_bytes = rng.range(scenario.pad_bytes.0, scenario.pad_bytes.1);
            tasks.spawn(publish_until_gone(Publisher {
                base: server.base_url(),
                via,
                pad_bytes: usize::try_from(pad_bytes).expect("fits"),
                round,
                id,
                acked: first_ack.clone(),
            }));
        }
        // The random delay counts from the first acknowledgement, so that a
        // slow start (a busy machine) still kills under load.
        if tokio::time::timeout(FIRST_ACK_WITHIN, first_ack.notified())
            .await
            .is_err()
        {
            panic!(
                "no publish acknowledged within {FIRST_ACK_WITHIN:?}; logs:\n{}",
                server.logs()
            );
        }
        tokio::time::sleep(kill_after).await;
        server.kill9().await;
        let mut this_round = 0;
        let drained = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = tasks.join_next().await {
                let published = done.expect("publisher task");
                assert!(
                    published.refused.is_empty(),
                    "refused before the kill: {:?}",
                    published.refused
                );
                this_round += published.acked.len();
                acked.extend(published.acked);
            }
        })
        .await;
        assert!(drained.is_ok(), "publishers did not stop after the kill");
        eprintln!(
            "round {round}: {publishers} publishers, kill -9 {kill_after:?} after the first ack, {this_round} acknowledged"
        );

        server.restart().await;
        let seqs = verify(&server, &acked).await;
        assert_eq!(seqs.len(), acked.len(), "ids are unique");

        // A seq belongs to one event only, and an event keeps its seq.
        let mut owner: HashMap<u64, &str> = HashMap::new();
        for (id, seq) in &seqs {
            if let Some(other) = owner.insert(*seq, id) {
                panic!("seq {seq} is shared by events {other} and {id}");
            }
            if let Some(before) = seq_of.insert(id.clone(), *seq) {
                assert_eq!(before, *seq, "event {id} moved from seq {before} to {seq}");
            }
        }
        // Events published after a restart come after every earlier one.
        if let Some(max_before) = max_seq_before {
            let min_now = acked
                .iter()
                .filter(|e| e.round == round)
                .map(|e| seqs[&e.id])
                .min();
            assert!(
                min_now.is_none_or(|min| min > max_before),
                "round {round} reused seqs: min {min_now:?} <= earlier max {max_before}"
            );
        }
        max_seq_before = seqs.values().copied().max().or(max_seq_before);
    }
    assert!(
        !acked.is_empty(),
        "no event was acknowledged in any round; the test proved nothing"
    );

    let last = server
        .publish_ok(&envelope("com.example.after", "After", json!({})))
        .await;
    let seq = server.event(&last).await.json()["seq"]
        .as_u64()
        .expect("seq");
    assert!(
        max_seq_before.is_none_or(|max| seq > max),
        "seq {seq} after restart is not above every earlier seq ({max_seq_before:?})"
    );
}
