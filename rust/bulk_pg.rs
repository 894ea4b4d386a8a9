//! Bulk inserts on PostgreSQL: the same [`Run`]s as `bulk` (values as [`Param`]s), written
//! as multi-row `INSERT ... VALUES ($1, ..), (..)` statements (`create_many`), inside the
//! calling thread's transaction, which the binding opens, so a failure leaves no row
//! behind. Metric ingest takes binary `COPY` instead (`py_bulk/copy.rs` over
//! `engine/postgres/copy.rs`).
//!
//! The dialect (`strata.dialects.postgresql.bulk`) writes each row tuple with bare `$`
//! markers, numbered here in order, since PostgreSQL's placeholders carry their position.

use crate::bulk::{Run, Target};
use crate::engine::postgres::{Cell, Param, PgEngine};
use crate::error::{Error, Result};

/// PostgreSQL's limit on the parameters of one statement (a 16-bit count on the wire).
pub const MAX_PARAMETERS: usize = 65_535;

/// How many rows one statement carries for rows of `width` values: as many as the
/// parameter limit allows (a chunk of the binding's rows is usually fewer).
#[must_use]
pub fn rows_per_statement(width: usize) -> usize {
    MAX_PARAMETERS
        .checked_div(width)
        .map_or(1, |rows| rows.max(1))
}

/// The insert of `rows` rows giving the columns `present`, placeholders numbered.
#[must_use]
pub fn insert_sql(target: &Target, present: &[usize], rows: usize) -> String {
    let sql = &*target.sql;
    if present.is_empty() {
        return sql.default_values.clone();
    }
    let tuple = &sql.row_tuples[present.len()];
    let mut text = String::with_capacity(
        sql.head.len() + 16 * present.len() + rows * (tuple.len() + 8 * present.len()),
    );
    text.push_str(&sql.head);
    for (i, &column) in present.iter().enumerate() {
        if i > 0 {
            text.push_str(&sql.column_separator);
        }
        text.push_str(&sql.columns[column]);
    }
    text.push_str(&sql.values);
    let mut number = 0_usize;
    for row in 0..rows {
        if row > 0 {
            text.push_str(&sql.row_separator);
        }
        for ch in tuple.chars() {
            text.push(ch);
            if ch == '$' {
                number += 1;
                text.push_str(&number.to_string());
            }
        }
    }
    if target.skip_duplicates {
        text.push_str(&sql.skip_duplicates);
    }
    text
}

/// Insert every row of `runs` with multi-row inserts. Returns the rows inserted
/// (duplicates skipped are not counted).
pub fn insert(engine: &PgEngine, target: &Target, runs: &[Run<Param>]) -> Result<u64> {
    let mut inserted = 0;
    for run in runs {
        let width = run.present.len();
        if width == 0 {
            let sql = insert_sql(target, &[], 1);
            for _ in 0..run.rows {
                inserted += engine.execute(&sql, &[])?;
            }
            continue;
        }
        let per_statement = rows_per_statement(width);
        for chunk in run.values.chunks(per_statement * width) {
            let sql = insert_sql(target, &run.present, chunk.len() / width);
            inserted += engine.execute(&sql, chunk)?;
        }
    }
    Ok(inserted)
}

/// As [`insert`], and append the primary key of each row inserted to `ids`
/// (`InsertSql::returning_rowid` names it; a skipped duplicate returns none).
pub fn insert_returning(
    engine: &PgEngine,
    target: &Target,
    runs: &[Run<Param>],
    ids: &mut Vec<Cell>,
) -> Result<u64> {
    let returning = &target.sql.returning_rowid;
    if returning.is_empty() {
        return Err(Error::Unsupported(
            "reading new rows back on PostgreSQL needs a single-column primary key".into(),
        ));
    }
    let mut inserted = 0;
    for run in runs {
        let width = run.present.len();
        let mut run_statement = |values: &[Param], rows: usize| -> Result<()> {
            let mut sql = insert_sql(target, &run.present, rows);
            sql.push_str(returning);
            for row in engine.query(&sql, values)?.rows {
                ids.extend(row.into_iter().take(1));
                inserted += 1;
            }
            Ok(())
        };
        if width == 0 {
            for _ in 0..run.rows {
                run_statement(&[], 1)?;
            }
        } else {
            for chunk in run.values.chunks(rows_per_statement(width) * width) {
                run_statement(chunk, chunk.len() / width)?;
            }
        }
    }
    Ok(inserted)
}
