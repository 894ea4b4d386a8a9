//! The core's one error type, and the one place where it becomes a Python exception.
//!
//! Everything below `engine` returns [`Error`]. The binding layer returns `PyResult`, and the
//! `?` operator converts through `From<Error> for PyErr` at the bottom of this file. The
//! exception classes themselves are defined in Python (`strata/errors.py`) so that users can
//! read, subclass and document them like any other Python code; this module only looks them
//! up by name.

use std::fmt;
use std::time::Duration;

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which kind of constraint `SQLite` reported. Each maps to one exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    Other,
}

#[derive(Debug)]
pub enum Error {
    /// A call on a handle after `close()`.
    Closed,
    /// The database file could not be opened or is not a `SQLite` database.
    Open { path: String, reason: String },
    /// The SQL has a different number of `?` placeholders than values were given.
    ParameterCount { expected: usize, given: usize },
    /// A Python value that has no `SQLite` storage class (a set, a dict, ...).
    ParameterType { position: usize, type_name: String },
    /// An int outside `SQLite`'s signed 64-bit range.
    IntegerOverflow { position: usize },
    /// A str holding a lone surrogate (at character `at`), which has no UTF-8 form.
    LoneSurrogate { position: usize, at: Option<usize> },
    /// `db.transaction_()` used in a way that cannot work (commit without begin, a raw
    /// BEGIN/COMMIT in the SQL, ...).
    Transaction(String),
    /// The write lock was not obtained within the busy timeout.
    Busy {
        waited: Duration,
        holder: &'static str,
    },
    /// Every pooled reader stayed checked out for the busy timeout. `streams` counts the
    /// Arrow streams open at the time, which read on connections of their own.
    ReadersBusy {
        waited: Duration,
        readers: usize,
        streams: usize,
    },
    /// A handle opened before a `fork()` was used in the child (`opened_by` is the pid
    /// that opened it). The child must connect again.
    Forked { opened_by: u32, used_by: u32 },
    /// A statement stopped by Ctrl-C (see `busy::Conn`); Python gets `KeyboardInterrupt`.
    Interrupted,
    /// The SQL could not be prepared: a syntax error, an unknown table or column.
    Sql { message: String, sql: String },
    /// Input that the schema does not allow, found by the core before any SQL ran
    /// (Python's `ValidationError`).
    Invalid {
        message: String,
        model: Option<String>,
        field: Option<String>,
        expected: String,
    },
    /// A fenced queue call whose claim is no longer current: the lease expired and the
    /// job was claimed again, or the job was cancelled (`cancelled`), finished or deleted.
    LeaseLost { cancelled: bool, message: String },
    /// A constraint rejected the write. The statement was rolled back.
    Constraint {
        kind: ConstraintKind,
        table: Option<String>,
        columns: Vec<String>,
        /// For foreign keys: the referenced table and columns.
        references: Option<(String, Vec<String>)>,
        message: String,
    },
    /// The PostgreSQL server closed the connection, or it broke. The statement may or may
    /// not have run; the engine drops the connection, so the next call opens a fresh one.
    ConnectionLost { message: String },
    /// PostgreSQL gave up a transaction for a serialization failure or a deadlock
    /// (SQLSTATE 40001, 40P01). Running the whole transaction again may succeed.
    Serialization { message: String },
    /// A transaction block ran past the `timeout=` it was opened with; it was rolled back.
    TransactionTimeout { timeout: Duration },
    /// Every connection of a PostgreSQL engine's pool stayed in use for `waited`.
    PoolTimeout { waited: Duration, limit: usize },
    /// A call this kind of database does not offer yet.
    Unsupported(String),
    /// Any other failure reported by PostgreSQL, with its SQLSTATE when the server sent one.
    Postgres {
        sqlstate: Option<String>,
        message: String,
    },
    /// Any other failure reported by `SQLite`.
    Sqlite {
        code: i32,
        extended_code: i32,
        message: String,
    },
}

impl Error {
    /// Invalid input described by a message alone.
    #[must_use]
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
            model: None,
            field: None,
            expected: String::new(),
        }
    }

    /// Classify an error that `SQLite` returned for `sql`. Constraint errors are refined
    /// further by the engine, which can look at the schema.
    #[must_use]
    pub fn from_sqlite(err: rusqlite::Error, sql: &str) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(failure, message) => {
                let message = message.unwrap_or_else(|| failure.to_string());
                match failure.code {
                    rusqlite::ErrorCode::ConstraintViolation => {
                        constraint_from_message(failure.extended_code, message)
                    }
                    rusqlite::ErrorCode::OperationInterrupted => Error::Interrupted,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                        Error::Busy {
                            waited: Duration::ZERO,
                            holder: "another connection",
                        }
                    }
                    // SQLITE_ERROR is what prepare reports for syntax errors and unknown names.
                    rusqlite::ErrorCode::Unknown if failure.extended_code == 1 => Error::Sql {
                        message,
                        sql: sql.to_owned(),
                    },
                    _ => Error::Sqlite {
                        code: failure.extended_code & 0xff,
                        extended_code: failure.extended_code,
                        message,
                    },
                }
            }
            rusqlite::Error::MultipleStatement => Error::Sql {
                message: "more than one statement; use execute_script() for scripts".into(),
                sql: sql.to_owned(),
            },
            rusqlite::Error::InvalidParameterCount(given, expected) => {
                Error::ParameterCount { expected, given }
            }
            other => Error::Sqlite {
                code: 1,
                extended_code: 1,
                message: other.to_string(),
            },
        }
    }
}

/// What `SQLite` says of every foreign-key failure, without naming the key.
const FOREIGN_KEY_MESSAGE: &str = "FOREIGN KEY constraint failed";

/// `SQLite` names the table and columns in the message text, e.g.
/// `UNIQUE constraint failed: User.email, User.tenantId`. Foreign-key messages carry no
/// names; the engine fills those in (see `engine::fk_probe::describe_foreign_key_failure`).
fn constraint_from_message(extended_code: i32, message: String) -> Error {
    use rusqlite::ffi;
    let kind = match extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ConstraintKind::Unique,
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
        // ON DELETE / ON UPDATE RESTRICT runs as a trigger program that raises this message,
        // so SQLite reports it as a trigger's failure; it is a foreign key's all the same.
        ffi::SQLITE_CONSTRAINT_TRIGGER if message == FOREIGN_KEY_MESSAGE => {
            ConstraintKind::ForeignKey
        }
        ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
        ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
        _ => ConstraintKind::Other,
    };
    let mut table = None;
    let mut columns = Vec::new();
    if matches!(kind, ConstraintKind::Unique | ConstraintKind::NotNull) {
        if let Some((_, names)) = message.split_once("failed: ") {
            for qualified in names.split(", ") {
                if let Some((t, c)) = qualified.split_once('.') {
                    table.get_or_insert_with(|| t.to_owned());
                    columns.push(c.to_owned());
                }
            }
        }
    }
    Error::Constraint {
        kind,
        table,
        columns,
        references: None,
        message,
    }
}

impl fmt::Display for Error {
    // One arm per variant: splitting it would only scatter the messages.
    #[allow(clippy::too_many_lines)]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => write!(f, "the database handle is closed"),
            Error::Open { path, reason } => write!(f, "cannot open database '{path}': {reason}"),
            Error::ParameterCount { expected, given } => write!(
                f,
                "the SQL has {expected} parameter placeholder(s) but {given} value(s) were given"
            ),
            Error::ParameterType {
                position,
                type_name,
            } => write!(
                f,
                "parameter {position} has unsupported type '{type_name}'; \
                 supported types are None, bool, int, float, str and bytes"
            ),
            Error::IntegerOverflow { position } => write!(
                f,
                "parameter {position} does not fit in SQLite's signed 64-bit INTEGER"
            ),
            Error::LoneSurrogate { position, at } => {
                let what = if *position == 0 {
                    "a str".to_owned()
                } else {
                    format!("parameter {position}")
                };
                let at = at.map_or_else(String::new, |at| format!(" at index {at}"));
                write!(
                    f,
                    "{what} holds a lone surrogate{at}, which has no UTF-8 form, so SQLite \
                     cannot store it as given (os.fsdecode makes these of bytes that are \
                     not UTF-8: store os.fsencode(name) as Bytes, or decode on purpose)"
                )
            }
            Error::Transaction(message)
            | Error::Sqlite { message, .. }
            | Error::Invalid { message, .. }
            | Error::LeaseLost { message, .. }
            | Error::Unsupported(message)
            | Error::Postgres { message, .. } => f.write_str(message),
            Error::ConnectionLost { message } => write!(
                f,
                "the connection to the PostgreSQL server was lost ({message}); the statement \
                 may or may not have run, and the next call opens a new connection"
            ),
            Error::Serialization { message } => write!(
                f,
                "{message}; the transaction was rolled back and may succeed if run again"
            ),
            Error::TransactionTimeout { timeout } => write!(
                f,
                "the transaction ran past its timeout of {:.3} s, so it was rolled back and \
                 nothing in it was committed",
                timeout.as_secs_f64()
            ),
            Error::PoolTimeout { waited, limit } => write!(
                f,
                "every connection of the pool ({limit}) was in use for {:.1} s; raise \
                 connection_limit or pool_timeout in the URL",
                waited.as_secs_f64()
            ),
            Error::Busy { waited, holder } => write!(
                f,
                "database is locked: {holder} held the write lock for longer than the busy \
                 timeout ({:.1} s); retry, or raise busy_timeout",
                waited.as_secs_f64()
            ),
            Error::ReadersBusy {
                waited,
                readers,
                streams,
            } => write!(
                f,
                "every pooled reader connection ({readers}) was in use for the whole busy \
                 timeout ({:.1} s), held by other threads' reads; {streams} Arrow stream(s) \
                 are open, on connections of their own, and hold none. Raise readers= in \
                 strata.connect() (now {readers}) or busy_timeout",
                waited.as_secs_f64()
            ),
            Error::Forked { opened_by, used_by } => write!(
                f,
                "this database handle was opened in process {opened_by} and is used in \
                 process {used_by}, a child made by fork(); SQLite connections must not \
                 cross a fork, so the call was refused. Call strata.connect() in the child \
                 after the fork (with multiprocessing, inside the worker function)"
            ),
            Error::Interrupted => write!(f, "the statement was interrupted"),
            Error::Sql { message, sql } => write!(f, "{message} (in SQL: {})", abbreviate(sql)),
            Error::Constraint {
                kind,
                table,
                columns,
                references,
                message,
            } => {
                let what = match kind {
                    ConstraintKind::Unique => "Unique constraint failed",
                    ConstraintKind::ForeignKey => "Foreign key constraint failed",
                    ConstraintKind::NotNull => "Null constraint violation",
                    ConstraintKind::Check => "Check constraint failed",
                    ConstraintKind::Other => "Constraint failed",
                };
                match (table, columns.is_empty()) {
                    (Some(table), false) => {
                        write!(f, "{what} on {table}.({})", columns.join(", "))?;
                        if let Some((parent, parent_columns)) = references {
                            write!(f, " referencing {parent}.({})", parent_columns.join(", "))?;
                        }
                        Ok(())
                    }
                    _ => write!(f, "{what}: {message}"),
                }
            }
        }
    }
}

fn abbreviate(sql: &str) -> String {
    const LIMIT: usize = 200;
    let sql = sql.trim();
    match sql.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &sql[..cut]),
        None => sql.to_owned(),
    }
}

/// `strata.errors`, imported once. Importing lazily avoids a cycle: `strata/__init__.py`
/// imports this extension before it imports `strata.errors`.
static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exception_class_name(err: &Error) -> &'static str {
    match err {
        Error::Closed => "ClosedError",
        Error::Open { .. } => "OpenError",
        Error::ParameterCount { .. } | Error::IntegerOverflow { .. } => "ParameterError",
        Error::ParameterType { .. } => "ParameterTypeError",
        Error::Transaction(_) => "TransactionError",
        Error::Busy { .. } | Error::ReadersBusy { .. } => "BusyError",
        Error::Forked { .. } => "ForkedHandleError",
        // Never looked up: `build_exception` raises KeyboardInterrupt for it.
        Error::Interrupted => "KeyboardInterrupt",
        Error::Sql { .. } => "SqlError",
        Error::Invalid { .. } | Error::LoneSurrogate { .. } => "ValidationError",
        Error::LeaseLost {
            cancelled: true, ..
        } => "JobCancelledError",
        Error::LeaseLost { .. } => "LeaseLostError",
        Error::Constraint { kind, .. } => match kind {
            ConstraintKind::Unique => "UniqueConstraintError",
            ConstraintKind::ForeignKey => "ForeignKeyError",
            ConstraintKind::NotNull => "NullConstraintError",
            ConstraintKind::Check => "CheckConstraintError",
            ConstraintKind::Other => "ConstraintError",
        },
        Error::Unsupported(_) => "NotSupportedError",
        Error::ConnectionLost { .. } => "ConnectionLostError",
        Error::Serialization { .. } => "SerializationError",
        Error::PoolTimeout { .. } => "PoolTimeoutError",
        Error::TransactionTimeout { .. } => "TransactionTimeoutError",
        Error::Sqlite { .. } | Error::Postgres { .. } => "DatabaseError",
    }
}

fn build_exception(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    if let Error::Interrupted = err {
        // Ctrl-C stopped the statement, and Python's default SIGINT handler (the only one
        // the core acts for) would have raised exactly this.
        return Ok(PyKeyboardInterrupt::new_err(()));
    }
    let module = ERRORS_MODULE.get_or_try_init(py, || {
        PyModule::import(py, "strata.errors").map(Bound::unbind)
    })?;
    let class = module.bind(py).getattr(exception_class_name(err))?;
    let exc = class.call1((err.to_string(),))?;
    // Context fields that callers can branch on without parsing the message.
    match err {
        Error::Constraint {
            table,
            columns,
            references,
            ..
        } => {
            exc.setattr("table", table)?;
            exc.setattr("columns", columns.clone())?;
            if let Some((parent, parent_columns)) = references {
                exc.setattr("referenced_table", parent)?;
                exc.setattr("referenced_columns", parent_columns.clone())?;
            }
        }
        Error::Sql { sql, .. } => exc.setattr("sql", sql)?,
        Error::Invalid {
            model,
            field,
            expected,
            ..
        } => {
            exc.setattr("model", model)?;
            exc.setattr("field", field)?;
            exc.setattr("expected", expected)?;
        }
        Error::Open { path, .. } => exc.setattr("path", path)?,
        Error::Sqlite {
            code,
            extended_code,
            ..
        } => {
            exc.setattr("sqlite_code", code)?;
            exc.setattr("sqlite_extended_code", extended_code)?;
        }
        Error::Postgres { sqlstate, .. } => exc.setattr("sqlstate", sqlstate)?,
        _ => {}
    }
    Ok(PyErr::from_value(exc))
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        Python::attach(|py| {
            build_exception(py, &err).unwrap_or_else(|lookup_failure| {
                // Only reachable if strata.errors itself is broken; keep the original message.
                let fallback = PyRuntimeError::new_err(err.to_string());
                fallback.set_cause(py, Some(lookup_failure));
                fallback
            })
        })
    }
}
