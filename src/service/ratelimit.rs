//! Per-API-key request limits.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{Error, Result};

/// A token bucket per API key: a sustained rate per minute and a burst.
pub struct KeyLimiter {
    limiter: DefaultKeyedRateLimiter<i64>,
    clock: DefaultClock,
}

impl KeyLimiter {
    /// Allows `per_minute` requests a minute per key, with bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> KeyLimiter {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        KeyLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Admits one request for `key`, or says how many seconds to wait.
    pub fn check(&self, key: i64) -> Result<()> {
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Error::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }
}
