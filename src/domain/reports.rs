//! Reports' arithmetic: an account's business hours and the open time between two instants, the
//! local days or weeks a range falls into, and nearest-rank percentiles.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The weekdays as business hours name them, Monday first.
pub const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
/// Open intervals a day holds at most.
const MAX_INTERVALS: usize = 6;
const DAY_MINUTES: u32 = 24 * 60;
const MINUTE_MS: i64 = 60_000;

/// When an account answers: open intervals per weekday in its time zone. Waiting and resolution
/// times count only these hours when an account sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// IANA time zone, e.g. `Europe/Rome`.
    #[schema(example = "Europe/Rome")]
    pub timezone: String,
    /// Open intervals per day, `monday` to `sunday`; a day left out is closed.
    pub week: BTreeMap<String, Vec<OpenInterval>>,
}

/// An open interval of a day, in local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenInterval {
    /// `HH:MM`.
    #[schema(example = "09:00")]
    pub from: String,
    /// `HH:MM` after `from`; `24:00` is midnight.
    #[schema(example = "18:00")]
    pub to: String,
}

/// Business hours checked: the zone and, per weekday (Monday first), minutes from midnight.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub timezone: Tz,
    days: [Vec<(u32, u32)>; 7],
}

impl BusinessHours {
    /// Checks the zone, the day names and the intervals (ordered, not overlapping, at least one in
    /// the week); a failure names its field.
    pub fn schedule(&self) -> Result<Schedule, (String, String)> {
        let timezone = parse_timezone(&self.timezone).ok_or_else(|| {
            ("timezone".to_owned(), format!("`{}` is not an IANA time zone such as Europe/Rome", self.timezone))
        })?;
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, intervals) in &self.week {
            let field = format!("week.{day}");
            let index = WEEKDAYS
                .iter()
                .position(|name| name == day)
                .ok_or_else(|| (field.clone(), "days are monday, tuesday, … sunday".to_owned()))?;
            if intervals.len() > MAX_INTERVALS {
                return Err((field, format!("at most {MAX_INTERVALS} intervals a day")));
            }
            let mut previous_end = 0;
            for (i, interval) in intervals.iter().enumerate() {
                let field = format!("{field}[{i}]");
                let (Some(from), Some(to)) = (minutes(&interval.from), minutes(&interval.to)) else {
                    return Err((field, "times are HH:MM, from 00:00 to 24:00".to_owned()));
                };
                if to <= from {
                    return Err((field, "`to` must be after `from`".to_owned()));
                }
                if i > 0 && from < previous_end {
                    return Err((field, "intervals must be in order and must not overlap".to_owned()));
                }
                previous_end = to;
                days[index].push((from, to));
            }
        }
        if days.iter().all(Vec::is_empty) {
            return Err(("week".to_owned(), "business hours need at least one open interval".to_owned()));
        }
        Ok(Schedule { timezone, days })
    }
}

/// An IANA time zone by name.
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// `HH:MM` as minutes from midnight, `24:00` included.
fn minutes(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= DAY_MINUTES).then_some(total)
}

/// The instant a local date and time names in `zone`: the earlier one when a clock change repeats
/// it, the first instant after when a clock change skips it.
fn instant(zone: Tz, local: NaiveDateTime) -> i64 {
    let mut local = local;
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&local).earliest() {
            return at.timestamp_millis();
        }
        local += chrono::Duration::minutes(30);
    }
    local.and_utc().timestamp_millis()
}

/// A local date in `zone` at an instant.
fn local_date(zone: Tz, at: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(at).unwrap_or_default().with_timezone(&zone).date_naive()
}

/// The start of a local day as an instant.
fn midnight(zone: Tz, date: NaiveDate) -> i64 {
    instant(zone, date.and_time(NaiveTime::MIN))
}

/// How long two instants are apart: on the wall clock, or counting only business hours.
#[derive(Debug, Clone)]
pub enum Stopwatch {
    /// Every millisecond counts.
    Wall,
    /// Only open time counts.
    Business(OpenTime),
}

impl Stopwatch {
    /// Milliseconds from `start` to `end` (0 when `end` is not after `start`).
    pub fn elapsed(&self, start: i64, end: i64) -> i64 {
        match self {
            Stopwatch::Wall => (end - start).max(0),
            Stopwatch::Business(open) => open.between(start, end),
        }
    }
}

/// A schedule's open intervals over a stretch of time, with the open time before each, so the
/// open time between two instants is two binary searches.
#[derive(Debug, Clone)]
pub struct OpenTime {
    starts: Vec<i64>,
    ends: Vec<i64>,
    open_before: Vec<i64>,
}

impl OpenTime {
    /// The open intervals of `schedule` from `first` to `last` (instants).
    pub fn over(schedule: &Schedule, first: i64, last: i64) -> OpenTime {
        let zone = schedule.timezone;
        let (mut starts, mut ends, mut open_before) = (Vec::new(), Vec::new(), Vec::new());
        let mut total = 0;
        let mut date = local_date(zone, first).pred_opt().unwrap_or(NaiveDate::MIN);
        let end_date = local_date(zone, last).succ_opt().unwrap_or(NaiveDate::MAX);
        while date <= end_date {
            let day = &schedule.days[date.weekday().num_days_from_monday() as usize];
            let midnight = date.and_time(NaiveTime::MIN);
            for (from, to) in day {
                let start = instant(zone, midnight + chrono::Duration::minutes(i64::from(*from)));
                let end = instant(zone, midnight + chrono::Duration::minutes(i64::from(*to)));
                let start = start.max(ends.last().copied().unwrap_or(i64::MIN));
                if end > start {
                    starts.push(start);
                    ends.push(end);
                    open_before.push(total);
                    total += end - start;
                }
            }
            match date.checked_add_days(Days::new(1)) {
                Some(next) => date = next,
                None => break,
            }
        }
        OpenTime { starts, ends, open_before }
    }

    /// Open milliseconds from `start` to `end`.
    pub fn between(&self, start: i64, end: i64) -> i64 {
        (self.open_until(end) - self.open_until(start)).max(0)
    }

    /// Open milliseconds from the beginning of the table to `at`.
    fn open_until(&self, at: i64) -> i64 {
        match self.starts.partition_point(|start| *start <= at) {
            0 => 0,
            n => self.open_before[n - 1] + at.min(self.ends[n - 1]) - self.starts[n - 1],
        }
    }
}

/// How a report cuts its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
}

/// The local days or weeks (Monday to Sunday) a range falls into, as instants.
#[derive(Debug, Clone)]
pub struct Periods {
    pub starts: Vec<i64>,
    pub dates: Vec<NaiveDate>,
}

impl Periods {
    /// The periods of `zone` holding `from` (inclusive) to `to` (exclusive).
    pub fn cover(zone: Tz, interval: Interval, from: i64, to: i64) -> Periods {
        let mut date = local_date(zone, from);
        let step = match interval {
            Interval::Day => 1,
            Interval::Week => {
                date = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
                7
            }
        };
        let (mut starts, mut dates) = (Vec::new(), Vec::new());
        loop {
            let start = midnight(zone, date);
            if start >= to && !starts.is_empty() {
                break;
            }
            starts.push(start);
            dates.push(date);
            match date.checked_add_days(Days::new(step)) {
                Some(next) => date = next,
                None => break,
            }
        }
        Periods { starts, dates }
    }

    /// The period holding an instant of the range.
    pub fn index(&self, at: i64) -> usize {
        self.starts.partition_point(|start| *start <= at).saturating_sub(1)
    }
}

/// How many local days `from` to `to` spans, at most.
pub fn days_between(from: i64, to: i64) -> i64 {
    (to - from).div_euclid(24 * 60 * MINUTE_MS)
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `percent` % of
/// the values at or below it (an observed value, as PostgreSQL's `percentile_disc` gives).
pub fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::parse_timestamp;

    fn at(text: &str) -> i64 {
        parse_timestamp(text).unwrap()
    }

    fn hours(week: &[(&str, &str, &str)]) -> BusinessHours {
        let mut days: BTreeMap<String, Vec<OpenInterval>> = BTreeMap::new();
        for (day, from, to) in week {
            days.entry((*day).to_owned())
                .or_default()
                .push(OpenInterval { from: (*from).to_owned(), to: (*to).to_owned() });
        }
        BusinessHours { timezone: "Europe/Rome".to_owned(), week: days }
    }

    #[test]
    fn percentiles_are_observed_values_by_nearest_rank() {
        let values = [60, 120, 180, 240, 300, 360, 420, 480, 540, 3600];
        assert_eq!(nearest_rank(&values, 50), Some(300));
        assert_eq!(nearest_rank(&values, 90), Some(540));
        assert_eq!(nearest_rank(&values[..3], 50), Some(120));
        assert_eq!(nearest_rank(&values[..3], 90), Some(180));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn business_hours_count_only_open_time_in_the_accounts_zone() {
        let schedule =
            hours(&[("friday", "09:00", "13:00"), ("friday", "14:00", "18:00"), ("monday", "09:00", "18:00")])
                .schedule()
                .unwrap();
        let open = OpenTime::over(&schedule, at("2026-11-20T00:00:00Z"), at("2026-11-24T00:00:00Z"));
        // Friday 17:30 Rome (16:30 UTC) to Monday 09:15 Rome: 30 + 15 minutes open.
        assert_eq!(open.between(at("2026-11-20T16:30:00Z"), at("2026-11-23T08:15:00Z")), 45 * MINUTE_MS);
        // Over the lunch break only the open minutes count.
        assert_eq!(open.between(at("2026-11-20T11:30:00Z"), at("2026-11-20T13:30:00Z")), 60 * MINUTE_MS);
        // All weekend closed.
        assert_eq!(open.between(at("2026-11-21T08:00:00Z"), at("2026-11-22T20:00:00Z")), 0);
        assert_eq!(Stopwatch::Business(open).elapsed(at("2026-11-20T09:00:00Z"), at("2026-11-20T08:00:00Z")), 0);
    }

    #[test]
    fn a_clock_change_day_keeps_its_local_hours() {
        let schedule = hours(&[("sunday", "00:00", "24:00")]).schedule().unwrap();
        // 2026-10-25: Rome goes from UTC+2 to UTC+1, so the local Sunday lasts 25 hours.
        let open = OpenTime::over(&schedule, at("2026-10-24T00:00:00Z"), at("2026-10-27T00:00:00Z"));
        assert_eq!(open.between(at("2026-10-24T00:00:00Z"), at("2026-10-27T00:00:00Z")), 25 * 60 * MINUTE_MS);
        let days = Periods::cover(
            chrono_tz::Europe::Rome,
            Interval::Day,
            at("2026-10-25T00:00:00Z"),
            at("2026-10-26T00:00:00Z"),
        );
        assert_eq!(days.starts, vec![at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z")]);
        assert_eq!(days.index(at("2026-10-25T22:59:59Z")), 0);
        assert_eq!(days.index(at("2026-10-25T23:00:00Z")), 1);
    }

    #[test]
    fn weeks_start_on_monday_at_local_midnight() {
        let weeks = Periods::cover(
            chrono_tz::Europe::Rome,
            Interval::Week,
            at("2026-11-26T10:00:00Z"),
            at("2026-12-08T00:00:00Z"),
        );
        assert_eq!(
            weeks.starts,
            vec![at("2026-11-22T23:00:00Z"), at("2026-11-29T23:00:00Z"), at("2026-12-06T23:00:00Z")]
        );
        assert_eq!(weeks.dates[0].to_string(), "2026-11-23");
    }

    #[test]
    fn bad_business_hours_name_their_field() {
        let fail = |hours: BusinessHours| hours.schedule().unwrap_err().0;
        assert_eq!(
            fail(BusinessHours { timezone: "Mars/Olympus".to_owned(), ..hours(&[("monday", "09:00", "18:00")]) }),
            "timezone"
        );
        assert_eq!(fail(hours(&[("funday", "09:00", "18:00")])), "week.funday");
        assert_eq!(fail(hours(&[("monday", "9:00", "18:00")])), "week.monday[0]");
        assert_eq!(fail(hours(&[("monday", "18:00", "09:00")])), "week.monday[0]");
        assert_eq!(fail(hours(&[("monday", "09:00", "13:00"), ("monday", "12:00", "18:00")])), "week.monday[1]");
        assert_eq!(fail(hours(&[("monday", "09:00", "24:01")])), "week.monday[0]");
        assert_eq!(fail(BusinessHours { timezone: "UTC".to_owned(), week: BTreeMap::new() }), "week");
        assert!(hours(&[("monday", "00:00", "24:00")]).schedule().is_ok());
    }
}
