//! The Python face of the engine: `strata._core.Engine`.
//!
//! Every method follows one pattern: convert Python arguments to the backend's values
//! (`SQLite`'s five storage classes here, PostgreSQL's in `py_pg`) while holding the GIL,
//! run the engine with the GIL released (`py.detach`), then convert the result back. The engine never blocks on its own locks while the GIL is held, which is
//! what makes it safe for one thread to wait on the writer while another runs Python.
//!
//! `strata.Database` subclasses this class, so raw SQL calls reach Rust without a Python
//! frame in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use rusqlite::types::Value;

use crate::busy;
use crate::engine::waits;
use crate::engine::{current_thread_token, Backend, Engine, Isolation, Rows, TxOptions};
use crate::error::{Error, Result};
use crate::py_pg;

/// Rows converted per GIL acquisition in `execute_many`: large enough that re-acquiring
/// the GIL is noise, small enough to bound the memory held by converted values.
const EXECUTE_MANY_CHUNK: usize = 4096;

#[pyclass(name = "Engine", module = "strata._core", subclass, frozen)]
pub struct PyEngine {
    backend: Backend,
    // `tracer` and `listener` are read and written only with the GIL held, so their locks
    // must never be held while Python code can run: a thread that blocked on one, GIL in
    // hand, would wait for a holder that needs the GIL to go on. Each lock is held for a
    // `clone_ref` or a swap only; a callback is called after the guard is gone, and a
    // replaced one is dropped after it too (dropping it can run its `__del__`).
    /// Called as `tracer(sql, params)` before each statement, when set (`set_tracer`).
    tracer: RwLock<Option<Py<PyAny>>>,
    /// Called after each statement with its duration, when set (`set_query_listener`).
    listener: RwLock<Option<Py<PyAny>>>,
    /// The logging hook and the slow-statement threshold in seconds (`set_log_hook_`).
    log_hook: RwLock<Option<(Option<f64>, Py<PyAny>)>>,
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (path, *, busy_timeout = 5.0, readers = None))]
    fn new(
        py: Python<'_>,
        path: String,
        busy_timeout: f64,
        readers: Option<usize>,
    ) -> PyResult<Self> {
        if !busy_timeout.is_finite() || busy_timeout < 0.0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "busy_timeout must be a non-negative number of seconds",
            ));
        }
        let timeout = Duration::from_secs_f64(busy_timeout);
        let backend = py.detach(|| Backend::open(&path, timeout, readers))?;
        Ok(PyEngine {
            backend,
            tracer: RwLock::new(None),
            listener: RwLock::new(None),
            log_hook: RwLock::new(None),
        })
    }

    /// The database file's path, ":memory:", or the PostgreSQL URL without its password.
    #[getter(path_)]
    fn path(&self) -> &str {
        self.backend.path()
    }

    #[getter(closed_)]
    fn closed(&self) -> bool {
        self.backend.is_closed()
    }

    /// Whether the calling thread has a transaction open.
    #[getter(in_transaction_)]
    fn in_transaction(&self) -> bool {
        self.backend.in_transaction()
    }

    /// Run one statement and return the number of rows it changed.
    #[pyo3(name = "execute_raw_")]
    #[pyo3(signature = (sql, *params))]
    fn execute_raw(&self, py: Python<'_>, sql: &str, params: &Bound<'_, PyTuple>) -> PyResult<u64> {
        self.trace(py, sql, params.as_any())?;
        match &self.backend {
            Backend::Sqlite(engine) => {
                let values = to_values(params)?;
                self.timed(py, "execute_raw", sql, params.as_any(), || {
                    Ok(py.detach(|| engine.execute(sql, &values))?)
                })
            }
            Backend::Postgres(engine) => {
                let values = py_pg::to_params(params)?;
                self.timed(py, "execute_raw", sql, params.as_any(), || {
                    Ok(py.detach(|| engine.execute(sql, &values))?)
                })
            }
        }
    }

    /// Run a query and return its rows as dicts (column name to value), or as tuples.
    #[pyo3(name = "query_raw_")]
    #[pyo3(signature = (sql, *params, as_tuples = false))]
    fn query_raw<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: &Bound<'py, PyTuple>,
        as_tuples: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        self.trace(py, sql, params.as_any())?;
        match &self.backend {
            Backend::Sqlite(engine) => {
                let values = to_values(params)?;
                let rows = self.timed(py, "query_raw", sql, params.as_any(), || {
                    Ok(py.detach(|| engine.query(sql, &values))?)
                })?;
                rows_to_python(py, rows, as_tuples)
            }
            Backend::Postgres(engine) => {
                let values = py_pg::to_params(params)?;
                let rows = self.timed(py, "query_raw", sql, params.as_any(), || {
                    Ok(py.detach(|| engine.query(sql, &values))?)
                })?;
                result_to_python(
                    py,
                    &rows.columns,
                    rows.rows,
                    as_tuples,
                    py_pg::cell_to_python,
                )
            }
        }
    }

    /// Run one statement for each parameter sequence in `rows`, atomically: inside the
    /// caller's transaction if one is open, else in a transaction of its own. Returns the
    /// total number of rows changed.
    #[pyo3(name = "execute_many_raw_")]
    fn execute_many_raw(
        &self,
        py: Python<'_>,
        sql: &str,
        rows: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        self.trace(py, sql, rows)?;
        self.timed(py, "execute_many_raw", sql, rows, || match &self.backend {
            Backend::Sqlite(engine) => {
                execute_many(py, &self.backend, rows, row_to_values, |chunk| {
                    engine.execute_batch(sql, chunk)
                })
            }
            Backend::Postgres(engine) => {
                execute_many(py, &self.backend, rows, py_pg::row_to_params, |chunk| {
                    engine.execute_batch(sql, chunk)
                })
            }
        })
    }

    /// Run `;`-separated statements without parameters.
    #[pyo3(name = "execute_script_")]
    fn execute_script(&self, py: Python<'_>, sql: &str) -> PyResult<()> {
        let no_params = PyTuple::empty(py);
        self.trace(py, sql, &no_params)?;
        self.timed(py, "execute_script", sql, &no_params, || {
            Ok(py.detach(|| self.backend.execute_script(sql))?)
        })
    }

    /// A context manager for a transaction on the calling thread: `BEGIN IMMEDIATE` on
    /// `SQLite` (`BEGIN ISOLATION LEVEL READ COMMITTED` on PostgreSQL) for the outermost
    /// block, a savepoint for nested ones. It commits when the block ends
    /// normally and rolls back when it raises. `with db.transaction_() as tx:` gives back
    /// the database handle, whose statements on this thread join the transaction.
    ///
    /// `isolation` is `"read_committed"` (PostgreSQL's default), `"repeatable_read"` or
    /// `"serializable"`; `SQLite` is always serializable, which gives what each level
    /// promises, so it accepts all three. A nested block may repeat its outer block's level
    /// but not ask for another. `timeout` (seconds, outermost block only) bounds the whole
    /// block: past it the block is rolled back and `TransactionTimeoutError` raised (on
    /// PostgreSQL by the next statement, a statement still running, or the commit; on
    /// `SQLite` by the commit).
    #[pyo3(name = "transaction_", signature = (*, isolation = None, timeout = None))]
    fn transaction(
        slf: &Bound<'_, Self>,
        isolation: Option<&str>,
        timeout: Option<f64>,
    ) -> PyResult<PyTransaction> {
        let isolation = isolation.map(Isolation::parse).transpose()?;
        let timeout = timeout
            .map(|seconds| {
                Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|timeout| !timeout.is_zero())
                    .ok_or_else(|| {
                        Error::Transaction(format!(
                            "timeout must be a positive number of seconds, not {seconds}"
                        ))
                    })
            })
            .transpose()?;
        Ok(PyTransaction {
            db: slf.clone().into_any().unbind(),
            backend: slf.get().backend.clone(),
            entered_on: AtomicU64::new(0),
            options: TxOptions { isolation, timeout },
            deadline: parking_lot::Mutex::new(None),
        })
    }

    /// The PostgreSQL pool now: `limit`, `open`, `idle`, `in_use` and `waiting` (callers
    /// waiting for a connection); None on `SQLite`.
    #[pyo3(name = "pool_stats_")]
    fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Backend::Postgres(engine) = &self.backend else {
            return Ok(None);
        };
        let stats = engine.pool_stats();
        let out = PyDict::new(py);
        out.set_item("limit", stats.limit)?;
        out.set_item("open", stats.open)?;
        out.set_item("idle", stats.idle)?;
        out.set_item("in_use", stats.in_use)?;
        out.set_item("waiting", stats.waiting)?;
        Ok(Some(out))
    }

    /// Install `tracer(sql, params)`, called before every statement sent through this
    /// handle (for `execute_many_raw`, once, with the row iterable), or remove it with None.
    /// Tests use it to count statements; applications to log them.
    #[pyo3(name = "set_tracer_")]
    fn set_tracer(&self, tracer: Option<Py<PyAny>>) {
        // The old tracer is dropped after the guard (see `PyEngine`).
        let old = std::mem::replace(&mut *self.tracer.write(), tracer);
        drop(old);
    }

    /// Install `listener(target, sql, params, started, duration, error)`, called after every
    /// statement sent through this handle has run (or failed), or remove it with None.
    /// `target` names the entry point (`"query_raw"`, `"execute_raw"`,
    /// `"execute_many_raw"`, `"execute_script"`, `"bulk_insert"`), `started` is the Unix
    /// time in seconds when the statement started, `duration` its run time in seconds
    /// (waiting for the write lock included, converting rows to Python not), and `error`
    /// the exception it raised, or None. `strata.events` builds `db.on_("query", ...)` on
    /// it. Without a listener the statement path only checks that there is none.
    #[pyo3(name = "set_query_listener_")]
    fn set_query_listener(&self, listener: Option<Py<PyAny>>) {
        // The old listener is dropped after the guard (see `PyEngine`).
        let old = std::mem::replace(&mut *self.listener.write(), listener);
        drop(old);
    }

    /// Install `hook(event, target, sql, seconds, detail)`, or remove it with None. It is
    /// called after a statement that waited for a pooled connection (`event` is
    /// `"pool_wait"`, `detail` is `(pool, size, timed_out)`), and, when `slow` is a number of
    /// seconds, after a statement that took at least that long (`"slow"`, `detail` its
    /// parameters). `strata.logs` logs them. Without a threshold statements are not timed
    /// for it; a wait is noted by the pool only when one happens. The hook's own errors are
    /// reported as unraisable and never fail the statement.
    #[pyo3(name = "set_log_hook_")]
    #[pyo3(signature = (hook, slow = None))]
    fn set_log_hook(&self, hook: Option<Py<PyAny>>, slow: Option<f64>) -> PyResult<()> {
        if slow.is_some_and(|s| !s.is_finite() || s < 0.0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "the slow-statement threshold must be a non-negative number of seconds",
            ));
        }
        // The old hook is dropped after the guard (see `PyEngine`).
        let old = std::mem::replace(&mut *self.log_hook.write(), hook.map(|h| (slow, h)));
        drop(old);
        Ok(())
    }

    /// The pragmas in force on the writer connection; on PostgreSQL, the pool's settings.
    #[pyo3(name = "settings_")]
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let engine = match &self.backend {
            Backend::Sqlite(engine) => engine,
            Backend::Postgres(engine) => {
                out.set_item("provider", "postgresql")?;
                out.set_item("schema", engine.schema())?;
                out.set_item("busy_timeout", engine.pool_timeout().as_secs_f64())?;
                out.set_item("readers", engine.connection_limit())?;
                return Ok(out);
            }
        };
        let settings = py.detach(|| engine.settings())?;
        out.set_item("journal_mode", settings.journal_mode)?;
        out.set_item("synchronous", settings.synchronous)?;
        out.set_item("foreign_keys", settings.foreign_keys)?;
        out.set_item("busy_timeout", settings.busy_timeout.as_secs_f64())?;
        out.set_item("readers", settings.max_readers)?;
        Ok(out)
    }

    /// Close every connection, rolling back an open transaction. Idempotent.
    #[pyo3(name = "close_")]
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.backend.close());
    }
}

impl PyEngine {
    /// The `SQLite` engine, for the core's other Python classes (queue, rate limiter,
    /// ingest), which are bound to a database handle and share its connections. They run
    /// on `SQLite` only so far; `feature` names the one asking, for the error on PostgreSQL.
    pub(crate) fn engine(&self, feature: &str) -> Result<&Arc<Engine>> {
        self.backend.sqlite(feature)
    }

    /// The database behind this handle, for the core classes that run on both.
    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }
}

/// `execute_many_raw`'s work on either database: the rows converted a chunk at a time
/// (`convert`, with the GIL), each chunk run by `run` with the GIL released, all in one
/// transaction (or a savepoint of the caller's).
fn execute_many<R: Send + Sync>(
    py: Python<'_>,
    backend: &Backend,
    rows: &Bound<'_, PyAny>,
    convert: fn(&Bound<'_, PyAny>) -> PyResult<R>,
    run: impl Fn(&[R]) -> Result<u64> + Sync,
) -> PyResult<u64> {
    py.detach(|| backend.begin())?;
    let outcome = (|| -> PyResult<u64> {
        let mut changed = 0;
        let mut chunk = Vec::with_capacity(EXECUTE_MANY_CHUNK);
        for row in rows.try_iter()? {
            chunk.push(convert(&row?)?);
            if chunk.len() == EXECUTE_MANY_CHUNK {
                changed += py.detach(|| run(&chunk))?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            changed += py.detach(|| run(&chunk))?;
        }
        Ok(changed)
    })();
    match outcome {
        Ok(changed) => {
            py.detach(|| backend.commit())?;
            Ok(changed)
        }
        Err(err) => {
            // The original error is what the caller needs; a failed rollback (a closed
            // handle, say) must not replace it.
            let _ = py.detach(|| backend.rollback());
            Err(err)
        }
    }
}

impl PyEngine {
    /// Run `run` (one statement, or one bulk insert) and report it to the query listener,
    /// if there is one, with its duration. A statement's own error is what the caller gets,
    /// whatever the listener does.
    pub(crate) fn timed<T>(
        &self,
        py: Python<'_>,
        target: &'static str,
        sql: &str,
        params: &Bound<'_, PyAny>,
        run: impl FnOnce() -> PyResult<T>,
    ) -> PyResult<T> {
        // Cloned out of the locks, so a callback may itself replace them.
        let listener = self.listener.read().as_ref().map(|l| l.clone_ref(py));
        let hook = self
            .log_hook
            .read()
            .as_ref()
            .map(|(slow, h)| (*slow, h.clone_ref(py)));
        if listener.is_none() && hook.is_none() {
            return run();
        }
        let slow = hook.as_ref().and_then(|(slow, _)| *slow);
        if hook.is_some() {
            // A wait noted by a core call that reports to no hook (the queue's) is not ours.
            waits::take();
        }
        let started = if listener.is_some() {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64())
        } else {
            0.0
        };
        let clock = (listener.is_some() || slow.is_some()).then(Instant::now);
        let outcome = run();
        let duration = clock.map_or(0.0, |c| c.elapsed().as_secs_f64());
        if let Some((slow, hook)) = &hook {
            if let Some(wait) = waits::take() {
                let detail = (wait.pool, wait.size, wait.timed_out);
                let args = ("pool_wait", target, sql, wait.waited.as_secs_f64(), detail);
                if let Err(err) = hook.call1(py, args) {
                    err.write_unraisable(py, Some(hook.bind(py)));
                }
            }
            if slow.is_some_and(|slow| duration >= slow) {
                if let Err(err) = hook.call1(py, ("slow", target, sql, duration, params)) {
                    err.write_unraisable(py, Some(hook.bind(py)));
                }
            }
        }
        let Some(listener) = listener else {
            return outcome;
        };
        let error = outcome.as_ref().err().map(|err| err.value(py).clone());
        let reported = listener.call1(py, (target, sql, params, started, duration, error));
        match (outcome, reported) {
            (Ok(value), Ok(_)) => Ok(value),
            (Ok(_), Err(err)) | (Err(err), _) => Err(err),
        }
    }

    pub(crate) fn trace(
        &self,
        py: Python<'_>,
        sql: &str,
        params: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        // Cloned out of the lock, so a tracer may itself call set_tracer.
        let tracer = self.tracer.read().as_ref().map(|t| t.clone_ref(py));
        if let Some(tracer) = tracer {
            tracer.call1(py, (sql, params))?;
        }
        Ok(())
    }
}

/// `_signal.getsignal` and `_signal.default_int_handler`, for `ctrl_c_pressed`: both
/// built in, so calling them runs no Python bytecode (which would run the pending signal
/// handlers then and there). `signal.getsignal` is a Python wrapper; it would.
static SIGNAL_MODULE: PyOnceLock<(Py<PyAny>, Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// Get ready to answer `ctrl_c_pressed` (called at import, where Python code may run).
pub(crate) fn watch_ctrl_c(py: Python<'_>) -> PyResult<()> {
    SIGNAL_MODULE.get_or_try_init(py, || -> PyResult<_> {
        let signal = py.import("_signal")?;
        Ok((
            signal.getattr("getsignal")?.unbind(),
            signal.getattr("SIGINT")?.unbind(),
            signal.getattr("default_int_handler")?.unbind(),
        ))
    })?;
    busy::set_interrupt_check(ctrl_c_pressed);
    Ok(())
}

/// Whether Ctrl-C was pressed and should stop the statement running on this thread
/// (Python's main thread; see `busy::Conn`, which calls this every 50 ms of a long
/// statement). Takes the GIL for a moment and runs no Python code.
///
/// Only Python's default SIGINT handler is acted on: it would raise `KeyboardInterrupt`,
/// so the statement is stopped and the binding raises that instead (`Error::Interrupted`).
/// A handler of the application's own (the queue's graceful stop, asyncio's) may want the
/// statement to finish, and running it here, inside a statement with engine locks held,
/// could deadlock if it used the database; its signal stays pending, and Python runs the
/// handler as soon as the call returns, as it always did.
fn ctrl_c_pressed() -> bool {
    Python::attach(|py| {
        let Some((getsignal, sigint, default_handler)) = SIGNAL_MODULE.get(py) else {
            return false;
        };
        let installed = getsignal.call1(py, (sigint,));
        if !installed.is_ok_and(|handler| handler.is(default_handler)) {
            return false;
        }
        // SAFETY: the GIL is held. PyOS_InterruptOccurred reads and clears SIGINT's
        // pending flag, which the default handler would have turned into the
        // KeyboardInterrupt the binding raises; it returns 0 on any thread but the main one.
        unsafe { pyo3::ffi::PyOS_InterruptOccurred() != 0 }
    })
}

/// One transaction block. Implemented here rather than in Python because it wraps the
/// hottest write path: a Python-level context manager costs more than the BEGIN itself.
#[pyclass(name = "Transaction", module = "strata._core", frozen)]
pub struct PyTransaction {
    db: Py<PyAny>,
    backend: Backend,
    /// The token of the thread that entered the block, or 0 while it is not open.
    entered_on: AtomicU64,
    options: TxOptions,
    /// When the block's timeout runs out, checked at commit (PostgreSQL's engine also
    /// checks it per statement).
    deadline: parking_lot::Mutex<Option<Instant>>,
}

#[pymethods]
impl PyTransaction {
    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.entered_on.load(Ordering::Acquire) != 0 {
            return Err(Error::Transaction(
                "this transaction block is already open; call transaction() again".into(),
            )
            .into());
        }
        let started = Instant::now();
        py.detach(|| self.backend.begin_with(self.options))?;
        *self.deadline.lock() = self.options.deadline(started);
        self.entered_on
            .store(current_thread_token(), Ordering::Release);
        Ok(self.db.clone_ref(py))
    }

    #[pyo3(signature = (exc_type, _exc_value, _traceback))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.entered_on.load(Ordering::Acquire) != current_thread_token() {
            return Err(Error::Transaction(
                "a transaction must end on the thread that opened it".into(),
            )
            .into());
        }
        self.entered_on.store(0, Ordering::Release);
        let expired = self
            .deadline
            .lock()
            .take()
            .is_some_and(|deadline| Instant::now() >= deadline);
        if exc_type.is_none() && expired {
            py.detach(|| self.backend.rollback())?;
            return Err(Error::TransactionTimeout {
                timeout: self.options.timeout.unwrap_or_default(),
            }
            .into());
        }
        if exc_type.is_none() {
            py.detach(|| self.backend.commit())?;
        } else {
            py.detach(|| self.backend.rollback())?;
        }
        // Never swallow the exception that ended the block.
        Ok(false)
    }
}

/// Convert positional parameters. Exact-type checks come first: they are the common case
/// and cost a pointer comparison each.
pub(crate) fn to_values(params: &Bound<'_, PyTuple>) -> Result<Vec<Value>> {
    params
        .iter()
        .enumerate()
        .map(|(index, value)| to_value(&value, index + 1))
        .collect()
}

fn row_to_values(row: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    if let Ok(tuple) = row.cast::<PyTuple>() {
        return Ok(to_values(tuple)?);
    }
    if row.is_instance_of::<PyString>() || row.is_instance_of::<PyBytes>() {
        // A str is a sequence too, but treating "abc" as three parameters is never meant.
        return Err(Error::ParameterType {
            position: 0,
            type_name: format!("{} as a parameter row", type_name(row)),
        }
        .into());
    }
    let mut values = Vec::new();
    for (index, value) in row.try_iter()?.enumerate() {
        values.push(to_value(&value?, index + 1)?);
    }
    Ok(values)
}

/// The one conversion of a Python value into a bound `SQLite` value: raw SQL parameters,
/// the client's encoded values, queue and metrics parameters all come through here.
pub(crate) fn to_value(value: &Bound<'_, PyAny>, position: usize) -> Result<Value> {
    if value.is_none() {
        Ok(Value::Null)
    } else if let Ok(text) = value.cast_exact::<PyString>() {
        text_value(text, position)
    } else if value.is_exact_instance_of::<PyBool>() {
        // bool is a subclass of int, so it is tested before int.
        Ok(Value::Integer(i64::from(
            value.is_truthy().unwrap_or(false),
        )))
    } else if value.is_instance_of::<PyInt>() {
        value
            .extract::<i64>()
            .map(Value::Integer)
            .map_err(|_| Error::IntegerOverflow { position })
    } else if let Ok(number) = value.cast::<PyFloat>() {
        Ok(Value::Real(number.value()))
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        Ok(Value::Blob(bytes.as_bytes().to_vec()))
    } else if let Ok(bytes) = value.cast::<PyByteArray>() {
        Ok(Value::Blob(bytes.to_vec()))
    } else if let Ok(text) = value.cast::<PyString>() {
        // str subclasses (e.g. a str-valued enum) bind as their text.
        text_value(text, position)
    } else {
        Err(Error::ParameterType {
            position,
            type_name: type_name(value),
        })
    }
}

/// A str as UTF-8 text, exactly. A lone surrogate (what `os.fsdecode` makes of a file name
/// byte that is not UTF-8) has no UTF-8 form: storing U+FFFD instead would lose the
/// original, so it is refused, as Python's `sqlite3` does.
fn text_value(text: &Bound<'_, PyString>, position: usize) -> Result<Value> {
    match text.to_str() {
        Ok(utf8) => Ok(Value::Text(utf8.to_owned())),
        Err(err) => {
            let at = err
                .value(text.py())
                .getattr("start")
                .and_then(|start| start.extract::<usize>())
                .ok();
            Err(Error::LoneSurrogate { position, at })
        }
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

pub(crate) fn value_to_python(py: Python<'_>, value: Value) -> PyResult<Bound<'_, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Integer(number) => number.into_pyobject(py)?.into_any(),
        Value::Real(number) => PyFloat::new(py, number).into_any(),
        Value::Text(text) => PyString::new(py, &text).into_any(),
        Value::Blob(bytes) => PyBytes::new(py, &bytes).into_any(),
    })
}

pub(crate) fn rows_to_python(
    py: Python<'_>,
    rows: Rows,
    as_tuples: bool,
) -> PyResult<Bound<'_, PyList>> {
    let Rows { columns, rows } = rows;
    result_to_python(py, &columns, rows, as_tuples, value_to_python)
}

/// A result's rows as dicts (column name to value) or tuples, each value turned into
/// Python by `to_python`: the one shape both databases' results take.
pub(crate) fn result_to_python<'py, V>(
    py: Python<'py>,
    columns: &[String],
    rows: Vec<Vec<V>>,
    as_tuples: bool,
    to_python: fn(Python<'py>, V) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    if as_tuples {
        for row in rows {
            let items = row
                .into_iter()
                .map(|value| to_python(py, value))
                .collect::<PyResult<Vec<_>>>()?;
            out.append(PyTuple::new(py, items)?)?;
        }
    } else {
        // Column names are converted once per query, not once per row.
        let keys: Vec<Bound<'_, PyString>> = columns.iter().map(|c| PyString::new(py, c)).collect();
        for row in rows {
            let dict = PyDict::new(py);
            for (key, value) in keys.iter().zip(row) {
                dict.set_item(key, to_python(py, value)?)?;
            }
            out.append(dict)?;
        }
    }
    Ok(out)
}
