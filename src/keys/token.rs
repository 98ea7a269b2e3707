//! Publisher key tokens: `stk_<id>_<secret>`, made, parsed and hashed.
//!
//! The id (16 hex digits) finds the record without a scan; the secret is 32
//! random bytes in unpadded base64url. Only the SHA-256 of the whole token is
//! stored: a token is long and random, so a fast hash cannot be brute-forced and
//! a password hash would only slow every publish. Comparison is constant-time.
//! This module does not store anything.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "stk_";
const ID_HEX: usize = 16;
const SECRET_BYTES: usize = 32;
/// Unpadded base64url length of `SECRET_BYTES`.
const SECRET_CHARS: usize = 43;

/// SHA-256 of a token.
pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError(#[source] pub getrandom::Error);

/// A fresh key id and its token. The token is shown once and never stored.
pub fn generate() -> Result<(String, String), RandomError> {
    let mut id_bytes = [0u8; 8];
    getrandom::getrandom(&mut id_bytes).map_err(RandomError)?;
    let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = for_key(&id)?;
    Ok((id, token))
}

/// A fresh token for an existing key id (a rotation).
pub fn for_key(id: &str) -> Result<String, RandomError> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut secret).map_err(RandomError)?;
    Ok(format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret)))
}

/// The key id a token names, if the token is well formed.
pub fn key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = (rest.get(..ID_HEX)?, rest.get(ID_HEX..)?);
    let secret = secret.strip_prefix('_')?;
    let id_ok = id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

/// Whether `text` is a key id as `generate` makes them.
pub fn is_key_id(text: &str) -> bool {
    text.len() == ID_HEX
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two hashes.
pub fn same(a: &TokenHash, b: &TokenHash) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_to_their_id() {
        let (id, token) = generate().expect("random");
        assert!(is_key_id(&id));
        assert_eq!(key_id(&token), Some(id.as_str()));
        let (_, other) = generate().expect("random");
        assert_ne!(token, other);
        assert!(same(&hash(&token), &hash(&token)));
        assert!(!same(&hash(&token), &hash(&other)));
        let rotated = for_key(&id).expect("random");
        assert_eq!(key_id(&rotated), Some(id.as_str()));
    }

    #[test]
    fn malformed_tokens_name_no_key() {
        for bad in [
            "",
            "stk_",
            "stk_0123456789abcdef",
            "stk_0123456789abcdef_short",
            "stk_0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "xyz_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "stk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert_eq!(key_id(bad), None, "{bad:?}");
        }
        assert_eq!(
            key_id("stk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            Some("0123456789abcdef")
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = key_id(&text);
        }
    }
}
