//! Bulk inserts from Arrow data, through the Arrow C data interface: `BulkInsert.insert_arrow`.
//!
//! Any object with `__arrow_c_stream__` (a pyarrow `Table` or `RecordBatchReader`, a polars
//! `DataFrame`, a pandas frame's export, a `DuckDB` relation) or `__arrow_c_array__` (a
//! record batch, a struct array) hands the core its buffers in a `PyCapsule`; the core reads
//! the values from them straight into the writer's rows, so no Python object is made per
//! value and no pyarrow is needed. The Python encoder still has the last word where the
//! fast checks refuse a value (a text over its limit, an int out of range, a NaN, a NULL in
//! a required field): it is called with that one value, so the error is the same
//! `ValidationError` that `create` and the other ingest paths raise.
//!
//! Everything that can be known from the schema alone (an unknown column, a type the field
//! cannot take, a timestamp without a time zone, a required field with no column) is
//! refused before anything is written. The call is one transaction (`atomic`), so a value
//! refused part-way or a stream that fails part-way writes nothing either.

use std::ffi::CStr;

use arrow_array::cast::AsArray;
use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchReader, StructArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, DataType, Field, SchemaRef, TimeUnit};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyCapsuleMethods, PyDict, PyFloat, PyString};
use rusqlite::types::Value;

use super::slot::Slot;
use super::{at_row, Call, Kind, Missing, Options, PyBulkInsert, RowBuffer};
use crate::error::Error;
use crate::time::UtcTime;

const STREAM_CAPSULE: &CStr = c"arrow_array_stream";
const SCHEMA_CAPSULE: &CStr = c"arrow_schema";
const ARRAY_CAPSULE: &CStr = c"arrow_array";

/// The instants a `DateTime` holds: years 1 to 9999, as Python's `datetime` does.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// Where the record batches come from.
enum Batches {
    Stream(ArrowArrayStreamReader),
    One(Option<RecordBatch>),
}

impl Batches {
    fn next(&mut self) -> Option<Result<RecordBatch, ArrowError>> {
        match self {
            Batches::Stream(reader) => reader.next(),
            Batches::One(batch) => batch.take().map(Ok),
        }
    }
}

/// Take the Arrow data out of `data`'s capsules: a stream when it offers one, else one
/// record batch (a struct array's fields are its columns).
fn import(data: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Batches)> {
    let py = data.py();
    if data.hasattr(pyo3::intern!(py, "__arrow_c_stream__"))? {
        let capsule = data.call_method0(pyo3::intern!(py, "__arrow_c_stream__"))?;
        let capsule = capsule.cast::<PyCapsule>()?;
        let pointer = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
        // SAFETY: the capsule holds an FFI_ArrowArrayStream (its name says so, per the Arrow
        // PyCapsule interface); `from_raw` moves it out, leaving a released stream behind for
        // the capsule's destructor.
        let stream = unsafe { FFI_ArrowArrayStream::from_raw(pointer.as_ptr().cast()) };
        let reader = ArrowArrayStreamReader::try_new(stream).map_err(arrow_error)?;
        return Ok((reader.schema(), Batches::Stream(reader)));
    }
    let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = data
        .call_method0(pyo3::intern!(py, "__arrow_c_array__"))?
        .extract()?;
    let schema = schema.pointer_checked(Some(SCHEMA_CAPSULE))?;
    let array = array.pointer_checked(Some(ARRAY_CAPSULE))?;
    // SAFETY: as above, for the array and schema capsules: the array is moved out, the schema
    // only read (its capsule keeps and releases it).
    let data = unsafe {
        let schema = &*schema.as_ptr().cast::<FFI_ArrowSchema>();
        from_ffi(FFI_ArrowArray::from_raw(array.as_ptr().cast()), schema)
    }
    .map_err(arrow_error)?;
    if !matches!(data.data_type(), DataType::Struct(_)) {
        return Err(Error::invalid(format!(
            "an Arrow array of {} is one column, not a table: pass a table, a record batch \
             or a stream of them",
            data.data_type()
        ))
        .into());
    }
    let batch = RecordBatch::from(StructArray::from(data));
    Ok((batch.schema(), Batches::One(Some(batch))))
}

fn arrow_error(err: ArrowError) -> PyErr {
    Error::invalid(format!("reading the Arrow data failed: {err}")).into()
}

/// How a column's Arrow values are read, chosen once from the schema.
#[derive(Clone, Copy, Debug)]
enum Read {
    /// A column of nulls only (Arrow's `Null` type).
    Null,
    Int,
    Float,
    Bool,
    Text,
    Bytes,
    Time(TimeUnit),
}

/// What the schema says about a field's Arrow type: how to read it, or why it cannot be.
fn plan(kind: &Kind, data_type: &DataType) -> Result<Read, String> {
    let value_type = match data_type {
        DataType::Dictionary(_, values) => values.as_ref(),
        other => other,
    };
    let is_int = value_type.is_integer();
    let is_float = matches!(value_type, DataType::Float32 | DataType::Float64);
    let is_text = matches!(
        value_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let dictionary = matches!(data_type, DataType::Dictionary(..));
    if matches!(data_type, DataType::Null) {
        return Ok(Read::Null);
    }
    if dictionary && !is_text {
        return Err("dictionary-encoded columns are read for text only".into());
    }
    let read = match kind {
        Kind::Text { .. } | Kind::Enum(_) if is_text => Read::Text,
        // A whole float is taken as an int: pandas turns an int column with a gap into floats.
        Kind::Int { .. } if is_int => Read::Int,
        Kind::Int { .. } | Kind::Float if is_float => Read::Float,
        Kind::Float if is_int => Read::Int,
        Kind::Bool if matches!(value_type, DataType::Boolean) => Read::Bool,
        Kind::Bytes
            if matches!(
                value_type,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            ) =>
        {
            Read::Bytes
        }
        Kind::DateTime(_) => match value_type {
            DataType::Timestamp(unit, Some(_)) => Read::Time(*unit),
            DataType::Timestamp(_, None) => {
                return Err(
                    "a timestamp without a time zone is a wall-clock time in no \
                            known zone, and is refused rather than guessed; give it one, \
                            such as UTC (polars: .dt.replace_time_zone(\"UTC\"); pyarrow: \
                            pc.assume_timezone or a cast to pa.timestamp(unit, tz=\"UTC\"))"
                        .into(),
                )
            }
            _ => return Err("expected an Arrow timestamp with a time zone".into()),
        },
        Kind::Python => {
            return Err(
                "this field's type is not read from Arrow; pass it in a dict of \
                        columns or a list of rows"
                    .into(),
            )
        }
        _ => return Err(format!("expected {}", expected_arrow(kind))),
    };
    Ok(read)
}

fn expected_arrow(kind: &Kind) -> &'static str {
    match kind {
        Kind::Text { .. } | Kind::Enum(_) => "an Arrow string column (dictionary-encoded or not)",
        Kind::Int { .. } => "an Arrow integer column (or floats holding whole numbers)",
        Kind::Float => "an Arrow float or integer column",
        Kind::Bool => "an Arrow boolean column",
        Kind::Bytes => "an Arrow binary column",
        Kind::DateTime(_) => "an Arrow timestamp with a time zone",
        Kind::Python => "a dict of columns",
    }
}

/// One column of one batch, downcast once.
struct Cells<'a> {
    nulls: Option<&'a NullBuffer>,
    values: Values<'a>,
}

enum Values<'a> {
    Null,
    I64(Vec<i64>),
    U64(&'a [u64]),
    F64(Vec<f64>),
    Bool(&'a arrow_array::BooleanArray),
    Text(Strings<'a>),
    /// A dictionary's keys (as positions) into its values.
    Dictionary(Vec<usize>, Strings<'a>, Option<&'a NullBuffer>),
    Bytes(Binaries<'a>),
    /// Milliseconds since the epoch, or None where the instant is out of range.
    Millis(Vec<Option<i64>>),
}

enum Strings<'a> {
    Small(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(array: &'a dyn Array) -> Option<Self> {
        if let Some(a) = array.as_string_opt::<i32>() {
            Some(Strings::Small(a))
        } else if let Some(a) = array.as_string_opt::<i64>() {
            Some(Strings::Large(a))
        } else {
            array.as_string_view_opt().map(Strings::View)
        }
    }

    fn get(&self, row: usize) -> &'a str {
        match self {
            Strings::Small(a) => a.value(row),
            Strings::Large(a) => a.value(row),
            Strings::View(a) => a.value(row),
        }
    }
}

enum Binaries<'a> {
    Small(&'a arrow_array::BinaryArray),
    Large(&'a arrow_array::LargeBinaryArray),
    View(&'a arrow_array::BinaryViewArray),
}

impl<'a> Binaries<'a> {
    fn get(&self, row: usize) -> &'a [u8] {
        match self {
            Binaries::Small(a) => a.value(row),
            Binaries::Large(a) => a.value(row),
            Binaries::View(a) => a.value(row),
        }
    }
}

/// Widen a primitive array's values into one type, once per batch.
fn widened<T, U>(array: &dyn Array) -> Option<Vec<U>>
where
    T: arrow_array::ArrowPrimitiveType,
    T::Native: Into<U>,
{
    array
        .as_primitive_opt::<T>()
        .map(|a| a.values().iter().map(|&v| v.into()).collect())
}

fn ints(array: &dyn Array) -> Option<Values<'_>> {
    widened::<Int64Type, i64>(array)
        .or_else(|| widened::<Int32Type, i64>(array))
        .or_else(|| widened::<Int16Type, i64>(array))
        .or_else(|| widened::<Int8Type, i64>(array))
        .or_else(|| widened::<UInt32Type, i64>(array))
        .or_else(|| widened::<UInt16Type, i64>(array))
        .or_else(|| widened::<UInt8Type, i64>(array))
        .map(Values::I64)
        .or_else(|| {
            array
                .as_primitive_opt::<UInt64Type>()
                .map(|a| Values::U64(a.values()))
        })
}

fn floats(array: &dyn Array) -> Option<Values<'_>> {
    widened::<Float64Type, f64>(array)
        .or_else(|| widened::<Float32Type, f64>(array))
        .map(Values::F64)
}

fn millis(array: &dyn Array, unit: TimeUnit) -> Option<Values<'_>> {
    let raw: &[i64] = match unit {
        TimeUnit::Second => array.as_primitive_opt::<TimestampSecondType>()?.values(),
        TimeUnit::Millisecond => array
            .as_primitive_opt::<TimestampMillisecondType>()?
            .values(),
        TimeUnit::Microsecond => array
            .as_primitive_opt::<TimestampMicrosecondType>()?
            .values(),
        TimeUnit::Nanosecond => array
            .as_primitive_opt::<TimestampNanosecondType>()?
            .values(),
    };
    // Truncated towards the past, as a datetime's microseconds are to milliseconds.
    let to_ms = |v: i64| match unit {
        TimeUnit::Second => v.checked_mul(1000),
        TimeUnit::Millisecond => Some(v),
        TimeUnit::Microsecond => Some(v.div_euclid(1000)),
        TimeUnit::Nanosecond => Some(v.div_euclid(1_000_000)),
    };
    let ms = raw
        .iter()
        .map(|&v| to_ms(v).filter(|ms| (MIN_MS..=MAX_MS).contains(ms)))
        .collect();
    Some(Values::Millis(ms))
}

impl<'a> Cells<'a> {
    fn of(array: &'a ArrayRef, read: Read) -> Option<Cells<'a>> {
        let nulls = array.nulls();
        let values = match read {
            Read::Null => Values::Null,
            Read::Int => ints(array.as_ref())?,
            Read::Float => floats(array.as_ref()).or_else(|| ints(array.as_ref()))?,
            Read::Bool => Values::Bool(array.as_boolean_opt()?),
            Read::Text => match array.as_any_dictionary_opt() {
                Some(dictionary) => Values::Dictionary(
                    dictionary.normalized_keys(),
                    Strings::of(dictionary.values().as_ref())?,
                    dictionary.values().nulls(),
                ),
                None => Values::Text(Strings::of(array.as_ref())?),
            },
            Read::Bytes => Values::Bytes(if let Some(a) = array.as_binary_opt::<i32>() {
                Binaries::Small(a)
            } else if let Some(a) = array.as_binary_opt::<i64>() {
                Binaries::Large(a)
            } else {
                Binaries::View(array.as_binary_view_opt()?)
            }),
            Read::Time(unit) => millis(array.as_ref(), unit)?,
        };
        Some(Cells { nulls, values })
    }
}

/// One value as read from Arrow, before the field's checks.
enum Cell<'a> {
    Null,
    Int(i64),
    BigUint(u64),
    Float(f64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
    Millis(i64),
    /// A timestamp outside the years 1 to 9999.
    OutOfRange,
}

impl<'a> Cells<'a> {
    fn get(&self, row: usize) -> Cell<'a> {
        if self.nulls.is_some_and(|nulls| nulls.is_null(row)) {
            return Cell::Null;
        }
        match &self.values {
            Values::Null => Cell::Null,
            Values::I64(v) => Cell::Int(v[row]),
            Values::U64(v) => Cell::BigUint(v[row]),
            Values::F64(v) => Cell::Float(v[row]),
            Values::Bool(a) => Cell::Bool(a.value(row)),
            Values::Text(s) => Cell::Text(s.get(row)),
            Values::Dictionary(keys, s, value_nulls) => {
                let key = keys[row];
                if value_nulls.is_some_and(|n| n.is_null(key)) {
                    Cell::Null
                } else {
                    Cell::Text(s.get(key))
                }
            }
            Values::Bytes(b) => Cell::Bytes(b.get(row)),
            Values::Millis(v) => v[row].map_or(Cell::OutOfRange, Cell::Millis),
        }
    }
}

impl PyBulkInsert {
    /// `insert_arrow`'s body: see the module's comment.
    pub(super) fn arrow_as<V: Slot>(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        defaults: Option<&Bound<'_, PyDict>>,
        options: Options,
    ) -> PyResult<u64> {
        let (schema, mut batches) = import(data)?;
        let call = self.prepare_call::<V>(py, data, now, defaults, options.skip_duplicates)?;
        let columns = self.arrow_columns(py, &schema, &call)?;
        let mut batch: Option<RecordBatch> = None;
        let mut position = 0;
        let mut index = 0;
        let mut row_buffer = RowBuffer::default();
        self.db.get().timed(py, "bulk_insert", &call.sql, data, || {
            self.write_chunks(py, &call, options, None, |runs, limit| {
                let mut taken = 0;
                while taken < limit {
                    let current = match &batch {
                        Some(current) if position < current.num_rows() => current,
                        _ => match batches.next() {
                            None => break,
                            Some(next) => {
                                let next = next.map_err(|err| at_row(arrow_error(err), index))?;
                                if next.schema().fields() != schema.fields() {
                                    return Err(at_row(
                                        Error::invalid(
                                            "a record batch of the Arrow stream has another \
                                             schema than the stream",
                                        )
                                        .into(),
                                        index,
                                    ));
                                }
                                // The values are read without bounds or UTF-8 checks, so a
                                // producer's buffers are checked once, here.
                                for column in next.columns() {
                                    column
                                        .to_data()
                                        .validate_full()
                                        .map_err(|err| at_row(arrow_error(err), index))?;
                                }
                                position = 0;
                                batch = Some(next);
                                continue;
                            }
                        },
                    };
                    let size = (limit - taken).min(current.num_rows() - position);
                    let slice = current.slice(position, size);
                    let cells: Vec<Option<Cells<'_>>> = columns
                        .iter()
                        .map(|column| match column {
                            Some((at, read)) => Cells::of(slice.column(*at), *read)
                                .map(Some)
                                .ok_or_else(|| {
                                    PyErr::from(Error::invalid(
                                        "an Arrow column's data does not match its type",
                                    ))
                                }),
                            None => Ok(None),
                        })
                        .collect::<PyResult<_>>()?;
                    for row in 0..size {
                        self.convert_arrow_row(py, &call, &cells, row, &mut row_buffer)
                            .map_err(|err| at_row(err, index))?;
                        row_buffer.push_into(runs);
                        index += 1;
                    }
                    position += size;
                    taken += size;
                }
                Ok(taken)
            })
        })
    }

    /// Per model column, the Arrow column it is read from and how; every check the schema
    /// allows, made before anything is written.
    fn arrow_columns<V: Slot>(
        &self,
        py: Python<'_>,
        schema: &SchemaRef,
        call: &Call<V>,
    ) -> PyResult<Vec<Option<(usize, Read)>>> {
        for field in schema.fields() {
            let known = self
                .columns
                .iter()
                .any(|c| c.field.bind(py).to_str().is_ok_and(|n| n == field.name()));
            if !known {
                let name = PyString::new(py, field.name());
                return Err(PyErr::from_value(
                    self.unknown_field.bind(py).call1((name,))?,
                ));
            }
        }
        let mut plan_of = Vec::with_capacity(self.columns.len());
        for (position, column) in self.columns.iter().enumerate() {
            let field = column.field.bind(py);
            let name = field.to_str()?;
            let found = schema.fields().iter().position(|f| f.name() == name);
            let Some(at) = found else {
                if matches!(column.missing, Missing::Required) && call.defaults[position].is_none()
                {
                    return Err(self.invalid(
                        Some(field),
                        format!(
                            "{}.{name}: is required, and the Arrow data has no such column",
                            self.model
                        ),
                        &format!("a column named {name}"),
                    ));
                }
                plan_of.push(None);
                continue;
            };
            let arrow_field: &Field = &schema.fields()[at];
            let kind = &column.kind;
            let read = plan(kind, arrow_field.data_type()).map_err(|why| {
                self.invalid(
                    Some(field),
                    format!(
                        "{}.{name}: the Arrow column is {}: {why}",
                        self.model,
                        arrow_field.data_type()
                    ),
                    expected_arrow(kind),
                )
            })?;
            plan_of.push(Some((at, read)));
        }
        Ok(plan_of)
    }

    fn convert_arrow_row<V: Slot>(
        &self,
        py: Python<'_>,
        call: &Call<V>,
        cells: &[Option<Cells<'_>>],
        row: usize,
        buffer: &mut RowBuffer<V>,
    ) -> PyResult<()> {
        let RowBuffer { present, values } = buffer;
        for (position, (column, source)) in self.columns.iter().zip(cells).enumerate() {
            let value = match source {
                Some(cells) => Some(self.arrow_value(py, column, cells.get(row))?),
                None => self.missing_value(py, position, call)?,
            };
            if let Some(value) = value {
                values.push(value);
                present.push(position);
            }
        }
        Ok(())
    }

    /// One Arrow value, checked and converted as `fast_convert` does; anything it refuses
    /// goes to the field's Python encoder as a Python value, which converts it or raises
    /// the field's error.
    fn arrow_value<V: Slot>(
        &self,
        py: Python<'_>,
        column: &super::Column,
        cell: Cell<'_>,
    ) -> PyResult<V> {
        let kind = &column.kind;
        let fast = match (kind, &cell) {
            (_, Cell::Null) if column.nullable => return Ok(V::null()),
            (Kind::Text { max_chars }, Cell::Text(text)) => match max_chars {
                Some(limit) if text.chars().count() > *limit => None,
                // PostgreSQL's text holds no U+0000: the encoder refuses it by name.
                _ if !V::NUL_IN_TEXT && text.contains('\0') => None,
                _ => Some(V::from_value(Value::Text((*text).to_owned()))),
            },
            (Kind::Enum(names), Cell::Text(name)) => names
                .get(*name)
                .map(|stored| V::from_value(Value::Text(stored.clone()))),
            (Kind::Int { min, max }, Cell::Int(number)) => (*min..=*max)
                .contains(number)
                .then(|| V::from_value(Value::Integer(*number))),
            (Kind::Int { min, max }, Cell::Float(number)) => whole(*number)
                .filter(|n| (*min..=*max).contains(n))
                .map(|n| V::from_value(Value::Integer(n))),
            (Kind::Float, Cell::Float(number)) => {
                (!number.is_nan()).then(|| V::from_value(Value::Real(*number)))
            }
            #[allow(clippy::cast_precision_loss)] // Python's float(int) rounds the same way
            (Kind::Float, Cell::Int(number)) => Some(V::from_value(Value::Real(*number as f64))),
            (Kind::Bool, Cell::Bool(flag)) => Some(V::from_bool(*flag)),
            (Kind::Bytes, Cell::Bytes(bytes)) => Some(V::from_value(Value::Blob(bytes.to_vec()))),
            (Kind::DateTime(format), Cell::Millis(ms)) => {
                Some(V::from_datetime(*format, &UtcTime::from_unix_ms(*ms)))
            }
            (Kind::DateTime(_), Cell::OutOfRange) => {
                let field = column.field.bind(py);
                return Err(self.invalid(
                    Some(field),
                    format!(
                        "{}.{field}: the timestamp is outside the years 1 to 9999 that a \
                         DateTime holds",
                        self.model
                    ),
                    "a timestamp between the years 1 and 9999",
                ));
            }
            _ => None,
        };
        if let Some(value) = fast {
            return Ok(value);
        }
        let value: Bound<'_, PyAny> = match cell {
            Cell::Null | Cell::OutOfRange => py.None().into_bound(py),
            Cell::Int(n) => n.into_pyobject(py)?.into_any(),
            Cell::BigUint(n) => n.into_pyobject(py)?.into_any(),
            Cell::Float(n) => PyFloat::new(py, n).into_any(),
            Cell::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
            Cell::Text(s) => PyString::new(py, s).into_any(),
            Cell::Bytes(b) => PyBytes::new(py, b).into_any(),
            Cell::Millis(ms) => ms.into_pyobject(py)?.into_any(),
        };
        let encoded = column.encode.bind(py).call1((value,))?;
        V::from_python(&encoded)
    }
}

/// `number` as an int if it is a whole number an i64 holds.
#[allow(clippy::cast_possible_truncation)]
fn whole(number: f64) -> Option<i64> {
    // -2^63 and 2^63 are exact as f64; 2^63 itself no longer fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (number.fract() == 0.0 && (-LIMIT..LIMIT).contains(&number)).then_some(number as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Format;

    #[test]
    fn the_schema_decides_how_a_column_is_read() {
        let text = Kind::Text { max_chars: None };
        let int = Kind::Int { min: 0, max: 10 };
        let utf8_dictionary =
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8));
        assert!(matches!(plan(&text, &utf8_dictionary), Ok(Read::Text)));
        assert!(matches!(plan(&text, &DataType::Utf8View), Ok(Read::Text)));
        assert!(matches!(plan(&int, &DataType::UInt64), Ok(Read::Int)));
        assert!(matches!(plan(&int, &DataType::Float64), Ok(Read::Float)));
        assert!(matches!(
            plan(&Kind::Float, &DataType::Int16),
            Ok(Read::Int)
        ));
        assert!(matches!(plan(&int, &DataType::Null), Ok(Read::Null)));
        assert!(plan(&int, &DataType::Utf8).is_err());
        let int_dictionary =
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Int64));
        assert!(plan(&int, &int_dictionary).is_err());
        let time = Kind::DateTime(Format::parse("iso8601").unwrap());
        let zoned = DataType::Timestamp(TimeUnit::Nanosecond, Some("Europe/Paris".into()));
        assert!(matches!(
            plan(&time, &zoned),
            Ok(Read::Time(TimeUnit::Nanosecond))
        ));
        let naive = DataType::Timestamp(TimeUnit::Second, None);
        assert!(plan(&time, &naive)
            .unwrap_err()
            .contains("refused rather than guessed"));
        assert!(plan(&Kind::Python, &DataType::Utf8).is_err());
    }

    #[test]
    fn timestamps_truncate_towards_the_past_and_stay_in_range() {
        let array = arrow_array::TimestampMicrosecondArray::from(vec![-1, 1_999, i64::MAX]);
        let Some(Values::Millis(ms)) = millis(&array, TimeUnit::Microsecond) else {
            panic!("microseconds are read");
        };
        // -1 µs is in the millisecond before the epoch; i64::MAX µs is past the year 9999.
        assert_eq!(ms, vec![Some(-1), Some(1), None]);
        let seconds = arrow_array::TimestampSecondArray::from(vec![i64::MAX]);
        let Some(Values::Millis(ms)) = millis(&seconds, TimeUnit::Second) else {
            panic!("seconds are read");
        };
        assert_eq!(ms, vec![None]);
    }

    #[test]
    fn whole_floats_become_ints_and_others_do_not() {
        assert_eq!(whole(3.0), Some(3));
        assert_eq!(whole(-0.0), Some(0));
        assert_eq!(whole(2.5), None);
        assert_eq!(whole(f64::NAN), None);
        assert_eq!(whole(9_223_372_036_854_775_808.0), None);
        assert_eq!(whole(-9_223_372_036_854_775_808.0), Some(i64::MIN));
    }
}
