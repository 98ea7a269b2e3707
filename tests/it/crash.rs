//! The crash test: the real binary under concurrent load is `kill -9`ed at random
//! moments, restarted on the same data dir, and every event that was
//! acknowledged must be there, with sequence numbers that never repeat and keep
//! growing across restarts. Seeded; the seed is printed (replay with
//! `STOWAGE_TEST_SEED`).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;

use crate::support::load::{Acked, Via, publish_until_gone, verify};
use crate::support::{Rng, TestServer, envelope};

const ROUNDS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_under_load_and_seqs_never_repeat() {
    let mut rng = Rng::from_env_or_clock("crash");
    let mut server = TestServer::start().await;
    let mut acked: Vec<Acked> = Vec::new();
    let mut seq_of: HashMap<String, u64> = HashMap::new();
    let mut max_seq_before: Option<u64> = None;

    for round in 0..ROUNDS {
        let publishers = rng.range(16, 33);
        let kill_after = Duration::from_millis(rng.range(100, 601));
        let mut tasks = JoinSet::new();
        for publisher in 0..publishers {
            // A quarter of the publishers use PutEvents with up to 10 entries.
            let via = if publisher % 4 == 3 {
                Via::PutEvents {
                    entries: usize::try_from(rng.range(1, 11)).expect("small"),
                }
            } else {
                Via::Gateway
            };
            tasks.spawn(publish_until_gone(server.base_url(), via, round, publisher));
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
            "round {round}: {publishers} publishers, kill -9 after {kill_after:?}, {this_round} acknowledged"
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
