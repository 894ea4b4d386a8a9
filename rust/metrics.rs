//! Metric aggregation and rollups, in plain Rust.
//!
//! [`aggregate`] reads one model's rows in `(series, time)` order, which the
//! `@@index([series, time])` that metric models carry hands out without a sort, and keeps
//! one bucket open at a time: every row either joins the open bucket or closes it. Memory is
//! one bucket's worth whatever the table's size, and no temporary b-tree is built, which is
//! where `SQLite`'s own `GROUP BY` over a computed bucket spends its time. That walk is
//! needed for percentiles only; the other statistics read the table in its own order
//! (`hashed`), which spares a row lookup per index entry.
//!
//! Statistics per `(series, bucket)` and value: `count` (non-NULL values), `sum`, `avg`,
//! `min` and `max` are exact; percentiles are exact too: the bucket's values are kept and
//! interpolated linearly between the two nearest ranks, which is `DuckDB`'s `quantile_cont`
//! and numpy's default, so the three agree. NULL values are skipped, as in SQL: a bucket
//! whose values are all NULL has count 0 and NULL for the rest.
//!
//! A rollup model stores `count`, `sum`, `min` and `max` per bucket, which merge exactly, so
//! the same code aggregates a rollup into a coarser one ([`Input::Partial`]).
//! [`rollup`] keeps one up to date from its watermark: the latest bucket it holds.
//!
//! On PostgreSQL (`pg`) the rows are decoded from the server's binary results and go
//! through the same [`Bucketer`], so both databases compute the same numbers.

use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use crate::bulk::{Run, Target};
use crate::engine::bind;
use crate::error::{Error, Result};
use crate::time::{self, Format};

mod hashed;
pub mod pg;

/// Where a value's samples come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// One column of raw samples (its quoted name, for messages).
    Raw { column: String, integer: bool },
    /// A rollup's partial aggregates, merged: four columns, `count`, `sum`, `min`, `max`.
    Partial { integer: bool },
}

impl Input {
    fn integer(&self) -> bool {
        match self {
            Input::Raw { integer, .. } | Input::Partial { integer, .. } => *integer,
        }
    }
}

/// One statistic of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// An exact percentile, as a fraction (0.95 for p95).
    Quantile(f64),
}

impl Stat {
    /// `count`, `sum`, `avg`, `min`, `max`, `p50`, `p95`, `p99`.
    pub fn parse(name: &str) -> Option<Stat> {
        Some(match name {
            "count" => Stat::Count,
            "sum" => Stat::Sum,
            "avg" => Stat::Avg,
            "min" => Stat::Min,
            "max" => Stat::Max,
            "p50" => Stat::Quantile(0.50),
            "p95" => Stat::Quantile(0.95),
            "p99" => Stat::Quantile(0.99),
            _ => return None,
        })
    }
}

/// How the dialect reads a metric model (`strata.dialects.base.MetricsSourceSql`): the
/// statement streaming its rows in `(series, time)` order is `head + condition + tail`.
#[derive(Debug, Clone)]
pub struct SourceSql {
    pub head: String,
    pub tail: String,
    /// The condition that keeps every row.
    pub all_rows: String,
    /// The condition that keeps rows from a time on (one parameter).
    pub since: String,
    /// Ends the same statement without the `ORDER BY`, for aggregations that need no
    /// order (`hashed`); `None` where the dialect offers none.
    pub unordered_tail: Option<String>,
}

/// The model whose rows are aggregated, as bound in `strata/metrics.py`. The names are for
/// messages; the statements are the dialect's.
#[derive(Debug, Clone)]
pub struct Source {
    pub table: String,
    pub time: String,
    pub inputs: Vec<Input>,
    pub sql: SourceSql,
}

/// One aggregation: the bucket width, the statistics and a filter. `P` is the database's
/// parameter type (`SQLite`'s `Value`, PostgreSQL's `Param`).
#[derive(Debug)]
pub struct Request<'a, P = Value> {
    pub every_ms: i64,
    /// (index into `Source::inputs`, statistic), in output order.
    pub outputs: &'a [(usize, Stat)],
    /// A condition on the table aliased `t0`, built by Python with the database's
    /// placeholders (`SourceSql::all_rows` for none).
    pub condition: &'a str,
    pub params: &'a [P],
}

// Derived Clone/Copy would ask `P: Copy`; only references are copied.
impl<P> Clone for Request<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P> Copy for Request<'_, P> {}

/// One `(series, bucket)` and its statistics in `Request::outputs` order. The series is
/// the database's own value (`SQLite`'s `Value`, PostgreSQL's `pg::PgSeries`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket<S = Value> {
    pub series: S,
    pub start_ms: i64,
    pub values: Vec<Value>,
}

/// The running statistics of one value in the open bucket.
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    count: i64,
    /// The exact sum while every value was an integer (`all_integers`); `sum` otherwise.
    sum_int: i128,
    all_integers: bool,
    sum: f64,
    /// Whether a sum was seen at all (a partial's sum may be NULL while its count is not).
    summed: bool,
    min: f64,
    max: f64,
    /// The samples themselves, kept only when a percentile of this value is asked for.
    samples: Option<Vec<f64>>,
}

impl Accumulator {
    fn new(keep_samples: bool) -> Self {
        Accumulator {
            count: 0,
            sum_int: 0,
            all_integers: true,
            sum: 0.0,
            summed: false,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            samples: keep_samples.then(Vec::new),
        }
    }

    fn reset(&mut self) {
        let samples = self.samples.take().map(|mut s| {
            s.clear();
            s
        });
        *self = Accumulator {
            samples,
            ..Accumulator::new(false)
        };
    }

    fn add_sum(&mut self, value: ValueRef<'_>) -> Option<f64> {
        let number = match value {
            ValueRef::Integer(n) => {
                self.sum_int += i128::from(n);
                #[allow(clippy::cast_precision_loss)] // what SQLite's own avg() does
                let number = n as f64;
                number
            }
            ValueRef::Real(x) => {
                // A float in an integer column (written by other software): the float sum
                // takes over from here on.
                self.all_integers = false;
                x
            }
            _ => return None,
        };
        self.sum += number;
        self.summed = true;
        Some(number)
    }

    fn sample(&mut self, value: ValueRef<'_>) {
        if let Some(x) = self.add_sum(value) {
            self.count += 1;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            if let Some(samples) = &mut self.samples {
                samples.push(x);
            }
        }
    }

    fn merge(
        &mut self,
        count: ValueRef<'_>,
        sum: ValueRef<'_>,
        min: ValueRef<'_>,
        max: ValueRef<'_>,
    ) {
        if let ValueRef::Integer(n) = count {
            self.count += n;
        }
        self.add_sum(sum);
        if let Some(x) = number(min) {
            self.min = self.min.min(x);
        }
        if let Some(x) = number(max) {
            self.max = self.max.max(x);
        }
    }

    fn finish(&mut self, stat: Stat, integer: bool) -> Value {
        if self.count == 0 {
            return match stat {
                Stat::Count => Value::Integer(0),
                _ => Value::Null,
            };
        }
        let exact = integer && self.all_integers;
        let whole = |x: f64| {
            // Values of an integer column come back as integers.
            #[allow(clippy::cast_possible_truncation)]
            if integer && x.fract() == 0.0 && x.abs() < 9.2e18 {
                Value::Integer(x as i64)
            } else {
                Value::Real(x)
            }
        };
        match stat {
            Stat::Count => Value::Integer(self.count),
            Stat::Sum if !self.summed => Value::Null,
            Stat::Sum if exact => {
                i64::try_from(self.sum_int).map_or_else(|_| whole(self.sum), Value::Integer)
            }
            Stat::Sum => Value::Real(self.sum),
            #[allow(clippy::cast_precision_loss)]
            Stat::Avg if exact => Value::Real(self.sum_int as f64 / self.count as f64),
            #[allow(clippy::cast_precision_loss)]
            Stat::Avg => Value::Real(self.sum / self.count as f64),
            Stat::Min => whole(self.min),
            Stat::Max => whole(self.max),
            Stat::Quantile(q) => {
                let samples = self.samples.as_mut().expect("kept for percentiles");
                if samples.is_empty() {
                    return Value::Null;
                }
                // Sorted once per bucket; a second percentile finds it sorted already.
                if !samples.windows(2).all(|pair| pair[0] <= pair[1]) {
                    samples.sort_unstable_by(f64::total_cmp);
                }
                Value::Real(quantile_sorted(samples, q))
            }
        }
    }
}

/// The `q` quantile of sorted `samples`, interpolated linearly between the two nearest
/// ranks (`DuckDB`'s `quantile_cont`, numpy's default `linear` method).
pub fn quantile_sorted(samples: &[f64], q: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let position = q * (samples.len() - 1) as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let (a, b) = (samples[low], samples[high]);
    #[allow(clippy::cast_precision_loss)]
    let fraction = position - low as f64;
    if fraction == 0.0 {
        a
    } else {
        a + (b - a) * fraction
    }
}

fn number(value: ValueRef<'_>) -> Option<f64> {
    match value {
        #[allow(clippy::cast_precision_loss)]
        ValueRef::Integer(n) => Some(n as f64),
        ValueRef::Real(x) => Some(x),
        _ => None,
    }
}

fn same(current: &Value, value: ValueRef<'_>) -> bool {
    match (current, value) {
        (Value::Null, ValueRef::Null) => true,
        (Value::Integer(a), ValueRef::Integer(b)) => *a == b,
        (Value::Real(a), ValueRef::Real(b)) => a.to_bits() == b.to_bits(),
        (Value::Text(a), ValueRef::Text(b)) => a.as_bytes() == b,
        (Value::Blob(a), ValueRef::Blob(b)) => a == b,
        _ => false,
    }
}

/// The statement that streams the rows `condition` keeps, in `(series, time)` order.
pub fn select_sql(source: &Source, condition: &str) -> String {
    let sql = &source.sql;
    let mut text = String::with_capacity(sql.head.len() + condition.len() + sql.tail.len());
    text.push_str(&sql.head);
    text.push_str(condition);
    text.push_str(&sql.tail);
    text
}

/// Check a request against its source before any row is read.
pub fn check<P>(source: &Source, request: &Request<'_, P>) -> Result<()> {
    if request.every_ms <= 0 {
        return Err(Error::invalid("the bucket width must be positive"));
    }
    for &(index, stat) in request.outputs {
        let input = source
            .inputs
            .get(index)
            .ok_or_else(|| Error::invalid(format!("no value number {index}")))?;
        if matches!(stat, Stat::Quantile(_)) && matches!(input, Input::Partial { .. }) {
            return Err(Error::invalid(
                "percentiles cannot be computed from a rollup's count, sum, min and max; \
                 aggregate the raw model instead",
            ));
        }
    }
    Ok(())
}

/// The open bucket of one aggregation and its accumulators: rows arrive in `(series,
/// time)` order, from either database, and each finished bucket goes to `emit`. `S` is the
/// database's series value.
pub(crate) struct Bucketer<'r, S> {
    source: &'r Source,
    outputs: &'r [(usize, Stat)],
    every_ms: i64,
    accumulators: Vec<Accumulator>,
    /// The series, the bucket's start and the latest time seen.
    open: Option<(S, i64, i64)>,
    read: u64,
}

impl<'r, S: Clone> Bucketer<'r, S> {
    pub(crate) fn new<P>(source: &'r Source, request: &Request<'r, P>) -> Self {
        let accumulators = (0..source.inputs.len())
            .map(|index| {
                Accumulator::new(
                    request
                        .outputs
                        .iter()
                        .any(|&(i, stat)| i == index && matches!(stat, Stat::Quantile(_))),
                )
            })
            .collect();
        Bucketer {
            source,
            outputs: request.outputs,
            every_ms: request.every_ms,
            accumulators,
            open: None,
            read: 0,
        }
    }

    fn close(&mut self, series: S, start_ms: i64) -> Bucket<S> {
        let source = self.source;
        let values = self
            .outputs
            .iter()
            .map(|&(index, stat)| {
                self.accumulators[index].finish(stat, source.inputs[index].integer())
            })
            .collect();
        for accumulator in &mut self.accumulators {
            accumulator.reset();
        }
        Bucket {
            series,
            start_ms,
            values,
        }
    }

    /// Start a row of series `same` tells apart from the open one (`series` makes an owned
    /// copy when it is new) at `time` (ms): closes the open bucket when the row leaves it.
    /// The row's values then go to `accumulators`.
    pub(crate) fn row(
        &mut self,
        same: impl FnOnce(&S) -> bool,
        series: impl FnOnce() -> Result<S>,
        time: i64,
        emit: &mut impl FnMut(Bucket<S>) -> Result<()>,
    ) -> Result<&mut [Accumulator]> {
        self.read += 1;
        let start = time.div_euclid(self.every_ms) * self.every_ms;
        let continues = self
            .open
            .as_ref()
            .is_some_and(|(current, _, _)| same(current));
        if continues {
            let (_, bucket, last) = self.open.as_mut().expect("open");
            if time < *last {
                // ORDER BY sorts the stored form. One format throughout sorts as time
                // does; a column mixing text and integer DateTimes does not.
                return Err(Error::invalid(format!(
                    "{}.{} is not in time order within a series: the column mixes \
                     DateTime formats (text and integer milliseconds)",
                    self.source.table, self.source.time
                )));
            }
            *last = time;
            let previous = std::mem::replace(bucket, start);
            if start != previous {
                let current = current_series(self.open.as_ref());
                emit(self.close(current, previous))?;
            }
        } else {
            if let Some((current, bucket, _)) = self.open.take() {
                emit(self.close(current, bucket))?;
            }
            self.open = Some((series()?, start, time));
        }
        Ok(&mut self.accumulators)
    }

    /// Close the last bucket; returns the rows read.
    pub(crate) fn end(mut self, emit: &mut impl FnMut(Bucket<S>) -> Result<()>) -> Result<u64> {
        if let Some((current, bucket, _)) = self.open.take() {
            emit(self.close(current, bucket))?;
        }
        Ok(self.read)
    }
}

fn current_series<S: Clone>(open: Option<&(S, i64, i64)>) -> S {
    open.expect("a bucket is open").0.clone()
}

/// Stream `source`'s rows through buckets of `request.every_ms` and hand each finished
/// `(series, bucket)` to `emit`, in `(series, bucket)` order. Returns the rows read.
pub fn aggregate(
    conn: &Connection,
    source: &Source,
    request: &Request<'_>,
    mut emit: impl FnMut(Bucket) -> Result<()>,
) -> Result<u64> {
    check(source, request)?;
    let percentiles = request
        .outputs
        .iter()
        .any(|&(_, stat)| matches!(stat, Stat::Quantile(_)));
    if let (Some(tail), false) = (&source.sql.unordered_tail, percentiles) {
        return hashed::aggregate(conn, source, request, tail, &mut emit);
    }
    let sql = select_sql(source, request.condition);
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(|e| Error::from_sqlite(e, &sql))?;
    bind(&mut stmt, request.params)?;
    let mut bucketer = Bucketer::new(source, request);
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(|e| Error::from_sqlite(e, &sql))? {
        let get = |index: usize| row.get_ref(index).map_err(|e| Error::from_sqlite(e, &sql));
        let series = get(0)?;
        let time_value = get(1)?;
        let Some(time) = time::read(time_value) else {
            return Err(not_a_datetime(source, time_value));
        };
        let accumulators = bucketer.row(
            |current| same(current, series),
            || Ok(crate::engine::owned_value(series)),
            time,
            &mut emit,
        )?;
        accumulate_row(source, &get, accumulators, |name, value| {
            stored_number(source, name, value)
        })?;
    }
    bucketer.end(&mut emit)
}

/// `SQLite` stores any value in any column: a raw sample that is text or a blob (written
/// by other software) is an error naming its column, never a silent zero.
fn stored_number(source: &Source, column: &str, value: ValueRef<'_>) -> Result<()> {
    if matches!(value, ValueRef::Text(_) | ValueRef::Blob(_)) {
        Err(not_a_number(source, column, value))
    } else {
        Ok(())
    }
}

fn not_a_datetime(source: &Source, value: ValueRef<'_>) -> Error {
    Error::invalid(format!(
        "{}.{} holds {:?}, which is not a DateTime",
        source.table,
        source.time,
        crate::engine::owned_value(value)
    ))
}

/// Add one row's values (from column 2 on) to the open bucket's accumulators. `check`
/// refuses a raw sample that is not a number, naming the column.
pub(crate) fn accumulate_row<'v>(
    source: &Source,
    get: &impl Fn(usize) -> Result<ValueRef<'v>>,
    accumulators: &mut [Accumulator],
    check: impl Fn(&str, ValueRef<'v>) -> Result<()>,
) -> Result<()> {
    let mut column = 2;
    for (input, accumulator) in source.inputs.iter().zip(accumulators.iter_mut()) {
        match input {
            Input::Raw { column: name, .. } => {
                let value = get(column)?;
                check(name, value)?;
                accumulator.sample(value);
                column += 1;
            }
            Input::Partial { .. } => {
                accumulator.merge(
                    get(column)?,
                    get(column + 1)?,
                    get(column + 2)?,
                    get(column + 3)?,
                );
                column += 4;
            }
        }
    }
    Ok(())
}

fn not_a_number(source: &Source, column: &str, value: ValueRef<'_>) -> Error {
    Error::invalid(format!(
        "{}.{column} holds {:?}, which is not a number",
        source.table,
        crate::engine::owned_value(value)
    ))
}

/// A rollup model: where [`rollup`] writes `count`, `sum`, `min` and `max` per bucket,
/// with the dialect's statements (`strata.dialects.base.RollupSql`).
#[derive(Debug, Clone)]
pub struct RollupTarget {
    /// The latest bucket the rollup holds.
    pub watermark: String,
    /// Deletes the buckets from a start on (one parameter).
    pub delete_from: String,
    /// Writes rows of the series, the bucket start, then one column per output.
    pub insert: Target,
    /// How the target's bucket column stores `DateTime` values.
    pub format: Format,
}

/// Bring `target` up to date from every row of `source`, on `conn` inside the caller's
/// write transaction (`Engine::write`), so that the watermark, the re-aggregation and the
/// writes see one state of the database. `request.condition` and `params` are replaced by
/// the source's own: every row, or the rows from the watermark on.
///
/// The watermark is the latest bucket the target holds, less `lookback_ms` (for samples
/// that arrive late). That bucket may have been written while it was still filling, so it
/// and everything after it are deleted and aggregated again from the source; earlier
/// buckets are final. Returns the number of buckets written.
pub fn rollup(
    conn: &Connection,
    source: &Source,
    source_format: Format,
    request: &Request<'_>,
    target: &RollupTarget,
    lookback_ms: i64,
) -> Result<u64> {
    let latest: Option<i64> = conn
        .query_row(&target.watermark, [], |row| Ok(time::read(row.get_ref(0)?)))
        .map_err(|e| Error::from_sqlite(e, &target.watermark))?;
    let every = request.every_ms;
    let from = latest.map(|ms| (ms - lookback_ms).div_euclid(every) * every);

    let mut condition = source.sql.all_rows.as_str();
    let mut params = Vec::new();
    if let Some(from) = from {
        conn.execute(&target.delete_from, [target.format.value(from)])
            .map_err(|e| Error::from_sqlite(e, &target.delete_from))?;
        condition = &source.sql.since;
        params.push(source_format.value(from));
    }
    let width = target.insert.sql.columns.len();
    let mut pending = Run {
        present: (0..width).collect(),
        values: Vec::new(),
        rows: 0,
    };
    let mut written = 0;
    let scoped = Request {
        condition,
        params: &params,
        ..*request
    };
    aggregate(conn, source, &scoped, |bucket| {
        pending.values.push(bucket.series);
        pending.values.push(target.format.value(bucket.start_ms));
        pending.values.extend(bucket.values);
        pending.rows += 1;
        if pending.rows == 4096 {
            written += target.insert.insert(conn, std::slice::from_ref(&pending))?;
            pending.values.clear();
            pending.rows = 0;
        }
        Ok(())
    })?;
    if pending.rows > 0 {
        written += target.insert.insert(conn, &[pending])?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
