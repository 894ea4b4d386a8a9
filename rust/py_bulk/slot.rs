//! How the bulk writer holds a converted value for each database: `SQLite`'s `Value`, or
//! PostgreSQL's `Param`, and how a chunk of rows of either is written. The conversion code
//! (`py_bulk`) is written once over [`Slot`]; only these few choices differ.

use pyo3::prelude::*;
use rusqlite::types::Value;

use crate::bulk::{Run, Target};
use crate::bulk_pg;
use crate::engine::postgres::{Cell, Param};
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::py_engine::to_value;
use crate::py_pg::{cell_to_python, to_param};
use crate::time::{Format, UtcTime};

pub(super) trait Slot: Sized + Clone + Send + Sync {
    /// Whether each chunk of a non-atomic call needs a transaction of its own (outside
    /// one, a PostgreSQL statement commits alone; `SQLite`'s writer opens one per chunk).
    const CHUNK_TRANSACTION: bool;
    /// Whether text may hold U+0000 (`SQLite`'s does; PostgreSQL's cannot).
    const NUL_IN_TEXT: bool;
    /// What finds an inserted row again: `SQLite`'s rowid, PostgreSQL's primary key.
    type Id: Send;
    fn id_object(py: Python<'_>, id: Self::Id) -> PyResult<Bound<'_, PyAny>>;
    fn null() -> Self;
    /// The values as PostgreSQL parameters, for COPY; None on `SQLite`.
    fn as_params(values: &[Self]) -> Option<&[Param]>;
    fn from_value(value: Value) -> Self;
    fn from_bool(flag: bool) -> Self;
    fn from_datetime(format: Format, time: &UtcTime) -> Self;
    /// A value the field's Python encoder returned.
    fn from_python(value: &Bound<'_, PyAny>) -> PyResult<Self>;
    /// Insert `runs` on `backend`, inside the transaction the caller holds, if any (COPY
    /// is `copy_chunks`'s).
    fn write(
        backend: &Backend,
        target: &Target,
        runs: &[Run<Self>],
        rowids: Option<&mut Vec<Self::Id>>,
    ) -> Result<u64>;
}

impl Slot for Value {
    const CHUNK_TRANSACTION: bool = false;
    const NUL_IN_TEXT: bool = true;
    type Id = i64;

    fn id_object(py: Python<'_>, id: i64) -> PyResult<Bound<'_, PyAny>> {
        Ok(id.into_pyobject(py)?.into_any())
    }

    fn null() -> Self {
        Value::Null
    }

    fn as_params(_: &[Self]) -> Option<&[Param]> {
        None
    }

    fn from_value(value: Value) -> Self {
        value
    }

    fn from_bool(flag: bool) -> Self {
        Value::Integer(i64::from(flag))
    }

    fn from_datetime(format: Format, time: &UtcTime) -> Self {
        format.of(time)
    }

    fn from_python(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(to_value(value, 0)?)
    }

    fn write(
        backend: &Backend,
        target: &Target,
        runs: &[Run<Self>],
        rowids: Option<&mut Vec<i64>>,
    ) -> Result<u64> {
        let engine = backend.sqlite("bulk insert")?;
        match rowids {
            None => engine.write(|conn| target.insert(conn, runs)),
            Some(ids) => engine.write(|conn| target.insert_returning_rowids(conn, runs, ids)),
        }
    }
}

impl Slot for Param {
    const CHUNK_TRANSACTION: bool = true;
    const NUL_IN_TEXT: bool = false;
    type Id = Cell;

    fn id_object(py: Python<'_>, id: Cell) -> PyResult<Bound<'_, PyAny>> {
        cell_to_python(py, id)
    }

    fn null() -> Self {
        Param::Null
    }

    fn as_params(values: &[Self]) -> Option<&[Param]> {
        Some(values)
    }

    fn from_value(value: Value) -> Self {
        match value {
            Value::Null => Param::Null,
            Value::Integer(number) => Param::Int(number),
            Value::Real(number) => Param::Float(number),
            Value::Text(text) => Param::Text(text),
            Value::Blob(bytes) => Param::Bytes(bytes),
        }
    }

    fn from_bool(flag: bool) -> Self {
        Param::Bool(flag)
    }

    /// ISO text with its `Z`: a `timestamptz` reads the instant, a `timestamp` (Prisma's
    /// `DateTime`) the UTC wall-clock time, which is what Prisma stores there.
    fn from_datetime(_: Format, time: &UtcTime) -> Self {
        Param::Text(time.iso8601_z())
    }

    fn from_python(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        to_param(value, 0)
    }

    fn write(
        backend: &Backend,
        target: &Target,
        runs: &[Run<Self>],
        rowids: Option<&mut Vec<Cell>>,
    ) -> Result<u64> {
        let Backend::Postgres(engine) = backend else {
            return Err(Error::Unsupported(
                "PostgreSQL values on another database".into(),
            ));
        };
        match rowids {
            Some(ids) => bulk_pg::insert_returning(engine, target, runs, ids),
            None => bulk_pg::insert(engine, target, runs),
        }
    }
}
