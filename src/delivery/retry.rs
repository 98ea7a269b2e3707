//! The retry decision, pure: after a failed attempt, when to try again or why
//! to stop. Exponential backoff with full jitter (the jitter is passed in, so
//! the decision is a function of its inputs), `Retry-After` honoured, and the
//! target's limits: maximum retry attempts and maximum event age.
//!
//! Not here: reading the clock, drawing randomness, writing the outcome (the
//! worker does those around `Backoff::after_failure`).

use chrono::DateTime;

use crate::catalog::RetryPolicy;

/// Why retries stopped, in EventBridge's words (a dead letter's
/// `exhaustedRetryCondition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    MaximumRetryAttempts,
    MaximumEventAgeInSeconds,
}

impl Exhausted {
    pub fn as_str(self) -> &'static str {
        match self {
            Exhausted::MaximumRetryAttempts => "MaximumRetryAttempts",
            Exhausted::MaximumEventAgeInSeconds => "MaximumEventAgeInSeconds",
        }
    }
}

/// What follows a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Try again at `due_ms` (ms since the epoch).
    RetryAt { due_ms: i64 },
    /// Stop and dead-letter: `None` when the failure was not retryable,
    /// otherwise the limit that was reached.
    Dead(Option<Exhausted>),
}

/// One failed attempt, as the decision needs it.
#[derive(Clone, Copy, Debug)]
pub struct Failed {
    /// Attempts made so far, this one included.
    pub attempts: u32,
    /// The age limit counts from here (ingestion, or the redrive).
    pub age_base_ms: i64,
    pub retryable: bool,
    /// The target's `Retry-After`, in ms from now.
    pub retry_after_ms: Option<u64>,
}

/// Where in `0..=ceiling` a backoff delay falls: a fraction `n / u32::MAX`,
/// drawn at random by the worker, fixed in tests.
#[derive(Clone, Copy, Debug)]
pub struct Jitter(pub u32);

impl Jitter {
    #[cfg(test)]
    const FULL: Jitter = Jitter(u32::MAX);
    #[cfg(test)]
    const HALF: Jitter = Jitter(u32::MAX / 2 + 1);
    #[cfg(test)]
    const NONE: Jitter = Jitter(0);

    pub fn random() -> Jitter {
        Jitter(fastrand::u32(..))
    }

    fn of(self, ceiling: u64) -> u64 {
        let scaled = u128::from(ceiling) * u128::from(self.0) / u128::from(u32::MAX);
        u64::try_from(scaled).unwrap_or(ceiling)
    }
}

/// Delivery's backoff settings (`[delivery]` in the config).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base_ms: u64,
    pub cap_ms: u64,
}

impl Backoff {
    /// `jitter` of `min(cap, base · 2^(attempts−1))` ms: full jitter, so that
    /// retries of many events spread out instead of arriving in waves.
    pub fn delay_ms(self, attempts: u32, jitter: Jitter) -> u64 {
        let doublings = attempts.saturating_sub(1).min(40);
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << doublings)
            .min(self.cap_ms);
        jitter.of(ceiling)
    }

    /// The verdict on `failed` at `now_ms` under the target's `policy`.
    ///
    /// A retry is never scheduled past the age limit, so that a huge
    /// `Retry-After` cannot hold an event beyond it: the attempt at the limit
    /// is the last.
    pub fn after_failure(
        self,
        policy: RetryPolicy,
        failed: Failed,
        now_ms: i64,
        jitter: Jitter,
    ) -> Verdict {
        if !failed.retryable {
            return Verdict::Dead(None);
        }
        if failed.attempts > policy.max_attempts {
            return Verdict::Dead(Some(Exhausted::MaximumRetryAttempts));
        }
        let deadline = failed
            .age_base_ms
            .saturating_add(i64::from(policy.max_age_secs) * 1000);
        if now_ms >= deadline {
            return Verdict::Dead(Some(Exhausted::MaximumEventAgeInSeconds));
        }
        let due_ms = self.retry_at(failed.attempts, failed.retry_after_ms, now_ms, jitter);
        Verdict::RetryAt {
            due_ms: due_ms.min(deadline),
        }
    }

    /// When to try again after a failure that no limit applies to (a fault of
    /// our own: a log read, a dead-letter write, a panicked attempt).
    pub fn retry_at(
        self,
        attempts: u32,
        retry_after_ms: Option<u64>,
        now_ms: i64,
        jitter: Jitter,
    ) -> i64 {
        let delay = self
            .delay_ms(attempts, jitter)
            .max(retry_after_ms.unwrap_or(0));
        now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))
    }
}

/// A `Retry-After` value (delay-seconds or an HTTP-date) as ms from `now_ms`;
/// `None` if it is neither.
pub fn retry_after_ms(value: &str, now_ms: i64) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.timestamp_millis();
    Some(u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base_ms: 1000,
        cap_ms: 60_000,
    };
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        max_age_secs: 100,
    };

    fn failed(attempts: u32, retry_after_ms: Option<u64>) -> Failed {
        Failed {
            attempts,
            age_base_ms: 0,
            retryable: true,
            retry_after_ms,
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_scale_with_the_jitter() {
        assert_eq!(BACKOFF.delay_ms(1, Jitter::FULL), 1000);
        assert_eq!(BACKOFF.delay_ms(2, Jitter::FULL), 2000);
        assert_eq!(BACKOFF.delay_ms(3, Jitter::HALF), 2000);
        assert_eq!(BACKOFF.delay_ms(7, Jitter::FULL), 60_000);
        assert_eq!(BACKOFF.delay_ms(7, Jitter::NONE), 0);
        // Huge attempt counts and bases saturate.
        let huge = Backoff {
            base_ms: u64::MAX,
            cap_ms: 5,
        };
        assert_eq!(huge.delay_ms(u32::MAX, Jitter::FULL), 5);
    }

    #[test]
    fn a_failure_that_is_not_retryable_dies_at_once() {
        let failed = Failed {
            retryable: false,
            ..failed(1, None)
        };
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed, 10, Jitter::HALF),
            Verdict::Dead(None)
        );
    }

    #[test]
    fn the_attempt_after_the_maximum_retries_is_the_last() {
        // max_attempts counts retries: the first attempt plus three.
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(3, None), 10, Jitter::FULL),
            Verdict::RetryAt { due_ms: 10 + 4000 }
        );
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(4, None), 10, Jitter::FULL),
            Verdict::Dead(Some(Exhausted::MaximumRetryAttempts))
        );
        let none = RetryPolicy {
            max_attempts: 0,
            ..POLICY
        };
        assert_eq!(
            BACKOFF.after_failure(none, failed(1, None), 10, Jitter::FULL),
            Verdict::Dead(Some(Exhausted::MaximumRetryAttempts))
        );
    }

    #[test]
    fn the_age_limit_ends_retries_at_its_boundary() {
        let limit_ms = 100_000;
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(1, None), limit_ms - 1, Jitter::NONE),
            Verdict::RetryAt {
                due_ms: limit_ms - 1
            }
        );
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(1, None), limit_ms, Jitter::NONE),
            Verdict::Dead(Some(Exhausted::MaximumEventAgeInSeconds))
        );
        // The age counts from the base (a redrive moves it).
        let redriven = Failed {
            age_base_ms: limit_ms,
            ..failed(1, None)
        };
        assert!(matches!(
            BACKOFF.after_failure(POLICY, redriven, limit_ms, Jitter::NONE),
            Verdict::RetryAt { .. }
        ));
    }

    #[test]
    fn retry_after_wins_over_a_shorter_backoff_but_never_passes_the_age_limit() {
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(1, Some(30_000)), 10, Jitter::FULL),
            Verdict::RetryAt { due_ms: 30_010 }
        );
        // A shorter Retry-After does not shorten the backoff.
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(2, Some(5)), 10, Jitter::FULL),
            Verdict::RetryAt { due_ms: 2010 }
        );
        // Past the age limit: the retry happens at the limit, and is the last.
        assert_eq!(
            BACKOFF.after_failure(POLICY, failed(1, Some(u64::MAX)), 50_000, Jitter::FULL),
            Verdict::RetryAt { due_ms: 100_000 }
        );
    }

    #[test]
    fn faults_of_our_own_retry_without_limits() {
        assert_eq!(BACKOFF.retry_at(40, None, 10, Jitter::FULL), 60_010);
        assert_eq!(
            BACKOFF.retry_at(1, Some(u64::MAX), 10, Jitter::NONE),
            i64::MAX
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after_ms("2", 0), Some(2000));
        let now = DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:37 GMT")
            .expect("date")
            .timestamp_millis();
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(3000)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", now), None);
    }
}
