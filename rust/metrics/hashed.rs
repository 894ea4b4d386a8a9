//! Aggregation in the table's own order, for requests without a percentile.
//!
//! Walking the `(series, time)` index costs a row lookup per index entry, and metric rows
//! are stored in arrival order (every series interleaved), so each lookup lands on another
//! page: on a million rows that walk was most of the aggregation's time, ten times a plain
//! scan. Count, sum, min and max do not need the rows in order, so these requests scan the
//! table and keep every `(series, bucket)`'s accumulators in a hash map instead. Memory is
//! one set of accumulators per output bucket, the size of the answer the caller receives
//! anyway. Percentiles keep the ordered walk (`super::aggregate`), which holds one bucket's
//! samples at a time rather than every sample of the range.
//!
//! The buckets come out sorted as the ordered walk emits them: by series in `SQLite`'s
//! order (NULL, numbers, text, blobs; text and blobs bytewise), then by start.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use super::{accumulate_row, not_a_datetime, stored_number, Accumulator, Bucket, Request, Source};
use crate::engine::{bind, owned_value, sqlite_order};
use crate::error::{Error, Result};
use crate::time;

/// Every `(series, bucket)` seen so far and its accumulators.
struct Groups {
    /// Accumulators per bucket: one per input of the source.
    width: usize,
    /// A series' encoded value (`encode`) to its number in `series`.
    numbers: HashMap<Vec<u8>, u32, RandomState>,
    series: Vec<Value>,
    /// Per series, the start and slot of the bucket its latest row went to: rows of a series
    /// mostly arrive in time order, so most rows skip the `slots` lookup.
    latest: Vec<(i64, usize)>,
    /// `(series number, bucket start)` to its slot in `keys` and `accumulators`.
    slots: HashMap<(u32, i64), usize, RandomState>,
    keys: Vec<(u32, i64)>,
    accumulators: Vec<Accumulator>,
    /// The encoding of the current row's series, reused from row to row.
    scratch: Vec<u8>,
}

impl Groups {
    fn new(width: usize) -> Self {
        Groups {
            width,
            numbers: HashMap::default(),
            series: Vec::new(),
            latest: Vec::new(),
            slots: HashMap::default(),
            keys: Vec::new(),
            accumulators: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The accumulators of the bucket `series` and `start` name, created on first sight.
    fn bucket(&mut self, series: ValueRef<'_>, start: i64) -> &mut [Accumulator] {
        encode(series, &mut self.scratch);
        let number = if let Some(&number) = self.numbers.get(self.scratch.as_slice()) {
            number
        } else {
            let number = u32::try_from(self.series.len()).expect("fewer than 2^32 series");
            self.numbers.insert(self.scratch.clone(), number);
            self.series.push(owned_value(series));
            self.latest.push((i64::MIN, usize::MAX));
            number
        };
        let (latest_start, latest_slot) = self.latest[number as usize];
        let slot = if latest_start == start && latest_slot != usize::MAX {
            latest_slot
        } else {
            let next = self.keys.len();
            let slot = *self.slots.entry((number, start)).or_insert(next);
            if slot == next {
                self.keys.push((number, start));
                self.accumulators
                    .extend((0..self.width).map(|_| Accumulator::new(false)));
            }
            self.latest[number as usize] = (start, slot);
            slot
        };
        &mut self.accumulators[slot * self.width..(slot + 1) * self.width]
    }

    /// Hand every bucket to `emit`, sorted by series then start.
    fn finish(
        mut self,
        source: &Source,
        request: &Request<'_>,
        emit: &mut impl FnMut(Bucket) -> Result<()>,
    ) -> Result<()> {
        let mut by_series: Vec<u32> = (0..u32::try_from(self.series.len()).expect("u32")).collect();
        by_series
            .sort_by(|&a, &b| sqlite_order(&self.series[a as usize], &self.series[b as usize]));
        let mut rank = vec![0_u32; by_series.len()];
        for (position, &number) in by_series.iter().enumerate() {
            rank[number as usize] = u32::try_from(position).expect("u32");
        }
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_unstable_by_key(|&slot| {
            let (number, start) = self.keys[slot];
            (rank[number as usize], start)
        });
        for slot in order {
            let (number, start_ms) = self.keys[slot];
            let accumulators = &mut self.accumulators[slot * self.width..(slot + 1) * self.width];
            let values = request
                .outputs
                .iter()
                .map(|&(index, stat)| {
                    accumulators[index].finish(stat, source.inputs[index].integer())
                })
                .collect();
            emit(Bucket {
                series: self.series[number as usize].clone(),
                start_ms,
                values,
            })?;
        }
        Ok(())
    }
}

/// A series value as bytes that are equal exactly when the values are the same to
/// `super::same` (a type tag, then the value).
fn encode(value: ValueRef<'_>, out: &mut Vec<u8>) {
    out.clear();
    match value {
        ValueRef::Null => out.push(0),
        ValueRef::Integer(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        ValueRef::Real(x) => {
            out.push(2);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        ValueRef::Text(text) => {
            out.push(3);
            out.extend_from_slice(text);
        }
        ValueRef::Blob(blob) => {
            out.push(4);
            out.extend_from_slice(blob);
        }
    }
}

/// Aggregate the rows `request.condition` keeps, read by `head + condition + tail` in any
/// order, and emit the buckets sorted. Returns the rows read.
pub(super) fn aggregate(
    conn: &Connection,
    source: &Source,
    request: &Request<'_>,
    tail: &str,
    emit: &mut impl FnMut(Bucket) -> Result<()>,
) -> Result<u64> {
    let sql = format!("{}{}{}", source.sql.head, request.condition, tail);
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(|e| Error::from_sqlite(e, &sql))?;
    bind(&mut stmt, request.params)?;
    let mut groups = Groups::new(source.inputs.len());
    let mut read = 0;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(|e| Error::from_sqlite(e, &sql))? {
        let get = |index: usize| row.get_ref(index).map_err(|e| Error::from_sqlite(e, &sql));
        let time_value = get(1)?;
        let Some(time) = time::read(time_value) else {
            return Err(not_a_datetime(source, time_value));
        };
        let start = time.div_euclid(request.every_ms) * request.every_ms;
        let accumulators = groups.bucket(get(0)?, start);
        accumulate_row(source, &get, accumulators, |name, value| {
            stored_number(source, name, value)
        })?;
        read += 1;
    }
    groups.finish(source, request, emit)?;
    Ok(read)
}
