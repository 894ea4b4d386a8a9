//! Bulk inserts: many rows into one table, as multi-row `INSERT` statements.
//!
//! `create_many` and metric ingest both end here. The binding (`py_bulk.rs`) converts
//! Python rows into [`Run`]s while holding the GIL; this module writes them with the GIL
//! released. Pure Rust, so the native-ceiling benchmark drives exactly this code.
//!
//! One statement inserting a hundred rows halves `SQLite`'s own cost per row against one
//! statement per row (parsing is amortised and the b-tree cursor stays warm); past about a
//! hundred the gain flattens, while the SQL text and the bound-parameter count keep growing.
//! That holds only without a statement journal, which is why `SQLite`'s dialect writes
//! `INSERT OR FAIL` (`strata/dialects/sqlite/metrics.py` says why).

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Connection, Statement};

use crate::engine::{prepare, refine_error};
use crate::error::{Error, Result};

/// Rows per multi-row statement.
pub const ROWS_PER_STATEMENT: usize = 100;
/// `SQLite`'s default limit on bound parameters in one statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_PARAMETERS: usize = 32_766;

/// How the dialect writes multi-row inserts into one table
/// (`strata.dialects.base.BulkInsertSql`): the pieces this module joins for the columns a
/// run gives and the rows a statement carries. Names are quoted by the dialect.
#[derive(Debug, Clone)]
pub struct InsertSql {
    pub head: String,
    /// The quoted columns, which [`Run::present`] indexes.
    pub columns: Vec<String>,
    pub column_separator: String,
    pub values: String,
    /// `row_tuples[n]`: one row of `n` parameters.
    pub row_tuples: Vec<String>,
    pub row_separator: String,
    pub skip_duplicates: String,
    pub returning_rowid: String,
    pub default_values: String,
    /// PostgreSQL's binary COPY around the column list: `("COPY t (", ") FROM STDIN
    /// (FORMAT binary)")`; None where the dialect has none.
    pub copy: Option<(String, String)>,
}

/// The target of a bulk insert: a table's insert statements, and whether rows that would
/// violate a unique constraint are skipped.
#[derive(Debug, Clone)]
pub struct Target {
    pub sql: Arc<InsertSql>,
    pub skip_duplicates: bool,
}

/// Consecutive rows that give the same columns. Rows that leave a column out get the
/// column's database default, so each distinct set of columns needs its own statement.
/// `V` is the database's bound value: `SQLite`'s `Value`, or PostgreSQL's `Param`
/// (`bulk_pg`).
#[derive(Debug)]
pub struct Run<V = Value> {
    /// Indexes into [`InsertSql::columns`], in the order of each row's values.
    pub present: Vec<usize>,
    /// Row-major: `rows` rows of `present.len()` values.
    pub values: Vec<V>,
    pub rows: usize,
}

impl Target {
    /// The insert of `rows` rows giving the columns `present`: with `SQLite`'s dialect,
    /// `INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ...`.
    #[must_use]
    pub fn sql(&self, present: &[usize], rows: usize) -> String {
        let sql = &*self.sql;
        if present.is_empty() {
            // The skip clause cannot follow DEFAULT VALUES; such a row has nothing that
            // could be a duplicate of a given value anyway.
            return sql.default_values.clone();
        }
        let tuple = &sql.row_tuples[present.len()];
        let mut text = String::with_capacity(
            sql.head.len() + 16 * present.len() + rows * (tuple.len() + sql.row_separator.len()),
        );
        text.push_str(&sql.head);
        for (i, &column) in present.iter().enumerate() {
            if i > 0 {
                text.push_str(&sql.column_separator);
            }
            text.push_str(&sql.columns[column]);
        }
        text.push_str(&sql.values);
        for row in 0..rows {
            if row > 0 {
                text.push_str(&sql.row_separator);
            }
            text.push_str(tuple);
        }
        if self.skip_duplicates {
            text.push_str(&sql.skip_duplicates);
        }
        text
    }

    /// How many rows one statement carries for rows of `width` values.
    #[must_use]
    pub fn rows_per_statement(width: usize) -> usize {
        MAX_PARAMETERS
            .checked_div(width)
            .map_or(1, |rows| rows.clamp(1, ROWS_PER_STATEMENT))
    }

    /// Insert every row of `runs` on `conn`, inside the caller's transaction. Returns the
    /// number of rows inserted (duplicates skipped are not counted).
    ///
    /// On a failure, rows written before it may remain (`SQLite`'s dialect writes
    /// `INSERT OR FAIL`, which spares the statement journal): the caller must roll back its
    /// transaction or savepoint, as `Engine::write` does.
    pub fn insert(&self, conn: &Connection, runs: &[Run]) -> Result<u64> {
        let mut inserted = 0;
        for run in runs {
            inserted += self.insert_run(conn, run, None)?;
        }
        Ok(inserted)
    }

    /// As [`Target::insert`], and append the rowid of each row inserted to `rowids`
    /// (`InsertSql::returning_rowid`; a skipped duplicate returns none). `create_many_and_return`
    /// reads the new records back by these, in the same transaction: unlike a range of
    /// rowids, they are exact when rows give their own integer ids.
    pub fn insert_returning_rowids(
        &self,
        conn: &Connection,
        runs: &[Run],
        rowids: &mut Vec<i64>,
    ) -> Result<u64> {
        let mut inserted = 0;
        for run in runs {
            inserted += self.insert_run(conn, run, Some(rowids))?;
        }
        Ok(inserted)
    }

    fn insert_run(
        &self,
        conn: &Connection,
        run: &Run,
        mut rowids: Option<&mut Vec<i64>>,
    ) -> Result<u64> {
        let returning = rowids.is_some();
        let statement_sql = |rows: usize| {
            let mut sql = self.sql(&run.present, rows);
            if returning {
                sql.push_str(&self.sql.returning_rowid);
            }
            sql
        };
        let width = run.present.len();
        let per_statement = Self::rows_per_statement(width);
        let whole = if width == 0 {
            0
        } else {
            run.rows - run.rows % per_statement
        };
        let mut inserted = 0;
        if whole > 0 {
            let sql = statement_sql(per_statement);
            let mut stmt = prepare(conn, &sql)?;
            for chunk in run.values[..whole * width].chunks_exact(per_statement * width) {
                inserted += execute(conn, &mut stmt, &sql, chunk, rowids.as_deref_mut())?;
            }
        }
        if whole < run.rows {
            let sql = statement_sql(1);
            let mut stmt = prepare(conn, &sql)?;
            if width == 0 {
                for _ in 0..run.rows {
                    inserted += execute(conn, &mut stmt, &sql, &[], rowids.as_deref_mut())?;
                }
            } else {
                for row in run.values[whole * width..].chunks_exact(width) {
                    inserted += execute(conn, &mut stmt, &sql, row, rowids.as_deref_mut())?;
                }
            }
        }
        Ok(inserted)
    }
}

/// Run one prepared insert; with `rowids`, a statement returning the rowids, whose
/// rows are collected there.
fn execute(
    conn: &Connection,
    stmt: &mut Statement<'_>,
    sql: &str,
    values: &[Value],
    rowids: Option<&mut Vec<i64>>,
) -> Result<u64> {
    for (index, value) in values.iter().enumerate() {
        stmt.raw_bind_parameter(index + 1, value)
            .map_err(|e| Error::from_sqlite(e, sql))?;
    }
    let outcome = match rowids {
        None => stmt.raw_execute().map(|_| conn.changes()),
        Some(rowids) => collect_rowids(stmt, rowids),
    };
    outcome.map_err(|err| refine_error(conn, Error::from_sqlite(err, sql), stmt))
}

fn collect_rowids(stmt: &mut Statement<'_>, rowids: &mut Vec<i64>) -> rusqlite::Result<u64> {
    let mut inserted = 0;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        rowids.push(row.get(0)?);
        inserted += 1;
    }
    Ok(inserted)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The pieces `strata.dialects.sqlite.metrics.bulk_insert` writes for these columns.
    pub(crate) fn sqlite_insert(table: &str, columns: &[&str]) -> Arc<InsertSql> {
        Arc::new(InsertSql {
            head: format!("INSERT OR FAIL INTO {table} ("),
            columns: columns.iter().map(|&c| c.to_owned()).collect(),
            column_separator: ", ".into(),
            values: ") VALUES ".into(),
            row_tuples: (0..=columns.len())
                .map(|n| format!("({})", vec!["?"; n].join(", ")))
                .collect(),
            row_separator: ", ".into(),
            skip_duplicates: " ON CONFLICT DO NOTHING".into(),
            returning_rowid: " RETURNING rowid".into(),
            default_values: format!("INSERT INTO {table} DEFAULT VALUES"),
            copy: None,
        })
    }

    fn target(skip_duplicates: bool) -> Target {
        Target {
            sql: sqlite_insert("\"t\"", &["\"a\"", "\"b\""]),
            skip_duplicates,
        }
    }

    fn memory() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER UNIQUE, b TEXT DEFAULT 'd')",
        )
        .unwrap();
        conn
    }

    fn run(present: Vec<usize>, rows: Vec<Vec<Value>>) -> Run {
        Run {
            present,
            rows: rows.len(),
            values: rows.into_iter().flatten().collect(),
        }
    }

    #[test]
    fn sql_lists_columns_and_tuples() {
        assert_eq!(
            target(true).sql(&[1, 0], 2),
            "INSERT OR FAIL INTO \"t\" (\"b\", \"a\") VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
        assert_eq!(target(true).sql(&[], 1), "INSERT INTO \"t\" DEFAULT VALUES");
    }

    #[test]
    fn statements_stay_under_the_parameter_limit() {
        assert_eq!(Target::rows_per_statement(3), ROWS_PER_STATEMENT);
        assert_eq!(Target::rows_per_statement(1000), 32);
        assert_eq!(Target::rows_per_statement(40_000), 1);
    }

    #[test]
    fn inserts_whole_statements_and_the_tail() {
        let conn = memory();
        let rows: Vec<Vec<Value>> = (0..250)
            .map(|i| vec![Value::Integer(i), Value::Text(format!("r{i}"))])
            .collect();
        let inserted = target(false)
            .insert(&conn, &[run(vec![0, 1], rows)])
            .unwrap();
        assert_eq!(inserted, 250);
        let (count, last): (i64, String) = conn
            .query_row(
                "SELECT count(*), max(b) FROM t WHERE a = 249 OR a >= 0",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((count, last.as_str()), (250, "r99"));
    }

    #[test]
    fn runs_without_a_column_get_its_default() {
        let conn = memory();
        let runs = [
            run(vec![0], vec![vec![Value::Integer(1)]]),
            run(vec![], vec![vec![], vec![]]),
        ];
        assert_eq!(target(false).insert(&conn, &runs).unwrap(), 3);
        let defaults: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE b = 'd'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(defaults, 3);
    }

    #[test]
    fn returning_collects_the_rowids_of_inserted_rows_only() {
        let conn = memory();
        conn.execute_batch("INSERT INTO t (id, a) VALUES (50, 7)")
            .unwrap();
        // Explicit ids below the table's largest rowid, a duplicate of `a` skipped, and
        // enough rows for a whole multi-row statement plus a tail.
        let mut rows: Vec<Vec<Value>> = vec![
            vec![Value::Integer(3), Value::Integer(1)],
            vec![Value::Integer(4), Value::Integer(7)],
        ];
        rows.extend((0..150).map(|i| vec![Value::Integer(100 + i), Value::Integer(10 + i)]));
        let with_ids = Target {
            sql: sqlite_insert("\"t\"", &["\"id\"", "\"a\""]),
            skip_duplicates: true,
        };
        let mut rowids = Vec::new();
        let inserted = with_ids
            .insert_returning_rowids(&conn, &[run(vec![0, 1], rows)], &mut rowids)
            .unwrap();
        assert_eq!(inserted, 151);
        let mut expected = vec![3];
        expected.extend(100..250);
        assert_eq!(rowids, expected);
    }

    #[test]
    fn duplicates_fail_or_are_skipped() {
        let conn = memory();
        let rows = || {
            vec![
                vec![Value::Integer(1), Value::Null],
                vec![Value::Integer(1), Value::Null],
            ]
        };
        // Callers always insert inside a transaction, which a failure rolls back whole.
        conn.execute_batch("BEGIN").unwrap();
        let failed = target(false).insert(&conn, &[run(vec![0, 1], rows())]);
        assert!(matches!(failed, Err(Error::Constraint { .. })));
        conn.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            target(true)
                .insert(&conn, &[run(vec![0, 1], rows())])
                .unwrap(),
            1
        );
    }
}
