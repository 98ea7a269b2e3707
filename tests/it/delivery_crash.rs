//! The delivery crash test: events flow to two targets while publishers run;
//! the real binary is `kill -9`ed mid-delivery, restarted on the same data dir,
//! and in the end every acknowledged event has reached both targets at least
//! once. Seeded; the seed is printed (replay with `STOWAGE_TEST_SEED`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::support::Rng;
use crate::support::load::{Acked, Publisher, SOURCE, Via, publish_until_gone};
use crate::support::routes::fast_retries;
use crate::support::sink::{Behaviour, Sink};

const FIRST_ACK_WITHIN: Duration = Duration::from_secs(30);
const ALL_DELIVERED_WITHIN: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_reaches_every_matching_target_across_kill_9() {
    let mut rng = Rng::from_env_or_clock("delivery-crash");
    let sink = Sink::start().await;
    // Slow enough that deliveries are in flight and pending when the kill comes.
    sink.set(Behaviour::Delay(Duration::from_millis(3)));
    let mut server = fast_retries().start().await;
    server
        .put_rule("load", &json!({ "source": [SOURCE] }))
        .await;
    server
        .put_targets(
            "load",
            json!([
                { "Id": "a", "Arn": sink.url("/a") },
                { "Id": "b", "Arn": sink.url("/b") },
            ]),
        )
        .await;

    let mut acked: Vec<Acked> = Vec::new();
    for round in 0..3 {
        let publishers = rng.range(6, 13);
        let kill_after = Duration::from_millis(rng.range(200, 801));
        let first_ack = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        for id in 0..publishers {
            tasks.spawn(publish_until_gone(Publisher {
                base: server.base_url(),
                via: Via::Gateway,
                pad_bytes: 200,
                round,
                id,
                acked: first_ack.clone(),
            }));
        }
        if tokio::time::timeout(FIRST_ACK_WITHIN, first_ack.notified())
            .await
            .is_err()
        {
            panic!("no publish acknowledged; logs:\n{}", server.logs());
        }
        tokio::time::sleep(kill_after).await;
        server.kill9().await;
        let mut this_round = 0;
        let drained = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = tasks.join_next().await {
                let published = done.expect("publisher task");
                this_round += published.acked.len();
                acked.extend(published.acked);
            }
        })
        .await;
        assert!(drained.is_ok(), "publishers did not stop after the kill");
        let delivered = sink.count();
        eprintln!(
            "round {round}: {publishers} publishers, kill -9 after {kill_after:?}, {this_round} acknowledged, {delivered} requests at the sink so far"
        );
        server.restart().await;
    }
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged; the test proved nothing"
    );

    let wanted: HashSet<&str> = acked.iter().map(|a| a.id.as_str()).collect();
    let deadline = Instant::now() + ALL_DELIVERED_WITHIN;
    for path in ["/a", "/b"] {
        loop {
            let received = sink.received_on(path);
            let got: HashSet<&str> = received
                .iter()
                .filter_map(|r| r.header("webhook-id"))
                .collect();
            let missing = wanted.iter().filter(|id| !got.contains(**id)).count();
            if missing == 0 {
                eprintln!(
                    "{path}: all {} acknowledged events delivered ({} requests, duplicates allowed)",
                    wanted.len(),
                    received.len()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} of {} acknowledged events never reached {path}; logs:\n{}",
                wanted.len(),
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        server.dead_letters("").await.is_empty(),
        "nothing should be dead-lettered"
    );
}
