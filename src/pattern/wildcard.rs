//! The `wildcard` operator: parsing with `\*` and `\\` escapes, and matching.
//!
//! A wildcard is a list of literal segments separated by `*`, each `*` matching
//! any run of characters, the empty run included. Two consecutive unescaped `*`
//! are rejected, as EventBridge does, and so are wildcards that together keep
//! too many positions open at once ([`complexity`]). Matching is on UTF-8
//! bytes, which is the same as on characters because both sides are valid
//! UTF-8.

/// A parsed wildcard: `segments.len() == stars + 1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Wildcard {
    segments: Vec<Box<[u8]>>,
}

/// Why a wildcard was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WildcardError {
    /// `pos` is the first `*`'s byte offset as EventBridge reports it, counting
    /// the value's opening quote as 0.
    #[error("consecutive wildcard characters at pos {pos}")]
    ConsecutiveStars { pos: usize },
    #[error("`\\` must be followed by `*` or `\\`")]
    InvalidEscape,
}

impl Wildcard {
    pub(crate) fn parse(text: &str) -> Result<Wildcard, WildcardError> {
        let mut segments = Vec::new();
        let mut current = Vec::new();
        let mut bytes = text.bytes().enumerate();
        let mut previous_was_star = false;
        while let Some((i, b)) = bytes.next() {
            match b {
                b'*' => {
                    if previous_was_star {
                        return Err(WildcardError::ConsecutiveStars { pos: i });
                    }
                    segments.push(std::mem::take(&mut current).into_boxed_slice());
                    previous_was_star = true;
                    continue;
                }
                b'\\' => match bytes.next() {
                    Some((_, escaped @ (b'*' | b'\\'))) => current.push(escaped),
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

    /// The wildcard as event-ruler reads it: quoted, `*` between segments.
    fn tokens(&self) -> Vec<Token> {
        let mut tokens = vec![Token::Byte(b'"')];
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                tokens.push(Token::Star);
            }
            tokens.extend(segment.iter().map(|&b| Token::Byte(b)));
        }
        tokens.push(Token::Byte(b'"'));
        tokens
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

/// The most wildcard positions one field of one `$or` combination may keep
/// open at once. EventBridge does not publish its threshold; 10 agrees with
/// every recorded answer (docs/patterns.md lists them: 8 is accepted, 11 —
/// its own documentation's `*:*:*:*:*:event-bus/*` — is refused) and is the
/// per-rule figure aws/event-ruler's README uses as its example.
pub(crate) const MAX_COMPLEXITY: usize = 10;

/// Distinct position sets explored before a set of wildcards is called too
/// complex anyway; real patterns need a few hundred at most.
const MAX_EXPLORED: usize = 50_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Byte(u8),
    Star,
}

/// One position of one wildcard: (which wildcard, tokens consumed).
type Position = (usize, usize);

/// The largest number of positions of `wildcards`, taken together, that one
/// string value can keep open at once, each wildcard read with the value's
/// quotes around it: aws/event-ruler's `MachineComplexityEvaluator` measure
/// (the wildcard prefixes a worst-case value matches), which EventBridge
/// limits. `*` opens a position that stays open; a literal that repeats what
/// follows a `*` (`*aaa`, `*:*:`) keeps several open. Counting stops once it
/// passes `cap` (the result is then some number above `cap`).
pub(crate) fn complexity(wildcards: &[&Wildcard], cap: usize) -> usize {
    let automata: Vec<Vec<Token>> = wildcards.iter().map(|w| w.tokens()).collect();
    let mut alphabet: Vec<Option<u8>> = automata
        .iter()
        .flatten()
        .filter_map(|t| match t {
            Token::Byte(b) => Some(Some(*b)),
            Token::Star => None,
        })
        .collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    // One byte no literal names stands for all of them.
    alphabet.push(None);
    let start: Vec<Position> = (0..automata.len()).map(|a| (a, 0)).collect();
    let mut seen = std::collections::HashSet::from([start.clone()]);
    let mut pending = vec![start];
    let mut most = 0;
    while let Some(open) = pending.pop() {
        for &byte in &alphabet {
            let next = step(&automata, &open, byte);
            if next.is_empty() {
                continue;
            }
            most = most.max(next.len());
            if most > cap || seen.len() > MAX_EXPLORED {
                return most.max(cap + 1);
            }
            if seen.insert(next.clone()) {
                pending.push(next);
            }
        }
    }
    most
}

/// The positions open after reading `byte` (`None`: a byte no literal names)
/// at `open`, each followed past any `*` (which may match nothing).
fn step(automata: &[Vec<Token>], open: &[Position], byte: Option<u8>) -> Vec<Position> {
    let mut next = Vec::new();
    for &(a, k) in open {
        let tokens = &automata[a];
        if k > 0 && tokens[k - 1] == Token::Star {
            next.push((a, k));
        }
        if let (Some(Token::Byte(t)), Some(b)) = (tokens.get(k), byte)
            && *t == b
        {
            next.push((a, k + 1));
        }
    }
    let mut i = 0;
    while i < next.len() {
        let (a, k) = next[i];
        if automata[a].get(k) == Some(&Token::Star) {
            next.push((a, k + 1));
        }
        i += 1;
    }
    next.sort_unstable();
    next.dedup();
    next
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
            Err(WildcardError::ConsecutiveStars { pos: 2 })
        );
        // AWS: "Consecutive wildcard characters at pos 26" for this value.
        assert_eq!(
            Wildcard::parse("arn:aws:events:us-east-1:**:event-bus/*"),
            Err(WildcardError::ConsecutiveStars { pos: 26 })
        );
        assert_eq!(Wildcard::parse(r"a\b"), Err(WildcardError::InvalidEscape));
        assert_eq!(Wildcard::parse("a\\"), Err(WildcardError::InvalidEscape));
        assert!(Wildcard::parse(r"\**").is_ok());
    }

    fn complexity_of(patterns: &[&str]) -> usize {
        let parsed: Vec<Wildcard> = patterns
            .iter()
            .map(|p| Wildcard::parse(p).expect("valid"))
            .collect();
        complexity(&parsed.iter().collect::<Vec<_>>(), 100)
    }

    #[test]
    fn complexity_counts_positions_a_value_keeps_open() {
        // aws/event-ruler MachineComplexityEvaluatorTest's single-pattern cases.
        assert_eq!(complexity_of(&["*ab"]), 2);
        assert_eq!(complexity_of(&["*aa"]), 3);
        assert_eq!(complexity_of(&["a*bbb"]), 4);
        assert_eq!(complexity_of(&["*ab*ad"]), 4);
        assert_eq!(complexity_of(&["abc"]), 1);
        // Recorded EventBridge answers (docs/patterns.md): accepted ...
        assert_eq!(
            complexity_of(&["arn:aws:events:us-east-1:*:event-bus/*"]),
            3
        );
        assert_eq!(complexity_of(&["/Users/*/dir/dir/dir/dir/dir/doc.txt"]), 7);
        assert_eq!(complexity_of(&["*.bif", "*.tiff", "*.tif", "*.svs"]), 8);
        assert_eq!(complexity_of(&["*/datasync/*.bif", "*/datasync/*.tif"]), 8);
        // ... and refused.
        assert_eq!(complexity_of(&["*:*:*:*:*:event-bus/*"]), 11);
        let four = [
            "*/datasync/*.bif",
            "*/datasync/*.tif",
            "*/datasync/*.tiff",
            "*/datasync/*.svs",
        ];
        assert!(complexity_of(&four) > MAX_COMPLEXITY);
        // Counting stops past the cap.
        let w = Wildcard::parse("*a*a*a*a*a*a*a*a*a*a*a*a").expect("valid");
        assert!(complexity(&[&w], MAX_COMPLEXITY) > MAX_COMPLEXITY);
    }

    #[test]
    fn head_and_tail() {
        let w = Wildcard::parse("ab*cd*ef").expect("valid");
        assert_eq!((w.head(), w.tail()), (&b"ab"[..], &b"ef"[..]));
        let w = Wildcard::parse("abc").expect("valid");
        assert_eq!((w.head(), w.tail()), (&b"abc"[..], &b""[..]));
    }
}
