//! The connection engine: one writer connection, a pool of readers, and transactions.
//!
//! This module knows nothing about Python. The binding (`py_engine.rs`) converts values,
//! releases the GIL and calls in here, which is also what keeps these rules testable with
//! `cargo test`:
//!
//! * **One writer.** `SQLite` allows one writer per database file, so the engine holds exactly
//!   one read-write connection behind a mutex. A transaction belongs to the thread that opened
//!   it; other threads that want to write wait until it ends (bounded by the busy timeout),
//!   and reads from the owning thread go to the writer so they see their own writes.
//! * **Many readers.** In WAL mode readers never block the writer. Read-only statements from
//!   threads without an open transaction run on a small pool of `query_only` connections,
//!   opened on demand.
//! * **`BEGIN IMMEDIATE`.** A deferred transaction that reads and then writes fails at once
//!   with `SQLITE_BUSY_SNAPSHOT` when another connection committed in between, whatever the
//!   busy timeout. Taking the write lock up front makes the busy timeout apply.
//! * **Nothing waits forever.** A thread waiting for the writer or for a reader gives up
//!   after the busy timeout with `Error::Busy` / `Error::ReadersBusy`. Long-lived readers
//!   (Arrow streams) get connections of their own (`stream_reader`), so they never hold
//!   the pool.
//! * **One process.** An engine inherited across `fork()` refuses every call
//!   (`Error::Forked`) and never closes its connections (see `busy::Conn`).
//!
//! The engine's concerns each have a file: `open` (connections and their pragmas), `pool`
//! (the reader pool and stream readers), `statement` (binding values and stepping
//! statements), `transaction` (the writer lock, `BEGIN IMMEDIATE`, savepoints and `write`),
//! `fk_probe` (naming the foreign key a failed statement violated). This file holds the
//! `Engine` itself and the calls that route a statement to a connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::busy::Conn;
use crate::error::{Error, Result};
use crate::process;

mod backend;
mod checkpoint;
mod file_lock;
mod fk_probe;
mod open;
mod pool;
pub mod postgres;
mod statement;
#[cfg(test)]
mod tests;
mod transaction;
mod tx_options;
pub mod waits;

pub use backend::Backend;
pub(crate) use fk_probe::refine_error;
pub use pool::{PooledReader, StreamReader};
pub use statement::Rows;
pub(crate) use statement::{bind, collect_bound, owned_value, prepare, sqlite_order};
pub use tx_options::{Isolation, TxOptions};

use open::{configure_writer, open_connection};
use pool::ReaderPool;
use statement::{collect_rows, run_statement};
use transaction::{ensure_transaction_state, reject_transaction_control, starts_with_keyword};

/// Options for [`Engine::open`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a write waits for the lock (held by another process, or by a transaction on
    /// another thread) before it fails with `Error::Busy`, and a read for a pooled reader
    /// before it fails with `Error::ReadersBusy`.
    pub busy_timeout: Duration,
    /// The most pooled reader connections opened at once. 0 sends every read to the
    /// writer. Arrow streams read on connections of their own and do not count.
    pub max_readers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: Duration::from_secs(5),
            max_readers: 4,
        }
    }
}

/// The pragmas in force on the writer connection, as `strata doctor` reports them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub journal_mode: String,
    pub synchronous: String,
    pub foreign_keys: bool,
    pub busy_timeout: Duration,
    pub max_readers: usize,
}

/// A small per-thread number, so the writer can record which thread owns the open
/// transaction in an atomic (std's `ThreadId::as_u64` is unstable).
pub(crate) fn current_thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|token| *token)
}

struct WriterState {
    conn: Option<Conn>,
    /// 0: no transaction. 1: `BEGIN IMMEDIATE`. n > 1: n - 1 savepoints inside it.
    depth: u32,
    /// The sidecar strata processes queue on for the write lock (`file_lock`).
    lock_file: file_lock::LockFile,
}

pub struct Engine {
    path: String,
    options: Options,
    writer: Mutex<WriterState>,
    /// Signalled when a transaction ends, waking threads waiting to write.
    writer_released: Condvar,
    /// The thread token owning the open transaction, or 0. Duplicated outside the mutex so
    /// that readers can route themselves without touching the writer's lock.
    owner: AtomicU64,
    readers: ReaderPool,
    closed: AtomicBool,
    /// The fork generation and process id of the process that opened the engine: only
    /// that process may use it (see `process`).
    opened_in: u64,
    opened_by: u32,
}

impl Engine {
    /// Open (creating if needed) the database at `path`, or an in-memory database for
    /// `":memory:"`, and configure the writer connection.
    pub fn open(path: &str, options: Options) -> Result<Engine> {
        let in_memory = path == ":memory:";
        let writer = open_connection(path, true, options.busy_timeout)?;
        configure_writer(&writer, path, in_memory, options.busy_timeout)?;
        // An in-memory database is private to its connection, so readers could not see it.
        let max_readers = if in_memory { 0 } else { options.max_readers };
        Ok(Engine {
            path: path.to_owned(),
            readers: ReaderPool::new(path.to_owned(), max_readers, options.busy_timeout),
            options: Options {
                max_readers,
                ..options
            },
            writer: Mutex::new(WriterState {
                conn: Some(writer),
                depth: 0,
                lock_file: file_lock::LockFile::default(),
            }),
            writer_released: Condvar::new(),
            owner: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            opened_in: process::fork_generation(),
            opened_by: process::process_id(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the calling thread has a transaction open.
    pub fn in_transaction(&self) -> bool {
        self.owner.load(Ordering::Acquire) == current_thread_token()
    }

    /// Run one statement with `params` and return how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        reject_transaction_control(sql)?;
        self.with_writer(|conn, depth| {
            let changed = run_statement(conn, sql, params, |_| Ok(()))?;
            ensure_transaction_state(conn, depth)?;
            Ok(changed)
        })
    }

    /// Run a query and collect its rows. Read-only statements from a thread without an open
    /// transaction use a reader connection; everything else uses the writer.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        reject_transaction_control(sql)?;
        // Pragmas read and set per-connection state; whoever asks means the writer's.
        if !self.in_transaction() && !starts_with_keyword(sql, "PRAGMA") {
            if let Some(reader) = self.acquire_reader()? {
                let mut stmt = reader
                    .prepare_cached(sql)
                    .map_err(|e| Error::from_sqlite(e, sql))?;
                if stmt.readonly() {
                    return collect_rows(&reader, &mut stmt, sql, params);
                }
            }
        }
        self.with_writer(|conn, depth| {
            let mut stmt = conn
                .prepare_cached(sql)
                .map_err(|e| Error::from_sqlite(e, sql))?;
            let rows = collect_rows(conn, &mut stmt, sql, params)?;
            drop(stmt);
            ensure_transaction_state(conn, depth)?;
            Ok(rows)
        })
    }

    /// Run a statement once for each parameter row inside the calling thread's transaction.
    /// The caller opens the transaction (see `py_engine::execute_many`), so that it can
    /// convert rows chunk by chunk with the GIL released in between.
    pub fn execute_batch(&self, sql: &str, rows: &[Vec<Value>]) -> Result<u64> {
        reject_transaction_control(sql)?;
        self.with_writer(|conn, depth| {
            if depth == 0 {
                return Err(Error::Transaction(
                    "execute_batch runs inside a transaction; call begin() first".into(),
                ));
            }
            let mut stmt = conn
                .prepare_cached(sql)
                .map_err(|e| Error::from_sqlite(e, sql))?;
            let mut changed = 0;
            for params in rows {
                bind(&mut stmt, params)?;
                let mut result = stmt.raw_query();
                loop {
                    match result.next() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(err) => {
                            drop(result);
                            return Err(refine_error(
                                conn,
                                Error::from_sqlite(err, sql),
                                &mut stmt,
                            ));
                        }
                    }
                }
                changed += conn.changes();
            }
            Ok(changed)
        })
    }

    /// Run several `;`-separated statements without parameters (DDL, migrations). The script
    /// controls its own transactions; it must not leave one open.
    pub fn execute_script(&self, sql: &str) -> Result<()> {
        self.with_writer(|conn, depth| {
            let outcome = conn
                .execute_batch(sql)
                .map_err(|e| Error::from_sqlite(e, sql));
            ensure_transaction_state(conn, depth)?;
            outcome
        })
    }

    /// Run `f` on a connection that sees everything committed: a pooled reader, or the
    /// writer when the calling thread has a transaction open (so it sees its own writes) or
    /// the engine has no readers (an in-memory database).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if !self.in_transaction() {
            if let Some(reader) = self.acquire_reader()? {
                return f(&reader);
            }
        }
        self.with_writer(|conn, _| f(conn))
    }

    /// A new read-only connection that belongs to the caller alone. Per-connection state
    /// such as `PRAGMA data_version` (which changes when another connection commits) needs
    /// one connection polled over time, which a pooled reader cannot promise.
    pub fn dedicated_reader(&self) -> Result<Conn> {
        self.check_usable()?;
        if self.path == ":memory:" {
            return Err(Error::Transaction(
                "an in-memory database has one connection; use a file for this".into(),
            ));
        }
        self.readers.open_reader()
    }

    /// A read-only connection of its own for a reader that lives as long as its consumer
    /// wants (an Arrow stream that `DuckDB` may leave half-read): were it a pooled reader,
    /// a few such streams would starve every other read. It is opened like the pooled
    /// readers (same library, same busy handler, `query_only`) and counted while open, for
    /// `Error::ReadersBusy`. `None` for an in-memory database, whose one connection is the
    /// writer; read through `read` there.
    pub fn stream_reader(&self) -> Result<Option<StreamReader<'_>>> {
        self.check_usable()?;
        if self.path == ":memory:" {
            return Ok(None);
        }
        let conn = self.readers.open_reader()?;
        self.readers.open_streams.fetch_add(1, Ordering::Relaxed);
        Ok(Some(StreamReader {
            conn,
            open_streams: &self.readers.open_streams,
        }))
    }

    /// Close every connection. A transaction still open is rolled back. Later calls raise
    /// `Error::Closed`; closing twice is harmless. In a child after `fork()` nothing is
    /// closed or locked: the connections are the parent's (see `busy::Conn`), and a lock
    /// that another thread of the parent held at the fork stays held in the child forever.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if self.opened_in != process::fork_generation() {
            return;
        }
        let mut state = self.writer.lock();
        if let Some(conn) = state.conn.take() {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            drop(conn);
        }
        state.depth = 0;
        self.release_ownership();
        drop(state);
        self.readers.close();
    }

    pub fn settings(&self) -> Result<Settings> {
        self.with_writer(|conn, _| {
            let text = |pragma: &str| -> Result<String> {
                conn.query_row(&format!("PRAGMA {pragma}"), [], |row| {
                    row.get::<_, rusqlite::types::Value>(0)
                })
                .map(|value| match value {
                    Value::Text(text) => text,
                    Value::Integer(number) => number.to_string(),
                    other => format!("{other:?}"),
                })
                .map_err(|e| Error::from_sqlite(e, pragma))
            };
            let synchronous = match text("synchronous")?.as_str() {
                "0" => "OFF",
                "1" => "NORMAL",
                "2" => "FULL",
                "3" => "EXTRA",
                _ => "unknown",
            };
            Ok(Settings {
                journal_mode: text("journal_mode")?,
                synchronous: synchronous.to_owned(),
                foreign_keys: text("foreign_keys")? == "1",
                busy_timeout: self.options.busy_timeout,
                max_readers: self.options.max_readers,
            })
        })
    }

    /// Refuse calls on a closed engine, and on one inherited across `fork()`. Every path
    /// to a connection passes here, before it touches a lock (a child may have inherited
    /// a lock that a thread of its parent held at the fork).
    fn check_usable(&self) -> Result<()> {
        if self.opened_in != process::fork_generation() {
            return Err(Error::Forked {
                opened_by: self.opened_by,
                used_by: process::process_id(),
            });
        }
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// A pooled reader, or `None` when the engine has no readers (an in-memory database).
    fn acquire_reader(&self) -> Result<Option<PooledReader<'_>>> {
        self.check_usable()?;
        self.readers.acquire()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}
