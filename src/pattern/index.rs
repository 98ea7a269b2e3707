//! Lookup structures the value matchers are built from: a fast hash for short
//! keys, an index of byte-string affixes (prefixes or suffixes) probed once per
//! distinct affix length, and an index of ranges cut into elementary segments
//! (for `numeric` ranges and `cidr` blocks) probed by one binary search.
//!
//! Each answers "which targets does this value reach" in time independent of
//! how many entries it holds (up to the number of distinct affix lengths).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hash (the rustc "Fx" scheme): fast on short keys, not
/// DoS-resistant; keys come from rule authors, who are trusted with the bus.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// Ends with the MurmurHash3 finalizer. The multiplies only carry bits
    /// upwards, while hashbrown picks the bucket from the low bits and the tag
    /// from the top ones: unmixed, the low bits of a key of up to 8 bytes
    /// depend only on its first four bytes (10,000 seven-digit ids fell into
    /// 100 start buckets, and long probe chains).
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The last 1 to 7 bytes of a key as one word, without the `memcpy` a
/// variable-length copy compiles to (rustc-hash's trick): two overlapping
/// 4-byte reads, or bytes 0, n/2 and n-1. Both cover every byte, so for a given
/// length (hashed before the bytes) distinct tails give distinct words.
#[inline]
pub(crate) fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    match (
        rest.get(..4),
        n.checked_sub(4).and_then(|at| rest.get(at..)),
    ) {
        (Some(&[a, b, c, d]), Some(&[e, f, g, h])) => {
            u64::from(u32::from_le_bytes([a, b, c, d]))
                | u64::from(u32::from_le_bytes([e, f, g, h])) << 32
        }
        _ => match (rest.first(), rest.get(n / 2), rest.last()) {
            (Some(&first), Some(&middle), Some(&last)) => {
                u64::from(first) | u64::from(middle) << 8 | u64::from(last) << 16
            }
            _ => 0,
        },
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Bytes of a key kept inside the hash table's bucket.
const INLINE_KEY: usize = 22;

/// A byte-string key, stored inline when short (street names, ids, codes:
/// most values rules compare), so a probe compares it in the bucket it
/// already read instead of following a pointer to the bytes. Hashes and
/// compares as the `[u8]` it holds, so a table keyed by it is probed with a
/// plain `&[u8]`.
#[derive(Clone, Debug)]
pub(crate) enum TextKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl TextKey {
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            TextKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            TextKey::Heap(bytes) => bytes,
        }
    }
}

impl From<&[u8]> for TextKey {
    fn from(key: &[u8]) -> Self {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE_KEY => {
                let mut bytes = [0u8; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key);
                TextKey::Inline { len, bytes }
            }
            _ => TextKey::Heap(key.into()),
        }
    }
}

/// The states one indexed value leads to. Nearly always one, kept inline.
#[derive(Clone, Debug)]
pub(crate) enum Targets {
    One(u32),
    Many(Box<[u32]>),
}

impl Targets {
    /// Sorted, without repeats; `None` when `targets` is empty.
    pub(crate) fn new(mut targets: Vec<u32>) -> Option<Self> {
        targets.sort_unstable();
        targets.dedup();
        match targets[..] {
            [] => None,
            [one] => Some(Targets::One(one)),
            _ => Some(Targets::Many(targets.into())),
        }
    }

    /// Appends the targets to `out` (a single push for the usual one target).
    #[inline]
    pub(crate) fn add_to(&self, out: &mut Vec<u32>) {
        match self {
            Targets::One(one) => out.push(*one),
            Targets::Many(all) => out.extend_from_slice(all),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Targets::One(_) => 1,
            Targets::Many(all) => all.len(),
        }
    }
}

/// Equality of byte strings, comparing keys of up to 16 bytes with two
/// overlapping word reads (or fewer) instead of a `memcmp` call: a lookup
/// compares keys that short all the time, and the call was most of the cost.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word32(a, 0) == word32(b, 0) && word32(a, n - 4) == word32(b, n - 4),
        8..=16 => word64(a, 0) == word64(b, 0) && word64(a, n - 8) == word64(b, n - 8),
        _ => a == b,
    }
}

#[inline]
fn word32(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[inline]
fn word64(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(&[a, b, c, d, e, f, g, h]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => 0,
    }
}

/// The Fx hash of a byte string (its length, then its bytes).
#[inline]
fn text_hash(bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_usize(bytes.len());
    hasher.write(bytes);
    hasher.finish()
}

/// Exact byte-string keys (inline in the bucket when short) to values.
#[derive(Clone)]
pub(crate) struct TextMap<V> {
    table: hashbrown::HashTable<(TextKey, V)>,
}

impl<V> Default for TextMap<V> {
    fn default() -> Self {
        TextMap {
            table: hashbrown::HashTable::new(),
        }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for TextMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
            .finish()
    }
}

impl<V> TextMap<V> {
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        self.table
            .find(text_hash(key), |(k, _)| bytes_eq(k.as_bytes(), key))
            .map(|(_, v)| v)
    }

    pub(crate) fn entry_or_default(&mut self, key: &[u8]) -> &mut V
    where
        V: Default,
    {
        let entry = self.table.entry(
            text_hash(key),
            |(k, _)| bytes_eq(k.as_bytes(), key),
            |(k, _)| text_hash(k.as_bytes()),
        );
        &mut entry
            .or_insert_with(|| (TextKey::from(key), V::default()))
            .into_mut()
            .1
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.table.iter().map(|(k, v)| (k.as_bytes(), v))
    }

    /// The same keys with each value converted; entries `f` drops are gone.
    pub(crate) fn filter_map<U>(self, mut f: impl FnMut(V) -> Option<U>) -> TextMap<U> {
        let mut table = hashbrown::HashTable::with_capacity(self.table.len());
        for (k, v) in self.table {
            if let Some(u) = f(v) {
                let hash = text_hash(k.as_bytes());
                table.insert_unique(hash, (k, u), |(k, _): &(TextKey, U)| {
                    text_hash(k.as_bytes())
                });
            }
        }
        TextMap { table }
    }
}

/// Values keyed by byte strings that must be a prefix (or a suffix) of the
/// probed value.
#[derive(Debug)]
pub(crate) struct AffixIndex<T> {
    map: TextMap<T>,
    /// Distinct key lengths, ascending.
    lengths: Vec<usize>,
}

impl<T> Default for AffixIndex<T> {
    fn default() -> Self {
        AffixIndex {
            map: TextMap::default(),
            lengths: Vec::new(),
        }
    }
}

impl<T: Default> AffixIndex<T> {
    pub(crate) fn entry(&mut self, key: &[u8]) -> &mut T {
        if let Err(at) = self.lengths.binary_search(&key.len()) {
            self.lengths.insert(at, key.len());
        }
        self.map.entry_or_default(key)
    }
}

impl<T> AffixIndex<T> {
    /// The same affixes with each value converted; entries `f` drops are gone.
    pub(crate) fn filter_map<U>(self, f: impl FnMut(T) -> Option<U>) -> AffixIndex<U> {
        let map = self.map.filter_map(f);
        let mut lengths: Vec<usize> = map.iter().map(|(k, _)| k.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        AffixIndex { map, lengths }
    }
}

impl<T> AffixIndex<T> {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn for_each_prefix(&self, value: &[u8], mut f: impl FnMut(&T)) {
        for &len in &self.lengths {
            let Some(head) = value.get(..len) else { break };
            if let Some(t) = self.map.get(head) {
                f(t);
            }
        }
    }

    pub(crate) fn for_each_suffix(&self, value: &[u8], mut f: impl FnMut(&T)) {
        for &len in &self.lengths {
            let Some(start) = value.len().checked_sub(len) else {
                break;
            };
            if let Some(t) = self.map.get(&value[start..]) {
                f(t);
            }
        }
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = (&[u8], &T)> {
        self.map.iter()
    }
}

/// A range bound: value and whether the bound itself is inside.
pub(crate) type RangeBound<K> = Option<(K, bool)>;

/// Ranges over an ordered key, cut into the elementary segments their bounds
/// define (each bound point, and each open gap between points), with the
/// targets of every range covering each segment.
#[derive(Debug)]
pub(crate) struct RangeIndex<K> {
    pending: Vec<(RangeBound<K>, RangeBound<K>, u32)>,
    points: Vec<K>,
    /// `2 * points.len() + 1` entries: gap 0, point 0, gap 1, ..., gap n.
    segments: Vec<Vec<u32>>,
}

impl<K> Default for RangeIndex<K> {
    fn default() -> Self {
        RangeIndex {
            pending: Vec::new(),
            points: Vec::new(),
            segments: Vec::new(),
        }
    }
}

impl<K: Ord + Copy> RangeIndex<K> {
    pub(crate) fn add(&mut self, lower: RangeBound<K>, upper: RangeBound<K>, target: u32) {
        self.pending.push((lower, upper, target));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.segments.is_empty()
    }

    /// Cuts the added ranges into segments; call once after the last `add`.
    pub(crate) fn finish(&mut self) {
        let mut points: Vec<K> = self
            .pending
            .iter()
            .flat_map(|(l, u, _)| [l.map(|b| b.0), u.map(|b| b.0)])
            .flatten()
            .collect();
        points.sort_unstable();
        points.dedup();
        let mut segments = vec![Vec::new(); 2 * points.len() + 1];
        let at = |k: K| points.binary_search(&k).unwrap_or_else(|i| i);
        for (lower, upper, target) in std::mem::take(&mut self.pending) {
            let from = match lower {
                None => 0,
                Some((k, inclusive)) => 2 * at(k) + if inclusive { 1 } else { 2 },
            };
            let to = match upper {
                None => 2 * points.len(),
                Some((k, inclusive)) => 2 * at(k) + usize::from(inclusive),
            };
            for segment in segments.iter_mut().take(to + 1).skip(from) {
                segment.push(target);
            }
        }
        for segment in &mut segments {
            segment.sort_unstable();
            segment.dedup();
        }
        self.points = points;
        self.segments = segments;
    }

    pub(crate) fn lookup(&self, key: K) -> &[u32] {
        let segment = match self.points.binary_search(&key) {
            Ok(i) => 2 * i + 1,
            Err(i) => 2 * i,
        };
        self.segments.get(segment).map_or(&[], |s| &s[..])
    }

    pub(crate) fn approx_memory_bytes(&self) -> usize {
        self.points.len() * std::mem::size_of::<K>()
            + self
                .segments
                .iter()
                .map(|s| 24 + 4 * s.len())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_index_respects_inclusivity() {
        let mut index = RangeIndex::default();
        index.add(Some((10, false)), Some((20, true)), 1);
        index.add(None, Some((10, true)), 2);
        index.add(Some((15, true)), None, 3);
        index.finish();
        assert_eq!(index.lookup(5), &[2]);
        assert_eq!(index.lookup(10), &[2]);
        assert_eq!(index.lookup(11), &[1]);
        assert_eq!(index.lookup(15), &[1, 3]);
        assert_eq!(index.lookup(20), &[1, 3]);
        assert_eq!(index.lookup(21), &[3]);
    }

    #[test]
    fn tail_word_covers_every_byte() {
        let words: Vec<u64> = [
            &b"a"[..],
            b"b",
            b"ab",
            b"ba",
            b"abc",
            b"acb",
            b"abcd",
            b"abdc",
        ]
        .iter()
        .chain(&[
            &b"abcde"[..],
            b"abcdf",
            b"abcdef",
            b"abcdeg",
            b"abcdefg",
            b"bbcdefg",
        ])
        .map(|t| tail_word(t))
        .collect();
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn bytes_eq_agrees_with_slice_equality() {
        let base: Vec<u8> = (0u8..40).map(|i| b'a' + i % 26).collect();
        for n in 0..base.len() {
            let a = &base[..n];
            assert!(bytes_eq(a, a), "length {n}");
            assert!(!bytes_eq(a, &base[..n + 1]), "lengths {n} and {}", n + 1);
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!bytes_eq(a, &b), "length {n}, differing at {at}");
            }
        }
    }

    #[test]
    fn text_map_finds_inline_and_long_keys() {
        let mut map: TextMap<u32> = TextMap::default();
        let long = "k".repeat(40);
        for (i, key) in [
            "",
            "a",
            "abcdefgh",
            "abcdefghijklmnopqrstuv",
            "abcdefghijklmnopqrstuvw",
            &long,
        ]
        .iter()
        .enumerate()
        {
            *map.entry_or_default(key.as_bytes()) = u32::try_from(i).expect("small");
        }
        assert_eq!(map.get(b""), Some(&0));
        assert_eq!(map.get(b"abcdefgh"), Some(&2));
        assert_eq!(map.get(b"abcdefghijklmnopqrstuvw"), Some(&4));
        assert_eq!(map.get(long.as_bytes()), Some(&5));
        assert_eq!(map.get(b"abcdefgi"), None);
        let doubled = map.filter_map(|v| (v % 2 == 0).then_some(v * 2));
        assert_eq!(doubled.get(b"abcdefgh"), Some(&4));
        assert_eq!(doubled.get(b"a"), None);
    }

    #[test]
    fn short_keys_spread_over_the_low_bits() {
        // Seven-digit ids sharing their first four bytes: the bucket index
        // (low bits) and the tag (top 7 bits) must both still vary.
        let hashes: Vec<u64> = (0..1000)
            .map(|i| text_hash(format!("0001{i:03}").as_bytes()))
            .collect();
        let buckets: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0x3fff).collect();
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(
            buckets.len() > 900,
            "{} distinct start buckets",
            buckets.len()
        );
        assert!(tags.len() > 100, "{} distinct tags", tags.len());
    }

    #[test]
    fn affix_index_probes_each_length() {
        let mut index: AffixIndex<Vec<u32>> = AffixIndex::default();
        index.entry(b"ab").push(1);
        index.entry(b"abc").push(2);
        index.entry(b"").push(3);
        let mut seen: Vec<u32> = Vec::new();
        index.for_each_prefix(b"abcd", |t| seen.extend(t));
        assert_eq!(seen, vec![3, 1, 2]);
        seen.clear();
        index.for_each_suffix(b"xab", |t| seen.extend(t));
        assert_eq!(seen, vec![3, 1]);
    }
}
