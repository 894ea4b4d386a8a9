//! `DateTime` values as the core stores and reads them: milliseconds since the Unix epoch.
//!
//! The client writes `DateTime` fields in one of two formats (`strata/client/codecs.py`,
//! `DATETIME_FORMATS`): ISO 8601 text with milliseconds and an offset
//! (`2026-11-22T09:30:00.000+00:00`), or integer Unix milliseconds. Prisma versions also
//! wrote `YYYY-MM-DD HH:MM:SS` (`SQLite`'s `CURRENT_TIMESTAMP`, which is UTC), so reads accept
//! all three, as `codecs.parse_datetime` does. Bulk ingest, metric bucketing and the Arrow
//! export all go through this one module.

use rusqlite::types::{Value, ValueRef};

/// How a `DateTime` column is written (the client's `datetime_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Iso8601,
    UnixMs,
}

impl Format {
    /// `"iso8601"` or `"unixepoch-ms"`, the names `codecs.DATETIME_FORMATS` uses.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "iso8601" => Some(Format::Iso8601),
            "unixepoch-ms" => Some(Format::UnixMs),
            _ => None,
        }
    }

    /// The stored value for `ms`, as the client's codec would write it.
    pub fn encode(self, ms: i64) -> Value {
        match self {
            Format::Iso8601 => Value::Text(iso8601(ms)),
            Format::UnixMs => Value::Integer(ms),
        }
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day number from [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction: month in 1..=12, day in 1..=31.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (year, month as u8, day as u8)
}

/// The parts of a UTC instant, for building Python datetimes and ISO text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millisecond: u16,
}

pub fn parts(ms: i64) -> Parts {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    // Each is below its modulus, so the casts cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Parts {
        year,
        month,
        day,
        hour: (rest / 3_600_000) as u8,
        minute: (rest / 60_000 % 60) as u8,
        second: (rest / 1000 % 60) as u8,
        millisecond: (rest % 1000) as u16,
    }
}

/// `2026-11-22T09:30:00.000+00:00`, what `codecs._iso8601` writes.
pub fn iso8601(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millisecond
    )
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(parse_text(iso8601(ms).as_bytes()), Some(ms), "{ms}");
        }
        assert_eq!(iso8601(1_795_339_800_000), "2026-11-22T09:30:00.000+00:00");
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(i32::try_from(y).unwrap(), m, d), days);
        }
    }
}
