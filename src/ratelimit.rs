//! Per-caller request limits.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::principal::Caller;
use crate::error::{Error, Result};

/// A token bucket per key (by default the caller: API key or logged-in operator): a sustained
/// rate per minute and a burst. In a cluster each node takes an equal share of them.
pub struct KeyLimiter<K: Hash + Eq + Clone = Caller> {
    per_minute: u32,
    burst: u32,
    /// The nodes sharing the limits, and this node's limiter for its share.
    share: std::sync::RwLock<(u32, std::sync::Arc<DefaultKeyedRateLimiter<K>>)>,
    clock: DefaultClock,
}

/// Who a web chat widget's request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WidgetKey {
    /// A visitor session (its id).
    Session(i64),
    /// The address sessions are opened from.
    Address(IpAddr),
}

impl<K: Hash + Eq + Clone> KeyLimiter<K> {
    /// Allows `per_minute` requests a minute per key, with bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> KeyLimiter<K> {
        KeyLimiter {
            per_minute,
            burst,
            share: std::sync::RwLock::new((1, std::sync::Arc::new(keyed(per_minute, burst)))),
            clock: DefaultClock::default(),
        }
    }

    /// Shares the limits among `nodes` nodes: this node allows its part of them (counts start over
    /// when the number changes).
    pub fn share_among(&self, nodes: u32) {
        let nodes = nodes.max(1);
        let mut share = self.share.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if share.0 != nodes {
            let part = |limit: u32| limit.div_ceil(nodes);
            *share = (nodes, std::sync::Arc::new(keyed(part(self.per_minute), part(self.burst))));
        }
    }

    /// Admits one request for `key`, or says how many seconds to wait.
    pub fn check(&self, key: K) -> Result<()> {
        let limiter = self.share.read().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone();
        limiter.check_key(&key).map_err(|not_until| {
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

fn keyed<K: Hash + Eq + Clone>(per_minute: u32, burst: u32) -> DefaultKeyedRateLimiter<K> {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
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

/// Fixed windows per caller: at most `per_minute` requests in each clock minute and `per_burst`
/// in each burst window (a second unless set), with the counts callers see in `X-RateLimit-*`
/// headers.
pub struct WindowLimiter {
    per_minute: u32,
    per_burst: u32,
    burst_ms: u64,
    windows: std::sync::Mutex<std::collections::HashMap<String, Windows>>,
}

impl WindowLimiter {
    /// A limiter of `per_minute` requests a minute with bursts of `per_second` a second.
    pub fn new(per_minute: u32, per_second: u32) -> WindowLimiter {
        WindowLimiter::with_bursts(per_minute, per_second, 1000)
    }

    /// A limiter of `per_minute` requests a minute with bursts of `per_burst` every `burst_ms`.
    pub fn with_bursts(per_minute: u32, per_burst: u32, burst_ms: u64) -> WindowLimiter {
        WindowLimiter {
            per_minute: per_minute.max(1),
            per_burst: per_burst.max(1),
            burst_ms: burst_ms.max(1),
            windows: std::sync::Mutex::default(),
        }
    }

    /// Counts one request of `caller` at `now_ms` (milliseconds since the epoch).
    pub fn check_at(&self, caller: &str, now_ms: u64) -> WindowVerdict {
        let minute = now_ms / 60_000;
        let second = now_ms / self.burst_ms;
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
        if entry.second_count >= self.per_burst {
            let burst_left = (self.burst_ms - now_ms % self.burst_ms).div_ceil(1000);
            return verdict(false, entry.minute_count, burst_left.max(1));
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

/// Failed authentications (wrong API keys or passwords) per client address, as a leaky bucket:
/// each failure adds one, `per_minute` leak away each minute, and an address whose bucket is full
/// is refused, whatever it sends, until one has leaked. Guessing keys or passwords from one address
/// is slowed to that pace (passwords are also limited per email, see `auth`).
pub struct FailureLimiter {
    per_minute: u32,
    buckets: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, i64)>>,
}

impl FailureLimiter {
    /// A limiter allowing `per_minute` failures a minute per address.
    pub fn new(per_minute: u32) -> FailureLimiter {
        FailureLimiter { per_minute: per_minute.max(1), buckets: std::sync::Mutex::default() }
    }

    /// What is left in a bucket filled to `level` at `at` by `now` (all in ms).
    fn leaked(&self, (level, at): (f64, i64), now: i64) -> f64 {
        (level - (now - at).max(0) as f64 * f64::from(self.per_minute) / 60_000.0).max(0.0)
    }

    /// Refuses an address whose bucket is full, with the seconds until it may try again.
    pub fn check(&self, client: Option<std::net::IpAddr>, now_ms: i64) -> Result<()> {
        let Some(client) = client else { return Ok(()) };
        let buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let level = buckets.get(&client).map_or(0.0, |bucket| self.leaked(*bucket, now_ms));
        let limit = f64::from(self.per_minute);
        if level <= limit - 1.0 {
            return Ok(());
        }
        let wait_ms = (level - (limit - 1.0)) * 60_000.0 / limit;
        Err(Error::TooManyFailures((wait_ms / 1000.0).ceil().max(1.0) as u64))
    }

    /// Counts a failed authentication of an address at `now_ms`.
    pub fn record(&self, client: Option<std::net::IpAddr>, now_ms: i64) {
        let Some(client) = client else { return };
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            buckets.retain(|_, bucket| self.leaked(*bucket, now_ms) > 0.0);
        }
        let level = buckets.get(&client).map_or(0.0, |bucket| self.leaked(*bucket, now_ms));
        buckets.insert(client, (level + 1.0, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::{FailureLimiter, WindowLimiter};
    use crate::error::Error;

    #[test]
    fn failures_fill_a_bucket_per_address_that_leaks() {
        let limiter = FailureLimiter::new(2);
        let (a, b) = (Some("192.0.2.1".parse().unwrap()), Some("192.0.2.2".parse().unwrap()));
        let start = 600_000;
        limiter.record(a, start);
        assert!(limiter.check(a, start).is_ok());
        limiter.record(a, start + 1);
        assert!(matches!(limiter.check(a, start + 1), Err(Error::TooManyFailures(30))));
        assert!(matches!(limiter.check(a, start + 15_000), Err(Error::TooManyFailures(15))));
        assert!(limiter.check(b, start).is_ok(), "another address is unaffected");
        limiter.record(None, start);
        assert!(limiter.check(None, start).is_ok(), "requests without an address are not limited");
        assert!(limiter.check(a, start + 30_001).is_ok(), "one failure has leaked away after 30 s");
        limiter.record(a, start + 30_001);
        assert!(limiter.check(a, start + 30_002).is_err(), "and the next fills it again");
    }

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
