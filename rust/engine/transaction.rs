//! Transactions on the writer: the lock a statement takes on it, `BEGIN IMMEDIATE` and the
//! savepoints nested inside, `write` for the hot paths, and the checks that keep raw SQL
//! from opening or ending a transaction behind the engine's back. These are `Engine`
//! methods, kept apart from the routing in `mod.rs` because the depth and ownership
//! bookkeeping is one piece that is easiest to read, and to get right, in one place.

use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::MutexGuard;
use rusqlite::Connection;

use super::{checkpoint, current_thread_token, Engine, WriterState};
use crate::error::{Error, Result};

impl Engine {
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
    ///
    /// A transaction of its own first takes this process's turn at the write lock among
    /// strata processes (`file_lock`), so that a waiting process sleeps until the lock is
    /// handed to it instead of polling `SQLite`'s.
    pub fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut state = self.lock_writer_for(current_thread_token())?;
        let nested = state.depth > 0;
        if state.conn.is_none() {
            return Err(Error::Closed);
        }
        let turn = if nested {
            None
        } else {
            state.lock_file.hold(&self.path, self.options.busy_timeout)
        };
        let conn = state.conn.as_ref().ok_or(Error::Closed)?;
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
        let outcome = match f(conn) {
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
        };
        drop(turn);
        checkpoint::run_due(conn);
        outcome
    }

    /// Run `f`'s one statement on the writer, in autocommit: the statement is its own
    /// transaction (a data-changing statement takes the write lock as it starts, waiting
    /// in the busy handler as `BEGIN IMMEDIATE` does), or part of the calling thread's open
    /// transaction. For a hot path whose whole write is one statement: it saves the
    /// `BEGIN` and `COMMIT` round trips through `SQLite`'s parser and VM. Outside a
    /// transaction it takes the process's turn at the write lock first, as `write` does.
    pub fn write_statement<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut state = self.lock_writer_for(current_thread_token())?;
        let turn = if state.depth == 0 && state.conn.is_some() {
            state.lock_file.hold(&self.path, self.options.busy_timeout)
        } else {
            None
        };
        let conn = state.conn.as_ref().ok_or(Error::Closed)?;
        let outcome = f(conn).map_err(|e| self.busy_or(e));
        drop(turn);
        checkpoint::run_due(conn);
        outcome
    }

    /// Lock the writer for a statement from the calling thread. If another thread owns an
    /// open transaction, wait for it to end, at most for the busy timeout.
    pub(super) fn with_writer<T>(
        &self,
        f: impl FnOnce(&Connection, u32) -> Result<T>,
    ) -> Result<T> {
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

    pub(super) fn release_ownership(&self) {
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
pub(super) fn reject_transaction_control(sql: &str) -> Result<()> {
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
pub(super) fn starts_with_keyword(sql: &str, keyword: &str) -> bool {
    let sql = sql.trim_start();
    let word_length = sql
        .bytes()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(sql.len());
    sql[..word_length].eq_ignore_ascii_case(keyword)
}

/// Safety net behind `reject_transaction_control` (a comment before BEGIN, say): the
/// connection must be in a transaction exactly when the engine believes it is.
pub(super) fn ensure_transaction_state(conn: &Connection, depth: u32) -> Result<()> {
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
