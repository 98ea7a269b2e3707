//! Standard Webhooks signatures, pure: `webhook-signature` for (id, unix
//! seconds, body) under one or more `whsec_` secrets. Sending is `attempt`'s;
//! storing secrets is the catalog's.
//!
//! The signed content is `"{id}.{timestamp}.{body}"`; each signature is
//! `v1,` + base64(HMAC-SHA256(key, content)) where the key is the base64
//! after `whsec_`. Several secrets (a rotation's grace period) give several
//! signatures, space-separated: a consumer accepts a delivery when any one
//! matches a secret it knows.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a serialised secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of key in a generated secret (the spec allows 24 to 64).
pub const GENERATED_KEY_BYTES: usize = 32;
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a signing secret starts with whsec_")]
    MissingPrefix,
    #[error("the part after whsec_ is not base64")]
    NotBase64,
    #[error("the key is {len} bytes; Standard Webhooks keys are 24 to 64 bytes")]
    Length { len: usize },
}

/// A parsed `whsec_` secret: the HMAC key. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Parses `whsec_<base64>`; the error never repeats the input.
    pub fn parse(secret: &str) -> Result<SigningKey, SecretError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SecretError::Length { len: key.len() });
        }
        Ok(SigningKey(key))
    }

    /// A key from `random` bytes (the caller's randomness: this stays pure).
    pub fn from_random(random: [u8; GENERATED_KEY_BYTES]) -> SigningKey {
        SigningKey(random.to_vec())
    }

    /// The serialised `whsec_…` form (shown once, stored sealed).
    pub fn to_secret(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of (id, timestamp, body).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` value: one signature per key, space-separated,
/// in the order given (the current secret first).
pub fn signature_header(keys: &[&SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| k.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries' test suites
    // (secret, id, timestamp, payload → signature), computed independently
    // with Python's hmac module when this test was written.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_reference_example() {
        let key = SigningKey::parse(SECRET).expect("valid");
        assert_eq!(key.sign(ID, TS, BODY.as_bytes()), EXPECTED);
    }

    #[test]
    fn rotation_gives_one_signature_per_secret() {
        let old = SigningKey::parse(SECRET).expect("valid");
        let new = SigningKey::from_random([3u8; GENERATED_KEY_BYTES]);
        let header = signature_header(&[&new, &old], ID, TS, BODY.as_bytes());
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], EXPECTED);
        assert_eq!(parts[0], new.sign(ID, TS, BODY.as_bytes()));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn secret_round_trips_and_bad_secrets_are_refused_without_echo() {
        let key = SigningKey::from_random([9u8; GENERATED_KEY_BYTES]);
        assert_eq!(
            SigningKey::parse(&key.to_secret()).expect("round trip"),
            key
        );
        assert_eq!(SigningKey::parse("abc"), Err(SecretError::MissingPrefix));
        assert_eq!(SigningKey::parse("whsec_!!!"), Err(SecretError::NotBase64));
        assert_eq!(
            SigningKey::parse("whsec_c2hvcnQ="),
            Err(SecretError::Length { len: 5 })
        );
        assert!(!format!("{key:?}").contains(&key.to_secret()[6..]));
    }

    #[test]
    fn a_changed_body_id_or_timestamp_changes_the_signature() {
        let key = SigningKey::parse(SECRET).expect("valid");
        assert_ne!(key.sign(ID, TS, b"{}"), EXPECTED);
        assert_ne!(key.sign("msg_other", TS, BODY.as_bytes()), EXPECTED);
        assert_ne!(key.sign(ID, TS + 1, BODY.as_bytes()), EXPECTED);
    }
}
