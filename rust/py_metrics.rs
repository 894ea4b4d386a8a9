//! The Python face of metrics and the Arrow export: `strata._core.Aggregator` and
//! `strata._core.ArrowStream`.
//!
//! `strata/metrics.py` checks a binding against the schema once and describes it here as
//! quoted identifiers; each aggregation or rollup is then one call that runs with the GIL
//! released. `strata/analytics.py` builds an `ArrowStream` per table for `DuckDB`.

use std::ffi::CStr;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDateTime, PyDict, PyList, PyString, PyTuple, PyTzInfo};
use rusqlite::types::Value;

use crate::arrow_export::{self, Batches, Column, Kind, MemoryStream, Params, Query, QueryStream};
use crate::bulk::{Run, Target};
use crate::engine::postgres::{Cell, Param, PgEngine};
use crate::engine::Backend;
use crate::error::Error;
use crate::metrics::pg::{PgRollupTarget, PgSeries};
use crate::metrics::{self, Bucket, Input, Request, RollupTarget, Source, SourceSql, Stat};
use crate::py_bulk::insert_sql;
use crate::py_engine::{to_values, value_to_python, PyEngine};
use crate::py_pg;
use crate::time::{Format, UtcTime};

/// The capsule name the Arrow `PyCapsule` interface requires.
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

/// One value's columns as Python gives them: `("raw", [column], integer)` or
/// `("partial", [count, sum, min, max], integer)`.
type InputSpec = (String, Vec<String>, bool);

#[pyclass(name = "Aggregator", module = "strata._core", frozen)]
pub struct PyAggregator {
    engine: Backend,
    source: Source,
    /// How the time column stores `DateTime` values, on `SQLite` (PostgreSQL's columns are
    /// typed).
    time_format: Option<Format>,
    series_kind: Kind,
}

#[pymethods]
impl PyAggregator {
    /// `table` and `time` are quoted identifiers, for messages; `sql` is how the dialect
    /// reads the model (`strata.dialects.base.MetricsSourceSql`), with the `inputs`'
    /// columns in order; `time_format` is how the time column stores `DateTime` values
    /// and `series_kind` the Arrow type of the series column (see `ArrowStream.query`).
    #[new]
    #[pyo3(signature = (db, table, time, sql, inputs, time_format, series_kind))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        db: &Bound<'_, PyEngine>,
        table: String,
        time: String,
        sql: &Bound<'_, PyDict>,
        inputs: Vec<InputSpec>,
        time_format: &str,
        series_kind: &str,
    ) -> PyResult<Self> {
        let inputs = inputs
            .into_iter()
            .map(
                |(kind, columns, integer)| match (kind.as_str(), columns.as_slice()) {
                    ("raw", [column]) => Ok(Input::Raw {
                        column: column.clone(),
                        integer,
                    }),
                    ("partial", [_count, _sum, _min, _max]) => Ok(Input::Partial { integer }),
                    _ => Err(Error::invalid(format!(
                        "bad value input {kind:?} {columns:?}"
                    ))),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        let engine = db.get().backend().clone();
        let time_format = match engine {
            Backend::Sqlite(_) => Some(parse_format(time_format)?),
            Backend::Postgres(_) => None,
        };
        Ok(PyAggregator {
            engine,
            source: Source {
                table,
                time,
                inputs,
                sql: SourceSql {
                    head: text(sql, "head")?,
                    tail: text(sql, "tail")?,
                    all_rows: text(sql, "all_rows")?,
                    since: text(sql, "since")?,
                    unordered_tail: sql
                        .get_item("unordered_tail")?
                        .map(|tail| tail.extract())
                        .transpose()?,
                },
            },
            time_format,
            series_kind: parse_kind(series_kind)?,
        })
    }

    /// Aggregate into buckets of `every_ms`. `outputs` pairs an input index with a
    /// statistic name and `names` gives each output's key; `condition` (on alias `t0`,
    /// with the database's placeholders for `params`) filters the rows. Returns a list of dicts
    /// (`series_name`, `"bucket"`, then `names`), or an `ArrowStream` with `arrow=True`.
    #[pyo3(signature = (every_ms, outputs, names, series_name, condition, params, *, arrow = false))]
    #[allow(clippy::too_many_arguments)]
    fn aggregate(
        &self,
        py: Python<'_>,
        every_ms: i64,
        outputs: Vec<(usize, String)>,
        names: Vec<String>,
        series_name: &str,
        condition: &str,
        params: &Bound<'_, PyTuple>,
        arrow: bool,
    ) -> PyResult<Py<PyAny>> {
        let outputs = parse_outputs(&outputs)?;
        let columns = arrow.then(|| self.output_columns(series_name, &names, &outputs));
        let engine = match &self.engine {
            Backend::Sqlite(engine) => engine,
            Backend::Postgres(engine) => {
                let params = py_pg::to_params(params)?;
                let request = Request {
                    every_ms,
                    outputs: &outputs,
                    condition,
                    params: &params,
                };
                metrics::check(&self.source, &request)?;
                let buckets = py.detach(|| -> Result<Vec<Bucket<PgSeries>>, Error> {
                    let mut out = Vec::new();
                    engine.with_client(|client| {
                        metrics::pg::aggregate(client, &self.source, &request, |bucket| {
                            out.push(bucket);
                            Ok(())
                        })
                    })?;
                    Ok(out)
                })?;
                if let Some(columns) = columns {
                    let buckets = buckets.into_iter().map(|bucket| Bucket {
                        series: cell_value(bucket.series.cell),
                        start_ms: bucket.start_ms,
                        values: bucket.values,
                    });
                    let (schema, batches) = py.detach(|| in_batches(&columns, buckets))?;
                    return self.memory_stream(py, schema, batches);
                }
                return buckets_to_python(py, series_name, &names, buckets, |py, series| {
                    py_pg::cell_to_python(py, series.cell)
                });
            }
        };
        let params = to_values(params)?;
        let request = Request {
            every_ms,
            outputs: &outputs,
            condition,
            params: &params,
        };
        metrics::check(&self.source, &request)?;
        let buckets = py.detach(|| -> Result<Vec<Bucket>, Error> {
            let mut out = Vec::new();
            engine.read(|conn| {
                metrics::aggregate(conn, &self.source, &request, |bucket| {
                    out.push(bucket);
                    Ok(())
                })
            })?;
            Ok(out)
        })?;
        if let Some(columns) = columns {
            // Aggregation keeps one bucket's rows; its results are few, so they are
            // collected and handed out as batches.
            let (schema, batches) = py.detach(|| in_batches(&columns, buckets.into_iter()))?;
            return self.memory_stream(py, schema, batches);
        }
        buckets_to_python(py, series_name, &names, buckets, value_to_python)
    }

    /// Bring a rollup model up to date: one write transaction that reads the watermark,
    /// deletes the buckets from it on and writes them again (see `metrics::rollup`).
    /// `target` holds the dialect's statements for the rollup model
    /// (`strata.dialects.base.RollupSql`), whose insert writes the series, the bucket and
    /// then count, sum, min and max per value: `outputs`, in order. Returns the number of
    /// buckets written.
    #[pyo3(signature = (every_ms, outputs, target, target_format, *, lookback_ms = 0))]
    fn rollup(
        &self,
        py: Python<'_>,
        every_ms: i64,
        outputs: Vec<(usize, String)>,
        target: &Bound<'_, PyDict>,
        target_format: &str,
        lookback_ms: i64,
    ) -> PyResult<u64> {
        let outputs = parse_outputs(&outputs)?;
        let engine = match &self.engine {
            Backend::Sqlite(engine) => engine,
            Backend::Postgres(engine) => {
                let target = PgRollupTarget {
                    lock: text(target, "lock")?,
                    watermark: text(target, "watermark")?,
                    delete_from: text(target, "delete_from")?,
                    insert_json: text(target, "insert_json")?,
                    declare: text(target, "declare")?,
                    fetch: text(target, "fetch")?,
                    close: text(target, "close")?,
                };
                let request = Request::<Param> {
                    every_ms,
                    outputs: &outputs,
                    condition: &self.source.sql.all_rows,
                    params: &[],
                };
                return Ok(py.detach(|| {
                    in_transaction(engine, || {
                        engine.with_client(|client| {
                            metrics::pg::rollup(
                                client,
                                &self.source,
                                &request,
                                &target,
                                lookback_ms,
                            )
                        })
                    })
                })?);
            }
        };
        let insert = target
            .get_item("insert")?
            .ok_or_else(|| Error::invalid("the rollup has no insert"))?;
        let target = RollupTarget {
            watermark: text(target, "watermark")?,
            delete_from: text(target, "delete_from")?,
            insert: Target {
                sql: Arc::new(insert_sql(insert.cast::<PyDict>()?)?),
                skip_duplicates: false,
            },
            format: parse_format(target_format)?,
        };
        if outputs.len() + 2 != target.insert.sql.columns.len() {
            return Err(Error::invalid("one target column per output is needed").into());
        }
        let request = Request {
            every_ms,
            outputs: &outputs,
            condition: &self.source.sql.all_rows,
            params: &[],
        };
        let time_format = self.time_format.unwrap_or(Format::Iso8601);
        Ok(py.detach(|| {
            engine.write(|conn| {
                metrics::rollup(
                    conn,
                    &self.source,
                    time_format,
                    &request,
                    &target,
                    lookback_ms,
                )
            })
        })?)
    }
}

impl PyAggregator {
    /// The Arrow columns of an aggregation: the series, the bucket, then each output.
    fn output_columns(
        &self,
        series_name: &str,
        names: &[String],
        outputs: &[(usize, Stat)],
    ) -> Vec<Column> {
        let mut columns = vec![
            Column {
                name: series_name.to_owned(),
                kind: self.series_kind,
            },
            Column {
                name: "bucket".into(),
                kind: Kind::Timestamp,
            },
        ];
        for (name, &(index, stat)) in names.iter().zip(outputs) {
            columns.push(Column {
                name: name.clone(),
                kind: output_kind(stat, &self.source.inputs[index]),
            });
        }
        columns
    }

    fn memory_stream(
        &self,
        py: Python<'_>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> PyResult<Py<PyAny>> {
        let stream = PyArrowStream {
            source: StreamSource::Memory(schema, batches),
            engine: self.engine.clone(),
        };
        Ok(Py::new(py, stream)?.into_any())
    }
}

/// Buckets as record batches of `columns`.
fn in_batches(
    columns: &[Column],
    buckets: impl Iterator<Item = Bucket>,
) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let mut batches = Batches::new(columns);
    let mut done = Vec::new();
    for bucket in buckets {
        let mut row = vec![bucket.series, Value::Integer(bucket.start_ms)];
        row.extend(bucket.values);
        arrow_export::push_values(&mut batches, &row)?;
        if batches.is_full() {
            done.push(batches.finish().map_err(arrow_error)?);
        }
    }
    if batches.rows > 0 || done.is_empty() {
        done.push(batches.finish().map_err(arrow_error)?);
    }
    Ok((batches.schema(), done))
}

/// Buckets as a list of dicts: the series under `series_name`, `"bucket"`, then `names`.
fn buckets_to_python<'py, S>(
    py: Python<'py>,
    series_name: &str,
    names: &[String],
    buckets: Vec<Bucket<S>>,
    series: impl Fn(Python<'py>, S) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let keys: Vec<Bound<'_, PyString>> = names.iter().map(|n| PyString::new(py, n)).collect();
    let series_key = PyString::new(py, series_name);
    let bucket_key = PyString::new(py, "bucket");
    let utc = PyTzInfo::utc(py)?;
    let list = PyList::empty(py);
    for bucket in buckets {
        let dict = PyDict::new(py);
        dict.set_item(&series_key, series(py, bucket.series)?)?;
        dict.set_item(&bucket_key, datetime(py, bucket.start_ms, &utc)?)?;
        for (key, value) in keys.iter().zip(bucket.values) {
            dict.set_item(key, value_to_python(py, value)?)?;
        }
        list.append(dict)?;
    }
    Ok(list.into_any().unbind())
}

/// Run `work` in a transaction of the calling thread (a savepoint inside one it has).
fn in_transaction<T>(
    engine: &PgEngine,
    work: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    engine.begin()?;
    match work() {
        Ok(value) => {
            engine.commit()?;
            Ok(value)
        }
        Err(err) => {
            // The work's error is what the caller needs, not a failed rollback's.
            let _ = engine.rollback();
            Err(err)
        }
    }
}

/// A PostgreSQL series value in the Arrow export's terms (`arrow_export::push_values`).
fn cell_value(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Bool(b) => Value::Integer(i64::from(b)),
        Cell::Int(n) => Value::Integer(n),
        Cell::Float(x) => Value::Real(x),
        Cell::Numeric(text) | Cell::Text(text) | Cell::Json(text) => Value::Text(text),
        Cell::Bytes(bytes) => Value::Blob(bytes),
        Cell::Timestamp(micros) | Cell::TimestampTz(micros) => {
            Value::Integer(micros.div_euclid(1000) + 946_684_800_000)
        }
        other => {
            let mut text = String::new();
            metrics::pg::cell_json(&mut text, &other);
            Value::Text(text)
        }
    }
}

enum StreamSource {
    Query(Arc<Query>),
    Memory(SchemaRef, Vec<RecordBatch>),
}

/// Rows as an Arrow C stream (`__arrow_c_stream__`), for `DuckDB`, pyarrow, polars. Every
/// call starts a new stream: a query runs again on a connection of its own, a result in
/// memory is handed out again, so `DuckDB` can scan a view registered over it any number of
/// times.
#[pyclass(name = "ArrowStream", module = "strata._core", frozen)]
pub struct PyArrowStream {
    source: StreamSource,
    engine: Backend,
}

#[pymethods]
impl PyArrowStream {
    /// A stream of `sql`'s rows (a read-only query built from schema identifiers, with
    /// the database's placeholders for `params`). `columns` names each result column and
    /// its Arrow type: `int64`, `float64`, `bool`, `utf8`, `binary`, `timestamp`
    /// (milliseconds), `timestamp_us` or `decimal128(p,s)` (see `arrow_export::Kind`).
    #[staticmethod]
    fn query(
        db: &Bound<'_, PyEngine>,
        sql: String,
        params: &Bound<'_, PyTuple>,
        columns: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let columns = columns
            .into_iter()
            .map(|(name, kind)| {
                Ok(Column {
                    name,
                    kind: parse_kind(&kind)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let engine = db.get().backend().clone();
        let params = match engine {
            Backend::Sqlite(_) => Params::Sqlite(to_values(params)?),
            Backend::Postgres(_) => Params::Postgres(py_pg::to_params(params)?),
        };
        Ok(PyArrowStream {
            source: StreamSource::Query(Arc::new(Query {
                sql,
                params,
                columns,
            })),
            engine,
        })
    }

    /// The column names, in order.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// A new stream in a capsule, per the Arrow `PyCapsule` interface. A requested schema
    /// is not applied: the columns' types are fixed by the schema file.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader: Box<dyn RecordBatchReader + Send> = match &self.source {
            StreamSource::Query(query) => {
                Box::new(QueryStream::new(self.engine.clone(), Arc::clone(query)))
            }
            StreamSource::Memory(schema, batches) => Box::new(MemoryStream {
                schema: Arc::clone(schema),
                batches: batches.clone().into_iter(),
            }),
        };
        // The consumer moves the stream out of the capsule (leaving its release callback
        // NULL); if it never does, dropping the capsule releases the stream.
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM_CAPSULE)
    }
}

impl PyArrowStream {
    fn schema(&self) -> SchemaRef {
        match &self.source {
            StreamSource::Query(query) => arrow_export::schema(&query.columns),
            StreamSource::Memory(schema, _) => Arc::clone(schema),
        }
    }
}

/// The native ceiling for metric ingest (benches/metrics.py): `rows` rows generated in
/// Rust (series `p0`..`p{series-1}`, one sample per series every `step_ms` from
/// `start_ms`, then one float per remaining column) and written through `bulk::Target`
/// exactly as `BulkInsert` writes, `chunk_rows` per transaction, with no Python per row.
/// `insert` is the dialect's insert into the table (`strata.dialects.base.BulkInsertSql`).
#[pyfunction]
#[pyo3(signature = (db, insert, rows, series, *, chunk_rows = 10_000, start_ms = 0, step_ms = 1000, time_format = "iso8601"))]
#[allow(clippy::too_many_arguments)]
pub fn ingest_ceiling(
    py: Python<'_>,
    db: &Bound<'_, PyEngine>,
    insert: &Bound<'_, PyDict>,
    rows: usize,
    series: usize,
    chunk_rows: usize,
    start_ms: i64,
    step_ms: i64,
    time_format: &str,
) -> PyResult<u64> {
    let format = parse_format(time_format)?;
    let insert = insert_sql(insert)?;
    if series == 0 || chunk_rows == 0 || insert.columns.len() < 2 {
        return Err(Error::invalid("series, chunk_rows and two columns are needed").into());
    }
    let engine = Arc::clone(db.get().engine("ingest_ceiling")?);
    let width = insert.columns.len();
    let target = Target {
        sql: Arc::new(insert),
        skip_duplicates: false,
    };
    let names: Vec<String> = (0..series).map(|s| format!("p{s}")).collect();
    Ok(py.detach(|| -> Result<u64, Error> {
        let mut written = 0;
        let mut next = 0;
        while next < rows {
            let end = rows.min(next + chunk_rows);
            let mut run = Run {
                present: (0..width).collect(),
                values: Vec::with_capacity((end - next) * width),
                rows: end - next,
            };
            for i in next..end {
                let step = i64::try_from(i / series).unwrap_or(i64::MAX);
                run.values.push(Value::Text(names[i % series].clone()));
                run.values.push(format.value(start_ms + step * step_ms));
                for k in 2..width {
                    #[allow(clippy::cast_precision_loss)]
                    run.values
                        .push(Value::Real(((i * 7 + k * 13) % 1000) as f64 / 10.0));
                }
            }
            written += engine.write(|conn| target.insert(conn, std::slice::from_ref(&run)))?;
            next = end;
        }
        Ok(written)
    })?)
}

/// A text item of a statements dict the dialect wrote.
fn text(spec: &Bound<'_, PyDict>, name: &str) -> PyResult<String> {
    spec.get_item(name)?
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("no {name:?} statement")))?
        .extract()
}

fn datetime<'py>(
    py: Python<'py>,
    ms: i64,
    utc: &Bound<'py, PyTzInfo>,
) -> PyResult<Bound<'py, PyDateTime>> {
    // Python's datetime rejects years outside 1..=9999 itself, with its own message.
    let p = UtcTime::from_unix_ms(ms);
    PyDateTime::new(
        py,
        p.year,
        p.month,
        p.day,
        p.hour,
        p.minute,
        p.second,
        p.millisecond * 1000,
        Some(utc),
    )
}

/// The Arrow type of one statistic: counts are integers, sums, minima and maxima keep an
/// integer column's type, averages and percentiles are floats.
fn output_kind(stat: Stat, input: &Input) -> Kind {
    let integer = match input {
        Input::Raw { integer, .. } | Input::Partial { integer, .. } => *integer,
    };
    match stat {
        Stat::Count => Kind::Int64,
        Stat::Sum | Stat::Min | Stat::Max if integer => Kind::Int64,
        _ => Kind::Float64,
    }
}

fn parse_outputs(outputs: &[(usize, String)]) -> Result<Vec<(usize, Stat)>, Error> {
    outputs
        .iter()
        .map(|(index, name)| {
            Stat::parse(name)
                .map(|stat| (*index, stat))
                .ok_or_else(|| Error::invalid(format!("unknown statistic {name:?}")))
        })
        .collect()
}

fn parse_format(name: &str) -> Result<Format, Error> {
    Format::parse(name)
}

fn parse_kind(name: &str) -> Result<Kind, Error> {
    Kind::parse(name).ok_or_else(|| Error::invalid(format!("unknown Arrow column type {name:?}")))
}

#[allow(clippy::needless_pass_by_value)]
fn arrow_error(err: arrow_schema::ArrowError) -> Error {
    Error::invalid(format!("building an Arrow batch failed: {err}"))
}
