//! Query results as Arrow record batches, for `DuckDB` and anything else that reads the Arrow
//! C stream interface.
//!
//! `DuckDB` must never open the `SQLite` file itself (its sqlite extension carries a second
//! copy of `SQLite`: docs/ARCHITECTURE.md, decision 1), so the core reads the rows and hands
//! them over as Arrow. A [`QueryStream`] runs its query on a thread of its own, on a
//! read-only connection of its own (`Engine::stream_reader`: a stream `DuckDB` leaves
//! half-read must not hold a pooled reader), and passes finished batches through a channel
//! of two: reading `SQLite` and `DuckDB`'s scan overlap, memory stays at a few batches
//! whatever the table's size, and a consumer that stops early (a `LIMIT`) ends the query,
//! because the next send fails.
//!
//! A stream ends only when the thread says it finished. If the query fails, a value cannot
//! be converted, the handle is closed, or the thread panics, the consumer's next
//! `get_next` returns an error with the message (`get_last_error`), and `DuckDB` raises it:
//! a failure never looks like the end of the rows.
//!
//! On PostgreSQL the stream's query runs on a connection of its own too, outside the pool
//! (`PgEngine::dedicated_client`), and the rows are decoded from the server's binary results
//! straight into the builders (`pg`); the driver reads the socket only as fast as rows are
//! taken, so the same few batches bound memory.
//!
//! Nothing runs until the first batch is asked for: `DuckDB` opens a stream several times
//! while it binds a query, only to read its schema.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use crate::engine::postgres::{Param, PgEngine};
use crate::engine::{bind, Backend, Engine};
use crate::error::Error;
use crate::time;

pub mod pg;

/// Rows per record batch: large enough that per-batch costs vanish, small enough that two
/// batches of narrow rows in flight stay a few megabytes.
pub const BATCH_ROWS: usize = 65_536;

/// Text and blob bytes per record batch: a batch ends at `BATCH_ROWS` rows or once it
/// holds this many, whichever comes first.
///
/// Cutting by bytes, rather than switching to Arrow's large (64-bit offset) string and
/// binary types, is what keeps memory bounded: 65,536 rows of 1 MiB values would be a
/// 64 GiB batch. It also keeps every offset within `Utf8` and `Binary`'s 32-bit range,
/// which every consumer reads: a column holds less than this cap plus one row's value when
/// the batch ends, and `SQLite` refuses values longer than `SQLITE_MAX_LENGTH` (10^9 bytes
/// unless the library was built otherwise), so 64 MiB + 10^9 < 2^31. A build allowing
/// values near 2 GiB gets a clear error for such a value (`Builder::push`), not a panic.
pub const BATCH_BYTES: usize = 64 << 20;

/// The most bytes one `Utf8` or `Binary` array can hold: its offsets are `i32`.
const MAX_ARRAY_BYTES: usize = i32::MAX as usize;

/// The Arrow type of an exported column, chosen by Python from the field's schema type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    Float64,
    Boolean,
    Utf8,
    Binary,
    /// A `DateTime` in any stored format, as milliseconds in UTC.
    Timestamp,
    /// A PostgreSQL `timestamp(p)` or `timestamptz(p)` with `p` > 3, as microseconds in UTC.
    TimestampMicros,
    /// An exact decimal of a precision (at most 38) and a scale.
    Decimal128(u8, i8),
}

impl Kind {
    /// `int64`, `float64`, `bool`, `utf8`, `binary`, `timestamp` (milliseconds),
    /// `timestamp_us` or `decimal128(p,s)`.
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "int64" => Kind::Int64,
            "float64" => Kind::Float64,
            "bool" => Kind::Boolean,
            "utf8" => Kind::Utf8,
            "binary" => Kind::Binary,
            "timestamp" => Kind::Timestamp,
            "timestamp_us" => Kind::TimestampMicros,
            _ => {
                let inner = name.strip_prefix("decimal128(")?.strip_suffix(')')?;
                let (precision, scale) = inner.split_once(',')?;
                let precision: u8 = precision.trim().parse().ok()?;
                let scale: i8 = scale.trim().parse().ok()?;
                if !(1..=38).contains(&precision) || scale < 0 || scale.unsigned_abs() > precision {
                    return None;
                }
                Kind::Decimal128(precision, scale)
            }
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Utf8 => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::TimestampMicros => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Decimal128(precision, scale) => DataType::Decimal128(precision, scale),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

pub fn schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

enum Builder {
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Timestamp(TimestampMillisecondBuilder),
    TimestampMicros(TimestampMicrosecondBuilder),
    Decimal128(Decimal128Builder, u8, i8),
}

impl Builder {
    fn new(kind: Kind, rows: usize) -> Builder {
        match kind {
            Kind::Int64 => Builder::Int64(Int64Builder::with_capacity(rows)),
            Kind::Float64 => Builder::Float64(Float64Builder::with_capacity(rows)),
            Kind::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(rows)),
            Kind::Utf8 => Builder::Utf8(StringBuilder::with_capacity(rows, rows * 16)),
            Kind::Binary => Builder::Binary(BinaryBuilder::with_capacity(rows, rows * 16)),
            Kind::Timestamp => Builder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            Kind::TimestampMicros => Builder::TimestampMicros(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            Kind::Decimal128(precision, scale) => Builder::Decimal128(
                Decimal128Builder::with_capacity(rows)
                    .with_data_type(DataType::Decimal128(precision, scale)),
                precision,
                scale,
            ),
        }
    }

    /// Append one stored value. `SQLite` lets any column hold any type, so values of
    /// another storage class than the declared one are converted where that loses nothing
    /// and refused (with `None`) otherwise. A text or blob that would take its array past
    /// 32-bit offsets is refused too (see `BATCH_BYTES`).
    fn push(&mut self, value: ValueRef<'_>) -> Option<()> {
        let held = match self {
            Builder::Utf8(b) => b.values_slice().len(),
            Builder::Binary(b) => b.values_slice().len(),
            _ => 0,
        };
        if let ValueRef::Text(bytes) | ValueRef::Blob(bytes) = value {
            if held + bytes.len() > MAX_ARRAY_BYTES {
                return None;
            }
        }
        match (self, value) {
            (Builder::Int64(b), ValueRef::Null) => b.append_null(),
            (Builder::Float64(b), ValueRef::Null) => b.append_null(),
            (Builder::Boolean(b), ValueRef::Null) => b.append_null(),
            (Builder::Utf8(b), ValueRef::Null) => b.append_null(),
            (Builder::Binary(b), ValueRef::Null) => b.append_null(),
            (Builder::Timestamp(b), ValueRef::Null) => b.append_null(),
            (Builder::TimestampMicros(b), ValueRef::Null) => b.append_null(),
            (Builder::Decimal128(b, ..), ValueRef::Null) => b.append_null(),
            (Builder::Int64(b), ValueRef::Integer(n)) => b.append_value(n),
            #[allow(clippy::cast_possible_truncation)]
            (Builder::Int64(b), ValueRef::Real(x)) if x.fract() == 0.0 && x.abs() < 9.2e18 => {
                b.append_value(x as i64);
            }
            #[allow(clippy::cast_precision_loss)]
            (Builder::Float64(b), ValueRef::Integer(n)) => b.append_value(n as f64),
            (Builder::Float64(b), ValueRef::Real(x)) => b.append_value(x),
            (Builder::Boolean(b), ValueRef::Integer(n)) => b.append_value(n != 0),
            (Builder::Utf8(b), ValueRef::Text(text)) => {
                b.append_value(String::from_utf8_lossy(text));
            }
            (Builder::Utf8(b), ValueRef::Integer(n)) => b.append_value(n.to_string()),
            (Builder::Utf8(b), ValueRef::Real(x)) => b.append_value(x.to_string()),
            (Builder::Binary(b), ValueRef::Blob(bytes) | ValueRef::Text(bytes)) => {
                b.append_value(bytes);
            }
            (Builder::Timestamp(b), value) => b.append_value(time::read(value)?),
            (Builder::TimestampMicros(b), value) => {
                b.append_value(time::read(value)?.checked_mul(1000)?);
            }
            (Builder::Decimal128(b, precision, scale), ValueRef::Integer(n)) => {
                b.append_value(pg::decimal_of(&n.to_string(), *precision, *scale).ok()?);
            }
            (Builder::Decimal128(b, precision, scale), ValueRef::Text(text)) => {
                let text = std::str::from_utf8(text).ok()?;
                b.append_value(pg::decimal_of(text, *precision, *scale).ok()?);
            }
            _ => return None,
        }
        Some(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::TimestampMicros(b) => Arc::new(b.finish()),
            Builder::Decimal128(b, ..) => Arc::new(b.finish()),
        }
    }
}

/// Rows appended one at a time, cut into record batches.
pub struct Batches {
    schema: SchemaRef,
    kinds: Vec<Kind>,
    builders: Vec<Builder>,
    pub rows: usize,
    /// Text and blob bytes appended since the last `finish`.
    bytes: usize,
}

impl Batches {
    pub fn new(columns: &[Column]) -> Batches {
        let kinds: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
        Batches {
            schema: schema(columns),
            builders: kinds.iter().map(|&k| Builder::new(k, BATCH_ROWS)).collect(),
            kinds,
            rows: 0,
            bytes: 0,
        }
    }

    /// Whether the rows appended so far should go out as a batch now: `BATCH_ROWS` rows,
    /// or `BATCH_BYTES` of text and blobs.
    pub fn is_full(&self) -> bool {
        self.rows >= BATCH_ROWS || self.bytes >= BATCH_BYTES
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Append a row of values, one per column.
    pub fn push<'v>(
        &mut self,
        values: impl IntoIterator<Item = ValueRef<'v>>,
    ) -> Result<(), Error> {
        for (index, value) in values.into_iter().enumerate() {
            if self.builders[index].push(value).is_none() {
                return Err(Error::invalid(format!(
                    "column {} holds {}, which cannot be exported as {:?}",
                    self.schema.field(index).name(),
                    describe(value),
                    self.kinds[index]
                )));
            }
            if let ValueRef::Text(bytes) | ValueRef::Blob(bytes) = value {
                self.bytes += bytes.len();
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended since the last call, as one batch.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
    }
}

/// A stored value for an error message: its storage class and the start of it, since a
/// value can be a gigabyte long.
fn describe(value: ValueRef<'_>) -> String {
    const PREVIEW: usize = 40;
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(n) => format!("the integer {n}"),
        ValueRef::Real(x) => format!("the real {x}"),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            let class = if matches!(value, ValueRef::Text(_)) {
                "text"
            } else {
                "a blob"
            };
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(PREVIEW)]);
            let more = if bytes.len() > PREVIEW { "..." } else { "" };
            format!("{class} {text:?}{more} ({} bytes)", bytes.len())
        }
    }
}

/// Batches already in memory, as a reader (aggregation results).
pub struct MemoryStream {
    pub schema: SchemaRef,
    pub batches: std::vec::IntoIter<RecordBatch>,
}

impl Iterator for MemoryStream {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.batches.next().map(Ok)
    }
}

impl RecordBatchReader for MemoryStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// What a stream runs: a read-only query whose result columns are `columns`.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: String,
    pub params: Params,
    pub columns: Vec<Column>,
}

/// A query's parameters, in its database's values.
#[derive(Debug, Clone)]
pub enum Params {
    Sqlite(Vec<Value>),
    Postgres(Vec<Param>),
}

/// One pass over a query's rows; see the module documentation.
pub struct QueryStream {
    engine: Backend,
    query: Arc<Query>,
    schema: SchemaRef,
    feed: Option<Feed>,
}

impl QueryStream {
    pub fn new(engine: Backend, query: Arc<Query>) -> QueryStream {
        QueryStream {
            schema: schema(&query.columns),
            engine,
            query,
            feed: None,
        }
    }
}

impl Iterator for QueryStream {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        let feed = self.feed.get_or_insert_with(|| {
            let engine = self.engine.clone();
            let query = Arc::clone(&self.query);
            Feed::spawn(move |sender| match (&engine, &query.params) {
                (Backend::Sqlite(engine), Params::Sqlite(params)) => {
                    produce(engine, &query, params, sender)
                }
                (Backend::Postgres(engine), Params::Postgres(params)) => {
                    produce_pg(engine, &query, params, sender)
                }
                _ => Err(Error::invalid(
                    "the export's parameters are another database's",
                )),
            })
        });
        feed.next()
    }
}

/// Run `query` and send its rows as batches until they end or the consumer goes away.
fn produce(
    engine: &Engine,
    query: &Query,
    params: &[Value],
    sender: &SyncSender<Produced>,
) -> Result<(), Error> {
    // Send the rows so far as a batch; `false` when the consumer is gone. A handle closed
    // meanwhile ends the stream with an error: the stream's connection is its own, but
    // after close() the handle reads nothing more.
    let send = |batches: &mut Batches| -> Result<bool, Error> {
        if engine.is_closed() {
            return Err(Error::Closed);
        }
        let batch = batches
            .finish()
            .map_err(|e| Error::invalid(e.to_string()))?;
        Ok(sender.send(Produced::Batch(batch)).is_ok())
    };
    let run = |conn: &Connection| -> Result<(), Error> {
        let sql = &query.sql;
        let mut stmt = conn
            .prepare_cached(sql)
            .map_err(|e| Error::from_sqlite(e, sql))?;
        bind(&mut stmt, params)?;
        let width = query.columns.len();
        let mut batches = Batches::new(&query.columns);
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(|e| Error::from_sqlite(e, sql))? {
            let mut failure = None;
            batches.push((0..width).map(|i| {
                row.get_ref(i).unwrap_or_else(|e| {
                    failure = Some(e);
                    ValueRef::Null
                })
            }))?;
            if let Some(err) = failure {
                return Err(Error::from_sqlite(err, sql));
            }
            if batches.is_full() && !send(&mut batches)? {
                return Ok(()); // the consumer is gone: stop reading
            }
        }
        if batches.rows > 0 {
            send(&mut batches)?;
        }
        Ok(())
    };
    match engine.stream_reader()? {
        Some(reader) => run(&reader),
        None => engine.read(run),
    }
}

/// `produce` on PostgreSQL: the query runs on a connection of its own (never a pooled
/// one, which a half-read stream would hold), streamed by the driver, which reads the
/// socket only as fast as rows are taken, and closed when the stream ends.
fn produce_pg(
    engine: &PgEngine,
    query: &Query,
    params: &[Param],
    sender: &SyncSender<Produced>,
) -> Result<(), Error> {
    use postgres::fallible_iterator::FallibleIterator;
    let sql = &query.sql;
    let mut client = engine.dedicated_client()?;
    let mut rows = client
        .query_raw(sql.as_str(), params.iter())
        .map_err(|e| crate::engine::postgres::driver_error(&e, sql))?;
    let mut batches = Batches::new(&query.columns);
    let send = |batches: &mut Batches| -> Result<bool, Error> {
        if engine.is_closed() {
            return Err(Error::Closed);
        }
        let batch = batches
            .finish()
            .map_err(|e| Error::invalid(e.to_string()))?;
        Ok(sender.send(Produced::Batch(batch)).is_ok())
    };
    while let Some(row) = rows
        .next()
        .map_err(|e| crate::engine::postgres::driver_error(&e, sql))?
    {
        batches.push_pg(&row)?;
        if batches.is_full() && !send(&mut batches)? {
            return Ok(());
        }
    }
    if batches.rows > 0 {
        send(&mut batches)?;
    }
    Ok(())
}

/// What a producer thread sends: batches, then whether it finished or what went wrong.
enum Produced {
    Batch(RecordBatch),
    Finished,
    Failed(String),
}

/// The consumer's end of a producer thread.
struct Feed {
    receiver: Receiver<Produced>,
    ended: bool,
}

impl Feed {
    /// Run `produce` on a new thread, with a channel of two batches. Whatever way it ends,
    /// returning an error or panicking included, the consumer is told.
    fn spawn(
        produce: impl FnOnce(&SyncSender<Produced>) -> Result<(), Error> + Send + 'static,
    ) -> Feed {
        let (sender, receiver) = sync_channel(2);
        let thread = std::thread::Builder::new().name("strata-arrow-export".into());
        let spawned = thread.spawn(move || {
            let last = match catch_unwind(AssertUnwindSafe(|| produce(&sender))) {
                Ok(Ok(())) => Produced::Finished,
                Ok(Err(err)) => Produced::Failed(err.to_string()),
                Err(panic) => Produced::Failed(format!(
                    "the Arrow export failed: {}",
                    panic
                        .downcast_ref::<&str>()
                        .map(ToString::to_string)
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic in the export thread".into())
                )),
            };
            let _ = sender.send(last);
        });
        if let Err(err) = spawned {
            // This runs inside the consumer's get_next, where a panic would abort the
            // process; the failure goes to the consumer like any other.
            let (sender, receiver) = sync_channel(1);
            let _ = sender.send(Produced::Failed(format!(
                "cannot start the Arrow export thread: {err}"
            )));
            return Feed {
                receiver,
                ended: false,
            };
        }
        Feed {
            receiver,
            ended: false,
        }
    }
}

/// The batches, `None` once the producer finished, or the error that stopped it.
impl Iterator for Feed {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let failure = match self.receiver.recv() {
            Ok(Produced::Batch(batch)) => return Some(Ok(batch)),
            Ok(Produced::Finished) => {
                self.ended = true;
                return None;
            }
            Ok(Produced::Failed(message)) => message,
            // Unreachable while the thread sends its last word; kept as a failure, since
            // a stream that stops without saying it finished is not complete.
            Err(_) => "the Arrow export thread stopped before the end of the rows".into(),
        };
        self.ended = true;
        // The FFI stream hands the message over as a C string, and panics (aborting the
        // process, inside get_next) on a NUL in it.
        let message = failure.replace('\0', "\\0");
        Some(Err(ArrowError::ExternalError(message.into())))
    }
}

impl RecordBatchReader for QueryStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Convenience for code that wants owned values in a batch (aggregation results).
pub fn push_values(batches: &mut Batches, values: &[Value]) -> Result<(), Error> {
    batches.push(values.iter().map(ValueRef::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};

    #[test]
    fn a_producer_that_fails_or_panics_is_an_error_not_the_end() {
        let mut failing = Feed::spawn(|_| Err(Error::invalid("no such column")));
        let err = failing.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("no such column"), "{err}");
        assert!(failing.next().is_none());

        let mut panicking = Feed::spawn(|sender| {
            let mut batches = Batches::new(&[Column {
                name: "n".into(),
                kind: Kind::Int64,
            }]);
            push_values(&mut batches, &[Value::Integer(1)]).unwrap();
            let batch = batches.finish().unwrap();
            sender.send(Produced::Batch(batch)).unwrap();
            panic!("byte array offset overflow");
        });
        assert!(panicking.next().unwrap().is_ok());
        let err = panicking.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("offset overflow"), "{err}");

        let mut finished = Feed::spawn(|_| Ok(()));
        assert!(finished.next().is_none());
    }

    #[test]
    fn batches_end_at_a_byte_budget() {
        let columns = [Column {
            name: "body".into(),
            kind: Kind::Utf8,
        }];
        let mut batches = Batches::new(&columns);
        let value = "x".repeat(1 << 20);
        let mut rows = 0;
        while !batches.is_full() {
            batches.push([ValueRef::Text(value.as_bytes())]).unwrap();
            rows += 1;
        }
        assert_eq!(rows, BATCH_BYTES >> 20);
        assert_eq!(batches.finish().unwrap().num_rows(), rows);
        assert!(!batches.is_full());
    }

    #[test]
    fn errors_show_only_the_start_of_a_long_value() {
        let columns = [Column {
            name: "n".into(),
            kind: Kind::Int64,
        }];
        let mut batches = Batches::new(&columns);
        let long = "y".repeat(1 << 20);
        let err = batches
            .push([ValueRef::Text(long.as_bytes())])
            .unwrap_err()
            .to_string();
        assert!(err.len() < 200, "{err}");
        assert!(err.contains("(1048576 bytes)"), "{err}");
    }

    #[test]
    fn converts_storage_classes_and_refuses_the_rest() {
        let columns = vec![
            Column {
                name: "n".into(),
                kind: Kind::Int64,
            },
            Column {
                name: "x".into(),
                kind: Kind::Float64,
            },
            Column {
                name: "t".into(),
                kind: Kind::Timestamp,
            },
        ];
        let mut batches = Batches::new(&columns);
        push_values(
            &mut batches,
            &[
                Value::Integer(3),
                Value::Integer(2),
                Value::Text("1970-01-01T00:00:01.500+00:00".into()),
            ],
        )
        .unwrap();
        push_values(
            &mut batches,
            &[Value::Real(4.0), Value::Null, Value::Integer(7)],
        )
        .unwrap();
        assert!(push_values(&mut batches, &[Value::Real(4.5), Value::Null, Value::Null]).is_err());
        let batch = batches.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.column(0).as_primitive::<Int64Type>().values(),
            &[3, 4]
        );
        assert!((batch.column(1).as_primitive::<Float64Type>().value(0) - 2.0).abs() < 1e-12);
        assert!(batch.column(1).is_null(1));
        assert_eq!(
            batch
                .column(2)
                .as_primitive::<TimestampMillisecondType>()
                .values(),
            &[1500, 7]
        );
    }
}
