//! Chunks: the values of the `log` tree. One chunk holds the frames of
//! consecutive events committed together, each behind its length:
//!
//! | size | field                                                    |
//! |------|----------------------------------------------------------|
//! | 4    | frame length n, u32 little-endian                        |
//! | n    | frame (`codec`: version byte, crc32, bincode of an Event; v2: (Event, ReplayMark)) |
//! | …    | the next length and frame, until the value ends           |
//!
//! The chunk's key is the sequence number of its first event; the k-th frame is
//! event `first + k`. Why chunks: sled 0.34 splits a leaf every 16 entries and
//! rewrites whole nodes when it does, so one sled entry per 1 KiB event cost more
//! CPU than all the rest of the append path (docs/performance.md). Each frame keeps
//! its own crc32, so damage is still detected and reported per event.

/// A chunk is closed once it reaches this size, below sled's blob threshold
/// (a quarter of its 512 KiB segment), so chunks stay in sled's log.
pub const MAX_CHUNK_BYTES: usize = 96 * 1024;

const LEN_BYTES: usize = 4;

/// Appends one frame to `chunk`.
pub fn push_frame(chunk: &mut Vec<u8>, frame: &[u8]) {
    let len = u32::try_from(frame.len()).expect("frames are at most a few MiB");
    chunk.extend_from_slice(&len.to_le_bytes());
    chunk.extend_from_slice(frame);
}

/// A chunk's frames in order. A length that runs past the end of the chunk yields
/// one `Err(Torn)` and ends the iteration: what follows cannot be located.
pub fn frames(chunk: &[u8]) -> Frames<'_> {
    Frames { rest: chunk }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the chunk is torn: a frame length runs past its end")]
pub struct Torn;

pub struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], Torn>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((len, after)) = self.rest.split_first_chunk::<LEN_BYTES>() else {
            self.rest = &[];
            return Some(Err(Torn));
        };
        let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
        if len > after.len() {
            self.rest = &[];
            return Some(Err(Torn));
        }
        let (frame, rest) = after.split_at(len);
        self.rest = rest;
        Some(Ok(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn frames_come_back_in_order(frames_in in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let mut chunk = Vec::new();
            for f in &frames_in {
                push_frame(&mut chunk, f);
            }
            let out: Vec<&[u8]> = frames(&chunk).map(|f| f.expect("intact")).collect();
            prop_assert_eq!(out, frames_in.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_end(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let n = frames(&bytes).count();
            prop_assert!(n <= bytes.len() / LEN_BYTES + 1);
        }
    }

    #[test]
    fn a_cut_chunk_is_torn_after_its_whole_frames() {
        let mut chunk = Vec::new();
        push_frame(&mut chunk, b"first");
        push_frame(&mut chunk, b"second");
        let cut = &chunk[..chunk.len() - 2];
        let out: Vec<_> = frames(cut).collect();
        assert_eq!(out, vec![Ok(&b"first"[..]), Err(Torn)]);
    }
}
