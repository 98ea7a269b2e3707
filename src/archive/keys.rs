//! Keys of the `archive_index` tree. Three families, each led by a tag byte
//! and the archive's id (u64 BE), so that one archive's keys of one family are
//! one contiguous range:
//!
//! | tag | key after the tag               | orders                     |
//! |-----|---------------------------------|----------------------------|
//! | 0   | id                              | the archive's `Totals`     |
//! | 1   | id ++ event time ++ seq         | `scan` (replays)           |
//! | 2   | id ++ first seq of a segment    | `lowest_held`, the sweep   |
//!
//! Event times are i64 ms stored with the sign bit flipped, so that byte order
//! is numeric order for times before 1970 too.

use crate::event::Seq;

const TOTALS: u8 = 0;
const BY_TIME: u8 = 1;
const BY_SEQ: u8 = 2;

/// An i64 as 8 bytes whose order is the numbers' order.
fn ordered_time(ms: i64) -> [u8; 8] {
    (u64::from_be_bytes(ms.to_be_bytes()) ^ (1 << 63)).to_be_bytes()
}

fn time_from(bytes: [u8; 8]) -> i64 {
    i64::from_be_bytes((u64::from_be_bytes(bytes) ^ (1 << 63)).to_be_bytes())
}

fn head(tag: u8, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(25);
    key.push(tag);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub fn totals(id: u64) -> Vec<u8> {
    head(TOTALS, id)
}

/// The archive id of a totals key.
pub fn totals_id(key: &[u8]) -> Option<u64> {
    match key {
        [TOTALS, id @ ..] => Some(u64::from_be_bytes(id.try_into().ok()?)),
        _ => None,
    }
}

/// Every totals key.
pub fn all_totals() -> std::ops::RangeInclusive<Vec<u8>> {
    vec![TOTALS]..=totals(u64::MAX)
}

pub fn by_time(id: u64, time_ms: i64, seq: Seq) -> Vec<u8> {
    let mut key = head(BY_TIME, id);
    key.extend_from_slice(&ordered_time(time_ms));
    key.extend_from_slice(&seq.to_key());
    key
}

/// (event time, seq) of a time key.
pub fn parse_by_time(key: &[u8]) -> Option<(i64, Seq)> {
    if key.len() != 25 || key[0] != BY_TIME {
        return None;
    }
    let time = time_from(key[9..17].try_into().ok()?);
    Some((time, Seq::from_key(&key[17..])?))
}

pub fn by_seq(id: u64, seq: Seq) -> Vec<u8> {
    let mut key = head(BY_SEQ, id);
    key.extend_from_slice(&seq.to_key());
    key
}

pub fn parse_by_seq(key: &[u8]) -> Option<Seq> {
    if key.len() != 17 || key[0] != BY_SEQ {
        return None;
    }
    Seq::from_key(&key[9..])
}

/// Every seq key of archive `id`.
pub fn seq_range(id: u64) -> std::ops::RangeInclusive<Vec<u8>> {
    by_seq(id, Seq(0))..=by_seq(id, Seq(u64::MAX))
}

/// Every time key of archive `id`.
pub fn time_range(id: u64) -> std::ops::RangeInclusive<Vec<u8>> {
    by_time(id, i64::MIN, Seq(0))..=by_time(id, i64::MAX, Seq(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_by_time_then_seq_and_parse_back() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        let mut keys: Vec<_> = times
            .iter()
            .rev()
            .flat_map(|&t| [by_time(7, t, Seq(2)), by_time(7, t, Seq(1))])
            .collect();
        keys.sort();
        let parsed: Vec<_> = keys
            .iter()
            .map(|k| parse_by_time(k).expect("a time key"))
            .collect();
        let mut expected: Vec<_> = times
            .iter()
            .flat_map(|&t| [(t, Seq(1)), (t, Seq(2))])
            .collect();
        expected.sort();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn families_and_archives_do_not_overlap() {
        let range = seq_range(3);
        assert!(range.contains(&by_seq(3, Seq(9))));
        assert!(!range.contains(&by_seq(4, Seq(0))));
        assert!(!range.contains(&by_time(3, 0, Seq(0))));
        assert!(!time_range(3).contains(&totals(3)));
        assert_eq!(totals_id(&totals(42)), Some(42));
        assert_eq!(totals_id(&by_seq(42, Seq(1))), None);
        assert_eq!(parse_by_seq(&by_seq(1, Seq(77))), Some(Seq(77)));
        assert!(all_totals().contains(&totals(u64::MAX)));
        assert!(!all_totals().contains(&by_time(0, i64::MIN, Seq(0))));
    }
}
