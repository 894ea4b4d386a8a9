//! PostgreSQL's binary value formats, for `COPY ... (FORMAT binary)` (`copy`): one
//! [`Param`] encoded for the column type it goes into, each field as its length and bytes.
//! A value that does not fit its column is refused here with a message naming both; a type
//! without an encoder here is refused too, never sent as text the server would misread.

use bytes::{BufMut, BytesMut};
use postgres::types::{Kind, Type};
use postgres_protocol::types as wire;

use super::value::Param;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

type Outcome = Result<(), String>;

/// Append one field (length, then bytes; -1 for NULL) for a column of type `ty`.
pub fn encode(value: &Param, ty: &Type, out: &mut BytesMut) -> Outcome {
    if matches!(value, Param::Null) {
        out.put_i32(-1);
        return Ok(());
    }
    let at = out.len();
    out.put_i32(0);
    body(value, ty, out)?;
    let length = i32::try_from(out.len() - at - 4).map_err(|_| "a value over 2 GB".to_owned())?;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

fn body(value: &Param, ty: &Type, out: &mut BytesMut) -> Outcome {
    match *ty {
        Type::BOOL => out.put_u8(u8::from(boolean(value)?)),
        Type::INT2 => out.put_i16(i16::try_from(integer(value)?).map_err(|_| out_of_range(ty))?),
        Type::INT4 => out.put_i32(i32::try_from(integer(value)?).map_err(|_| out_of_range(ty))?),
        Type::INT8 => out.put_i64(integer(value)?),
        // Rounded to the nearest float4, as the server's own input does.
        #[allow(clippy::cast_possible_truncation)]
        Type::FLOAT4 => out.put_f32(float(value)? as f32),
        Type::FLOAT8 => out.put_f64(float(value)?),
        Type::NUMERIC => numeric(&decimal_text(value)?, out)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::XML => {
            out.put_slice(text(value)?.as_bytes());
        }
        Type::JSON => out.put_slice(json(value)?.as_bytes()),
        Type::JSONB => {
            out.put_u8(1);
            out.put_slice(json(value)?.as_bytes());
        }
        Type::BYTEA => match value {
            Param::Bytes(bytes) => out.put_slice(bytes),
            _ => return Err(format!("expected bytes, got {}", describe(value))),
        },
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = timestamp_us(value)?;
            wire::timestamp_to_sql(micros - PG_EPOCH_US, out);
        }
        Type::DATE => {
            let days = date_days(text(value)?).ok_or_else(|| bad("a date (YYYY-MM-DD)", value))?;
            let days = i32::try_from(days - PG_EPOCH_DAYS).map_err(|_| out_of_range(ty))?;
            out.put_i32(days);
        }
        Type::UUID => out.put_slice(&uuid(text(value)?).ok_or_else(|| bad("a UUID", value))?),
        _ => match ty.kind() {
            Kind::Enum(_) => out.put_slice(text(value)?.as_bytes()),
            Kind::Domain(inner) => body(value, inner, out)?,
            _ if ty.name() == "citext" => out.put_slice(text(value)?.as_bytes()),
            _ => {
                return Err(format!(
                    "binary COPY cannot write {} columns; insert these rows with create_many",
                    ty.name()
                ))
            }
        },
    }
    Ok(())
}

fn describe(value: &Param) -> &'static str {
    match value {
        Param::Null => "NULL",
        Param::Bool(_) => "a bool",
        Param::Int(_) => "an int",
        Param::Float(_) => "a float",
        Param::Text(_) => "text",
        Param::Bytes(_) => "bytes",
        Param::DateTime { .. } => "a datetime",
        Param::Json(_) => "a JSON object",
        Param::List { .. } => "a list",
    }
}

fn bad(expected: &str, value: &Param) -> String {
    match value {
        Param::Text(text) => format!("expected {expected}, got {text:?}"),
        other => format!("expected {expected}, got {}", describe(other)),
    }
}

fn out_of_range(ty: &Type) -> String {
    format!("the value is out of range for type {}", ty.name())
}

fn boolean(value: &Param) -> Result<bool, String> {
    match value {
        Param::Bool(flag) => Ok(*flag),
        Param::Int(0) => Ok(false),
        Param::Int(1) => Ok(true),
        Param::Text(text) => match text.to_ascii_lowercase().as_str() {
            "t" | "true" | "1" => Ok(true),
            "f" | "false" | "0" => Ok(false),
            _ => Err(bad("a bool", value)),
        },
        _ => Err(bad("a bool", value)),
    }
}

fn integer(value: &Param) -> Result<i64, String> {
    match value {
        Param::Int(number) => Ok(*number),
        Param::Bool(flag) => Ok(i64::from(*flag)),
        Param::Text(text) => text.trim().parse().map_err(|_| bad("an integer", value)),
        _ => Err(bad("an integer", value)),
    }
}

fn float(value: &Param) -> Result<f64, String> {
    match value {
        Param::Float(number) => Ok(*number),
        // Python's float(int) rounds the same way.
        #[allow(clippy::cast_precision_loss)]
        Param::Int(number) => Ok(*number as f64),
        Param::Text(text) => match text.trim() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(|_| bad("a number", value)),
        },
        _ => Err(bad("a number", value)),
    }
}

fn text(value: &Param) -> Result<&str, String> {
    match value {
        Param::Text(text) | Param::Json(text) | Param::DateTime { text, .. } => Ok(text),
        _ => Err(bad("text", value)),
    }
}

fn json(value: &Param) -> Result<&str, String> {
    match value {
        Param::Json(text)
        | Param::Text(text)
        | Param::List {
            json: Some(text), ..
        } => Ok(text),
        _ => Err(bad("JSON", value)),
    }
}

fn decimal_text(value: &Param) -> Result<String, String> {
    match value {
        Param::Int(number) => Ok(number.to_string()),
        Param::Float(number) if number.is_nan() => Ok("NaN".to_owned()),
        Param::Float(number) if number.is_infinite() => Ok(if *number > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        }),
        // The shortest text that reads back as the same float, as the text path sends.
        Param::Float(number) => Ok(format!("{number:?}")),
        Param::Text(text) => Ok(text.trim().to_owned()),
        _ => Err(bad("a decimal number", value)),
    }
}

/// `numeric`'s binary form from decimal text: digit count, weight, sign, display scale,
/// then base-10000 digits grouped from the decimal point.
fn numeric(text: &str, out: &mut BytesMut) -> Outcome {
    let special = match text {
        "NaN" => Some(0xC000_u16),
        "Infinity" | "+Infinity" => Some(0xD000),
        "-Infinity" => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        out.put_slice(&[0, 0, 0, 0]);
        out.put_u16(sign);
        out.put_u16(0);
        return Ok(());
    }
    let invalid = || format!("expected a decimal number, got {text:?}");
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..].parse::<i32>().map_err(|_| invalid())?,
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    // All the digits, and where the decimal point sits among them after the exponent.
    let digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = i32::try_from(whole.len()).map_err(|_| invalid())? + exponent;
    let scale = (i32::try_from(fraction.len()).map_err(|_| invalid())? - exponent).max(0);
    // Group into base-10000 digits aligned on the point: pad the front so that the point
    // falls on a group boundary.
    let lead = (4 - point.rem_euclid(4)) % 4;
    let mut padded = vec![0_u8; usize::try_from(lead).map_err(|_| invalid())?];
    padded.extend(&digits);
    while padded.len() % 4 != 0 {
        padded.push(0);
    }
    let mut groups: Vec<i16> = padded
        .chunks(4)
        .map(|g| {
            i16::from(g[0]) * 1000 + i16::from(g[1]) * 100 + i16::from(g[2]) * 10 + i16::from(g[3])
        })
        .collect();
    let mut weight = (point + lead) / 4 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let count = u16::try_from(groups.len()).map_err(|_| invalid())?;
    out.put_u16(count);
    out.put_i16(i16::try_from(weight).map_err(|_| invalid())?);
    out.put_u16(if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    });
    out.put_u16(u16::try_from(scale).map_err(|_| invalid())?);
    for group in groups {
        out.put_i16(group);
    }
    Ok(())
}

/// Microseconds since the Unix epoch from ISO text (`YYYY-MM-DD[T ]HH:MM[:SS[.f]]` with
/// `Z`, `+HH:MM` or no offset, read as UTC as Prisma stores times).
fn timestamp_us(value: &Param) -> Result<i64, String> {
    let text = match value {
        Param::DateTime { text, .. } | Param::Text(text) => text.as_str(),
        _ => return Err(bad("a datetime", value)),
    };
    parse_timestamp(text.trim()).ok_or_else(|| bad("an ISO 8601 datetime", value))
}

fn parse_timestamp(text: &str) -> Option<i64> {
    let days = date_days(text.get(..10)?)?;
    let rest = text.get(10..)?;
    if rest.is_empty() {
        return days.checked_mul(86_400_000_000);
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    let number = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let hour = number(rest.get(..2)?)?;
    let minute = number(rest.get(3..5)?)?;
    (rest.as_bytes().get(2) == Some(&b':')).then_some(())?;
    let mut tail = rest.get(5..)?;
    let mut micros = 0;
    let mut second = 0;
    if let Some(after) = tail.strip_prefix(':') {
        second = number(after.get(..2)?)?;
        tail = after.get(2..)?;
        if let Some(after) = tail.strip_prefix('.') {
            let end = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            let fraction = &after[..end];
            let mut padded: String = fraction.chars().take(6).collect();
            while padded.len() < 6 {
                padded.push('0');
            }
            micros = number(&padded)?;
            tail = &after[end..];
        }
    }
    let offset = match tail {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match tail.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = tail[1..].chars().filter(char::is_ascii_digit).collect();
            let hours = number(digits.get(..2)?)?;
            let minutes = digits.get(2..4).map_or(Some(0), number)?;
            sign * (hours * 60 + minutes) * 60
        }
    };
    if hour > 24 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    seconds.checked_mul(1_000_000)?.checked_add(micros)
}

/// Days since the Unix epoch of `YYYY-MM-DD` (proleptic Gregorian).
fn date_days(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = text[..4].parse().ok()?;
    let month: i64 = text[5..7].parse().ok()?;
    let day: i64 = text[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm, shifted to a March-based year).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0_u8; 16];
    for (index, pair) in hex.chunks(2).enumerate() {
        out[index] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::postgres::value::numeric_text;

    fn round_trip(text: &str) -> String {
        let mut out = BytesMut::new();
        numeric(text, &mut out).unwrap();
        numeric_text(&out).unwrap()
    }

    #[test]
    fn numerics_read_back_as_written() {
        for (given, read) in [
            ("0", "0"),
            ("12.50", "12.50"),
            ("-0.001", "-0.001"),
            ("10000", "10000"),
            ("123456789.123456789", "123456789.123456789"),
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("NaN", "NaN"),
        ] {
            assert_eq!(round_trip(given), read, "{given}");
        }
        assert!(numeric("1.2.3", &mut BytesMut::new()).is_err());
    }

    #[test]
    fn timestamps_parse_with_offsets_to_utc() {
        let t = parse_timestamp("2026-11-22T09:30:00.123456Z").unwrap();
        assert_eq!(t, 1_795_339_800_123_456);
        assert_eq!(parse_timestamp("2026-11-22T10:30:00.123456+01:00"), Some(t));
        assert_eq!(parse_timestamp("2026-11-22 09:30:00.123456"), Some(t));
        assert_eq!(parse_timestamp("2026-11-22"), Some(1_795_305_600_000_000));
        assert_eq!(parse_timestamp("2026-13-22T09:30:00"), None);
        assert_eq!(date_days("2000-01-01"), Some(PG_EPOCH_DAYS));
    }
}
