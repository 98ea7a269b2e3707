//! The event flattener: one pass over the event's JSON bytes that yields the
//! leaf values of the fields some pattern names, and skips everything else.
//!
//! Guided by a [`PathTrie`] of the pattern paths, it descends only into object
//! members on those paths; other members are skipped by a tight loop that only
//! tracks strings and bracket nesting. Descended parts are checked against the
//! full JSON grammar; skipped parts only for balanced brackets and terminated
//! strings (the gateway validates events on ingest; this pass must not trust
//! them, but it need not re-prove them). No tree is built: each leaf is a span
//! of the input (or of a scratch buffer when the string had escapes), with the
//! array elements it sits in, for the array-consistency rule.

use super::bytesearch::{
    QUOTE_OR_BACKSLASH, STRING_SPECIAL, STRUCTURAL, find_marked, quote_or_backslash_hits,
    string_special_hits, structural_hits,
};
use super::error::EventError;
use super::paths::PathTrie;

/// Nesting allowed along descended paths (skipped parts are not recursive).
const MAX_DEPTH: usize = 256;

/// The JSON type of a leaf value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    True,
    False,
    Null,
}

/// One leaf value of a named field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leaf {
    pub(crate) field: u32,
    pub(crate) kind: Kind,
    /// Span of the string's content (unescaped) or of the number's literal.
    start: usize,
    end: usize,
    in_scratch: bool,
    /// Span in `Flattened::arrays` of the arrays enclosing this value,
    /// outermost first.
    arrays_start: usize,
    arrays_len: usize,
}

/// Where a value sits in one enclosing array: which array (numbered in event
/// order), which element, and the trie node (path) the array is the value of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArrayPosition {
    pub(crate) array: u32,
    pub(crate) element: u32,
    pub(crate) node: u32,
}

/// The flattened event: reusable buffers, cleared by each `flatten`.
#[derive(Debug, Default)]
pub(crate) struct Flattened {
    pub(crate) leaves: Vec<Leaf>,
    scratch: Vec<u8>,
    arrays: Vec<ArrayPosition>,
    open_arrays: Vec<ArrayPosition>,
    key: Vec<u8>,
    brackets: Vec<u8>,
}

impl Flattened {
    #[inline]
    pub(crate) fn bytes<'a>(&'a self, input: &'a [u8], leaf: &Leaf) -> &'a [u8] {
        if leaf.in_scratch {
            &self.scratch[leaf.start..leaf.end]
        } else {
            &input[leaf.start..leaf.end]
        }
    }

    #[inline]
    pub(crate) fn arrays(&self, leaf: &Leaf) -> &[ArrayPosition] {
        &self.arrays[leaf.arrays_start..leaf.arrays_start + leaf.arrays_len]
    }
}

/// Reads `input` (a JSON object) and collects the leaves of the trie's fields,
/// grouped by field id (stable within a field).
pub(crate) fn flatten(
    input: &[u8],
    trie: &PathTrie,
    out: &mut Flattened,
) -> Result<(), EventError> {
    out.leaves.clear();
    out.scratch.clear();
    out.arrays.clear();
    out.open_arrays.clear();
    let mut scanner = Scanner {
        input,
        pos: 0,
        trie,
        out,
        next_array: 0,
        stopped: false,
    };
    scanner.skip_ws();
    if scanner.peek() != Some(b'{') {
        return Err(match scanner.peek() {
            Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => EventError::NotAnObject,
            _ => scanner.error("expected a JSON object"),
        });
    }
    scanner.object(0, 0, true)?;
    scanner.skip_ws();
    if !scanner.stopped && scanner.pos != input.len() {
        return Err(scanner.error("trailing characters after the event"));
    }
    out.leaves.sort_by_key(|leaf| leaf.field);
    Ok(())
}

struct Scanner<'a, 'o> {
    input: &'a [u8],
    pos: usize,
    trie: &'a PathTrie,
    out: &'o mut Flattened,
    next_array: u32,
    /// Every root key the rules name has been read; the rest is not.
    stopped: bool,
}

impl Scanner<'_, '_> {
    fn error(&self, reason: &'static str) -> EventError {
        EventError::InvalidJson {
            offset: self.pos,
            reason,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Skips whitespace. Events are written compactly or with one space
    /// between tokens, so the first byte nearly always decides.
    #[inline]
    fn skip_ws(&mut self) {
        match self.input.get(self.pos) {
            Some(&b) if b > b' ' => {}
            _ => self.skip_ws_loop(),
        }
    }

    fn skip_ws_loop(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline]
    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), EventError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(reason))
        }
    }

    /// A value at trie `node` (descend) or `None` (skip). `completes`: reading
    /// every named key of this value (if it is an object) leaves nothing named
    /// anywhere after it, so the whole scan can stop there.
    fn value(
        &mut self,
        node: Option<u32>,
        depth: usize,
        completes: bool,
    ) -> Result<(), EventError> {
        let Some(node) = node else {
            return self.skip_value();
        };
        if depth > MAX_DEPTH {
            return Err(EventError::TooDeep { limit: MAX_DEPTH });
        }
        self.skip_ws();
        let field = self.trie.field(node);
        match self.peek() {
            Some(b'{') => self.object(node, depth + 1, completes),
            Some(b'[') => self.array(node, depth + 1),
            Some(b'"') => {
                let (start, end, in_scratch) = self.string(false)?;
                if let Some(field) = field {
                    self.push_leaf(field, Kind::String, start, end, in_scratch);
                }
                Ok(())
            }
            Some(_) => {
                let start = self.pos;
                let kind = self.scalar()?;
                if let Some(field) = field {
                    self.push_leaf(field, kind, start, self.pos, false);
                }
                Ok(())
            }
            None => Err(self.error("unexpected end of input")),
        }
    }

    #[inline]
    fn push_leaf(&mut self, field: u32, kind: Kind, start: usize, end: usize, in_scratch: bool) {
        let arrays_start = self.out.arrays.len();
        if !self.out.open_arrays.is_empty() {
            self.out.arrays.extend_from_slice(&self.out.open_arrays);
        }
        self.out.leaves.push(Leaf {
            field,
            kind,
            start,
            end,
            in_scratch,
            arrays_start,
            arrays_len: self.out.open_arrays.len(),
        });
    }

    /// Reads an object at trie `node`. Once every child key of the node has
    /// been seen, the rest of the object cannot name a field: it is skipped, or,
    /// when nothing named can follow it (`completes`; always so at the root),
    /// the scan ends there (the early stop, as in quamina's flattener).
    fn object(&mut self, node: u32, depth: usize, completes: bool) -> Result<(), EventError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let wanted = self.trie.child_count(node);
        // Distinct children seen so far (a repeated key must not count twice);
        // nodes with more than 64 children simply never stop early.
        let mut seen: u64 = 0;
        let all: u64 = if wanted == 0 || wanted > 64 {
            0
        } else {
            u64::MAX >> (64 - wanted)
        };
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let (start, end, in_scratch) = self.string(true)?;
            let key = if in_scratch {
                &self.out.key[start..end]
            } else {
                &self.input[start..end]
            };
            let child = self.trie.child(node, key);
            self.expect(b':', "expected `:`")?;
            let bit = match child {
                Some((index, _)) if index < 64 => 1u64 << index,
                _ => 0,
            };
            let child_completes = completes && all != 0 && (seen | bit) == all;
            self.value(child.map(|(_, c)| c), depth, child_completes)?;
            if self.stopped {
                return Ok(());
            }
            seen |= bit;
            if all != 0 && seen == all && completes {
                self.stopped = true;
                return Ok(());
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
            if all != 0 && seen == all {
                return self.skip_rest_of_object();
            }
        }
    }

    fn array(&mut self, node: u32, depth: usize) -> Result<(), EventError> {
        self.pos += 1;
        let id = self.next_array;
        self.next_array += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        self.out.open_arrays.push(ArrayPosition {
            array: id,
            element: 0,
            node,
        });
        loop {
            self.value(Some(node), depth, false)?;
            if self.stopped {
                return Ok(());
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    if let Some(last) = self.out.open_arrays.last_mut() {
                        last.element += 1;
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    self.out.open_arrays.pop();
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// A number or literal; returns its kind, leaves `pos` after it. The
    /// literal is read by its grammar in one pass and must end at a delimiter
    /// (or the end of input).
    fn scalar(&mut self) -> Result<Kind, EventError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let read = match rest.first() {
            Some(b't') if rest.starts_with(b"true") => Some((Kind::True, 4)),
            Some(b'f') if rest.starts_with(b"false") => Some((Kind::False, 5)),
            Some(b'n') if rest.starts_with(b"null") => Some((Kind::Null, 4)),
            _ => super::number::json_number_len(rest).map(|len| (Kind::Number, len)),
        };
        match read {
            Some((kind, len))
                if rest.get(len).is_none_or(|b| {
                    matches!(
                        b,
                        b',' | b'}'
                            | b']'
                            | b' '
                            | b'\n'
                            | b'\r'
                            | b'\t'
                            | b':'
                            | b'"'
                            | b'{'
                            | b'['
                    )
                }) =>
            {
                self.pos = start + len;
                Ok(kind)
            }
            _ => Err(self.error("invalid value")),
        }
    }

    /// Reads a string starting at its opening quote. Returns the content span,
    /// in the input when it has no escapes, else in the scratch (or key) buffer.
    #[inline]
    fn string(&mut self, is_key: bool) -> Result<(usize, usize, bool), EventError> {
        self.pos += 1;
        let start = self.pos;
        self.pos = find_marked(self.input, self.pos, &STRING_SPECIAL, string_special_hits);
        match self.input.get(self.pos) {
            Some(b'"') => {
                self.pos += 1;
                Ok((start, self.pos - 1, false))
            }
            _ => self.escaped_string(start, is_key),
        }
    }

    /// The rest of a string whose content starts at `start`, from the first
    /// byte the fast path stopped at (an escape, a control byte or the end).
    #[cold]
    fn escaped_string(
        &mut self,
        start: usize,
        is_key: bool,
    ) -> Result<(usize, usize, bool), EventError> {
        match self.input.get(self.pos) {
            None => return Err(self.error("unterminated string")),
            Some(b'\\') => {}
            Some(_) => return Err(self.error("control character in string")),
        }
        // Copy what we have and unescape the rest.
        let buffer = if is_key {
            &mut self.out.key
        } else {
            &mut self.out.scratch
        };
        if is_key {
            buffer.clear();
        }
        let out_start = buffer.len();
        buffer.extend_from_slice(&self.input[start..self.pos]);
        loop {
            let Some(&b) = self.input.get(self.pos) else {
                return Err(EventError::InvalidJson {
                    offset: self.pos,
                    reason: "unterminated string",
                });
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = self.input.get(self.pos).copied();
                    self.pos += 1;
                    match escaped {
                        Some(c @ (b'"' | b'\\' | b'/')) => buffer.push(c),
                        Some(b'b') => buffer.push(0x08),
                        Some(b'f') => buffer.push(0x0c),
                        Some(b'n') => buffer.push(b'\n'),
                        Some(b'r') => buffer.push(b'\r'),
                        Some(b't') => buffer.push(b'\t'),
                        Some(b'u') => {
                            let c = decode_unicode_escape(self.input, &mut self.pos).ok_or(
                                EventError::InvalidJson {
                                    offset: self.pos,
                                    reason: "invalid \\u escape",
                                },
                            )?;
                            let mut utf8 = [0u8; 4];
                            buffer.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                        }
                        _ => {
                            return Err(EventError::InvalidJson {
                                offset: self.pos,
                                reason: "invalid escape",
                            });
                        }
                    }
                }
                0x00..=0x1f => {
                    return Err(EventError::InvalidJson {
                        offset: self.pos,
                        reason: "control character in string",
                    });
                }
                other => buffer.push(other),
            }
        }
        Ok((out_start, buffer.len(), true))
    }

    fn skip_value(&mut self) -> Result<(), EventError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => self.skip_container(),
            Some(_) => self.scalar().map(|_| ()),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn skip_string(&mut self) -> Result<(), EventError> {
        let mut i = self.pos + 1;
        let input = self.input;
        loop {
            i = find_marked(input, i, &QUOTE_OR_BACKSLASH, quote_or_backslash_hits);
            match input.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(());
                }
                Some(_) => i += 2,
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// Skips a balanced `{...}` or `[...]` starting at `pos`.
    fn skip_container(&mut self) -> Result<(), EventError> {
        self.out.brackets.clear();
        self.skip_brackets()
    }

    /// Skips to just after the `}` closing the object being read (`pos` is
    /// just after a `,` between members).
    fn skip_rest_of_object(&mut self) -> Result<(), EventError> {
        self.out.brackets.clear();
        self.out.brackets.push(b'}');
        self.skip_brackets()
    }

    /// Skips until the brackets already open in `out.brackets` (and any opened
    /// on the way) are closed.
    fn skip_brackets(&mut self) -> Result<(), EventError> {
        let brackets = &mut self.out.brackets;
        let input = self.input;
        let mut i = self.pos;
        loop {
            i = find_marked(input, i, &STRUCTURAL, structural_hits);
            let Some(&b) = input.get(i) else { break };
            match b {
                b'"' => loop {
                    i = find_marked(input, i + 1, &QUOTE_OR_BACKSLASH, quote_or_backslash_hits);
                    match input.get(i) {
                        Some(b'"') => break,
                        Some(_) => i += 1,
                        None => {
                            self.pos = i;
                            return Err(self.error("unterminated string"));
                        }
                    }
                },
                b'{' => brackets.push(b'}'),
                b'[' => brackets.push(b']'),
                close => {
                    if brackets.pop() != Some(close) {
                        self.pos = i;
                        return Err(self.error("mismatched bracket"));
                    }
                    if brackets.is_empty() {
                        self.pos = i + 1;
                        return Ok(());
                    }
                }
            }
            i += 1;
        }
        self.pos = i;
        Err(self.error("unexpected end of input"))
    }
}

/// Decodes the four hex digits after `\u` (and a following low surrogate when
/// the first is a high surrogate). `pos` is just after the `u`.
pub(crate) fn decode_unicode_escape(input: &[u8], pos: &mut usize) -> Option<char> {
    let hex4 = |at: usize| -> Option<u32> {
        let digits = input.get(at..at + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    };
    let first = hex4(*pos)?;
    *pos += 4;
    if (0xD800..0xDC00).contains(&first) {
        if input.get(*pos..*pos + 2) != Some(b"\\u") {
            return None;
        }
        let second = hex4(*pos + 2)?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        *pos += 6;
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    } else {
        char::from_u32(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(paths: &[&[&str]]) -> PathTrie {
        let mut t = PathTrie::new();
        for (i, p) in paths.iter().enumerate() {
            let owned: Vec<String> = p.iter().map(|s| (*s).to_owned()).collect();
            t.insert(&owned, u32::try_from(i).expect("small"));
        }
        t
    }

    /// (field, kind, text, array positions) of each collected leaf.
    type Collected = Vec<(u32, Kind, String, Vec<(u32, u32)>)>;

    fn leaves(input: &str, t: &PathTrie) -> Collected {
        let mut out = Flattened::default();
        flatten(input.as_bytes(), t, &mut out).expect("valid event");
        out.leaves
            .iter()
            .map(|l| {
                let text =
                    String::from_utf8(out.bytes(input.as_bytes(), l).to_vec()).expect("utf8");
                let arrays = out.arrays(l).iter().map(|a| (a.array, a.element)).collect();
                (l.field, l.kind, text, arrays)
            })
            .collect()
    }

    #[test]
    fn collects_only_named_fields() {
        let t = trie(&[&["a", "b"], &["c"]]);
        let got = leaves(
            r#"{"x": {"b": 1}, "a": {"b": "h\u00e9\"", "z": [1, {"q": 2}]}, "c": [true, null, [-1.5e3]]}"#,
            &t,
        );
        assert_eq!(
            got,
            vec![
                (0, Kind::String, "hé\"".to_owned(), vec![]),
                (1, Kind::True, "true".to_owned(), vec![(0, 0)]),
                (1, Kind::Null, "null".to_owned(), vec![(0, 1)]),
                (1, Kind::Number, "-1.5e3".to_owned(), vec![(0, 2), (1, 0)]),
            ]
        );
    }

    #[test]
    fn array_elements_of_objects_carry_their_index() {
        let t = trie(&[&["a", "b"], &["a", "c"]]);
        let got = leaves(r#"{"a": [{"b": 1, "c": 2}, {"b": 3}]}"#, &t);
        assert_eq!(got[0].3, vec![(0, 0)]);
        assert_eq!(got[1].3, vec![(0, 1)]);
        assert_eq!(got[2].3, vec![(0, 0)]);
    }

    #[test]
    fn stops_once_every_named_key_is_read() {
        let t = trie(&[&["a", "b"], &["c"]]);
        // After `a` (all of whose children are read) and `c`, the root is done:
        // what follows is not read, so even a broken tail is not an error.
        let got = leaves(
            r#"{"a": {"b": 1, "z": {"q": [2, "}"]}}, "c": "x", "d": [1, 2, oops"#,
            &t,
        );
        assert_eq!(got.len(), 2);
        // The last named key inside nested objects ends the scan at once.
        let t2 = trie(&[&["x", "y"]]);
        assert_eq!(leaves(r#"{"x": {"y": 1, "z": [broken"#, &t2).len(), 1);
        // Not inside an array: later elements may hold more values.
        assert_eq!(
            leaves(r#"{"x": [{"y": 1, "z": 0}, {"y": 2}]}"#, &t2).len(),
            2
        );
        // A repeated key does not count as a second distinct key.
        let t = trie(&[&["a", "b"], &["a", "e"], &["c"]]);
        let got = leaves(r#"{"a": {"b": 1, "b": 2, "e": 3}, "c": true}"#, &t);
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn rejects_invalid_events() {
        let t = trie(&[&["a"]]);
        let mut out = Flattened::default();
        for bad in [
            "",
            "{",
            r#"{"a": }"#,
            r#"{"a": tru}"#,
            r#"{"x": [1}"#,
            r#"{"x": "abc}"#,
            r#"{"b": 1} x"#,
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": 1e+}"#,
            r#"{"a": -}"#,
            r#"{"a": 12x}"#,
            r#"{"a": truex}"#,
            r#"{"a": nul}"#,
            r#"{"b": 1.5.5, "a": 1}"#,
            r#"{"x": {"y": 1]}"#,
        ] {
            assert!(flatten(bad.as_bytes(), &t, &mut out).is_err(), "{bad}");
        }
        assert_eq!(flatten(b"[1]", &t, &mut out), Err(EventError::NotAnObject));
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(300), "]".repeat(300));
        assert_eq!(
            flatten(deep.as_bytes(), &t, &mut out),
            Err(EventError::TooDeep { limit: MAX_DEPTH })
        );
    }
}
