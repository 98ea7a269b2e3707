//! Pending deliveries: the only module that writes the `pending` tree.
//!
//! Invariant: the key (target uid, seq) exists exactly while event `seq` is
//! owed to target `uid`: from the routing step that matched it until it is
//! delivered (`complete`), moved to a dead-letter queue (`bury`, in one
//! transaction with the letter), or its target is removed (`purge_target`).
//! `redrive` moves a letter back, again in one transaction, so a delivery is
//! always in exactly one of the two places.
//!
//! The router's position lives in the same tree and is written in the same
//! batch as the keys of the step that reached it (`record_routed`), so after a
//! crash routing resumes exactly where the last applied batch ended and no
//! (target, seq) is recorded twice or lost. Nothing here is synced on its own:
//! the events are already durable, a lost routing batch is routed again, and a
//! lost removal means a delivery is sent again (at least once). Operator moves
//! (bury, redrive) are synced by their callers before they are answered.
//!
//! Not here: when a delivery is due or what an attempt does (delivery), what a
//! dead letter holds (dead_letter).

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use crate::codec;
use crate::dead_letter::{self, DeadLetter, transaction_error};
use crate::event::Seq;
use crate::store::{Store, StoreError, tree};

/// The router's position: the first event not yet routed. Not 16 bytes long,
/// so never taken for a delivery key.
const ROUTER_POSITION_KEY: &[u8] = b"router-position";

/// What is remembered of one owed delivery between attempts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingDelivery {
    /// Attempts made so far.
    pub attempts: u32,
    /// Retries are bounded by age from here: the event's ingestion, or the
    /// moment it was redriven.
    pub age_base_ms: i64,
    /// Not before this time (ms since the epoch); 0 for at once.
    pub due_ms: i64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl PendingDelivery {
    /// A delivery owed from `age_base_ms` on, due at once.
    pub fn new(age_base_ms: i64) -> PendingDelivery {
        PendingDelivery {
            age_base_ms,
            ..PendingDelivery::default()
        }
    }
}

fn key(uid: u64, seq: Seq) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&uid.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_key());
    key
}

/// (uid, seq) of a delivery key; `None` for the router position.
fn parse_key(key: &[u8]) -> Option<(u64, Seq)> {
    let key: &[u8; 16] = key.try_into().ok()?;
    let (uid, seq) = key.split_at(8);
    Some((
        u64::from_be_bytes(uid.try_into().ok()?),
        Seq::from_key(seq)?,
    ))
}

/// The keys of target `uid`'s deliveries from `from` on (inclusive at both
/// ends, so that the highest uid needs no key past it).
fn target_range(uid: u64, from: Seq) -> std::ops::RangeInclusive<[u8; 16]> {
    key(uid, from)..=key(uid, Seq(u64::MAX))
}

/// A damaged value is treated as a fresh delivery: delivering again is safe,
/// losing the delivery is not.
fn decode(value: &[u8], seq: Seq) -> PendingDelivery {
    codec::decode(value).unwrap_or_else(|error| {
        tracing::warn!(%seq, %error, "damaged pending delivery state; starting it afresh");
        PendingDelivery::default()
    })
}

/// The deliveries one routing step matched, written together with the
/// position the step reached.
#[derive(Default)]
pub struct Routed {
    batch: sled::Batch,
    deliveries: usize,
}

impl Routed {
    /// Event `seq` is owed to target `uid`.
    pub fn owe(&mut self, uid: u64, seq: Seq, delivery: &PendingDelivery) {
        self.batch.insert(&key(uid, seq), codec::encode(delivery));
        self.deliveries += 1;
    }

    pub fn len(&self) -> usize {
        self.deliveries
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries == 0
    }
}

/// Handle on the `pending` tree; clones share it.
#[derive(Clone)]
pub struct PendingDeliveries {
    pending: sled::Tree,
    letters: sled::Tree,
    letter_seqs: sled::Tree,
    store: std::sync::Arc<Store>,
    /// Held shared by every move between pending and the dead letters (bury,
    /// redrive), exclusively by retention while it reads what both hold, so
    /// that no delivery is in flight between the two places while it looks.
    moves: Arc<RwLock<()>>,
}

impl PendingDeliveries {
    pub fn open(store: std::sync::Arc<Store>) -> Result<PendingDeliveries, StoreError> {
        Ok(PendingDeliveries {
            pending: store.tree(tree::PENDING)?,
            letters: store.tree(tree::DEAD_LETTERS)?,
            letter_seqs: store.tree(tree::DEAD_LETTER_SEQS)?,
            store,
            moves: Arc::new(RwLock::new(())),
        })
    }

    /// Stops moves between pending and the dead letters until the guard is
    /// dropped: retention reads the lowest seq both hold under it. Never
    /// held across an await.
    pub fn hold_moves(&self) -> RwLockWriteGuard<'_, ()> {
        self.moves.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Where routing resumes: the first event not yet routed.
    pub fn position(&self) -> Result<Seq, StoreError> {
        Ok(self
            .pending
            .get(ROUTER_POSITION_KEY)?
            .and_then(|v| Seq::from_key(&v))
            .unwrap_or(Seq(0)))
    }

    /// Records what a routing step matched and the position it reached, in
    /// one atomic batch.
    pub fn record_routed(&self, mut routed: Routed, position: Seq) -> Result<(), StoreError> {
        routed.batch.insert(ROUTER_POSITION_KEY, &position.to_key());
        self.pending.apply_batch(routed.batch)?;
        Ok(())
    }

    /// Target `uid`'s delivery keys from `from` on, in log order, as (seq,
    /// stored value). The router position can fall inside one target's key
    /// range (it is shorter than a delivery key): it is never one of them.
    fn deliveries(
        &self,
        uid: u64,
        from: Seq,
    ) -> impl Iterator<Item = Result<(Seq, sled::IVec), StoreError>> + use<> {
        self.pending
            .range(target_range(uid, from))
            .filter_map(|item| match item {
                Ok((key, value)) => parse_key(&key).map(|(_, seq)| Ok((seq, value))),
                Err(e) => Some(Err(StoreError::Sled(e))),
            })
    }

    /// Up to `limit` of target `uid`'s deliveries from `from` on, in log order.
    pub fn scan(
        &self,
        uid: u64,
        from: Seq,
        limit: usize,
    ) -> Result<Vec<(Seq, PendingDelivery)>, StoreError> {
        self.deliveries(uid, from)
            .take(limit)
            .map(|item| item.map(|(seq, value)| (seq, decode(&value, seq))))
            .collect()
    }

    /// One delivery's state, if it is still owed.
    pub fn get(&self, uid: u64, seq: Seq) -> Result<Option<PendingDelivery>, StoreError> {
        Ok(self.pending.get(key(uid, seq))?.map(|v| decode(&v, seq)))
    }

    /// Stores the state of a delivery that stays owed (after a failed attempt).
    /// A delivery no longer owed (completed, buried or purged meanwhile) is
    /// not brought back.
    pub fn reschedule(
        &self,
        uid: u64,
        seq: Seq,
        delivery: &PendingDelivery,
    ) -> Result<(), StoreError> {
        let key = key(uid, seq);
        let value = codec::encode(delivery);
        self.pending
            .fetch_and_update(key, |old| old.map(|_| value.clone()))?;
        Ok(())
    }

    /// These deliveries were made: no longer owed. One write for all.
    pub fn complete(&self, delivered: &[(u64, Seq)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (uid, seq) in delivered {
            batch.remove(&key(*uid, *seq));
        }
        self.pending.apply_batch(batch)?;
        Ok(())
    }

    /// Moves delivery (`letter.target_uid`, `letter.seq`) to its dead-letter
    /// queue: the letter (its id assigned here) is stored and the delivery
    /// removed in one transaction. Returns the letter's id.
    pub fn bury(&self, mut letter: DeadLetter) -> Result<u64, StoreError> {
        letter.id = self.store.generate_id()?;
        let pending_key = key(letter.target_uid, letter.seq);
        let (letter_key, value) = dead_letter::encode(&letter);
        let seq_key = dead_letter::seq_key(letter.seq, letter.id);
        let _moving = self.moves.read().unwrap_or_else(|p| p.into_inner());
        (&self.letters, &self.pending, &self.letter_seqs)
            .transaction(|(letters, pending, seqs)| {
                letters.insert(&letter_key, value.as_slice())?;
                seqs.insert(&seq_key, &[])?;
                pending.remove(&pending_key)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| transaction_error(e, "dead-letter"))?;
        Ok(letter.id)
    }

    /// Moves letter `letter` back to its target's pending deliveries as a
    /// fresh delivery owed from `age_base_ms`, in one transaction; false if
    /// the letter was gone meanwhile. The caller syncs.
    pub fn redrive(&self, letter: &DeadLetter, age_base_ms: i64) -> Result<bool, StoreError> {
        let letter_key = dead_letter::key(letter.id);
        let pending_key = key(letter.target_uid, letter.seq);
        let value = codec::encode(&PendingDelivery::new(age_base_ms));
        let seq_key = dead_letter::seq_key(letter.seq, letter.id);
        let _moving = self.moves.read().unwrap_or_else(|p| p.into_inner());
        (&self.letters, &self.pending, &self.letter_seqs)
            .transaction(|(letters, pending, seqs)| {
                if letters.remove(&letter_key)?.is_none() {
                    return Ok(false);
                }
                seqs.remove(&seq_key)?;
                pending.insert(&pending_key, value.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(|e| transaction_error(e, "redrive"))
    }

    /// Drops every delivery owed to a removed target; returns how many.
    pub fn purge_target(&self, uid: u64) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        for item in self.deliveries(uid, Seq(0)) {
            let (seq, _) = item?;
            if self.pending.remove(key(uid, seq))?.is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every target with at least one delivery owed, with the lowest sequence
    /// number it is still owed, in uid order. One seek per target.
    pub fn owed_targets(&self) -> Result<Vec<(u64, Seq)>, StoreError> {
        let mut out = Vec::new();
        let mut uid = 0u64;
        loop {
            let Some(item) = self.pending.range(key(uid, Seq(0))..).next() else {
                return Ok(out);
            };
            let (key, _) = item?;
            let (found, seq) = match parse_key(&key) {
                Some(found) => found,
                None => {
                    // The router position sits among the 16-byte keys: step over it.
                    match self.next_after(&key)? {
                        Some(found) => found,
                        None => return Ok(out),
                    }
                }
            };
            out.push((found, seq));
            match found.checked_add(1) {
                Some(next) => uid = next,
                None => return Ok(out),
            }
        }
    }

    /// The first delivery key after `key`.
    fn next_after(&self, key: &[u8]) -> Result<Option<(u64, Seq)>, StoreError> {
        for item in self
            .pending
            .range::<&[u8], _>((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
        {
            let (key, _) = item?;
            if let Some(found) = parse_key(&key) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The lowest sequence number still owed to target `uid`.
    pub fn lowest_owed(&self, uid: u64) -> Result<Option<Seq>, StoreError> {
        self.deliveries(uid, Seq(0))
            .next()
            .transpose()
            .map(|first| first.map(|(seq, _)| seq))
    }

    /// The lowest sequence number owed to any target: log entries below it are
    /// needed by no pending delivery.
    pub fn lowest_owed_overall(&self) -> Result<Option<Seq>, StoreError> {
        Ok(self.owed_targets()?.into_iter().map(|(_, seq)| seq).min())
    }

    /// How many deliveries target `uid` is owed (walks its keys: call it off
    /// the async runtime for a large backlog).
    pub fn backlog(&self, uid: u64) -> usize {
        self.deliveries(uid, Seq(0)).count()
    }
}

#[cfg(test)]
mod tests;
