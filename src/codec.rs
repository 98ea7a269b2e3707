//! Record framing: the one place that names bincode.
//!
//! Every value Stowage writes to sled is a frame:
//!
//! | offset | size | field                                              |
//! |--------|------|----------------------------------------------------|
//! | 0      | 1    | format version (`FORMAT_V1` = 1, `FORMAT_V2` = 2)  |
//! | 1      | 4    | crc32 (crc32fast, little-endian) of bytes 5..      |
//! | 5      | n    | payload: bincode 2 (standard config) of the record |
//!
//! The crc detects torn or damaged values so that they are reported and skipped,
//! never served as data. Swapping bincode for another encoding means bumping the
//! version byte here and nowhere else.

use serde::{Serialize, de::DeserializeOwned};

/// The frame version of every record but one kind.
pub const FORMAT_V1: u8 = 1;
/// Log records of replayed events only: the payload is `(Event, ReplayMark)`.
/// Same header and checksum as v1; the version says which record type the
/// payload holds, so a v1 log record decodes as it always did.
pub const FORMAT_V2: u8 = 2;
const HEADER_LEN: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame is {len} bytes, shorter than its {HEADER_LEN}-byte header")]
    Truncated { len: usize },
    #[error("unknown frame format version {version}")]
    UnknownVersion { version: u8 },
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("payload does not decode")]
    Decode(#[source] bincode::error::DecodeError),
    #[error("{trailing} trailing bytes after the payload")]
    TrailingBytes { trailing: usize },
}

/// Encodes `record` into a frame.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    encode_as(FORMAT_V1, record)
}

/// Encodes `record` into a frame of format `version`.
pub fn encode_as<T: Serialize>(version: u8, record: &T) -> Vec<u8> {
    let mut out = vec![version, 0, 0, 0, 0];
    bincode::serde::encode_into_std_write(record, &mut out, bincode::config::standard())
        .expect("encoding into a Vec cannot fail for plain serde records");
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Checks and decodes a v1 frame. Never panics, whatever the bytes.
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, FrameError> {
    decode_as(FORMAT_V1, frame)
}

/// The format version of a frame (its first byte), if it has one.
pub fn version_of(frame: &[u8]) -> Option<u8> {
    frame.first().copied()
}

/// Checks and decodes a frame of format `version`. Never panics.
pub fn decode_as<T: DeserializeOwned>(version: u8, frame: &[u8]) -> Result<T, FrameError> {
    if frame.len() < HEADER_LEN {
        return Err(FrameError::Truncated { len: frame.len() });
    }
    if frame[0] != version {
        return Err(FrameError::UnknownVersion { version: frame[0] });
    }
    let stored = u32::from_le_bytes([frame[1], frame[2], frame[3], frame[4]]);
    let payload = &frame[HEADER_LEN..];
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return Err(FrameError::ChecksumMismatch { stored, computed });
    }
    let config = bincode::config::standard().with_limit::<{ 16 * 1024 * 1024 }>();
    let (record, used) =
        bincode::serde::decode_from_slice(payload, config).map_err(FrameError::Decode)?;
    if used != payload.len() {
        return Err(FrameError::TrailingBytes {
            trailing: payload.len() - used,
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        a: u64,
        b: String,
        c: Vec<String>,
        d: Option<i64>,
    }

    fn sample() -> impl Strategy<Value = Sample> {
        (
            any::<u64>(),
            ".*",
            prop::collection::vec(".*", 0..4),
            any::<Option<i64>>(),
        )
            .prop_map(|(a, b, c, d)| Sample { a, b, c, d })
    }

    proptest! {
        #[test]
        fn frames_round_trip(s in sample()) {
            let frame = encode(&s);
            prop_assert_eq!(decode::<Sample>(&frame).expect("fresh frame decodes"), s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Sample>(&bytes);
        }

        #[test]
        fn any_single_bit_flip_is_detected(s in sample(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut frame = encode(&s);
            let i = pos.index(frame.len());
            frame[i] ^= 1 << bit;
            prop_assert!(decode::<Sample>(&frame).is_err());
        }
    }

    #[test]
    fn short_frame_is_truncated() {
        assert!(matches!(
            decode::<Sample>(&[1, 2]),
            Err(FrameError::Truncated { len: 2 })
        ));
    }

    #[test]
    fn unknown_version_is_reported() {
        let mut frame = encode(&7u64);
        frame[0] = 9;
        assert!(matches!(
            decode::<u64>(&frame),
            Err(FrameError::UnknownVersion { version: 9 })
        ));
    }
}
