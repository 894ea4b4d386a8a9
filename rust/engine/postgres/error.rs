//! PostgreSQL's errors in the core's one error type: SQLSTATE codes become the same
//! variants (and so the same Python classes and Prisma codes) as `SQLite`'s failures.

use postgres::error::DbError;

use crate::error::{ConstraintKind, Error};

/// Classify an error that the server or the driver returned for `sql`.
pub fn from_postgres(err: &postgres::Error, sql: &str) -> Error {
    let Some(db) = err.as_db_error() else {
        if err.is_closed() || io_failure(err) {
            return Error::ConnectionLost {
                message: err.to_string(),
            };
        }
        return Error::Postgres {
            sqlstate: None,
            message: err.to_string(),
        };
    };
    let code = db.code().code();
    let message = db.message().to_owned();
    match code {
        "23505" => constraint(ConstraintKind::Unique, db),
        "23503" => constraint(ConstraintKind::ForeignKey, db),
        "23502" => constraint(ConstraintKind::NotNull, db),
        "23514" => constraint(ConstraintKind::Check, db),
        _ if code.starts_with("23") => constraint(ConstraintKind::Other, db),
        // serialization_failure, deadlock_detected: the transaction may succeed if retried.
        "40001" | "40P01" => Error::Serialization { message },
        "25P02" => Error::Transaction(
            "a statement in this transaction failed, so PostgreSQL aborted the transaction; \
             every later statement is refused until the transaction block ends (it is then \
             rolled back)"
                .into(),
        ),
        // Class 42 is syntax errors and unknown names; 0A000 includes several statements
        // in one prepared statement (use execute_script for scripts).
        _ if code.starts_with("42") || code == "0A000" => Error::Sql {
            message,
            sql: sql.to_owned(),
        },
        // Connection exceptions, the server shutting the session down, and sessions ended
        // for idling (in a transaction: 25P03; at all: 57P05).
        _ if code.starts_with("08")
            || matches!(code, "57P01" | "57P02" | "57P03" | "57P05" | "25P03") =>
        {
            Error::ConnectionLost { message }
        }
        _ => Error::Postgres {
            sqlstate: Some(code.to_owned()),
            message,
        },
    }
}

fn io_failure(err: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

/// The server names the table, and the column of a NOT NULL failure; the columns of a key
/// are in the detail: `Key (email, "tenantId")=(a@b.c, 7) already exists.`
fn constraint(kind: ConstraintKind, db: &DbError) -> Error {
    let mut columns = Vec::new();
    if let Some(column) = db.column() {
        columns.push(column.to_owned());
    } else if let Some(names) = db
        .detail()
        .and_then(|detail| detail.strip_prefix("Key ("))
        .and_then(|rest| rest.split_once(")=").map(|(names, _)| names))
    {
        columns.extend(
            names
                .split(", ")
                .map(|name| name.trim_matches('"').to_owned()),
        );
    }
    let message = match db.detail() {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_owned(),
    };
    // A parent row still referenced: the server names the child table, but the key in the
    // detail is the parent's (`update or delete on table "User" ...`), so it goes with the
    // parent, and the child's columns are not known.
    let mut references = None;
    if kind == ConstraintKind::ForeignKey
        && db
            .detail()
            .is_some_and(|detail| detail.contains("is still referenced from table"))
    {
        if let Some(parent) = db
            .message()
            .strip_prefix("update or delete on table \"")
            .and_then(|rest| rest.split_once('"'))
            .map(|(parent, _)| parent.to_owned())
        {
            references = Some((parent, std::mem::take(&mut columns)));
        }
    }
    Error::Constraint {
        kind,
        table: db.table().map(str::to_owned),
        columns,
        references,
        message,
    }
}
