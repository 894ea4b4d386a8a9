//! The rate limiter, in plain Rust: the spec and its statements (`binding`), the three
//! algorithms (`decide`), the denial cache (`cache`) and the `Limiter` that runs a hit
//! through them (here). Its clock is `time::Clock`, the one the queue reads too.
//! `py_ratelimit.rs` is its Python face.
//!
//! A limiter is bound to a model of the user's schema (docs/ARCHITECTURE.md, decision 4).
//! Python validates the model and hands over a [`Spec`] holding the statements its dialect
//! wrote for it once (`strata.dialects.sqlite.ratelimit`). Each hit is then one call into
//! [`Limiter::hit`], which runs inside `Engine::write` (`BEGIN IMMEDIATE` ... `COMMIT`):
//!
//! 1. read the clock, after the write lock is held, so that no other writer can commit a
//!    later time between our reading and our writing;
//! 2. read the key's state (its newest two windows, or its theoretical arrival time);
//! 3. decide in Rust with exact integer arithmetic ([`decide_window`], [`decide_gcra`]);
//! 4. when allowed, apply it with the dialect's one conditional upsert (in `SQLite`,
//!    `INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`), which repeats the bound,
//!    so the statement itself can never push a count past the limit; a denied hit writes
//!    nothing.
//!
//! With a given limit (not `rule=`), a hit first tries the dialect's one statement that
//! decides and counts at once, in autocommit (`one_statement_hit`); only a hit it does not
//! count takes the steps above, which also report a denial exactly.
//!
//! Two stored shapes:
//!
//! * **window** (fixed and sliding): one row per key and window, `(key..., windowStart)`
//!   unique, holding `count`. `windowStart` is a `DateTime` written in the database's
//!   `DateTime` format, so the client and Prisma read these rows like any other.
//! * **gcra**: one row per key, `(key...)` unique, holding the theoretical arrival time as
//!   integer nanoseconds since the Unix epoch in a `BigInt` column.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::engine::{prepare, refine_error, Engine};
use crate::error::{Error, Result};
use crate::time::{self, Clock};

mod binding;
mod cache;
mod decide;
mod postgres;
#[cfg(test)]
mod tests;

pub use binding::{KeyPart, Shape, Spec, Statements};
pub use decide::{
    decide_gcra, decide_window, sliding_cap, window_start, Algorithm, Decision, Limits,
    WindowState, MAX_LIMIT, MAX_WINDOW_MS,
};

use cache::{DenialCache, Family, Known};
use decide::NANOS_PER_MILLI;

/// Where the limit of a hit comes from.
#[derive(Debug, Clone)]
pub enum LimitSource {
    Given(Limits),
    /// A `SystemConfig` key whose JSON value is `{"limit": n, "window": seconds}`; the cost.
    Rule(String, i64),
}

/// The result of one hit as the binding needs it.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub decision: Decision,
    /// Whether the hit inserted a row, and so used the id it was given.
    pub used_id: bool,
    /// Whether the answer came from the denial cache, without `SQLite`.
    pub cached: bool,
}

pub struct Limiter {
    spec: Spec,
    pub clock: Clock,
    // `denials` and `rules` are also locked with the GIL held (`cached_denial`), so every
    // holder keeps them for a map lookup or update only: never across a statement, another
    // lock's wait, or Python. A holder that waited there could keep a GIL-holding thread
    // waiting on a thread that needs the GIL.
    denials: Mutex<DenialCache>,
    /// The last value read for each rule: `(limit, window_ms)`. Refreshed on every hit that
    /// reaches `SQLite`, and used to answer denials from the cache.
    rules: Mutex<HashMap<String, (i64, i64)>>,
    /// On PostgreSQL, how far the server's clock (which decides) was ahead of ours at the
    /// last hit; the denial cache reads the time as ours plus this. Zero on `SQLite`.
    server_offset_ns: AtomicI64,
    /// The window start the one-statement hit last bound, in milliseconds, and its stored
    /// form. Locked for a comparison and a copy only.
    last_window_start: Mutex<Option<(i64, Value)>>,
}

impl Limiter {
    pub fn new(spec: Spec) -> Result<Limiter> {
        if spec.keys == 0 {
            return Err(Error::invalid(
                "a rate limiter needs at least one key field",
            ));
        }
        Ok(Limiter {
            spec,
            clock: Clock::default(),
            denials: Mutex::new(DenialCache::default()),
            rules: Mutex::new(HashMap::new()),
            server_offset_ns: AtomicI64::new(0),
            last_window_start: Mutex::new(None),
        })
    }

    /// The statements, for tests and `explain`.
    pub fn upsert_sql(&self) -> &str {
        &self.spec.statements.upsert
    }

    pub fn is_window_shape(&self) -> bool {
        self.spec.shape == Shape::Window
    }

    /// Which algorithms this binding's shape stores.
    pub fn check_algorithm(&self, algorithm: Algorithm) -> Result<()> {
        match (&self.spec.shape, algorithm) {
            (Shape::Window, Algorithm::Fixed | Algorithm::Sliding)
            | (Shape::Gcra, Algorithm::Gcra) => Ok(()),
            (Shape::Window, Algorithm::Gcra) => Err(Error::invalid(
                "gcra stores a theoretical arrival time, not window counts: bind a limiter \
                 with tat= to a model with a BigInt field (see docs/ARCHITECTURE.md, \
                 'Rate limiting')",
            )),
            (Shape::Gcra, _) => Err(Error::invalid(
                "this limiter is bound with tat= and runs gcra only; fixed and sliding \
                 windows need count= and window_start=",
            )),
        }
    }

    /// Answer from the denial cache when it holds a denial for this hit. Never touches
    /// `SQLite`; None means the hit must go to the database.
    pub fn cached_denial(
        &self,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
    ) -> Option<Decision> {
        let limits = match source {
            LimitSource::Given(limits) => *limits,
            LimitSource::Rule(name, cost) => {
                let (limit, window_ms) = *self.rules.lock().get(name)?;
                Limits::new(limit, window_ms, *cost).ok()?
            }
        };
        let known = self
            .denials
            .lock()
            .get(Family::new(algorithm, limits), key)?;
        let now = self
            .clock
            .now_ns()
            .saturating_add(self.server_offset_ns.load(Ordering::Relaxed));
        let decision = match known {
            Known::Window(state) => {
                // Only within the window the state describes: a new window starts over.
                if window_start(now, limits.window_ns) != state.window_start_ns {
                    return None;
                }
                decide_window(algorithm, state, now, limits)
            }
            Known::Gcra(tat) => decide_gcra(Some(tat), now, limits).0,
        };
        (!decision.allowed).then_some(decision)
    }

    /// What every hit checks before it reaches the database, on either one: the key and
    /// algorithm are valid, a client-made id is given where the model needs one, and the
    /// answer when the denial cache already has it.
    pub(crate) fn before_hit(
        &self,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
        id: Option<&str>,
    ) -> Result<Option<Hit>> {
        self.check_key(key)?;
        self.check_algorithm(algorithm)?;
        if let Some(decision) = self.cached_denial(key, algorithm, source) {
            return Ok(Some(Hit {
                decision,
                used_id: false,
                cached: true,
            }));
        }
        if self.spec.client_ids && id.is_none() {
            return Err(Error::invalid(
                "this model's ids are generated by the client; pass one",
            ));
        }
        Ok(None)
    }

    /// One hit, in one write transaction. `id` is the id to give a new row, when the client
    /// generates ids.
    pub fn hit(
        &self,
        engine: &Engine,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
        id: Option<&str>,
    ) -> Result<Hit> {
        if let Some(hit) = self.before_hit(key, algorithm, source, id)? {
            return Ok(hit);
        }
        if let LimitSource::Given(limits) = source {
            if let Some(hit) = self.one_statement_hit(engine, key, algorithm, *limits, id)? {
                self.denials
                    .lock()
                    .remove(Family::new(algorithm, *limits), key);
                return Ok(hit);
            }
        }
        // Refused, past now's window, or a rule's limit: decide from the key's state, in
        // one write transaction. A transaction of the caller's may still roll back what it saw, so denials seen
        // inside one are not remembered.
        let remember = !engine.in_transaction();
        let (hit, known, limits) = engine.write(|conn| {
            let limits = self.resolve(conn, source)?;
            // After BEGIN IMMEDIATE: no other writer can commit between this reading and
            // our write, so "now" is the latest time any writer has acted on.
            let now = self.clock.now_ns();
            let (decision, used_id, known) = match algorithm {
                Algorithm::Gcra => self.gcra_hit(conn, key, now, limits, id)?,
                _ => self.window_hit(conn, key, algorithm, now, limits, id)?,
            };
            Ok((
                Hit {
                    decision,
                    used_id,
                    cached: false,
                },
                known,
                limits,
            ))
        })?;
        let family = Family::new(algorithm, limits);
        let mut denials = self.denials.lock();
        if hit.decision.allowed || !remember {
            denials.remove(family, key);
        } else {
            denials.insert(family, key, known, self.clock.now_ns());
        }
        Ok(hit)
    }

    /// The hit as one statement that counts it only if it is allowed (the dialect's `hit`
    /// or `hit_sliding`): the decision when it was counted, None when it was not (refused,
    /// or the key has a window later than now's) or the dialect has no such statement.
    /// The caller then decides in a transaction, which also reports a refusal exactly.
    fn one_statement_hit(
        &self,
        engine: &Engine,
        key: &[KeyPart],
        algorithm: Algorithm,
        limits: Limits,
        id: Option<&str>,
    ) -> Result<Option<Hit>> {
        let statements = &self.spec.statements;
        let sql = match algorithm {
            Algorithm::Sliding => statements.hit_sliding.as_deref(),
            Algorithm::Fixed | Algorithm::Gcra => statements.hit.as_deref(),
        };
        let Some(sql) = sql else {
            return Ok(None);
        };
        engine.write_statement(|conn| {
            // The statement takes the write lock as it starts; "now" is read just before,
            // as close to it as a caller can get.
            let now = self.clock.now_ns();
            let window_ns = limits.window_ns;
            let start = window_start(now, window_ns);
            let step = limits.interval() * limits.cost;
            let mut stmt = prepare(conn, sql)?;
            // Bound straight from the key and the id, without copying them into values.
            let mut index = 0;
            let mut bind = |value: &dyn ToSql| -> Result<()> {
                index += 1;
                stmt.raw_bind_parameter(index, value)
                    .map_err(|e| Error::from_sqlite(e, sql))
            };
            if self.spec.client_ids {
                bind(&id)?;
            }
            for part in key {
                bind(part)?;
            }
            if algorithm == Algorithm::Gcra {
                bind(&now.saturating_add(step))?;
            } else {
                bind(&self.encode_window_start(start))?;
                bind(&limits.cost)?;
            }
            let now_ms = now.div_euclid(NANOS_PER_MILLI);
            for format in &self.spec.stamps {
                bind(&format.value(now_ms))?;
            }
            match algorithm {
                Algorithm::Fixed => bind(&limits.limit)?,
                Algorithm::Sliding => {
                    bind(&limits.limit)?;
                    bind(&window_ns)?;
                    bind(&(start + window_ns - now))?;
                    bind(&self.encode_window_start(start - window_ns))?;
                }
                Algorithm::Gcra => {
                    bind(&now)?;
                    bind(&step)?;
                    bind(&(limits.interval() * limits.limit))?;
                }
            }
            let mut rows = stmt.raw_query();
            let counted = match rows.next() {
                Ok(Some(row)) => Some(self.counted(row, algorithm, now, start, step, limits, id)?),
                Ok(None) => None,
                Err(err) => {
                    drop(rows);
                    return Err(refine_error(conn, Error::from_sqlite(err, sql), &mut stmt));
                }
            };
            // Stepped to its end, the statement commits inside `sqlite3_step`, which then
            // runs SQLite's automatic checkpoint; a statement reset before its end commits
            // in `sqlite3_reset`, which does not, and the WAL would grow without bound.
            if counted.is_some() {
                if let Err(err) = rows.next() {
                    drop(rows);
                    return Err(refine_error(conn, Error::from_sqlite(err, sql), &mut stmt));
                }
            }
            Ok(counted)
        })
    }

    /// The decision of a hit the one-statement hit counted, from the row it returned.
    #[allow(clippy::too_many_arguments)]
    fn counted(
        &self,
        row: &rusqlite::Row<'_>,
        algorithm: Algorithm,
        now: i64,
        start: i64,
        step: i64,
        limits: Limits,
        id: Option<&str>,
    ) -> Result<Hit> {
        let stored: i64 = row.get(0).map_err(sql_error)?;
        let mut column = 1;
        let decision = if algorithm == Algorithm::Gcra {
            let (decision, next) = decide_gcra(Some(stored - step), now, limits);
            (next == Some(stored)).then_some(decision)
        } else {
            let previous = if algorithm == Algorithm::Sliding {
                column += 1;
                row.get::<_, Option<i64>>(1)
                    .map_err(sql_error)?
                    .unwrap_or(0)
            } else {
                0
            };
            let state = WindowState {
                window_start_ns: start,
                previous,
                current: stored - limits.cost,
                exists: stored > limits.cost,
            };
            let decision = decide_window(algorithm, state, now, limits);
            (decision.allowed && decision.count == stored).then_some(decision)
        };
        let decision = decision.ok_or_else(|| {
            // The statement's bound and the core's decision are the same arithmetic;
            // refuse rather than report what the database does not hold.
            Error::Transaction(
                "the rate limiter's statement counted a hit the core would refuse".into(),
            )
        })?;
        let used_id = if self.spec.client_ids {
            // Compared where it lies, without copying the returned id.
            let given = row.get_ref(column).map_err(sql_error)?;
            matches!((given, id), (ValueRef::Text(given), Some(id)) if given == id.as_bytes())
        } else {
            false
        };
        Ok(Hit {
            decision,
            used_id,
            cached: false,
        })
    }

    /// What a hit would decide now, without counting it (on a reader connection).
    pub fn peek(
        &self,
        engine: &Engine,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
    ) -> Result<Decision> {
        self.check_key(key)?;
        self.check_algorithm(algorithm)?;
        engine.read(|conn| {
            let limits = self.resolve(conn, source)?;
            let now = self.clock.now_ns();
            let mut decision = if algorithm == Algorithm::Gcra {
                decide_gcra(self.read_tat(conn, key)?, now, limits).0
            } else {
                let state = self.read_window(conn, key, now, limits.window_ns)?;
                decide_window(algorithm, state, now, limits)
            };
            // The decision describes the state after the hit; a peek reports the state as it
            // stands. Both counts are linear in the hit's cost, so taking it back is exact.
            if decision.allowed {
                decision.count -= limits.cost;
                decision.remaining += limits.cost;
                if algorithm == Algorithm::Gcra {
                    decision.reset_at_ns -= limits.interval() * limits.cost;
                }
            }
            Ok(decision)
        })
    }

    /// Delete every row of `key` (all windows) and forget its cached denials. Returns the
    /// number of rows deleted.
    pub fn reset(&self, engine: &Engine, key: &[KeyPart]) -> Result<u64> {
        self.check_key(key)?;
        let deleted = engine.write(|conn| {
            let sql = &self.spec.statements.delete_key;
            let mut stmt = prepare(conn, sql)?;
            stmt.execute(rusqlite::params_from_iter(key.iter()))
                .map_err(|e| Error::from_sqlite(e, sql))
        })?;
        self.denials.lock().remove_key(key);
        Ok(deleted as u64)
    }

    /// Delete rows older than `older_than_ns` before now, `batch` rows per transaction.
    /// Window rows go by their window start, gcra rows by their arrival time (a past one
    /// means a full bucket, the same as no row). Returns the number of rows deleted.
    pub fn cleanup(&self, engine: &Engine, older_than_ns: i64, batch: i64) -> Result<u64> {
        if older_than_ns < 0 || batch <= 0 {
            return Err(Error::invalid(
                "older_than must not be negative and batch must be positive",
            ));
        }
        let cutoff = self.clock.now_ns().saturating_sub(older_than_ns);
        let bound = match self.spec.shape {
            Shape::Window => self.encode_datetime(cutoff.div_euclid(NANOS_PER_MILLI)),
            Shape::Gcra => Value::Integer(cutoff),
        };
        let mut total = 0;
        loop {
            let deleted = engine.write(|conn| {
                let sql = &self.spec.statements.cleanup;
                let mut stmt = prepare(conn, sql)?;
                stmt.execute(rusqlite::params![bound, batch])
                    .map_err(|e| Error::from_sqlite(e, sql))
            })?;
            total += deleted as u64;
            if i64::try_from(deleted).is_ok_and(|deleted| deleted < batch) {
                return Ok(total);
            }
        }
    }

    fn check_key(&self, key: &[KeyPart]) -> Result<()> {
        if key.len() == self.spec.keys {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "this limiter is keyed by {} field(s), got {} key value(s)",
                self.spec.keys,
                key.len()
            )))
        }
    }

    /// The limits of a hit: as given, or read from the config row inside the transaction
    /// (so that a changed row applies at once) and remembered for the denial cache.
    fn resolve(&self, conn: &Connection, source: &LimitSource) -> Result<Limits> {
        let (name, cost) = match source {
            LimitSource::Given(limits) => return Ok(*limits),
            LimitSource::Rule(name, cost) => (name, *cost),
        };
        let sql = self.spec.statements.rule.as_deref().ok_or_else(|| {
            Error::invalid(
                "rule= needs a SystemConfig model (a unique String key and a Json value)",
            )
        })?;
        let mut stmt = prepare(conn, sql)?;
        let row = stmt
            .query_row([name], |row| {
                Ok((row.get::<_, Value>(0)?, row.get::<_, Value>(1)?))
            })
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => {
                    Error::invalid(format!("unknown rate-limit rule {name:?}"))
                }
                rusqlite::Error::SqliteFailure(_, Some(message)) if message.contains("JSON") => {
                    Error::invalid(format!("rule {name:?} does not hold JSON: {message}"))
                }
                other => Error::from_sqlite(other, sql),
            })?;
        let malformed = || {
            Error::invalid(format!(
                "rule {name:?} must hold {{\"limit\": <int>, \"window\": <seconds>}}"
            ))
        };
        let Value::Integer(limit) = row.0 else {
            return Err(malformed());
        };
        let window_ms = match row.1 {
            Value::Integer(seconds) => seconds.checked_mul(1000).ok_or_else(malformed)?,
            Value::Real(seconds) => seconds_to_ms(seconds).ok_or_else(malformed)?,
            _ => return Err(malformed()),
        };
        let limits = Limits::new(limit, window_ms, cost)?;
        self.rules.lock().insert(name.clone(), (limit, window_ms));
        Ok(limits)
    }

    /// The key's state in the window that `now_ns` falls in. If the key already has a later
    /// window (some process's clock was ahead, or ours stepped back), the hit counts in that
    /// later window instead: going back to an earlier window could admit more.
    fn read_window(
        &self,
        conn: &Connection,
        key: &[KeyPart],
        now_ns: i64,
        window_ns: i64,
    ) -> Result<WindowState> {
        let sql = &self.spec.statements.state;
        let mut stmt = prepare(conn, sql)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(key.iter()))
            .map_err(|e| Error::from_sqlite(e, sql))?;
        let mut newest = Vec::with_capacity(2);
        while let Some(row) = rows.next().map_err(|e| Error::from_sqlite(e, sql))? {
            let start = decode_datetime_ms(row.get_ref(0).map_err(sql_error)?)?;
            let count: i64 = row.get(1).map_err(sql_error)?;
            newest.push((start.saturating_mul(NANOS_PER_MILLI), count));
        }
        Ok(window_state(&newest, now_ns, window_ns))
    }

    fn window_hit(
        &self,
        conn: &Connection,
        key: &[KeyPart],
        algorithm: Algorithm,
        now: i64,
        limits: Limits,
        id: Option<&str>,
    ) -> Result<(Decision, bool, Known)> {
        let state = self.read_window(conn, key, now, limits.window_ns)?;
        let decision = decide_window(algorithm, state, now, limits);
        if !decision.allowed {
            return Ok((decision, false, Known::Window(state)));
        }
        // The most the window's row may hold after this hit; the statement checks it again.
        let bound = decision.count;
        let stored = [
            self.encode_datetime(state.window_start_ns / NANOS_PER_MILLI),
            Value::Integer(limits.cost),
        ];
        let count: i64 = self.upsert(conn, key, &stored, now, id, Value::Integer(bound))?;
        if count != decision.count {
            // Impossible while we hold the write lock; refuse rather than report a count
            // that the database does not hold.
            return Err(Error::Transaction(format!(
                "the window's count changed under the write lock ({} != {count})",
                decision.count
            )));
        }
        Ok((decision, !state.exists, Known::Window(state)))
    }

    fn read_tat(&self, conn: &Connection, key: &[KeyPart]) -> Result<Option<i64>> {
        let sql = &self.spec.statements.state;
        let mut stmt = prepare(conn, sql)?;
        match stmt.query_row(rusqlite::params_from_iter(key.iter()), |row| {
            row.get::<_, i64>(0)
        }) {
            Ok(tat) => Ok(Some(tat)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(other) => Err(Error::from_sqlite(other, sql)),
        }
    }

    fn gcra_hit(
        &self,
        conn: &Connection,
        key: &[KeyPart],
        now: i64,
        limits: Limits,
        id: Option<&str>,
    ) -> Result<(Decision, bool, Known)> {
        let tat = self.read_tat(conn, key)?;
        let (decision, next) = decide_gcra(tat, now, limits);
        let Some(next) = next else {
            return Ok((decision, false, Known::Gcra(tat.unwrap_or(now))));
        };
        let guard = tat.map_or(Value::Null, Value::Integer);
        let stored: i64 = self.upsert(conn, key, &[Value::Integer(next)], now, id, guard)?;
        if stored != next {
            return Err(Error::Transaction(
                "the arrival time changed under the write lock".into(),
            ));
        }
        Ok((decision, tat.is_none(), Known::Gcra(next)))
    }

    /// Run the conditional upsert and return the value it stored. The parameters follow
    /// the order `Statements::upsert` documents: id, keys, stored values, created and
    /// updated stamps, then the guard.
    fn upsert(
        &self,
        conn: &Connection,
        key: &[KeyPart],
        stored: &[Value],
        now: i64,
        id: Option<&str>,
        guard: Value,
    ) -> Result<i64> {
        let sql = &self.spec.statements.upsert;
        let mut stmt = prepare(conn, sql)?;
        let mut index = 1;
        let mut bind = |value: &dyn ToSql| -> Result<()> {
            stmt.raw_bind_parameter(index, value)
                .map_err(|e| Error::from_sqlite(e, sql))?;
            index += 1;
            Ok(())
        };
        if self.spec.client_ids {
            bind(&id)?;
        }
        for part in key {
            bind(part)?;
        }
        for value in stored {
            bind(value)?;
        }
        let now_ms = now.div_euclid(NANOS_PER_MILLI);
        for format in &self.spec.stamps {
            bind(&format.value(now_ms))?;
        }
        bind(&guard)?;
        let mut rows = stmt.raw_query();
        let returned = match rows.next() {
            Ok(Some(row)) => row.get::<_, i64>(0).map_err(sql_error)?,
            Ok(None) => {
                return Err(Error::Transaction(
                    "the conditional upsert refused a hit that was decided as allowed".into(),
                ))
            }
            Err(err) => {
                drop(rows);
                return Err(refine_error(conn, Error::from_sqlite(err, sql), &mut stmt));
            }
        };
        Ok(returned)
    }

    fn encode_datetime(&self, ms: i64) -> Value {
        self.spec.datetime_format.value(ms)
    }

    /// The stored form of the window start `start_ns`, remembered for the next hits: every
    /// hit of a window writes the same one, and formatting it costs more than the lookup.
    fn encode_window_start(&self, start_ns: i64) -> Value {
        let ms = start_ns.div_euclid(NANOS_PER_MILLI);
        let mut last = self.last_window_start.lock();
        match &*last {
            Some((cached, value)) if *cached == ms => value.clone(),
            _ => {
                let value = self.encode_datetime(ms);
                *last = Some((ms, value.clone()));
                value
            }
        }
    }
}

/// The key's state in the window that `now_ns` falls in, from its newest windows
/// (`(start_ns, count)`, newest first, at most two). If the key already has a later window
/// (some process's clock was ahead, or ours stepped back), the hit counts in that later
/// window instead: going back to an earlier window could admit more.
fn window_state(newest: &[(i64, i64)], now_ns: i64, window_ns: i64) -> WindowState {
    let mut start = window_start(now_ns, window_ns);
    if let Some(&(latest, _)) = newest.first() {
        start = start.max(latest);
    }
    let mut state = WindowState {
        window_start_ns: start,
        ..WindowState::default()
    };
    for &(row_start, count) in newest {
        if row_start == start {
            state.current = count;
            state.exists = true;
        } else if row_start == start - window_ns {
            state.previous = count;
        }
    }
    state
}

fn sql_error(err: rusqlite::Error) -> Error {
    Error::from_sqlite(err, "")
}

/// Seconds (a float from Python or a JSON value) as whole milliseconds, or None when not
/// finite or out of range. Rounded to the nearest millisecond: 0.1 s is 100 ms.
pub fn seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    // The bounds are exactly representable; the cast is checked by them.
    #[allow(clippy::cast_possible_truncation)]
    (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
}

/// A stored window start as milliseconds since the epoch, in any format the client reads.
pub fn decode_datetime_ms(value: ValueRef<'_>) -> Result<i64> {
    time::read(value).ok_or_else(|| {
        Error::invalid(format!(
            "the window start {value:?} is not a DateTime this limiter can read"
        ))
    })
}
