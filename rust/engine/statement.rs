//! Statements: binding parameter values, stepping a prepared statement to completion and
//! collecting its rows as owned values. Every way the engine runs SQL ends here, and so does
//! the queue's (`collect_bound`); a failure is handed to `fk_probe` before it is returned.

use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, Statement};

use super::fk_probe::refine_error;
use crate::error::{Error, Result};

/// The result of a query: column names and rows of `SQLite` values.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
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

/// `sql` from the connection's statement cache, its error naming the SQL: how every
/// module that runs statements on a borrowed connection prepares them.
pub(crate) fn prepare<'c>(conn: &'c Connection, sql: &str) -> Result<CachedStatement<'c>> {
    conn.prepare_cached(sql)
        .map_err(|e| Error::from_sqlite(e, sql))
}

/// Prepare (cached), bind and step `sql` to completion, handing each row to `on_row`.
/// Returns the number of rows changed.
pub(super) fn run_statement(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    mut on_row: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<u64> {
    let mut stmt = prepare(conn, sql)?;
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

pub(super) fn collect_rows(
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

/// `SQLite`'s order of stored values under the BINARY collation: NULL, numbers (compared
/// as numbers), text, blobs; text and blobs bytewise.
pub(crate) fn sqlite_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    fn class(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Integer(_) | Value::Real(_) => 1,
            Value::Text(_) => 2,
            Value::Blob(_) => 3,
        }
    }
    #[allow(clippy::cast_precision_loss)] // the comparison SQLite itself makes
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::Integer(x), Value::Real(y)) => (*x as f64).total_cmp(y),
        (Value::Real(x), Value::Integer(y)) => x.total_cmp(&(*y as f64)),
        (Value::Real(x), Value::Real(y)) => x.total_cmp(y),
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Blob(x), Value::Blob(y)) => x.cmp(y),
        _ => class(a).cmp(&class(b)),
    }
}
