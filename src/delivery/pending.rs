//! Pending deliveries: the `pending` tree, keyed by (target uid, seq).
//!
//! A key exists while its event still has to reach its target. The router
//! creates keys (in one atomic batch with its own position), a worker updates
//! the value after a failed attempt and removes the key when the event was
//! delivered or dead-lettered.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::event::Seq;

/// The router's position in the same tree, so that one batch moves both.
pub const ROUTER_POSITION_KEY: &[u8] = b"router-position";

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

pub fn key(uid: u64, seq: Seq) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&uid.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_key());
    key
}

/// (uid, seq) of a pending key; `None` for other keys (the router position).
pub fn parse_key(key: &[u8]) -> Option<(u64, Seq)> {
    let key: &[u8; 16] = key.try_into().ok()?;
    let (uid, seq) = key.split_at(8);
    Some((
        u64::from_be_bytes(uid.try_into().ok()?),
        Seq::from_key(seq)?,
    ))
}

/// The key range of one target's pending deliveries.
pub fn target_range(uid: u64) -> std::ops::Range<[u8; 16]> {
    key(uid, Seq(0))..key(uid.saturating_add(1), Seq(0))
}

pub fn encode(pending: &PendingDelivery) -> Vec<u8> {
    codec::encode(pending)
}

/// A damaged value is treated as a fresh delivery: delivering again is safe,
/// losing the delivery is not.
pub fn decode(value: &[u8], seq: Seq) -> PendingDelivery {
    codec::decode(value).unwrap_or_else(|error| {
        tracing::warn!(%seq, %error, "damaged pending delivery state; starting it afresh");
        PendingDelivery::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_target_then_seq() {
        let a = key(1, Seq(u64::MAX));
        let b = key(2, Seq(0));
        assert!(a < b);
        assert_eq!(parse_key(&a), Some((1, Seq(u64::MAX))));
        assert!(target_range(1).contains(&a) && !target_range(1).contains(&b));
        assert_eq!(parse_key(ROUTER_POSITION_KEY), None);
    }
}
