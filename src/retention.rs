//! Log retention: which log records may be removed, and why the oldest kept
//! one is kept.
//!
//! A record is removed once nothing still needs it (no pending delivery, no
//! dead letter, no archive, and the router has routed it) and it is older than
//! `log.min_retention`. The log is removed whole chunks at a time from its
//! head, so the decision here is pure: given the head's chunk extents, the
//! lowest sequence number any holder still needs and the clock, how many
//! chunks may go and what keeps the first one that stays. The I/O (reading the
//! holders, removing, the periodic task) is `sweep`.

mod holders;
mod sweep;
#[cfg(test)]
mod tests;

pub use holders::{ExtraHolder, Holders};
pub use sweep::{LogStatus, OldestKept, Retention, SweepReport};

use serde::Serialize;

use crate::event::Seq;
use crate::log::ChunkExtent;

/// Who needs a log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Holder {
    /// The router has not matched it against the rules yet.
    Router,
    /// A delivery to this target is pending (`bus/rule/target`).
    Pending { name: String },
    /// A letter in this dead-letter queue holds it.
    DeadLetter { name: String },
    /// Another holder, such as an archive (`kind` `archive`, its name).
    #[serde(untagged)]
    Extra { kind: String, name: String },
}

/// The lowest record some holder still needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub seq: Seq,
    pub by: Holder,
}

/// Why the first record the log keeps is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Kept {
    /// A holder needs a record of its chunk.
    Held { holder: Holder, seq: u64 },
    /// Nothing needs it, but it is younger than `log.min_retention`.
    MinRetention,
    /// Nothing keeps it: the next sweep removes it.
    AwaitingSweep,
}

/// How many of the head's chunks may go, and why the next one stays (`None`
/// when every given chunk may go).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub remove: usize,
    pub kept: Option<Kept>,
}

/// Decides over `chunks` (the head of the log, in order): a chunk may go when
/// every one of its records is below `lowest` (if anything holds one) and its
/// newest record was ingested at or before `now_ms - min_retention_ms`. Only a
/// prefix goes, so the log stays contiguous.
pub fn decide(
    chunks: &[ChunkExtent],
    lowest: Option<&Held>,
    now_ms: i64,
    min_retention_ms: i64,
) -> Decision {
    let cutoff = now_ms.saturating_sub(min_retention_ms);
    for (index, chunk) in chunks.iter().enumerate() {
        if let Some(held) = lowest
            && chunk.end > held.seq
        {
            return Decision {
                remove: index,
                kept: Some(Kept::Held {
                    holder: held.by.clone(),
                    seq: held.seq.0,
                }),
            };
        }
        if chunk.newest_ms > cutoff {
            return Decision {
                remove: index,
                kept: Some(Kept::MinRetention),
            };
        }
    }
    Decision {
        remove: chunks.len(),
        kept: None,
    }
}

/// The lowest of the holders' needs; on a tie the first given wins.
pub fn lowest(held: impl IntoIterator<Item = Held>) -> Option<Held> {
    held.into_iter()
        .fold(None, |low: Option<Held>, h| match low {
            Some(low) if low.seq <= h.seq => Some(low),
            _ => Some(h),
        })
}

#[cfg(test)]
mod decision_tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    fn chunk(first: u64, end: u64, newest_ms: i64) -> ChunkExtent {
        ChunkExtent {
            first: Seq(first),
            end: Seq(end),
            newest_ms,
            records: end - first,
            bytes: 0,
        }
    }

    fn held(seq: u64, by: Holder) -> Held {
        Held { seq: Seq(seq), by }
    }

    #[test]
    fn old_chunks_below_every_holder_go_and_the_holder_is_named() {
        let chunks = [chunk(0, 10, 0), chunk(10, 20, 0), chunk(20, 30, 0)];
        let target = Holder::Pending {
            name: "orders/to-erp/erp".into(),
        };
        let decision = decide(
            &chunks,
            Some(&held(15, target.clone())),
            48 * HOUR,
            24 * HOUR,
        );
        assert_eq!(decision.remove, 1);
        assert_eq!(
            decision.kept,
            Some(Kept::Held {
                holder: target,
                seq: 15
            })
        );
    }

    #[test]
    fn a_chunk_ending_exactly_at_the_held_record_goes() {
        let chunks = [chunk(0, 10, 0), chunk(10, 20, 0)];
        let letter = Holder::DeadLetter {
            name: "default".into(),
        };
        let decision = decide(&chunks, Some(&held(10, letter)), 48 * HOUR, 24 * HOUR);
        assert_eq!(decision.remove, 1);
    }

    #[test]
    fn young_chunks_stay_for_min_retention_even_when_nothing_holds_them() {
        let now = 100 * HOUR;
        let chunks = [
            chunk(0, 10, now - 30 * HOUR),
            chunk(10, 20, now - 24 * HOUR),
            chunk(20, 30, now - 23 * HOUR),
        ];
        let decision = decide(&chunks, None, now, 24 * HOUR);
        assert_eq!(
            decision.remove, 2,
            "at exactly min_retention a chunk may go"
        );
        assert_eq!(decision.kept, Some(Kept::MinRetention));
    }

    #[test]
    fn an_old_chunk_after_a_young_one_stays_so_the_log_stays_contiguous() {
        let now = 100 * HOUR;
        let chunks = [chunk(0, 10, now), chunk(10, 20, 0)];
        assert_eq!(decide(&chunks, None, now, HOUR).remove, 0);
    }

    #[test]
    fn with_zero_min_retention_only_holders_keep_records() {
        let chunks = [chunk(0, 10, 5), chunk(10, 20, 5)];
        assert_eq!(
            decide(&chunks, None, 5, 0),
            Decision {
                remove: 2,
                kept: None
            }
        );
        let router = decide(&chunks, Some(&held(12, Holder::Router)), 5, 0);
        assert_eq!(router.remove, 1);
    }

    #[test]
    fn the_lowest_holder_wins_and_ties_keep_the_first() {
        let archive = Holder::Extra {
            kind: "archive".into(),
            name: "all".into(),
        };
        let found = lowest([
            held(30, Holder::Router),
            held(7, archive.clone()),
            held(7, Holder::DeadLetter { name: "q".into() }),
        ]);
        assert_eq!(found, Some(held(7, archive)));
        assert_eq!(lowest([]), None);
    }

    #[test]
    fn the_reason_serialises_with_the_holder_kind_and_name() {
        let kept = Kept::Held {
            holder: Holder::Pending {
                name: "b/r/t".into(),
            },
            seq: 3,
        };
        assert_eq!(
            serde_json::to_value(&kept).expect("serialises"),
            serde_json::json!({"reason": "held", "holder": {"kind": "pending", "name": "b/r/t"}, "seq": 3})
        );
        let extra = Holder::Extra {
            kind: "archive".into(),
            name: "a".into(),
        };
        assert_eq!(
            serde_json::to_value(&extra).expect("serialises"),
            serde_json::json!({"kind": "archive", "name": "a"})
        );
    }

    proptest! {
        /// Whatever the inputs, no removed chunk holds a record at or above the
        /// lowest held one or one younger than min_retention, and the first kept
        /// chunk is kept for a true reason.
        #[test]
        fn never_removes_a_needed_or_young_record(
            sizes in prop::collection::vec((1u64..50, 0i64..1000), 0..20),
            held_at in prop::option::of(0u64..600),
            now in 0i64..2000,
            min in 0i64..1000,
        ) {
            let mut chunks = Vec::new();
            let mut at = 0;
            for (len, ms) in sizes {
                chunks.push(chunk(at, at + len, ms));
                at += len;
            }
            let held = held_at.map(|s| held(s, Holder::Router));
            let decision = decide(&chunks, held.as_ref(), now, min);
            for c in &chunks[..decision.remove] {
                prop_assert!(held.as_ref().is_none_or(|h| c.end <= h.seq));
                prop_assert!(c.newest_ms <= now - min);
            }
            match (&decision.kept, chunks.get(decision.remove)) {
                (None, None) => {}
                (Some(Kept::Held { seq, .. }), Some(c)) => prop_assert!(c.end.0 > *seq),
                (Some(Kept::MinRetention), Some(c)) => prop_assert!(c.newest_ms > now - min),
                (kept, next) => prop_assert!(false, "kept {:?} with next chunk {:?}", kept, next),
            }
        }
    }
}
