//! The value matcher of one (state, field) of the automaton: every predicate
//! that any rule applies to that field at that point, indexed by kind, mapping
//! an event value to the next states it reaches.
//!
//! Exact strings, numbers (by value and by literal) and folded strings are hash
//! lookups; prefixes and suffixes one lookup per distinct length; ranges and
//! CIDR blocks one binary search; wildcards are found by their literal head or
//! tail and then checked. Only `anything-but` is checked per distinct
//! exclusion, and identical exclusions are shared.
//!
//! A [`ValueMatcherBuilder`] collects the predicates; `build` keeps only the
//! indexes that hold something, as a short list of operations. Matching an
//! event value reads that list and the indexes on it, nothing else: with
//! thousands of rules the automaton is larger than the L1 cache, and every
//! empty index a lookup had to look at was a cache line read for nothing.

use super::casefold::fold_into;
use super::cidr::{Ip, parse_ip};
use super::index::{AffixIndex, FxMap, RangeIndex, Targets, TextMap};
use super::number::{numeric_value, order_key};
use super::predicate::{AnythingBut, Literal, Predicate};
use super::scanner::Kind;
use super::wildcard::Wildcard;

/// Collects the predicates of one (state, field); targets may repeat.
#[derive(Debug, Default)]
pub(crate) struct ValueMatcherBuilder {
    strings: TextMap<Vec<u32>>,
    literals: [Vec<u32>; 3],
    number_text: TextMap<Vec<u32>>,
    number_equals: FxMap<u64, Vec<u32>>,
    ranges: RangeIndex<u64>,
    prefixes: AffixIndex<Vec<u32>>,
    suffixes: AffixIndex<Vec<u32>>,
    ignore_case: TextMap<Vec<u32>>,
    prefixes_ignore_case: AffixIndex<Vec<u32>>,
    suffixes_ignore_case: AffixIndex<Vec<u32>>,
    wildcards_by_head: AffixIndex<Vec<(Wildcard, Vec<u32>)>>,
    wildcards_by_tail: AffixIndex<Vec<(Wildcard, Vec<u32>)>>,
    wildcards_other: Vec<(Wildcard, Vec<u32>)>,
    cidr_v4: RangeIndex<u128>,
    cidr_v6: RangeIndex<u128>,
    exists: Vec<u32>,
    anything_but: Vec<(AnythingBut, Vec<u32>)>,
}

/// The compiled value matcher: the non-empty indexes, in the order they are
/// probed, and which derived forms of a value (case-folded, numeric) they use.
#[derive(Debug)]
pub(crate) struct ValueMatcher {
    ops: Box<[Op]>,
    needs_fold: bool,
    needs_number: bool,
}

type WildcardList = Box<[(Wildcard, Targets)]>;

/// One non-empty index of a value matcher.
#[derive(Debug)]
enum Op {
    /// `exists: true`: every value.
    Exists(Targets),
    Literal(Kind, Targets),
    Strings(TextMap<Targets>),
    Prefixes(AffixIndex<Targets>),
    Suffixes(AffixIndex<Targets>),
    WildcardsByHead(Box<AffixIndex<WildcardList>>),
    WildcardsByTail(Box<AffixIndex<WildcardList>>),
    WildcardsOther(WildcardList),
    /// The tables below are keyed by folded text.
    IgnoreCase(TextMap<Targets>),
    PrefixesIgnoreCase(AffixIndex<Targets>),
    SuffixesIgnoreCase(AffixIndex<Targets>),
    NumberText(TextMap<Targets>),
    NumberEquals(FxMap<u64, Targets>),
    Ranges(Box<RangeIndex<u64>>),
    /// IPv4 and IPv6 blocks (either may be empty): the value is parsed once.
    Cidr(Box<[RangeIndex<u128>; 2]>),
    AnythingBut(Box<[(AnythingBut, Targets)]>),
}

/// Values up to this long (and ASCII) are case-folded on the stack.
const SHORT_FOLD: usize = 16;

/// Per-call buffers, reused across values.
#[derive(Debug, Default)]
pub(crate) struct ValueScratch {
    folded: Vec<u8>,
}

/// Appends `targets` to `out`. Most target lists hold one state (or none), and
/// a one-element `extend_from_slice` still goes through `memcpy`.
#[inline]
fn add_targets(out: &mut Vec<u32>, targets: &[u32]) {
    match targets {
        [] => {}
        [one] => out.push(*one),
        _ => out.extend_from_slice(targets),
    }
}

fn literal_slot(literal: Literal) -> usize {
    match literal {
        Literal::True => 0,
        Literal::False => 1,
        Literal::Null => 2,
    }
}

fn push_wildcard(list: &mut Vec<(Wildcard, Vec<u32>)>, wildcard: &Wildcard, target: u32) {
    match list.iter_mut().find(|(w, _)| w == wildcard) {
        Some((_, targets)) => targets.push(target),
        None => list.push((wildcard.clone(), vec![target])),
    }
}

/// The compiled table, or `None` when it holds nothing.
fn text_map(map: TextMap<Vec<u32>>) -> Option<TextMap<Targets>> {
    let map = map.filter_map(Targets::new);
    (!map.is_empty()).then_some(map)
}

fn wildcard_list(list: Vec<(Wildcard, Vec<u32>)>) -> Option<WildcardList> {
    let list: Vec<_> = list
        .into_iter()
        .filter_map(|(w, v)| Targets::new(v).map(|t| (w, t)))
        .collect();
    (!list.is_empty()).then(|| list.into())
}

impl ValueMatcherBuilder {
    pub(crate) fn add(&mut self, predicate: &Predicate, target: u32) {
        match predicate {
            Predicate::String(s) => self.strings.entry_or_default(s.as_bytes()).push(target),
            Predicate::Literal(l) => self.literals[literal_slot(*l)].push(target),
            Predicate::NumberText(t) => {
                self.number_text.entry_or_default(t.as_bytes()).push(target)
            }
            Predicate::NumberEquals(key) => {
                self.number_equals.entry(*key).or_default().push(target);
            }
            Predicate::Range(range) => {
                self.ranges.add(
                    range.lower.map(|b| (b.key, b.inclusive)),
                    range.upper.map(|b| (b.key, b.inclusive)),
                    target,
                );
            }
            Predicate::Prefix(p) => self.prefixes.entry(p.as_bytes()).push(target),
            Predicate::Suffix(s) => self.suffixes.entry(s.as_bytes()).push(target),
            Predicate::EqualsIgnoreCase(f) => {
                self.ignore_case.entry_or_default(f.as_bytes()).push(target);
            }
            Predicate::PrefixIgnoreCase(f) => {
                self.prefixes_ignore_case.entry(f.as_bytes()).push(target);
            }
            Predicate::SuffixIgnoreCase(f) => {
                self.suffixes_ignore_case.entry(f.as_bytes()).push(target);
            }
            Predicate::Wildcard(w) => {
                if !w.head().is_empty() {
                    push_wildcard(self.wildcards_by_head.entry(w.head()), w, target);
                } else if !w.tail().is_empty() {
                    push_wildcard(self.wildcards_by_tail.entry(w.tail()), w, target);
                } else {
                    push_wildcard(&mut self.wildcards_other, w, target);
                }
            }
            Predicate::Cidr(block) => {
                let index = if block.v6 {
                    &mut self.cidr_v6
                } else {
                    &mut self.cidr_v4
                };
                index.add(Some((block.low, true)), Some((block.high, true)), target);
            }
            Predicate::Exists => self.exists.push(target),
            Predicate::AnythingBut(ab) => match self.anything_but.iter_mut().find(|(a, _)| a == ab)
            {
                Some((_, targets)) => targets.push(target),
                None => self.anything_but.push((ab.clone(), vec![target])),
            },
        }
    }

    /// The compiled matcher: only the indexes that hold something.
    pub(crate) fn build(self) -> ValueMatcher {
        let mut ops = Vec::new();
        ops.extend(Targets::new(self.exists).map(Op::Exists));
        let [t, f, n] = self.literals;
        for (kind, list) in [(Kind::True, t), (Kind::False, f), (Kind::Null, n)] {
            ops.extend(Targets::new(list).map(|t| Op::Literal(kind, t)));
        }
        let affixes = |index: AffixIndex<Vec<u32>>| {
            let index = index.filter_map(Targets::new);
            (!index.is_empty()).then_some(index)
        };
        let wildcards = |index: AffixIndex<Vec<(Wildcard, Vec<u32>)>>| {
            let index = index.filter_map(wildcard_list);
            (!index.is_empty()).then(|| Box::new(index))
        };
        ops.extend(text_map(self.strings).map(Op::Strings));
        ops.extend(affixes(self.prefixes).map(Op::Prefixes));
        ops.extend(affixes(self.suffixes).map(Op::Suffixes));
        ops.extend(wildcards(self.wildcards_by_head).map(Op::WildcardsByHead));
        ops.extend(wildcards(self.wildcards_by_tail).map(Op::WildcardsByTail));
        ops.extend(wildcard_list(self.wildcards_other).map(Op::WildcardsOther));
        ops.extend(text_map(self.ignore_case).map(Op::IgnoreCase));
        ops.extend(affixes(self.prefixes_ignore_case).map(Op::PrefixesIgnoreCase));
        ops.extend(affixes(self.suffixes_ignore_case).map(Op::SuffixesIgnoreCase));
        ops.extend(text_map(self.number_text).map(Op::NumberText));
        let number_equals: FxMap<u64, Targets> = self
            .number_equals
            .into_iter()
            .filter_map(|(k, v)| Targets::new(v).map(|t| (k, t)))
            .collect();
        if !number_equals.is_empty() {
            ops.push(Op::NumberEquals(number_equals));
        }
        // (A finished range index always has one segment: test before.)
        let mut ranges = self.ranges;
        if !ranges.is_empty() {
            ranges.finish();
            ops.push(Op::Ranges(Box::new(ranges)));
        }
        let (mut v4, mut v6) = (self.cidr_v4, self.cidr_v6);
        if !v4.is_empty() || !v6.is_empty() {
            v4.finish();
            v6.finish();
            ops.push(Op::Cidr(Box::new([v4, v6])));
        }
        let anything_but: Vec<_> = self
            .anything_but
            .into_iter()
            .filter_map(|(a, v)| Targets::new(v).map(|t| (a, t)))
            .collect();
        if !anything_but.is_empty() {
            ops.push(Op::AnythingBut(anything_but.into()));
        }
        let needs_fold = ops.iter().any(|op| match op {
            Op::IgnoreCase(_) | Op::PrefixesIgnoreCase(_) | Op::SuffixesIgnoreCase(_) => true,
            Op::AnythingBut(list) => list
                .iter()
                .any(|(a, _)| matches!(a, AnythingBut::IgnoreCase(_))),
            _ => false,
        });
        let needs_number = ops.iter().any(|op| match op {
            Op::NumberEquals(_) | Op::Ranges(_) => true,
            Op::AnythingBut(list) => list
                .iter()
                .any(|(a, _)| matches!(a, AnythingBut::Numbers(_))),
            _ => false,
        });
        ValueMatcher {
            ops: ops.into(),
            needs_fold,
            needs_number,
        }
    }
}

impl ValueMatcher {
    /// Appends the targets `value` reaches to `out` (possibly with repeats).
    pub(crate) fn matches(
        &self,
        kind: Kind,
        value: &[u8],
        scratch: &mut ValueScratch,
        out: &mut Vec<u32>,
    ) {
        let is_string = kind == Kind::String;
        let mut short = [0u8; SHORT_FOLD];
        let folded: Option<&[u8]> = if self.needs_fold && is_string {
            if value.len() <= SHORT_FOLD && value.is_ascii() {
                // Most compared values are short ASCII words: fold them in a
                // fixed buffer, one fixed-size pass, no vector to grow.
                short[..value.len()].copy_from_slice(value);
                short.make_ascii_lowercase();
                Some(&short[..value.len()])
            } else {
                scratch.folded.clear();
                fold_into(value, &mut scratch.folded);
                Some(&scratch.folded)
            }
        } else {
            None
        };
        let number = if self.needs_number && kind == Kind::Number {
            std::str::from_utf8(value).ok().and_then(numeric_value)
        } else {
            None
        };
        for op in &self.ops {
            match op {
                Op::Exists(t) => t.add_to(out),
                Op::Literal(literal, t) => {
                    if *literal == kind {
                        t.add_to(out);
                    }
                }
                Op::Strings(map) => {
                    if is_string && let Some(t) = map.get(value) {
                        t.add_to(out);
                    }
                }
                Op::Prefixes(index) => {
                    if is_string {
                        index.for_each_prefix(value, |t| t.add_to(out));
                    }
                }
                Op::Suffixes(index) => {
                    if is_string {
                        index.for_each_suffix(value, |t| t.add_to(out));
                    }
                }
                Op::WildcardsByHead(index) => {
                    if is_string {
                        index.for_each_prefix(value, |list| check_wildcards(list, value, out));
                    }
                }
                Op::WildcardsByTail(index) => {
                    if is_string {
                        index.for_each_suffix(value, |list| check_wildcards(list, value, out));
                    }
                }
                Op::WildcardsOther(list) => {
                    if is_string {
                        check_wildcards(list, value, out);
                    }
                }
                Op::IgnoreCase(map) => {
                    if let Some(t) = folded.and_then(|f| map.get(f)) {
                        t.add_to(out);
                    }
                }
                Op::PrefixesIgnoreCase(index) => {
                    if let Some(f) = folded {
                        index.for_each_prefix(f, |t| t.add_to(out));
                    }
                }
                Op::SuffixesIgnoreCase(index) => {
                    if let Some(f) = folded {
                        index.for_each_suffix(f, |t| t.add_to(out));
                    }
                }
                Op::NumberText(map) => {
                    if kind == Kind::Number
                        && let Some(t) = map.get(value)
                    {
                        t.add_to(out);
                    }
                }
                Op::NumberEquals(map) => {
                    if let Some(t) = number.and_then(|n| map.get(&order_key(n))) {
                        t.add_to(out);
                    }
                }
                Op::Ranges(index) => {
                    if let Some(n) = number {
                        add_targets(out, index.lookup(order_key(n)));
                    }
                }
                Op::Cidr(blocks) => {
                    let [v4, v6] = &**blocks;
                    match ip_of(is_string, value) {
                        Some(Ip::V4(ip)) => add_targets(out, v4.lookup(ip)),
                        Some(Ip::V6(ip)) => add_targets(out, v6.lookup(ip)),
                        None => {}
                    }
                }
                Op::AnythingBut(list) => {
                    for (anything_but, t) in list.iter() {
                        if !excludes(anything_but, kind, value, number, folded) {
                            t.add_to(out);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn approx_memory_bytes(&self) -> usize {
        let targets = |t: &Targets| 16 + if t.len() > 1 { 4 * t.len() } else { 0 };
        let text_key = |k: &[u8]| if k.len() > 22 { k.len() } else { 0 };
        let map_bytes = |m: &TextMap<Targets>| {
            m.iter()
                .map(|(k, v)| 24 + text_key(k) + targets(v) + 1)
                .sum::<usize>()
        };
        let affix = |a: &AffixIndex<Targets>| {
            a.values()
                .map(|(k, v)| 24 + text_key(k) + targets(v) + 1)
                .sum::<usize>()
        };
        let wildcards = |list: &WildcardList| 16 + 80 * list.len();
        let wildcard_affix = |a: &AffixIndex<WildcardList>| {
            a.values()
                .map(|(k, v)| 24 + text_key(k) + wildcards(v) + 1)
                .sum::<usize>()
        };
        std::mem::size_of::<Self>()
            + self
                .ops
                .iter()
                .map(|op| {
                    std::mem::size_of::<Op>()
                        + match op {
                            Op::Exists(t) | Op::Literal(_, t) => targets(t),
                            Op::Strings(m) | Op::IgnoreCase(m) | Op::NumberText(m) => map_bytes(m),
                            Op::Prefixes(a)
                            | Op::Suffixes(a)
                            | Op::PrefixesIgnoreCase(a)
                            | Op::SuffixesIgnoreCase(a) => affix(a),
                            Op::WildcardsByHead(a) | Op::WildcardsByTail(a) => wildcard_affix(a),
                            Op::WildcardsOther(list) => wildcards(list),
                            Op::NumberEquals(m) => {
                                m.values().map(|v| 8 + targets(v) + 1).sum::<usize>()
                            }
                            Op::Ranges(r) => r.approx_memory_bytes(),
                            Op::Cidr(blocks) => {
                                blocks.iter().map(RangeIndex::approx_memory_bytes).sum()
                            }
                            Op::AnythingBut(list) => 64 * list.len(),
                        }
                })
                .sum::<usize>()
    }
}

/// The IP address in a string value, for `cidr`.
#[inline]
fn ip_of(is_string: bool, value: &[u8]) -> Option<Ip> {
    if !is_string {
        return None;
    }
    std::str::from_utf8(value).ok().and_then(parse_ip)
}

fn check_wildcards(list: &WildcardList, value: &[u8], out: &mut Vec<u32>) {
    for (wildcard, targets) in list.iter() {
        if wildcard.is_match(value) {
            targets.add_to(out);
        }
    }
}

/// Whether `anything-but` rejects this value: only a value of the exclusion's
/// own kind can be excluded (aws/event-ruler ByteMachine: a string exclusion
/// never rejects a number, `null` or a boolean, and vice versa).
fn excludes(
    anything_but: &AnythingBut,
    kind: Kind,
    value: &[u8],
    number: Option<f64>,
    folded: Option<&[u8]>,
) -> bool {
    match anything_but {
        AnythingBut::Numbers(keys) => {
            kind == Kind::Number
                && number.is_some_and(|n| keys.binary_search(&order_key(n)).is_ok())
        }
        _ if kind != Kind::String => false,
        AnythingBut::Strings(texts) => texts.binary_search_by(|t| t.as_bytes().cmp(value)).is_ok(),
        AnythingBut::Prefixes(texts) => texts.iter().any(|t| value.starts_with(t.as_bytes())),
        AnythingBut::Suffixes(texts) => texts.iter().any(|t| value.ends_with(t.as_bytes())),
        AnythingBut::IgnoreCase(texts) => {
            folded.is_some_and(|f| texts.binary_search_by(|t| t.as_bytes().cmp(f)).is_ok())
        }
        AnythingBut::Wildcards(wildcards) => wildcards.iter().any(|w| w.is_match(value)),
    }
}
