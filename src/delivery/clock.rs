//! Delivery's clock: the one place delivery reads time. Wall time plus an
//! offset that only moves forward, so that a test holding the handle
//! (`Server::clock`) can reach retry age limits without waiting a day.
//!
//! Not here: any way to move it from outside the process. Nothing in the
//! shipped server calls `advance`; the offset stays 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// A handle on delivery's clock; clones share it.
#[derive(Clone)]
pub struct Clock {
    shared: Arc<Shared>,
}

struct Shared {
    offset_ms: AtomicI64,
    /// Bumped on every `advance`, so that a worker sleeping until a retry is
    /// due looks at the time again.
    moved: watch::Sender<()>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            shared: Arc::new(Shared {
                offset_ms: AtomicI64::new(0),
                moved: watch::Sender::new(()),
            }),
        }
    }
}

impl Clock {
    /// Milliseconds since the Unix epoch, as delivery sees them.
    pub fn now_ms(&self) -> i64 {
        crate::event::now_ms().saturating_add(self.shared.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by` (saturating) and wakes whoever waits
    /// on `moved`.
    pub fn advance(&self, by: Duration) {
        let step = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // `fetch_update` only fails when the closure returns `None`; it never does.
        let _ = self
            .shared
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(step))
            });
        self.shared.moved.send_replace(());
    }

    /// Completes `changed()` after each later `advance`: a waiter holding one
    /// never misses a move made after it subscribed.
    pub fn moved(&self) -> watch::Receiver<()> {
        self.shared.moved.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_saturates() {
        let clock = Clock::default();
        clock.advance(Duration::MAX);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_ms(), i64::MAX);
    }

    #[test]
    fn advancing_moves_every_clone_and_tells_subscribers() {
        let clock = Clock::default();
        let copy = clock.clone();
        let moved = copy.moved();
        let before = copy.now_ms();
        assert!(!moved.has_changed().expect("the clock is alive"));
        clock.advance(Duration::from_secs(3600));
        assert!(moved.has_changed().expect("the clock is alive"));
        assert!(copy.now_ms() >= before + 3_600_000);
    }
}
