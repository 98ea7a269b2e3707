//! Concurrent publishers that run until the server goes away, and the check that
//! every event they got a `200` for is stored with its data.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{TestServer, envelope, http};

pub const SOURCE: &str = "com.example.load";
const VERIFIERS: usize = 8;

/// An event a publisher got `200` for.
#[derive(Clone, Debug)]
pub struct Acked {
    pub id: String,
    pub marker: String,
    pub round: usize,
}

/// What one publisher saw.
#[derive(Debug, Default)]
pub struct Published {
    pub acked: Vec<Acked>,
    /// Answers other than `200`: status and body.
    pub refused: Vec<(StatusCode, String)>,
}

/// How a publisher publishes.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// `POST /events`, one event per request.
    Gateway,
    /// `POST /` PutEvents, `entries` (1–10) per request.
    PutEvents { entries: usize },
}

/// One publisher of a load round.
#[derive(Clone, Debug)]
pub struct Publisher {
    /// `http://ADDR` of the server.
    pub base: String,
    pub via: Via,
    /// Padding per event, to reach a size.
    pub pad_bytes: usize,
    pub round: usize,
    pub id: u64,
    /// Notified on every acknowledgement, so that a test can wait for load to flow.
    pub acked: Arc<Notify>,
}

/// Publishes one request after another until a request gets no answer (the
/// server is gone or closed the connection).
pub async fn publish_until_gone(publisher: Publisher) -> Published {
    let Publisher {
        base,
        via,
        pad_bytes,
        round,
        id: publisher,
        acked: acked_signal,
    } = publisher;
    let pad = "x".repeat(pad_bytes);
    let client = http();
    let mut published = Published::default();
    let mut n = 0u64;
    loop {
        let mut marker = || {
            n += 1;
            format!("r{round}-p{publisher}-n{n}")
        };
        let (request, markers) = match via {
            Via::Gateway => {
                let marker = marker();
                let body = envelope(SOURCE, "Load", json!({ "marker": marker, "pad": pad }));
                let request = client
                    .post(format!("{base}/events"))
                    .header("content-type", "application/json")
                    .body(body.to_string());
                (request, vec![marker])
            }
            Via::PutEvents { entries } => {
                let markers: Vec<String> = (0..entries).map(|_| marker()).collect();
                let entries: Vec<Value> = markers
                    .iter()
                    .map(|m| {
                        let detail = json!({ "data": { "marker": m, "pad": pad } });
                        json!({ "Source": SOURCE, "DetailType": "Load", "Detail": detail.to_string() })
                    })
                    .collect();
                let request = client
                    .post(format!("{base}/"))
                    .header("x-amz-target", "AWSEvents.PutEvents")
                    .header("content-type", "application/x-amz-json-1.1")
                    .body(json!({ "Entries": entries }).to_string());
                (request, markers)
            }
        };
        let Ok(response) = request.send().await else {
            break;
        };
        let status = response.status();
        let Ok(reply) = response.json::<Value>().await else {
            break; // cut off while the reply was in flight: not acknowledged
        };
        if status != StatusCode::OK {
            published.refused.push((status, reply.to_string()));
            continue;
        }
        match via {
            Via::Gateway => {
                let id = reply["eventId"].as_str().expect("a 200 carries eventId");
                let marker = markers.into_iter().next().expect("one marker");
                published.acked.push(Acked {
                    id: id.to_string(),
                    marker,
                    round,
                });
                acked_signal.notify_one();
            }
            Via::PutEvents { .. } => {
                let results = reply["Entries"].as_array().expect("Entries in a 200");
                assert_eq!(
                    results.len(),
                    markers.len(),
                    "one result per entry: {reply}"
                );
                for (result, marker) in results.iter().zip(markers) {
                    match result["EventId"].as_str() {
                        Some(id) => {
                            published.acked.push(Acked {
                                id: id.to_string(),
                                marker,
                                round,
                            });
                            acked_signal.notify_one();
                        }
                        None => published.refused.push((status, result.to_string())),
                    }
                }
            }
        }
    }
    published
}

/// Looks every acknowledged event up; returns id → seq. Panics on any event that
/// is missing or does not carry what was published.
pub async fn verify(server: &TestServer, acked: &[Acked]) -> HashMap<String, u64> {
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
                    "acknowledged event {event:?} is not retrievable: {body}"
                );
                assert_eq!(
                    body["event"]["detail"]["data"]["marker"], event.marker,
                    "event {event:?} carries other data: {body}"
                );
                assert_eq!(body["event"]["source"], SOURCE);
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
