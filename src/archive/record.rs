//! What is stored of an archive: its definition (the `archives` tree) and its
//! running totals (next to its entries in `archive_index`), and the view of
//! both that callers get.
//!
//! | tree            | key                       | value                     |
//! |-----------------|---------------------------|---------------------------|
//! | `archives`      | archive name              | framed `ArchiveRecord`    |
//! | `archive_index` | `keys::totals(id)`        | framed `Totals`           |
//! | `archive_index` | `keys::by_seq(id, first)` | framed `Segment`          |
//! | `archive_index` | `keys::by_bucket(id, b, first)` | framed `TimeBucket` |
//! | `archive_index` | `keys::by_time(id, t, seq)` | empty (legacy, migrated at open) |
//!
//! Frames are `codec`'s (version byte, crc32, bincode).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::Seq;

/// An archive's definition, as created and updated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    /// Names the archive's keys in `archive_index`; never reused.
    pub id: u64,
    pub name: String,
    pub bus: String,
    pub description: Option<String>,
    /// The pattern's JSON text; `None` archives every event of the bus.
    pub pattern: Option<String>,
    /// Days an entry is kept after its event was ingested; 0 keeps it forever.
    pub retention_days: u32,
    pub state: ArchiveState,
    pub created_ms: i64,
}

/// EventBridge's archive states. Stowage's archives are ready as soon as they
/// are created, so only `Enabled` is ever stored; the others are accepted as
/// `ListArchives` filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchiveState {
    Enabled,
    Disabled,
    Creating,
    Updating,
    CreateFailed,
    UpdateFailed,
}

impl ArchiveState {
    pub const ALL: [ArchiveState; 6] = [
        ArchiveState::Enabled,
        ArchiveState::Disabled,
        ArchiveState::Creating,
        ArchiveState::Updating,
        ArchiveState::CreateFailed,
        ArchiveState::UpdateFailed,
    ];

    /// As AWS spells it (`ENABLED`, `CREATE_FAILED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveState::Enabled => "ENABLED",
            ArchiveState::Disabled => "DISABLED",
            ArchiveState::Creating => "CREATING",
            ArchiveState::Updating => "UPDATING",
            ArchiveState::CreateFailed => "CREATE_FAILED",
            ArchiveState::UpdateFailed => "UPDATE_FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<ArchiveState> {
        ArchiveState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An archive's exact totals, written in the same batch as the entries they
/// count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub event_count: u64,
    pub size_bytes: u64,
    /// Events below this seq were offered already (or predate the archive):
    /// offering them again after a crash changes nothing.
    pub next_seq: u64,
}

/// The entries one routing step added to one archive, in seq order, under
/// the seq of the first. One key per step rather than per event: sled's cost
/// is per key (docs/performance.md, "Archives").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub entries: Vec<(Seq, Entry)>,
}

impl Segment {
    /// When its newest entry was ingested: the whole segment expires then.
    pub fn newest_ingested_ms(&self) -> i64 {
        self.entries
            .iter()
            .map(|(_, e)| e.ingested_ms)
            .max()
            .unwrap_or(i64::MIN)
    }
}

impl Segment {
    /// The segment's entries by time bucket (`keys::bucket_of`), each
    /// bucket's in (time, seq) order: the values of its bucket keys.
    pub fn buckets(&self) -> BTreeMap<i64, TimeBucket> {
        let mut buckets: BTreeMap<i64, TimeBucket> = BTreeMap::new();
        for (seq, entry) in &self.entries {
            buckets
                .entry(super::keys::bucket_of(entry.time_ms))
                .or_default()
                .entries
                .push((entry.time_ms, *seq));
        }
        for bucket in buckets.values_mut() {
            bucket.entries.sort_unstable();
        }
        buckets
    }
}

/// The (event time, seq) of the events of one routing step whose time falls
/// in one time bucket, in that order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeBucket {
    pub entries: Vec<(i64, Seq)>,
}

/// One archived event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The event's `time`, ms since the epoch: its key in the time order.
    pub time_ms: i64,
    /// When Stowage accepted it: retention counts from here.
    pub ingested_ms: i64,
    /// Bytes of the event's envelope JSON.
    pub size: u64,
}

/// An archived event as replays read it: its event time and its log position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchivedRef {
    pub time_ms: i64,
    pub seq: Seq,
}

/// An archive as callers see it: its definition and its totals.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveInfo {
    pub name: String,
    pub bus: String,
    pub arn: String,
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub retention_days: u32,
    pub state: ArchiveState,
    /// Why the archive is in its state; Stowage never sets one.
    pub state_reason: Option<String>,
    pub created_ms: i64,
    pub event_count: u64,
    pub size_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_aws_names() {
        for state in ArchiveState::ALL {
            assert_eq!(ArchiveState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ArchiveState::parse("enabled"), None);
    }
}
