//! Keys of the `archive_index` tree. Four families, each led by a tag byte
//! and the archive's id (u64 BE), so that one archive's keys of one family are
//! one contiguous range:
//!
//! | tag | key after the tag                          | orders                   |
//! |-----|--------------------------------------------|--------------------------|
//! | 0   | id                                         | the archive's `Totals`   |
//! | 1   | id ++ event time ++ seq                    | legacy time order (read only to migrate it at open) |
//! | 2   | id ++ first seq of a segment               | `lowest_held`, the sweep |
//! | 3   | id ++ time bucket ++ first seq of a segment | `scan` (replays)        |
//!
//! A time bucket is `BUCKET_MS` of event time, named by its first ms: one
//! routing step writes one tag-3 key per archive and bucket its events fall
//! in, instead of one key per event (tag 1, before), since sled's cost is per
//! key. Event times are i64 ms stored with the sign bit flipped, so that byte
//! order is numeric order for times before 1970 too.

use crate::event::Seq;

const TOTALS: u8 = 0;
const BY_TIME: u8 = 1;
const BY_SEQ: u8 = 2;
const BY_BUCKET: u8 = 3;

/// Width of a time bucket, ms of event time. Part of the on-disk format:
/// changing it means migrating the tag-3 keys. `scan` reads a bucket's keys
/// whole, so its work per call grows with the events of one second.
pub const BUCKET_MS: i64 = 1000;

/// The first ms of the bucket holding `time_ms` (`i64::MIN` for the times
/// below the lowest whole bucket).
pub fn bucket_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(BUCKET_MS).saturating_mul(BUCKET_MS)
}

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
#[cfg(test)]
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

/// The time order of the events of one routing step (the segment starting
/// at `first`) whose time falls in the bucket starting at `bucket`.
pub fn by_bucket(id: u64, bucket: i64, first: Seq) -> Vec<u8> {
    let mut key = head(BY_BUCKET, id);
    key.extend_from_slice(&ordered_time(bucket));
    key.extend_from_slice(&first.to_key());
    key
}

/// The bucket of a bucket key.
pub fn parse_by_bucket(key: &[u8]) -> Option<i64> {
    if key.len() != 25 || key[0] != BY_BUCKET {
        return None;
    }
    Some(time_from(key[9..17].try_into().ok()?))
}

/// The bucket keys of archive `id` for the buckets from `first` to `last`.
pub fn bucket_range(id: u64, first: i64, last: i64) -> std::ops::RangeInclusive<Vec<u8>> {
    by_bucket(id, first, Seq(0))..=by_bucket(id, last, Seq(u64::MAX))
}

/// Every legacy (tag 1) time key of archive `id`.
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
        let all = bucket_range(3, i64::MIN, bucket_of(i64::MAX));
        assert!(all.contains(&by_bucket(3, bucket_of(i64::MIN), Seq(0))));
        assert!(!all.contains(&by_bucket(4, 0, Seq(0))));
        assert!(!all.contains(&by_time(3, i64::MAX, Seq(u64::MAX))));
        assert!(!time_range(3).contains(&by_bucket(3, 0, Seq(0))));
        assert!(!seq_range(3).contains(&by_bucket(3, 0, Seq(0))));
    }

    #[test]
    fn buckets_floor_times_and_their_keys_sort_by_bucket_then_first_seq() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(999), 0);
        assert_eq!(bucket_of(1000), 1000);
        assert_eq!(bucket_of(-1), -1000);
        assert_eq!(bucket_of(-1000), -1000);
        assert_eq!(bucket_of(i64::MIN), i64::MIN);
        assert!(bucket_of(i64::MIN + 1000) <= bucket_of(i64::MIN + 1001));
        assert!(bucket_of(i64::MAX) > i64::MAX - BUCKET_MS);
        let mut keys = [
            by_bucket(1, 1000, Seq(5)),
            by_bucket(1, -1000, Seq(9)),
            by_bucket(1, 1000, Seq(2)),
            by_bucket(1, 0, Seq(7)),
        ];
        keys.sort();
        let parsed: Vec<_> = keys.iter().map(|k| parse_by_bucket(k)).collect();
        assert_eq!(parsed, vec![Some(-1000), Some(0), Some(1000), Some(1000)]);
        assert!(keys[2] < keys[3], "same bucket: by first seq");
        assert_eq!(parse_by_bucket(&by_time(1, 0, Seq(0))), None);
    }
}
