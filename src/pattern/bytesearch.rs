//! Finding the next byte of a small set (quotes, backslashes, brackets,
//! control bytes) in event JSON, eight bytes per step: the inner loop of the
//! scanner. Plain integer arithmetic on `u64` words (SWAR), so no `unsafe` and
//! no SIMD dependency; a 256-entry table finishes the last few bytes.

/// Bytes that matter while skipping a container.
pub(crate) static STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table
};

/// Quote and backslash: what matters inside a skipped string.
pub(crate) static QUOTE_OR_BACKSLASH: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Bytes that end the fast path of a string: quote, backslash, control.
pub(crate) static STRING_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Index of the first byte at or after `from` that `table` marks, or
/// `input.len()`. Eight bytes at a time: `word_hits` flags (at least) the first
/// marked byte of a little-endian word (SWAR: no `unsafe`, no SIMD crate).
#[inline]
pub(crate) fn find_marked(
    input: &[u8],
    from: usize,
    table: &[bool; 256],
    word_hits: impl Fn(u64) -> u64,
) -> usize {
    let mut i = from;
    while let Some(chunk) = input.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let hits = word_hits(u64::from_le_bytes(word));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < input.len() && !table[input[i] as usize] {
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in the bytes equal to `byte`; a borrow can also flag bytes
/// above a true hit, never below one, so the lowest flag is exact.
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// `"`, `{`, `}`, `[` or `]` (clearing bit 5 folds `{}` onto `[]`).
#[inline]
pub(crate) fn structural_hits(word: u64) -> u64 {
    let folded = word & !(ONES * 0x20);
    bytes_equal(word, b'"') | bytes_equal(folded, b'[') | bytes_equal(folded, b']')
}

#[inline]
pub(crate) fn quote_or_backslash_hits(word: u64) -> u64 {
    bytes_equal(word, b'"') | bytes_equal(word, b'\\')
}

/// Quote, backslash, or a control byte (< 0x20).
#[inline]
pub(crate) fn string_special_hits(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote_or_backslash_hits(word) | control
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_search_agrees_with_tables() {
        let text: Vec<u8> = (0u8..=255)
            .chain(b"abc{def}\"ghij[k]l\\m\x01".iter().copied())
            .collect();
        type Search = (&'static [bool; 256], fn(u64) -> u64);
        let cases: [Search; 3] = [
            (&STRUCTURAL, structural_hits),
            (&QUOTE_OR_BACKSLASH, quote_or_backslash_hits),
            (&STRING_SPECIAL, string_special_hits),
        ];
        for (table, hits) in cases {
            for from in 0..text.len() {
                let expected = (from..text.len())
                    .find(|&i| table[text[i] as usize])
                    .unwrap_or(text.len());
                assert_eq!(
                    find_marked(&text, from, table, hits),
                    expected,
                    "from {from}"
                );
            }
        }
    }
}
