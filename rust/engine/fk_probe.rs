//! Error refinement: `SQLite` reports a foreign-key failure without saying which key, so the
//! failed statement is re-run in a throwaway savepoint to find out. Separate because it is
//! the one place the engine runs a statement a second time, on purpose, and undoes it.

use rusqlite::{Connection, Statement};

use crate::error::{ConstraintKind, Error};

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
