//! Per-caller request limits.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{Error, Result};
use crate::service::auth::Caller;

/// A token bucket per caller (API key or logged-in operator): a sustained rate per minute and a burst.
pub struct KeyLimiter {
    limiter: DefaultKeyedRateLimiter<Caller>,
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
    pub fn check(&self, key: Caller) -> Result<()> {
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

/// The state of one caller's windows: the minute and second they started and what each counted.
#[derive(Debug, Clone, Copy, Default)]
struct Windows {
    minute: u64,
    minute_count: u32,
    second: u64,
    second_count: u32,
}

/// What a [`WindowLimiter`] decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowVerdict {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// Requests allowed per minute.
    pub limit: u32,
    /// Requests left in the current minute (after this one).
    pub remaining: u32,
    /// Seconds until the current minute window resets.
    pub reset_seconds: u64,
    /// When refused, seconds to wait before retrying.
    pub retry_after: u64,
}

/// Fixed windows per caller: at most `per_minute` requests in each clock minute and `per_second`
/// in each second (bursts), with the counts callers see in `X-RateLimit-*` headers.
pub struct WindowLimiter {
    per_minute: u32,
    per_second: u32,
    windows: std::sync::Mutex<std::collections::HashMap<String, Windows>>,
}

impl WindowLimiter {
    /// A limiter of `per_minute` requests a minute with bursts of `per_second` a second.
    pub fn new(per_minute: u32, per_second: u32) -> WindowLimiter {
        WindowLimiter {
            per_minute: per_minute.max(1),
            per_second: per_second.max(1),
            windows: std::sync::Mutex::default(),
        }
    }

    /// Counts one request of `caller` at `now_ms` (milliseconds since the epoch).
    pub fn check_at(&self, caller: &str, now_ms: u64) -> WindowVerdict {
        let minute = now_ms / 60_000;
        let second = now_ms / 1000;
        let reset_seconds = (60_000 - now_ms % 60_000).div_ceil(1000);
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, w| w.minute == minute);
        }
        let entry = windows.entry(caller.to_owned()).or_default();
        if entry.minute != minute {
            entry.minute = minute;
            entry.minute_count = 0;
        }
        if entry.second != second {
            entry.second = second;
            entry.second_count = 0;
        }
        let verdict = |allowed: bool, count: u32, retry_after: u64| WindowVerdict {
            allowed,
            limit: self.per_minute,
            remaining: self.per_minute.saturating_sub(count),
            reset_seconds,
            retry_after,
        };
        if entry.minute_count >= self.per_minute {
            return verdict(false, entry.minute_count, reset_seconds.max(1));
        }
        if entry.second_count >= self.per_second {
            return verdict(false, entry.minute_count, 1);
        }
        entry.minute_count += 1;
        entry.second_count += 1;
        verdict(true, entry.minute_count, 0)
    }

    /// Counts one request of `caller` now.
    pub fn check(&self, caller: &str) -> WindowVerdict {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.check_at(caller, now)
    }
}

#[cfg(test)]
mod tests {
    use super::WindowLimiter;

    #[test]
    fn windows_count_per_minute_and_per_second() {
        let limiter = WindowLimiter::new(3, 2);
        let start = 120_000;
        assert!(limiter.check_at("k", start).allowed);
        let second = limiter.check_at("k", start + 10);
        assert_eq!((second.allowed, second.remaining, second.reset_seconds), (true, 1, 60));
        let burst = limiter.check_at("k", start + 20);
        assert_eq!((burst.allowed, burst.retry_after), (false, 1));
        assert!(limiter.check_at("k", start + 1000).allowed);
        let full = limiter.check_at("k", start + 30_000);
        assert_eq!((full.allowed, full.remaining, full.retry_after), (false, 0, 30));
        assert!(limiter.check_at("other", start + 30_000).allowed, "each caller has its own windows");
        assert!(limiter.check_at("k", start + 60_000).allowed, "a new minute starts afresh");
    }
}
