//! Dead-letter queues: deliveries that failed for good, kept with the full
//! event and why they failed, until an operator redrives or purges them.
//!
//! Letters are moved in and out by the pending owner (`pending::bury`,
//! `pending::redrive`), in one transaction with the pending delivery, so a
//! delivery is always in exactly one of the two places; this module reads,
//! deletes and counts them. Queues are named; a target without a
//! `DeadLetterConfig` uses `default`.

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::codec;
use crate::event::{Event, Seq};
use crate::store::{Store, StoreError, tree};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: u64,
    pub queue: String,
    pub event: Event,
    pub seq: Seq,
    pub rule: String,
    pub rule_arn: String,
    pub target_id: String,
    pub target_arn: String,
    /// The (rule, target) pair it failed for, to redrive it to.
    pub target_uid: u64,
    /// A short code, e.g. `HTTP_CLIENT_ERROR` (see docs/delivery.md).
    pub error_code: String,
    pub error_message: String,
    /// `MaximumRetryAttempts` or `MaximumEventAgeInSeconds` when retries ran
    /// out; `None` when the failure was not retryable.
    pub exhausted_retry_condition: Option<String>,
    pub attempts: u32,
    pub last_status: Option<u16>,
    /// The start of the last response body (at most 1 KiB, lossy UTF-8).
    pub last_response: Option<String>,
    pub age_base_ms: i64,
    pub dead_lettered_ms: i64,
}

/// Which letters to list or redrive.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub queue: Option<String>,
    pub rule: Option<String>,
    pub target: Option<String>,
}

impl Filter {
    pub fn accepts(&self, letter: &DeadLetter) -> bool {
        self.queue.as_ref().is_none_or(|q| *q == letter.queue)
            && self
                .rule
                .as_ref()
                .is_none_or(|r| *r == letter.rule || *r == letter.rule_arn)
            && self.target.as_ref().is_none_or(|t| *t == letter.target_id)
    }
}

#[derive(Clone)]
pub struct DeadLetters {
    letters: sled::Tree,
    seqs: sled::Tree,
    store: std::sync::Arc<Store>,
}

/// The `dead_letter_seqs` key of letter `id` holding record `seq`.
pub(crate) fn seq_key(seq: Seq, id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seq.to_key());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The `dead_letters` key of letter `id`.
pub(crate) fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub(crate) fn transaction_error(e: TransactionError<()>, what: &str) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(()) => StoreError::Sled(sled::Error::ReportableBug(format!(
            "{what} transaction aborted"
        ))),
    }
}

/// The key and stored value of `letter`, for the transaction that buries it.
pub(crate) fn encode(letter: &DeadLetter) -> ([u8; 8], Vec<u8>) {
    (key(letter.id), codec::encode(letter))
}

impl DeadLetters {
    pub fn open(store: std::sync::Arc<Store>) -> Result<DeadLetters, StoreError> {
        let letters = DeadLetters {
            letters: store.tree(tree::DEAD_LETTERS)?,
            seqs: store.tree(tree::DEAD_LETTER_SEQS)?,
            store,
        };
        if letters.seqs.len() != letters.letters.len() {
            letters.rebuild_seq_index()?;
        }
        Ok(letters)
    }

    fn rebuild_seq_index(&self) -> Result<(), StoreError> {
        self.seqs.clear()?;
        let mut batch = sled::Batch::default();
        for item in self.letters.iter() {
            let (_, value) = item?;
            if let Ok(letter) = codec::decode::<DeadLetter>(&value) {
                batch.insert(&seq_key(letter.seq, letter.id), &[]);
            }
        }
        self.seqs.apply_batch(batch)?;
        tracing::info!(letters = self.seqs.len(), "dead-letter seq index rebuilt");
        Ok(())
    }

    /// The lowest log record any letter holds, and that letter's queue.
    pub fn lowest_held(&self) -> Result<Option<(Seq, String)>, StoreError> {
        while let Some((key, _)) = self.seqs.first()? {
            let parsed = <[u8; 16]>::try_from(key.as_ref()).ok().and_then(|k| {
                Some((
                    Seq::from_key(&k[..8])?,
                    u64::from_be_bytes(k[8..].try_into().ok()?),
                ))
            });
            if let Some((seq, id)) = parsed
                && let Some(letter) = self.get(id)?
            {
                return Ok(Some((seq, letter.queue)));
            }
            // Its letter is gone (or the key is not ours): it holds nothing.
            self.seqs.remove(key)?;
        }
        Ok(None)
    }

    /// Removes up to `max` letters buried before `cutoff_ms` (delivery's
    /// clock) in one transaction, oldest first, stopping at the first younger
    /// one (ids grow with burial time); returns how many went. The caller
    /// holds `Store::removal_permit`. Not synced: a letter whose removal a
    /// crash loses is removed again by the next sweep.
    pub fn remove_older_than(&self, cutoff_ms: i64, max: usize) -> Result<u64, StoreError> {
        let mut old = Vec::new();
        for item in self.letters.iter().take(max) {
            let (key, value) = item?;
            let letter = codec::decode::<DeadLetter>(&value).ok();
            if letter
                .as_ref()
                .is_some_and(|l| l.dead_lettered_ms >= cutoff_ms)
            {
                break;
            }
            // A damaged letter can never be redriven: it goes too.
            old.push((key, letter.map(|l| seq_key(l.seq, l.id))));
        }
        if old.is_empty() {
            return Ok(0);
        }
        (&self.letters, &self.seqs)
            .transaction(|(letters, seqs)| {
                for (key, seq) in &old {
                    letters.remove(key)?;
                    if let Some(seq) = seq {
                        seqs.remove(seq)?;
                    }
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| transaction_error(e, "dead-letter retention"))?;
        Ok(old.len() as u64)
    }

    pub fn get(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        let Some(value) = self.letters.get(key(id))? else {
            return Ok(None);
        };
        match codec::decode(&value) {
            Ok(letter) => Ok(Some(letter)),
            Err(error) => {
                tracing::error!(id, %error, "damaged dead letter");
                Ok(None)
            }
        }
    }

    /// Up to `limit` letters accepted by `filter` with ids above `after`, in id
    /// order, and whether more may follow.
    pub fn list(
        &self,
        filter: &Filter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<DeadLetter>, bool), StoreError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::new();
        for item in self.letters.range(key(start)..) {
            let (key, value) = item?;
            let letter: DeadLetter = match codec::decode(&value) {
                Ok(l) => l,
                Err(error) => {
                    tracing::error!(key = ?key, %error, "damaged dead letter skipped");
                    continue;
                }
            };
            if !filter.accepts(&letter) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(letter);
        }
        Ok((out, false))
    }

    /// Deletes a letter; false if there was none.
    pub fn delete(&self, id: u64) -> Result<bool, StoreError> {
        let removed = (&self.letters, &self.seqs)
            .transaction(|(letters, seqs)| {
                let Some(value) = letters.remove(&key(id))? else {
                    return Ok(false);
                };
                if let Ok(letter) = codec::decode::<DeadLetter>(&value) {
                    seqs.remove(&seq_key(letter.seq, letter.id))?;
                }
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(|e| transaction_error(e, "dead-letter delete"))?;
        if removed {
            self.store.sync()?;
        }
        Ok(removed)
    }

    /// Makes operator changes durable before they are answered.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.store.sync()
    }

    /// How many letters each queue holds.
    pub fn count_by_queue(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut counts = std::collections::BTreeMap::new();
        for item in self.letters.iter() {
            let (_, value) = item?;
            if let Ok(letter) = codec::decode::<DeadLetter>(&value) {
                *counts.entry(letter.queue).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::pending::PendingDeliveries;

    fn letter(seq: u64, dead_lettered_ms: i64) -> DeadLetter {
        DeadLetter {
            id: 0,
            queue: "default".into(),
            event: crate::event::NewEvent::default()
                .into_event(crate::event::EventId::for_seq(Seq(seq))),
            seq: Seq(seq),
            rule: "r".into(),
            rule_arn: "arn".into(),
            target_id: "t".into(),
            target_arn: "https://example.com".into(),
            target_uid: 1,
            error_code: "SERVER_ERROR".into(),
            error_message: "no".into(),
            exhausted_retry_condition: None,
            attempts: 1,
            last_status: Some(500),
            last_response: None,
            age_base_ms: 0,
            dead_lettered_ms,
        }
    }

    #[test]
    fn the_seq_index_follows_deletes_retention_and_is_rebuilt_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_test(dir.path());
        let store = std::sync::Arc::new(Store::open(&config.storage).expect("store"));
        let pending = PendingDeliveries::open(store.clone()).expect("pending");
        let letters = DeadLetters::open(store.clone()).expect("letters");
        // Buried in time order 10, 20, 30 holding seqs 9, 3, 6.
        let ids: Vec<u64> = [(9, 10), (3, 20), (6, 30)]
            .into_iter()
            .map(|(seq, ms)| pending.bury(letter(seq, ms)).expect("buried"))
            .collect();
        assert_eq!(
            letters.lowest_held().expect("lowest"),
            Some((Seq(3), "default".into()))
        );
        assert!(letters.delete(ids[1]).expect("deleted"));
        assert_eq!(
            letters.lowest_held().expect("lowest").map(|l| l.0),
            Some(Seq(6))
        );

        // Retention stops at the first letter buried at or after the cutoff.
        assert_eq!(letters.remove_older_than(30, 100).expect("removed"), 1);
        assert!(letters.get(ids[0]).expect("read").is_none());
        assert_eq!(
            letters.lowest_held().expect("lowest").map(|l| l.0),
            Some(Seq(6))
        );

        // A data directory from before the index: rebuilt at open.
        store
            .tree(tree::DEAD_LETTER_SEQS)
            .expect("tree")
            .clear()
            .expect("cleared");
        let reopened = DeadLetters::open(store.clone()).expect("letters");
        assert_eq!(
            reopened.lowest_held().expect("lowest").map(|l| l.0),
            Some(Seq(6))
        );
        assert_eq!(
            reopened.remove_older_than(i64::MAX, 100).expect("removed"),
            1
        );
        assert_eq!(reopened.lowest_held().expect("lowest"), None);
    }
}
