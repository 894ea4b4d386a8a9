//! The PostgreSQL engine: a pool of server connections behind the same calls as the
//! `SQLite` engine (`execute`, `query`, `execute_batch`, `execute_script`, `begin`,
//! `commit`, `rollback`, `close`).
//!
//! * **Transactions belong to threads.** `begin` lends the calling thread a connection of
//!   its own for the whole block (`BEGIN ISOLATION LEVEL READ COMMITTED`, nested blocks as
//!   savepoints); that thread's statements run on it, everyone else's on the pool. Unlike
//!   `SQLite`, transactions on different threads run at the same time.
//! * **A failed statement aborts the block.** PostgreSQL refuses every later statement of a
//!   transaction in which one failed, and a COMMIT then rolls back without an error. The
//!   engine remembers the failure, so the block's end rolls back and says so instead of
//!   reporting a commit that did not happen.
//! * **Prepared statements are cached** per connection, and forgotten after DDL run through
//!   the engine (which can change the columns a statement returns).
//! * **Broken connections are dropped.** A statement on a connection the server closed
//!   fails with `Error::ConnectionLost`; the connection is not reused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use postgres::types::ToSql;
use postgres::Statement;

use super::current_thread_token;
use super::transaction::{reject_transaction_control, starts_with_keyword};
use super::{Isolation, TxOptions};
use crate::error::{Error, Result};
use crate::process;

mod binary;
mod copy;
mod error;
pub mod named;
mod pool;
#[cfg(test)]
mod tests;
mod tls;
pub mod url;
pub mod value;

use error::from_postgres;
pub use pool::PoolStats;
use pool::{PgConn, Pool};
pub use value::{Cell, Param};

/// For the core's features that run the driver themselves (`PgEngine::with_client`).
pub use error::from_postgres as driver_error;

/// A query's result: column names, and rows of decoded values.
#[derive(Debug, Default)]
pub struct PgRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The connection a thread's open transaction runs on.
struct Held {
    /// None once the engine was closed under the transaction.
    conn: Option<PgConn>,
    /// 1: the transaction itself. n > 1: n - 1 savepoints inside it.
    depth: u32,
    isolation: Isolation,
    /// The block's `timeout=`, and when it runs out.
    timeout: Option<(Duration, Instant)>,
    /// The `statement_timeout` the block's connection has now (with a timeout only).
    statement_bound: Duration,
}

impl Held {
    fn expired(&self) -> Option<Error> {
        self.timeout
            .filter(|(_, deadline)| Instant::now() >= *deadline)
            .map(|(timeout, _)| Error::TransactionTimeout { timeout })
    }

    /// Before a statement of the block: past the deadline, refuse it and abort the block;
    /// else make sure the server stops it by the deadline. The bound is lowered to the time
    /// left only once that is under nine tenths of it, so a block that runs well within
    /// its timeout pays no extra round trip, and one statement overruns the deadline by a
    /// ninth of the time left at most.
    fn before_statement(&mut self) -> Result<()> {
        let Some((_, deadline)) = self.timeout else {
            return Ok(());
        };
        let expired = self.expired();
        let conn = self.conn.as_mut().ok_or(Error::Closed)?;
        if let Some(expired) = expired {
            // Nothing more runs in the block; its end rolls it back.
            conn.aborted = true;
            return Err(expired);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.as_secs_f64() < self.statement_bound.as_secs_f64() * 0.9 {
            let millis = left.as_millis().clamp(1, i32::MAX as u128);
            let outcome = control(conn, &format!("SET LOCAL statement_timeout = {millis}"));
            note_failure(conn, &outcome);
            outcome.map_err(|err| explain(self.timeout, err))?;
            self.statement_bound = left;
        }
        Ok(())
    }
}

/// A statement the server cancelled for the `statement_timeout` a block with a timeout
/// set (SQLSTATE 57014) ran out of that timeout; so did a session ended past the deadline.
fn explain(timeout: Option<(Duration, Instant)>, err: Error) -> Error {
    let Some((timeout, deadline)) = timeout else {
        return err;
    };
    let cancelled = matches!(&err, Error::Postgres { sqlstate: Some(code), .. } if code == "57014");
    let lost = matches!(err, Error::ConnectionLost { .. }) && Instant::now() >= deadline;
    if cancelled || lost {
        return Error::TransactionTimeout { timeout };
    }
    err
}

pub struct PgEngine {
    pool: Pool,
    transactions: Mutex<HashMap<u64, Arc<Mutex<Held>>>>,
    /// Moves on whenever DDL runs, so connections drop their prepared statements.
    schema_generation: AtomicU64,
    closed: AtomicBool,
    opened_in: u64,
    opened_by: u32,
}

impl PgEngine {
    /// Connect to the server a Prisma URL names. `max_connections` (else the URL's
    /// `connection_limit`, else Prisma's default of twice the cores plus one) bounds the
    /// pool; `busy_timeout` (else the URL's `pool_timeout`) is how long a call waits for a
    /// free connection. One connection is opened now, so a wrong URL fails here.
    pub fn open(url: &str, max_connections: Option<usize>, busy_timeout: Duration) -> Result<Self> {
        let target = url::parse(url)?;
        let limit = max_connections
            .or(target.connection_limit)
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get) * 2 + 1
            })
            .max(1);
        let wait = target.pool_timeout.unwrap_or(busy_timeout);
        let pool = Pool::new(target, limit, wait);
        let first = pool.acquire()?;
        pool.release(first);
        Ok(PgEngine {
            pool,
            transactions: Mutex::new(HashMap::new()),
            schema_generation: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            opened_in: process::fork_generation(),
            opened_by: process::process_id(),
        })
    }

    /// The URL without its password.
    pub fn display_url(&self) -> &str {
        &self.pool.target().display
    }

    pub fn connection_limit(&self) -> usize {
        self.pool.limit
    }

    pub fn pool_timeout(&self) -> Duration {
        self.pool.wait
    }

    /// The pool's connections now: open, idle, lent out, and callers waiting for one.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    pub fn schema(&self) -> &str {
        &self.pool.target().schema
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn in_transaction(&self) -> bool {
        self.transactions
            .lock()
            .contains_key(&current_thread_token())
    }

    /// Run `f` on a driver connection: the calling thread's transaction connection, or a
    /// pooled one lent for the call. For the core's features that stream rows through
    /// `postgres::Client::query_raw` (metric aggregation, rollups) rather than collecting
    /// them; a failure counts as a failed statement of the transaction, as in `execute`.
    pub fn with_client<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T>) -> Result<T> {
        self.with_conn(|conn, _, _| f(&mut conn.client))
    }

    /// Run one statement and return how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[Param]) -> Result<u64> {
        reject_transaction_control(sql)?;
        if ["CREATE", "ALTER", "DROP"]
            .iter()
            .any(|keyword| starts_with_keyword(sql, keyword))
        {
            self.schema_generation.fetch_add(1, Ordering::AcqRel);
        }
        self.with_conn(|conn, generation, retry| {
            run(
                conn,
                sql,
                params,
                generation,
                self.cache_size(),
                retry,
                |client, statement, refs| client.execute(statement, refs),
            )
        })
    }

    /// Run a query and collect its rows.
    pub fn query(&self, sql: &str, params: &[Param]) -> Result<PgRows> {
        self.query_with(sql, || Ok(params.to_vec()))
    }

    /// `query`, with the parameters made by `params` once a connection is in hand: a
    /// statement stamped with the time (a lease) does not carry the time spent waiting
    /// for the pool.
    pub fn query_with(
        &self,
        sql: &str,
        params: impl FnOnce() -> Result<Vec<Param>>,
    ) -> Result<PgRows> {
        reject_transaction_control(sql)?;
        self.with_conn(|conn, generation, retry| {
            let params = params()?;
            let params = params.as_slice();
            let mut columns = Vec::new();
            let rows = run(
                conn,
                sql,
                params,
                generation,
                self.cache_size(),
                retry,
                |client, statement, refs| {
                    columns = statement
                        .columns()
                        .iter()
                        .map(|c| c.name().to_owned())
                        .collect();
                    client.query(statement, refs)
                },
            )?;
            let rows = rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|index| {
                            row.try_get::<_, Cell>(index).map_err(|err| Error::Sql {
                                message: format!(
                                    "column \"{}\": {}",
                                    columns[index],
                                    std::error::Error::source(&err)
                                        .map_or_else(|| err.to_string(), ToString::to_string)
                                ),
                                sql: sql.to_owned(),
                            })
                        })
                        .collect::<Result<Vec<Cell>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(PgRows { columns, rows })
        })
    }

    /// Run a statement once per parameter row inside the calling thread's transaction
    /// (the caller opens it, as for `SQLite`).
    pub fn execute_batch(&self, sql: &str, rows: &[Vec<Param>]) -> Result<u64> {
        reject_transaction_control(sql)?;
        let held = self.held_by(current_thread_token()).ok_or_else(|| {
            Error::Transaction("execute_batch runs inside a transaction; call begin() first".into())
        })?;
        let mut held = held.lock();
        let timeout = held.timeout;
        let generation = self.schema_generation.load(Ordering::Acquire);
        let mut changed = 0;
        for params in rows {
            held.before_statement()?;
            let conn = held.conn.as_mut().ok_or(Error::Closed)?;
            let outcome = run(
                conn,
                sql,
                params,
                generation,
                self.cache_size(),
                false,
                |client, statement, refs| client.execute(statement, refs),
            );
            note_failure(conn, &outcome);
            changed += outcome.map_err(|err| explain(timeout, err))?;
        }
        Ok(changed)
    }

    /// Run `;`-separated statements without parameters, in one round trip. Outside a
    /// transaction the script may manage its own, but must not leave one open.
    pub fn execute_script(&self, sql: &str) -> Result<()> {
        self.schema_generation.fetch_add(1, Ordering::AcqRel);
        let in_transaction = self.in_transaction();
        self.with_conn(|conn, _, _| {
            let outcome = conn
                .client
                .batch_execute(sql)
                .map_err(|err| from_postgres(&err, sql));
            if !in_transaction && outcome.is_ok() && left_transaction_open(conn)? {
                let _ = conn.client.batch_execute("ROLLBACK");
                return Err(Error::Transaction(
                    "the script left a transaction open, so it was rolled back; end it in \
                     the script or use `with db.transaction_():`"
                        .into(),
                ));
            }
            outcome
        })
    }

    /// Open a transaction for the calling thread, or a savepoint inside the one it has.
    pub fn begin(&self) -> Result<()> {
        self.begin_with(TxOptions::default())
    }

    /// `begin` with an isolation level (read committed when None) and a timeout for the
    /// whole block. The timeout is the server's `statement_timeout` and
    /// `idle_in_transaction_session_timeout` for the block (so neither a long statement nor
    /// a stalled caller holds locks past it) and a deadline the engine checks before each
    /// statement and at commit. A nested block (a savepoint) runs in its outer
    /// transaction: it may repeat the outer level but not ask for another, nor a timeout.
    pub fn begin_with(&self, options: TxOptions) -> Result<()> {
        self.check_usable()?;
        let me = current_thread_token();
        if let Some(held) = self.held_by(me) {
            let mut held = held.lock();
            if let Some(asked) = options.isolation.filter(|asked| *asked != held.isolation) {
                return Err(Error::Transaction(format!(
                    "a nested transaction block runs in its outer transaction, which is {}; \
                     it cannot be {} (give the level to the outermost block)",
                    held.isolation.name(),
                    asked.name()
                )));
            }
            if options.timeout.is_some() {
                return Err(Error::Transaction(
                    "a nested transaction block cannot have a timeout of its own; give \
                     timeout= to the outermost block"
                        .into(),
                ));
            }
            if let Some(expired) = held.expired() {
                return Err(expired);
            }
            let depth = held.depth;
            let conn = held.conn.as_mut().ok_or(Error::Closed)?;
            control(conn, &format!("SAVEPOINT strata_{depth}"))?;
            held.depth += 1;
            return Ok(());
        }
        let isolation = options.isolation.unwrap_or(Isolation::ReadCommitted);
        let sql = match options.timeout {
            Some(timeout) => {
                let millis = timeout.as_millis().clamp(1, i32::MAX as u128);
                format!(
                    "BEGIN ISOLATION LEVEL {}; SET LOCAL statement_timeout = {millis}; \
                     SET LOCAL idle_in_transaction_session_timeout = {millis}",
                    isolation.sql()
                )
            }
            None => format!("BEGIN ISOLATION LEVEL {}", isolation.sql()),
        };
        let mut conn = self.acquire()?;
        let started = Instant::now();
        if let Err(err) = control(&mut conn, &sql) {
            conn.broken |= matches!(err, Error::ConnectionLost { .. });
            self.pool.release(conn);
            return Err(err);
        }
        let held = Held {
            conn: Some(conn),
            depth: 1,
            isolation,
            timeout: options.timeout.zip(options.deadline(started)),
            statement_bound: options.timeout.unwrap_or_default(),
        };
        self.transactions
            .lock()
            .insert(me, Arc::new(Mutex::new(held)));
        Ok(())
    }

    /// Commit the innermost level of the calling thread's transaction.
    pub fn commit(&self) -> Result<()> {
        self.end_transaction(true)
    }

    /// Roll back the innermost level of the calling thread's transaction.
    pub fn rollback(&self) -> Result<()> {
        self.end_transaction(false)
    }

    fn end_transaction(&self, commit: bool) -> Result<()> {
        let me = current_thread_token();
        let held = self.held_by(me).ok_or_else(|| {
            Error::Transaction("this thread has no open transaction to end".into())
        })?;
        let mut held = held.lock();
        let savepoint = held.depth - 1;
        // Past the deadline the block is rolled back, whatever was asked.
        let expired = if commit { held.expired() } else { None };
        let Some(conn) = held.conn.as_mut() else {
            self.transactions.lock().remove(&me);
            return Err(Error::Closed);
        };
        // A failed statement aborted the level: the only way out is to roll it back, and a
        // commit asked for must not look as if it happened.
        let aborted = std::mem::take(&mut conn.aborted) || expired.is_some();
        let outcome = match (savepoint, commit && !aborted) {
            (0, true) => control(conn, "COMMIT"),
            (0, false) => control(conn, "ROLLBACK"),
            (_, true) => control(conn, &format!("RELEASE SAVEPOINT strata_{savepoint}")),
            (_, false) => control(conn, &format!("ROLLBACK TO SAVEPOINT strata_{savepoint}"))
                .and_then(|()| control(conn, &format!("RELEASE SAVEPOINT strata_{savepoint}"))),
        };
        conn.broken |= matches!(outcome, Err(Error::ConnectionLost { .. }));
        let broken = conn.broken || conn.client.is_closed();
        let outcome = outcome.map_err(|err| explain(held.timeout, err));
        held.depth -= 1;
        if held.depth == 0 || broken {
            self.transactions.lock().remove(&me);
            if let Some(conn) = held.conn.take() {
                self.pool.release(conn);
            }
        }
        if let Some(expired) = expired {
            return Err(expired);
        }
        outcome?;
        if commit && aborted {
            return Err(Error::Transaction(
                "a statement in this transaction block failed, so PostgreSQL aborted the \
                 block; it was rolled back and nothing in it was committed"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Close every connection; an open transaction is rolled back. Idempotent. In a child
    /// after `fork()` nothing is touched: the sockets are the parent's.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if self.opened_in != process::fork_generation() {
            return;
        }
        let held: Vec<_> = self
            .transactions
            .lock()
            .drain()
            .map(|(_, held)| held)
            .collect();
        for held in held {
            if let Some(mut conn) = held.lock().conn.take() {
                let _ = conn.client.batch_execute("ROLLBACK");
                self.pool.release(conn);
            }
        }
        self.pool.close();
    }

    /// A connection of the caller's own, outside the pool, with the pool's session
    /// settings: for a session that lives as long as its user (a `LISTEN` awaiting
    /// notifications), which a pooled connection could not be without starving the pool.
    pub fn dedicated_client(&self) -> Result<postgres::Client> {
        self.check_usable()?;
        Ok(self.pool.connect()?.client)
    }

    /// A pooled connection. Once the engine is open, a server that cannot be reached is a
    /// lost connection (the server went away, or restarts), not a bad URL: the caller gets
    /// `ConnectionLost`, and the pool connects again on a later call once it is back.
    fn acquire(&self) -> Result<PgConn> {
        self.pool.acquire().map_err(|err| match err {
            Error::Open { reason, .. } => Error::ConnectionLost {
                message: format!("cannot connect to the server again: {reason}"),
            },
            other => other,
        })
    }

    fn cache_size(&self) -> usize {
        self.pool.target().statement_cache_size
    }

    fn held_by(&self, token: u64) -> Option<Arc<Mutex<Held>>> {
        self.transactions.lock().get(&token).cloned()
    }

    /// Run `f` on the calling thread's transaction connection, or on a pooled one. `f`
    /// gets the schema generation, and whether a stale cached statement may be prepared
    /// again and retried (outside a transaction only: inside, the failure aborted it).
    fn with_conn<T>(&self, f: impl FnOnce(&mut PgConn, u64, bool) -> Result<T>) -> Result<T> {
        self.check_usable()?;
        let generation = self.schema_generation.load(Ordering::Acquire);
        if let Some(held) = self.held_by(current_thread_token()) {
            let mut held = held.lock();
            held.before_statement()?;
            let conn = held.conn.as_mut().ok_or(Error::Closed)?;
            let outcome = f(conn, generation, false);
            note_failure(conn, &outcome);
            return outcome.map_err(|err| explain(held.timeout, err));
        }
        let mut conn = self.acquire()?;
        let outcome = f(&mut conn, generation, true);
        note_failure(&mut conn, &outcome);
        self.pool.release(conn);
        outcome
    }

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
}

impl Drop for PgEngine {
    fn drop(&mut self) {
        self.close();
    }
}

/// Prepare (or reuse) `sql`, check the parameter count and run `call`. A cached statement
/// whose result columns changed under it (SQLSTATE 0A000, "cached plan must not change
/// result type") is prepared again and run once more when `retry` allows.
fn run<T>(
    conn: &mut PgConn,
    sql: &str,
    params: &[Param],
    generation: u64,
    cache_size: usize,
    retry: bool,
    mut call: impl FnMut(
        &mut postgres::Client,
        &Statement,
        &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<T, postgres::Error>,
) -> Result<T> {
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let statement = conn.statement(sql, generation, cache_size)?;
    if statement.params().len() != params.len() {
        return Err(Error::ParameterCount {
            expected: statement.params().len(),
            given: params.len(),
        });
    }
    match call(&mut conn.client, &statement, &refs) {
        Err(err) if retry && is_stale_plan(&err) => {
            conn.forget(sql);
            let statement = conn.statement(sql, generation, cache_size)?;
            call(&mut conn.client, &statement, &refs).map_err(|err| from_postgres(&err, sql))
        }
        outcome => outcome.map_err(|err| from_postgres(&err, sql)),
    }
}

fn is_stale_plan(err: &postgres::Error) -> bool {
    err.as_db_error()
        .is_some_and(|db| db.code().code() == "0A000" && db.message().contains("cached plan"))
}

/// Record what a failed statement did to its connection: any error the server reported
/// aborts the transaction it ran in, and a lost connection is not to be used again.
fn note_failure<T>(conn: &mut PgConn, outcome: &Result<T>) {
    if let Err(err) = outcome {
        conn.aborted |= aborts_transaction(err);
        conn.broken |= matches!(err, Error::ConnectionLost { .. });
    }
}

/// Whether the server aborted the transaction the failed statement ran in: any error the
/// server reported does. Errors found before anything was sent do not.
fn aborts_transaction(err: &Error) -> bool {
    !matches!(
        err,
        Error::ParameterCount { .. }
            | Error::Transaction(_)
            | Error::Closed
            | Error::PoolTimeout { .. }
    )
}

fn control(conn: &mut PgConn, sql: &str) -> Result<()> {
    conn.client
        .batch_execute(sql)
        .map_err(|err| from_postgres(&err, sql))
}

/// Whether the connection is inside a transaction block. In the implicit transaction of
/// a single simple-protocol statement, the transaction starts when the statement does.
fn left_transaction_open(conn: &mut PgConn) -> Result<bool> {
    const CHECK: &str = "SELECT now() <> statement_timestamp()";
    let messages = conn
        .client
        .simple_query(CHECK)
        .map_err(|err| from_postgres(&err, CHECK))?;
    Ok(messages.iter().any(|message| {
        matches!(message, postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))
    }))
}
