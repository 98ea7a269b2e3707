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

    /// Moves the clock forward by `ms` (never backwards, saturating); returns
    /// the new offset.
    pub fn advance(&self, ms: i64) -> i64 {
        let step = ms.max(0);
        let previous = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(step))
            })
            .unwrap_or_else(|o| o);
        previous.saturating_add(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_saturates_and_never_goes_back() {
        let clock = Clock::default();
        assert_eq!(clock.advance(-5), 0);
        assert_eq!(clock.advance(i64::MAX), i64::MAX);
        assert_eq!(clock.advance(i64::MAX), i64::MAX);
        assert_eq!(clock.now_ms(), i64::MAX);
    }
}
