//! Metric ingest on PostgreSQL: each chunk is one transaction holding binary COPYs that are
//! fed as rows are converted. Rows are converted a batch at a time with the GIL held and
//! sent with it released, so the server stores one batch while the next is converted. A
//! run of rows giving other columns ends the COPY and starts another (a row giving none
//! takes `DEFAULT VALUES`).

use std::collections::VecDeque;

use pyo3::prelude::*;

use super::slot::Slot;
use super::{Call, Options, PyBulkInsert};
use crate::bulk::Run;
use crate::bulk_pg::insert_sql;
use crate::engine::postgres::PgEngine;
use crate::error::Error;

/// Rows converted per batch sent. The first batch of a chunk is smaller and each next one
/// twice as large up to this, because the server has nothing to store until the first
/// batch arrives.
const BATCH_ROWS: usize = 4096;
const FIRST_BATCH_ROWS: usize = 256;

/// Converts up to `limit` rows into runs; returns how many it converted.
type Fill<'f, V> = dyn FnMut(&mut Vec<Run<V>>, usize) -> PyResult<usize> + 'f;

impl PyBulkInsert {
    /// Write the rows `fill` converts by COPY, `options.chunk_rows` per transaction (all
    /// in one with `atomic`). Returns the rows written; errors carry `committed` unless
    /// atomic, as `write_chunks` does.
    pub(super) fn copy_chunks<V: Slot>(
        py: Python<'_>,
        call: &Call<V>,
        options: Options,
        engine: &PgEngine,
        mut fill: impl FnMut(&mut Vec<Run<V>>, usize) -> PyResult<usize>,
    ) -> PyResult<u64> {
        if call.target.skip_duplicates {
            return Err(Error::invalid(
                "COPY cannot skip duplicates; use create_many(skip_duplicates=True)",
            )
            .into());
        }
        let Options {
            atomic, chunk_rows, ..
        } = options;
        if chunk_rows == 0 {
            return Err(Error::invalid("chunk_rows must be at least 1").into());
        }
        if atomic {
            py.detach(|| engine.begin())?;
        }
        let mut written = 0;
        let mut converted = 0;
        let outcome = (|| -> PyResult<()> {
            loop {
                if !atomic {
                    py.detach(|| engine.begin())?;
                }
                let mut taken = 0;
                let chunk = Self::copy_chunk(
                    py,
                    call,
                    engine,
                    converted,
                    chunk_rows,
                    &mut |runs, limit| {
                        let got = fill(runs, limit)?;
                        taken += got;
                        Ok(got)
                    },
                );
                match chunk {
                    Ok(copied) => {
                        if !atomic {
                            py.detach(|| engine.commit())?;
                        }
                        written += copied;
                    }
                    Err(err) => {
                        if !atomic {
                            let _ = py.detach(|| engine.rollback());
                        }
                        return Err(err);
                    }
                }
                converted += taken;
                if taken < chunk_rows {
                    return Ok(());
                }
            }
        })();
        match outcome {
            Ok(()) => {
                if atomic {
                    py.detach(|| engine.commit())?;
                }
                Ok(written)
            }
            Err(err) => {
                if atomic {
                    let _ = py.detach(|| engine.rollback());
                } else {
                    let _ = err
                        .value(py)
                        .setattr(pyo3::intern!(py, "committed"), written);
                }
                Err(err)
            }
        }
    }

    /// One chunk: up to `chunk_rows` rows from `fill`, inside the open transaction.
    fn copy_chunk<V: Slot>(
        py: Python<'_>,
        call: &Call<V>,
        engine: &PgEngine,
        first_row: usize,
        chunk_rows: usize,
        fill: &mut Fill<'_, V>,
    ) -> PyResult<u64> {
        let mut lease = engine.lease_for_copy()?;
        let mut pending: VecDeque<Run<V>> = VecDeque::new();
        let mut pulled = 0;
        let mut exhausted = false;
        let mut batch_rows = FIRST_BATCH_ROWS;
        // Convert the next batch into `pending`; false once the chunk has no more rows.
        let mut pull = |pending: &mut VecDeque<Run<V>>, pulled: &mut usize| -> PyResult<bool> {
            let want = batch_rows.min(chunk_rows - *pulled);
            batch_rows = (batch_rows * 2).min(BATCH_ROWS);
            if want == 0 {
                return Ok(false);
            }
            let mut runs = Vec::new();
            let got = fill(&mut runs, want)?;
            *pulled += got;
            pending.extend(runs);
            Ok(got == want)
        };
        let mut copied = 0;
        let mut row = first_row;
        let outcome = (|| -> PyResult<()> {
            loop {
                if pending.is_empty() {
                    if exhausted {
                        return Ok(());
                    }
                    exhausted = !pull(&mut pending, &mut pulled)?;
                    if pending.is_empty() {
                        return Ok(());
                    }
                }
                let present = pending[0].present.clone();
                if present.is_empty() {
                    let run = pending.pop_front().expect("a run");
                    let sql = insert_sql(&call.target, &[], 1);
                    for _ in 0..run.rows {
                        copied += py.detach(|| lease.execute(&sql))?;
                    }
                    row += run.rows;
                    continue;
                }
                let sql = &*call.target.sql;
                let names: Vec<&str> = present.iter().map(|&c| sql.columns[c].as_str()).collect();
                let (head, tail) = sql.copy.as_ref().ok_or_else(|| {
                    Error::Unsupported("this dialect has no COPY; insert the rows instead".into())
                })?;
                let copy_sql = format!("{head}{}{tail}", names.join(&sql.column_separator));
                let mut probe_target = call.target.clone();
                probe_target.skip_duplicates = false;
                let probe = insert_sql(&probe_target, &present, 1);
                let mut stream = py.detach(|| lease.open(&probe, &copy_sql, row))?;
                loop {
                    while pending.front().is_some_and(|run| run.present == present) {
                        let run = pending.pop_front().expect("a run");
                        let values = V::as_params(&run.values).ok_or_else(|| {
                            Error::Unsupported("COPY takes PostgreSQL values".into())
                        })?;
                        py.detach(|| stream.send(values, present.len()))?;
                        row += run.rows;
                    }
                    if !pending.is_empty() || exhausted {
                        break;
                    }
                    exhausted = !pull(&mut pending, &mut pulled)?;
                }
                copied += py.detach(|| stream.finish())?;
            }
        })();
        // Any failure with a COPY open aborted it, and with it the transaction.
        if outcome.is_err() {
            lease.settle::<()>(&Err(Error::invalid("")));
        }
        outcome.map(|()| copied)
    }
}
