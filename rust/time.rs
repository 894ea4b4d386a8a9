//! UTC timestamps as the client stores them, and the clock the hot paths read.
//!
//! A `DateTime` column holds its values in one of four *forms*, each one whose stored order
//! is time order and in which one instant has one stored value
//! (`strata/client/datetimes.py` detects a column's form from its data and documents them):
//! ISO 8601 text with milliseconds and a `+00:00` offset (`2026-11-22T09:30:00.000+00:00`),
//! the same with `Z` (`2026-11-22T09:30:00.000Z`), `SQLite`'s own `YYYY-MM-DD HH:MM:SS`
//! (`CURRENT_TIMESTAMP`, with `.fff` when the milliseconds are not zero) and integer Unix
//! milliseconds. The core writes timestamps itself (bulk inserts, leases, rollups) in the
//! form Python detected for the column, and must produce exactly the bytes the Python
//! codecs produce. Reads (`read`) accept every form and other ISO 8601 text, as
//! `codecs.parse_datetime` does. Metric bucketing and the Arrow export read through here.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::{Value, ValueRef};

use crate::error::{Error, Result};

/// The last instant a `DateTime` can hold, 9999-12-31T23:59:59.999Z, in Unix milliseconds:
/// Python's `datetime` and four-digit ISO 8601 years end there, so a later stored time
/// could not be read back.
pub const LAST_MS: i64 = 253_402_300_799_999;

/// `now_ms + span_ms`, or a `ValidationError` naming `what` when that is after `LAST_MS`.
/// Checked before a lease, delay or window end is written.
pub fn later_by(now_ms: i64, span_ms: i64, what: &str) -> Result<i64> {
    match now_ms.checked_add(span_ms) {
        Some(end) if end <= LAST_MS => Ok(end),
        _ => Err(Error::invalid(format!(
            "{what} of {span_ms} ms would end after 9999-12-31T23:59:59.999Z, the last time a \
             DateTime can hold; nothing was written"
        ))),
    }
}

/// How a `DateTime` column stores its values: the form detected from its data, or for an
/// empty column `strata.connect(..., datetime_format=)`. The names are the Python ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `2026-11-22T09:30:00.000+00:00`
    Iso8601,
    /// `2026-11-22T09:30:00.000Z`
    Iso8601Z,
    /// `2026-11-22 09:30:00`, or `2026-11-22 09:30:00.123` when the milliseconds are not 0
    SqliteDateTime,
    /// `1795339800000`
    UnixMs,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format> {
        match name {
            "iso8601" => Ok(Format::Iso8601),
            "iso8601-z" => Ok(Format::Iso8601Z),
            "sqlite-datetime" => Ok(Format::SqliteDateTime),
            "unixepoch-ms" => Ok(Format::UnixMs),
            other => Err(Error::invalid(format!(
                "unknown datetime format {other:?}; expected \"iso8601\", \"iso8601-z\", \
                 \"sqlite-datetime\" or \"unixepoch-ms\""
            ))),
        }
    }

    /// The stored form of `ms` milliseconds since the Unix epoch.
    #[must_use]
    pub fn value(self, ms: i64) -> Value {
        match self {
            Format::UnixMs => Value::Integer(ms),
            _ => self.of(&UtcTime::from_unix_ms(ms)),
        }
    }

    /// The stored form of a calendar time.
    #[must_use]
    pub fn of(self, time: &UtcTime) -> Value {
        match self {
            Format::Iso8601 => Value::Text(time.iso8601()),
            Format::Iso8601Z => Value::Text(time.iso8601_z()),
            Format::SqliteDateTime => Value::Text(time.sqlite_datetime()),
            Format::UnixMs => Value::Integer(time.unix_ms()),
        }
    }
}

/// A UTC calendar time with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millisecond: u32,
}

impl UtcTime {
    #[must_use]
    pub fn from_unix_ms(ms: i64) -> UtcTime {
        let days = ms.div_euclid(86_400_000);
        let of_day = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        // The casts cannot truncate: each value is bounded by the remainders above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        UtcTime {
            year,
            month,
            day,
            hour: (of_day / 3_600_000) as u8,
            minute: (of_day / 60_000 % 60) as u8,
            second: (of_day / 1000 % 60) as u8,
            millisecond: (of_day % 1000) as u32,
        }
    }

    /// `2026-11-22T09:30:00.000+00:00`, what `codecs._iso8601` writes.
    #[must_use]
    pub fn iso8601(&self) -> String {
        let mut text = self.date_and_time('T', 10);
        self.push_milliseconds(&mut text);
        text.push_str("+00:00");
        text
    }

    /// `2026-11-22T09:30:00.000Z`, what `codecs._iso8601_z` writes.
    #[must_use]
    pub fn iso8601_z(&self) -> String {
        let mut text = self.date_and_time('T', 5);
        self.push_milliseconds(&mut text);
        text.push('Z');
        text
    }

    /// `2026-11-22 09:30:00`, with `.123` only when there are milliseconds (so a whole
    /// second is written as `CURRENT_TIMESTAMP` writes it), what `codecs._sqlite_datetime`
    /// writes.
    #[must_use]
    pub fn sqlite_datetime(&self) -> String {
        let mut text = self.date_and_time(' ', 4);
        if self.millisecond != 0 {
            self.push_milliseconds(&mut text);
        }
        text
    }

    /// `YYYY-MM-DD<separator>HH:MM:SS`, which every text form starts with, with room for
    /// `more` bytes. Written digit by digit: ingest formats a time per row, and `format!`
    /// was a tenth of its conversion.
    fn date_and_time(&self, separator: char, more: usize) -> String {
        let mut text = String::with_capacity(19 + more);
        match u32::try_from(self.year) {
            Ok(year) if year <= 9999 => push_digits(&mut text, year, 4),
            _ => {
                use std::fmt::Write;
                let _ = write!(text, "{:04}", self.year);
            }
        }
        text.push('-');
        push_digits(&mut text, u32::from(self.month), 2);
        text.push('-');
        push_digits(&mut text, u32::from(self.day), 2);
        text.push(separator);
        push_digits(&mut text, u32::from(self.hour), 2);
        text.push(':');
        push_digits(&mut text, u32::from(self.minute), 2);
        text.push(':');
        push_digits(&mut text, u32::from(self.second), 2);
        text
    }

    fn push_milliseconds(&self, text: &mut String) {
        text.push('.');
        push_digits(text, self.millisecond, 3);
    }

    /// Milliseconds since the Unix epoch, what `codecs._unixepoch_ms` writes.
    #[must_use]
    pub fn unix_ms(&self) -> i64 {
        let seconds = days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        seconds * 1000 + i64::from(self.millisecond)
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `value` as exactly `width` decimal digits, zero-padded; `value` has at most `width`.
fn push_digits(text: &mut String, value: u32, width: u32) {
    let mut divisor = 10_u32.pow(width - 1);
    while divisor > 0 {
        // A digit: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        text.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

/// The inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // In range for every timestamp a DateTime can hold (years 1 to 9999).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (year as i32, month as u8, day as u8)
}

/// A stored `DateTime` as milliseconds since the epoch, or None for NULL and for values that
/// are not a `DateTime` in any format the client reads.
pub fn read(value: ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(ms) => Some(ms),
        // Truncated toward negative infinity, like timedelta(milliseconds=...) floors.
        #[allow(clippy::cast_possible_truncation)]
        ValueRef::Real(ms) if ms.is_finite() => Some(ms.floor() as i64),
        ValueRef::Text(text) => parse_text(text),
        _ => None,
    }
}

/// Parse `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.fff...]]`, and
/// an offset (`Z`, `+HH:MM`, `-HHMM`); text without an offset is UTC, as in `SQLite`.
pub fn parse_text(text: &[u8]) -> Option<i64> {
    let mut cursor = Cursor { text, at: 0 };
    let year = cursor.digits(4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
    if matches!(cursor.peek(), Some(b'T' | b't' | b' ')) {
        cursor.at += 1;
        hour = cursor.digits(2)?;
        cursor.expect(b':')?;
        minute = cursor.digits(2)?;
        if cursor.peek() == Some(b':') {
            cursor.at += 1;
            second = cursor.digits(2)?;
            if cursor.peek() == Some(b'.') {
                cursor.at += 1;
                // Milliseconds from the first three digits; further digits are truncated.
                let mut scale = 100;
                let start = cursor.at;
                while let Some(digit) = cursor.peek().filter(u8::is_ascii_digit) {
                    millis += i64::from(digit - b'0') * scale;
                    scale /= 10;
                    cursor.at += 1;
                }
                if cursor.at == start {
                    return None;
                }
            }
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset_minutes = match cursor.peek() {
        None => 0,
        Some(b'Z' | b'z') => {
            cursor.at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            cursor.at += 1;
            let hours = cursor.digits(2)?;
            if cursor.peek() == Some(b':') {
                cursor.at += 1;
            }
            let minutes = cursor.digits(2)?;
            let total = hours * 60 + minutes;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        Some(_) => return None,
    };
    if cursor.at != text.len() {
        return None;
    }
    // Ranges were checked above, so the narrowing casts cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let days = days_from_civil(year as i32, month as u8, day as u8);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn digits(&mut self, count: usize) -> Option<i64> {
        let slice = self.text.get(self.at..self.at + count)?;
        let mut number = 0;
        for &digit in slice {
            if !digit.is_ascii_digit() {
                return None;
            }
            number = number * 10 + i64::from(digit - b'0');
        }
        self.at += count;
        Some(number)
    }
}

/// The wall clock the hot paths read: the queue in Unix milliseconds (`now_ms`), the rate
/// limiter in nanoseconds (`now_ns`, once per hit, after the write lock is held). Tests move
/// it without sleeping: the queue's shift it to make leases expire (`shift`), the rate
/// limiter's fix it at an instant (`set_fixed`). Either belongs to one clock, so one
/// process's tests do not move another's time.
#[derive(Debug)]
pub struct Clock {
    offset_ms: AtomicI64,
    /// The instant the clock is fixed at, in nanoseconds since the Unix epoch, or
    /// `SYSTEM_CLOCK` to follow the system clock.
    fixed: AtomicI64,
}

/// `Clock::fixed` when the clock follows the system clock.
const SYSTEM_CLOCK: i64 = i64::MIN;
const NANOS_PER_MILLI: i64 = 1_000_000;

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset_ms: AtomicI64::new(0),
            fixed: AtomicI64::new(SYSTEM_CLOCK),
        }
    }
}

impl Clock {
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        let base = if let Some(ns) = self.fixed() {
            ns.div_euclid(NANOS_PER_MILLI)
        } else {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
        };
        base + self.offset_ms.load(Ordering::Relaxed)
    }

    /// The same reading as `now_ms`, in nanoseconds since the Unix epoch.
    #[must_use]
    pub fn now_ns(&self) -> i64 {
        let base = match self.fixed() {
            Some(ns) => ns,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        };
        base.saturating_add(
            self.offset_ms
                .load(Ordering::Relaxed)
                .saturating_mul(NANOS_PER_MILLI),
        )
    }

    /// Move this clock by `ms` (negative: backwards) from now on.
    pub fn shift(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Fix the clock at `ns` since the Unix epoch, or return to the system clock with None.
    pub fn set_fixed(&self, ns: Option<i64>) {
        self.fixed
            .store(ns.unwrap_or(SYSTEM_CLOCK), Ordering::Relaxed);
    }

    #[must_use]
    pub fn fixed(&self) -> Option<i64> {
        match self.fixed.load(Ordering::Relaxed) {
            SYSTEM_CLOCK => None,
            fixed => Some(fixed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_ending_after_the_last_datetime_are_refused() {
        assert_eq!(later_by(LAST_MS - 10, 10, "a lease").unwrap(), LAST_MS);
        assert!(later_by(LAST_MS - 10, 11, "a lease").is_err());
        assert!(later_by(i64::MAX - 1, 5, "a lease").is_err());
        assert_eq!(
            UtcTime::from_unix_ms(LAST_MS).iso8601(),
            "9999-12-31T23:59:59.999+00:00"
        );
    }

    #[test]
    fn round_trips_through_the_calendar() {
        for ms in [
            0,
            -1,
            1_795_339_800_123,
            -62_135_596_800_000, // 0001-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            951_782_400_000,     // 2000-02-29
        ] {
            assert_eq!(UtcTime::from_unix_ms(ms).unix_ms(), ms, "{ms}");
        }
    }

    #[test]
    fn formats_like_the_python_codecs() {
        assert_eq!(
            Format::Iso8601.value(1_795_339_800_123),
            Value::Text("2026-11-22T09:30:00.123+00:00".into())
        );
        assert_eq!(
            Format::Iso8601.value(-1),
            Value::Text("1969-12-31T23:59:59.999+00:00".into())
        );
        assert_eq!(Format::UnixMs.value(42), Value::Integer(42));
        assert_eq!(
            Format::Iso8601Z.value(1_795_339_800_123),
            Value::Text("2026-11-22T09:30:00.123Z".into())
        );
        assert_eq!(
            Format::SqliteDateTime.value(1_795_339_800_123),
            Value::Text("2026-11-22 09:30:00.123".into())
        );
        assert_eq!(
            Format::SqliteDateTime.value(1_795_339_800_000),
            Value::Text("2026-11-22 09:30:00".into())
        );
        for name in ["iso8601", "iso8601-z", "sqlite-datetime", "unixepoch-ms"] {
            let format = Format::parse(name).unwrap();
            match format.value(-1) {
                Value::Integer(ms) => assert_eq!(ms, -1),
                Value::Text(text) => assert_eq!(parse_text(text.as_bytes()), Some(-1), "{name}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(Format::parse("rfc2822").is_err());
        // The digit-by-digit writer against `format!`, years outside 0..=9999 included.
        for ms in [
            0,
            1,
            -86_400_001,
            253_402_300_799_999,
            253_402_300_800_000,
            -62_167_219_200_001,
            1_795_339_805_007,
        ] {
            let t = UtcTime::from_unix_ms(ms);
            let reference = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
                t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond
            );
            assert_eq!(t.iso8601(), reference, "{ms}");
        }
    }

    #[test]
    fn reads_every_format_the_client_reads() {
        let expected = 1_795_339_800_123;
        for text in [
            "2026-11-22T09:30:00.123+00:00",
            "2026-11-22T09:30:00.123Z",
            "2026-11-22 09:30:00.123",
            "2026-11-22T10:30:00.123456+01:00",
            "2026-11-22T04:00:00.123-0530",
        ] {
            assert_eq!(parse_text(text.as_bytes()), Some(expected), "{text}");
        }
        assert_eq!(read(ValueRef::Integer(expected)), Some(expected));
        assert_eq!(
            parse_text(b"2026-11-22"),
            Some(expected - 9 * 3_600_000 - 30 * 60_000 - 123)
        );
        for bad in [
            "2026-13-01",
            "2026-11-22T09",
            "yesterday",
            "2026-11-22T09:30:00+0",
        ] {
            assert_eq!(parse_text(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_795_339_800_123, -1, -86_400_001, 253_402_300_799_999] {
            assert_eq!(
                parse_text(UtcTime::from_unix_ms(ms).iso8601().as_bytes()),
                Some(ms),
                "{ms}"
            );
        }
        assert_eq!(
            UtcTime::from_unix_ms(1_795_339_800_000).iso8601(),
            "2026-11-22T09:30:00.000+00:00"
        );
    }

    #[test]
    fn a_clock_can_be_shifted() {
        let clock = Clock::default();
        let before = clock.now_ms();
        clock.shift(60_000);
        assert!(clock.now_ms() >= before + 60_000);
    }

    #[test]
    fn clock_can_be_fixed_and_released() {
        const S: i64 = 1_000_000_000;
        let clock = Clock::default();
        assert!(clock.now_ns() > 1_600_000_000 * S);
        clock.set_fixed(Some(42));
        assert_eq!(clock.now_ns(), 42);
        clock.set_fixed(None);
        assert!(clock.fixed().is_none());
    }
}
