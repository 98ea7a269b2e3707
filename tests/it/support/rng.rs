//! A seeded pseudo-random generator (SplitMix64), so that a randomized test
//! prints its seed and can be replayed with `STOWAGE_TEST_SEED=<seed>`.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct Rng(u64);

impl Rng {
    /// Seeded from `STOWAGE_TEST_SEED` if set, else from the clock; prints the seed.
    pub fn from_env_or_clock(test: &str) -> Rng {
        let seed = std::env::var("STOWAGE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("the clock is after 1970")
                    .as_nanos();
                u64::try_from(nanos % u128::from(u64::MAX)).expect("reduced modulo u64::MAX")
            });
        eprintln!("{test}: seed {seed} (replay with STOWAGE_TEST_SEED={seed})");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `low..high` (`high > low`).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low)
    }
}
