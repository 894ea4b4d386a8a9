//! PostgreSQL rows into Arrow builders, straight from the server's binary results.
//!
//! Each value is decoded by its column's type into the column's Arrow type, with nothing
//! lost: `numeric(p, s)` into `decimal128(p, s)` (a value needing more digits than the
//! column's Arrow type holds is an error, never rounded), `timestamp(3)` and
//! `timestamptz(3)` into milliseconds and wider ones into microseconds (both UTC),
//! `jsonb` and enums as their text, arrays (scalar lists) as JSON text, the form `SQLite`
//! stores lists in.

use postgres::types::{FromSql, Kind as PgKind, Type};
use postgres_protocol::types as wire;

use super::{Batches, Builder, Kind, MAX_ARRAY_BYTES};
use crate::engine::postgres::value::numeric_text;
use crate::engine::postgres::Cell;
use crate::error::Error;
use crate::metrics::pg::cell_json;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// PostgreSQL's epoch (2000-01-01 UTC) in Unix milliseconds.
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// A result value's wire bytes (None for NULL), whatever its type.
#[derive(Debug, Clone, Copy)]
pub struct RawCell<'a> {
    pub bytes: Option<&'a [u8]>,
}

impl<'a> FromSql<'a> for RawCell<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawCell { bytes: Some(raw) })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(RawCell { bytes: None })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `timestamp`, `timestamptz` or `date` as Unix milliseconds (a timestamp's
/// microseconds floored, as `timedelta` floors).
pub fn pg_ms(ty: &Type, bytes: &[u8]) -> Result<i64, String> {
    Ok(pg_micros(ty, bytes)?.div_euclid(1000))
}

/// The same in Unix microseconds.
fn pg_micros(ty: &Type, bytes: &[u8]) -> Result<i64, String> {
    const INFINITE: &str = "an infinite timestamp has no place on a time axis";
    match *ty {
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = wire::timestamp_from_sql(bytes).map_err(|e| e.to_string())?;
            if micros == i64::MAX || micros == i64::MIN {
                return Err(INFINITE.into());
            }
            micros
                .checked_add(PG_EPOCH_MS * 1000)
                .ok_or_else(|| INFINITE.to_owned())
        }
        Type::DATE => {
            let days = wire::date_from_sql(bytes).map_err(|e| e.to_string())?;
            if days == i32::MAX || days == i32::MIN {
                return Err(INFINITE.into());
            }
            Ok(i64::from(days) * 86_400_000_000 + PG_EPOCH_MS * 1000)
        }
        _ => Err(format!("a {} column is not a DateTime", ty.name())),
    }
}

/// Decimal text (`-12.5`, `NaN`) as a `decimal128` of `precision` and `scale`: exact, or
/// an error saying why it does not fit.
pub fn decimal_of(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let misfit = || format!("{text} does not fit decimal128({precision}, {scale})");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(misfit());
    }
    let scale = usize::from(scale.unsigned_abs());
    let (kept, dropped) = fraction.split_at(fraction.len().min(scale));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(misfit());
    }
    let mut value: i128 = 0;
    let mut significant = 0;
    let padding = std::iter::repeat_n(b'0', scale - kept.len());
    for digit in whole.bytes().chain(kept.bytes()).chain(padding) {
        if value > 0 || digit != b'0' {
            significant += 1;
        }
        value = value * 10 + i128::from(digit - b'0');
        if significant > usize::from(precision) {
            return Err(misfit());
        }
    }
    Ok(if negative { -value } else { value })
}

impl Builder {
    /// Append one PostgreSQL value of type `ty` (`None`: NULL). The error says why it
    /// does not fit the column's Arrow type.
    fn push_pg(&mut self, ty: &Type, bytes: Option<&[u8]>) -> Result<usize, String> {
        let Some(raw) = bytes else {
            match self {
                Builder::Int64(b) => b.append_null(),
                Builder::Float64(b) => b.append_null(),
                Builder::Boolean(b) => b.append_null(),
                Builder::Utf8(b) => b.append_null(),
                Builder::Binary(b) => b.append_null(),
                Builder::Timestamp(b) => b.append_null(),
                Builder::TimestampMicros(b) => b.append_null(),
                Builder::Decimal128(b, ..) => b.append_null(),
            }
            return Ok(0);
        };
        let failed = |e: BoxError| e.to_string();
        let wanted = self.kind();
        let refused = || format!("a {} value cannot be exported as {wanted:?}", ty.name());
        match self {
            Builder::Int64(b) => b.append_value(match *ty {
                Type::INT2 => wire::int2_from_sql(raw).map_err(failed)?.into(),
                Type::INT4 => wire::int4_from_sql(raw).map_err(failed)?.into(),
                Type::INT8 => wire::int8_from_sql(raw).map_err(failed)?,
                Type::OID => wire::oid_from_sql(raw).map_err(failed)?.into(),
                _ => return Err(refused()),
            }),
            Builder::Float64(b) => b.append_value(match *ty {
                Type::FLOAT4 => wire::float4_from_sql(raw).map_err(failed)?.into(),
                Type::FLOAT8 => wire::float8_from_sql(raw).map_err(failed)?,
                // A numeric wider than decimal128 holds (Prisma's default Decimal is
                // numeric(65,30)) is exported as a float: the documented choice.
                Type::NUMERIC => {
                    let text = numeric_text(raw).map_err(failed)?;
                    text.parse()
                        .map_err(|_| format!("{text} is not a number"))?
                }
                Type::INT2 => wire::int2_from_sql(raw).map_err(failed)?.into(),
                Type::INT4 => wire::int4_from_sql(raw).map_err(failed)?.into(),
                #[allow(clippy::cast_precision_loss)]
                Type::INT8 => wire::int8_from_sql(raw).map_err(failed)? as f64,
                _ => return Err(refused()),
            }),
            Builder::Boolean(b) => match *ty {
                Type::BOOL => b.append_value(wire::bool_from_sql(raw).map_err(failed)?),
                _ => return Err(refused()),
            },
            Builder::Timestamp(b) => b.append_value(pg_ms(ty, raw)?),
            Builder::TimestampMicros(b) => b.append_value(pg_micros(ty, raw)?),
            Builder::Decimal128(b, precision, scale) => match *ty {
                Type::NUMERIC => {
                    let text = numeric_text(raw).map_err(failed)?;
                    b.append_value(decimal_of(&text, *precision, *scale)?);
                }
                _ => return Err(refused()),
            },
            Builder::Binary(b) => match *ty {
                Type::BYTEA => {
                    check_room(b.values_slice().len(), raw.len())?;
                    b.append_value(raw);
                    return Ok(raw.len());
                }
                _ => return Err(refused()),
            },
            Builder::Utf8(b) => {
                let text = text_of(ty, raw)?;
                check_room(b.values_slice().len(), text.len())?;
                b.append_value(&text);
                return Ok(text.len());
            }
        }
        Ok(0)
    }
}

fn check_room(held: usize, more: usize) -> Result<(), String> {
    if held + more > MAX_ARRAY_BYTES {
        return Err(format!(
            "a value of {more} bytes does not fit one Arrow array (at most 2 GiB)"
        ));
    }
    Ok(())
}

/// A value as text: text types, enums, `jsonb` and `json` as they are, anything else in
/// the form its Python value prints (arrays as JSON).
fn text_of(ty: &Type, raw: &[u8]) -> Result<String, String> {
    let plain = matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::XML
    ) || matches!(ty.kind(), PgKind::Enum(_))
        || ty.name() == "citext";
    if plain {
        return std::str::from_utf8(raw)
            .map(ToOwned::to_owned)
            .map_err(|e| e.to_string());
    }
    let cell = Cell::from_sql(ty, raw).map_err(|e| e.to_string())?;
    Ok(match cell {
        Cell::Text(text) | Cell::Json(text) | Cell::Numeric(text) => text,
        Cell::Int(n) => n.to_string(),
        Cell::Float(x) => x.to_string(),
        Cell::Bool(b) => (if b { "true" } else { "false" }).to_owned(),
        other => {
            let mut out = String::new();
            cell_json(&mut out, &other);
            // A single timestamp, date or time: its text without JSON's quotes.
            if !matches!(other, Cell::Array(_)) {
                out = out.trim_matches('"').to_owned();
            }
            out
        }
    })
}

impl Batches {
    /// Append one PostgreSQL row, one value per column.
    pub fn push_pg(&mut self, row: &postgres::Row) -> Result<(), Error> {
        if row.len() != self.builders.len() {
            return Err(Error::invalid(format!(
                "the export's query returns {} columns, {} were described",
                row.len(),
                self.builders.len()
            )));
        }
        for (index, column) in row.columns().iter().enumerate() {
            let raw = row
                .try_get::<_, RawCell<'_>>(index)
                .map_err(|e| Error::invalid(e.to_string()))?;
            match self.builders[index].push_pg(column.type_(), raw.bytes) {
                Ok(bytes) => self.bytes += bytes,
                Err(reason) => {
                    return Err(Error::invalid(format!(
                        "column {}: {reason}",
                        self.schema.field(index).name()
                    )))
                }
            }
        }
        self.rows += 1;
        Ok(())
    }
}

impl Builder {
    fn kind(&self) -> Kind {
        match self {
            Builder::Int64(_) => Kind::Int64,
            Builder::Float64(_) => Kind::Float64,
            Builder::Boolean(_) => Kind::Boolean,
            Builder::Utf8(_) => Kind::Utf8,
            Builder::Binary(_) => Kind::Binary,
            Builder::Timestamp(_) => Kind::Timestamp,
            Builder::TimestampMicros(_) => Kind::TimestampMicros,
            Builder::Decimal128(_, p, s) => Kind::Decimal128(*p, *s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(decimal_of("12.5", 10, 2), Ok(1250));
        assert_eq!(decimal_of("-0.01", 10, 2), Ok(-1));
        assert_eq!(decimal_of("7", 3, 0), Ok(7));
        assert_eq!(decimal_of("1.2300", 5, 2), Ok(123));
        assert!(decimal_of("1.234", 10, 2).is_err());
        assert!(decimal_of("1000", 3, 0).is_err());
        assert!(decimal_of("NaN", 10, 2).is_err());
        assert_eq!(
            decimal_of("99999999999999999999999999999999999999", 38, 0),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
    }
}
