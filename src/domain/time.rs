//! Timestamps: stored as Unix milliseconds, shown as RFC 3339 with milliseconds in UTC.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

thread_local! {
    static LOGICAL: RefCell<Option<LogicalClock>> = const { RefCell::new(None) };
}

/// The current time in Unix milliseconds: the wall clock, or the [`LogicalClock`] installed on
/// this thread.
pub fn now_ms() -> i64 {
    LOGICAL
        .with(|clock| clock.borrow().as_ref().map(LogicalClock::now))
        .unwrap_or_else(|| Utc::now().timestamp_millis())
}

/// A clock that moves only when told, so a scenario of known timings (the reports' tests, a
/// replay) runs without waiting. Installed per thread: a runtime whose threads all install it
/// (`on_thread_start`) runs everything it does on logical time.
#[derive(Debug, Clone)]
pub struct LogicalClock(Arc<AtomicI64>);

impl LogicalClock {
    /// A clock showing `ms`.
    pub fn starting_at(ms: i64) -> LogicalClock {
        LogicalClock(Arc::new(AtomicI64::new(ms)))
    }

    /// The time it shows.
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves it on by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Makes [`now_ms`] read this clock on the calling thread.
    pub fn install(&self) {
        LOGICAL.with(|clock| *clock.borrow_mut() = Some(self.clone()));
    }
}

/// Formats Unix milliseconds as `2026-04-09T09:15:22.041Z`.
pub fn to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Formats an optional timestamp.
pub fn opt_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(to_rfc3339)
}

/// Parses an RFC 3339 timestamp or a plain `YYYY-MM-DD` date (midnight UTC) into Unix milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let ms = parse_timestamp("2026-04-09T09:15:22.041Z").unwrap();
        assert_eq!(to_rfc3339(ms), "2026-04-09T09:15:22.041Z");
        assert_eq!(to_rfc3339(parse_timestamp("2026-04-09").unwrap()), "2026-04-09T00:00:00.000Z");
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
