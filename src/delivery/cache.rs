//! Events as the router decoded and rendered them, handed to the workers of the
//! targets they matched, so that an event is decoded and rendered once however
//! many targets it reaches.
//!
//! Bounded in bytes: past the bound the lowest sequence numbers go first (the
//! ones a stuck target left behind). An entry also goes once every target it
//! was routed to has taken it. The log stays the truth: a miss (after a
//! restart, an eviction, or for a retry) reads the event from the log again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::event::{Event, Seq};

/// An event with its EventBridge envelope JSON rendered once, and that JSON
/// parsed at most once (for the targets whose parameters read the event).
#[derive(Debug)]
pub struct RenderedEvent {
    pub event: Event,
    pub envelope: String,
    parsed: OnceLock<serde_json::Value>,
}

impl RenderedEvent {
    pub fn new(event: Event, envelope: String) -> RenderedEvent {
        RenderedEvent {
            event,
            envelope,
            parsed: OnceLock::new(),
        }
    }

    /// Renders `event`'s envelope.
    pub fn render(event: Event) -> RenderedEvent {
        let envelope = event.to_envelope_json();
        RenderedEvent::new(event, envelope)
    }

    /// The envelope as a JSON value, parsed on first use.
    pub fn value(&self) -> &serde_json::Value {
        self.parsed
            .get_or_init(|| serde_json::from_str(&self.envelope).unwrap_or(serde_json::Value::Null))
    }

    /// What an entry is charged against the cache's bound.
    fn bytes(&self) -> usize {
        self.envelope.len() * 2 + std::mem::size_of::<RenderedEvent>()
    }
}

struct Entry {
    rendered: Arc<RenderedEvent>,
    /// Targets that have not taken it yet.
    takers: usize,
    bytes: usize,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<Seq, Entry>,
    bytes: usize,
}

pub struct EventCache {
    state: Mutex<State>,
    max_bytes: usize,
}

impl EventCache {
    pub fn new(max_bytes: usize) -> EventCache {
        EventCache {
            state: Mutex::new(State::default()),
            max_bytes,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps each event for the number of targets it was routed to.
    pub fn insert_all(&self, routed: Vec<(Seq, Arc<RenderedEvent>, usize)>) {
        if self.max_bytes == 0 {
            return;
        }
        let mut state = self.state();
        for (seq, rendered, takers) in routed {
            let bytes = rendered.bytes();
            state.bytes += bytes;
            if let Some(old) = state.entries.insert(
                seq,
                Entry {
                    rendered,
                    takers,
                    bytes,
                },
            ) {
                state.bytes -= old.bytes;
            }
        }
        while state.bytes > self.max_bytes {
            let Some((_, evicted)) = state.entries.pop_first() else {
                break;
            };
            state.bytes -= evicted.bytes;
        }
    }

    /// Takes the event at `seq` for one target, if it is still here.
    pub fn take(&self, seq: Seq) -> Option<Arc<RenderedEvent>> {
        let mut state = self.state();
        let entry = state.entries.get_mut(&seq)?;
        let rendered = entry.rendered.clone();
        entry.takers = entry.takers.saturating_sub(1);
        if entry.takers == 0 {
            let bytes = entry.bytes;
            state.entries.remove(&seq);
            state.bytes -= bytes;
        }
        Some(rendered)
    }

    /// Entries and bytes held (for tests and metrics).
    pub fn size(&self) -> (usize, usize) {
        let state = self.state();
        (state.entries.len(), state.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventId, NewEvent};

    fn rendered(seq: u64) -> Arc<RenderedEvent> {
        let event = NewEvent {
            bus: "default".into(),
            source: "s".into(),
            detail_type: "t".into(),
            detail: r#"{"a":1}"#.into(),
            ..NewEvent::default()
        }
        .into_event(EventId::for_seq(Seq(seq)));
        Arc::new(RenderedEvent::render(event))
    }

    #[test]
    fn an_event_stays_until_each_of_its_targets_took_it() {
        let cache = EventCache::new(1 << 20);
        cache.insert_all(vec![(Seq(1), rendered(1), 2)]);
        assert!(cache.take(Seq(1)).is_some());
        assert_eq!(cache.size().0, 1);
        assert!(cache.take(Seq(1)).is_some());
        assert_eq!(cache.size(), (0, 0));
        assert!(cache.take(Seq(1)).is_none(), "a third taker reads the log");
    }

    #[test]
    fn past_its_bound_the_oldest_events_go_first() {
        let one = rendered(0).bytes();
        let cache = EventCache::new(one * 3);
        cache.insert_all((0..5).map(|s| (Seq(s), rendered(s), 1)).collect());
        assert_eq!(cache.size(), (3, one * 3));
        assert!(cache.take(Seq(0)).is_none() && cache.take(Seq(1)).is_none());
        assert!(cache.take(Seq(4)).is_some());
    }

    #[test]
    fn a_zero_bound_keeps_nothing_and_parsing_happens_once() {
        let cache = EventCache::new(0);
        cache.insert_all(vec![(Seq(1), rendered(1), 1)]);
        assert_eq!(cache.size(), (0, 0));
        let event = rendered(2);
        assert_eq!(event.value()["detail"]["a"], 1);
        assert!(std::ptr::eq(event.value(), event.value()));
    }
}
