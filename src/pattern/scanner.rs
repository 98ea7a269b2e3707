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

/// Largest event read (the gateway accepts events of at most 1 MiB). With it,
/// every offset and count in [`Leaf`] fits a `u32`: at most one leaf per byte,
/// each inside at most `MAX_DEPTH` arrays, is 2^31 array positions.
const MAX_EVENT_BYTES: usize = 8 << 20;

/// The JSON type of a leaf value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    True,
    False,
    Null,
}

/// One leaf value of a named field. Offsets are `u32` (see
/// [`MAX_EVENT_BYTES`]), which keeps a leaf at 28 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leaf {
    pub(crate) kind: Kind,
    in_scratch: bool,
    /// Span of the string's content (unescaped) or of the number's literal.
    start: u32,
    end: u32,
    /// Span in `Flattened::arrays` of the arrays enclosing this value,
    /// outermost first.
    arrays_start: u32,
    arrays_len: u32,
    /// The next leaf of the same field (in event order), or [`NO_LEAF`].
    next: u32,
    field: u32,
}

/// No leaf: the end of a field's list.
const NO_LEAF: u32 = u32::MAX;

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
    /// In event order; each field's leaves are linked through `Leaf::next`.
    leaves: Vec<Leaf>,
    /// Per field id: its first and last leaf, or [`NO_LEAF`] twice. Only the
    /// entries of the fields in `leaves` are set, and `flatten` resets just
    /// those, so an event costs nothing per field it lacks.
    heads: Vec<(u32, u32)>,
    scratch: Vec<u8>,
    arrays: Vec<ArrayPosition>,
    open_arrays: Vec<ArrayPosition>,
    key: Vec<u8>,
    brackets: Vec<u8>,
}

impl Flattened {
    #[inline]
    pub(crate) fn bytes<'a>(&'a self, input: &'a [u8], leaf: &Leaf) -> &'a [u8] {
        let span = leaf.start as usize..leaf.end as usize;
        if leaf.in_scratch {
            &self.scratch[span]
        } else {
            &input[span]
        }
    }

    #[inline]
    pub(crate) fn arrays(&self, leaf: &Leaf) -> &[ArrayPosition] {
        let start = leaf.arrays_start as usize;
        &self.arrays[start..start + leaf.arrays_len as usize]
    }

    /// The leaves of `field`, in event order.
    #[inline]
    pub(crate) fn leaves_of(&self, field: u32) -> impl Iterator<Item = &Leaf> + '_ {
        let mut next = self.heads.get(field as usize).map_or(NO_LEAF, |h| h.0);
        std::iter::from_fn(move || {
            let leaf = self.leaves.get(next as usize)?;
            next = leaf.next;
            Some(leaf)
        })
    }

    /// Whether the event has no value for `field`.
    #[inline]
    pub(crate) fn lacks(&self, field: u32) -> bool {
        self.heads
            .get(field as usize)
            .is_none_or(|h| h.0 == NO_LEAF)
    }
}

/// Reads `input` (a JSON object) and collects the leaves of the trie's fields:
/// [`Flattened::leaves_of`] gives each field's values in event order.
pub(crate) fn flatten(
    input: &[u8],
    trie: &PathTrie,
    field_count: usize,
    out: &mut Flattened,
) -> Result<(), EventError> {
    for leaf in &out.leaves {
        out.heads[leaf.field as usize] = (NO_LEAF, NO_LEAF);
    }
    out.leaves.clear();
    if out.heads.len() < field_count {
        out.heads.resize(field_count, (NO_LEAF, NO_LEAF));
    }
    if input.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            limit: MAX_EVENT_BYTES,
        });
    }
    out.scratch.clear();
    out.arrays.clear();
    out.open_arrays.clear();
    let mut scanner = Scanner {
        input,
        trie,
        out,
        next_array: 0,
        stopped: false,
        dotted_after: None,
        failure: None,
    };
    let start = ws(input, 0);
    if input.get(start) != Some(&b'{') {
        return Err(match input.get(start) {
            Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => EventError::NotAnObject,
            _ => EventError::InvalidJson {
                offset: start,
                reason: "expected a JSON object",
            },
        });
    }
    let end = match scanner.object(start, 0, 0, true) {
        Ok(end) => end,
        // `fail_with` recorded the reason; the fallback is never taken.
        Err(Fail) => {
            return Err(scanner.failure.take().unwrap_or(EventError::InvalidJson {
                offset: 0,
                reason: "unreadable event",
            }));
        }
    };
    let end = ws(input, end);
    if !scanner.stopped && end != input.len() {
        return Err(EventError::InvalidJson {
            offset: end,
            reason: "trailing characters after the event",
        });
    }
    Ok(())
}

/// A scan failed; the reason is in [`Scanner::failure`]. Zero-sized, so a
/// `Result<usize, Fail>` comes back in registers, not through memory.
struct Fail;

/// The position after the whitespace at `pos`. Events are written compactly
/// or with one space between tokens, so one or two byte checks nearly always
/// decide.
#[inline(always)]
fn ws(input: &[u8], pos: usize) -> usize {
    match input.get(pos) {
        Some(&b) if b > b' ' => pos,
        Some(b' ') if input.get(pos + 1).is_some_and(|&b| b > b' ') => pos + 1,
        _ => ws_loop(input, pos),
    }
}

fn ws_loop(input: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = input.get(pos) {
        pos += 1;
    }
    pos
}

/// The position of the quote closing a string whose content starts at
/// `start`, when the string has no escapes or control bytes; otherwise the
/// position of the first such byte (or the end of input).
#[inline(always)]
fn plain_string_end(input: &[u8], start: usize) -> usize {
    find_marked(input, start, &STRING_SPECIAL, string_special_hits)
}

/// Every method takes the position to read at and returns the position after
/// what it read; an error is recorded in `failure` and returned as [`Fail`].
struct Scanner<'a, 'o> {
    input: &'a [u8],
    trie: &'a PathTrie,
    out: &'o mut Flattened,
    next_array: u32,
    /// Every root key the rules name has been read; the rest is not.
    stopped: bool,
    /// (from, last): the last key at or after `from` that may contain a dot,
    /// found once per event on the first early stop that needs it.
    dotted_after: Option<(usize, Option<usize>)>,
    failure: Option<EventError>,
}

/// Where the last object key at or after `from` that may contain a dot sits
/// (the position of its `:`), or `None` when no key there can. Conservative: a
/// `:` after a string counts as a key, and an escape anywhere near one counts
/// as a dot. Keys are found from their `:`, so the skipped bytes are searched,
/// not parsed.
fn last_dotted_key(input: &[u8], from: usize) -> Option<usize> {
    let rest = input.get(from..)?;
    memchr::memrchr_iter(b':', rest)
        .map(|i| from + i)
        .find(|&colon| may_end_dotted_key(input, colon))
}

/// Whether the `:` at `colon` may follow a key that contains a dot.
fn may_end_dotted_key(input: &[u8], colon: usize) -> bool {
    let mut end = colon;
    while end > 0 && matches!(input[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    if end == 0 || input[end - 1] != b'"' {
        return false;
    }
    // Back from the closing quote to the opening one: keys are short, so a
    // plain loop beats a search call. An escape (of a quote or a dot) counts
    // as a dot.
    let mut at = end - 1;
    while at > 0 {
        at -= 1;
        match input[at] {
            // An escaped quote is inside the key: count it as a dot.
            b'"' => return at > 0 && input[at - 1] == b'\\',
            b'.' | b'\\' => return true,
            _ => {}
        }
    }
    true
}

impl Scanner<'_, '_> {
    /// Every [`Fail`] is made here or in [`Scanner::fail_with`], so a failed
    /// scan always has its reason recorded.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, offset: usize, reason: &'static str) -> Fail {
        self.fail_with(EventError::InvalidJson { offset, reason })
    }

    /// Whether a key after `pos` may contain a dot, and so name a path that
    /// an early stop would miss (`"a.b"` after `a` was read). Positions only
    /// grow during a scan, so one search from the first query answers all.
    fn dotted_key_ahead(&mut self, pos: usize) -> bool {
        let last = match self.dotted_after {
            Some((from, last)) if from <= pos => last,
            _ => {
                let last = last_dotted_key(self.input, pos);
                self.dotted_after = Some((pos, last));
                last
            }
        };
        last.is_some_and(|colon| colon >= pos)
    }

    #[cold]
    fn fail_with(&mut self, error: EventError) -> Fail {
        self.failure = Some(error);
        Fail
    }

    /// The value at `pos` (no whitespace before it), at trie `node`.
    /// `completes`: reading every named key of this value (if it is an
    /// object) leaves nothing named anywhere after it, so the whole scan can
    /// stop there.
    fn value(
        &mut self,
        pos: usize,
        node: u32,
        depth: usize,
        completes: bool,
    ) -> Result<usize, Fail> {
        if depth > MAX_DEPTH {
            return Err(self.fail_with(EventError::TooDeep { limit: MAX_DEPTH }));
        }
        let input = self.input;
        match input.get(pos) {
            Some(b'{') => self.object(pos, node, depth + 1, completes),
            Some(b'[') => self.array(pos, node, depth + 1),
            Some(b'"') => {
                let start = pos + 1;
                let end = plain_string_end(input, start);
                if input.get(end) == Some(&b'"') {
                    if let Some(field) = self.trie.field(node) {
                        self.push_leaf(field, Kind::String, start, end, false);
                    }
                    Ok(end + 1)
                } else {
                    let (from, to, after) = self.escaped_string(start, end, false)?;
                    if let Some(field) = self.trie.field(node) {
                        self.push_leaf(field, Kind::String, from, to, true);
                    }
                    Ok(after)
                }
            }
            Some(_) => {
                let (kind, end) = self.scalar(pos)?;
                if let Some(field) = self.trie.field(node) {
                    self.push_leaf(field, kind, pos, end, false);
                }
                Ok(end)
            }
            None => Err(self.fail(pos, "unexpected end of input")),
        }
    }

    /// Appends a leaf of `field` and links it to the field's list. The casts
    /// cannot truncate: `flatten` refuses input over [`MAX_EVENT_BYTES`].
    #[inline]
    #[allow(clippy::cast_possible_truncation)]
    fn push_leaf(&mut self, field: u32, kind: Kind, start: usize, end: usize, in_scratch: bool) {
        let out = &mut *self.out;
        let index = out.leaves.len() as u32;
        let arrays_start = out.arrays.len() as u32;
        if !out.open_arrays.is_empty() {
            out.arrays.extend_from_slice(&out.open_arrays);
        }
        out.leaves.push(Leaf {
            kind,
            in_scratch,
            start: start as u32,
            end: end as u32,
            arrays_start,
            arrays_len: out.open_arrays.len() as u32,
            next: NO_LEAF,
            field,
        });
        let head = &mut out.heads[field as usize];
        if head.0 == NO_LEAF {
            head.0 = index;
        } else {
            out.leaves[head.1 as usize].next = index;
        }
        head.1 = index;
    }

    /// Reads the object whose `{` is at `pos`, at trie `node`. A key with dots
    /// is the path of its segments (`"a.b"` is `a` then `b`). Once every
    /// child key of a node whose children are all leaves has been seen, the
    /// rest of the object cannot name a field: it is skipped, or, when nothing named can follow it
    /// (`completes`; always so at the root), the scan ends there (the early
    /// stop, as in quamina's flattener). Members no rule names are skipped
    /// right here, without a call per member.
    fn object(
        &mut self,
        pos: usize,
        node: u32,
        depth: usize,
        completes: bool,
    ) -> Result<usize, Fail> {
        let input = self.input;
        let mut pos = ws(input, pos + 1);
        if input.get(pos) == Some(&b'}') {
            return Ok(pos + 1);
        }
        // A later dotted key (`a.b` after `a`) can still name a path below a
        // child: a node whose children are all leaves may skip the rest of
        // its object, any other stop first checks that no such key follows.
        let wanted = self.trie.child_count(node);
        let leaves_only = !self.trie.has_grandchildren(node);
        // Distinct children seen so far (a repeated key must not count twice);
        // nodes with more than 64 children simply never stop early.
        let mut seen: u64 = 0;
        let all: u64 = if wanted == 0 || wanted > 64 {
            0
        } else {
            u64::MAX >> (64 - wanted)
        };
        loop {
            if input.get(pos) != Some(&b'"') {
                return Err(self.fail(pos, "expected a string key"));
            }
            let key_start = pos + 1;
            let key_end = plain_string_end(input, key_start);
            // A dotted key leads to a node below the children; its index is
            // past the `seen` bits (it only occurs when `all` is 0).
            let trie = self.trie;
            let lookup = |key: &[u8]| {
                trie.child(node, key)
                    .or_else(|| trie.dotted(node, key).map(|deeper| (usize::MAX, deeper)))
            };
            let child = if input.get(key_end) == Some(&b'"') {
                pos = key_end + 1;
                lookup(&input[key_start..key_end])
            } else {
                let (from, to, after) = self.escaped_string(key_start, key_end, true)?;
                pos = after;
                lookup(&self.out.key[from..to])
            };
            pos = ws(input, pos);
            if input.get(pos) != Some(&b':') {
                return Err(self.fail(pos, "expected `:`"));
            }
            pos = ws(input, pos + 1);
            match child {
                None => pos = self.skip_value(pos)?,
                Some((index, child)) => {
                    let bit = if index < 64 { 1u64 << index } else { 0 };
                    let child_completes = completes && all != 0 && (seen | bit) == all;
                    pos = self.value(pos, child, depth, child_completes)?;
                    if self.stopped {
                        return Ok(pos);
                    }
                    seen |= bit;
                    if all != 0 && seen == all && completes && !self.dotted_key_ahead(pos) {
                        self.stopped = true;
                        return Ok(pos);
                    }
                }
            }
            pos = ws(input, pos);
            match input.get(pos) {
                Some(b',') => pos = ws(input, pos + 1),
                Some(b'}') => return Ok(pos + 1),
                _ => return Err(self.fail(pos, "expected `,` or `}`")),
            }
            if all != 0 && seen == all && (leaves_only || !self.dotted_key_ahead(pos)) {
                return self.skip_brackets(pos, b'}');
            }
        }
    }

    /// Reads the array whose `[` is at `pos`, at trie `node`.
    fn array(&mut self, pos: usize, node: u32, depth: usize) -> Result<usize, Fail> {
        let input = self.input;
        let id = self.next_array;
        self.next_array += 1;
        let mut pos = ws(input, pos + 1);
        if input.get(pos) == Some(&b']') {
            return Ok(pos + 1);
        }
        self.out.open_arrays.push(ArrayPosition {
            array: id,
            element: 0,
            node,
        });
        loop {
            pos = self.value(pos, node, depth, false)?;
            if self.stopped {
                return Ok(pos);
            }
            pos = ws(input, pos);
            match input.get(pos) {
                Some(b',') => {
                    pos = ws(input, pos + 1);
                    if let Some(last) = self.out.open_arrays.last_mut() {
                        last.element += 1;
                    }
                }
                Some(b']') => {
                    self.out.open_arrays.pop();
                    return Ok(pos + 1);
                }
                _ => return Err(self.fail(pos, "expected `,` or `]`")),
            }
        }
    }

    /// The number or literal at `pos`: its kind and the position after it. The
    /// literal is read by its grammar in one pass and must end at a delimiter
    /// (or the end of input).
    fn scalar(&mut self, pos: usize) -> Result<(Kind, usize), Fail> {
        let rest = &self.input[pos..];
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
                Ok((kind, pos + len))
            }
            _ => Err(self.fail(pos, "invalid value")),
        }
    }

    /// The rest of a string whose content starts at `start`, from `at`, the
    /// first byte the fast path stopped at (an escape, a control byte or the
    /// end). Returns the unescaped content's span in the scratch buffer (or
    /// the key buffer) and the position after the closing quote.
    #[cold]
    fn escaped_string(
        &mut self,
        start: usize,
        at: usize,
        is_key: bool,
    ) -> Result<(usize, usize, usize), Fail> {
        match self.input.get(at) {
            None => return Err(self.fail(at, "unterminated string")),
            Some(b'\\') => {}
            Some(_) => return Err(self.fail(at, "control character in string")),
        }
        let input = self.input;
        let mut pos = at;
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
        buffer.extend_from_slice(&input[start..pos]);
        let reason = loop {
            let Some(&b) = input.get(pos) else {
                break "unterminated string";
            };
            pos += 1;
            match b {
                b'"' => return Ok((out_start, buffer.len(), pos)),
                b'\\' => {
                    let escaped = input.get(pos).copied();
                    pos += 1;
                    match escaped {
                        Some(c @ (b'"' | b'\\' | b'/')) => buffer.push(c),
                        Some(b'b') => buffer.push(0x08),
                        Some(b'f') => buffer.push(0x0c),
                        Some(b'n') => buffer.push(b'\n'),
                        Some(b'r') => buffer.push(b'\r'),
                        Some(b't') => buffer.push(b'\t'),
                        Some(b'u') => match decode_unicode_escape(input, &mut pos) {
                            Some(c) => {
                                let mut utf8 = [0u8; 4];
                                buffer.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                            }
                            None => break "invalid \\u escape",
                        },
                        _ => break "invalid escape",
                    }
                }
                0x00..=0x1f => break "control character in string",
                other => buffer.push(other),
            }
        };
        Err(self.fail(pos, reason))
    }

    /// Skips the value at `pos` (no whitespace before it).
    #[inline]
    fn skip_value(&mut self, pos: usize) -> Result<usize, Fail> {
        let input = self.input;
        match input.get(pos) {
            Some(b'"') => {
                let mut i = pos + 1;
                loop {
                    i = find_marked(input, i, &QUOTE_OR_BACKSLASH, quote_or_backslash_hits);
                    match input.get(i) {
                        Some(b'"') => return Ok(i + 1),
                        Some(_) => i += 2,
                        // At the opening quote, as before the rewrite (`i` can
                        // be past the end after a final backslash).
                        None => return Err(self.fail(pos, "unterminated string")),
                    }
                }
            }
            Some(b'{') => self.skip_brackets(pos + 1, b'}'),
            Some(b'[') => self.skip_brackets(pos + 1, b']'),
            Some(_) => self.scalar(pos).map(|(_, end)| end),
            None => Err(self.fail(pos, "unexpected end of input")),
        }
    }

    /// Skips from `pos` to just after the `close` that ends the container
    /// being skipped, keeping brackets opened on the way balanced.
    fn skip_brackets(&mut self, pos: usize, close: u8) -> Result<usize, Fail> {
        let input = self.input;
        let brackets = &mut self.out.brackets;
        brackets.clear();
        brackets.push(close);
        let mut i = pos;
        loop {
            i = find_marked(input, i, &STRUCTURAL, structural_hits);
            let Some(&b) = input.get(i) else { break };
            match b {
                b'"' => loop {
                    i = find_marked(input, i + 1, &QUOTE_OR_BACKSLASH, quote_or_backslash_hits);
                    match input.get(i) {
                        Some(b'"') => break,
                        Some(_) => i += 1,
                        None => return Err(self.fail(i, "unterminated string")),
                    }
                },
                b'{' => brackets.push(b'}'),
                b'[' => brackets.push(b']'),
                close => {
                    if brackets.pop() != Some(close) {
                        return Err(self.fail(i, "mismatched bracket"));
                    }
                    if brackets.is_empty() {
                        return Ok(i + 1);
                    }
                }
            }
            i += 1;
        }
        Err(self.fail(i, "unexpected end of input"))
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

    /// By field id, and in event order within a field.
    fn leaves(input: &str, t: &PathTrie) -> Collected {
        let mut out = Flattened::default();
        let fields = u32::try_from(t.node_count()).expect("small trie");
        flatten(input.as_bytes(), t, fields as usize, &mut out).expect("valid event");
        (0..fields)
            .flat_map(|f| out.leaves_of(f))
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
    fn escaped_keys_and_any_whitespace_are_read_like_plain_ones() {
        let t = trie(&[&["ab", "c"], &["d"]]);
        let got = leaves(
            "{\n\t\"x\" :\r\n [1, {\"y\": \"}\"}] ,\"a\\u0062\"\t: { \"c\"  :  7 } , \"d\":\"\\\"q\"\n}\n",
            &t,
        );
        assert_eq!(
            got,
            vec![
                (0, Kind::Number, "7".to_owned(), vec![]),
                (1, Kind::String, "\"q".to_owned(), vec![]),
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
        let t = trie(&[&["a"], &["c"]]);
        // After `a` and `c` the root is done: what follows is not read, so
        // even a broken tail is not an error.
        let got = leaves(r#"{"a": {"z": [2, "}"]}, "c": "x", "d": [1, 2, oops"#, &t);
        assert_eq!(got.len(), 1);
        // The last named key inside nested objects ends the scan at once.
        let t2 = trie(&[&["x", "y"], &["x", "z"]]);
        let nested = r#"{"x": {"y": {"q": 1}, "z": 1, "w": [broken"#;
        let mut out = Flattened::default();
        // No key with a dot follows, so nothing after can name a path.
        assert!(flatten(nested.as_bytes(), &t2, 2, &mut out).is_ok());
        let t2 = trie(&[&["x", "y"]]);
        assert!(flatten(br#"{"x": {"y": 1}, "w": [broken"#, &t2, 1, &mut out).is_ok());
        assert_eq!(leaves(r#"{"x": {"y": 1, "z": [1]}, "w": 0}"#, &t2).len(), 1);
        // A later key with a dot (even an escaped one) can: no stop then.
        assert!(flatten(br#"{"x": {"y": 1}, "x.y": [broken"#, &t2, 1, &mut out).is_err());
        assert_eq!(
            leaves(r#"{"x": {"y": 1}, "w": {"q": 0}, "x.y": 2}"#, &t2).len(),
            2
        );
        assert_eq!(leaves(r#"{"x": {"y": 1}, "x\u002ey" : 2}"#, &t2).len(), 2);
        assert_eq!(
            leaves(r#"{"x": {"y": 1, "q": {"a.b": 0}}, "x.y" : 3}"#, &t2).len(),
            2
        );
        // A key with an escaped quote before its dot is still read.
        assert!(flatten(br#"{"x": {"y": 1}, "x.y\"q": [broken"#, &t2, 1, &mut out).is_err());
        // A dot in a value or a number is no key.
        assert!(
            flatten(
                br#"{"x": {"y": 1}, "w": ["a.b", 1.5, "c:d"], oops"#,
                &t2,
                1,
                &mut out
            )
            .is_ok()
        );
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
    fn dotted_keys_walk_one_segment_per_dot() {
        let t = trie(&[&["a", "b"], &["a", "b", "c"], &["d"]]);
        let got = leaves(
            r#"{"a.b": 1, "a": {"b": 2, "b.c": 3}, "a.b.c": [4], "a.x": 5, "d.": 6, "d": 7}"#,
            &t,
        );
        let values: Vec<(u32, &str)> = got.iter().map(|l| (l.0, l.2.as_str())).collect();
        assert_eq!(
            values,
            vec![(0, "1"), (0, "2"), (1, "3"), (1, "4"), (2, "7")]
        );
        // An escaped dot is a dot: the key is compared unescaped.
        assert_eq!(leaves(r#"{"a\u002eb": 8}"#, &t).len(), 1);
        // A dotted key after its first segment has been read is still read.
        let t = trie(&[&["a", "b"], &["c"]]);
        assert_eq!(leaves(r#"{"a": {"x": 0}, "c": 1, "a.b": 2}"#, &t).len(), 2);
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
            assert!(flatten(bad.as_bytes(), &t, 1, &mut out).is_err(), "{bad}");
        }
        assert_eq!(
            flatten(b"[1]", &t, 1, &mut out),
            Err(EventError::NotAnObject)
        );
        // A skipped string left open is reported at its opening quote.
        for open in [r#"{"x": "abc"#, "{\"x\": \"abc\\"] {
            assert_eq!(
                flatten(open.as_bytes(), &t, 1, &mut out),
                Err(EventError::InvalidJson {
                    offset: 6,
                    reason: "unterminated string"
                }),
                "{open}"
            );
        }
        let huge = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_EVENT_BYTES));
        assert_eq!(
            flatten(huge.as_bytes(), &t, 1, &mut out),
            Err(EventError::TooLarge {
                limit: MAX_EVENT_BYTES
            })
        );
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(300), "]".repeat(300));
        assert_eq!(
            flatten(deep.as_bytes(), &t, 1, &mut out),
            Err(EventError::TooDeep { limit: MAX_DEPTH })
        );
    }
}
