//! The crash test: the real binary under concurrent load is `kill -9`ed at random
//! moments, restarted on the same data dir, and every event that was
//! acknowledged must be there, with sequence numbers that never repeat and keep
//! growing across restarts. Seeded; the seed is printed (replay with
//! `STOWAGE_TEST_SEED`).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::{Rng, TestServer, envelope, http};

const ROUNDS: usize = 4;
const VERIFIERS: usize = 8;

/// An event a publisher got `200` for.
#[derive(Clone, Debug)]
struct Acked {
    id: String,
    marker: String,
    round: usize,
}

/// Publishes until the server goes away; returns what was acknowledged.
async fn publish_until_gone(url: String, round: usize, publisher: u64) -> Vec<Acked> {
    let client = http();
    let mut acked = Vec::new();
    for n in 0u64.. {
        let marker = format!("r{round}-p{publisher}-n{n}");
        let body = envelope(
            "com.example.crash",
            "Load",
            json!({ "marker": marker, "pad": "x".repeat(200) }),
        );
        let response = match client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
        {
            Ok(response) => response,
            Err(_) => break, // killed
        };
        let status = response.status();
        let Ok(reply) = response.json::<Value>().await else {
            break; // killed while the reply was in flight: not acknowledged
        };
        assert_eq!(
            status,
            StatusCode::OK,
            "publisher {publisher} got a refusal before the kill: {reply}"
        );
        let id = reply["eventId"]
            .as_str()
            .expect("a 200 carries eventId")
            .to_string();
        acked.push(Acked { id, marker, round });
    }
    acked
}

/// Looks every acknowledged event up; returns id → seq. Panics on any event that
/// is missing or does not carry what was published.
async fn verify(server: &TestServer, acked: &[Acked]) -> HashMap<String, u64> {
    let mut tasks = JoinSet::new();
    for chunk in acked.chunks(acked.len().div_ceil(VERIFIERS).max(1)) {
        let chunk = chunk.to_vec();
        let base = server.base_url();
        tasks.spawn(async move {
            let client = http();
            let mut seqs = Vec::with_capacity(chunk.len());
            for event in chunk {
                let url = format!("{base}/v1/events/{}", event.id);
                let response = client.get(&url).send().await.expect("GET the event");
                let status = response.status();
                let body: Value = response.json().await.expect("a JSON reply");
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "acknowledged event {event:?} is not retrievable after kill -9: {body}"
                );
                assert_eq!(
                    body["event"]["detail"]["data"]["marker"], event.marker,
                    "event {event:?} carries other data: {body}"
                );
                assert_eq!(body["event"]["source"], "com.example.crash");
                let seq = body["seq"].as_u64().expect("seq");
                seqs.push((event.id, seq));
            }
            seqs
        });
    }
    let mut seqs = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        seqs.extend(done.expect("verifier task"));
    }
    seqs
}

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
            tasks.spawn(publish_until_gone(server.url("/events"), round, publisher));
        }
        tokio::time::sleep(kill_after).await;
        server.kill9().await;
        let mut this_round = 0;
        let drained = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = tasks.join_next().await {
                let events = done.expect("publisher task");
                this_round += events.len();
                acked.extend(events);
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
        .publish_ok(&envelope("com.example.crash", "After", json!({})))
        .await;
    let seq = server.event(&last).await.json()["seq"]
        .as_u64()
        .expect("seq");
    assert!(
        max_seq_before.is_none_or(|max| seq > max),
        "seq {seq} after restart is not above every earlier seq ({max_seq_before:?})"
    );
}
