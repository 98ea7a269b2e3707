use proptest::prelude::*;

use super::*;

type Trees = Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>)>;

fn header() -> Header {
    Header {
        format_version: FORMAT_VERSION,
        created_ms: 1_700_000_000_000,
        server_version: "0.1.0".into(),
    }
}

fn encode(trees: &Trees, id_floor: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::start(&header(), &mut out);
    for (name, records) in trees {
        encoder.tree(name, &mut out);
        for (key, value) in records {
            encoder.record(key, value, &mut out);
        }
    }
    encoder.finish(id_floor, &mut out);
    out
}

/// Decodes `bytes` pushed in pieces of `piece` bytes; the items, or the first error.
fn decode(bytes: &[u8], piece: usize) -> Result<Vec<Item>, StreamError> {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in bytes.chunks(piece.max(1)) {
        decoder.push(chunk);
        while let Some(item) = decoder.next_item()? {
            items.push(item);
        }
    }
    decoder.finish()?;
    Ok(items)
}

fn sample() -> Trees {
    vec![
        (
            b"buses".to_vec(),
            vec![(b"default".to_vec(), b"{}".to_vec())],
        ),
        (b"pending".to_vec(), vec![]),
        (
            b"log".to_vec(),
            vec![
                (1u64.to_be_bytes().to_vec(), vec![7; 300]),
                (2u64.to_be_bytes().to_vec(), vec![]),
            ],
        ),
    ]
}

#[test]
fn round_trip_in_any_piece_size() {
    let bytes = encode(&sample(), 42);
    for piece in [1, 3, 7, 64, bytes.len()] {
        let items = decode(&bytes, piece).expect("intact stream");
        assert_eq!(items[0], Item::Header(header()));
        assert_eq!(items[1], Item::Tree(b"buses".to_vec()));
        let Some(Item::Trailer(trailer)) = items.last() else {
            panic!("ends with its trailer: {items:?}");
        };
        assert_eq!(trailer.id_floor, 42);
        assert_eq!(trailer.records(), 3);
        assert_eq!(trailer.trees[&b"pending".to_vec()], TreeCount::default());
        assert_eq!(items.len(), 1 + 3 + 3 + 1);
    }
}

#[test]
fn a_stream_cut_anywhere_is_truncated() {
    let bytes = encode(&sample(), 1);
    for cut in 0..bytes.len() {
        let err = decode(&bytes[..cut], 5).expect_err("cut short");
        assert!(
            matches!(err, StreamError::Truncated { .. }),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn any_flipped_byte_is_detected() {
    let bytes = encode(&sample(), 1);
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x20;
        assert!(decode(&damaged, 16).is_err(), "flip at {at} went unnoticed");
    }
}

/// The trailer frame alone of the stream of `trees`.
fn trailer_frame(trees: &Trees, id_floor: u64) -> Vec<u8> {
    let mut encoder = Encoder::default();
    let mut scratch = Vec::new();
    for (name, records) in trees {
        encoder.tree(name, &mut scratch);
        for (key, value) in records {
            encoder.record(key, value, &mut scratch);
        }
    }
    let mut out = Vec::new();
    encoder.finish(id_floor, &mut out);
    out
}

#[test]
fn a_dropped_record_is_a_count_mismatch() {
    let full = sample();
    let mut fewer = sample();
    fewer[2].1.pop();
    // The frames of the shorter stream, then the full stream's trailer.
    let shorter = encode(&fewer, 1);
    let mut spliced = shorter[..shorter.len() - trailer_frame(&fewer, 1).len()].to_vec();
    spliced.extend_from_slice(&trailer_frame(&full, 1));
    let err = decode(&spliced, 64).expect_err("a record is missing");
    assert!(matches!(err, StreamError::CountMismatch { .. }), "{err:?}");
}

#[test]
fn bytes_after_the_trailer_are_refused() {
    let mut bytes = encode(&sample(), 1);
    bytes.push(0);
    let err = decode(&bytes, 64).expect_err("trailing byte");
    assert!(
        matches!(err, StreamError::TrailingBytes { count: 1 }),
        "{err:?}"
    );
}

#[test]
fn other_bytes_are_not_a_backup() {
    assert_eq!(
        decode(b"{\"error\":{}}", 4).expect_err("JSON"),
        StreamError::BadMagic
    );
}

#[test]
fn an_unknown_format_version_is_named() {
    let mut out = Vec::new();
    let mut h = header();
    h.format_version = 9;
    Encoder::start(&h, &mut out);
    let err = decode(&out, 64).expect_err("version 9");
    assert_eq!(err, StreamError::UnsupportedVersion { version: 9 });
}

#[test]
fn an_oversized_length_is_refused_before_buffering() {
    let mut bytes = MAGIC.to_vec();
    bytes.push(KIND_HEADER);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = decode(&bytes, 64).expect_err("too long");
    assert!(matches!(err, StreamError::TooLong { .. }), "{err:?}");
}

fn trees() -> impl Strategy<Value = Trees> {
    let record = (
        prop::collection::vec(any::<u8>(), 0..20),
        prop::collection::vec(any::<u8>(), 0..200),
    );
    prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..12),
        prop::collection::vec(record, 0..8),
        0..5,
    )
    .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #[test]
    fn encoded_trees_come_back(trees in trees(), id_floor in any::<u64>(), piece in 1usize..100) {
        let items = decode(&encode(&trees, id_floor), piece).expect("intact");
        let mut back: Trees = Vec::new();
        for item in items {
            match item {
                Item::Tree(name) => back.push((name, Vec::new())),
                Item::Record { key, value } => back.last_mut().expect("a tree").1.push((key, value)),
                Item::Trailer(t) => prop_assert_eq!(t.id_floor, id_floor),
                Item::Header(h) => prop_assert_eq!(h, header()),
            }
        }
        prop_assert_eq!(back, trees);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), piece in 1usize..64) {
        let _ = decode(&bytes, piece);
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = decode(&with_magic, piece);
    }

    #[test]
    fn damaged_streams_never_panic_and_never_pass(
        trees in trees(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut bytes = encode(&trees, 7);
        let at = at.index(bytes.len());
        bytes[at] ^= xor;
        prop_assert!(decode(&bytes, 13).is_err());
    }
}
