//! Dead-letter queues: deliveries that failed for good, kept with the full
//! event and why they failed, until an operator redrives or purges them.
//!
//! A letter is written in the same sled transaction that removes its pending
//! delivery, so a delivery is always in exactly one of the two places. Queues
//! are named; a target without a `DeadLetterConfig` uses `default`.

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
    pending: sled::Tree,
    store: std::sync::Arc<Store>,
}

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

impl DeadLetters {
    pub fn open(store: std::sync::Arc<Store>) -> Result<DeadLetters, StoreError> {
        Ok(DeadLetters {
            letters: store.tree(tree::DEAD_LETTERS)?,
            pending: store.tree(tree::PENDING)?,
            store,
        })
    }

    /// Stores `letter` (its `id` is assigned here) and removes the pending
    /// delivery `pending_key`, atomically. Returns the id.
    pub fn bury(&self, mut letter: DeadLetter, pending_key: &[u8]) -> Result<u64, StoreError> {
        letter.id = self.store.generate_id()?;
        let value = codec::encode(&letter);
        (&self.letters, &self.pending)
            .transaction(|(letters, pending)| {
                letters.insert(&id_key(letter.id), value.as_slice())?;
                pending.remove(pending_key)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => StoreError::Sled(sled::Error::ReportableBug(
                    "dead-letter transaction aborted".into(),
                )),
            })?;
        Ok(letter.id)
    }

    pub fn get(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        let Some(value) = self.letters.get(id_key(id))? else {
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
        for item in self.letters.range(id_key(start)..) {
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
        let removed = self.letters.remove(id_key(id))?.is_some();
        if removed {
            self.store.sync()?;
        }
        Ok(removed)
    }

    /// Moves a letter back to pending under `pending_key` with `pending_value`,
    /// atomically; false if the letter was gone meanwhile.
    pub fn resurrect(
        &self,
        id: u64,
        pending_key: &[u8],
        pending_value: &[u8],
    ) -> Result<bool, StoreError> {
        let moved = (&self.letters, &self.pending)
            .transaction(|(letters, pending)| {
                if letters.remove(&id_key(id))?.is_none() {
                    return Ok(false);
                }
                pending.insert(pending_key, pending_value)?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => StoreError::Sled(sled::Error::ReportableBug(
                    "redrive transaction aborted".into(),
                )),
            })?;
        Ok(moved)
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
