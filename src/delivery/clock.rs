//! Delivery's clock: wall time, plus an offset that tests may move forward
//! (`delivery.test_clock`) to reach retry age limits without waiting a day.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Milliseconds since the Unix epoch, as delivery sees them.
    pub fn now_ms(&self) -> i64 {
        crate::event::now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `ms` (never backwards); returns the new offset.
    pub fn advance(&self, ms: i64) -> i64 {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed) + ms.max(0)
    }
}
