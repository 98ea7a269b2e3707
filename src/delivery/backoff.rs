//! When to try again: exponential backoff with full jitter, and `Retry-After`.

use chrono::DateTime;

/// A random delay in `0..=min(cap, base · 2^(attempts−1))` ms ("full jitter":
/// retries of many events spread out instead of arriving in waves).
pub fn delay_ms(attempts: u32, base_ms: u64, cap_ms: u64) -> u64 {
    let doublings = attempts.saturating_sub(1).min(40);
    let ceiling = base_ms.saturating_mul(1u64 << doublings).min(cap_ms);
    fastrand::u64(0..=ceiling)
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

    #[test]
    fn delays_stay_within_the_doubling_ceiling_and_the_cap() {
        for attempts in 1..50 {
            let ceiling = (1000u64 << (attempts - 1).min(40)).min(60_000);
            for _ in 0..20 {
                assert!(delay_ms(attempts, 1000, 60_000) <= ceiling);
            }
        }
        // Huge attempt counts and bases saturate instead of overflowing.
        assert!(delay_ms(u32::MAX, u64::MAX, 5) <= 5);
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
