//! The Python face of bulk inserts: `strata._core.BulkInsert`.
//!
//! Python describes a model's columns once (`strata.client.bulk`); each call then converts
//! rows straight from Python objects into `SQLite` values and writes them, a chunk at a
//! time, with the GIL released for the writing. Conversion follows the dialect's codecs
//! (`strata/dialects/sqlite/codecs.py`) exactly: the common types are checked and converted here,
//! and anything else (a Decimal, a Json value, an enum member, a value the fast check
//! refuses) goes through the field's Python encoder, which either converts it or raises the
//! `ValidationError` that names the model, the field and what was expected. An error is
//! tagged with the index of the row that caused it.

use std::collections::HashMap;
use std::sync::Arc;

mod arrow;
mod convert;
mod copy;
mod slot;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyTuple};
use rusqlite::types::Value;

use crate::bulk::{InsertSql, Run, Target};
use crate::engine::postgres::Param;
use crate::engine::Backend;
use crate::error::Error;
use crate::py_engine::PyEngine;
use crate::time::Format;
use convert::{fast_convert, parse_kind, parse_missing};
use slot::Slot;

/// How a column's value is checked and converted on the fast path.
enum Kind {
    Text {
        max_chars: Option<usize>,
    },
    Int {
        min: i64,
        max: i64,
    },
    Float,
    Bool,
    Bytes,
    /// Member name to stored (`@map`) name.
    Enum(HashMap<String, String>),
    /// An aware UTC datetime, stored in the column's form.
    DateTime(Format),
    /// Always through the field's Python encoder.
    Python,
}

/// What a row that leaves the column out gets.
enum Missing {
    /// Nothing is written: the database applies the column's default (or NULL).
    Omit,
    /// The field is required and has no default.
    Required,
    /// The call's current time (`@default(now())`, `@updatedAt`), encoded once per call.
    Now,
    /// A value generated per row (cuid, uuid, ...), through this callable.
    Generate(Py<PyAny>),
    /// A fixed, already encoded value (an empty scalar list), bound in the database's
    /// form per call.
    Value(Py<PyAny>),
}

struct Column {
    field: Py<PyString>,
    kind: Kind,
    nullable: bool,
    missing: Missing,
    /// The codec's `to_sql`: converts a value or raises the field's `ValidationError`.
    encode: Py<PyAny>,
}

#[pyclass(name = "BulkInsert", module = "strata._core", frozen)]
pub struct PyBulkInsert {
    db: Py<PyEngine>,
    backend: Backend,
    model: String,
    columns: Vec<Column>,
    /// The dialect's insert statements, with the columns in `columns` order.
    insert: Arc<InsertSql>,
    /// `unknown_field(name)` returns the `ValidationError` for a field the model lacks.
    unknown_field: Py<PyAny>,
}

/// One column as Python describes it; see `PyBulkInsert::new`.
type ColumnSpec<'py> = (
    Bound<'py, PyString>,
    String,
    Bound<'py, PyAny>,
    bool,
    Bound<'py, PyAny>,
    Py<PyAny>,
);

#[pymethods]
impl PyBulkInsert {
    /// `insert`: how the dialect writes inserts into the model's table
    /// (`strata.dialects.base.BulkInsertSql`), its columns one per scalar field.
    /// `columns`: one `(field, kind, options, nullable, missing, encode)` tuple per scalar
    /// field, in the same order, where `kind` names the fast path (see `Kind`), `options` is the
    /// text limit, the int range or the enum's name map, and `missing` is `"omit"`,
    /// `"required"`, `"now"`, a callable, or `("value", v)`. Values read from Arrow data
    /// take the same fast path.
    #[new]
    fn new(
        db: &Bound<'_, PyEngine>,
        model: String,
        insert: &Bound<'_, PyDict>,
        columns: &Bound<'_, PyList>,
        unknown_field: Py<PyAny>,
    ) -> PyResult<Self> {
        let mut parsed = Vec::with_capacity(columns.len());
        for spec in columns.iter() {
            let (field, kind, options, nullable, missing, encode): ColumnSpec<'_> =
                spec.extract()?;
            parsed.push(Column {
                field: field.unbind(),
                kind: parse_kind(&kind, &options)?,
                nullable,
                missing: parse_missing(&missing)?,
                encode,
            });
        }
        let insert = insert_sql(insert)?;
        if insert.columns.len() != parsed.len() {
            return Err(Error::invalid("the insert names one column per field").into());
        }
        Ok(PyBulkInsert {
            db: db.clone().unbind(),
            backend: db.get().backend().clone(),
            model,
            columns: parsed,
            insert: Arc::new(insert),
            unknown_field,
        })
    }

    /// Insert `rows` (an iterable of dicts of field values) and return how many were
    /// inserted. `now` is the encoded current time for fields that default to it;
    /// `defaults` gives values (checked like any other) for fields rows leave out.
    ///
    /// With `atomic` (the default, what `create_many` uses) every row is inserted or none
    /// is: the whole call is one transaction, or a savepoint in the caller's. Without it,
    /// each chunk of `chunk_rows` rows commits on its own, so memory and lock time stay
    /// bounded for streams of any size (the default 4096 rows is where converting more
    /// per GIL acquisition stops paying); a failure rolls back only its chunk, and the error
    /// carries `committed`, the number of rows written before it.
    ///
    /// With `rowids` (a list), the rowid of every row inserted is appended to it, in the
    /// order written (`RETURNING rowid`), so the caller can read the new rows back inside
    /// the same transaction.
    ///
    /// With `copy`, rows go to PostgreSQL by binary `COPY` rather than multi-row inserts
    /// (metric ingest; no `skip_duplicates` or `rowids` then). `SQLite` has no COPY and
    /// inserts them.
    #[pyo3(signature = (rows, *, now = None, defaults = None, skip_duplicates = false, atomic = true, chunk_rows = 4096, rowids = None, copy = false))]
    #[allow(clippy::too_many_arguments)] // keyword-only: each one is named at the call
    fn insert_rows(
        &self,
        py: Python<'_>,
        rows: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        skip_duplicates: bool,
        atomic: bool,
        chunk_rows: usize,
        rowids: Option<&Bound<'_, PyList>>,
        copy: bool,
    ) -> PyResult<u64> {
        let options = Options {
            skip_duplicates,
            atomic,
            chunk_rows,
            copy,
        };
        match &self.backend {
            Backend::Sqlite(_) => self.rows_as::<Value>(py, rows, now, defaults, options, rowids),
            Backend::Postgres(_) => self.rows_as::<Param>(py, rows, now, defaults, options, rowids),
        }
    }

    /// Insert columnar data: `columns` maps field names to equal-length sequences (lists,
    /// tuples, or anything with `len` and indexing). Fields not given are treated as left
    /// out of every row. Same transaction options as `insert_rows`.
    #[pyo3(signature = (columns, *, now = None, defaults = None, skip_duplicates = false, atomic = true, chunk_rows = 4096, copy = false))]
    #[allow(clippy::too_many_arguments)] // keyword-only: each one is named at the call
    fn insert_columns(
        &self,
        py: Python<'_>,
        columns: &Bound<'_, PyDict>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        skip_duplicates: bool,
        atomic: bool,
        chunk_rows: usize,
        copy: bool,
    ) -> PyResult<u64> {
        let options = Options {
            skip_duplicates,
            atomic,
            chunk_rows,
            copy,
        };
        match &self.backend {
            Backend::Sqlite(_) => self.columns_as::<Value>(py, columns, now, defaults, options),
            Backend::Postgres(_) => self.columns_as::<Param>(py, columns, now, defaults, options),
        }
    }

    /// Insert Arrow data: any object with `__arrow_c_stream__` or `__arrow_c_array__`, read
    /// through the Arrow C data interface (`py_bulk/arrow.rs`), its columns named after
    /// the fields. Same options as `insert_rows`.
    #[pyo3(signature = (data, *, now = None, defaults = None, atomic = true, chunk_rows = 4096, copy = false))]
    #[allow(clippy::too_many_arguments)] // keyword-only: each one is named at the call
    fn insert_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        atomic: bool,
        chunk_rows: usize,
        copy: bool,
    ) -> PyResult<u64> {
        let options = Options {
            skip_duplicates: false,
            atomic,
            chunk_rows,
            copy,
        };
        match &self.backend {
            Backend::Sqlite(_) => self.arrow_as::<Value>(py, data, now, defaults, options),
            Backend::Postgres(_) => self.arrow_as::<Param>(py, data, now, defaults, options),
        }
    }
}

/// The keyword options of one call.
#[derive(Clone, Copy)]
struct Options {
    skip_duplicates: bool,
    atomic: bool,
    chunk_rows: usize,
    copy: bool,
}

impl PyBulkInsert {
    fn rows_as<V: Slot>(
        &self,
        py: Python<'_>,
        rows: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        options: Options,
        rowids: Option<&Bound<'_, PyList>>,
    ) -> PyResult<u64> {
        let call = self.prepare_call::<V>(py, rows, now, defaults, options.skip_duplicates)?;
        let mut source = rows.try_iter()?.enumerate();
        let mut row_buffer = RowBuffer::default();
        self.db.get().timed(py, "bulk_insert", &call.sql, rows, || {
            self.write_chunks(py, &call, options, rowids, |runs, limit| {
                let mut taken = 0;
                for (index, row) in source.by_ref() {
                    self.convert_row(&call, &row?, index, &mut row_buffer)?;
                    row_buffer.push_into(runs);
                    taken += 1;
                    if taken == limit {
                        break;
                    }
                }
                Ok(taken)
            })
        })
    }

    fn columns_as<V: Slot>(
        &self,
        py: Python<'_>,
        columns: &Bound<'_, PyDict>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        options: Options,
    ) -> PyResult<u64> {
        let call =
            self.prepare_call::<V>(py, columns.as_any(), now, defaults, options.skip_duplicates)?;
        let mut given: Vec<Option<Bound<'_, PyAny>>> = Vec::with_capacity(self.columns.len());
        let mut length: Option<(usize, Bound<'_, PyString>)> = None;
        for column in &self.columns {
            let field = column.field.bind(py);
            let values = columns.get_item(field)?;
            if let Some(values) = &values {
                let size = values.len()?;
                match &length {
                    Some((expected, first)) if *expected != size => {
                        return Err(self.invalid(
                            Some(field),
                            format!(
                                "every column must have the same length: {first} has \
                                 {expected} values, {field} has {size}"
                            ),
                            "columns of equal length",
                        ));
                    }
                    None => length = Some((size, field.clone())),
                    Some(_) => {}
                }
            }
            given.push(values);
        }
        if given.iter().flatten().count() != columns.len() {
            if let Some(err) = self.unknown_key(&columns.keys()) {
                return Err(err);
            }
        }
        let total = length.map_or(0, |(size, _)| size);
        let given: Vec<Option<Source<'_>>> =
            given.into_iter().map(|g| g.map(Source::new)).collect();
        let mut next = 0;
        let mut row_buffer = RowBuffer::default();
        self.db
            .get()
            .timed(py, "bulk_insert", &call.sql, columns.as_any(), || {
                self.write_chunks(py, &call, options, None, |runs, limit| {
                    let end = total.min(next + limit);
                    for index in next..end {
                        self.convert_column_row(py, &call, &given, index, &mut row_buffer)?;
                        row_buffer.push_into(runs);
                    }
                    let taken = end - next;
                    next = end;
                    Ok(taken)
                })
            })
    }
}

/// What stays the same for every row of one call.
struct Call<V> {
    target: Target,
    /// The single-row form of the statement, which the tracer and the query listener see.
    sql: String,
    now: V,
    /// Per column: the value for rows that leave the field out, given for this call (or
    /// fixed by the model, `Missing::Value`).
    defaults: Vec<Option<V>>,
}

impl PyBulkInsert {
    fn prepare_call<V: Slot>(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        skip_duplicates: bool,
    ) -> PyResult<Call<V>> {
        let target = Target {
            sql: Arc::clone(&self.insert),
            skip_duplicates,
        };
        // The tracer sees one entry per call: the single-row form of the statement.
        let all: Vec<usize> = (0..self.columns.len()).collect();
        let sql = target.sql(&all, 1);
        self.db.get().trace(py, &sql, data)?;
        let now = match now {
            Some(value) => V::from_python(value)?,
            None => V::null(),
        };
        let mut fixed: Vec<Option<V>> = self
            .columns
            .iter()
            .map(|column| match &column.missing {
                Missing::Value(value) => V::from_python(value.bind(py)).map(Some),
                _ => Ok(None),
            })
            .collect::<PyResult<_>>()?;
        if let Some(defaults) = defaults {
            for (field, value) in defaults.iter() {
                let position = self
                    .columns
                    .iter()
                    .position(|c| field.eq(c.field.bind(py)).unwrap_or(false));
                let Some(position) = position else {
                    return Err(PyErr::from_value(
                        self.unknown_field.bind(py).call1((field,))?,
                    ));
                };
                fixed[position] = Some(Self::convert(&self.columns[position], &value)?);
            }
        }
        Ok(Call {
            target,
            sql,
            now,
            defaults: fixed,
        })
    }

    /// Convert chunks with `fill(runs, limit)` (which returns how many rows it converted)
    /// and write each with the GIL released, until a chunk comes back empty. With
    /// `rowids`, the inserted rows' rowids are appended to it.
    fn write_chunks<V: Slot>(
        &self,
        py: Python<'_>,
        call: &Call<V>,
        options: Options,
        rowids: Option<&Bound<'_, PyList>>,
        mut fill: impl FnMut(&mut Vec<Run<V>>, usize) -> PyResult<usize>,
    ) -> PyResult<u64> {
        if options.copy {
            if let Backend::Postgres(engine) = &self.backend {
                if rowids.is_some() {
                    return Err(Error::invalid(
                        "COPY returns no keys; insert the rows to read them back",
                    )
                    .into());
                }
                return Self::copy_chunks(py, call, options, engine, fill);
            }
        }
        let Options {
            atomic, chunk_rows, ..
        } = options;
        if chunk_rows == 0 {
            return Err(Error::invalid("chunk_rows must be at least 1").into());
        }
        let backend = &self.backend;
        if atomic {
            py.detach(|| backend.begin())?;
        }
        // A chunk that is several statements needs a transaction of its own on a server
        // where each statement outside one commits alone.
        let chunk_transaction = !atomic && V::CHUNK_TRANSACTION;
        let mut written = 0;
        let mut converted = 0;
        let outcome = (|| -> PyResult<()> {
            loop {
                let mut runs = Vec::new();
                let taken = fill(&mut runs, chunk_rows)?;
                if taken == 0 {
                    return Ok(());
                }
                let mut ids: Vec<V::Id> = Vec::new();
                let want_ids = rowids.is_some();
                written += py.detach(|| {
                    if chunk_transaction {
                        backend.begin()?;
                    }
                    let outcome =
                        V::write(backend, &call.target, &runs, want_ids.then_some(&mut ids));
                    match (&outcome, chunk_transaction) {
                        (Ok(_), true) => backend.commit()?,
                        (Err(_), true) => {
                            let _ = backend.rollback();
                        }
                        _ => {}
                    }
                    outcome
                })?;
                converted += taken;
                if let Some(list) = rowids {
                    for id in ids {
                        list.append(V::id_object(py, id)?)?;
                    }
                }
                if taken < chunk_rows {
                    return Ok(());
                }
            }
        })();
        match outcome {
            Ok(()) => {
                if atomic {
                    py.detach(|| backend.commit())?;
                }
                Ok(written)
            }
            Err(err) => {
                if atomic {
                    // The original error is what the caller needs, not a failed rollback's.
                    let _ = py.detach(|| backend.rollback());
                } else {
                    let _ = err.value(py).setattr(intern!(py, "committed"), written);
                }
                Err(err)
            }
        }
    }

    fn convert_row<V: Slot>(
        &self,
        call: &Call<V>,
        row: &Bound<'_, PyAny>,
        index: usize,
        buffer: &mut RowBuffer<V>,
    ) -> PyResult<()> {
        let py = row.py();
        let dict = if let Ok(dict) = row.cast::<PyDict>() {
            dict.clone()
        } else if let Ok(mapping) = row.cast::<PyMapping>() {
            PyDict::from_sequence(mapping.items()?.as_any())?
        } else {
            return Err(at_row(
                self.invalid(
                    None,
                    format!("each record must be a dict, got {}", describe(row)),
                    "a dict per record",
                ),
                index,
            ));
        };
        let RowBuffer { present, values } = buffer;
        let mut found = 0;
        // A field the model lacks is reported before a bad or missing value in the same
        // row: a misspelt name otherwise shows up as the real field being "required".
        let mut first_error = None;
        for (position, column) in self.columns.iter().enumerate() {
            let value = match dict.get_item(column.field.bind(py))? {
                Some(value) => {
                    found += 1;
                    if first_error.is_some() {
                        continue;
                    }
                    Self::convert(column, &value).map(Some)
                }
                None if first_error.is_some() => continue,
                None => self.missing_value(py, position, call),
            };
            match value {
                Ok(Some(value)) => {
                    values.push(value);
                    present.push(position);
                }
                Ok(None) => {}
                Err(err) => first_error = Some(err),
            }
        }
        if found != dict.len() {
            if let Some(err) = self.unknown_key(&dict.keys()) {
                return Err(at_row(err, index));
            }
        }
        if let Some(err) = first_error {
            return Err(at_row(err, index));
        }
        Ok(())
    }

    fn convert_column_row<V: Slot>(
        &self,
        py: Python<'_>,
        call: &Call<V>,
        given: &[Option<Source<'_>>],
        index: usize,
        buffer: &mut RowBuffer<V>,
    ) -> PyResult<()> {
        let RowBuffer { present, values } = buffer;
        for (position, (column, source)) in self.columns.iter().zip(given).enumerate() {
            let value = match source {
                Some(source) => Some(
                    source
                        .get(index)
                        .and_then(|value| Self::convert(column, &value))
                        .map_err(|e| at_row(e, index))?,
                ),
                None => self
                    .missing_value(py, position, call)
                    .map_err(|e| at_row(e, index))?,
            };
            if let Some(value) = value {
                values.push(value);
                present.push(position);
            }
        }
        Ok(())
    }

    /// The error for the first of `keys` that is not a field of the model, if any.
    fn unknown_key(&self, keys: &Bound<'_, PyList>) -> Option<PyErr> {
        let py = keys.py();
        let unknown = keys.iter().find(|key| {
            !self
                .columns
                .iter()
                .any(|c| key.eq(c.field.bind(py)).unwrap_or(false))
        })?;
        Some(match self.unknown_field.bind(py).call1((unknown,)) {
            Ok(exception) => PyErr::from_value(exception),
            Err(err) => err,
        })
    }

    fn missing_value<V: Slot>(
        &self,
        py: Python<'_>,
        position: usize,
        call: &Call<V>,
    ) -> PyResult<Option<V>> {
        if let Some(value) = &call.defaults[position] {
            return Ok(Some(value.clone()));
        }
        let column = &self.columns[position];
        Ok(match &column.missing {
            // A fixed value is in `call.defaults`, unless the call gave its own.
            Missing::Omit | Missing::Value(_) => None,
            Missing::Now => Some(call.now.clone()),
            Missing::Generate(generate) => {
                Some(Self::convert(column, generate.bind(py).call0()?.as_any())?)
            }
            Missing::Required => {
                let field = column.field.bind(py);
                return Err(self.invalid(
                    Some(field),
                    format!("{}.{field}: is required", self.model),
                    &format!("a value for {field}"),
                ));
            }
        })
    }

    /// One value, checked and converted; the field's Python encoder decides whatever the
    /// fast path does not accept.
    fn convert<V: Slot>(column: &Column, value: &Bound<'_, PyAny>) -> PyResult<V> {
        if value.is_none() && column.nullable {
            return Ok(V::null());
        }
        if let Some(converted) = fast_convert(&column.kind, value) {
            return Ok(converted);
        }
        let encoded = column.encode.bind(value.py()).call1((value,))?;
        V::from_python(&encoded)
    }

    fn invalid(
        &self,
        field: Option<&Bound<'_, PyString>>,
        message: String,
        expected: &str,
    ) -> PyErr {
        let message = if message.starts_with(&self.model) {
            message
        } else {
            format!("{}: {message}", self.model)
        };
        Error::Invalid {
            message,
            model: Some(self.model.clone()),
            field: field.map(ToString::to_string),
            expected: expected.to_owned(),
        }
        .into()
    }
}

/// One converted row, reused from row to row so that converting allocates nothing per row
/// in the common case of rows that give the same columns.
struct RowBuffer<V> {
    present: Vec<usize>,
    values: Vec<V>,
}

impl<V> Default for RowBuffer<V> {
    fn default() -> Self {
        RowBuffer {
            present: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<V> RowBuffer<V> {
    /// Move the row into `runs`, starting a new run when it gives other columns than the
    /// last, and leave the buffer empty.
    fn push_into(&mut self, runs: &mut Vec<Run<V>>) {
        match runs.last_mut() {
            Some(run) if run.present == self.present => {
                run.values.append(&mut self.values);
                run.rows += 1;
            }
            _ => runs.push(Run {
                present: self.present.clone(),
                values: std::mem::take(&mut self.values),
                rows: 1,
            }),
        }
        self.present.clear();
        self.values.clear();
    }
}

/// A column of `insert_columns`: lists and tuples are read by index directly; anything
/// else through the sequence protocol.
enum Source<'py> {
    List(Bound<'py, PyList>),
    Tuple(Bound<'py, PyTuple>),
    Other(Bound<'py, PyAny>),
}

impl<'py> Source<'py> {
    fn new(values: Bound<'py, PyAny>) -> Self {
        match values.cast_into::<PyList>() {
            Ok(list) => Source::List(list),
            Err(err) => match err.into_inner().cast_into::<PyTuple>() {
                Ok(tuple) => Source::Tuple(tuple),
                Err(err) => Source::Other(err.into_inner()),
            },
        }
    }

    fn get(&self, index: usize) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Source::List(list) => list.get_item(index),
            Source::Tuple(tuple) => tuple.get_item(index),
            Source::Other(values) => values.get_item(index),
        }
    }
}

fn describe(value: &Bound<'_, PyAny>) -> String {
    let name = value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string());
    let text = value
        .repr()
        .map_or_else(|_| "?".to_owned(), |r| r.to_string());
    let text = match text.char_indices().nth(57) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    };
    format!("{name} {text}")
}

/// Tag an error with the index of the row that caused it: `row` for code, and the message
/// for people.
fn at_row(err: PyErr, row: usize) -> PyErr {
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr(intern!(py, "row"), row);
        if let Ok(message) = value.str() {
            let _ = value.setattr(intern!(py, "args"), (format!("row {row}: {message}"),));
        }
    });
    err
}

/// The dialect's insert pieces (`strata.dialects.base.BulkInsertSql`) as the core keeps them.
pub fn insert_sql(spec: &Bound<'_, PyDict>) -> PyResult<InsertSql> {
    let item = |name: &str| -> PyResult<Bound<'_, PyAny>> {
        spec.get_item(name)?.ok_or_else(|| {
            pyo3::exceptions::PyKeyError::new_err(format!("the insert has no {name:?}"))
        })
    };
    let text = |name: &str| -> PyResult<String> { item(name)?.extract() };
    let insert = InsertSql {
        head: text("head")?,
        columns: item("columns")?.extract()?,
        column_separator: text("column_separator")?,
        values: text("values")?,
        row_tuples: item("row_tuples")?.extract()?,
        row_separator: text("row_separator")?,
        skip_duplicates: text("skip_duplicates")?,
        returning_rowid: text("returning_rowid")?,
        default_values: text("default_values")?,
        copy: match (spec.get_item("copy_head")?, spec.get_item("copy_tail")?) {
            (Some(head), Some(tail)) if !head.is_none() && !tail.is_none() => {
                Some((head.extract()?, tail.extract()?))
            }
            _ => None,
        },
    };
    if insert.row_tuples.len() != insert.columns.len() + 1 {
        return Err(Error::invalid("the insert needs a row tuple for every width").into());
    }
    Ok(insert)
}
