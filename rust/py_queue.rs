//! The Python face of the job queue: `strata._core.Queue` and `strata._core.Heartbeat`.
//! `strata/queue.py` builds the statements from the validated binding; see `queue.rs`.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rusqlite::types::Value;

use crate::engine::Rows;
use crate::error::Error;
use crate::py_engine::{rows_to_python, to_value, PyEngine};
use crate::queue::{BeatState, BeatWatch, Heartbeat, Queue, Statements};
use crate::time::{self, Format};

#[pyclass(name = "Queue", module = "strata._core", frozen)]
pub struct PyQueue {
    queue: Arc<Queue>,
}

#[pymethods]
impl PyQueue {
    /// `constants` maps the statements' binding parameters (`:ready_status`, ...) to their
    /// stored values; `order` lists (returned column, descending) for sorting claims;
    /// claims look for expired leases at most every `recover_every` seconds.
    #[new]
    #[pyo3(signature = (db, *, recover, claim, why, heartbeat, changes, constants, datetime_format, order, recover_every))]
    #[allow(clippy::too_many_arguments)] // keyword-only: each one is named at the call
    fn new(
        db: &Bound<'_, PyEngine>,
        recover: String,
        claim: String,
        why: String,
        heartbeat: String,
        changes: String,
        constants: &Bound<'_, PyDict>,
        datetime_format: &str,
        order: Vec<(usize, bool)>,
        recover_every: f64,
    ) -> PyResult<Self> {
        let constants = named_values(constants)?;
        let statements = Statements {
            recover,
            claim,
            why,
            heartbeat,
            changes,
        };
        let format = Format::parse(datetime_format)?;
        let engine = Arc::clone(db.get().engine("the queue")?);
        Ok(PyQueue {
            queue: Arc::new(Queue::new(
                engine,
                statements,
                constants,
                format,
                order,
                milliseconds(recover_every)?,
            )),
        })
    }

    /// Claim up to `limit` jobs for `worker`, leased for `lease` seconds; the claimed rows
    /// as tuples in the statement's RETURNING order, sorted by the queue's order.
    fn claim<'py>(
        &self,
        py: Python<'py>,
        worker: &str,
        limit: i64,
        lease: f64,
    ) -> PyResult<Bound<'py, PyList>> {
        let lease_ms = self.span(lease, "a lease")?;
        let rows = py.detach(|| self.queue.claim(worker, limit, lease_ms))?;
        rows_to_python(py, rows, true)
    }

    /// Run the fenced statement `sql` for the claim (`id`, `token`) and return the row it
    /// returns; raises `LeaseLostError` or `JobCancelledError` when the claim is stale.
    /// `lease` sets `:expires`, `delay` sets `:retry_at`; `params` binds the rest.
    #[pyo3(signature = (sql, id, token, *, lease = 0.0, delay = 0.0, params = None))]
    #[allow(clippy::too_many_arguments)]
    fn settle<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        id: &Bound<'py, PyAny>,
        token: i64,
        lease: f64,
        delay: f64,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let id = to_value(id, 0)?;
        let (lease_ms, delay_ms) = (self.span(lease, "a lease")?, self.span(delay, "a delay")?);
        let params = params.map(named_values).transpose()?.unwrap_or_default();
        let rows: Rows = py.detach(|| {
            self.queue
                .settle(sql, &id, token, lease_ms, delay_ms, &params)
        })?;
        let row = rows_to_python(py, rows, true)?.get_item(0)?;
        Ok(row.cast_into::<PyTuple>()?)
    }

    /// `settle` for many (`id`, `token`) claims in one transaction: for each, the row it
    /// returned, or None when that claim was stale.
    #[pyo3(signature = (sql, claims, *, lease = 0.0, params = None))]
    fn settle_many<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        claims: Vec<(Bound<'py, PyAny>, i64)>,
        lease: f64,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let claims = claims
            .iter()
            .map(|(id, token)| Ok((to_value(id, 0)?, *token)))
            .collect::<PyResult<Vec<_>>>()?;
        let lease_ms = self.span(lease, "a lease")?;
        let params = params.map(named_values).transpose()?.unwrap_or_default();
        let rows = py.detach(|| self.queue.settle_many(sql, &claims, lease_ms, &params))?;
        let out = PyList::empty(py);
        for row in rows {
            match row {
                Some(values) => {
                    let rows = Rows {
                        columns: Vec::new(),
                        rows: vec![values],
                    };
                    out.append(rows_to_python(py, rows, true)?.get_item(0)?)?;
                }
                None => out.append(py.None())?,
            }
        }
        Ok(out)
    }

    /// The benchmarks' native ceiling: `rounds` of claiming `batch` jobs and completing
    /// them with `complete_sql`, in Rust. Returns (jobs completed, seconds taken).
    #[pyo3(signature = (worker, batch, rounds, complete_sql, columns, lease))]
    #[allow(clippy::too_many_arguments)] // a benchmark hook, called from one place
    fn _native_loop(
        &self,
        py: Python<'_>,
        worker: &str,
        batch: i64,
        rounds: usize,
        complete_sql: &str,
        columns: (usize, usize),
        lease: f64,
    ) -> PyResult<(usize, f64)> {
        let lease_ms = milliseconds(lease)?;
        let started = std::time::Instant::now();
        let done = py.detach(|| {
            self.queue
                .native_loop(worker, batch, rounds, complete_sql, columns, lease_ms)
        })?;
        Ok((done, started.elapsed().as_secs_f64()))
    }

    /// Run another statement of the binding with its named parameters, in a write
    /// transaction when `write`; the rows as tuples.
    #[pyo3(signature = (sql, params = None, *, write = true))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyDict>>,
        write: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let params = params.map(named_values).transpose()?.unwrap_or_default();
        let rows = py.detach(|| self.queue.run(sql, &params, write))?;
        rows_to_python(py, rows, true)
    }

    /// Wake this process's waiting workers.
    fn notify(&self) {
        self.queue.notify();
    }

    /// Block (without the GIL) until another connection commits, `notify` is called or
    /// `timeout` seconds pass; whether something changed.
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = Duration::from_millis(u64::try_from(milliseconds(timeout)?).unwrap_or(0));
        Ok(py.detach(|| self.queue.wait(timeout))?)
    }

    /// The queue's clock, in Unix milliseconds.
    fn now_ms(&self) -> i64 {
        self.queue.clock.now_ms()
    }

    /// Move the queue's clock by `seconds` (tests: expire a lease without sleeping).
    fn shift_clock(&self, seconds: f64) -> PyResult<()> {
        self.queue.clock.shift(signed_milliseconds(seconds)?);
        Ok(())
    }

    /// Start a thread renewing the lease of (`id`, `token`) for `lease` seconds every
    /// `every` seconds.
    fn heartbeat(
        &self,
        id: &Bound<'_, PyAny>,
        token: i64,
        lease: f64,
        every: f64,
    ) -> PyResult<PyHeartbeat> {
        let id = to_value(id, 0)?;
        let every = Duration::from_millis(u64::try_from(milliseconds(every)?).unwrap_or(1).max(1));
        let beat = Heartbeat::start(
            Arc::clone(&self.queue),
            id,
            token,
            self.span(lease, "a lease")?,
            every,
        );
        Ok(PyHeartbeat {
            watch: beat.watch(),
            beat: parking_lot::Mutex::new(beat),
        })
    }
}

impl PyQueue {
    /// A lease or delay of `seconds` as milliseconds, refused when the time it would store
    /// (from the queue's clock now) is past what a `DateTime` can hold.
    fn span(&self, seconds: f64, what: &str) -> PyResult<i64> {
        let ms = milliseconds(seconds)?;
        time::later_by(self.queue.clock.now_ms(), ms, what)?;
        Ok(ms)
    }
}

/// No thread waits on `beat`'s lock, or for the heartbeat thread, with the GIL held. The
/// heartbeat thread renews the lease through the engine's write lock, which a thread in a
/// transaction may hold while it needs the GIL to finish the transaction; a thread waiting
/// for the heartbeat GIL in hand would wait out the busy timeout with every other Python
/// thread stopped. So `stop` and `Drop` release the GIL before they wait, and `state`
/// reads the state through `watch` instead of through the lock `stop` holds while it
/// waits for the thread.
#[pyclass(name = "Heartbeat", module = "strata._core", frozen)]
pub struct PyHeartbeat {
    beat: parking_lot::Mutex<Heartbeat>,
    watch: BeatWatch,
}

#[pymethods]
impl PyHeartbeat {
    /// "running", "stopped", "cancelled" (the job was cancelled) or "lost" (the lease).
    #[getter]
    fn state(&self) -> &'static str {
        state_name(self.watch.state())
    }

    /// Stop renewing and wait for the thread; returns the final state.
    fn stop(&self, py: Python<'_>) -> &'static str {
        state_name(py.detach(|| self.beat.lock().stop()))
    }
}

impl Drop for PyHeartbeat {
    /// A heartbeat dropped without `stop` (Python runs this with the GIL held) stops its
    /// thread here, waiting for it with the GIL released, rather than in
    /// `Heartbeat::drop`, which would wait with the GIL held.
    fn drop(&mut self) {
        let beat = self.beat.get_mut();
        if beat.is_stopped() {
            return;
        }
        // The GIL is held here, so attaching only confirms it (`try_attach` declines only
        // inside a garbage collector's traversal, where nothing is dropped).
        if Python::try_attach(|py| py.detach(|| beat.stop())).is_none() {
            beat.stop();
        }
    }
}

fn state_name(state: BeatState) -> &'static str {
    match state {
        BeatState::Running => "running",
        BeatState::Stopped => "stopped",
        BeatState::Cancelled => "cancelled",
        BeatState::Lost => "lost",
    }
}

fn named_values(values: &Bound<'_, PyDict>) -> PyResult<Vec<(String, Value)>> {
    values
        .iter()
        .map(|(name, value)| Ok((name.extract::<String>()?, to_value(&value, 0)?)))
        .collect()
}

fn signed_milliseconds(seconds: f64) -> PyResult<i64> {
    if !seconds.is_finite() || seconds.abs() > 1e12 {
        return Err(Error::invalid(format!("{seconds} is not a usable number of seconds")).into());
    }
    // In range: checked just above.
    #[allow(clippy::cast_possible_truncation)]
    Ok((seconds * 1000.0).round() as i64)
}

fn milliseconds(seconds: f64) -> PyResult<i64> {
    let ms = signed_milliseconds(seconds)?;
    if ms < 0 {
        return Err(
            Error::invalid(format!("{seconds} seconds: a duration cannot be negative")).into(),
        );
    }
    Ok(ms)
}
