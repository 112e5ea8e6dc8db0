//! When released money becomes the seller's to pay out: business days in Korean time.

use std::collections::BTreeSet;
use time::macros::{format_description, offset};
use time::{Duration, OffsetDateTime, Weekday};

pub use time::Date;

#[cfg(test)]
mod tests;

/// A settlement date is a calendar date in Korea, where the banks pay.
const KOREA: time::UtcOffset = offset!(+9);

/// Settlement dates: `delay` business days after a release; weekends and `holidays` are not
/// business days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    delay: u32,
    holidays: BTreeSet<Date>,
}

impl Calendar {
    pub fn new(delay: u32, holidays: BTreeSet<Date>) -> Self {
        Self { delay, holidays }
    }

    pub fn is_business_day(&self, date: Date) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.holidays.contains(&date)
    }

    /// The date money released on `released` becomes available: that date itself when the
    /// delay is zero, else the `delay`-th business day after it.
    pub fn available_on(&self, released: Date) -> Date {
        let mut date = released;
        let mut left = self.delay;
        while left > 0 {
            date = date.saturating_add(Duration::days(1));
            if self.is_business_day(date) {
                left -= 1;
            }
        }
        date
    }
}

/// The Korean calendar date of an instant in Unix milliseconds.
pub fn korean_date(unix_millis: i64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(KOREA)
        .date()
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

pub fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("`{text}` is not a YYYY-MM-DD date"))
}

/// A comma-separated list of `YYYY-MM-DD` dates; empty items are ignored.
pub fn parse_holidays(list: &str) -> Result<BTreeSet<Date>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(parse_date)
        .collect()
}
