//! The append-only event log: appends through one group-commit writer, reads by
//! sequence number or event id.
//!
//! Owns the `log`, `idempotency` and `meta` trees. Does not decide
//! what an event is (`event`) or how it arrived (`api`).

mod check;
mod chunk;
mod idempotency;
mod removal;
mod writer;

pub use idempotency::{IdempotencyKey, RequestDigest};
pub use removal::{ChunkExtent, Removed};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::{self, FrameError};
use crate::config::IngestConfig;
use crate::event::{Event, EventId, NewEvent, ReplayMark, Seq};
use crate::metrics::LogMetrics;
use crate::store::{Store, StoreError, tree};

/// One event to append, with the publisher's idempotency key if it sent one.
#[derive(Debug)]
pub struct AppendRequest {
    pub event: NewEvent,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// The outcome of an append that was made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored at `seq` under the new id `id`.
    Stored { seq: Seq, id: EventId },
    /// The idempotency key was seen within its lifetime: nothing new was stored,
    /// and `id` is the event the first publish created.
    Duplicate { id: EventId },
    /// The idempotency key is live but was first sent with a different request
    /// (another digest): nothing was stored.
    KeyReused,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The writer is gone (shutting down) or refuses writes after a failed sync.
    #[error("the log is not accepting writes: {reason}")]
    Unavailable { reason: &'static str },
    /// The sync that covered this append failed; the event is not acknowledged.
    #[error("the log could not make the batch durable")]
    Storage(#[source] Arc<StoreError>),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("log record {seq} is damaged")]
    Corrupt {
        seq: Seq,
        #[source]
        source: FrameError,
    },
    #[error("log record {seq} cannot be located: its chunk is torn")]
    Torn {
        seq: Seq,
        #[source]
        source: chunk::Torn,
    },
    #[error("reading the log failed")]
    Sled(#[from] sled::Error),
}

/// One position of a range read: the event, or why it cannot be served.
pub type ReadItem = (Seq, Result<Event, ReadError>);

struct Pending {
    request: AppendRequest,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// A cheap handle on the log; clone it freely.
#[derive(Clone)]
pub struct Log {
    tx: mpsc::Sender<Pending>,
    log: sled::Tree,
    idempotency: sled::Tree,
    healthy: Arc<AtomicBool>,
    durable: watch::Receiver<Seq>,
    metrics: LogMetrics,
}

/// Joins the writer thread once every `Log` handle is dropped.
pub struct WriterHandle {
    thread: JoinHandle<()>,
}

impl WriterHandle {
    /// Waits for the writer to answer everything queued and exit.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("log writer thread panicked");
        }
    }
}

impl Log {
    /// Opens the log, starts its writer thread and, in the background, the check
    /// of every stored record.
    pub fn open(
        store: Arc<Store>,
        config: &IngestConfig,
        metrics: LogMetrics,
    ) -> Result<(Log, WriterHandle), StoreError> {
        let log = store.tree(tree::LOG)?;
        let idempotency = store.tree(tree::IDEMPOTENCY)?;
        let meta = store.tree(tree::META)?;
        let next_seq = writer::recover_next_seq(&log, &meta)?;
        check::spawn(log.clone(), next_seq, metrics.clone());
        let gauges = metrics.clone();

        let (tx, rx) = mpsc::channel(config.queue_depth);
        let healthy = Arc::new(AtomicBool::new(true));
        // What recovery found is as durable as it gets: route all of it.
        let (durable_tx, durable) = watch::channel(next_seq);
        let writer = writer::Writer {
            store,
            log: log.clone(),
            idempotency: idempotency.clone(),
            meta,
            next_seq,
            max_batch: config.max_batch_events,
            idempotency_ttl_ms: i64::try_from(config.idempotency_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            healthy: healthy.clone(),
            metrics,
            durable: durable_tx,
        };
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| StoreError::Sync {
                path: "log-writer thread".into(),
                source,
            })?;
        Ok((
            Log {
                tx,
                log,
                idempotency,
                healthy,
                durable,
                metrics: gauges,
            },
            WriterHandle { thread },
        ))
    }

    /// Appends one event; returns once it is durable (or failed).
    pub async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { request, reply })
            .await
            .map_err(|_| AppendError::Unavailable {
                reason: "shutting down",
            })?;
        rx.await.map_err(|_| AppendError::Unavailable {
            reason: "shutting down",
        })?
    }

    /// Appends several events, queued together so that they usually share a sync.
    pub async fn append_all(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<Appended, AppendError>> {
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            let (reply, rx) = oneshot::channel();
            match self.tx.send(Pending { request, reply }).await {
                Ok(()) => replies.push(Some(rx)),
                Err(_) => replies.push(None),
            }
        }
        let mut out = Vec::with_capacity(replies.len());
        for rx in replies {
            let gone = AppendError::Unavailable {
                reason: "shutting down",
            };
            out.push(match rx {
                Some(rx) => rx.await.unwrap_or(Err(gone)),
                None => Err(gone),
            });
        }
        out
    }

    /// False once a sync has failed: the log then refuses writes until restarted.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Forgets idempotency keys past their lifetime; returns how many.
    pub fn sweep_idempotency_keys(&self) -> Result<usize, sled::Error> {
        idempotency::sweep(&self.idempotency, crate::event::now_ms())
    }

    /// Watches the first sequence number that is not yet durable: every event
    /// below it has been synced (or was recovered at startup).
    pub fn durable(&self) -> watch::Receiver<Seq> {
        self.durable.clone()
    }

    /// Up to `max` events from `from` (inclusive) to `until` (exclusive), in
    /// order, each checked against its crc32. A damaged record is returned as
    /// its error; records past a torn point of a chunk cannot be located and are
    /// reported as one `Torn` for the first of them.
    pub fn read_range(
        &self,
        from: Seq,
        until: Seq,
        max: usize,
    ) -> Result<Vec<ReadItem>, sled::Error> {
        let mut out = Vec::new();
        if from >= until || max == 0 {
            return Ok(out);
        }
        // The chunk holding `from` starts at or before it.
        let start = match self.log.range(..=from.to_key()).next_back().transpose()? {
            Some((key, _)) => Seq::from_key(&key).unwrap_or(from),
            None => from,
        };
        for item in self.log.range(start.to_key()..until.to_key()) {
            let (key, chunk) = item?;
            let Some(first) = Seq::from_key(&key) else {
                continue;
            };
            for (i, frame) in chunk::frames(&chunk).enumerate() {
                let seq = Seq(first.0 + i as u64);
                if seq < from {
                    continue;
                }
                if seq >= until || out.len() >= max {
                    return Ok(out);
                }
                match frame {
                    Ok(frame) => out.push((
                        seq,
                        decode_event(frame).map_err(|source| ReadError::Corrupt { seq, source }),
                    )),
                    Err(source) => {
                        out.push((seq, Err(ReadError::Torn { seq, source })));
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The event stored at `seq`, checked against its crc32.
    pub fn get(&self, seq: Seq) -> Result<Option<Event>, ReadError> {
        let Some((key, chunk)) = self.log.range(..=seq.to_key()).next_back().transpose()? else {
            return Ok(None);
        };
        let Some(first) = Seq::from_key(&key) else {
            return Ok(None);
        };
        let Ok(index) = usize::try_from(seq.0 - first.0) else {
            return Ok(None);
        };
        for (i, frame) in chunk::frames(&chunk).enumerate() {
            // Past a torn point nothing can be located, the wanted frame included.
            let frame = frame.map_err(|source| ReadError::Torn { seq, source })?;
            if i == index {
                return decode_event(frame)
                    .map(Some)
                    .map_err(|source| ReadError::Corrupt { seq, source });
            }
        }
        Ok(None)
    }

    /// The event with id `id` and its position, if the log has it. The id
    /// carries the position; the record there must carry the id.
    pub fn lookup(&self, id: EventId) -> Result<Option<(Seq, Event)>, ReadError> {
        let Some(seq) = id.seq() else {
            return Ok(None);
        };
        Ok(self
            .get(seq)?
            .filter(|event| event.id == id)
            .map(|event| (seq, event)))
    }
}

/// A log record's frame: v1 `Event` for a live event, v2 `(Event, ReplayMark)`
/// for a replayed one (the mark is skipped by the v1 encoding).
fn encode_event(event: &Event) -> Vec<u8> {
    match &event.fields.replay {
        None => codec::encode(event),
        Some(mark) => codec::encode_as(codec::FORMAT_V2, &(event, mark)),
    }
}

/// Decodes a log record of either version.
fn decode_event(frame: &[u8]) -> Result<Event, FrameError> {
    if codec::version_of(frame) == Some(codec::FORMAT_V2) {
        let (mut event, mark): (Event, ReplayMark) = codec::decode_as(codec::FORMAT_V2, frame)?;
        event.fields.replay = Some(mark);
        return Ok(event);
    }
    codec::decode(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::metrics::Metrics;

    fn new_event(n: usize) -> AppendRequest {
        let event = NewEvent {
            bus: "default".into(),
            detail: format!("{{\"n\":{n}}}"),
            ..NewEvent::default()
        };
        AppendRequest {
            event,
            idempotency_key: None,
        }
    }

    fn keyed(body: &str) -> AppendRequest {
        AppendRequest {
            idempotency_key: Some(IdempotencyKey {
                key: "k".into(),
                digest: RequestDigest::of(&[body.as_bytes()]),
            }),
            event: NewEvent {
                bus: "default".into(),
                detail: body.into(),
                ..NewEvent::default()
            },
        }
    }

    fn sample(replay: Option<ReplayMark>) -> Event {
        NewEvent {
            bus: "orders".into(),
            source: "shop".into(),
            detail: r#"{"n":1}"#.into(),
            time_ms: 1_700_000_000_000,
            replay,
            ..NewEvent::default()
        }
        .into_event(EventId::for_seq(Seq(5)))
    }

    #[test]
    fn live_events_keep_the_v1_frame_and_replayed_ones_round_trip_as_v2() {
        let live = sample(None);
        let frame = encode_event(&live);
        assert_eq!(frame[0], codec::FORMAT_V1);
        // Exactly what the log wrote before replays existed.
        assert_eq!(frame, codec::encode(&live));
        assert_eq!(decode_event(&frame).expect("v1 decodes"), live);

        let mark = ReplayMark {
            name: "after-outage".into(),
            replay_id: 42,
            original: Seq(3),
            original_id: EventId::for_seq(Seq(3)),
        };
        let replayed = sample(Some(mark.clone()));
        let frame = encode_event(&replayed);
        assert_eq!(frame[0], codec::FORMAT_V2);
        let decoded = decode_event(&frame).expect("v2 decodes");
        assert_eq!(decoded.fields.replay, Some(mark));
        assert_eq!(decoded, replayed);
        assert!(
            codec::decode::<Event>(&frame).is_err(),
            "v2 is not read as v1"
        );
    }

    #[test]
    fn a_v1_record_written_before_replays_still_decodes() {
        // Fields in the v1 order, as an older build encoded them.
        #[derive(serde::Serialize)]
        struct OldEvent<'a> {
            id: EventId,
            bus: &'a str,
            source: &'a str,
            detail_type: &'a str,
            time_ms: i64,
            ingested_ms: i64,
            account: &'a str,
            region: &'a str,
            resources: Vec<String>,
            detail: &'a str,
        }
        let id = EventId::for_seq(Seq(5));
        let frame = codec::encode(&OldEvent {
            id,
            bus: "orders",
            source: "shop",
            detail_type: "",
            time_ms: 1_700_000_000_000,
            ingested_ms: 0,
            account: "",
            region: "",
            resources: vec![],
            detail: r#"{"n":1}"#,
        });
        let event = decode_event(&frame).expect("old record decodes");
        assert_eq!(event.id, id);
        assert_eq!(event.fields.detail, r#"{"n":1}"#);
        assert_eq!(event.replay_name(), None);
    }

    #[tokio::test]
    async fn a_key_reused_with_another_digest_stores_nothing_in_one_batch_or_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_test(dir.path());
        let store = Arc::new(Store::open(&config.storage).expect("store opens"));
        let (log, writer) =
            Log::open(store, &config.ingest, Metrics::new().log).expect("log opens");
        let outcomes: Vec<Appended> = log
            .append_all(vec![keyed("a"), keyed("a"), keyed("b")])
            .await
            .into_iter()
            .map(|o| o.expect("appended"))
            .collect();
        let Appended::Stored { seq, id } = outcomes[0] else {
            panic!("the first is stored: {outcomes:?}");
        };
        assert_eq!(
            outcomes[1..],
            [Appended::Duplicate { id }, Appended::KeyReused]
        );
        assert_eq!(
            log.append(keyed("b")).await.expect("appended"),
            Appended::KeyReused
        );
        assert_eq!(
            log.append(keyed("a")).await.expect("appended"),
            Appended::Duplicate { id }
        );
        assert!(
            log.get(Seq(seq.0 + 1)).expect("read").is_none(),
            "one event"
        );
        drop(log);
        writer.join();
    }

    #[tokio::test]
    async fn one_damaged_frame_in_a_chunk_spoils_only_its_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_test(dir.path());
        let store = Arc::new(Store::open(&config.storage).expect("store opens"));
        let (log, writer) =
            Log::open(store.clone(), &config.ingest, Metrics::new().log).expect("log opens");
        // Five events queued together usually share one chunk (keyed by the
        // first seq), but the writer may wake between two of them: append
        // batches until one lands whole (bounded).
        let tree = store.tree(tree::LOG).expect("log tree");
        let mut batch = None;
        for _ in 0..50 {
            let appended = log.append_all((0..5).map(new_event).collect()).await;
            let stored: Vec<(Seq, EventId)> = appended
                .into_iter()
                .map(|a| match a.expect("appended") {
                    Appended::Stored { seq, id } => (seq, id),
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            let chunk_value = tree.get(stored[0].0.to_key()).expect("read");
            if let Some(value) = chunk_value
                && chunk::frames(&value).count() == 5
            {
                batch = Some((stored, value));
                break;
            }
        }
        let (stored, chunk_value) = batch.expect("five events in one chunk within 50 batches");
        let mut damaged = chunk_value.to_vec();
        let third_frame_start = chunk::frames(&chunk_value)
            .take(2)
            .map(|f| 4 + f.expect("intact").len())
            .sum::<usize>();
        damaged[third_frame_start + 4 + 10] ^= 0x40;
        tree.insert(stored[0].0.to_key(), damaged)
            .expect("write damage");

        for (i, (seq, id)) in stored.iter().enumerate() {
            match (i, log.lookup(*id)) {
                (2, Err(ReadError::Corrupt { seq: bad, .. })) => assert_eq!(bad, *seq),
                (2, other) => panic!("damaged event served: {other:?}"),
                (_, Ok(Some((s, event)))) => {
                    assert_eq!((s, event.id), (*seq, *id));
                    assert_eq!(event.fields.detail, format!("{{\"n\":{i}}}"));
                }
                (_, other) => panic!("intact event {i} not served: {other:?}"),
            }
        }
        assert!(
            log.get(Seq(stored[4].0.0 + 1)).expect("read").is_none(),
            "past the end"
        );
        drop(log);
        writer.join();
    }
}
