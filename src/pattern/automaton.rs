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
//! element of one of those arrays cannot extend the walk.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

use super::error::EventError;
use super::parse::Pattern;
use super::paths::PathTrie;
use super::predicate::Condition;
use super::scanner::{Flattened, flatten};
use super::values::{ValueMatcher, ValueScratch};

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
    rules: Vec<R>,
    trie: PathTrie,
    field_count: usize,
    states: Vec<State>,
}

#[derive(Debug, Default)]
struct State {
    /// One value matcher per field tested here, in field order.
    fields: Vec<(u32, ValueMatcher)>,
    /// Edges taken when the field has no value in the event (`exists: false`).
    absent: Vec<(u32, u32)>,
    /// Rules whose pattern is satisfied on reaching this state.
    accepts: Vec<u32>,
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
        let mut states: Vec<State> = vec![State::default()];
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
                            states.push(State::default());
                            fresh
                        });
                }
                states[state as usize].accepts.push(*rule);
            }
        }
        let mut edge_list: Vec<_> = edges.into_iter().collect();
        edge_list.sort_unstable();
        for ((from, field, condition_id), to) in edge_list {
            let condition = condition_list[condition_id as usize];
            let state = &mut states[from as usize];
            if !condition.predicates.is_empty() {
                let at = match state.fields.iter().position(|(f, _)| *f == field) {
                    Some(at) => at,
                    None => {
                        state.fields.push((field, ValueMatcher::default()));
                        state.fields.len() - 1
                    }
                };
                for predicate in &condition.predicates {
                    state.fields[at].1.add(predicate, to);
                }
            }
            if condition.absent {
                state.absent.push((field, to));
            }
        }
        for state in &mut states {
            for (_, matcher) in &mut state.fields {
                matcher.finish();
            }
            state.accepts.sort_unstable();
            state.accepts.dedup();
        }
        Matcher {
            rules: self.rules,
            trie,
            field_count: field_count as usize,
            states,
        }
    }
}

/// Buffers reused across calls on one thread (the matcher itself is shared).
#[derive(Debug, Default)]
struct Scratch {
    flat: Flattened,
    /// Per field id: the range of its leaves in `flat.leaves`.
    field_leaves: Vec<(usize, usize)>,
    stack: Vec<Frame>,
    /// Arena of (array id, element index) constraints of the frames.
    constraints: Vec<(u32, u32)>,
    targets: Vec<u32>,
    accepted: Vec<u32>,
    values: ValueScratch,
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
        self.rules.len()
    }

    /// Rough size of the compiled automaton in bytes (not counting the rules'
    /// own values).
    pub fn approx_memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.trie.approx_memory_bytes()
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
                        + 4 * s.accepts.len()
                })
                .sum::<usize>()
    }

    fn run(&self, event: &[u8], scratch: &mut Scratch) -> Result<Vec<R>, EventError> {
        let Scratch {
            flat,
            field_leaves,
            stack,
            constraints,
            targets,
            accepted,
            values,
        } = scratch;
        flatten(event, &self.trie, flat)?;
        field_leaves.clear();
        field_leaves.resize(self.field_count, (0, 0));
        let mut start = 0;
        while start < flat.leaves.len() {
            let field = flat.leaves[start].field;
            let mut end = start + 1;
            while end < flat.leaves.len() && flat.leaves[end].field == field {
                end += 1;
            }
            field_leaves[field as usize] = (start, end);
            start = end;
        }
        stack.clear();
        constraints.clear();
        accepted.clear();
        stack.push(Frame {
            state: 0,
            constraints_start: 0,
            constraints_len: 0,
        });
        while let Some(frame) = stack.pop() {
            let state = &self.states[frame.state as usize];
            accepted.extend_from_slice(&state.accepts);
            for (field, matcher) in &state.fields {
                let (first, last) = field_leaves[*field as usize];
                for leaf in &flat.leaves[first..last] {
                    let leaf_arrays = flat.arrays(leaf);
                    let held = &constraints
                        [frame.constraints_start..frame.constraints_start + frame.constraints_len];
                    if !consistent(held, leaf_arrays) {
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
                    let (constraints_start, constraints_len) = if leaf_arrays.is_empty() {
                        (frame.constraints_start, frame.constraints_len)
                    } else {
                        let merged_start = constraints.len();
                        constraints.extend_from_within(
                            frame.constraints_start
                                ..frame.constraints_start + frame.constraints_len,
                        );
                        for pair in leaf_arrays {
                            if !constraints[merged_start..]
                                .iter()
                                .any(|(array, _)| *array == pair.0)
                            {
                                constraints.push(*pair);
                            }
                        }
                        (merged_start, constraints.len() - merged_start)
                    };
                    for &target in targets.iter() {
                        stack.push(Frame {
                            state: target,
                            constraints_start,
                            constraints_len,
                        });
                    }
                }
            }
            for &(field, next) in &state.absent {
                let (first, last) = field_leaves[field as usize];
                if first == last {
                    stack.push(Frame {
                        state: next,
                        ..frame
                    });
                }
            }
        }
        accepted.sort_unstable();
        accepted.dedup();
        Ok(accepted
            .iter()
            .map(|&i| self.rules[i as usize].clone())
            .collect())
    }
}

/// True unless the value sits in a different element of an array the walk has
/// already fixed.
fn consistent(held: &[(u32, u32)], value: &[(u32, u32)]) -> bool {
    value
        .iter()
        .all(|(array, element)| held.iter().all(|(a, e)| a != array || e == element))
}
