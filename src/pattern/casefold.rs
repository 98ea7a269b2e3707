//! Case folding for `equals-ignore-case` and its `prefix`/`suffix` forms.
//!
//! Both the pattern text and the event value are folded to lower case and then
//! compared exactly. ASCII folds byte by byte (the common case, no allocation
//! beyond the output buffer); other text uses Unicode `to_lowercase`.

/// Appends the folded form of `text` to `out`.
pub(crate) fn fold_into(text: &[u8], out: &mut Vec<u8>) {
    if text.is_ascii() {
        out.extend(text.iter().map(u8::to_ascii_lowercase));
    } else {
        match std::str::from_utf8(text) {
            Ok(s) => out.extend_from_slice(s.to_lowercase().as_bytes()),
            Err(_) => out.extend(text.iter().map(u8::to_ascii_lowercase)),
        }
    }
}

pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_ascii_and_unicode() {
        let mut out = Vec::new();
        fold_into(b"HeLLo", &mut out);
        assert_eq!(out, b"hello");
        out.clear();
        fold_into("ÄÖÜ".as_bytes(), &mut out);
        assert_eq!(out, "äöü".as_bytes());
        assert_eq!(fold("ÄbC"), "äbc");
    }
}
