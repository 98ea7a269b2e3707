//! The compiled matcher: all rules of a bus as one immutable automaton over
//! field paths and values ([`MatcherBuilder`] collects, `build` compiles,
//! [`Matcher::matches`] runs).
//!
//! Every `$or` combination of every rule is a chain of conditions on fields in
//! path order; the chains share their common beginnings, and identical
//! conditions are one edge, so the automaton is a trie of conditions. Each state
//! holds, per field, one [`ValueMatcher`] indexing every condition leaving it.
//! Matching walks from the start state: for each field a state tests, each
//! event value of that field is looked up once and leads to the next states.
//! The work per event depends on the event and on how many rule chains it
//! actually advances, not on the number of rules.
//!
//! Array consistency (aws/event-ruler): values of fields under the same array
//! of objects must come from the same element. Each walk step carries the
//! (array, element) pairs of the values chosen so far; a value from another
//! element of one of those arrays cannot extend the walk. A step keeps only the
//! arrays that some field still ahead of it can sit in; a step with none left
//! is the same whichever values led to it, so each state is entered at most
//! once that way per event (without this, fields under unrelated arrays would
//! multiply the walk).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

use super::error::EventError;
use super::parse::Pattern;
use super::paths::PathTrie;
use super::predicate::Condition;
use super::scanner::{ArrayPosition, Flattened, flatten};
use super::values::{ValueMatcher, ValueMatcherBuilder, ValueScratch};

/// Collects rules and their patterns; `build` compiles them.
#[derive(Debug)]
pub struct MatcherBuilder<R> {
    rules: Vec<R>,
    index: HashMap<R, u32>,
    patterns: Vec<(u32, Pattern)>,
}

impl<R: Clone + Eq + Hash> Default for MatcherBuilder<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// Compiled rules. Immutable, `Send + Sync`; share it behind an `Arc` and swap
/// the `Arc` to change rules.
#[derive(Debug)]
pub struct Matcher<R> {
    rule_count: usize,
    trie: PathTrie,
    field_count: usize,
    states: Vec<State>,
    /// The rules each state accepts, state after state (id and the rule
    /// itself): reporting a match reads memory the walk has just read, not a
    /// rule table at random.
    accepts: Box<[(u32, R)]>,
}

/// A state of the automaton: boxed slices, not vectors, and its accepted rules
/// as a run of a shared array, 56 bytes in all, so a state spans at most two
/// cache lines. With thousands of rules the
/// states a walk enters are far apart in memory, and every line a step reads
/// is likely a miss. (Aligning states to whole lines was tried: no better.)
#[derive(Debug)]
struct State {
    /// One value matcher per field tested here, in field order.
    fields: Box<[(u32, ValueMatcher)]>,
    /// Edges taken when the field has no value in the event (`exists: false`).
    absent: Box<[(u32, u32)]>,
    /// Rules whose pattern is satisfied on reaching this state: start and
    /// length of their run in `Matcher::accepts`.
    accepts: (u32, u32),
    /// Bitset over path-trie nodes: the paths (and their ancestors) of every
    /// field tested from here on. An array at another node cannot matter.
    relevant: Box<[u64]>,
}

/// A state while the automaton is built.
#[derive(Debug, Default)]
struct StateBuilder {
    fields: Vec<(u32, ValueMatcherBuilder)>,
    absent: Vec<(u32, u32)>,
    accepts: Vec<u32>,
    relevant: Vec<u64>,
}

impl State {
    fn is_relevant(&self, node: u32) -> bool {
        let node = node as usize;
        self.relevant
            .get(node / 64)
            .is_some_and(|w| w >> (node % 64) & 1 == 1)
    }
}

impl<R: Clone + Eq + Hash> MatcherBuilder<R> {
    pub fn new() -> Self {
        MatcherBuilder {
            rules: Vec::new(),
            index: HashMap::new(),
            patterns: Vec::new(),
        }
    }

    /// Adds `pattern` for `rule`. Adding a second pattern for the same rule
    /// makes the rule match when either does; a rule is reported once.
    pub fn add(&mut self, rule: R, pattern: &Pattern) {
        let next = u32::try_from(self.rules.len()).expect("fewer than 2^32 rules");
        let id = *self.index.entry(rule.clone()).or_insert_with(|| {
            self.rules.push(rule);
            next
        });
        self.patterns.push((id, pattern.clone()));
    }

    pub fn build(self) -> Matcher<R> {
        let mut trie = PathTrie::new();
        let mut field_count: u32 = 0;
        let mut conditions: HashMap<Condition, u32> = HashMap::new();
        let mut condition_list: Vec<&Condition> = Vec::new();
        let mut edges: HashMap<(u32, u32, u32), u32> = HashMap::new();
        let mut states: Vec<StateBuilder> = vec![StateBuilder::default()];
        for (rule, pattern) in &self.patterns {
            for branch in &pattern.branches {
                let mut state = 0u32;
                for (path, condition) in &branch.fields {
                    let field = trie.insert(path, field_count);
                    if field == field_count {
                        field_count += 1;
                    }
                    let next_condition =
                        u32::try_from(condition_list.len()).expect("fewer than 2^32 conditions");
                    let condition_id = *conditions.entry(condition.clone()).or_insert_with(|| {
                        condition_list.push(condition);
                        next_condition
                    });
                    let fresh = u32::try_from(states.len()).expect("fewer than 2^32 states");
                    state = *edges
                        .entry((state, field, condition_id))
                        .or_insert_with(|| {
                            states.push(StateBuilder::default());
                            fresh
                        });
                }
                states[state as usize].accepts.push(*rule);
            }
        }
        let mut edge_list: Vec<_> = edges.into_iter().collect();
        edge_list.sort_unstable();
        Self::mark_relevant(&trie, field_count, &edge_list, &mut states);
        for ((from, field, condition_id), to) in edge_list {
            let condition = condition_list[condition_id as usize];
            if !condition.predicates.is_empty() {
                let fields = &mut states[from as usize].fields;
                let at = match fields.iter().position(|(f, _)| *f == field) {
                    Some(at) => at,
                    None => {
                        fields.push((field, ValueMatcherBuilder::default()));
                        fields.len() - 1
                    }
                };
                for predicate in &condition.predicates {
                    fields[at].1.add(predicate, to);
                }
            }
            if condition.absent {
                states[from as usize].absent.push((field, to));
            }
        }
        let mut accepts: Vec<(u32, R)> = Vec::new();
        let states = states
            .into_iter()
            .map(|mut state| {
                state.accepts.sort_unstable();
                state.accepts.dedup();
                let start = u32::try_from(accepts.len()).expect("fewer than 2^32 accepts");
                let len = u32::try_from(state.accepts.len()).expect("fewer than 2^32 accepts");
                accepts.extend(
                    state
                        .accepts
                        .iter()
                        .map(|&id| (id, self.rules[id as usize].clone())),
                );
                State {
                    fields: state
                        .fields
                        .into_iter()
                        .map(|(field, builder)| (field, builder.build()))
                        .collect(),
                    absent: state.absent.into(),
                    accepts: (start, len),
                    relevant: state.relevant.into(),
                }
            })
            .collect();
        Matcher {
            rule_count: self.rules.len(),
            trie,
            field_count: field_count as usize,
            states,
            accepts: accepts.into(),
        }
    }
}

impl<R> MatcherBuilder<R> {
    /// Fills each state's `relevant` set. Edges always lead to a later state
    /// (states are created by the edge that first reaches them), so one pass
    /// from the last state back sees every successor before its predecessors.
    fn mark_relevant(
        trie: &PathTrie,
        field_count: u32,
        edges: &[((u32, u32, u32), u32)],
        states: &mut [StateBuilder],
    ) {
        let words = trie.node_count().div_ceil(64);
        let nodes: Vec<u32> = (0..field_count)
            .map(|f| {
                trie.node_of_field(f)
                    .expect("every field id has a trie node")
            })
            .collect();
        for state in states.iter_mut() {
            state.relevant = vec![0; words];
        }
        for &((from, field, _), to) in edges.iter().rev() {
            debug_assert!(to > from, "edges lead forward");
            let (before, after) = states.split_at_mut(to as usize);
            let target = &after[0].relevant;
            let source = &mut before[from as usize].relevant;
            for (s, t) in source.iter_mut().zip(target) {
                *s |= t;
            }
            for node in trie.ancestors(nodes[field as usize]) {
                source[node as usize / 64] |= 1 << (node % 64);
            }
        }
    }
}

/// Buffers reused across calls on one thread (the matcher itself is shared).
#[derive(Debug, Default)]
struct Scratch {
    flat: Flattened,
    stack: Vec<Frame>,
    /// Arena of the array positions the frames are bound to.
    constraints: Vec<ArrayPosition>,
    merged: Vec<ArrayPosition>,
    /// States entered with no array binding this event.
    visited: Visited,
    targets: Vec<u32>,
    /// Rules accepted: rule id in the high half, position in
    /// `Matcher::accepts` in the low half (so sorting orders by rule).
    accepted: Vec<u64>,
    values: ValueScratch,
}

/// A set of state ids cleared in O(1) per event: a state is in the set when
/// its stamp is the current epoch. (A hash set cost about 60 instructions per
/// insert, a tenth of a 10,000-rule walk.) The stamps outlive one matcher, as
/// the scratch is per thread: stamps of an earlier matcher are older epochs.
#[derive(Debug, Default)]
struct Visited {
    stamps: Vec<u32>,
    epoch: u32,
}

impl Visited {
    /// Empties the set, for state ids below `states`.
    fn clear(&mut self, states: usize) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamps.fill(0);
            self.epoch = 1;
        }
        if self.stamps.len() < states {
            self.stamps.resize(states, 0);
        }
    }

    /// Adds `state`; false if it was already in.
    fn insert(&mut self, state: u32) -> bool {
        let slot = &mut self.stamps[state as usize];
        if *slot == self.epoch {
            return false;
        }
        *slot = self.epoch;
        true
    }
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    state: u32,
    constraints_start: usize,
    constraints_len: usize,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<R: Clone> Matcher<R> {
    /// Every rule whose pattern matches `event_json` (a JSON object), each once,
    /// in the order rules were first added.
    ///
    /// The event is read only as far as the rules need: members no rule names
    /// are skipped with a light check (balanced brackets, terminated strings),
    /// and reading stops once every top-level key the rules name has been
    /// seen, so malformed JSON after that point is not reported, and a key
    /// repeated after that point is not seen. Events are validated on ingest;
    /// use [`test_event_pattern`](super::test_event_pattern) for a full check.
    pub fn matches(&self, event_json: &[u8]) -> Result<Vec<R>, EventError> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run(event_json, &mut scratch),
            Err(_) => self.run(event_json, &mut Scratch::default()),
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// Rough size of the compiled automaton in bytes (not counting the rules'
    /// own values).
    pub fn approx_memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.trie.approx_memory_bytes()
            + std::mem::size_of::<(u32, R)>() * self.accepts.len()
            + self
                .states
                .iter()
                .map(|s| {
                    std::mem::size_of::<State>()
                        + s.fields
                            .iter()
                            .map(|(_, m)| 8 + m.approx_memory_bytes())
                            .sum::<usize>()
                        + 8 * s.absent.len()
                        + 8 * s.relevant.len()
                })
                .sum::<usize>()
    }

    /// Pushes a walk step into `state`, bound to those of `positions` that a
    /// later field can share; an unbound step enters each state once.
    fn enter(
        &self,
        state: u32,
        positions: &[ArrayPosition],
        stack: &mut Vec<Frame>,
        constraints: &mut Vec<ArrayPosition>,
        visited: &mut Visited,
    ) {
        let target = &self.states[state as usize];
        let start = constraints.len();
        constraints.extend(positions.iter().filter(|p| target.is_relevant(p.node)));
        let len = constraints.len() - start;
        if len == 0 && !visited.insert(state) {
            return;
        }
        stack.push(Frame {
            state,
            constraints_start: start,
            constraints_len: len,
        });
    }

    fn run(&self, event: &[u8], scratch: &mut Scratch) -> Result<Vec<R>, EventError> {
        let Scratch {
            flat,
            stack,
            constraints,
            merged,
            visited,
            targets,
            accepted,
            values,
        } = scratch;
        flatten(event, &self.trie, self.field_count, flat)?;
        stack.clear();
        constraints.clear();
        accepted.clear();
        visited.clear(self.states.len());
        visited.insert(0);
        stack.push(Frame {
            state: 0,
            constraints_start: 0,
            constraints_len: 0,
        });
        while let Some(frame) = stack.pop() {
            let state = &self.states[frame.state as usize];
            let (start, len) = state.accepts;
            for (at, (rule, _)) in (start..).zip(&self.accepts[start as usize..][..len as usize]) {
                accepted.push(u64::from(*rule) << 32 | u64::from(at));
            }
            for (field, matcher) in &state.fields {
                for leaf in flat.leaves_of(*field) {
                    let leaf_arrays = flat.arrays(leaf);
                    let held = &constraints
                        [frame.constraints_start..frame.constraints_start + frame.constraints_len];
                    if !held.is_empty() && !consistent(held, leaf_arrays) {
                        continue;
                    }
                    targets.clear();
                    matcher.matches(leaf.kind, flat.bytes(event, leaf), values, targets);
                    if targets.is_empty() {
                        continue;
                    }
                    if targets.len() > 1 {
                        targets.sort_unstable();
                        targets.dedup();
                    }
                    merged.clear();
                    if !held.is_empty() || !leaf_arrays.is_empty() {
                        merged.extend_from_slice(held);
                        for position in leaf_arrays {
                            if !merged.iter().any(|m| m.array == position.array) {
                                merged.push(*position);
                            }
                        }
                    }
                    for &target in targets.iter() {
                        self.enter(target, merged, stack, constraints, visited);
                    }
                }
            }
            for &(field, next) in &state.absent {
                if flat.lacks(field) {
                    stack.push(Frame {
                        state: next,
                        ..frame
                    });
                }
            }
        }
        if accepted.len() > 1 {
            accepted.sort_unstable();
            accepted.dedup_by_key(|entry| *entry >> 32);
        }
        Ok(accepted
            .iter()
            .map(|&entry| self.accepts[accept_position(entry)].1.clone())
            .collect())
    }
}

/// The position in `Matcher::accepts` of an accepted entry (its low half).
#[inline]
#[allow(clippy::cast_possible_truncation)] // keeping the low half is the point
fn accept_position(entry: u64) -> usize {
    entry as u32 as usize
}

/// True unless the value sits in a different element of an array the walk has
/// already fixed.
#[inline]
fn consistent(held: &[ArrayPosition], value: &[ArrayPosition]) -> bool {
    value.iter().all(|v| {
        held.iter()
            .all(|h| h.array != v.array || h.element == v.element)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Limits;

    fn matcher(patterns: &[&str]) -> Matcher<usize> {
        let mut builder = MatcherBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            builder.add(i, &Pattern::parse(p, &Limits::default()).expect("valid"));
        }
        builder.build()
    }

    #[test]
    fn matcher_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Matcher<String>>();
    }

    #[test]
    fn values_under_unrelated_arrays_do_not_multiply_the_walk() {
        let values: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
        let list = values.join(", ");
        let event = format!(r#"{{"a": [{list}], "b": [{list}], "c": [{list}]}}"#);
        let m = matcher(&[
            r#"{"a": [{"exists": true}], "b": [{"numeric": [">", 19998]}], "c": [{"numeric": [">=", 0]}]}"#,
        ]);
        let started = std::time::Instant::now();
        assert_eq!(m.matches(event.as_bytes()).expect("valid"), vec![0]);
        // Without deduplication this is 20,000^2 steps; with it, one per value.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn one_field_with_ipv4_and_ipv6_blocks_matches_either_family() {
        let m = matcher(&[
            r#"{"ip": [{"cidr": "10.0.0.0/24"}, {"cidr": "2001:db8::/32"}]}"#,
            r#"{"ip": [{"cidr": "2001:db8:1::/48"}]}"#,
        ]);
        let hits = |ip: &str| {
            m.matches(format!(r#"{{"ip": "{ip}"}}"#).as_bytes())
                .expect("valid")
        };
        assert_eq!(hits("10.0.0.7"), vec![0]);
        assert_eq!(hits("2001:db8:1::5"), vec![0, 1]);
        assert_eq!(hits("2001:db8:2::5"), vec![0]);
        assert!(hits("10.0.1.7").is_empty());
        assert!(hits("not an address").is_empty());
    }

    #[test]
    fn equals_ignore_case_folds_short_long_and_non_ascii_values_alike() {
        let m = matcher(&[
            r#"{"s": [{"equals-ignore-case": "abcdefghijklmnop"}]}"#,
            r#"{"s": [{"equals-ignore-case": "abcdefghijklmnopq"}]}"#,
            r#"{"s": [{"equals-ignore-case": "ÄÖÜ-street"}]}"#,
            r#"{"s": [{"anything-but": {"equals-ignore-case": "x"}}]}"#,
        ]);
        let hits = |s: &str| {
            m.matches(format!(r#"{{"s": "{s}"}}"#).as_bytes())
                .expect("valid")
        };
        // 16 bytes (folded on the stack) and 17 (folded in the scratch vector).
        assert_eq!(hits("ABCDEFGHIJKLMNOP"), vec![0, 3]);
        assert_eq!(hits("AbCdEfGhIjKlMnOpQ"), vec![1, 3]);
        assert_eq!(hits("äöü-STREET"), vec![2, 3]);
        assert_eq!(hits("X"), Vec::<usize>::new());
        assert_eq!(hits("[]^_`{"), vec![3]);
    }

    #[test]
    fn fields_of_one_array_element_stay_bound_across_other_fields() {
        let m = matcher(&[r#"{"items": {"sku": ["A"], "qty": [2]}, "source": ["x"]}"#]);
        let miss = r#"{"source": "x", "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}"#;
        let hit = r#"{"source": "x", "items": [{"sku": "B", "qty": 1}, {"sku": "A", "qty": 2}]}"#;
        assert!(m.matches(miss.as_bytes()).expect("valid").is_empty());
        assert_eq!(m.matches(hit.as_bytes()).expect("valid"), vec![0]);
    }
}
