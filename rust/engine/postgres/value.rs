//! Values on the wire: [`Param`], a bound parameter, and [`Cell`], a result value.
//!
//! Parameters are sent in PostgreSQL's *text* format (bytes in binary): the server parses
//! the text with the parameter's own type, so one Python `str`, `Decimal` or `datetime`
//! binds to whatever the statement needs (`timestamptz`, `numeric`, `uuid`, an enum, ...)
//! and a mismatch is the server's clear error rather than a guess here. Results arrive in
//! binary format and are decoded by type, so numbers and times keep their exact values.

use std::error::Error as StdError;
use std::fmt::Write as _;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, Format, FromSql, IsNull, Kind, ToSql, Type};
use postgres_protocol::types as wire;

type BoxError = Box<dyn StdError + Sync + Send>;

/// One bound parameter, converted from Python while the GIL was held.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text the server parses into the parameter's type: a str, a Decimal, an int beyond
    /// 64 bits, a date or a time, in their ISO forms.
    Text(String),
    Bytes(Vec<u8>),
    /// A datetime in ISO form (with its offset when it has one). `utc` is the UTC
    /// wall-clock form of an aware datetime, for a `timestamp` (without time zone)
    /// parameter, whose input would otherwise drop the offset and keep the local time.
    DateTime {
        text: String,
        utc: Option<String>,
    },
    /// A dict, as JSON text.
    Json(String),
    /// A list or tuple: JSON for a json/jsonb parameter, an array for an array parameter.
    /// Either form is absent when the items have none (a datetime in JSON, say).
    List {
        json: Option<String>,
        items: Option<Vec<Param>>,
    },
}

impl Param {
    /// The text the server parses for a parameter of type `ty`.
    fn text_for(&self, ty: &Type) -> Result<String, BoxError> {
        Ok(match self {
            Param::Null => String::new(),
            Param::Bool(value) => (if *value { "true" } else { "false" }).to_owned(),
            Param::Int(value) => value.to_string(),
            Param::Float(value) => float_text(*value),
            Param::Text(text) | Param::Json(text) => text.clone(),
            Param::Bytes(bytes) => {
                let mut hex = String::with_capacity(2 + bytes.len() * 2);
                hex.push_str("\\x");
                for byte in bytes {
                    let _ = write!(hex, "{byte:02x}");
                }
                hex
            }
            Param::DateTime { text, utc } => match utc {
                Some(utc) if *ty == Type::TIMESTAMP => utc.clone(),
                _ => text.clone(),
            },
            Param::List { json, items } => match ty.kind() {
                Kind::Array(element) => {
                    let items = items.as_ref().ok_or_else(|| {
                        format!(
                            "a list bound to a {} parameter holds an unsupported item",
                            ty.name()
                        )
                    })?;
                    array_literal(items, element)?
                }
                _ => json.clone().ok_or_else(|| {
                    format!(
                        "a list bound to a {} parameter must be JSON-serialisable",
                        ty.name()
                    )
                })?,
            },
        })
    }
}

fn float_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        (if value > 0.0 { "Infinity" } else { "-Infinity" }).to_owned()
    } else {
        // Debug prints the shortest text that reads back as the same f64.
        format!("{value:?}")
    }
}

/// `{"a","b",NULL}`: every item quoted, so text holding commas, braces or quotes survives.
fn array_literal(items: &[Param], element: &Type) -> Result<String, BoxError> {
    let mut out = String::from("{");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match item {
            Param::Null => out.push_str("NULL"),
            Param::List {
                items: Some(inner), ..
            } => out.push_str(&array_literal(inner, element)?),
            other => {
                out.push('"');
                for ch in other.text_for(element)?.chars() {
                    if ch == '"' || ch == '\\' {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    Ok(out)
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Null => return Ok(IsNull::Yes),
            Param::Bytes(bytes) if *ty == Type::BYTEA => out.extend_from_slice(bytes),
            other => out.extend_from_slice(other.text_for(ty)?.as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self {
            Param::Bytes(_) if *ty == Type::BYTEA => Format::Binary,
            _ => Format::Text,
        }
    }

    to_sql_checked!();
}

/// One result value, decoded from PostgreSQL's binary format.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A `numeric` in decimal text ("12.50", "NaN", "Infinity"), for Python's Decimal.
    Numeric(String),
    Text(String),
    Bytes(Vec<u8>),
    /// `json` or `jsonb` text, parsed on the Python side.
    Json(String),
    /// Microseconds since 2000-01-01 00:00 (PostgreSQL's epoch), without a zone.
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00 UTC.
    TimestampTz(i64),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    Array(Vec<Cell>),
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        decode(ty, raw)
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Cell, BoxError> {
    Ok(match *ty {
        Type::BOOL => Cell::Bool(wire::bool_from_sql(raw)?),
        Type::INT2 => Cell::Int(wire::int2_from_sql(raw)?.into()),
        Type::INT4 => Cell::Int(wire::int4_from_sql(raw)?.into()),
        Type::INT8 => Cell::Int(wire::int8_from_sql(raw)?),
        Type::OID => Cell::Int(wire::oid_from_sql(raw)?.into()),
        Type::FLOAT4 => Cell::Float(wire::float4_from_sql(raw)?.into()),
        Type::FLOAT8 => Cell::Float(wire::float8_from_sql(raw)?),
        Type::NUMERIC => Cell::Numeric(numeric_text(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
            Cell::Text(wire::text_from_sql(raw)?.to_owned())
        }
        Type::CHAR => Cell::Text(
            char::from(u8::from_ne_bytes(wire::char_from_sql(raw)?.to_ne_bytes())).to_string(),
        ),
        Type::BYTEA => Cell::Bytes(wire::bytea_from_sql(raw).to_vec()),
        Type::JSON => Cell::Json(wire::text_from_sql(raw)?.to_owned()),
        // jsonb's binary form is a version byte (1) and then the JSON text.
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => Cell::Json(std::str::from_utf8(text)?.to_owned()),
            _ => return Err("unknown jsonb binary version".into()),
        },
        Type::TIMESTAMP => Cell::Timestamp(finite(wire::timestamp_from_sql(raw)?)?),
        Type::TIMESTAMPTZ => Cell::TimestampTz(finite(wire::timestamp_from_sql(raw)?)?),
        Type::DATE => match wire::date_from_sql(raw)? {
            i32::MAX | i32::MIN => return Err(INFINITE.into()),
            days => Cell::Date(days),
        },
        Type::TIME => Cell::Time(wire::time_from_sql(raw)?),
        Type::TIMETZ => Cell::Time(timetz_utc(raw)?),
        Type::UUID => Cell::Text(uuid_text(wire::uuid_from_sql(raw)?)),
        Type::INET | Type::CIDR => {
            let inet = wire::inet_from_sql(raw)?;
            let full = if inet.addr().is_ipv4() { 32 } else { 128 };
            Cell::Text(if inet.netmask() == full && *ty == Type::INET {
                inet.addr().to_string()
            } else {
                format!("{}/{}", inet.addr(), inet.netmask())
            })
        }
        Type::VOID => Cell::Null,
        _ => match ty.kind() {
            Kind::Enum(_) => Cell::Text(wire::text_from_sql(raw)?.to_owned()),
            Kind::Domain(inner) => decode(inner, raw)?,
            Kind::Array(element) => decode_array(element, raw)?,
            // citext is an extension's type; its binary form is its text.
            _ if ty.name() == "citext" => Cell::Text(wire::text_from_sql(raw)?.to_owned()),
            _ => {
                return Err(format!(
                    "strata cannot read values of type {} yet; cast the column in the SQL \
                     (for example to ::text)",
                    ty.name()
                )
                .into())
            }
        },
    })
}

/// A `timetz` as the UTC time of day. Its binary form is the local time in microseconds
/// and then the zone as seconds *west* of UTC (so `+02:00` is -7200), 4 bytes.
pub fn timetz_utc(raw: &[u8]) -> Result<i64, BoxError> {
    const MICROS_PER_DAY: i64 = 86_400_000_000;
    let (time, zone) = raw.split_at_checked(8).ok_or("truncated timetz")?;
    let local = wire::time_from_sql(time)?;
    let west = i32::from_be_bytes(zone.try_into().map_err(|_| "truncated timetz")?);
    Ok((local + i64::from(west) * 1_000_000).rem_euclid(MICROS_PER_DAY))
}

const INFINITE: &str =
    "an infinite timestamp or date has no Python value; filter it out or cast it to text";

fn finite(micros: i64) -> Result<i64, BoxError> {
    match micros {
        i64::MAX | i64::MIN => Err(INFINITE.into()),
        finite => Ok(finite),
    }
}

/// A (possibly multi-dimensional) array as nested lists.
fn decode_array(element: &Type, raw: &[u8]) -> Result<Cell, BoxError> {
    use postgres_protocol::types::ArrayDimension;
    let array = wire::array_from_sql(raw)?;
    let mut dimensions = Vec::new();
    let mut dims = array.dimensions();
    while let Some(ArrayDimension { len, .. }) =
        fallible_iterator::FallibleIterator::next(&mut dims)?
    {
        dimensions.push(usize::try_from(len).map_err(|_| "negative array length")?);
    }
    let mut flat = Vec::new();
    let mut values = array.values();
    while let Some(value) = fallible_iterator::FallibleIterator::next(&mut values)? {
        flat.push(match value {
            Some(raw) => decode(element, raw)?,
            None => Cell::Null,
        });
    }
    if dimensions.is_empty() {
        return Ok(Cell::Array(Vec::new()));
    }
    let mut items = flat.into_iter();
    Ok(nest(&dimensions, &mut items))
}

fn nest(dimensions: &[usize], items: &mut impl Iterator<Item = Cell>) -> Cell {
    let (len, inner) = dimensions.split_first().expect("at least one dimension");
    Cell::Array(
        (0..*len)
            .map(|_| {
                if inner.is_empty() {
                    items.next().unwrap_or(Cell::Null)
                } else {
                    nest(inner, items)
                }
            })
            .collect(),
    )
}

fn uuid_text(bytes: [u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `numeric`'s binary form as decimal text. The form is four 16-bit words (digit count,
/// weight of the first digit, sign, display scale) and then base-10000 digits; digit `k`
/// stands for `digits[k] * 10000^(weight - k)`.
pub fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let word = |at: usize| -> Result<u16, BoxError> {
        raw.get(at..at + 2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let count = usize::from(word(0)?);
    let weight = i32::from(i16::from_ne_bytes(word(2)?.to_ne_bytes()));
    let sign = word(4)?;
    let scale = usize::from(word(6)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        _ => return Err("unknown numeric sign".into()),
    }
    let digits = (0..count)
        .map(|k| word(8 + 2 * k))
        .collect::<Result<Vec<u16>, BoxError>>()?;
    let digit = |k: i32| -> u16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                let _ = write!(out, "{}", digit(k));
            } else {
                let _ = write!(out, "{:04}", digit(k));
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::with_capacity(scale + 4);
        let mut k = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(k));
            k += 1;
        }
        fraction.truncate(scale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}
