//! The Python face of the job queue: `strata._core.Queue` and `strata._core.Heartbeat`.
//! `strata/queue.py` builds the statements from the validated binding; see `queue.rs`
//! (`SQLite`) and `pg_queue.rs` (PostgreSQL). One class over both: each method converts
//! its values for the database the handle is on and calls that queue.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rusqlite::types::Value;

use crate::beater::Beater;
use crate::engine::postgres::{Cell, Param};
use crate::engine::{Backend, Rows};
use crate::error::Error;
use crate::pg_queue::{PgQueue, PgStatements};
use crate::py_engine::{result_to_python, rows_to_python, to_value, PyEngine};
use crate::py_pg::{cell_to_python, to_param};
use crate::queue::{BeatState, BeatWatch, Heartbeat, Queue, Settle, Statements};
use crate::time::{self, Clock, Format};

#[pyclass(name = "Queue", module = "strata._core", frozen)]
pub struct PyQueue {
    queue: Core,
}

enum Core {
    Sqlite(Arc<Queue>),
    Postgres(Arc<PgQueue>),
}

#[pymethods]
impl PyQueue {
    /// `constants` maps the statements' binding parameters (`:ready_status`, ...) to their
    /// stored values; `order` lists (returned column, descending) for sorting claims (empty
    /// when the claim returns them in order); claims look for expired leases at most every
    /// `recover_every` seconds. `changes` is what a waiter polls (`SQLite`), `listen` what
    /// it runs once to be notified (PostgreSQL).
    #[new]
    #[pyo3(signature = (db, *, recover, claim, why, heartbeat, changes, constants, datetime_format, order, recover_every, listen = None))]
    #[allow(clippy::too_many_arguments)] // keyword-only: each one is named at the call
    fn new(
        db: &Bound<'_, PyEngine>,
        recover: String,
        claim: String,
        why: String,
        heartbeat: String,
        changes: Option<String>,
        constants: &Bound<'_, PyDict>,
        datetime_format: &str,
        order: Vec<(usize, bool)>,
        recover_every: f64,
        listen: Option<String>,
    ) -> PyResult<Self> {
        let recover_every = milliseconds(recover_every)?;
        if let Backend::Postgres(engine) = db.get().backend() {
            let statements = PgStatements {
                recover,
                claim,
                why,
                heartbeat,
                listen,
            };
            let constants = named_params(constants)?;
            return Ok(PyQueue {
                queue: Core::Postgres(Arc::new(PgQueue::new(
                    Arc::clone(engine),
                    statements,
                    constants,
                    recover_every,
                ))),
            });
        }
        let constants = named_values(constants)?;
        let statements = Statements {
            recover,
            claim,
            why,
            heartbeat,
            changes: changes.ok_or_else(|| {
                Error::invalid("a queue on SQLite needs the statement its waiters poll")
            })?,
        };
        let format = Format::parse(datetime_format)?;
        let engine = Arc::clone(db.get().engine("the queue")?);
        Ok(PyQueue {
            queue: Core::Sqlite(Arc::new(Queue::new(
                engine,
                statements,
                constants,
                format,
                order,
                recover_every,
            ))),
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
        match &self.queue {
            Core::Sqlite(queue) => {
                let rows = py.detach(|| queue.claim(worker, limit, lease_ms))?;
                rows_to_python(py, rows, true)
            }
            Core::Postgres(queue) => {
                let rows = py.detach(|| queue.claim(worker, limit, lease_ms))?;
                cells_to_python(py, rows.rows)
            }
        }
    }

    /// How many jobs whose lease had expired the claims' recoveries gave back since the last
    /// call (the worker logs them).
    fn take_recovered(&self) -> u64 {
        match &self.queue {
            Core::Sqlite(queue) => queue.take_recovered(),
            Core::Postgres(queue) => queue.take_recovered(),
        }
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
        let (lease_ms, delay_ms) = (self.span(lease, "a lease")?, self.span(delay, "a delay")?);
        let rows = match &self.queue {
            Core::Sqlite(queue) => {
                let id = to_value(id, 0)?;
                let params = params.map(named_values).transpose()?.unwrap_or_default();
                let rows: Rows =
                    py.detach(|| queue.settle(sql, &id, token, lease_ms, delay_ms, &params))?;
                rows_to_python(py, rows, true)?
            }
            Core::Postgres(queue) => {
                let id = to_param(id, 0)?;
                let params = params.map(named_params).transpose()?.unwrap_or_default();
                let rows =
                    py.detach(|| queue.settle(sql, &id, token, lease_ms, delay_ms, &params))?;
                cells_to_python(py, rows.rows)?
            }
        };
        Ok(rows.get_item(0)?.cast_into::<PyTuple>()?)
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
        let lease_ms = self.span(lease, "a lease")?;
        let out = PyList::empty(py);
        match &self.queue {
            Core::Sqlite(queue) => {
                let claims = claims
                    .iter()
                    .map(|(id, token)| Ok((to_value(id, 0)?, *token)))
                    .collect::<PyResult<Vec<_>>>()?;
                let params = params.map(named_values).transpose()?.unwrap_or_default();
                let rows = py.detach(|| queue.settle_many(sql, &claims, lease_ms, &params))?;
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
            }
            Core::Postgres(queue) => {
                let claims = claims
                    .iter()
                    .map(|(id, token)| Ok((to_param(id, 0)?, *token)))
                    .collect::<PyResult<Vec<_>>>()?;
                let params = params.map(named_params).transpose()?.unwrap_or_default();
                let rows = py.detach(|| queue.settle_many(sql, &claims, lease_ms, &params))?;
                for row in rows {
                    match row {
                        Some(cells) => {
                            out.append(cells_to_python(py, vec![cells])?.get_item(0)?)?;
                        }
                        None => out.append(py.None())?,
                    }
                }
            }
        }
        Ok(out)
    }

    /// Write the outcomes `items`, each (sql, id, token, delay, params), and claim for each
    /// (worker, limit) of `claims`, in one transaction: (for each item its row, or None
    /// where the claim was stale; for each worker the rows claimed). With `strict` a stale
    /// claim raises `LeaseLostError` (or `JobCancelledError`) and nothing changes. Without
    /// `rows`, an item that was written is True instead of its row (nothing to convert).
    #[pyo3(signature = (items, claims, *, lease, strict, rows = true))]
    fn settle_and_claim<'py>(
        &self,
        py: Python<'py>,
        items: Vec<SettleItem<'py>>,
        claims: Vec<(String, i64)>,
        lease: f64,
        strict: bool,
        rows: bool,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let lease_ms = self.span(lease, "a lease")?;
        let settled = PyList::empty(py);
        let claimed = PyList::empty(py);
        match &self.queue {
            Core::Sqlite(queue) => {
                let items = settle_items(
                    items,
                    |delay| self.span(delay, "a delay"),
                    |v| Ok(to_value(v, 0)?),
                    named_values,
                )?;
                let (written, claims) =
                    py.detach(|| queue.settle_and_claim(&items, &claims, lease_ms, strict))?;
                append_settled(&settled, written, rows, |values| {
                    let rows = Rows {
                        columns: Vec::new(),
                        rows: vec![values],
                    };
                    rows_to_python(py, rows, true)?.get_item(0)
                })?;
                for rows in claims {
                    claimed.append(rows_to_python(py, rows, true)?)?;
                }
            }
            Core::Postgres(queue) => {
                let items = settle_items(
                    items,
                    |delay| self.span(delay, "a delay"),
                    |v| to_param(v, 0),
                    named_params,
                )?;
                let (written, claims) =
                    py.detach(|| queue.settle_and_claim(&items, &claims, lease_ms, strict))?;
                append_settled(&settled, written, rows, |cells| {
                    cells_to_python(py, vec![cells])?.get_item(0)
                })?;
                for rows in claims {
                    claimed.append(cells_to_python(py, rows.rows)?)?;
                }
            }
        }
        Ok((settled, claimed))
    }

    /// A heartbeat for a worker loop's thread: one thread renewing, for `lease` seconds
    /// every `every` seconds, whichever claim it is told to hold (see `beater.rs`).
    fn beater(&self, lease: f64, every: f64) -> PyResult<PyBeater> {
        let every = Duration::from_millis(u64::try_from(milliseconds(every)?).unwrap_or(1).max(1));
        let lease_ms = self.span(lease, "a lease")?;
        let beater = match &self.queue {
            Core::Sqlite(queue) => {
                let queue = Arc::clone(queue);
                Beaters::Sqlite(Beater::start(
                    move |id: &Value, token| queue.renew(id, token, lease_ms),
                    every,
                ))
            }
            Core::Postgres(queue) => {
                let queue = Arc::clone(queue);
                Beaters::Postgres(Beater::start(
                    move |id: &Param, token| queue.renew(id, token, lease_ms),
                    every,
                ))
            }
        };
        Ok(PyBeater {
            beater: parking_lot::Mutex::new(beater),
        })
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
        let done = py.detach(|| match &self.queue {
            Core::Sqlite(queue) => {
                queue.native_loop(worker, batch, rounds, complete_sql, columns, lease_ms)
            }
            Core::Postgres(queue) => {
                queue.native_loop(worker, batch, rounds, complete_sql, columns, lease_ms)
            }
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
        match &self.queue {
            Core::Sqlite(queue) => {
                let params = params.map(named_values).transpose()?.unwrap_or_default();
                let rows = py.detach(|| queue.run(sql, &params, write))?;
                rows_to_python(py, rows, true)
            }
            Core::Postgres(queue) => {
                let params = params.map(named_params).transpose()?.unwrap_or_default();
                let rows = py.detach(|| queue.run(sql, &params))?;
                cells_to_python(py, rows.rows)
            }
        }
    }

    /// Wake this process's waiting workers.
    fn notify(&self) {
        match &self.queue {
            Core::Sqlite(queue) => queue.notify(),
            Core::Postgres(queue) => queue.notify(),
        }
    }

    /// Block (without the GIL) until another connection commits (`SQLite`) or an enqueue
    /// notifies (PostgreSQL), `notify` is called, or `timeout` seconds pass; whether
    /// something changed.
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = Duration::from_millis(u64::try_from(milliseconds(timeout)?).unwrap_or(0));
        Ok(py.detach(|| match &self.queue {
            Core::Sqlite(queue) => queue.wait(timeout),
            Core::Postgres(queue) => queue.wait(timeout),
        })?)
    }

    /// The queue's clock, in Unix milliseconds.
    fn now_ms(&self) -> i64 {
        self.clock().now_ms()
    }

    /// Move the queue's clock by `seconds` (tests: expire a lease without sleeping).
    fn shift_clock(&self, seconds: f64) -> PyResult<()> {
        self.clock().shift(signed_milliseconds(seconds)?);
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
        let every = Duration::from_millis(u64::try_from(milliseconds(every)?).unwrap_or(1).max(1));
        let lease_ms = self.span(lease, "a lease")?;
        let beat = match &self.queue {
            Core::Sqlite(queue) => {
                let (queue, id) = (Arc::clone(queue), to_value(id, 0)?);
                Heartbeat::start(move || queue.renew(&id, token, lease_ms), every)
            }
            Core::Postgres(queue) => {
                let (queue, id) = (Arc::clone(queue), to_param(id, 0)?);
                Heartbeat::start(move || queue.renew(&id, token, lease_ms), every)
            }
        };
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
        time::later_by(self.clock().now_ms(), ms, what)?;
        Ok(ms)
    }

    fn clock(&self) -> &Clock {
        match &self.queue {
            Core::Sqlite(queue) => &queue.clock,
            Core::Postgres(queue) => &queue.clock,
        }
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

/// `strata._core.Beater`: see `Queue.beater`. `hold`, `release` and `state` take a lock
/// the beater's thread holds only for an assignment, never across a renewal, so they may
/// run with the GIL held; `stop` waits for the thread, so it releases the GIL first.
#[pyclass(name = "Beater", module = "strata._core", frozen)]
pub struct PyBeater {
    beater: parking_lot::Mutex<Beaters>,
}

enum Beaters {
    Sqlite(Beater<Value>),
    Postgres(Beater<Param>),
}

#[pymethods]
impl PyBeater {
    /// Renew the claim (`id`, `token`) from now on, first after `first` seconds.
    fn hold(&self, id: &Bound<'_, PyAny>, token: i64, first: f64) -> PyResult<()> {
        let first = Duration::from_millis(u64::try_from(milliseconds(first)?).unwrap_or(0));
        match &*self.beater.lock() {
            Beaters::Sqlite(beater) => beater.hold(to_value(id, 0)?, token, first),
            Beaters::Postgres(beater) => beater.hold(to_param(id, 0)?, token, first),
        }
        Ok(())
    }

    /// Stop renewing the claim in hand: "stopped", or "cancelled" / "lost" when the
    /// heartbeat found the job cancelled or the lease lost while it held it.
    fn release(&self) -> &'static str {
        state_name(match &*self.beater.lock() {
            Beaters::Sqlite(beater) => beater.release(),
            Beaters::Postgres(beater) => beater.release(),
        })
    }

    /// The state for the claim in hand, as `Heartbeat.state`.
    #[getter]
    fn state(&self) -> &'static str {
        state_name(match &*self.beater.lock() {
            Beaters::Sqlite(beater) => beater.state(),
            Beaters::Postgres(beater) => beater.state(),
        })
    }

    /// End the thread (idempotent).
    fn stop(&self, py: Python<'_>) {
        py.detach(|| match &mut *self.beater.lock() {
            Beaters::Sqlite(beater) => beater.stop(),
            Beaters::Postgres(beater) => beater.stop(),
        });
    }
}

impl Drop for PyBeater {
    /// As `PyHeartbeat`'s: wait for the thread with the GIL released.
    fn drop(&mut self) {
        let beater = self.beater.get_mut();
        let stop = |beater: &mut Beaters| match beater {
            Beaters::Sqlite(beater) => beater.stop(),
            Beaters::Postgres(beater) => beater.stop(),
        };
        let stopped = match &*beater {
            Beaters::Sqlite(beater) => beater.is_stopped(),
            Beaters::Postgres(beater) => beater.is_stopped(),
        };
        if stopped {
            return;
        }
        if Python::try_attach(|py| py.detach(|| stop(beater))).is_none() {
            stop(beater);
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

/// One outcome to write, as `Queue.complete_and_claim` and `run()` pass it: (sql, id,
/// token, delay in seconds, named parameters).
type SettleItem<'py> = (
    String,
    Bound<'py, PyAny>,
    i64,
    f64,
    Option<Bound<'py, PyDict>>,
);

/// The outcomes in the database's values: `value` converts an id, `named` the parameters.
fn settle_items<'py, V>(
    items: Vec<SettleItem<'py>>,
    delay_ms: impl Fn(f64) -> PyResult<i64>,
    value: impl Fn(&Bound<'py, PyAny>) -> PyResult<V>,
    named: impl Fn(&Bound<'py, PyDict>) -> PyResult<Vec<(String, V)>>,
) -> PyResult<Vec<Settle<V>>> {
    items
        .into_iter()
        .map(|(sql, id, token, delay, params)| {
            Ok(Settle {
                sql,
                id: value(&id)?,
                token,
                delay_ms: delay_ms(delay)?,
                params: params.as_ref().map(&named).transpose()?.unwrap_or_default(),
            })
        })
        .collect()
}

/// Each outcome as the caller reads it: its row (`row` converts it), True when the row is
/// not wanted, None where the claim was stale.
fn append_settled<'py, R>(
    settled: &Bound<'py, PyList>,
    written: Vec<Option<R>>,
    want_rows: bool,
    row: impl Fn(R) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<()> {
    for outcome in written {
        match outcome {
            Some(_) if !want_rows => settled.append(true)?,
            Some(values) => settled.append(row(values)?)?,
            None => settled.append(settled.py().None())?,
        }
    }
    Ok(())
}

fn named_values(values: &Bound<'_, PyDict>) -> PyResult<Vec<(String, Value)>> {
    values
        .iter()
        .map(|(name, value)| Ok((name.extract::<String>()?, to_value(&value, 0)?)))
        .collect()
}

fn named_params(values: &Bound<'_, PyDict>) -> PyResult<Vec<(String, Param)>> {
    values
        .iter()
        .map(|(name, value)| Ok((name.extract::<String>()?, to_param(&value, 0)?)))
        .collect()
}

/// PostgreSQL rows as a list of tuples.
fn cells_to_python(py: Python<'_>, rows: Vec<Vec<Cell>>) -> PyResult<Bound<'_, PyList>> {
    result_to_python(py, &[], rows, true, cell_to_python)
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
