//! Binary `COPY ... FROM STDIN`: the fastest way to load rows into a PostgreSQL table, used
//! by metric ingest. Rows arrive as [`Param`]s (what the bulk writer converted from Python)
//! and are written in PostgreSQL's binary tuple format, encoded by each column's type
//! (`binary`), so the server parses no text. A [`CopyLease`] lends the transaction's
//! connection to a [`CopyStream`], which sends each batch as soon as it is converted.
//!
//! The column types come from preparing the table's single-row `INSERT` for the same
//! columns (its parameters are the columns' types), so no catalogue query is spelt here.

use std::io::Write;

use bytes::{BufMut, BytesMut};

use std::sync::Arc;

use parking_lot::Mutex;

use super::binary::encode;
use super::error::from_postgres;
use super::pool::PgConn;
use super::{current_thread_token, Held, PgEngine};
use crate::engine::postgres::Param;
use crate::error::{Error, Result};

/// The binary format's fixed header: signature, flags, header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Flush to the server every this many bytes, so a large batch is never held whole.
const FLUSH_BYTES: usize = 1 << 20;

impl PgEngine {
    /// Lend out the calling thread's transaction connection for a COPY that is fed while
    /// the caller converts more rows (with the GIL held between sends). While lent, the
    /// thread's other statements find no connection: nothing else may run on it in the
    /// middle of a COPY anyway. The connection goes back when the lease is dropped.
    pub fn lease_for_copy(&self) -> Result<CopyLease> {
        self.check_usable()?;
        let held = self.held_by(current_thread_token()).ok_or_else(|| {
            Error::Transaction("COPY runs inside a transaction; call begin() first".into())
        })?;
        let conn = held.lock().conn.take().ok_or(Error::Closed)?;
        Ok(CopyLease {
            held,
            conn: Some(conn),
            generation: self
                .schema_generation
                .load(std::sync::atomic::Ordering::Acquire),
            cache_size: self.cache_size(),
        })
    }
}

/// A transaction's connection, lent out for COPY (see `PgEngine::lease_for_copy`).
pub struct CopyLease {
    held: Arc<Mutex<Held>>,
    conn: Option<PgConn>,
    generation: u64,
    cache_size: usize,
}

impl CopyLease {
    /// Start `COPY ... FROM STDIN (FORMAT binary)` for the columns `probe_sql` inserts;
    /// `first_row` is the index of the COPY's first row in the caller's call, for errors.
    pub fn open(
        &mut self,
        probe_sql: &str,
        copy_sql: &str,
        first_row: usize,
    ) -> Result<CopyStream<'_>> {
        let conn = self.conn.as_mut().ok_or(Error::Closed)?;
        let statement = conn.statement(probe_sql, self.generation, self.cache_size)?;
        let types = statement.params().to_vec();
        let writer = conn
            .client
            .copy_in(copy_sql)
            .map_err(|err| from_postgres(&err, copy_sql))?;
        let mut buffer = BytesMut::with_capacity(FLUSH_BYTES + 4096);
        buffer.put_slice(HEADER);
        Ok(CopyStream {
            writer,
            types,
            buffer,
            sql: copy_sql.to_owned(),
            first_row,
            sent: 0,
        })
    }

    /// Run a statement without parameters (rows that give no column) between COPYs.
    pub fn execute(&mut self, sql: &str) -> Result<u64> {
        let conn = self.conn.as_mut().ok_or(Error::Closed)?;
        conn.client
            .execute(sql, &[])
            .map_err(|err| from_postgres(&err, sql))
    }

    /// Record what a failed step did: the server aborted the transaction (the block's end
    /// rolls back), or the connection is gone.
    pub fn settle<T>(&mut self, outcome: &Result<T>) {
        if let (Err(err), Some(conn)) = (outcome, self.conn.as_mut()) {
            conn.aborted |= !matches!(err, Error::Transaction(_) | Error::Closed);
            conn.broken |= matches!(err, Error::ConnectionLost { .. });
        }
    }
}

impl Drop for CopyLease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.held.lock().conn = Some(conn);
        }
    }
}

/// One binary COPY in progress: rows are encoded by their columns' types and sent as they
/// come, so the server stores one batch while the caller converts the next.
pub struct CopyStream<'c> {
    writer: postgres::CopyInWriter<'c>,
    types: Vec<postgres::types::Type>,
    buffer: BytesMut,
    sql: String,
    first_row: usize,
    sent: usize,
}

impl CopyStream<'_> {
    /// Encode `values` (row-major, `width` per row) and send them once a megabyte is
    /// buffered.
    pub fn send(&mut self, values: &[Param], width: usize) -> Result<()> {
        if self.types.len() != width {
            return Err(Error::ParameterCount {
                expected: self.types.len(),
                given: width,
            });
        }
        let fields = i16::try_from(width)
            .map_err(|_| Error::invalid("COPY writes at most 32767 columns"))?;
        for row in values.chunks_exact(width.max(1)) {
            self.buffer.put_i16(fields);
            for (value, ty) in row.iter().zip(&self.types) {
                encode(value, ty, &mut self.buffer).map_err(|message| {
                    Error::invalid(format!(
                        "row {}: a {} column: {message}",
                        self.first_row + self.sent,
                        ty.name()
                    ))
                })?;
            }
            self.sent += 1;
            if self.buffer.len() >= FLUSH_BYTES {
                self.writer.write_all(&self.buffer).map_err(copy_io)?;
                self.buffer.clear();
            }
        }
        // Out now, so the server stores these rows while the caller converts the next.
        self.writer.write_all(&self.buffer).map_err(copy_io)?;
        self.writer.flush().map_err(copy_io)?;
        self.buffer.clear();
        Ok(())
    }

    /// End the COPY and wait for the server to store it; returns the rows copied.
    pub fn finish(mut self) -> Result<u64> {
        self.buffer.put_i16(-1);
        self.writer.write_all(&self.buffer).map_err(copy_io)?;
        let (sql, first_row) = (self.sql, self.first_row);
        self.writer
            .finish()
            .map_err(|err| at_line(from_postgres(&err, &sql), &err, first_row))
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
