//! Who still needs log records: the router (records not yet routed), pending
//! deliveries, dead letters, and extra holders plugged in by the server (the
//! archives). Reads only; each holder's owner keeps its own invariant.
//!
//! Read order matters, because the holders keep changing while they are read:
//! the router position is read first (the router only ever adds deliveries at
//! or above it), then dead letters and pending deliveries together under
//! `PendingDeliveries::hold_moves` (bury and redrive move a delivery between
//! the two; without the lock one could be missed by both reads). After that,
//! nothing can come to need a record below what was read: new deliveries are
//! routed at or above the position, and a letter or delivery only ever moves
//! to the other place with the same seq.

use crate::catalog::Catalog;
use crate::dead_letter::DeadLetters;
use crate::event::Seq;
use crate::pending::PendingDeliveries;
use crate::store::StoreError;

use super::{Held, Holder};

/// The lowest record it holds and a name for what holds it.
pub type LowestHeld = Box<dyn Fn() -> Result<Option<(Seq, String)>, StoreError> + Send + Sync>;

/// A holder the retention sweep does not know by type, such as the archives:
/// `ExtraHolder::new("archive", move || archives.lowest_held())`. It must only
/// come to hold records at or above the router position (records not yet
/// routed), or records it already holds.
pub struct ExtraHolder {
    kind: &'static str,
    lowest: LowestHeld,
}

impl ExtraHolder {
    pub fn new(
        kind: &'static str,
        lowest: impl Fn() -> Result<Option<(Seq, String)>, StoreError> + Send + Sync + 'static,
    ) -> ExtraHolder {
        ExtraHolder {
            kind,
            lowest: Box::new(lowest),
        }
    }
}

pub struct Holders {
    pub pending: PendingDeliveries,
    pub dead_letters: DeadLetters,
    pub catalog: Catalog,
    pub extra: Vec<ExtraHolder>,
}

impl Holders {
    /// The lowest record anything still needs, and what needs it.
    pub fn lowest(&self) -> Result<Option<Held>, StoreError> {
        let mut held = vec![Held {
            seq: self.pending.position()?,
            by: Holder::Router,
        }];
        let (letter, owed) = {
            let _moves = self.pending.hold_moves();
            (
                self.dead_letters.lowest_held()?,
                self.pending.owed_targets()?,
            )
        };
        if let Some((uid, seq)) = owed.into_iter().min_by_key(|(_, seq)| *seq) {
            held.push(Held {
                seq,
                by: Holder::Pending {
                    name: self.target_name(uid),
                },
            });
        }
        if let Some((seq, queue)) = letter {
            held.push(Held {
                seq,
                by: Holder::DeadLetter { name: queue },
            });
        }
        for extra in &self.extra {
            if let Some((seq, name)) = (extra.lowest)()? {
                held.push(Held {
                    seq,
                    by: Holder::Extra {
                        kind: extra.kind.to_owned(),
                        name,
                    },
                });
            }
        }
        Ok(super::lowest(held))
    }

    /// `bus/rule/target` of target `uid`, or its uid once it is gone from the
    /// catalog (its deliveries are being purged).
    fn target_name(&self, uid: u64) -> String {
        match self.catalog.snapshot().targets.get(&uid) {
            Some(route) => format!("{}/{}/{}", route.bus, route.rule, route.target.id),
            None => format!("removed target {uid}"),
        }
    }
}
