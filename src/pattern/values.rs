//! The value matcher of one (state, field) of the automaton: every predicate
//! that any rule applies to that field at that point, indexed by kind, mapping
//! an event value to the next states it reaches.
//!
//! Exact strings, numbers (by value and by literal) and folded strings are hash
//! lookups; prefixes and suffixes one lookup per distinct length; ranges and
//! CIDR blocks one binary search; wildcards are found by their literal head or
//! tail and then checked. Only `anything-but` is checked per distinct
//! exclusion, and identical exclusions are shared.

use super::casefold::fold_into;
use super::cidr::{Ip, parse_ip};
use super::index::{AffixIndex, FxMap, RangeIndex};
use super::number::{numeric_value, order_key};
use super::predicate::{AnythingBut, Literal, Predicate};
use super::scanner::Kind;
use super::wildcard::Wildcard;

type Targets = Vec<u32>;

#[derive(Debug, Default)]
pub(crate) struct ValueMatcher {
    strings: FxMap<Box<[u8]>, Targets>,
    literals: [Targets; 3],
    number_text: FxMap<Box<[u8]>, Targets>,
    number_equals: FxMap<u64, Targets>,
    ranges: RangeIndex<u64>,
    prefixes: AffixIndex<Targets>,
    suffixes: AffixIndex<Targets>,
    ignore_case: FxMap<Box<[u8]>, Targets>,
    prefixes_ignore_case: AffixIndex<Targets>,
    suffixes_ignore_case: AffixIndex<Targets>,
    wildcards_by_head: AffixIndex<Vec<(Wildcard, Targets)>>,
    wildcards_by_tail: AffixIndex<Vec<(Wildcard, Targets)>>,
    wildcards_other: Vec<(Wildcard, Targets)>,
    cidr_v4: RangeIndex<u128>,
    cidr_v6: RangeIndex<u128>,
    exists: Targets,
    anything_but: Vec<(AnythingBut, Targets)>,
    needs_number: bool,
    needs_fold: bool,
    needs_ip: bool,
    has_strings: bool,
}

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

fn push_wildcard(list: &mut Vec<(Wildcard, Targets)>, wildcard: &Wildcard, target: u32) {
    match list.iter_mut().find(|(w, _)| w == wildcard) {
        Some((_, targets)) => targets.push(target),
        None => list.push((wildcard.clone(), vec![target])),
    }
}

impl ValueMatcher {
    pub(crate) fn add(&mut self, predicate: &Predicate, target: u32) {
        match predicate {
            Predicate::String(s) => self
                .strings
                .entry(s.as_bytes().into())
                .or_default()
                .push(target),
            Predicate::Literal(l) => self.literals[literal_slot(*l)].push(target),
            Predicate::NumberText(t) => self
                .number_text
                .entry(t.as_bytes().into())
                .or_default()
                .push(target),
            Predicate::NumberEquals(key) => {
                self.needs_number = true;
                self.number_equals.entry(*key).or_default().push(target);
            }
            Predicate::Range(range) => {
                self.needs_number = true;
                self.ranges.add(
                    range.lower.map(|b| (b.key, b.inclusive)),
                    range.upper.map(|b| (b.key, b.inclusive)),
                    target,
                );
            }
            Predicate::Prefix(p) => self.prefixes.entry(p.as_bytes()).push(target),
            Predicate::Suffix(s) => self.suffixes.entry(s.as_bytes()).push(target),
            Predicate::EqualsIgnoreCase(f) => {
                self.needs_fold = true;
                self.ignore_case
                    .entry(f.as_bytes().into())
                    .or_default()
                    .push(target);
            }
            Predicate::PrefixIgnoreCase(f) => {
                self.needs_fold = true;
                self.prefixes_ignore_case.entry(f.as_bytes()).push(target);
            }
            Predicate::SuffixIgnoreCase(f) => {
                self.needs_fold = true;
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
                self.needs_ip = true;
                let index = if block.v6 {
                    &mut self.cidr_v6
                } else {
                    &mut self.cidr_v4
                };
                index.add(Some((block.low, true)), Some((block.high, true)), target);
            }
            Predicate::Exists => self.exists.push(target),
            Predicate::AnythingBut(ab) => {
                if matches!(ab, AnythingBut::Numbers(_)) {
                    self.needs_number = true;
                }
                if matches!(ab, AnythingBut::IgnoreCase(_)) {
                    self.needs_fold = true;
                }
                match self.anything_but.iter_mut().find(|(a, _)| a == ab) {
                    Some((_, targets)) => targets.push(target),
                    None => self.anything_but.push((ab.clone(), vec![target])),
                }
            }
        }
    }

    /// Call once after the last `add`.
    pub(crate) fn finish(&mut self) {
        self.ranges.finish();
        self.cidr_v4.finish();
        self.cidr_v6.finish();
        self.has_strings = !self.strings.is_empty()
            || !self.prefixes.is_empty()
            || !self.suffixes.is_empty()
            || !self.wildcards_by_head.is_empty()
            || !self.wildcards_by_tail.is_empty()
            || !self.wildcards_other.is_empty();
    }

    /// Appends the targets `value` reaches to `out` (possibly with repeats).
    pub(crate) fn matches(
        &self,
        kind: Kind,
        value: &[u8],
        scratch: &mut ValueScratch,
        out: &mut Vec<u32>,
    ) {
        add_targets(out, &self.exists);
        let mut number = None;
        let mut folded = false;
        match kind {
            Kind::String => {
                if self.has_strings {
                    self.match_string(value, out);
                }
                if self.needs_fold {
                    scratch.folded.clear();
                    fold_into(value, &mut scratch.folded);
                    folded = true;
                    self.match_folded(&scratch.folded, out);
                }
                if self.needs_ip {
                    self.match_ip(value, out);
                }
            }
            Kind::Number => {
                if let Some(t) = self.number_text.get(value) {
                    add_targets(out, t);
                }
                if self.needs_number {
                    number = std::str::from_utf8(value).ok().and_then(numeric_value);
                    if let Some(n) = number {
                        let key = order_key(n);
                        if let Some(t) = self.number_equals.get(&key) {
                            add_targets(out, t);
                        }
                        if !self.ranges.is_empty() {
                            add_targets(out, self.ranges.lookup(key));
                        }
                    }
                }
            }
            Kind::True => add_targets(out, &self.literals[0]),
            Kind::False => add_targets(out, &self.literals[1]),
            Kind::Null => add_targets(out, &self.literals[2]),
        }
        for (anything_but, targets) in &self.anything_but {
            let folded = if folded {
                Some(&scratch.folded[..])
            } else {
                None
            };
            if !excludes(anything_but, kind, value, number, folded) {
                add_targets(out, targets);
            }
        }
    }

    fn match_string(&self, value: &[u8], out: &mut Vec<u32>) {
        probe_text(&self.strings, &self.prefixes, &self.suffixes, value, out);
        let mut check = |list: &Vec<(Wildcard, Targets)>| {
            for (wildcard, targets) in list {
                if wildcard.is_match(value) {
                    add_targets(out, targets);
                }
            }
        };
        if !self.wildcards_by_head.is_empty() {
            self.wildcards_by_head.for_each_prefix(value, &mut check);
        }
        if !self.wildcards_by_tail.is_empty() {
            self.wildcards_by_tail.for_each_suffix(value, &mut check);
        }
        check(&self.wildcards_other);
    }

    fn match_folded(&self, folded: &[u8], out: &mut Vec<u32>) {
        probe_text(
            &self.ignore_case,
            &self.prefixes_ignore_case,
            &self.suffixes_ignore_case,
            folded,
            out,
        );
    }

    fn match_ip(&self, value: &[u8], out: &mut Vec<u32>) {
        let Some(ip) = std::str::from_utf8(value).ok().and_then(parse_ip) else {
            return;
        };
        match ip {
            Ip::V4(v) if !self.cidr_v4.is_empty() => add_targets(out, self.cidr_v4.lookup(v)),
            Ip::V6(v) if !self.cidr_v6.is_empty() => add_targets(out, self.cidr_v6.lookup(v)),
            _ => {}
        }
    }

    pub(crate) fn approx_memory_bytes(&self) -> usize {
        let targets = |t: &Targets| 24 + 4 * t.len();
        let map_bytes = |m: &FxMap<Box<[u8]>, Targets>| {
            m.iter()
                .map(|(k, v)| 16 + k.len() + targets(v) + 8)
                .sum::<usize>()
        };
        let affix = |a: &AffixIndex<Targets>| {
            a.values()
                .map(|(k, v)| 16 + k.len() + targets(v) + 8)
                .sum::<usize>()
        };
        std::mem::size_of::<Self>()
            + map_bytes(&self.strings)
            + map_bytes(&self.number_text)
            + map_bytes(&self.ignore_case)
            + self
                .number_equals
                .values()
                .map(|v| 16 + targets(v))
                .sum::<usize>()
            + affix(&self.prefixes)
            + affix(&self.suffixes)
            + affix(&self.prefixes_ignore_case)
            + affix(&self.suffixes_ignore_case)
            + self.ranges.approx_memory_bytes()
            + self.cidr_v4.approx_memory_bytes()
            + self.cidr_v6.approx_memory_bytes()
            + self
                .wildcards_by_head
                .values()
                .map(|(k, v)| 40 + k.len() + 64 * v.len())
                .sum::<usize>()
            + self
                .wildcards_by_tail
                .values()
                .map(|(k, v)| 40 + k.len() + 64 * v.len())
                .sum::<usize>()
            + 64 * (self.wildcards_other.len() + self.anything_but.len())
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

/// Exact, prefix and suffix lookups of one text (raw or case-folded). Each index
/// is probed only when it holds something: calling into empty ones costs more
/// than the lookup that matters.
#[inline]
fn probe_text(
    exact: &FxMap<Box<[u8]>, Targets>,
    prefixes: &AffixIndex<Targets>,
    suffixes: &AffixIndex<Targets>,
    text: &[u8],
    out: &mut Vec<u32>,
) {
    if !exact.is_empty()
        && let Some(t) = exact.get(text)
    {
        add_targets(out, t);
    }
    if !prefixes.is_empty() {
        prefixes.for_each_prefix(text, |t| add_targets(out, t));
    }
    if !suffixes.is_empty() {
        suffixes.for_each_suffix(text, |t| add_targets(out, t));
    }
}
