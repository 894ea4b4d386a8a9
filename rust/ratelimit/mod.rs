//! The rate limiter, in plain Rust: the compiled spec with its SQL, the three algorithms,
//! the denial cache and the clock. `py_ratelimit.rs` is its Python face.
//!
//! A limiter is bound to a model of the user's schema (docs/ARCHITECTURE.md, decision 4).
//! Python validates the model and hands over a [`Spec`] of quoted identifiers; [`Limiter::new`]
//! turns it into SQL once. Each hit is then one call into [`Limiter::hit`], which runs inside
//! `Engine::write` (`BEGIN IMMEDIATE` ... `COMMIT`):
//!
//! 1. read the clock, after the write lock is held, so that no other writer can commit a
//!    later time between our reading and our writing;
//! 2. read the key's state (its newest two windows, or its theoretical arrival time);
//! 3. decide in Rust with exact integer arithmetic ([`decide_window`], [`decide_gcra`]);
//! 4. when allowed, apply it with one conditional `INSERT ... ON CONFLICT DO UPDATE ...
//!    WHERE ... RETURNING`. The `WHERE` repeats the bound, so the statement itself can never
//!    push a count past the limit; a denied hit writes nothing.
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
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::engine::{refine_error, Engine};
use crate::error::{Error, Result};
use crate::time::{self, Format};

const NANOS_PER_MILLI: i64 = 1_000_000;
/// The most keys the denial cache holds. Past it, expired entries are swept, and if none
/// have expired the cache starts over: forgetting a denial only costs one trip to `SQLite`.
const DENIAL_CACHE_CAPACITY: usize = 100_000;
/// The largest count a window row stores: Prisma's `Int` is 32-bit.
pub const MAX_LIMIT: i64 = i32::MAX as i64;
/// The longest window: about 68 years, far inside i64 nanoseconds and the `DateTime` range.
pub const MAX_WINDOW_MS: i64 = i32::MAX as i64 * 1000;

/// One key value: a `String` field's text or an `Int`/`BigInt` field's integer. Hashable,
/// unlike `rusqlite::Value`, so that keys can index the denial cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    Text(String),
    Int(i64),
}

impl ToSql for KeyPart {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            KeyPart::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            KeyPart::Int(number) => ToSqlOutput::Borrowed(ValueRef::Integer(*number)),
        })
    }
}

/// What the rows of the bound model hold (see the module comment).
#[derive(Debug, Clone)]
pub enum Shape {
    Window { count: String, window_start: String },
    Gcra { tat: String },
}

/// The SystemConfig-like model that `rule=` reads: a unique text key and a JSON value.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    pub table: String,
    pub key: String,
    pub value: String,
}

/// The binding, as Python validated it against the schema. Every name is already quoted.
#[derive(Debug, Clone)]
pub struct Spec {
    pub table: String,
    /// The key columns, in the order `hit` receives their values.
    pub keys: Vec<String>,
    /// The columns of the unique index the upsert's `ON CONFLICT` names: the keys plus the
    /// window start (window shape) or the keys alone (gcra), in the index's own order.
    pub conflict: Vec<String>,
    pub shape: Shape,
    /// The id column when the client generates ids (`@default(uuid())`, `cuid()`...); each
    /// new row takes one id from the caller. None when the database assigns it.
    pub id: Option<String>,
    /// `DateTime` columns set to the current time on insert (`@default(now())`), each with
    /// its stored form.
    pub created: Vec<(String, Format)>,
    /// `@updatedAt` columns: set on insert and on every update.
    pub updated: Vec<(String, Format)>,
    /// The window start column's stored form (detected from its data by Python).
    pub datetime_format: Format,
    pub config: Option<ConfigSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Fixed,
    Sliding,
    Gcra,
}

impl Algorithm {
    pub fn parse(name: &str) -> Result<Algorithm> {
        match name {
            "fixed" => Ok(Algorithm::Fixed),
            "sliding" => Ok(Algorithm::Sliding),
            "gcra" => Ok(Algorithm::Gcra),
            other => Err(Error::invalid(format!(
                "unknown algorithm {other:?}; expected \"fixed\", \"sliding\" or \"gcra\""
            ))),
        }
    }
}

/// A limit, validated: `limit` units per `window_ns`, this hit costing `cost` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub limit: i64,
    pub window_ns: i64,
    pub cost: i64,
}

impl Limits {
    /// Check a limit before anything touches the database. `window_ms` must be a whole
    /// number of milliseconds, because window starts are stored as `DateTime`s.
    pub fn new(limit: i64, window_ms: i64, cost: i64) -> Result<Limits> {
        if limit <= 0 || limit > MAX_LIMIT {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {limit}"
            )));
        }
        if window_ms <= 0 || window_ms > MAX_WINDOW_MS {
            return Err(Error::invalid(format!(
                "window must be a positive number of seconds, at least 0.001 and at most \
                 {}, got {} ms",
                MAX_WINDOW_MS / 1000,
                window_ms
            )));
        }
        if cost <= 0 || cost > limit {
            return Err(Error::invalid(format!(
                "cost must be between 1 and the limit ({limit}), got {cost}"
            )));
        }
        Ok(Limits {
            limit,
            window_ns: window_ms * NANOS_PER_MILLI,
            cost,
        })
    }

    /// GCRA's emission interval: one unit of the limit frees up every `interval` ns. Rounded
    /// up, so the long-run rate never exceeds `limit / window`.
    pub fn interval(&self) -> i64 {
        (self.window_ns + self.limit - 1) / self.limit
    }
}

/// Where the limit of a hit comes from.
#[derive(Debug, Clone)]
pub enum LimitSource {
    Given(Limits),
    /// A `SystemConfig` key whose JSON value is `{"limit": n, "window": seconds}`; the cost.
    Rule(String, i64),
}

/// The outcome of a hit or a peek.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Units counted against the limit now: the current window's count (fixed, sliding), or
    /// the units not yet refilled (gcra).
    pub count: i64,
    /// How many more hits of cost 1 would be allowed right now.
    pub remaining: i64,
    pub limit: i64,
    /// Fixed and sliding: when the current window ends (allowed) or when this hit would be
    /// allowed (denied). Gcra: when the bucket is full again (allowed) or when this hit would
    /// be allowed (denied). Nanoseconds since the Unix epoch.
    pub reset_at_ns: i64,
    /// 0 when allowed; otherwise how long until this hit would be allowed.
    pub retry_after_ns: i64,
}

/// A window-shaped key's state: the window that the hit counts in and the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowState {
    pub window_start_ns: i64,
    pub previous: i64,
    pub current: i64,
    /// Whether a row for the current window exists (an allowed hit then updates it rather
    /// than inserting one).
    pub exists: bool,
}

/// The start of the window holding `now_ns`: windows are aligned to the Unix epoch, so
/// every process computes the same boundaries.
pub fn window_start(now_ns: i64, window_ns: i64) -> i64 {
    now_ns.div_euclid(window_ns) * window_ns
}

/// Decide a fixed or sliding hit. `now_ns` is the clock's reading; `state` is the key's
/// state in the window the hit counts in (which is later than `now_ns` when the clock
/// stepped back: see `Limiter::read_window`).
///
/// Sliding is Cloudflare's sliding-window counter: the previous window's count weighs in by
/// the share of the previous window that the last `window` of time still covers, so the
/// estimate is `previous * (window - elapsed) / window + current`. It is evaluated times
/// `window`, in i128, so no rounding decides anything.
pub fn decide_window(
    algorithm: Algorithm,
    state: WindowState,
    now_ns: i64,
    limits: Limits,
) -> Decision {
    let Limits {
        limit,
        window_ns,
        cost,
    } = limits;
    let start = state.window_start_ns;
    let end = start + window_ns;
    // A clock behind the window (it stepped back) counts as the window's first instant:
    // the previous window then weighs in fully, which can only deny more.
    let elapsed = (now_ns - start).clamp(0, window_ns);
    let previous = if algorithm == Algorithm::Sliding {
        state.previous
    } else {
        0
    };
    let (w, p, e) = (
        i128::from(window_ns),
        i128::from(previous),
        i128::from(elapsed),
    );
    // Weighted units used, times the window.
    let used = |current: i64| p * (w - e) + i128::from(current) * w;
    let allowed = used(state.current + cost) <= i128::from(limit) * w;
    let count = state.current + if allowed { cost } else { 0 };
    let headroom = (i128::from(limit) * w - used(count)).max(0) / w;
    let remaining = i64::try_from(headroom).unwrap_or(0);
    let reset_at_ns = if allowed || algorithm == Algorithm::Fixed {
        end
    } else {
        sliding_allowed_at(previous, state.current, start, limits)
    };
    Decision {
        allowed,
        count,
        remaining,
        limit,
        reset_at_ns,
        retry_after_ns: if allowed { 0 } else { reset_at_ns - now_ns },
    }
}

/// The first instant at which a denied sliding hit of `cost` would be allowed if nothing
/// else arrived.
fn sliding_allowed_at(previous: i64, current: i64, start: i64, limits: Limits) -> i64 {
    let Limits {
        limit,
        window_ns,
        cost,
    } = limits;
    let w = i128::from(window_ns);
    // Within a window whose earlier window holds `before` and which holds `within`, the hit
    // is allowed once `before * (w - e) <= (limit - within - cost) * w`.
    let first_elapsed = |before: i64, within: i64| -> Option<i128> {
        let room = i128::from(limit - within - cost) * w;
        if room < 0 {
            return None;
        }
        if before == 0 {
            return Some(0);
        }
        // e >= w - room / before, rounded up to whole nanoseconds.
        let floor = room / i128::from(before);
        Some((w - floor).max(0))
    };
    let at = if let Some(elapsed) = first_elapsed(previous, current) {
        i128::from(start) + elapsed
    } else {
        // The current window is full: in the next one, this window becomes the previous.
        let elapsed = first_elapsed(current, 0).unwrap_or(w);
        i128::from(start) + w + elapsed
    };
    i64::try_from(at).unwrap_or(i64::MAX)
}

/// Decide a GCRA hit (a token bucket of `limit` units refilled one per `interval`). `tat`
/// is the key's theoretical arrival time: when the bucket will be full again. Returns the
/// decision and, when allowed, the new arrival time to store.
///
/// A clock that steps back makes `tat - now` larger, which only denies more.
pub fn decide_gcra(tat: Option<i64>, now_ns: i64, limits: Limits) -> (Decision, Option<i64>) {
    let interval = i128::from(limits.interval());
    let now = i128::from(now_ns);
    let base = i128::from(tat.unwrap_or(now_ns)).max(now);
    let burst = interval * i128::from(limits.limit);
    let next = base + interval * i128::from(limits.cost);
    let allowed = next - now <= burst;
    let held_until = if allowed { next } else { base };
    // Units not yet refilled, rounded up: a partly refilled unit is still in use.
    let count = (held_until - now + interval - 1) / interval;
    let count = i64::try_from(count).unwrap_or(i64::MAX).min(limits.limit);
    let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    let decision = Decision {
        allowed,
        count,
        remaining: limits.limit - count,
        limit: limits.limit,
        reset_at_ns: clamp(if allowed { next } else { next - burst }),
        retry_after_ns: if allowed {
            0
        } else {
            clamp(next - burst - now)
        },
    };
    (decision, allowed.then(|| clamp(next)))
}

/// Where time comes from: the system clock, or a value tests set (`set_fixed`). Read only
/// through [`Clock::now_ns`], once per hit, after the write lock is held.
#[derive(Debug)]
pub struct Clock {
    fixed: AtomicI64,
}

const SYSTEM_CLOCK: i64 = i64::MIN;

impl Default for Clock {
    fn default() -> Self {
        Clock {
            fixed: AtomicI64::new(SYSTEM_CLOCK),
        }
    }
}

impl Clock {
    pub fn now_ns(&self) -> i64 {
        match self.fixed.load(Ordering::Relaxed) {
            SYSTEM_CLOCK => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            fixed => fixed,
        }
    }

    /// Fix the clock at `ns` since the Unix epoch, or return to the system clock with None.
    pub fn set_fixed(&self, ns: Option<i64>) {
        self.fixed
            .store(ns.unwrap_or(SYSTEM_CLOCK), Ordering::Relaxed);
    }

    pub fn fixed(&self) -> Option<i64> {
        match self.fixed.load(Ordering::Relaxed) {
            SYSTEM_CLOCK => None,
            fixed => Some(fixed),
        }
    }
}

/// What a denial cache entry remembers: the key's state as `SQLite` last reported it. The
/// database's state can only have moved towards "more used" since (counts grow within a
/// window, the arrival time only moves later), so a hit that this state denies, the
/// database would deny too.
#[derive(Debug, Clone, Copy)]
enum Known {
    Window(WindowState),
    Gcra(i64),
}

/// Which states a cache entry can be compared with: the same algorithm and, for window
/// shapes, the same window length (gcra's state, the arrival time, does not depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Family {
    algorithm: Algorithm,
    window_ns: i64,
}

impl Family {
    fn new(algorithm: Algorithm, limits: Limits) -> Family {
        Family {
            algorithm,
            window_ns: if algorithm == Algorithm::Gcra {
                0
            } else {
                limits.window_ns
            },
        }
    }
}

/// Denials by family, then by key: the inner map is looked up with the borrowed key slice,
/// so a cached answer copies no key.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct DenialCache {
    families: FastMap<Family, FastMap<Vec<KeyPart>, Known>>,
    len: usize,
}

impl DenialCache {
    fn get(&self, family: Family, key: &[KeyPart]) -> Option<Known> {
        self.families.get(&family)?.get(key).copied()
    }

    fn remove(&mut self, family: Family, key: &[KeyPart]) {
        if let Some(entries) = self.families.get_mut(&family) {
            if entries.remove(key).is_some() {
                self.len -= 1;
            }
        }
    }

    fn remove_key(&mut self, key: &[KeyPart]) {
        for entries in self.families.values_mut() {
            if entries.remove(key).is_some() {
                self.len -= 1;
            }
        }
    }

    fn insert(&mut self, family: Family, key: &[KeyPart], known: Known, now_ns: i64) {
        if self.len >= DENIAL_CACHE_CAPACITY {
            for (family, entries) in &mut self.families {
                entries.retain(|_, known| match *known {
                    Known::Window(state) => state.window_start_ns + family.window_ns > now_ns,
                    Known::Gcra(tat) => tat > now_ns,
                });
            }
            self.len = self.families.values().map(HashMap::len).sum();
            if self.len >= DENIAL_CACHE_CAPACITY {
                self.families.clear();
                self.len = 0;
            }
        }
        let entries = self.families.entry(family).or_default();
        if entries.insert(key.to_vec(), known).is_none() {
            self.len += 1;
        }
    }
}

/// The statements of one binding, built once.
#[derive(Debug)]
struct Statements {
    /// The key's newest two rows (window) or its row (gcra).
    state: String,
    upsert: String,
    delete_key: String,
    cleanup: String,
    rule: Option<String>,
}

fn key_filter(keys: &[String]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl Statements {
    fn new(spec: &Spec) -> Statements {
        let table = &spec.table;
        let filter = key_filter(&spec.keys);
        let (stored, state, set, guard, cleanup_column) = match &spec.shape {
            Shape::Window {
                count,
                window_start,
            } => (
                vec![window_start.clone(), count.clone()],
                format!(
                    "SELECT {window_start}, {count} FROM {table} WHERE {filter} \
                     ORDER BY {window_start} DESC LIMIT 2"
                ),
                format!("{count} = {count} + excluded.{count}"),
                // The bound, repeated in the statement: the update cannot pass it.
                format!("{count} + excluded.{count} <= ?"),
                window_start.clone(),
            ),
            Shape::Gcra { tat } => (
                vec![tat.clone()],
                format!("SELECT {tat} FROM {table} WHERE {filter}"),
                format!("{tat} = excluded.{tat}"),
                // Compare-and-set on the arrival time that the decision was made from.
                format!("{tat} = ?"),
                tat.clone(),
            ),
        };
        let mut columns: Vec<String> = spec.id.iter().cloned().collect();
        columns.extend(spec.keys.iter().cloned());
        columns.extend(stored);
        columns.extend(spec.created.iter().map(|(column, _)| column.clone()));
        columns.extend(spec.updated.iter().map(|(column, _)| column.clone()));
        let placeholders = (1..=columns.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut updates = vec![set];
        updates.extend(
            spec.updated
                .iter()
                .map(|(c, _)| format!("{c} = excluded.{c}")),
        );
        let guard = guard.replace('?', &format!("?{}", columns.len() + 1));
        let returned = match &spec.shape {
            Shape::Window { count, .. } => count,
            Shape::Gcra { tat } => tat,
        };
        let upsert = format!(
            "INSERT INTO {table} ({}) VALUES ({placeholders}) ON CONFLICT ({}) DO UPDATE SET {} \
             WHERE {guard} RETURNING {returned}",
            columns.join(", "),
            spec.conflict.join(", "),
            updates.join(", "),
        );
        let rule = spec.config.as_ref().map(|config| {
            format!(
                "SELECT json_extract({v}, '$.limit'), json_extract({v}, '$.window') \
                 FROM {t} WHERE {k} = ?1",
                v = config.value,
                t = config.table,
                k = config.key,
            )
        });
        Statements {
            state,
            upsert,
            delete_key: format!("DELETE FROM {table} WHERE {filter}"),
            // Bounded batches through the rowid, so that each transaction stays short and
            // other writers get the lock in between.
            cleanup: format!(
                "DELETE FROM {table} WHERE rowid IN \
                 (SELECT rowid FROM {table} WHERE {cleanup_column} < ?1 LIMIT ?2)"
            ),
            rule,
        }
    }
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
    sql: Statements,
    pub clock: Clock,
    denials: Mutex<DenialCache>,
    /// The last value read for each rule: `(limit, window_ms)`. Refreshed on every hit that
    /// reaches `SQLite`, and used to answer denials from the cache.
    rules: Mutex<HashMap<String, (i64, i64)>>,
}

impl Limiter {
    pub fn new(spec: Spec) -> Result<Limiter> {
        if spec.keys.is_empty() {
            return Err(Error::invalid(
                "a rate limiter needs at least one key field",
            ));
        }
        let sql = Statements::new(&spec);
        Ok(Limiter {
            spec,
            sql,
            clock: Clock::default(),
            denials: Mutex::new(DenialCache::default()),
            rules: Mutex::new(HashMap::new()),
        })
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The statements, for tests and `explain`.
    pub fn upsert_sql(&self) -> &str {
        &self.sql.upsert
    }

    pub fn is_window_shape(&self) -> bool {
        matches!(self.spec.shape, Shape::Window { .. })
    }

    /// Which algorithms this binding's shape stores.
    pub fn check_algorithm(&self, algorithm: Algorithm) -> Result<()> {
        match (&self.spec.shape, algorithm) {
            (Shape::Window { .. }, Algorithm::Fixed | Algorithm::Sliding)
            | (Shape::Gcra { .. }, Algorithm::Gcra) => Ok(()),
            (Shape::Window { .. }, Algorithm::Gcra) => Err(Error::invalid(
                "gcra stores a theoretical arrival time, not window counts: bind a limiter \
                 with tat= to a model with a BigInt field (see docs/ARCHITECTURE.md, \
                 'Rate limiting')",
            )),
            (Shape::Gcra { .. }, _) => Err(Error::invalid(
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
        let now = self.clock.now_ns();
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
        self.check_key(key)?;
        self.check_algorithm(algorithm)?;
        if let Some(decision) = self.cached_denial(key, algorithm, source) {
            return Ok(Hit {
                decision,
                used_id: false,
                cached: true,
            });
        }
        if self.spec.id.is_some() && id.is_none() {
            return Err(Error::invalid(
                "this model's ids are generated by the client; pass one",
            ));
        }
        // A transaction of the caller's may still roll back what it saw, so denials seen
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
            let mut stmt = prepare(conn, &self.sql.delete_key)?;
            stmt.execute(rusqlite::params_from_iter(key.iter()))
                .map_err(|e| Error::from_sqlite(e, &self.sql.delete_key))
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
            Shape::Window { .. } => self.encode_datetime(cutoff.div_euclid(NANOS_PER_MILLI)),
            Shape::Gcra { .. } => Value::Integer(cutoff),
        };
        let mut total = 0;
        loop {
            let deleted = engine.write(|conn| {
                let mut stmt = prepare(conn, &self.sql.cleanup)?;
                stmt.execute(rusqlite::params![bound, batch])
                    .map_err(|e| Error::from_sqlite(e, &self.sql.cleanup))
            })?;
            total += deleted as u64;
            if i64::try_from(deleted).is_ok_and(|deleted| deleted < batch) {
                return Ok(total);
            }
        }
    }

    fn check_key(&self, key: &[KeyPart]) -> Result<()> {
        if key.len() == self.spec.keys.len() {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "this limiter is keyed by {} field(s), got {} key value(s)",
                self.spec.keys.len(),
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
        let sql = self.sql.rule.as_deref().ok_or_else(|| {
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
        let mut stmt = prepare(conn, &self.sql.state)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(key.iter()))
            .map_err(|e| Error::from_sqlite(e, &self.sql.state))?;
        let mut newest: [(i64, i64); 2] = [(i64::MIN, 0); 2];
        let mut found = 0;
        while let Some(row) = rows
            .next()
            .map_err(|e| Error::from_sqlite(e, &self.sql.state))?
        {
            let start = decode_datetime_ms(row.get_ref(0).map_err(sql_error)?)?;
            let count: i64 = row.get(1).map_err(sql_error)?;
            newest[found] = (start.saturating_mul(NANOS_PER_MILLI), count);
            found += 1;
        }
        let mut start = window_start(now_ns, window_ns);
        if found > 0 && newest[0].0 > start {
            start = newest[0].0;
        }
        let mut state = WindowState {
            window_start_ns: start,
            ..WindowState::default()
        };
        for &(row_start, count) in &newest[..found] {
            if row_start == start {
                state.current = count;
                state.exists = true;
            } else if row_start == start - window_ns {
                state.previous = count;
            }
        }
        Ok(state)
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
        let mut stmt = prepare(conn, &self.sql.state)?;
        match stmt.query_row(rusqlite::params_from_iter(key.iter()), |row| {
            row.get::<_, i64>(0)
        }) {
            Ok(tat) => Ok(Some(tat)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(other) => Err(Error::from_sqlite(other, &self.sql.state)),
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
    /// the column order of `Statements::new`: id, keys, stored values, created, updated,
    /// then the guard.
    fn upsert(
        &self,
        conn: &Connection,
        key: &[KeyPart],
        stored: &[Value],
        now: i64,
        id: Option<&str>,
        guard: Value,
    ) -> Result<i64> {
        let sql = &self.sql.upsert;
        let mut stmt = prepare(conn, sql)?;
        let mut index = 1;
        let mut bind = |value: &dyn ToSql| -> Result<()> {
            stmt.raw_bind_parameter(index, value)
                .map_err(|e| Error::from_sqlite(e, sql))?;
            index += 1;
            Ok(())
        };
        if self.spec.id.is_some() {
            bind(&id)?;
        }
        for part in key {
            bind(part)?;
        }
        for value in stored {
            bind(value)?;
        }
        let now_ms = now.div_euclid(NANOS_PER_MILLI);
        for (_, format) in self.spec.created.iter().chain(&self.spec.updated) {
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
}

fn prepare<'c>(conn: &'c Connection, sql: &str) -> Result<rusqlite::CachedStatement<'c>> {
    conn.prepare_cached(sql)
        .map_err(|e| Error::from_sqlite(e, sql))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(limit: i64, window_s: i64, cost: i64) -> Limits {
        Limits::new(limit, window_s * 1000, cost).unwrap()
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn bad_limits_are_refused() {
        assert!(Limits::new(0, 1000, 1).is_err());
        assert!(Limits::new(10, 0, 1).is_err());
        assert!(Limits::new(10, 1000, 11).is_err());
        assert!(Limits::new(10, 1000, 0).is_err());
        assert!(Limits::new(MAX_LIMIT + 1, 1000, 1).is_err());
        assert!(Limits::new(10, 1000, 10).is_ok());
    }

    #[test]
    fn fixed_window_counts_to_the_limit_then_denies_until_the_end() {
        let l = limits(3, 60, 1);
        let mut state = WindowState {
            window_start_ns: 120 * S,
            ..WindowState::default()
        };
        for expected in 1..=3 {
            let d = decide_window(Algorithm::Fixed, state, 130 * S, l);
            assert!(d.allowed);
            assert_eq!((d.count, d.remaining), (expected, 3 - expected));
            assert_eq!(d.reset_at_ns, 180 * S);
            state.current = d.count;
        }
        let d = decide_window(Algorithm::Fixed, state, 130 * S, l);
        assert!(!d.allowed);
        assert_eq!((d.count, d.remaining, d.retry_after_ns), (3, 0, 50 * S));
    }

    #[test]
    fn sliding_window_weighs_the_previous_window_by_overlap() {
        let l = limits(10, 60, 1);
        // 45 s into the window, a quarter of the previous window is still covered:
        // 8 * 0.25 + 7 = 9, so one more fits and a second does not.
        let state = WindowState {
            window_start_ns: 60 * S,
            previous: 8,
            current: 7,
            exists: true,
        };
        let d = decide_window(Algorithm::Sliding, state, 105 * S, l);
        assert!(d.allowed);
        assert_eq!((d.count, d.remaining), (8, 0));
        let full = WindowState {
            current: 8,
            ..state
        };
        let d = decide_window(Algorithm::Sliding, full, 105 * S, l);
        assert!(!d.allowed);
        // Allowed once 8 * (60 - e) / 60 <= 1: e = 52.5 s.
        assert_eq!(d.reset_at_ns, 60 * S + 52_500_000_000);
        assert_eq!(d.retry_after_ns, 7_500_000_000);
        // Fixed ignores the previous window.
        assert!(decide_window(Algorithm::Fixed, full, 105 * S, l).allowed);
    }

    #[test]
    fn a_clock_behind_the_window_counts_the_previous_window_fully() {
        let l = limits(10, 60, 1);
        let state = WindowState {
            window_start_ns: 60 * S,
            previous: 10,
            current: 0,
            exists: false,
        };
        assert!(!decide_window(Algorithm::Sliding, state, 30 * S, l).allowed);
        assert!(!decide_window(Algorithm::Sliding, state, 60 * S, l).allowed);
        // 6 s in, 10 * 54 / 60 = 9: one hit fits again.
        assert!(!decide_window(Algorithm::Sliding, state, 65 * S, l).allowed);
        assert!(decide_window(Algorithm::Sliding, state, 66 * S, l).allowed);
    }

    #[test]
    fn gcra_admits_a_burst_of_limit_then_one_per_interval() {
        let l = limits(4, 4, 1); // one unit per second, bursts of 4
        let now = 1000 * S;
        let mut tat = None;
        for expected in 1..=4 {
            let (d, next) = decide_gcra(tat, now, l);
            assert!(d.allowed);
            assert_eq!(d.count, expected);
            tat = next;
        }
        let (d, next) = decide_gcra(tat, now, l);
        assert!(!d.allowed && next.is_none());
        assert_eq!(d.retry_after_ns, S);
        let (d, _) = decide_gcra(tat, now + S, l);
        assert!(d.allowed);
        // A clock that steps back sees a fuller bucket.
        let (d, _) = decide_gcra(tat, now - S, l);
        assert!(!d.allowed);
    }

    #[test]
    fn clock_can_be_fixed_and_released() {
        let clock = Clock::default();
        assert!(clock.now_ns() > 1_600_000_000 * S);
        clock.set_fixed(Some(42));
        assert_eq!(clock.now_ns(), 42);
        clock.set_fixed(None);
        assert!(clock.fixed().is_none());
    }

    #[test]
    fn key_parts_of_different_types_are_different_keys() {
        let family = Family {
            algorithm: Algorithm::Fixed,
            window_ns: S,
        };
        let mut cache = DenialCache::default();
        cache.insert(family, &[KeyPart::Text("1".into())], Known::Gcra(0), 0);
        assert!(cache.get(family, &[KeyPart::Text("1".into())]).is_some());
        assert!(cache.get(family, &[KeyPart::Int(1)]).is_none());
        cache.remove_key(&[KeyPart::Text("1".into())]);
        assert_eq!(cache.len, 0);
    }

    mod with_engine {
        use super::*;
        use crate::engine::Options;

        fn setup(name: &str) -> (std::path::PathBuf, Engine, Limiter) {
            let dir = std::env::temp_dir().join(format!("strata-rl-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let engine =
                Engine::open(dir.join("t.db").to_str().unwrap(), Options::default()).unwrap();
            engine
                .execute_script(
                    "CREATE TABLE rl (id TEXT PRIMARY KEY, k TEXT NOT NULL, n INTEGER NOT NULL, \
                     ws DATETIME NOT NULL, UNIQUE (k, ws));",
                )
                .unwrap();
            let limiter = Limiter::new(Spec {
                table: "rl".into(),
                keys: vec!["k".into()],
                conflict: vec!["k".into(), "ws".into()],
                shape: Shape::Window {
                    count: "n".into(),
                    window_start: "ws".into(),
                },
                id: Some("id".into()),
                created: vec![],
                updated: vec![],
                datetime_format: Format::Iso8601,
                config: None,
            })
            .unwrap();
            (dir, engine, limiter)
        }

        #[test]
        fn denied_hits_write_nothing_and_are_then_answered_from_the_cache() {
            let (dir, engine, limiter) = setup("deny");
            limiter.clock.set_fixed(Some(1_000 * S));
            let key = [KeyPart::Text("a'\0b".into())];
            let source = LimitSource::Given(limits(2, 60, 1));
            let mut ids = (0..).map(|i| format!("id{i}"));
            let mut hit = || {
                let id = ids.next().unwrap();
                limiter
                    .hit(&engine, &key, Algorithm::Fixed, &source, Some(&id))
                    .unwrap()
            };
            let first = hit();
            assert!(first.decision.allowed && first.used_id && !first.cached);
            let second = hit();
            assert!(second.decision.allowed && !second.used_id);
            let third = hit();
            assert!(!third.decision.allowed && !third.cached);
            let fourth = hit();
            assert!(!fourth.decision.allowed && fourth.cached);
            let rows = engine.query("SELECT k, n, ws FROM rl", &[]).unwrap().rows;
            assert_eq!(
                rows,
                vec![vec![
                    Value::Text("a'\0b".into()),
                    Value::Integer(2),
                    Value::Text("1970-01-01T00:16:00.000+00:00".into()),
                ]]
            );
            // A new window goes back to SQLite, and is allowed.
            limiter.clock.set_fixed(Some(1_020 * S));
            let fifth = hit();
            assert!(fifth.decision.allowed && fifth.used_id);
            drop(engine);
            let _ = std::fs::remove_dir_all(dir);
        }

        #[test]
        fn a_clock_that_steps_back_keeps_counting_in_the_newest_window() {
            let (dir, engine, limiter) = setup("back");
            let source = LimitSource::Given(limits(1, 60, 1));
            let key = [KeyPart::Text("k".into())];
            limiter.clock.set_fixed(Some(200 * S));
            let d = limiter
                .hit(&engine, &key, Algorithm::Fixed, &source, Some("x"))
                .unwrap();
            assert!(d.decision.allowed);
            // Two windows back, where no row exists: still denied.
            limiter.clock.set_fixed(Some(70 * S));
            let d = limiter
                .hit(&engine, &key, Algorithm::Fixed, &source, Some("y"))
                .unwrap();
            assert!(!d.decision.allowed);
            assert_eq!(d.decision.reset_at_ns, 240 * S);
            drop(engine);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
