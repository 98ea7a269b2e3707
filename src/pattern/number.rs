//! Numbers in patterns and events: parsing a JSON number literal into the value
//! that `numeric` comparisons use, and an order-preserving integer key for it.
//!
//! EventBridge limits numeric matching to values in -5e9..=5e9; a number outside
//! that range (or one that does not fit an f64) takes part only in exact matching
//! of its literal text. Comparison is on the f64 value of the literal.

/// Largest magnitude that takes part in numeric matching (EventBridge docs, and
/// aws/event-ruler's `ComparableNumber`).
pub(crate) const NUMERIC_LIMIT: f64 = 5.0e9;

/// Parses a JSON number literal to the f64 numeric matching uses, or `None` when
/// it is not a finite number inside -5e9..=5e9.
pub(crate) fn numeric_value(literal: &str) -> Option<f64> {
    let value: f64 = literal.parse().ok()?;
    if value.is_finite() && (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&value) {
        Some(normalize_zero(value))
    } else {
        None
    }
}

/// `-0` and `0` are the same number.
fn normalize_zero(value: f64) -> f64 {
    if value == 0.0 { 0.0 } else { value }
}

/// Maps an f64 to a u64 whose unsigned order is the numeric order (NaN never
/// reaches here: JSON has no NaN and `numeric_value` filters non-finite values).
pub(crate) fn order_key(value: f64) -> u64 {
    let bits = normalize_zero(value).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The inverse of [`order_key`], for the reference matcher.
#[cfg(test)]
pub(crate) fn from_order_key(key: u64) -> f64 {
    let bits = if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    };
    f64::from_bits(bits)
}

/// True when `text` is a JSON number literal (RFC 8259 grammar).
pub(crate) fn is_json_number(text: &[u8]) -> bool {
    json_number_len(text) == Some(text.len())
}

/// The length of the JSON number literal at the start of `text`, read
/// greedily; `None` when `text` does not start with one, or when the grammar
/// breaks inside it (`1.`, `1e+`, `-`). The grammar needs one byte of
/// lookahead only, so a whole literal is always read to its end: `text` up to
/// a delimiter is a number exactly when this returns its length.
pub(crate) fn json_number_len(text: &[u8]) -> Option<usize> {
    let mut i = 0;
    let at = |i: usize| text.get(i).copied();
    if at(i) == Some(b'-') {
        i += 1;
    }
    match at(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while matches!(at(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        _ => return None,
    }
    if at(i) == Some(b'.') {
        i += 1;
        if !matches!(at(i), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(at(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    if matches!(at(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(at(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !matches!(at(i), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(at(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_key_preserves_order() {
        let values = [-5e9, -122.5, -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0, 301.8, 5e9];
        for pair in values.windows(2) {
            assert!(order_key(pair[0]) < order_key(pair[1]), "{pair:?}");
        }
        for v in values {
            assert_eq!(from_order_key(order_key(v)), v);
        }
        assert_eq!(order_key(-0.0), order_key(0.0));
    }

    #[test]
    fn numeric_value_respects_the_range() {
        assert_eq!(numeric_value("3.015e2"), Some(301.5));
        assert_eq!(numeric_value("-5e9"), Some(-5e9));
        assert_eq!(numeric_value("5000000001"), None);
        assert_eq!(numeric_value("1e400"), None);
        assert_eq!(numeric_value("-0"), Some(0.0));
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "1.5", "-12e+3", "1E9", "123456789012"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "+1", "1.5.2", "NaN"] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }
}
