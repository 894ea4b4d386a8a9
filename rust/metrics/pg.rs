//! Aggregation and rollups on PostgreSQL: the same buckets as on `SQLite` ([`Bucketer`]),
//! the rows decoded from the server's binary results.
//!
//! * [`aggregate`] streams the source's rows through `query_raw`: the driver reads the
//!   socket only as fast as rows are taken, so memory is one bucket's worth, as on `SQLite`.
//! * [`rollup`] runs inside the caller's transaction and must write while it reads, which
//!   one connection cannot do in the middle of a result. It reads through a cursor
//!   (`MetricsSourceSql`'s `declare`, `fetch`, `close`, written by the dialect) a batch at a
//!   time, and writes the finished buckets between fetches as one statement per batch
//!   that takes the rows as one JSON parameter (`RollupSql`'s `insert_json`).

use std::fmt::Write as _;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;
use postgres::Client;
use postgres_protocol::types as wire;
use rusqlite::types::{Value, ValueRef};

use super::{accumulate_row, check, select_sql, Bucket, Bucketer, Request, Source};
use crate::arrow_export::pg::{pg_ms, RawCell};
use crate::engine::postgres::value::numeric_text;
use crate::engine::postgres::{driver_error as from_postgres, Cell, Param};
use crate::error::{Error, Result};
use crate::time::UtcTime;

/// A series value: its wire bytes, which tell rows apart without decoding each one, and
/// the decoded value, made once per series.
#[derive(Debug, Clone, PartialEq)]
pub struct PgSeries {
    raw: Option<Vec<u8>>,
    pub cell: Cell,
}

/// The statements of a PostgreSQL rollup (`strata.dialects.base.RollupSql` and the cursor
/// of `MetricsSourceSql`).
#[derive(Debug, Clone)]
pub struct PgRollupTarget {
    /// Taken first: serialises rollups into the same table across processes.
    pub lock: String,
    /// The latest bucket the rollup holds.
    pub watermark: String,
    /// Deletes the buckets from a start on (one parameter).
    pub delete_from: String,
    /// Writes the rows of one JSON parameter: an array of `[series, bucket, outputs...]`.
    pub insert_json: String,
    /// `DECLARE <cursor> ... FOR ` (the source's select follows), `FETCH ...`, `CLOSE ...`.
    pub declare: String,
    pub fetch: String,
    pub close: String,
}

/// Buckets per insert statement.
const ROLLUP_BATCH: usize = 4096;

/// Stream `source`'s rows and hand each finished `(series, bucket)` to `emit`, as
/// `metrics::aggregate` does on `SQLite`. Returns the rows read.
pub fn aggregate(
    client: &mut Client,
    source: &Source,
    request: &Request<'_, Param>,
    mut emit: impl FnMut(Bucket<PgSeries>) -> Result<()>,
) -> Result<u64> {
    check(source, request)?;
    let sql = select_sql(source, request.condition);
    let mut rows = client
        .query_raw(sql.as_str(), request.params.iter())
        .map_err(|e| from_postgres(&e, &sql))?;
    let mut bucketer = Bucketer::new(source, request);
    while let Some(row) = rows.next().map_err(|e| from_postgres(&e, &sql))? {
        feed(source, &row, &sql, &mut bucketer, &mut emit)?;
    }
    bucketer.end(&mut emit)
}

/// One row into the open bucket.
fn feed(
    source: &Source,
    row: &postgres::Row,
    sql: &str,
    bucketer: &mut Bucketer<'_, PgSeries>,
    emit: &mut impl FnMut(Bucket<PgSeries>) -> Result<()>,
) -> Result<()> {
    let raw = |index: usize| -> Result<RawCell<'_>> {
        row.try_get::<_, RawCell<'_>>(index)
            .map_err(|e| column_error(row, index, &e, sql))
    };
    let series = raw(0)?;
    let time = match raw(1)?.bytes {
        Some(bytes) => pg_ms(row.columns()[1].type_(), bytes).map_err(|reason| {
            Error::invalid(format!("{}.{}: {reason}", source.table, source.time))
        })?,
        None => {
            return Err(Error::invalid(format!(
                "{}.{} holds NULL, which is not a DateTime",
                source.table, source.time
            )))
        }
    };
    let accumulators = bucketer.row(
        |current| current.raw.as_deref() == series.bytes,
        || {
            Ok(PgSeries {
                raw: series.bytes.map(<[u8]>::to_vec),
                cell: row
                    .try_get::<_, Cell>(0)
                    .map_err(|e| column_error(row, 0, &e, sql))?,
            })
        },
        time,
        emit,
    )?;
    let number = |index: usize| -> Result<ValueRef<'static>> {
        let cell = raw(index)?;
        number_of(row.columns()[index].type_(), cell.bytes).map_err(|reason| {
            Error::invalid(format!(
                "{}.{}: {reason}",
                source.table,
                row.columns()[index].name()
            ))
        })
    };
    accumulate_row(source, &number, accumulators, |_, _| Ok(()))
}

/// A sample or partial aggregate as the accumulators take it.
fn number_of(ty: &Type, bytes: Option<&[u8]>) -> std::result::Result<ValueRef<'static>, String> {
    let Some(bytes) = bytes else {
        return Ok(ValueRef::Null);
    };
    let failed = |e: Box<dyn std::error::Error + Sync + Send>| e.to_string();
    Ok(match *ty {
        Type::INT2 => ValueRef::Integer(wire::int2_from_sql(bytes).map_err(failed)?.into()),
        Type::INT4 => ValueRef::Integer(wire::int4_from_sql(bytes).map_err(failed)?.into()),
        Type::INT8 => ValueRef::Integer(wire::int8_from_sql(bytes).map_err(failed)?),
        Type::FLOAT4 => ValueRef::Real(wire::float4_from_sql(bytes).map_err(failed)?.into()),
        Type::FLOAT8 => ValueRef::Real(wire::float8_from_sql(bytes).map_err(failed)?),
        Type::NUMERIC => {
            let text = numeric_text(bytes).map_err(failed)?;
            ValueRef::Real(
                text.parse::<f64>()
                    .map_err(|_| format!("{text} is not a number"))?,
            )
        }
        _ => return Err(format!("a {} column is not a number", ty.name())),
    })
}

fn column_error(row: &postgres::Row, index: usize, err: &postgres::Error, sql: &str) -> Error {
    Error::Sql {
        message: format!("column \"{}\": {err}", row.columns()[index].name()),
        sql: sql.to_owned(),
    }
}

/// Bring `target` up to date from `source`, as `metrics::rollup` does on `SQLite`, on the
/// calling thread's transaction connection (the caller begins and ends the transaction).
/// Returns the number of buckets written.
pub fn rollup(
    client: &mut Client,
    source: &Source,
    request: &Request<'_, Param>,
    target: &PgRollupTarget,
    lookback_ms: i64,
) -> Result<u64> {
    client
        .batch_execute(&target.lock)
        .map_err(|e| from_postgres(&e, &target.lock))?;
    let watermark = client
        .query_one(target.watermark.as_str(), &[])
        .map_err(|e| from_postgres(&e, &target.watermark))?;
    let latest = match watermark.try_get::<_, RawCell<'_>>(0) {
        Ok(RawCell { bytes: Some(bytes) }) => Some(
            pg_ms(watermark.columns()[0].type_(), bytes)
                .map_err(|reason| Error::invalid(format!("the rollup's watermark: {reason}")))?,
        ),
        Ok(RawCell { bytes: None }) => None,
        Err(e) => return Err(from_postgres(&e, &target.watermark)),
    };
    let every = request.every_ms;
    let mut condition = source.sql.all_rows.as_str();
    let mut params = Vec::new();
    if let Some(latest) = latest {
        let from = (latest - lookback_ms).div_euclid(every) * every;
        let bound = [time_param(from)];
        client
            .execute(target.delete_from.as_str(), &[&bound[0]])
            .map_err(|e| from_postgres(&e, &target.delete_from))?;
        condition = &source.sql.since;
        params.extend(bound);
    }
    check(source, request)?;
    let declare = format!("{}{}", target.declare, select_sql(source, condition));
    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect();
    client
        .execute(declare.as_str(), &refs)
        .map_err(|e| from_postgres(&e, &declare))?;
    let scoped = Request {
        condition,
        params: &params,
        ..*request
    };
    let mut bucketer = Bucketer::new(source, &scoped);
    let mut pending: Vec<Bucket<PgSeries>> = Vec::new();
    let mut written = 0;
    loop {
        let mut fetched = 0_u64;
        {
            let mut rows = client
                .query_raw(target.fetch.as_str(), std::iter::empty::<&Param>())
                .map_err(|e| from_postgres(&e, &target.fetch))?;
            let mut keep = |bucket| {
                pending.push(bucket);
                Ok(())
            };
            while let Some(row) = rows.next().map_err(|e| from_postgres(&e, &target.fetch))? {
                fetched += 1;
                feed(source, &row, &target.fetch, &mut bucketer, &mut keep)?;
            }
        }
        if fetched == 0 {
            break;
        }
        if pending.len() >= ROLLUP_BATCH {
            written += insert(client, target, &pending)?;
            pending.clear();
        }
    }
    bucketer.end(&mut |bucket| {
        pending.push(bucket);
        Ok(())
    })?;
    client
        .batch_execute(&target.close)
        .map_err(|e| from_postgres(&e, &target.close))?;
    for chunk in pending.chunks(ROLLUP_BATCH) {
        written += insert(client, target, chunk)?;
    }
    Ok(written)
}

/// A time (ms) as a parameter of a `timestamp` or `timestamptz` column.
pub fn time_param(ms: i64) -> Param {
    let time = UtcTime::from_unix_ms(ms);
    let text = time.iso8601();
    let naive = text.trim_end_matches("+00:00").to_owned();
    Param::DateTime {
        text,
        utc: Some(naive),
    }
}

fn insert(
    client: &mut Client,
    target: &PgRollupTarget,
    buckets: &[Bucket<PgSeries>],
) -> Result<u64> {
    if buckets.is_empty() {
        return Ok(0);
    }
    let mut json = String::from("[");
    for (index, bucket) in buckets.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        json.push('[');
        cell_json(&mut json, &bucket.series.cell);
        json.push(',');
        string_json(&mut json, &UtcTime::from_unix_ms(bucket.start_ms).iso8601());
        for value in &bucket.values {
            json.push(',');
            value_json(&mut json, value);
        }
        json.push(']');
    }
    json.push(']');
    let param = Param::Json(json);
    client
        .execute(target.insert_json.as_str(), &[&param])
        .map_err(|e| from_postgres(&e, &target.insert_json))
}

fn value_json(out: &mut String, value: &Value) {
    match value {
        Value::Integer(n) => out.push_str(&n.to_string()),
        Value::Real(x) => float_json(out, *x),
        Value::Text(text) => string_json(out, text),
        Value::Null | Value::Blob(_) => out.push_str("null"),
    }
}

fn float_json(out: &mut String, x: f64) {
    if x.is_finite() {
        // Debug prints the shortest text that reads back as the same f64.
        let _ = write!(out, "{x:?}");
    } else if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x > 0.0 {
        out.push_str("\"Infinity\"");
    } else {
        out.push_str("\"-Infinity\"");
    }
}

/// A series value as JSON the rollup's column reads back: numbers as numbers, the rest as
/// the text its type's input parses.
pub(crate) fn cell_json(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Null => out.push_str("null"),
        Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Cell::Int(n) => out.push_str(&n.to_string()),
        Cell::Float(x) => float_json(out, *x),
        Cell::Numeric(text) | Cell::Text(text) => string_json(out, text),
        Cell::Json(text) => out.push_str(text),
        Cell::Bytes(bytes) => {
            let mut hex = String::from("\\x");
            for byte in bytes {
                let _ = write!(hex, "{byte:02x}");
            }
            string_json(out, &hex);
        }
        Cell::Timestamp(micros) | Cell::TimestampTz(micros) => {
            string_json(
                out,
                &UtcTime::from_unix_ms(micros.div_euclid(1000) + PG_EPOCH_MS).iso8601(),
            );
        }
        Cell::Date(days) => {
            let text = UtcTime::from_unix_ms(i64::from(*days) * 86_400_000 + PG_EPOCH_MS).iso8601();
            string_json(out, &text[..10]);
        }
        Cell::Time(micros) => {
            let text = UtcTime::from_unix_ms(micros / 1000).iso8601();
            string_json(out, &text[11..23]);
        }
        Cell::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                cell_json(out, item);
            }
            out.push(']');
        }
    }
}

const PG_EPOCH_MS: i64 = 946_684_800_000;

pub(crate) fn string_json(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
