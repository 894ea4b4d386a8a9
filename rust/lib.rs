//! `strata._core`: the Rust core of strata.
//!
//! The core owns every `SQLite` connection the package opens (docs/ARCHITECTURE.md,
//! decision 2). Layout:
//!
//! * `engine`: connections, statements and transactions, in plain Rust;
//! * `busy`: how a connection waits for a lock held by another process, and notices Ctrl-C;
//! * `process`: which process (across `fork()`) and which thread the core runs on;
//! * `library`: which `SQLite` library the process runs, for `strata doctor`;
//! * `error`: the one error type, and its one conversion into Python exceptions;
//! * `json_filter`: the SQL function behind the client's Json filters;
//! * `bulk`: many rows into one table, as multi-row `INSERT`s;
//! * `time`: stored timestamps (written and read in every format) and the hot paths' clock;
//! * `queue`: job claims with leases and fencing tokens (`pg_queue`: the same on PostgreSQL);
//! * `ratelimit`: the rate limiter (algorithms, denial cache), in plain Rust;
//! * `metrics`: metric aggregation in `(series, time)` order, and rollups;
//! * `arrow_export`: query results as Arrow record batches and C streams;
//! * `py_engine`: the Python class over `engine`;
//! * `py_bulk`: converting Python rows for `bulk` (`create_many`, metric ingest);
//! * `py_queue`: the Python classes over `queue`;
//! * `py_ratelimit`: the Python classes over `ratelimit`;
//! * `py_metrics`: the Python classes over `metrics` and `arrow_export`.

pub mod arrow_export;
pub mod beater;
pub mod bulk;
pub mod bulk_pg;
pub mod busy;
pub mod engine;
pub mod error;
pub mod json_filter;
pub mod library;
pub mod metrics;
pub mod pg_queue;
pub mod process;
mod py_bulk;
mod py_engine;
mod py_metrics;
mod py_pg;
mod py_queue;
mod py_ratelimit;
pub mod queue;
pub mod ratelimit;
pub mod time;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The `SQLite` library the core is linked against: version, source id, the file it was
/// loaded from, the address of `sqlite3_libversion` and the compile options.
#[pyfunction]
fn sqlite_library(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = library::library_info();
    let out = PyDict::new(py);
    out.set_item("version", info.version)?;
    out.set_item("source_id", info.source_id)?;
    out.set_item("path", info.path)?;
    out.set_item("libversion_address", info.libversion_address)?;
    out.set_item("compile_options", info.compile_options)?;
    Ok(out)
}

/// Every file mapped into this process that carries a copy of `SQLite`. More than one entry
/// means two `SQLite` copies share the process, which can lose committed data.
#[pyfunction]
fn loaded_sqlite_copies(py: Python<'_>) -> Vec<String> {
    py.detach(library::loaded_copies)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Ctrl-C during a long statement: Python's main thread is the one that receives it.
    let main_thread: u64 = m
        .py()
        .import("threading")?
        .call_method0("main_thread")?
        .getattr("ident")?
        .extract()?;
    process::set_main_thread(main_thread);
    py_engine::watch_ctrl_c(m.py())?;
    m.add_class::<py_engine::PyEngine>()?;
    m.add_class::<py_engine::PyTransaction>()?;
    m.add_class::<py_bulk::PyBulkInsert>()?;
    m.add_class::<py_queue::PyQueue>()?;
    m.add_class::<py_queue::PyHeartbeat>()?;
    m.add_class::<py_queue::PyBeater>()?;
    m.add_class::<py_ratelimit::PyRateLimiter>()?;
    m.add_class::<py_ratelimit::PyDecision>()?;
    m.add_class::<py_metrics::PyAggregator>()?;
    m.add_class::<py_metrics::PyArrowStream>()?;
    m.add_function(wrap_pyfunction!(py_metrics::ingest_ceiling, m)?)?;
    m.add_function(wrap_pyfunction!(sqlite_library, m)?)?;
    m.add_function(wrap_pyfunction!(loaded_sqlite_copies, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BULK_ROWS_PER_STATEMENT", bulk::ROWS_PER_STATEMENT)?;
    Ok(())
}
