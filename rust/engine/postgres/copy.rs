//! Binary `COPY ... FROM STDIN`: the fastest way to load rows into a PostgreSQL table, used
//! by metric ingest. Rows arrive as [`Param`]s (what the bulk writer converted from Python)
//! and are written in PostgreSQL's binary tuple format, encoded by each column's type
//! (`binary`), which the server learns from no text parsing at all.
//!
//! The column types come from preparing the table's single-row `INSERT` for the same
//! columns (its parameters are the columns' types), so no catalogue query is spelt here.

use std::io::Write;

use bytes::{BufMut, BytesMut};

use super::binary::encode;
use super::error::from_postgres;
use super::{current_thread_token, PgEngine};
use crate::engine::postgres::Param;
use crate::error::{Error, Result};

/// The binary format's fixed header: signature, flags, header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Flush to the server every this many bytes, so a large batch is never held whole.
const FLUSH_BYTES: usize = 1 << 20;

impl PgEngine {
    /// Copy `values` (row-major, `width` per row) into the table with `copy_sql`
    /// (`COPY t (cols) FROM STDIN (FORMAT binary)`), the columns typed by preparing
    /// `probe_sql` (a single-row `INSERT` into the same columns). Runs inside the calling
    /// thread's transaction, which the caller opens. `first_row` numbers the rows in
    /// errors. Returns the number of rows copied.
    pub fn copy_binary(
        &self,
        probe_sql: &str,
        copy_sql: &str,
        width: usize,
        values: &[Param],
        first_row: usize,
    ) -> Result<u64> {
        let held = self.held_by(current_thread_token()).ok_or_else(|| {
            Error::Transaction("COPY runs inside a transaction; call begin() first".into())
        })?;
        let mut held = held.lock();
        let conn = held.conn.as_mut().ok_or(Error::Closed)?;
        let generation = self
            .schema_generation
            .load(std::sync::atomic::Ordering::Acquire);
        let outcome = (|| {
            let statement = conn.statement(probe_sql, generation, self.cache_size())?;
            let types = statement.params().to_vec();
            if types.len() != width {
                return Err(Error::ParameterCount {
                    expected: types.len(),
                    given: width,
                });
            }
            let mut writer = conn
                .client
                .copy_in(copy_sql)
                .map_err(|err| from_postgres(&err, copy_sql))?;
            let mut buffer = BytesMut::with_capacity(FLUSH_BYTES + 4096);
            buffer.put_slice(HEADER);
            let fields = i16::try_from(width)
                .map_err(|_| Error::invalid("COPY writes at most 32767 columns"))?;
            let rows = values.len().checked_div(width).unwrap_or(0);
            for (index, row) in values.chunks_exact(width.max(1)).enumerate().take(rows) {
                buffer.put_i16(fields);
                for (value, ty) in row.iter().zip(&types) {
                    encode(value, ty, &mut buffer).map_err(|message| {
                        Error::invalid(format!(
                            "row {}: a {} column: {message}",
                            first_row + index,
                            ty.name()
                        ))
                    })?;
                }
                if buffer.len() >= FLUSH_BYTES {
                    writer.write_all(&buffer).map_err(copy_io)?;
                    buffer.clear();
                }
            }
            buffer.put_i16(-1);
            writer.write_all(&buffer).map_err(copy_io)?;
            writer
                .finish()
                .map_err(|err| at_line(from_postgres(&err, copy_sql), &err, first_row))
        })();
        if let Err(err) = &outcome {
            // An error before the data reached the server still aborts the COPY, and with
            // it the transaction: the block's end must roll back.
            conn.aborted |= !matches!(err, Error::Transaction(_) | Error::Closed);
            conn.broken |= matches!(err, Error::ConnectionLost { .. });
        }
        outcome
    }
}

fn copy_io(err: std::io::Error) -> Error {
    Error::ConnectionLost {
        message: format!("COPY: {err}"),
    }
}

/// Name the row a server-side failure happened on: PostgreSQL's context reads
/// `COPY t, line N` (1-based within this COPY).
fn at_line(err: Error, source: &postgres::Error, first_row: usize) -> Error {
    let line = source
        .as_db_error()
        .and_then(|db| db.where_())
        .and_then(|context| context.rsplit("line ").next())
        .and_then(|tail| {
            tail.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|digits| digits.parse::<usize>().ok())
        });
    let Some(line) = line else {
        return err;
    };
    let row = first_row + line.saturating_sub(1);
    match err {
        Error::Postgres { sqlstate, message } => Error::Postgres {
            sqlstate,
            message: format!("row {row}: {message}"),
        },
        Error::Constraint {
            kind,
            table,
            columns,
            references,
            message,
        } => Error::Constraint {
            kind,
            table,
            columns,
            references,
            message: format!("row {row}: {message}"),
        },
        other => other,
    }
}
