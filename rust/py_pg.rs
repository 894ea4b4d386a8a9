//! Python values to and from PostgreSQL's: the binding half of `engine::postgres`.
//!
//! Parameters become [`Param`]s while the GIL is held (a datetime's ISO text, a dict's
//! JSON); results come back from [`Cell`]s as the Python types a reader expects: `Decimal`
//! for `numeric`, aware UTC datetimes for `timestamptz`, naive ones for `timestamp`
//! (Prisma stores UTC there), parsed JSON for `json`/`jsonb`, lists for arrays.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDate, PyDateTime, PyDelta, PyDict, PyFloat, PyInt, PyList,
    PyMemoryView, PyString, PyTime, PyTuple,
};

use crate::engine::postgres::{Cell, Param};
use crate::error::{Error, Result};

/// The Python objects the conversions need, looked up once.
struct Helpers {
    decimal: Py<PyAny>,
    uuid: Py<PyAny>,
    json_dumps: Py<PyAny>,
    json_loads: Py<PyAny>,
    utc: Py<PyAny>,
    /// 2000-01-01, PostgreSQL's epoch: naive, aware (UTC), and as a date.
    epoch_naive: Py<PyAny>,
    epoch_utc: Py<PyAny>,
    epoch_date: Py<PyAny>,
}

static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();

fn helpers(py: Python<'_>) -> PyResult<&Helpers> {
    HELPERS.get_or_try_init(py, || {
        let datetime = py.import("datetime")?;
        let json = py.import("json")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let datetime_class = datetime.getattr("datetime")?;
        Ok(Helpers {
            decimal: py.import("decimal")?.getattr("Decimal")?.unbind(),
            uuid: py.import("uuid")?.getattr("UUID")?.unbind(),
            json_dumps: json.getattr("dumps")?.unbind(),
            json_loads: json.getattr("loads")?.unbind(),
            epoch_naive: datetime_class.call1((2000, 1, 1))?.unbind(),
            epoch_utc: datetime_class
                .call((2000, 1, 1), Some(&[("tzinfo", &utc)].into_py_dict(py)?))?
                .unbind(),
            epoch_date: datetime.getattr("date")?.call1((2000, 1, 1))?.unbind(),
            utc: utc.unbind(),
        })
    })
}

use pyo3::types::IntoPyDict;

/// Convert positional parameters.
pub(crate) fn to_params(params: &Bound<'_, PyTuple>) -> PyResult<Vec<Param>> {
    params
        .iter()
        .enumerate()
        .map(|(index, value)| to_param(&value, index + 1))
        .collect()
}

pub(crate) fn row_to_params(row: &Bound<'_, PyAny>) -> PyResult<Vec<Param>> {
    if let Ok(tuple) = row.cast::<PyTuple>() {
        return to_params(tuple);
    }
    if row.is_instance_of::<PyString>() || row.is_instance_of::<PyBytes>() {
        return Err(Error::ParameterType {
            position: 0,
            type_name: format!("{} as a parameter row", type_name(row)),
        }
        .into());
    }
    let mut values = Vec::new();
    for (index, value) in row.try_iter()?.enumerate() {
        values.push(to_param(&value?, index + 1)?);
    }
    Ok(values)
}

/// One Python value as a PostgreSQL parameter.
pub(crate) fn to_param(value: &Bound<'_, PyAny>, position: usize) -> PyResult<Param> {
    let py = value.py();
    if value.is_none() {
        return Ok(Param::Null);
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Param::Text(utf8(text, position)?));
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(Param::Bool(value.is_truthy()?));
    }
    if value.is_instance_of::<PyInt>() {
        // Beyond 64 bits, the digits go as text (a numeric column takes them).
        return Ok(value
            .extract::<i64>()
            .map_or_else(|_| Param::Text(value.to_string()), Param::Int));
    }
    if let Ok(number) = value.cast::<PyFloat>() {
        return Ok(Param::Float(number.value()));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Param::Bytes(bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(Param::Bytes(bytes.to_vec()));
    }
    if value.is_instance_of::<PyMemoryView>() {
        return Ok(Param::Bytes(value.call_method0("tobytes")?.extract()?));
    }
    // datetime is a subclass of date, so it is tested first.
    if value.is_instance_of::<PyDateTime>() {
        let helpers = helpers(py)?;
        let aware = !value.call_method0("utcoffset")?.is_none();
        let utc = if aware {
            let in_utc = value.call_method1("astimezone", (helpers.utc.bind(py),))?;
            let naive = in_utc.call_method(
                "replace",
                (),
                Some(&[("tzinfo", py.None())].into_py_dict(py)?),
            )?;
            Some(naive.call_method0("isoformat")?.extract()?)
        } else {
            None
        };
        return Ok(Param::DateTime {
            text: value.call_method0("isoformat")?.extract()?,
            utc,
        });
    }
    if value.is_instance_of::<PyDate>() || value.is_instance_of::<PyTime>() {
        return Ok(Param::Text(value.call_method0("isoformat")?.extract()?));
    }
    let helpers = helpers(py)?;
    if value.is_instance(helpers.decimal.bind(py))? || value.is_instance(helpers.uuid.bind(py))? {
        return Ok(Param::Text(value.str()?.extract()?));
    }
    if value.is_instance_of::<PyDict>() {
        return json_text(helpers, value)?.map(Param::Json).ok_or_else(|| {
            Error::ParameterType {
                position,
                type_name: "dict that json.dumps cannot serialise".into(),
            }
            .into()
        });
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items = value
            .try_iter()?
            .map(|item| to_param(&item?, position))
            .collect::<PyResult<Vec<_>>>()
            .ok();
        let json = json_text(helpers, value)?;
        if json.is_none() && items.is_none() {
            return Err(Error::ParameterType {
                position,
                type_name: format!(
                    "{} of values neither JSON nor PostgreSQL can hold",
                    type_name(value)
                ),
            }
            .into());
        }
        return Ok(Param::List { json, items });
    }
    Err(Error::ParameterType {
        position,
        type_name: type_name(value),
    }
    .into())
}

/// `json.dumps(value)`, or None when it has no JSON form.
fn json_text(helpers: &Helpers, value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let py = value.py();
    match helpers.json_dumps.bind(py).call1((value,)) {
        Ok(text) => Ok(Some(text.extract()?)),
        Err(err)
            if err.is_instance_of::<pyo3::exceptions::PyTypeError>(py)
                || err.is_instance_of::<pyo3::exceptions::PyValueError>(py) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

fn utf8(text: &Bound<'_, PyString>, position: usize) -> Result<String> {
    text.to_str().map(str::to_owned).map_err(|err| {
        let at = err
            .value(text.py())
            .getattr("start")
            .and_then(|start| start.extract::<usize>())
            .ok();
        Error::LoneSurrogate { position, at }
    })
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

/// One result value as a Python object.
pub(crate) fn cell_to_python<'py>(py: Python<'py>, cell: Cell) -> PyResult<Bound<'py, PyAny>> {
    const MICROS_PER_DAY: i64 = 86_400_000_000;
    let after = |epoch: &Py<PyAny>, micros: i64| -> PyResult<Bound<'py, PyAny>> {
        let days = i32::try_from(micros.div_euclid(MICROS_PER_DAY))?;
        let rest = micros.rem_euclid(MICROS_PER_DAY);
        let delta = PyDelta::new(
            py,
            days,
            i32::try_from(rest / 1_000_000)?,
            i32::try_from(rest % 1_000_000)?,
            true,
        )?;
        epoch.bind(py).add(delta)
    };
    Ok(match cell {
        Cell::Null => py.None().into_bound(py),
        Cell::Bool(value) => PyBool::new(py, value).to_owned().into_any(),
        Cell::Int(value) => value.into_pyobject(py)?.into_any(),
        Cell::Float(value) => PyFloat::new(py, value).into_any(),
        Cell::Numeric(text) => helpers(py)?.decimal.bind(py).call1((text,))?,
        Cell::Text(text) => PyString::new(py, &text).into_any(),
        Cell::Bytes(bytes) => PyBytes::new(py, &bytes).into_any(),
        Cell::Json(text) => helpers(py)?.json_loads.bind(py).call1((text,))?,
        Cell::Timestamp(micros) => after(&helpers(py)?.epoch_naive, micros)?,
        Cell::TimestampTz(micros) => after(&helpers(py)?.epoch_utc, micros)?,
        Cell::Date(days) => {
            let delta = PyDelta::new(py, days, 0, 0, false)?;
            helpers(py)?.epoch_date.bind(py).add(delta)?
        }
        Cell::Time(micros) => {
            let seconds = micros / 1_000_000;
            PyTime::new(
                py,
                u8::try_from(seconds / 3600)?,
                u8::try_from(seconds / 60 % 60)?,
                u8::try_from(seconds % 60)?,
                u32::try_from(micros % 1_000_000)?,
                None,
            )?
            .into_any()
        }
        Cell::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(cell_to_python(py, item)?)?;
            }
            list.into_any()
        }
    })
}
