//! The Python face of the rate limiter: `strata._core.RateLimiter` and `Decision`.
//!
//! `strata.ratelimit.bind` validates a model against the schema and builds the spec (with
//! the dialect's statements) this class runs; users reach it as `db.rate_limiter_(...)`. `hit` is the hot path:
//! arguments are converted with the GIL held, a cached denial is answered right there (no
//! `SQLite`, no GIL release: it costs less than releasing the GIL would), and everything else
//! runs in one `Engine::write` with the GIL released.

use std::time::Instant;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDateTime, PyDict, PyFloat, PyInt, PyString, PyTuple, PyTzInfo};

use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::py_engine::PyEngine;
use crate::ratelimit::{
    seconds_to_ms, Algorithm, Decision, KeyPart, LimitSource, Limiter, Limits, Shape, Spec,
    Statements,
};
use crate::time::{Format, UtcTime};

/// How a key field's Python values become key parts.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    /// A `String` field: str as it is, int as its decimal text.
    Text,
    /// An `Int` field: an int within 32 bits.
    Int32,
    /// A `BigInt` field.
    Int64,
}

#[pyclass(name = "RateLimiter", module = "strata._core", subclass, frozen)]
pub struct PyRateLimiter {
    backend: Backend,
    limiter: Limiter,
    key_kinds: Vec<KeyKind>,
    /// Makes the id of a new row when the client generates the model's ids (the model's own
    /// `@default` generator, so ids look like every other row's). None when the database
    /// assigns ids.
    id_factory: Option<Py<PyAny>>,
    /// Ids made and not used yet: most hits update an existing row, and hand theirs back.
    /// Locked with the GIL held, for one push or pop only: the factory is called with the
    /// lock released, so no holder ever waits for the GIL.
    spare_ids: Mutex<Vec<String>>,
}

#[pymethods]
impl PyRateLimiter {
    /// Bind `spec` (see `strata.ratelimit.bind`, which builds it from the schema and the
    /// dialect) to the database `engine`.
    #[new]
    #[pyo3(signature = (engine, spec, id_factory = None))]
    fn new(
        engine: &Bound<'_, PyEngine>,
        spec: &Bound<'_, PyDict>,
        id_factory: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let item = |name: &str| -> PyResult<Bound<'_, PyAny>> {
            spec.get_item(name)?.ok_or_else(|| {
                pyo3::exceptions::PyKeyError::new_err(format!("the spec has no {name:?}"))
            })
        };
        let key_kinds = item("key_types")?
            .extract::<Vec<String>>()?
            .iter()
            .map(|kind| match kind.as_str() {
                "text" => Ok(KeyKind::Text),
                "int32" => Ok(KeyKind::Int32),
                "int64" => Ok(KeyKind::Int64),
                other => Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown key type {other:?}"
                ))),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let shape = match item("shape")?.extract::<String>()?.as_str() {
            "window" => Shape::Window,
            "gcra" => Shape::Gcra,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown shape {other:?}: window or gcra"
                )))
            }
        };
        let statements = item("statements")?;
        let statements = statements.cast::<PyDict>()?;
        let statement = |name: &str| -> PyResult<Option<String>> {
            match statements.get_item(name)? {
                Some(value) if !value.is_none() => Ok(Some(value.extract()?)),
                _ => Ok(None),
            }
        };
        let required = |name: &str| -> PyResult<String> {
            statement(name)?.ok_or_else(|| {
                pyo3::exceptions::PyKeyError::new_err(format!("the statements lack {name:?}"))
            })
        };
        let spec = Spec {
            keys: key_kinds.len(),
            shape,
            client_ids: item("client_ids")?.extract()?,
            stamps: item("stamps")?
                .extract::<Vec<String>>()?
                .iter()
                .map(|form| Format::parse(form))
                .collect::<Result<_>>()?,
            datetime_format: Format::parse(&item("datetime_format")?.extract::<String>()?)?,
            statements: Statements {
                state: required("state")?,
                upsert: required("upsert")?,
                delete_key: required("delete_key")?,
                cleanup: required("cleanup")?,
                rule: statement("rule")?,
                hit: statement("hit")?,
                hit_sliding: statement("hit_sliding")?,
            },
        };
        if spec.client_ids && id_factory.is_none() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a client-generated id column needs an id_factory",
            ));
        }
        Ok(PyRateLimiter {
            backend: engine.get().backend().clone(),
            limiter: Limiter::new(spec)?,
            key_kinds,
            id_factory,
            spare_ids: Mutex::new(Vec::new()),
        })
    }

    /// Count one hit of `cost` against the key's limit, and say whether it is allowed. A
    /// denied hit is not counted. The limit is `limit` per `window` seconds, or the
    /// `SystemConfig` row named by `rule`.
    #[pyo3(signature = (*key, limit = None, window = None, cost = None, algorithm = None, rule = None))]
    // The Python signature is the contract; PyO3 maps each keyword to an argument.
    #[allow(clippy::too_many_arguments)]
    fn hit(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyTuple>,
        limit: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        cost: Option<&Bound<'_, PyAny>>,
        algorithm: Option<&str>,
        rule: Option<String>,
    ) -> PyResult<PyDecision> {
        let (key, algorithm, source) = self.request(key, limit, window, cost, algorithm, rule)?;
        // Checked here, with the GIL held: a cached denial is a hash lookup, cheaper than
        // giving up and taking back the GIL. It takes the limiter's `rules` and `denials`
        // locks, which no holder keeps across a statement or a GIL acquisition (see
        // `Limiter`), so waiting on them here cannot wait on a thread that needs the GIL.
        if let Some(decision) = self.limiter.cached_denial(&key, algorithm, &source) {
            return Ok(PyDecision(decision));
        }
        let id = self.take_id(py)?;
        let outcome = py.detach(|| self.hit_on(&key, algorithm, &source, id.as_deref()));
        self.give_back(id, outcome.as_ref().is_ok_and(|hit| hit.used_id));
        Ok(PyDecision(outcome?.decision))
    }

    /// The denial `hit` would answer from the denial cache now, or None when the hit has to
    /// go to the database. Counts nothing and never touches `SQLite`: it is a hash lookup
    /// under locks that no database call holds. So an event loop can ask on its own thread
    /// and send only the other hits to a worker thread (see `strata.web`).
    #[pyo3(signature = (*key, limit = None, window = None, cost = None, algorithm = None, rule = None))]
    #[allow(clippy::too_many_arguments)]
    fn cached_denial(
        &self,
        key: &Bound<'_, PyTuple>,
        limit: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        cost: Option<&Bound<'_, PyAny>>,
        algorithm: Option<&str>,
        rule: Option<String>,
    ) -> PyResult<Option<PyDecision>> {
        let (key, algorithm, source) = self.request(key, limit, window, cost, algorithm, rule)?;
        Ok(self
            .limiter
            .cached_denial(&key, algorithm, &source)
            .map(PyDecision))
    }

    /// What `hit` would answer now, without counting anything.
    #[pyo3(signature = (*key, limit = None, window = None, cost = None, algorithm = None, rule = None))]
    #[allow(clippy::too_many_arguments)]
    fn peek(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyTuple>,
        limit: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        cost: Option<&Bound<'_, PyAny>>,
        algorithm: Option<&str>,
        rule: Option<String>,
    ) -> PyResult<PyDecision> {
        let (key, algorithm, source) = self.request(key, limit, window, cost, algorithm, rule)?;
        let decision = py.detach(|| match &self.backend {
            Backend::Sqlite(engine) => self.limiter.peek(engine, &key, algorithm, &source),
            Backend::Postgres(engine) => self.limiter.peek_pg(engine, &key, algorithm, &source),
        })?;
        Ok(PyDecision(decision))
    }

    /// Delete every window of the key and forget its cached denials. Returns the number of
    /// rows deleted.
    #[pyo3(signature = (*key))]
    fn reset(&self, py: Python<'_>, key: &Bound<'_, PyTuple>) -> PyResult<u64> {
        let key = self.key(key)?;
        Ok(py.detach(|| match &self.backend {
            Backend::Sqlite(engine) => self.limiter.reset(engine, &key),
            Backend::Postgres(engine) => self.limiter.reset_pg(engine, &key),
        })?)
    }

    /// Delete rows whose window started (gcra: whose bucket was full) more than
    /// `older_than` seconds ago, `batch` rows per transaction. Returns how many.
    #[pyo3(signature = (*, older_than, batch = 1000))]
    fn cleanup(&self, py: Python<'_>, older_than: f64, batch: i64) -> PyResult<u64> {
        let older_than_ns = seconds_to_ms(older_than)
            .and_then(|ms| ms.checked_mul(1_000_000))
            .ok_or_else(|| Error::invalid("older_than must be a finite number"))?;
        Ok(py.detach(|| match &self.backend {
            Backend::Sqlite(engine) => self.limiter.cleanup(engine, older_than_ns, batch),
            Backend::Postgres(engine) => self.limiter.cleanup_pg(engine, older_than_ns, batch),
        })?)
    }

    /// Fix the limiter's clock at `ns` nanoseconds since the Unix epoch (for tests), or go
    /// back to the system clock with None.
    fn set_clock(&self, ns: Option<i64>) {
        self.limiter.clock.set_fixed(ns);
    }

    /// The fixed clock's value in nanoseconds, or None on the system clock.
    #[getter]
    fn clock(&self) -> Option<i64> {
        self.limiter.clock.fixed()
    }

    /// The conditional upsert each allowed hit runs.
    #[getter]
    fn upsert_sql(&self) -> &str {
        self.limiter.upsert_sql()
    }

    /// The native ceiling, for the benchmarks: `n` hits on one key in a plain Rust loop,
    /// through the same code and statement as `hit` but without Python in between. Returns
    /// the elapsed seconds.
    #[pyo3(signature = (*key, n, limit, window, algorithm = None))]
    fn _native_loop(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyTuple>,
        n: u64,
        limit: &Bound<'_, PyAny>,
        window: &Bound<'_, PyAny>,
        algorithm: Option<&str>,
    ) -> PyResult<f64> {
        let (key, algorithm, source) =
            self.request(key, Some(limit), Some(window), None, algorithm, None)?;
        let mut id = self.take_id(py)?;
        let started = Instant::now();
        let outcome = py.detach(|| -> PyResult<()> {
            for _ in 0..n {
                let hit = self.hit_on(&key, algorithm, &source, id.as_deref())?;
                if hit.used_id {
                    // A new row took the id: like `hit`, make the next one in Python.
                    id = Python::attach(|py| self.take_id(py))?;
                }
            }
            Ok(())
        });
        let elapsed = started.elapsed().as_secs_f64();
        self.give_back(id, false);
        outcome.map(|()| elapsed)
    }
}

impl PyRateLimiter {
    /// One hit on whichever database the handle is on (GIL released by the caller).
    fn hit_on(
        &self,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
        id: Option<&str>,
    ) -> Result<crate::ratelimit::Hit> {
        match &self.backend {
            Backend::Sqlite(engine) => self.limiter.hit(engine, key, algorithm, source, id),
            Backend::Postgres(engine) => self.limiter.hit_pg(engine, key, algorithm, source, id),
        }
    }

    /// Convert and check a hit's arguments. Everything is refused here, before any SQL.
    fn request(
        &self,
        key: &Bound<'_, PyTuple>,
        limit: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        cost: Option<&Bound<'_, PyAny>>,
        algorithm: Option<&str>,
        rule: Option<String>,
    ) -> PyResult<(Vec<KeyPart>, Algorithm, LimitSource)> {
        let key = self.key(key)?;
        let algorithm = match algorithm {
            Some(name) => Algorithm::parse(name)?,
            None if self.limiter.is_window_shape() => Algorithm::Fixed,
            None => Algorithm::Gcra,
        };
        self.limiter.check_algorithm(algorithm)?;
        let cost = cost.map_or(Ok(1), |cost| whole_number(cost, "cost"))?;
        let source = match (rule, limit, window) {
            (Some(rule), None, None) => {
                if cost <= 0 {
                    return Err(Error::invalid(format!("cost must be positive, got {cost}")).into());
                }
                LimitSource::Rule(rule, cost)
            }
            (Some(_), _, _) => {
                return Err(
                    Error::invalid("give either rule= or limit= and window=, not both").into(),
                )
            }
            (None, Some(limit), Some(window)) => {
                let limit = whole_number(limit, "limit")?;
                let window_ms = window_ms(window)?;
                let limits = Limits::new(limit, window_ms, cost)?;
                // Window ends and arrival times are nanoseconds in 64 bits: past
                // 2262-04-11 they would wrap round to 1677 rather than fail.
                if self
                    .limiter
                    .clock
                    .now_ns()
                    .checked_add(limits.window_ns)
                    .is_none()
                {
                    return Err(Error::invalid(format!(
                        "a window of {} s from now would end after 2262-04-11T23:47:16Z, the \
                         last time the limiter's nanosecond clock can hold",
                        window_ms / 1000
                    ))
                    .into());
                }
                LimitSource::Given(limits)
            }
            (None, _, _) => {
                return Err(
                    Error::invalid("a hit needs limit= and window= (seconds), or rule=").into(),
                )
            }
        };
        Ok((key, algorithm, source))
    }

    fn key(&self, values: &Bound<'_, PyTuple>) -> Result<Vec<KeyPart>> {
        if values.len() != self.key_kinds.len() {
            return Err(Error::invalid(format!(
                "this limiter is keyed by {} field(s); got {} key value(s)",
                self.key_kinds.len(),
                values.len()
            )));
        }
        values
            .iter()
            .zip(&self.key_kinds)
            .enumerate()
            .map(|(index, (value, kind))| key_part(&value, *kind, index))
            .collect()
    }

    fn take_id(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let Some(factory) = &self.id_factory else {
            return Ok(None);
        };
        if let Some(id) = self.spare_ids.lock().pop() {
            return Ok(Some(id));
        }
        Ok(Some(factory.call0(py)?.extract(py)?))
    }

    fn give_back(&self, id: Option<String>, used: bool) {
        if let (Some(id), false) = (id, used) {
            self.spare_ids.lock().push(id);
        }
    }
}

fn key_part(value: &Bound<'_, PyAny>, kind: KeyKind, index: usize) -> Result<KeyPart> {
    let refuse = |expected: &str| {
        let type_name = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |name| name.to_string());
        Error::invalid(format!(
            "key value {} must be {expected}, got {type_name}",
            index + 1
        ))
    };
    if let Ok(text) = value.cast::<PyString>() {
        return match kind {
            // Exact text, NUL and all; a lone surrogate has no UTF-8 form and is refused.
            KeyKind::Text => Ok(KeyPart::Text(
                text.to_str()
                    .map_err(|_| refuse("valid Unicode text"))?
                    .to_owned(),
            )),
            KeyKind::Int32 | KeyKind::Int64 => Err(refuse("an int")),
        };
    }
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        let number: i64 = value
            .extract()
            .map_err(|_| refuse("an int within 64 bits"))?;
        return match kind {
            KeyKind::Text => Ok(KeyPart::Text(number.to_string())),
            KeyKind::Int32 if i32::try_from(number).is_err() => {
                Err(refuse("an int within 32 bits"))
            }
            KeyKind::Int32 | KeyKind::Int64 => Ok(KeyPart::Int(number)),
        };
    }
    Err(refuse(match kind {
        KeyKind::Text => "a str or an int",
        KeyKind::Int32 | KeyKind::Int64 => "an int",
    }))
}

/// An int argument (not a bool, not a float), as `ValidationError` rather than `TypeError`:
/// bad limits are a validation failure in the limiter's contract.
fn whole_number(value: &Bound<'_, PyAny>, name: &str) -> Result<i64> {
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        if let Ok(number) = value.extract::<i64>() {
            return Ok(number);
        }
    }
    Err(Error::invalid(format!(
        "{name} must be an int, got {}",
        value
            .repr()
            .map_or_else(|_| "?".to_owned(), |r| r.to_string())
    )))
}

/// A window in seconds (int or float) as whole milliseconds.
fn window_ms(value: &Bound<'_, PyAny>) -> Result<i64> {
    let seconds = if value.is_instance_of::<PyBool>() {
        None
    } else if value.is_instance_of::<PyInt>() {
        value
            .extract::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .or(Some(i64::MAX))
    } else if let Ok(number) = value.cast::<PyFloat>() {
        seconds_to_ms(number.value())
    } else {
        None
    };
    seconds.ok_or_else(|| {
        Error::invalid(format!(
            "window must be a number of seconds, got {}",
            value
                .repr()
                .map_or_else(|_| "?".to_owned(), |r| r.to_string())
        ))
    })
}

/// What `RateLimiter.hit` and `peek` return.
#[pyclass(name = "Decision", module = "strata._core", frozen)]
pub struct PyDecision(Decision);

#[pymethods]
impl PyDecision {
    #[getter]
    fn allowed(&self) -> bool {
        self.0.allowed
    }

    /// Units counted against the limit: the window's count (fixed, sliding), or the units
    /// not yet refilled (gcra).
    #[getter]
    fn count(&self) -> i64 {
        self.0.count
    }

    /// How many more hits of cost 1 would be allowed now.
    #[getter]
    fn remaining(&self) -> i64 {
        self.0.remaining
    }

    #[getter]
    fn limit(&self) -> i64 {
        self.0.limit
    }

    /// When the window ends (allowed) or when this hit would be allowed (denied), as an
    /// aware UTC datetime.
    #[getter]
    fn reset_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        let ns = self.0.reset_at_ns;
        let t = UtcTime::from_unix_ms(ns.div_euclid(1_000_000));
        let micros = u32::try_from(ns.rem_euclid(1_000_000_000) / 1000).unwrap_or(0);
        let utc = PyTzInfo::utc(py)?.to_owned();
        PyDateTime::new(
            py,
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            micros,
            Some(&utc),
        )
    }

    /// `reset_at` as integer nanoseconds since the Unix epoch.
    #[getter]
    fn reset_at_ns(&self) -> i64 {
        self.0.reset_at_ns
    }

    /// Seconds until this hit would be allowed; 0.0 when it was.
    #[getter]
    fn retry_after(&self) -> f64 {
        // Nanoseconds as seconds: exact below 2**53 ns (104 days).
        #[allow(clippy::cast_precision_loss)]
        let seconds = self.0.retry_after_ns as f64 / 1e9;
        seconds
    }

    fn __bool__(&self) -> bool {
        self.0.allowed
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDecision>()
            .is_ok_and(|other| other.get().0 == self.0)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (
            self.0.allowed,
            self.0.count,
            self.0.remaining,
            self.0.limit,
            self.0.reset_at_ns,
        )
            .hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        let Decision {
            allowed,
            count,
            remaining,
            limit,
            ..
        } = self.0;
        format!(
            "Decision(allowed={}, count={count}, remaining={remaining}, limit={limit}, \
             retry_after={:.3})",
            if allowed { "True" } else { "False" },
            self.retry_after()
        )
    }
}
