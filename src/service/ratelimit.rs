//! Per-API-key request limits.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

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

/// A send queue's pace per channel: each business number has its own token bucket of
/// `messages_per_second` (burst of one second's worth), so one busy number never slows another.
#[derive(Default)]
pub struct ChannelLimiter {
    buckets: std::sync::Mutex<std::collections::HashMap<i64, (u32, std::sync::Arc<DefaultDirectRateLimiter>)>>,
    clock: DefaultClock,
}

impl ChannelLimiter {
    /// Takes one send for `channel` at `per_second`, or answers how long until the next is allowed.
    /// A changed rate starts a fresh bucket.
    pub fn check(&self, channel: i64, per_second: u32) -> std::result::Result<(), std::time::Duration> {
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = buckets.entry(channel).or_insert_with(|| (0, std::sync::Arc::new(direct(per_second))));
            if entry.0 != per_second {
                *entry = (per_second, std::sync::Arc::new(direct(per_second)));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

fn direct(per_second: u32) -> DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN)))
}
