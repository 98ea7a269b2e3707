//! The router's side: one routing step's live events offered to the archives
//! of their buses, and what the archives took written in one batch with their
//! totals.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Archives, Entry, MatcherSet, Segment, Totals, keys};
use crate::codec;
use crate::event::{Event, Seq};
use crate::store::StoreError;

/// What the archives take from one routing step.
pub struct Offered {
    set: Arc<MatcherSet>,
    taken: Vec<(u64, Seq, Entry)>,
}

impl Offered {
    /// Offers a live event (never a replayed one) to the archives of its bus.
    /// Returns its envelope JSON when it had to be rendered for that, so that
    /// the router does not render it again.
    pub fn offer(&mut self, seq: Seq, event: &Event) -> Option<String> {
        if !self.set.wants(&event.fields.bus) {
            return None;
        }
        let envelope = event.to_envelope_json();
        match self.set.matching(&event.fields.bus, envelope.as_bytes()) {
            Ok(ids) => {
                let entry = Entry {
                    time_ms: event.fields.time_ms,
                    ingested_ms: event.fields.ingested_ms,
                    size: envelope.len() as u64,
                };
                self.taken
                    .extend(ids.into_iter().map(|id| (id, seq, entry)));
            }
            Err(error) => {
                tracing::error!(%seq, %error, "stored event is not matchable; not archived")
            }
        }
        Some(envelope)
    }

    pub fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }
}

impl Archives {
    /// Starts offering one routing step's events, against the archives as
    /// they are now.
    pub fn offering(&self) -> Offered {
        Offered {
            set: self.matchers(),
            taken: Vec::new(),
        }
    }

    /// Writes what the archives took, with their totals, in one batch. An
    /// event an archive already has (offered again after a crash) and an
    /// archive deleted meanwhile are skipped.
    pub fn write(&self, offered: Offered) -> Result<(), StoreError> {
        if offered.taken.is_empty() {
            return Ok(());
        }
        let mut state = self.state();
        let mut changed: HashMap<u64, (Totals, Segment)> = HashMap::new();
        let mut batch = sled::Batch::default();
        let mut archived = 0;
        for (id, seq, entry) in offered.taken {
            let Some(current) = state.totals.get(&id) else {
                continue;
            };
            let (totals, segment) = changed
                .entry(id)
                .or_insert_with(|| (*current, Segment::default()));
            if seq.0 < totals.next_seq {
                continue;
            }
            segment.entries.push((seq, entry));
            totals.event_count += 1;
            totals.size_bytes += entry.size;
            totals.next_seq = seq.0 + 1;
            archived += 1;
        }
        if archived == 0 {
            return Ok(());
        }
        for (id, (totals, segment)) in &changed {
            if let Some((first, _)) = segment.entries.first() {
                batch.insert(keys::by_seq(*id, *first), codec::encode(segment));
                for (bucket, times) in segment.buckets() {
                    batch.insert(keys::by_bucket(*id, bucket, *first), codec::encode(&times));
                }
                batch.insert(keys::totals(*id), codec::encode(totals));
            }
        }
        self.inner.index.apply_batch(batch)?;
        self.inner.metrics.archived_events.inc_by(archived);
        for (id, (totals, segment)) in changed {
            if segment.entries.is_empty() {
                continue;
            }
            if let Some(name) = state.name_of(id) {
                self.inner.metrics.set(name, &totals);
            }
            state.totals.insert(id, totals);
        }
        Ok(())
    }
}
