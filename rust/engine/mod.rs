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

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Statement};

use crate::busy::Conn;
use crate::error::{ConstraintKind, Error, Result};
use crate::json_filter;
use crate::process;

/// How many prepared statements each connection keeps. Hot paths use a handful each;
/// raw SQL from applications rarely has more distinct statements than this.
const STATEMENT_CACHE_CAPACITY: usize = 256;

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

/// The result of a query: column names and rows of `SQLite` values.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
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
        configure_writer(&writer, path, in_memory)?;
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

    /// Open a transaction for the calling thread (`BEGIN IMMEDIATE`), or a savepoint inside
    /// the one it already has.
    pub fn begin(&self) -> Result<()> {
        let me = current_thread_token();
        let mut state = self.lock_writer_for(me)?;
        let conn = state.conn.as_ref().ok_or(Error::Closed)?;
        if state.depth == 0 {
            control(conn, "BEGIN IMMEDIATE").map_err(|e| self.busy_or(e))?;
            self.owner.store(me, Ordering::Release);
        } else {
            control(conn, &format!("SAVEPOINT strata_{}", state.depth))?;
        }
        state.depth += 1;
        Ok(())
    }

    /// Commit the innermost transaction level of the calling thread. When the outermost
    /// COMMIT fails (a deferred constraint, an I/O error), the transaction is rolled back so
    /// that none stays open.
    pub fn commit(&self) -> Result<()> {
        self.end_transaction(true)
    }

    /// Roll back the innermost transaction level of the calling thread.
    pub fn rollback(&self) -> Result<()> {
        self.end_transaction(false)
    }

    fn end_transaction(&self, commit: bool) -> Result<()> {
        let me = current_thread_token();
        if self.owner.load(Ordering::Acquire) != me {
            return Err(Error::Transaction(
                "this thread has no open transaction to end".into(),
            ));
        }
        let mut state = self.lock_writer_for(me)?;
        let conn = state.conn.as_ref().ok_or(Error::Closed)?;
        let savepoint = state.depth - 1;
        // SQLite rolls the whole transaction back by itself when a write statement in it
        // is interrupted (Ctrl-C) or fails with a full disk or an I/O error. Then there is
        // nothing left to end, and each level ends as the blocks unwind.
        let ended_by_sqlite = conn.is_autocommit();
        let outcome = match (savepoint, commit) {
            _ if ended_by_sqlite && !commit => Ok(()),
            _ if ended_by_sqlite => Err(Error::Transaction(
                "the transaction was already rolled back (a statement in it was interrupted \
                 or failed with a full disk or an I/O error); nothing was committed"
                    .into(),
            )),
            (0, true) => control(conn, "COMMIT").inspect_err(|_| {
                let _ = control(conn, "ROLLBACK");
            }),
            (0, false) => control(conn, "ROLLBACK"),
            (_, true) => control(conn, &format!("RELEASE strata_{savepoint}")),
            (_, false) => control(conn, &format!("ROLLBACK TO strata_{savepoint}"))
                .and_then(|()| control(conn, &format!("RELEASE strata_{savepoint}"))),
        };
        // A failed outermost COMMIT was rolled back above, so the level ends either way.
        if savepoint == 0 || ended_by_sqlite || outcome.is_ok() {
            state.depth -= 1;
        }
        if state.depth == 0 {
            self.release_ownership();
        }
        outcome
    }

    /// Run `f` on the writer inside a write transaction: a `BEGIN IMMEDIATE` ... `COMMIT` of
    /// its own, or a savepoint when the calling thread already has a transaction open, so
    /// that the work joins it. When `f` fails, its writes are rolled back and the error is
    /// returned. The hot paths (job claims, rate-limit hits, bulk inserts) are built on this:
    /// one call, one lock acquisition, no Python in between.
    pub fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let state = self.lock_writer_for(current_thread_token())?;
        let conn = state.conn.as_ref().ok_or(Error::Closed)?;
        let nested = state.depth > 0;
        let (open, keep, discard) = if nested {
            (
                "SAVEPOINT strata_write",
                "RELEASE strata_write",
                "ROLLBACK TO strata_write",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        control(conn, open).map_err(|e| self.busy_or(e))?;
        match f(conn) {
            Ok(value) => match control(conn, keep) {
                Ok(()) => Ok(value),
                Err(err) => {
                    let _ = control(conn, discard);
                    Err(self.busy_or(err))
                }
            },
            Err(err) => {
                let _ = control(conn, discard);
                if nested {
                    let _ = control(conn, "RELEASE strata_write");
                }
                Err(self.busy_or(err))
            }
        }
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

    /// Lock the writer for a statement from the calling thread. If another thread owns an
    /// open transaction, wait for it to end, at most for the busy timeout.
    fn with_writer<T>(&self, f: impl FnOnce(&Connection, u32) -> Result<T>) -> Result<T> {
        let state = self.lock_writer_for(current_thread_token())?;
        let conn = state.conn.as_ref().ok_or(Error::Closed)?;
        f(conn, state.depth).map_err(|e| self.busy_or(e))
    }

    fn lock_writer_for(&self, me: u64) -> Result<MutexGuard<'_, WriterState>> {
        self.check_usable()?;
        let started = Instant::now();
        // The mutex is held for one statement or one `write` closure at a time, or for a
        // whole stream on an in-memory database, so waiting for it is bounded too.
        let Some(mut state) = self.writer.try_lock_for(self.options.busy_timeout) else {
            return Err(Error::Busy {
                waited: started.elapsed(),
                holder: "a long statement (or an unread Arrow stream of an in-memory \
                         database) on another thread",
            });
        };
        loop {
            let owner = self.owner.load(Ordering::Acquire);
            if owner == 0 || owner == me {
                return Ok(state);
            }
            let waited = started.elapsed();
            let Some(remaining) = self.options.busy_timeout.checked_sub(waited) else {
                return Err(Error::Busy {
                    waited,
                    holder: "a transaction on another thread",
                });
            };
            self.writer_released.wait_for(&mut state, remaining);
            if self.is_closed() {
                return Err(Error::Closed);
            }
        }
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

    fn release_ownership(&self) {
        self.owner.store(0, Ordering::Release);
        self.writer_released.notify_all();
    }

    fn busy_or(&self, err: Error) -> Error {
        match err {
            Error::Busy { .. } => Error::Busy {
                waited: self.options.busy_timeout,
                holder: "another connection",
            },
            other => other,
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

/// Run a transaction-control statement. They run on every transaction, so they go through
/// the statement cache rather than being parsed each time.
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(|e| Error::from_sqlite(e, sql))
}

/// Transactions are managed by `begin` / `commit` / `rollback`, which track their depth.
/// Transaction-control SQL would silently desynchronise that bookkeeping, so it is refused
/// before it runs.
fn reject_transaction_control(sql: &str) -> Result<()> {
    const CONTROL: [&str; 6] = ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"];
    if let Some(keyword) = CONTROL.iter().find(|k| starts_with_keyword(sql, k)) {
        return Err(Error::Transaction(format!(
            "{keyword} is not allowed in raw SQL; use `with db.transaction_():`, which \
             opens BEGIN IMMEDIATE and nests savepoints"
        )));
    }
    Ok(())
}

/// Whether the statement's first word is `keyword` (ASCII, any case), without allocating.
fn starts_with_keyword(sql: &str, keyword: &str) -> bool {
    let sql = sql.trim_start();
    let word_length = sql
        .bytes()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(sql.len());
    sql[..word_length].eq_ignore_ascii_case(keyword)
}

/// Safety net behind `reject_transaction_control` (a comment before BEGIN, say): the
/// connection must be in a transaction exactly when the engine believes it is.
fn ensure_transaction_state(conn: &Connection, depth: u32) -> Result<()> {
    if depth == 0 && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(Error::Transaction(
            "the SQL left a transaction open, so it was rolled back; use \
             `with db.transaction_():` instead of BEGIN/COMMIT"
                .into(),
        ));
    }
    if depth > 0 && conn.is_autocommit() {
        return Err(Error::Transaction(
            "the SQL ended the transaction opened by db.transaction_()".into(),
        ));
    }
    Ok(())
}

pub(crate) fn bind(stmt: &mut Statement<'_>, params: &[Value]) -> Result<()> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(Error::ParameterCount {
            expected,
            given: params.len(),
        });
    }
    for (index, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(index + 1, value)
            .map_err(|e| Error::from_sqlite(e, ""))?;
    }
    Ok(())
}

/// Prepare (cached), bind and step `sql` to completion, handing each row to `on_row`.
/// Returns the number of rows changed.
fn run_statement(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    mut on_row: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<u64> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| Error::from_sqlite(e, sql))?;
    bind(&mut stmt, params)?;
    let readonly = stmt.readonly();
    let mut rows = stmt.raw_query();
    let stepped = loop {
        match rows.next() {
            Ok(Some(row)) => on_row(row)?,
            Ok(None) => break Ok(()),
            Err(err) => break Err(Error::from_sqlite(err, sql)),
        }
    };
    drop(rows);
    match stepped {
        Ok(()) if readonly => Ok(0),
        Ok(()) => Ok(conn.changes()),
        Err(err) => Err(refine_error(conn, err, &mut stmt)),
    }
}

fn collect_rows(
    conn: &Connection,
    stmt: &mut Statement<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Rows> {
    bind(stmt, params)?;
    collect_bound(conn, stmt, sql)
}

/// Step a statement whose parameters are already bound and collect its rows.
pub(crate) fn collect_bound(
    conn: &Connection,
    stmt: &mut Statement<'_>,
    sql: &str,
) -> Result<Rows> {
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let mut out = Vec::new();
    let mut rows = stmt.raw_query();
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                let mut values = Vec::with_capacity(width);
                for index in 0..width {
                    let value = row.get_ref(index).map_err(|e| Error::from_sqlite(e, sql))?;
                    values.push(owned_value(value));
                }
                out.push(values);
            }
            Ok(None) => break,
            Err(err) => {
                drop(rows);
                return Err(refine_error(conn, Error::from_sqlite(err, sql), stmt));
            }
        }
    }
    Ok(Rows { columns, rows: out })
}

/// `SQLite` does not enforce UTF-8 in TEXT; invalid bytes are replaced rather than failing
/// the whole query.
pub(crate) fn owned_value(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(number) => Value::Integer(number),
        ValueRef::Real(number) => Value::Real(number),
        ValueRef::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    }
}

/// Add what `SQLite`'s message leaves out. For a foreign-key failure `SQLite` says only
/// "FOREIGN KEY constraint failed"; Prisma's P2003 names the field, and so do we. `stmt` is
/// the statement that failed, its values still bound: positional or named (the queue's),
/// they are what the probe re-runs.
pub(crate) fn refine_error(conn: &Connection, err: Error, stmt: &mut Statement<'_>) -> Error {
    match err {
        Error::Constraint {
            kind: ConstraintKind::ForeignKey,
            ..
        } => describe_foreign_key_failure(conn, stmt).unwrap_or(err),
        other => other,
    }
}

/// Find which foreign key a failed statement violated: re-run it inside a savepoint with
/// foreign-key checks deferred, ask `foreign_key_check` which rows now violate which key,
/// and roll the savepoint back. Nothing the probe does survives it. Returns `None` when the
/// probe cannot tell, and the caller keeps `SQLite`'s own message. With checks deferred
/// `SQLite` also skips `ON DELETE RESTRICT` actions, so a parent row still referenced through
/// one is found the same way: its child row is what `foreign_key_check` reports.
fn describe_foreign_key_failure(conn: &Connection, stmt: &mut Statement<'_>) -> Option<Error> {
    let outer_transaction = !conn.is_autocommit();
    conn.execute_batch("SAVEPOINT strata_fk_probe; PRAGMA defer_foreign_keys = ON")
        .ok()?;
    let probe = (|| -> rusqlite::Result<Option<(String, String, i64)>> {
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
        drop(rows);
        conn.query_row("PRAGMA foreign_key_check", [], |row| {
            Ok((row.get(0)?, row.get(2)?, row.get(3)?))
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })
    })();
    let _ = conn.execute_batch(
        "PRAGMA defer_foreign_keys = OFF; ROLLBACK TO strata_fk_probe; RELEASE strata_fk_probe",
    );
    debug_assert_eq!(outer_transaction, !conn.is_autocommit());
    let (table, parent, key_id) = probe.ok()??;

    let mut stmt = conn
        .prepare(
            "SELECT \"from\", \"to\" FROM pragma_foreign_key_list(?1) WHERE id = ?2 ORDER BY seq",
        )
        .ok()?;
    let pairs: Vec<(String, Option<String>)> = stmt
        .query_map(rusqlite::params![table, key_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .ok()?
        .collect::<rusqlite::Result<_>>()
        .ok()?;
    let columns = pairs.iter().map(|(from, _)| from.clone()).collect();
    // "to" is NULL when the key references the parent's primary key implicitly.
    let parent_columns = pairs.into_iter().filter_map(|(_, to)| to).collect();
    Some(Error::Constraint {
        kind: ConstraintKind::ForeignKey,
        table: Some(table),
        columns,
        references: Some((parent, parent_columns)),
        message: "FOREIGN KEY constraint failed".into(),
    })
}

fn open_connection(path: &str, writer: bool, busy_timeout: Duration) -> Result<Conn> {
    // NO_MUTEX: the engine serialises access itself, so SQLite's per-connection mutex would
    // only add cost.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, &e))?;
    let conn = Conn::new(conn, busy_timeout).map_err(|e| open_error(path, &e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // The client's Json filters call it; every connection, reader or writer, may run them.
    json_filter::register(&conn).map_err(|e| open_error(path, &e))?;
    Ok(conn)
}

fn configure_writer(conn: &Connection, path: &str, in_memory: bool) -> Result<()> {
    // The first statement reads the file header, so a file that is not a database fails
    // here, before anything is written to it.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| open_error(path, &e))?;
    if !in_memory && !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Open {
            path: path.to_owned(),
            reason: format!(
                "the file system refused WAL mode (journal_mode is '{mode}'); strata needs \
                 WAL so that readers never block the writer"
            ),
        });
    }
    // SAFETY: the handle is only passed to sqlite3_db_readonly, which does not retain it.
    let readonly = unsafe { rusqlite::ffi::sqlite3_db_readonly(conn.handle(), c"main".as_ptr()) };
    if readonly == 1 {
        return Err(Error::Open {
            path: path.to_owned(),
            reason: "the file is read-only for this user".into(),
        });
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        .map_err(|e| open_error(path, &e))
}

fn open_error(path: &str, err: &rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let std_path = std::path::Path::new(path);
    let code = err.sqlite_error_code();
    let reason = match code {
        Some(ErrorCode::NotADatabase) => "the file is not a SQLite database".to_owned(),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            match std_path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => {
                    format!("the directory '{}' does not exist", dir.display())
                }
                _ if std_path.is_dir() => "the path is a directory".to_owned(),
                _ => match std::fs::File::open(std_path) {
                    Err(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                        "permission denied: the file is not readable by this user".to_owned()
                    }
                    _ => err.to_string(),
                },
            }
        }
        _ => err.to_string(),
    };
    Error::Open {
        path: path.to_owned(),
        reason,
    }
}

/// Reader connections, opened on demand up to a limit and reused.
struct ReaderPool {
    path: String,
    max: usize,
    busy_timeout: Duration,
    /// Idle connections, and how many are open in all (idle or checked out).
    idle: Mutex<(Vec<Conn>, usize)>,
    returned: Condvar,
    closed: AtomicBool,
    /// Stream readers open now (`Engine::stream_reader`), outside the pool.
    open_streams: AtomicUsize,
}

/// A connection of its own for one long-lived reader (`Engine::stream_reader`), closed
/// when dropped.
pub struct StreamReader<'a> {
    conn: Conn,
    open_streams: &'a AtomicUsize,
}

impl std::ops::Deref for StreamReader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Drop for StreamReader<'_> {
    fn drop(&mut self) {
        self.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A reader checked out of the pool; it goes back when dropped.
pub struct PooledReader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Conn>,
}

impl std::ops::Deref for PooledReader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn);
        }
    }
}

impl ReaderPool {
    fn new(path: String, max: usize, busy_timeout: Duration) -> Self {
        ReaderPool {
            path,
            max,
            busy_timeout,
            idle: Mutex::new((Vec::new(), 0)),
            returned: Condvar::new(),
            closed: AtomicBool::new(false),
            open_streams: AtomicUsize::new(0),
        }
    }

    /// A reader, or `None` when the pool has no readers at all. When every reader is
    /// checked out, waits for one to come back, at most for the busy timeout.
    fn acquire(&self) -> Result<Option<PooledReader<'_>>> {
        if self.max == 0 {
            return Ok(None);
        }
        let mut deadline = None;
        let mut guard = self.idle.lock();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let (idle, opened) = &mut *guard;
            if let Some(conn) = idle.pop() {
                return Ok(Some(PooledReader {
                    pool: self,
                    conn: Some(conn),
                }));
            }
            if *opened < self.max {
                *opened += 1;
                drop(guard);
                return match self.open_reader() {
                    Ok(conn) => Ok(Some(PooledReader {
                        pool: self,
                        conn: Some(conn),
                    })),
                    Err(err) => {
                        self.idle.lock().1 -= 1;
                        Err(err)
                    }
                };
            }
            let until = *deadline.get_or_insert_with(|| Instant::now() + self.busy_timeout);
            if self.returned.wait_until(&mut guard, until).timed_out()
                && guard.0.is_empty()
                && guard.1 >= self.max
            {
                return Err(Error::ReadersBusy {
                    waited: self.busy_timeout,
                    readers: self.max,
                    streams: self.open_streams.load(Ordering::Relaxed),
                });
            }
        }
    }

    fn open_reader(&self) -> Result<Conn> {
        let conn = open_connection(&self.path, false, self.busy_timeout)?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| open_error(&self.path, &e))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Conn) {
        let mut guard = self.idle.lock();
        if self.closed.load(Ordering::Acquire) {
            // The engine closed while this reader was out: close it instead of pooling it.
            guard.1 -= 1;
            drop(conn);
        } else {
            guard.0.push(conn);
        }
        drop(guard);
        self.returned.notify_one();
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut guard = self.idle.lock();
        let count = guard.0.len();
        guard.0.clear();
        guard.1 -= count;
        drop(guard);
        self.returned.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `err` is the foreign-key error of the `child.parentId -> parent.id` relation, named.
    fn assert_names_child_to_parent(err: Error) {
        match err {
            Error::Constraint {
                kind: ConstraintKind::ForeignKey,
                table,
                columns,
                references,
                ..
            } => {
                assert_eq!(table.as_deref(), Some("child"));
                assert_eq!(columns, vec!["parentId"]);
                assert_eq!(references, Some(("parent".into(), vec!["id".into()])));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn temp_db(name: &str) -> (tempdir::Dir, String) {
        let dir = tempdir::Dir::new(name);
        let path = dir.path.join("test.db").to_string_lossy().into_owned();
        (dir, path)
    }

    /// A throwaway directory, removed on drop (avoids a dev-dependency for one helper).
    mod tempdir {
        pub struct Dir {
            pub path: std::path::PathBuf,
        }
        impl Dir {
            pub fn new(name: &str) -> Dir {
                let path =
                    std::env::temp_dir().join(format!("strata-core-{name}-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&path);
                std::fs::create_dir_all(&path).unwrap();
                Dir { path }
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }

    fn engine(path: &str) -> Engine {
        Engine::open(path, Options::default()).unwrap()
    }

    #[test]
    fn pragmas_are_in_force() {
        let (_dir, path) = temp_db("pragmas");
        let settings = engine(&path).settings().unwrap();
        assert_eq!(settings.journal_mode, "wal");
        assert_eq!(settings.synchronous, "NORMAL");
        assert!(settings.foreign_keys);
    }

    #[test]
    fn nested_transactions_use_savepoints() {
        let (_dir, path) = temp_db("nested");
        let db = engine(&path);
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        db.begin().unwrap();
        db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        db.begin().unwrap();
        db.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
        db.rollback().unwrap();
        db.commit().unwrap();
        let rows = db.query("SELECT x FROM t", &[]).unwrap();
        assert_eq!(rows.rows, vec![vec![Value::Integer(1)]]);
        assert!(!db.in_transaction());
    }

    #[test]
    fn raw_transaction_control_is_refused() {
        let (_dir, path) = temp_db("control");
        let db = engine(&path);
        assert!(matches!(
            db.execute("  begin", &[]),
            Err(Error::Transaction(_))
        ));
        // A comment hides BEGIN from the keyword check; the state check still rolls it back.
        assert!(matches!(
            db.execute("/* sneaky */ BEGIN", &[]),
            Err(Error::Transaction(_))
        ));
        db.begin().unwrap();
        db.commit().unwrap();
    }

    #[test]
    fn reads_inside_a_transaction_see_its_writes() {
        let (_dir, path) = temp_db("own-writes");
        let db = engine(&path);
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        db.begin().unwrap();
        db.execute("INSERT INTO t VALUES (?1)", &[Value::Integer(7)])
            .unwrap();
        let rows = db.query("SELECT count(*) FROM t", &[]).unwrap();
        assert_eq!(rows.rows[0][0], Value::Integer(1));
        db.rollback().unwrap();
    }

    #[test]
    fn foreign_key_failures_name_the_columns() {
        let (_dir, path) = temp_db("fk");
        let db = engine(&path);
        db.execute_script(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                                 parentId INTEGER REFERENCES parent (id));",
        )
        .unwrap();
        let err = db
            .execute(
                "INSERT INTO child (parentId) VALUES (?1)",
                &[Value::Integer(9)],
            )
            .unwrap_err();
        assert_names_child_to_parent(err);
        let rows = db.query("SELECT count(*) FROM child", &[]).unwrap();
        assert_eq!(
            rows.rows[0][0],
            Value::Integer(0),
            "the probe left nothing behind"
        );
    }

    #[test]
    fn statements_with_named_parameters_have_their_foreign_key_named() {
        // The queue binds by name; the probe re-runs the statement with those bindings.
        let (_dir, path) = temp_db("fk-named");
        let db = engine(&path);
        db.execute_script(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                                 parentId INTEGER REFERENCES parent (id));",
        )
        .unwrap();
        let err = db
            .write(|conn| {
                let sql = "INSERT INTO child (parentId) VALUES (:parent) RETURNING id";
                let mut stmt = conn.prepare(sql).unwrap();
                let index = stmt.parameter_index(":parent").unwrap().unwrap();
                stmt.raw_bind_parameter(index, 9).unwrap();
                collect_bound(conn, &mut stmt, sql)
            })
            .unwrap_err();
        assert!(
            matches!(&err, Error::Constraint { kind: ConstraintKind::ForeignKey, table: Some(t), .. } if t == "child"),
            "{err:?}"
        );
    }

    #[test]
    fn a_restrict_action_is_a_foreign_key_failure() {
        // RESTRICT fails as a trigger program does; it is still a foreign key's failure.
        let (_dir, path) = temp_db("fk-restrict");
        let db = engine(&path);
        db.execute_script(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                                 parentId INTEGER REFERENCES parent (id) ON DELETE RESTRICT);
             INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1);",
        )
        .unwrap();
        let err = db
            .execute("DELETE FROM parent WHERE id = ?1", &[Value::Integer(1)])
            .unwrap_err();
        assert_names_child_to_parent(err);
        assert!(!db.in_transaction());
        let rows = db.query("SELECT count(*) FROM parent", &[]).unwrap();
        assert_eq!(rows.rows[0][0], Value::Integer(1));
    }

    #[test]
    fn unique_failures_name_table_and_columns() {
        let (_dir, path) = temp_db("unique");
        let db = engine(&path);
        db.execute_script(
            "CREATE TABLE u (a TEXT, b TEXT, UNIQUE (a, b)); INSERT INTO u VALUES ('x', 'y');",
        )
        .unwrap();
        let err = db
            .execute("INSERT INTO u VALUES ('x', 'y')", &[])
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Constraint { kind: ConstraintKind::Unique, ref table, ref columns, .. }
                if table.as_deref() == Some("u") && columns == &["a", "b"]
        ));
    }

    #[test]
    fn pragmas_read_the_writers_settings() {
        let (_dir, path) = temp_db("pragma-route");
        let db = engine(&path);
        db.execute("PRAGMA foreign_keys = OFF", &[]).unwrap();
        let rows = db.query("pragma foreign_keys", &[]).unwrap();
        assert_eq!(rows.rows, vec![vec![Value::Integer(0)]]);
    }

    #[test]
    fn closed_engine_refuses_calls() {
        let (_dir, path) = temp_db("closed");
        let db = engine(&path);
        db.close();
        assert!(matches!(db.query("SELECT 1", &[]), Err(Error::Closed)));
        assert!(matches!(db.begin(), Err(Error::Closed)));
        db.close();
    }

    fn count(db: &Engine) -> Value {
        db.query("SELECT count(*) FROM t", &[]).unwrap().rows[0][0].clone()
    }

    #[test]
    fn write_commits_its_own_transaction_and_rolls_back_on_failure() {
        let (_dir, path) = temp_db("write-own");
        let db = engine(&path);
        db.execute("CREATE TABLE t (x INTEGER UNIQUE)", &[])
            .unwrap();
        db.write(|conn| {
            conn.execute("INSERT INTO t VALUES (1)", [])
                .map_err(|e| Error::from_sqlite(e, ""))
        })
        .unwrap();
        let failed = db.write(|conn| {
            conn.execute("INSERT INTO t VALUES (2)", [])
                .and_then(|_| conn.execute("INSERT INTO t VALUES (1)", []))
                .map_err(|e| Error::from_sqlite(e, ""))
        });
        assert!(matches!(failed, Err(Error::Constraint { .. })));
        assert_eq!(count(&db), Value::Integer(1));
        assert!(!db.in_transaction());
        // The writer is usable afterwards: no transaction was left open.
        db.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
    }

    #[test]
    fn write_joins_the_callers_transaction_as_a_savepoint() {
        let (_dir, path) = temp_db("write-nested");
        let db = engine(&path);
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        db.begin().unwrap();
        db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        let failed: Result<()> = db.write(|conn| {
            conn.execute("INSERT INTO t VALUES (2)", [])
                .map_err(|e| Error::from_sqlite(e, ""))?;
            Err(Error::Transaction("abandon".into()))
        });
        assert!(failed.is_err());
        db.write(|conn| {
            conn.execute("INSERT INTO t VALUES (3)", [])
                .map_err(|e| Error::from_sqlite(e, ""))
        })
        .unwrap();
        // Only the failed savepoint was undone; the outer transaction decides the rest.
        assert_eq!(count(&db), Value::Integer(2));
        db.rollback().unwrap();
        assert_eq!(count(&db), Value::Integer(0));
    }

    #[test]
    fn waiting_for_a_pooled_reader_is_bounded_and_streams_hold_none() {
        let (_dir, path) = temp_db("pool-busy");
        let options = Options {
            busy_timeout: Duration::from_millis(200),
            max_readers: 2,
        };
        let db = Engine::open(&path, options).unwrap();
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        // Streams read on connections of their own: any number leaves the pool free.
        let streams: Vec<_> = (0..3)
            .map(|_| db.stream_reader().unwrap().unwrap())
            .collect();
        assert_eq!(
            db.query("SELECT count(*) FROM t", &[]).unwrap().rows.len(),
            1
        );
        // Readers held elsewhere for longer than the busy timeout: the next read gives up.
        let held: Vec<_> = (0..2)
            .map(|_| db.acquire_reader().unwrap().unwrap())
            .collect();
        let started = Instant::now();
        let err = db.query("SELECT count(*) FROM t", &[]).unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(
                err,
                Error::ReadersBusy {
                    readers: 2,
                    streams: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(waited >= Duration::from_millis(190), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        drop(held);
        drop(streams);
        assert_eq!(db.readers.open_streams.load(Ordering::Relaxed), 0);
        db.query("SELECT count(*) FROM t", &[]).unwrap();
    }

    #[test]
    fn a_reader_returned_while_waiting_is_taken() {
        let (_dir, path) = temp_db("pool-wait");
        let options = Options {
            busy_timeout: Duration::from_secs(10),
            max_readers: 1,
        };
        let db = Engine::open(&path, options).unwrap();
        let held = db.acquire_reader().unwrap().unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| db.query("SELECT 1", &[]).map(|rows| rows.rows));
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
            assert_eq!(
                waiter.join().unwrap().unwrap(),
                vec![vec![Value::Integer(1)]]
            );
        });
    }

    #[test]
    fn a_transaction_sqlite_rolled_back_ends_cleanly() {
        let (_dir, path) = temp_db("interrupted");
        let db = engine(&path);
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        db.begin().unwrap();
        db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        db.begin().unwrap();
        // An interrupted write makes SQLite roll back the whole transaction itself.
        let err = db
            .write(|conn| {
                let handle = conn.get_interrupt_handle();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    handle.interrupt();
                });
                conn.execute(
                    "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                     SELECT x + 1 FROM c WHERE x < 1000000000) SELECT x FROM c",
                    [],
                )
                .map_err(|e| Error::from_sqlite(e, ""))
            })
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted), "{err:?}");
        assert!(matches!(db.commit(), Err(Error::Transaction(_))));
        db.rollback().unwrap();
        assert!(!db.in_transaction());
        assert_eq!(count(&db), Value::Integer(0));
        db.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
        assert_eq!(count(&db), Value::Integer(1));
    }

    #[test]
    fn dedicated_reader_sees_commits_through_data_version() {
        let (_dir, path) = temp_db("data-version");
        let db = engine(&path);
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        let reader = db.dedicated_reader().unwrap();
        let version = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA data_version", [], |row| row.get(0))
                .unwrap()
        };
        let before = version(&reader);
        assert_eq!(version(&reader), before);
        db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        assert_ne!(version(&reader), before);
    }
}
