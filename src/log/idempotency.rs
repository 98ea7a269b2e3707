//! What the `idempotency` tree remembers of a publisher's key: the event it
//! created, until when, and a digest of the request that created it, so that a
//! key reused for a different request is told apart from a retry.
//!
//! The writer (`writer.rs`) is the only one to insert entries; the sweep here only
//! removes expired ones. This file does not decide what a request's digest covers:
//! the API that parses the request does.
//!
//! Entry payloads (inside a `codec` frame), by the release that wrote them:
//!
//! | shape | fields (bincode, in order)                     |
//! |-------|------------------------------------------------|
//! | v0    | event id, expires at ms                        |
//! | v1    | event id, expires at ms, request digest (u128) |
//!
//! bincode is not self-describing: a v0 payload is too short for v1 and a v1
//! payload leaves trailing bytes as v0, so each decodes as exactly one shape.
//! A v0 entry has no digest; it is taken to match any request (the behaviour of
//! the release that wrote it), for at most one key lifetime after an upgrade.

use serde::{Deserialize, Serialize};

use crate::codec::{self, FrameError};
use crate::event::EventId;

/// A fingerprint of a publish request: FNV-1a, 128-bit, over length-prefixed
/// parts. Stable across restarts, releases and platforms (it is stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDigest(u128);

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

impl RequestDigest {
    /// The digest of `parts` in order; each part's length is hashed before it, so
    /// that moving bytes from one part to the next changes the digest.
    pub fn of(parts: &[&[u8]]) -> RequestDigest {
        let mut hash = FNV_OFFSET;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u128::from(b);
                hash = hash.wrapping_mul(FNV_PRIME);
            }
        };
        for part in parts {
            feed(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_le_bytes());
            feed(part);
        }
        RequestDigest(hash)
    }
}

/// A publisher's `Idempotency-Key` with the digest of the request that carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub digest: RequestDigest,
}

/// The current (v1) entry.
#[derive(Serialize, Deserialize)]
pub(super) struct Entry {
    pub id: EventId,
    pub expires_ms: i64,
    pub digest: RequestDigest,
}

/// The entry as releases before the digest wrote it.
#[derive(Deserialize)]
struct EntryV0 {
    id: EventId,
    expires_ms: i64,
}

/// A stored entry, whichever shape it was written in.
pub(super) struct Remembered {
    pub id: EventId,
    pub expires_ms: i64,
    /// `None` for a v0 entry.
    pub digest: Option<RequestDigest>,
}

impl Remembered {
    /// Whether a request with `digest` repeats the one that created this entry;
    /// an entry without a digest matches any.
    pub fn matches(&self, digest: RequestDigest) -> bool {
        self.digest.is_none_or(|d| d == digest)
    }
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a v1 entry, or else a v0 one; the v1 error is kept when neither fits.
    pub fn decode(value: &[u8]) -> Result<Remembered, FrameError> {
        match codec::decode::<Entry>(value) {
            Ok(e) => Ok(Remembered {
                id: e.id,
                expires_ms: e.expires_ms,
                digest: Some(e.digest),
            }),
            Err(error @ FrameError::Decode(_)) => match codec::decode::<EntryV0>(value) {
                Ok(e) => Ok(Remembered {
                    id: e.id,
                    expires_ms: e.expires_ms,
                    digest: None,
                }),
                Err(_) => Err(error),
            },
            Err(error) => Err(error),
        }
    }
}

/// Removes expired (and undecodable) idempotency keys; returns how many went.
pub(crate) fn sweep(idempotency: &sled::Tree, now: i64) -> Result<usize, sled::Error> {
    let mut removed = 0;
    for item in idempotency.iter() {
        let (key, value) = item?;
        let expired = Entry::decode(&value).map_or(true, |e| e.expires_ms <= now);
        // Compare-and-swap: a key the writer re-used meanwhile is kept.
        if expired
            && idempotency
                .compare_and_swap(&key, Some(&value), None::<&[u8]>)?
                .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Seq;

    #[derive(Serialize)]
    struct WrittenByV0 {
        id: EventId,
        expires_ms: i64,
    }

    fn entry(expires_ms: i64) -> Vec<u8> {
        Entry {
            id: EventId::for_seq(Seq(1)),
            expires_ms,
            digest: RequestDigest::of(&[b"x"]),
        }
        .encode()
    }

    fn tree() -> (tempfile::TempDir, sled::Tree) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new()
            .path(dir.path())
            .temporary(true)
            .open()
            .expect("sled opens");
        let tree = db.open_tree("idempotency").expect("tree");
        (dir, tree)
    }

    #[test]
    fn digest_is_fnv1a_128_and_separates_parts() {
        // The published FNV-1a 128 of the empty input is the offset basis.
        assert_eq!(RequestDigest::of(&[]), RequestDigest(FNV_OFFSET));
        assert_eq!(
            RequestDigest::of(&[b"default", b"s", b"e", b"{}"]),
            RequestDigest::of(&[b"default", b"s", b"e", b"{}"])
        );
        assert_ne!(
            RequestDigest::of(&[b"ab", b"c"]),
            RequestDigest::of(&[b"a", b"bc"])
        );
        assert_ne!(
            RequestDigest::of(&[br#"{"n":1}"#]),
            RequestDigest::of(&[br#"{"n":2}"#])
        );
    }

    #[test]
    fn entries_of_both_shapes_decode_and_a_v0_entry_matches_any_request() {
        let id = EventId::for_seq(Seq(9));
        let digest = RequestDigest::of(&[b"body"]);
        let v1 = Entry {
            id,
            expires_ms: 5,
            digest,
        }
        .encode();
        let read = Entry::decode(&v1).expect("v1 decodes");
        assert_eq!(
            (read.id, read.expires_ms, read.digest),
            (id, 5, Some(digest))
        );
        assert!(read.matches(digest));
        assert!(!read.matches(RequestDigest::of(&[b"other"])));

        let v0 = codec::encode(&WrittenByV0 { id, expires_ms: 7 });
        let read = Entry::decode(&v0).expect("v0 decodes");
        assert_eq!((read.id, read.expires_ms, read.digest), (id, 7, None));
        assert!(read.matches(RequestDigest::of(&[b"anything"])));

        assert!(Entry::decode(b"not a frame").is_err());
        assert!(Entry::decode(&codec::encode(&"a string")).is_err());
    }

    #[test]
    fn sweep_removes_expired_and_damaged_keys_only() {
        let (_dir, tree) = tree();
        tree.insert("default\0old", entry(1_000)).expect("insert");
        tree.insert("default\0edge", entry(2_000)).expect("insert");
        tree.insert("default\0live", entry(3_000)).expect("insert");
        tree.insert("default\0damaged", b"not a frame".to_vec())
            .expect("insert");

        assert_eq!(sweep(&tree, 2_000).expect("sweep"), 3);
        let left: Vec<Vec<u8>> = tree
            .iter()
            .keys()
            .map(|k| k.expect("key").to_vec())
            .collect();
        assert_eq!(left, vec![b"default\0live".to_vec()]);
    }

    #[test]
    fn a_key_reused_during_the_sweep_is_kept() {
        let (_dir, tree) = tree();
        let stale = entry(1_000);
        tree.insert("k", stale.clone()).expect("insert");
        // What the sweep does for a key it read as expired, after the writer
        // re-used the key: the compare-and-swap must fail and keep the new entry.
        let fresh = entry(9_000);
        tree.insert("k", fresh.clone()).expect("re-use");
        let swapped = tree
            .compare_and_swap("k", Some(&stale), None::<&[u8]>)
            .expect("cas");
        assert!(swapped.is_err());
        assert_eq!(
            tree.get("k").expect("read").map(|v| v.to_vec()),
            Some(fresh)
        );
        assert_eq!(sweep(&tree, 2_000).expect("sweep"), 0);
    }
}
