//! Secrets at rest: the sealing key and the sealed frame that wraps every
//! record holding a secret (connections, signing secrets) before it reaches
//! sled. What to seal is decided by the record's owner (the catalog); this
//! module only seals and opens bytes. It never logs or formats a key.
//!
//! Sealed frame (XChaCha20-Poly1305, random 192-bit nonce per write, so no
//! nonce bookkeeping is needed across restarts):
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 1    | `SEALED_V1` = 0xA5 (plain `codec` frames start 1 or 2) |
//! | 1      | 24   | nonce                                                  |
//! | 25     | n+16 | ciphertext of the inner `codec` frame, Poly1305 tag    |
//!
//! The associated data is `tree name \0 record key`: a sealed value moved to
//! another key or tree does not open.

mod key;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub use key::{GENERATED_KEY_FILE, KEY_ENV, KeyError, KeySource, load_or_create};

/// First byte of a sealed frame.
pub const SEALED_V1: u8 = 0xA5;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed record is {len} bytes, shorter than its header and tag")]
    Truncated { len: usize },
    /// Wrong key, or the bytes were changed: AEAD cannot tell which.
    #[error("sealed record does not open: wrong secrets key, or the record was altered")]
    Unopenable,
}

/// The key that seals secrets at rest. `Debug` never prints it.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

fn aad(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(tree.len() + 1 + key.len());
    aad.extend_from_slice(tree.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A fixed key for unit tests and benches that reopen their own data.
    pub fn for_test() -> SecretBox {
        SecretBox::new(&[7u8; 32])
    }

    /// Whether `value` is a sealed frame (else a plaintext record from before
    /// sealing, still readable).
    pub fn is_sealed(value: &[u8]) -> bool {
        value.first() == Some(&SEALED_V1)
    }

    /// Seals `plain` (a `codec` frame) for `key` of `tree`.
    pub fn seal(&self, tree: &str, key: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).expect("the OS random source is available");
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad(tree, key),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any in-memory length");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a sealed frame written by `seal` for the same tree and key.
    pub fn open(&self, tree: &str, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEALED_V1 {
            return Err(SealError::Truncated { len: sealed.len() });
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad(tree, key),
                },
            )
            .map_err(|_| SealError::Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_hides_the_plaintext() {
        let sb = SecretBox::for_test();
        let sealed = sb.seal("connections", b"c1", b"hunter2-password");
        assert!(SecretBox::is_sealed(&sealed));
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            sb.open("connections", b"c1", &sealed).expect("opens"),
            b"hunter2-password"
        );
    }

    #[test]
    fn sealed_value_does_not_open_elsewhere_or_with_another_key() {
        let sb = SecretBox::for_test();
        let sealed = sb.seal("connections", b"c1", b"x");
        assert!(matches!(
            sb.open("connections", b"c2", &sealed),
            Err(SealError::Unopenable)
        ));
        assert!(matches!(
            sb.open("signing", b"c1", &sealed),
            Err(SealError::Unopenable)
        ));
        let other = SecretBox::new(&[9u8; 32]);
        assert!(matches!(
            other.open("connections", b"c1", &sealed),
            Err(SealError::Unopenable)
        ));
        assert!(matches!(
            sb.open("connections", b"c1", &sealed[..10]),
            Err(SealError::Truncated { .. })
        ));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let sb = SecretBox::for_test();
        assert_ne!(sb.seal("t", b"k", b"same"), sb.seal("t", b"k", b"same"));
    }
}
