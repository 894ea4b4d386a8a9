//! The bulk writer's conversions that need no state: the fast path's checks for the
//! common types (`fast_convert`), and the parsing of Python's column description.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDateAccess, PyDateTime, PyFloat, PyInt, PyString, PyTimeAccess, PyTzInfo,
    PyTzInfoAccess,
};
use rusqlite::types::Value;

use super::slot::Slot;
use super::{Kind, Missing};
use crate::error::Error;
use crate::time::{Format, UtcTime};

/// The stored value for the common cases, or None to defer to the Python encoder (which
/// converts what it accepts and raises the field's error for the rest).
pub(super) fn fast_convert<V: Slot>(kind: &Kind, value: &Bound<'_, PyAny>) -> Option<V> {
    match kind {
        Kind::Bool => value
            .cast_exact::<PyBool>()
            .ok()
            .map(|flag| V::from_bool(flag.is_true())),
        Kind::DateTime(format) => utc_parts(value).map(|t| V::from_datetime(*format, &t)),
        // PostgreSQL's text holds no U+0000: the Python encoder refuses it by name.
        Kind::Text { .. } if !V::NUL_IN_TEXT && has_nul(value) => None,
        _ => fast_value(kind, value).map(V::from_value),
    }
}

/// `fast_convert`'s values that both databases bind alike, in `SQLite`'s form.
fn fast_value(kind: &Kind, value: &Bound<'_, PyAny>) -> Option<Value> {
    match kind {
        Kind::Text { max_chars } => {
            let text = value.cast::<PyString>().ok()?.to_str().ok()?;
            match max_chars {
                Some(limit) if text.chars().count() > *limit => None,
                _ => Some(Value::Text(text.to_owned())),
            }
        }
        Kind::Int { min, max } => {
            let number: i64 = value.cast_exact::<PyInt>().ok()?.extract().ok()?;
            (*min..=*max)
                .contains(&number)
                .then_some(Value::Integer(number))
        }
        Kind::Float => {
            if let Ok(number) = value.cast_exact::<PyFloat>() {
                let number = number.value();
                (!number.is_nan()).then_some(Value::Real(number))
            } else {
                let number: i64 = value.cast_exact::<PyInt>().ok()?.extract().ok()?;
                #[allow(clippy::cast_precision_loss)] // Python's float(int) rounds the same way
                Some(Value::Real(number as f64))
            }
        }
        Kind::Bytes => value
            .cast_exact::<PyBytes>()
            .ok()
            .map(|bytes| Value::Blob(bytes.as_bytes().to_vec())),
        Kind::Enum(names) => {
            let name = value.cast_exact::<PyString>().ok()?.to_str().ok()?;
            names.get(name).map(|stored| Value::Text(stored.clone()))
        }
        Kind::Bool | Kind::DateTime(_) | Kind::Python => None,
    }
}

fn has_nul(value: &Bound<'_, PyAny>) -> bool {
    value
        .cast::<PyString>()
        .ok()
        .and_then(|text| text.to_str().ok())
        .is_some_and(|text| memchr::memchr(0, text.as_bytes()).is_some())
}

/// The parts of a datetime whose tzinfo is `datetime.timezone.utc` itself; others (naive,
/// another offset, another tzinfo class) take the Python encoder, which converts or
/// refuses them.
fn utc_parts(value: &Bound<'_, PyAny>) -> Option<UtcTime> {
    let datetime = value.cast_exact::<PyDateTime>().ok()?;
    let tzinfo = datetime.get_tzinfo()?;
    let utc = PyTzInfo::utc(value.py()).ok()?;
    if !tzinfo.is(&*utc) {
        return None;
    }
    Some(UtcTime {
        year: datetime.get_year(),
        month: datetime.get_month(),
        day: datetime.get_day(),
        hour: datetime.get_hour(),
        minute: datetime.get_minute(),
        second: datetime.get_second(),
        // Truncated, as isoformat(timespec="milliseconds") and the ms encoder do.
        millisecond: datetime.get_microsecond() / 1000,
    })
}

pub(super) fn parse_kind(kind: &str, options: &Bound<'_, PyAny>) -> PyResult<Kind> {
    Ok(match kind {
        "text" => Kind::Text {
            max_chars: options.extract()?,
        },
        "int" => {
            let (min, max) = options.extract()?;
            Kind::Int { min, max }
        }
        "float" => Kind::Float,
        "bool" => Kind::Bool,
        "bytes" => Kind::Bytes,
        "enum" => Kind::Enum(options.extract()?),
        // "datetime-iso8601", "datetime-unixepoch-ms"...: the column's detected form.
        datetime if datetime.starts_with("datetime-") => {
            Kind::DateTime(Format::parse(&datetime["datetime-".len()..])?)
        }
        "python" => Kind::Python,
        other => {
            return Err(Error::invalid(format!("unknown column kind {other:?}")).into());
        }
    })
}

pub(super) fn parse_missing(missing: &Bound<'_, PyAny>) -> PyResult<Missing> {
    if let Ok(name) = missing.extract::<String>() {
        return match name.as_str() {
            "omit" => Ok(Missing::Omit),
            "required" => Ok(Missing::Required),
            "now" => Ok(Missing::Now),
            other => Err(Error::invalid(format!("unknown missing-value rule {other:?}")).into()),
        };
    }
    if missing.is_callable() {
        return Ok(Missing::Generate(missing.clone().unbind()));
    }
    let (tag, value): (String, Bound<'_, PyAny>) = missing.extract()?;
    if tag != "value" {
        return Err(Error::invalid(format!("unknown missing-value rule {tag:?}")).into());
    }
    Ok(Missing::Value(value.unbind()))
}
