//! Signing secrets for delivered requests (Standard Webhooks), one per
//! subject: an API destination's name or a plain `http(s)://` target URL.
//! The catalog stores them sealed (tree `signing`) like connections; the
//! snapshot carries them parsed for delivery. A rotation keeps the previous
//! secret until its grace ends, and deliveries sign with both meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogError, State};
use crate::delivery::signing::SigningKey;
use crate::event::now_ms;

/// A subject's secrets. `Debug` never prints them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningRecord {
    /// An API destination name, or a plain `http(s)://` target URL.
    pub subject: String,
    /// The current `whsec_…` secret.
    pub current: String,
    /// The secret before the last rotation, still signing until `previous_until_ms`.
    pub previous: Option<String>,
    pub previous_until_ms: Option<i64>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

impl std::fmt::Debug for SigningRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningRecord")
            .field("subject", &self.subject)
            .field("current", &"<redacted>")
            .field("previous_until_ms", &self.previous_until_ms)
            .finish()
    }
}

/// What delivery needs: the parsed keys.
#[derive(Debug)]
pub struct SigningKeys {
    pub current: SigningKey,
    pub previous: Option<(SigningKey, i64)>,
}

impl SigningKeys {
    /// The keys to sign with at `now_ms`: the current one first, then the
    /// previous one while its grace lasts.
    pub fn active(&self, now_ms: i64) -> Vec<&SigningKey> {
        let mut keys = vec![&self.current];
        if let Some((previous, until)) = &self.previous
            && now_ms < *until
        {
            keys.push(previous);
        }
        keys
    }
}

/// Parsed keys per subject; a record whose secret no longer parses is
/// logged (by subject only) and left out, so its deliveries go unsigned
/// rather than stop.
pub(super) fn compile(
    records: &BTreeMap<String, SigningRecord>,
) -> HashMap<String, Arc<SigningKeys>> {
    let mut out = HashMap::new();
    for r in records.values() {
        let Ok(current) = SigningKey::parse(&r.current) else {
            tracing::error!(subject = %r.subject, "stored signing secret does not parse; deliveries unsigned");
            continue;
        };
        let previous = match (&r.previous, r.previous_until_ms) {
            (Some(p), Some(until)) => SigningKey::parse(p).ok().map(|k| (k, until)),
            _ => None,
        };
        out.insert(
            r.subject.clone(),
            Arc::new(SigningKeys { current, previous }),
        );
    }
    out
}

impl Catalog {
    pub fn signing(&self, subject: &str) -> Option<SigningRecord> {
        self.state().signing.get(subject).cloned()
    }

    pub fn signings(&self) -> Vec<SigningRecord> {
        self.state().signing.values().cloned().collect()
    }

    /// Sets `subject`'s secret, replacing any (and any rotation in progress).
    pub fn set_signing(
        &self,
        subject: &str,
        secret: String,
    ) -> Result<SigningRecord, CatalogError> {
        let mut state = self.state();
        let now = now_ms();
        let created_ms = state.signing.get(subject).map_or(now, |r| r.created_ms);
        let record = SigningRecord {
            subject: subject.to_owned(),
            current: secret,
            previous: None,
            previous_until_ms: None,
            created_ms,
            modified_ms: now,
        };
        self.save_signing(&mut state, record.clone())?;
        Ok(record)
    }

    /// Makes `secret` current; the old current secret keeps signing for
    /// `grace_ms`.
    pub fn rotate_signing(
        &self,
        subject: &str,
        secret: String,
        grace_ms: i64,
    ) -> Result<SigningRecord, CatalogError> {
        let mut state = self.state();
        let old =
            state
                .signing
                .get(subject)
                .cloned()
                .ok_or_else(|| CatalogError::SigningNotFound {
                    subject: subject.into(),
                })?;
        let now = now_ms();
        let record = SigningRecord {
            current: secret,
            previous: Some(old.current),
            previous_until_ms: Some(now.saturating_add(grace_ms)),
            modified_ms: now,
            ..old
        };
        self.save_signing(&mut state, record.clone())?;
        Ok(record)
    }

    /// Stops signing `subject`'s deliveries.
    pub fn clear_signing(&self, subject: &str) -> Result<SigningRecord, CatalogError> {
        let mut state = self.state();
        let record =
            state
                .signing
                .remove(subject)
                .ok_or_else(|| CatalogError::SigningNotFound {
                    subject: subject.into(),
                })?;
        self.inner.signing_tree.remove(subject.as_bytes())?;
        self.commit(&state)?;
        Ok(record)
    }

    fn save_signing(&self, state: &mut State, record: SigningRecord) -> Result<(), CatalogError> {
        let value = self.seal(super::tree::SIGNING, record.subject.as_bytes(), &record);
        self.inner
            .signing_tree
            .insert(record.subject.as_bytes(), value)?;
        state.signing.insert(record.subject.clone(), record);
        self.commit(state)
    }
}
