//! The archives' patterns compiled per bus, like the rules' (globset's shape:
//! built once from the records, immutable, replaced whole on every change).
//! A pure function of (archives, event): which archives take the event.

use std::collections::HashMap;

use super::record::ArchiveRecord;
use crate::pattern::{EventError, Limits, Matcher, MatcherBuilder, Pattern};

/// A bus's archives while being compiled: (matcher, ids, `everything`).
type Building = (MatcherBuilder<u32>, Vec<u64>, Vec<u64>);

/// Which archives of each bus take which events.
#[derive(Default)]
pub struct MatcherSet {
    buses: HashMap<String, BusArchives>,
}

/// The archives of one bus: `ids[i]` is the archive the matcher reports as `i`.
struct BusArchives {
    matcher: Matcher<u32>,
    ids: Vec<u64>,
    /// Archives without a pattern: they take every event of the bus.
    everything: Vec<u64>,
}

impl MatcherSet {
    /// Compiles the archives' patterns. A stored pattern that no longer parses
    /// (a limit lowered since) is reported and its archive takes nothing.
    pub fn build<'a>(
        archives: impl IntoIterator<Item = &'a ArchiveRecord>,
        limits: &Limits,
    ) -> MatcherSet {
        let mut building: HashMap<String, Building> = HashMap::new();
        for archive in archives {
            let (builder, ids, everything) = building
                .entry(archive.bus.clone())
                .or_insert_with(|| (MatcherBuilder::new(), Vec::new(), Vec::new()));
            let Some(text) = &archive.pattern else {
                everything.push(archive.id);
                continue;
            };
            match Pattern::parse(text, limits) {
                Ok(pattern) => {
                    let index = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                    builder.add(index, &pattern);
                    ids.push(archive.id);
                }
                Err(error) => tracing::error!(
                    archive = %archive.name, %error,
                    "stored archive pattern no longer valid; the archive takes no events"
                ),
            }
        }
        MatcherSet {
            buses: building
                .into_iter()
                .map(|(bus, (builder, ids, everything))| {
                    let archives = BusArchives {
                        matcher: builder.build(),
                        ids,
                        everything,
                    };
                    (bus, archives)
                })
                .collect(),
        }
    }

    /// Whether some archive may take events of `bus`.
    pub fn wants(&self, bus: &str) -> bool {
        self.buses.contains_key(bus)
    }

    /// The ids of the archives of `bus` that take the event (its envelope JSON).
    pub fn matching(&self, bus: &str, envelope_json: &[u8]) -> Result<Vec<u64>, EventError> {
        let Some(archives) = self.buses.get(bus) else {
            return Ok(Vec::new());
        };
        let mut out = archives.everything.clone();
        if !archives.ids.is_empty() {
            for index in archives.matcher.matches(envelope_json)? {
                if let Some(id) = archives.ids.get(index as usize) {
                    out.push(*id);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::record::ArchiveState;

    fn archive(id: u64, bus: &str, pattern: Option<&str>) -> ArchiveRecord {
        ArchiveRecord {
            id,
            name: format!("a{id}"),
            bus: bus.into(),
            description: None,
            pattern: pattern.map(String::from),
            retention_days: 0,
            state: ArchiveState::Enabled,
            created_ms: 0,
        }
    }

    #[test]
    fn archives_take_their_buses_events_that_match_or_all_without_a_pattern() {
        let archives = [
            archive(1, "orders", None),
            archive(2, "orders", Some(r#"{"source":["shop"]}"#)),
            archive(3, "audit", None),
        ];
        let set = MatcherSet::build(&archives, &Limits::default());
        let shop = br#"{"source":"shop","detail":{}}"#;
        let other = br#"{"source":"crm","detail":{}}"#;
        let mut ids = set.matching("orders", shop).expect("match");
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(set.matching("orders", other).expect("match"), vec![1]);
        assert_eq!(set.matching("audit", shop).expect("match"), vec![3]);
        assert!(set.matching("default", shop).expect("match").is_empty());
        assert!(set.wants("orders") && !set.wants("default"));
    }
}
