//! Query results as Arrow record batches, for `DuckDB` and anything else that reads the Arrow
//! C stream interface.
//!
//! `DuckDB` must never open the `SQLite` file itself (its sqlite extension carries a second
//! copy of `SQLite`: docs/ARCHITECTURE.md, decision 1), so the core reads the rows and hands
//! them over as Arrow. A [`QueryStream`] runs its query on a thread of its own, on a pooled
//! reader, and passes finished batches through a channel of two: reading `SQLite` and
//! `DuckDB`'s scan overlap, memory stays at a few batches whatever the table's size, and a
//! consumer that stops early (a `LIMIT`) ends the query, because the next send fails.
//!
//! Nothing runs until the first batch is asked for: `DuckDB` opens a stream several times
//! while it binds a query, only to read its schema.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use rusqlite::types::{Value, ValueRef};

use crate::engine::{bind, owned_value, Engine};
use crate::error::Error;
use crate::time;

/// Rows per record batch: large enough that per-batch costs vanish, small enough that two
/// batches in flight stay a few megabytes.
pub const BATCH_ROWS: usize = 65_536;

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
}

impl Kind {
    /// `int64`, `float64`, `bool`, `utf8`, `binary` or `timestamp`.
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "int64" => Kind::Int64,
            "float64" => Kind::Float64,
            "bool" => Kind::Boolean,
            "utf8" => Kind::Utf8,
            "binary" => Kind::Binary,
            "timestamp" => Kind::Timestamp,
            _ => return None,
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
        }
    }

    /// Append one stored value. `SQLite` lets any column hold any type, so values of
    /// another storage class than the declared one are converted where that loses nothing
    /// and refused (with `None`) otherwise.
    fn push(&mut self, value: ValueRef<'_>) -> Option<()> {
        match (self, value) {
            (Builder::Int64(b), ValueRef::Null) => b.append_null(),
            (Builder::Float64(b), ValueRef::Null) => b.append_null(),
            (Builder::Boolean(b), ValueRef::Null) => b.append_null(),
            (Builder::Utf8(b), ValueRef::Null) => b.append_null(),
            (Builder::Binary(b), ValueRef::Null) => b.append_null(),
            (Builder::Timestamp(b), ValueRef::Null) => b.append_null(),
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
        }
    }
}

/// Rows appended one at a time, cut into record batches.
pub struct Batches {
    schema: SchemaRef,
    kinds: Vec<Kind>,
    builders: Vec<Builder>,
    pub rows: usize,
}

impl Batches {
    pub fn new(columns: &[Column]) -> Batches {
        let kinds: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
        Batches {
            schema: schema(columns),
            builders: kinds.iter().map(|&k| Builder::new(k, BATCH_ROWS)).collect(),
            kinds,
            rows: 0,
        }
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
                    "column {} holds {:?}, which cannot be exported as {:?}",
                    self.schema.field(index).name(),
                    owned_value(value),
                    self.kinds[index]
                )));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended since the last call, as one batch.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
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
    pub params: Vec<Value>,
    pub columns: Vec<Column>,
}

/// One pass over a query's rows; see the module documentation.
pub struct QueryStream {
    engine: Arc<Engine>,
    query: Arc<Query>,
    schema: SchemaRef,
    receiver: Option<Receiver<Result<RecordBatch, ArrowError>>>,
}

impl QueryStream {
    pub fn new(engine: Arc<Engine>, query: Arc<Query>) -> QueryStream {
        QueryStream {
            schema: schema(&query.columns),
            engine,
            query,
            receiver: None,
        }
    }

    fn start(&self) -> Receiver<Result<RecordBatch, ArrowError>> {
        let (sender, receiver) = sync_channel(2);
        let engine = Arc::clone(&self.engine);
        let query = Arc::clone(&self.query);
        std::thread::spawn(move || {
            let outcome = engine.read(|conn| {
                let sql = &query.sql;
                let mut stmt = conn
                    .prepare_cached(sql)
                    .map_err(|e| Error::from_sqlite(e, sql))?;
                bind(&mut stmt, &query.params)?;
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
                    if batches.rows == BATCH_ROWS && sender.send(batches.finish()).is_err() {
                        return Ok(()); // the consumer is gone: stop reading
                    }
                }
                if batches.rows > 0 {
                    let _ = sender.send(batches.finish());
                }
                Ok(())
            });
            if let Err(err) = outcome {
                let _ = sender.send(Err(ArrowError::ExternalError(err.to_string().into())));
            }
        });
        receiver
    }
}

impl Iterator for QueryStream {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.receiver.is_none() {
            self.receiver = Some(self.start());
        }
        self.receiver.as_ref()?.recv().ok()
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
