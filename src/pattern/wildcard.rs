//! The `wildcard` operator: parsing with `\*` and `\\` escapes, and matching.
//!
//! A wildcard is a list of literal segments separated by `*`, each `*` matching
//! any run of characters, the empty run included. Two consecutive unescaped `*`
//! are rejected, as EventBridge does. Matching is on UTF-8 bytes, which is the
//! same as on characters because both sides are valid UTF-8.

/// A parsed wildcard: `segments.len() == stars + 1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Wildcard {
    segments: Vec<Box<[u8]>>,
}

/// Why a wildcard was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WildcardError {
    #[error("consecutive `*` characters are not allowed")]
    ConsecutiveStars,
    #[error("`\\` must be followed by `*` or `\\`")]
    InvalidEscape,
}

impl Wildcard {
    pub(crate) fn parse(text: &str) -> Result<Wildcard, WildcardError> {
        let mut segments = Vec::new();
        let mut current = Vec::new();
        let mut bytes = text.bytes();
        let mut previous_was_star = false;
        while let Some(b) = bytes.next() {
            match b {
                b'*' => {
                    if previous_was_star {
                        return Err(WildcardError::ConsecutiveStars);
                    }
                    segments.push(std::mem::take(&mut current).into_boxed_slice());
                    previous_was_star = true;
                    continue;
                }
                b'\\' => match bytes.next() {
                    Some(escaped @ (b'*' | b'\\')) => current.push(escaped),
                    _ => return Err(WildcardError::InvalidEscape),
                },
                other => current.push(other),
            }
            previous_was_star = false;
        }
        segments.push(current.into_boxed_slice());
        Ok(Wildcard { segments })
    }

    /// The literal text before the first `*` (the whole text if there is none).
    pub(crate) fn head(&self) -> &[u8] {
        self.segments.first().map_or(&[], |s| s)
    }

    /// The literal text after the last `*` (empty when the wildcard has no `*`
    /// and is matched as a whole by `head`).
    pub(crate) fn tail(&self) -> &[u8] {
        if self.segments.len() < 2 {
            return &[];
        }
        self.segments.last().map_or(&[], |s| s)
    }

    /// The literal segments between stars, for the reference matcher.
    #[cfg(test)]
    pub(crate) fn segments(&self) -> &[Box<[u8]>] {
        &self.segments
    }

    pub(crate) fn is_match(&self, value: &[u8]) -> bool {
        let Some((first, rest)) = self.segments.split_first() else {
            return value.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return value == &first[..];
        };
        if value.len() < first.len() + last.len()
            || !value.starts_with(first)
            || !value.ends_with(last)
        {
            return false;
        }
        // Each middle segment is matched at its leftmost position: leftmost
        // placement leaves the most room for the segments after it.
        let mut window = &value[first.len()..value.len() - last.len()];
        for segment in middle {
            match find(window, segment) {
                Some(at) => window = &window[at + segment.len()..],
                None => return false,
            }
        }
        true
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        Wildcard::parse(pattern)
            .expect("valid")
            .is_match(value.as_bytes())
    }

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(matches("*.png", "a.png"));
        assert!(matches("*.png", ".png"));
        assert!(!matches("*.png", "a.jpg"));
        assert!(matches("dir/*/*.png", "dir/a/b.png"));
        assert!(matches("2*0*1*7", "2607117"));
        assert!(matches("a*a", "aa"));
        assert!(!matches("a*a", "a"));
        assert!(matches("*", ""));
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abcd"));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
        assert!(matches(r"a\\*", r"a\zzz"));
    }

    #[test]
    fn rejects_double_star_and_bad_escapes() {
        assert_eq!(
            Wildcard::parse("a**b"),
            Err(WildcardError::ConsecutiveStars)
        );
        assert_eq!(Wildcard::parse(r"a\b"), Err(WildcardError::InvalidEscape));
        assert_eq!(Wildcard::parse("a\\"), Err(WildcardError::InvalidEscape));
        assert!(Wildcard::parse(r"\**").is_ok());
    }

    #[test]
    fn head_and_tail() {
        let w = Wildcard::parse("ab*cd*ef").expect("valid");
        assert_eq!((w.head(), w.tail()), (&b"ab"[..], &b"ef"[..]));
        let w = Wildcard::parse("abc").expect("valid");
        assert_eq!((w.head(), w.tail()), (&b"abc"[..], &b""[..]));
    }
}
