//! Job claiming with leases and fencing tokens, bound to a model of the user's schema.
//!
//! Python (`strata/queue.py`) validates the binding against the schema and writes the SQL
//! once, with named parameters; this module runs it. Each operation is one call and one
//! write transaction, and the time is read only after the write lock is held, so a lease
//! is never stamped with a time older than the lock it was taken under.
//!
//! * **Claim**: `UPDATE ... WHERE id IN (SELECT ... ORDER BY ... LIMIT n) RETURNING ...`,
//!   taking ready jobs whose not-before time has passed, in the queue's order. Every claim
//!   adds one to the job's lease token and its attempts. In the same transaction, and at
//!   most every `recover_every`, a first statement returns jobs whose lease ran out (their
//!   worker died) to the ready state, where they compete by priority like any other. Doing
//!   that on every claim would cost a scan of the claimed jobs per call; a lease is
//!   measured in seconds or minutes, so noticing its end a moment later changes nothing.
//! * **Fencing**: `complete`, `fail`, `heartbeat`, `progress` and `release` name the token
//!   they were given. A statement that matches no row means the job moved on (its lease
//!   expired and another worker claimed it, or it was cancelled), and the call fails with
//!   `LeaseLost` instead of overwriting the new owner's work.
//! * **Waiting**: a dedicated reader polls the dialect's `changes` statement (`SQLite`'s
//!   `data_version` pragma), whose value changes when any other connection commits, so an idle worker notices new jobs from any process without
//!   taking the write lock. Enqueues in this process also wake it at once.

use std::borrow::Cow;
use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rusqlite::types::Value;
use rusqlite::{Connection, Statement};

use crate::busy::Conn;
use crate::engine::{collect_bound, prepare, sqlite_order, Engine, Rows};
use crate::error::{Error, Result};
use crate::time::{Clock, Format};

/// The statements of one binding, with named parameters. Besides the binding's constants,
/// the core binds `:now`, `:expires` (now + lease), `:retry_at` (now + delay), `:worker`,
/// `:limit`, `:id` and `:token` wherever a statement names them. The three times are in
/// the lease column's stored form; `:now_iso8601`, `:now_iso8601_z`,
/// `:now_sqlite_datetime` and `:now_unixepoch_ms` are the time in each form, for stamping
/// other columns (`startedAt`, `completedAt`) in the form each of them holds.
#[derive(Debug, Clone)]
pub struct Statements {
    /// Recovers claimed jobs whose lease expired (their worker is presumed dead): back to
    /// the ready state, or to the failed state once they used up their attempts, so that
    /// a job that kills its workers is not claimed forever.
    pub recover: String,
    /// The claim itself: the first ready jobs that are due, in the queue's order; returns
    /// the claimed rows.
    pub claim: String,
    /// For a fenced statement that matched nothing: one row with 1 when the job was
    /// cancelled, 0 otherwise; no row when the job no longer exists.
    pub why: String,
    /// The heartbeat: extends the lease of one claim.
    pub heartbeat: String,
    /// What a waiter polls: one integer that changes when another connection commits.
    pub changes: String,
}

/// One outcome for `settle_and_claim`: the fenced statement `sql` for the claim (`id`,
/// `token`), with `:retry_at` `delay_ms` from now and `params` bound besides.
pub struct Settle<V> {
    pub sql: String,
    pub id: V,
    pub token: i64,
    pub delay_ms: i64,
    pub params: Vec<(String, V)>,
}

/// What `settle_and_claim` returns: each outcome's row (`None` for a stale claim), and
/// the rows claimed for each worker.
pub type Settled<R, C> = (Vec<Option<R>>, Vec<C>);

/// The current time in each stored form, under the names a statement uses to stamp a
/// column other than the lease in that column's own form.
const STAMPS: [(&str, Format); 4] = [
    (":now_iso8601", Format::Iso8601),
    (":now_iso8601_z", Format::Iso8601Z),
    (":now_sqlite_datetime", Format::SqliteDateTime),
    (":now_unixepoch_ms", Format::UnixMs),
];

/// The times one call binds: `:now`, `:expires` and `:retry_at` in the lease's form, and
/// the time itself for the stamps. Each is formatted only if the statement names it.
/// Milliseconds since the Unix epoch.
#[derive(Clone, Copy)]
struct Times {
    now: i64,
    expires: i64,
    retry_at: i64,
}

impl Times {
    /// The times of a call made at `now`: its lease runs `lease_ms`, a retry waits `delay_ms`.
    fn at(now: i64, lease_ms: i64, delay_ms: i64) -> Times {
        Times {
            now,
            expires: now.saturating_add(lease_ms),
            retry_at: now.saturating_add(delay_ms),
        }
    }

    /// The value of the time parameter `name`, written in `lease_format` for the lease
    /// times; `None` when `name` is not a time.
    fn value(self, name: &str, lease_format: Format) -> Option<(&'static str, Value)> {
        let lease = match name {
            ":now" => Some((":now", self.now)),
            ":expires" => Some((":expires", self.expires)),
            ":retry_at" => Some((":retry_at", self.retry_at)),
            _ => None,
        };
        if let Some((key, ms)) = lease {
            return Some((key, lease_format.value(ms)));
        }
        // Stamps are formatted only for the statements that name them.
        STAMPS
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(key, format)| (*key, format.value(self.now)))
    }
}

pub struct Queue {
    engine: Arc<Engine>,
    statements: Statements,
    /// The binding's values (`:ready_status` ...), bound wherever a statement names them.
    constants: Vec<(String, Value)>,
    /// The lease column's stored form: `:now`, `:expires` and `:retry_at` are written in it
    /// and compared with it.
    format: Format,
    /// How claimed rows are sorted before they are returned: (column, descending). The
    /// UPDATE's RETURNING clause has no order of its own.
    order: Vec<(usize, bool)>,
    pub clock: Clock,
    wake: Wake,
    /// How often claims look for expired leases, and when they last did (queue clock).
    recover_every_ms: i64,
    last_recovery_ms: AtomicI64,
    /// Jobs recovered since `take_recovered` last ran, for the worker's log.
    recovered: AtomicU64,
}

/// How a worker waits for work without polling the write lock.
#[derive(Default)]
struct Wake {
    /// Bumped by `notify`; waiters compare it with what they saw. `notify` takes this lock
    /// with the GIL held, so it is only ever held for a comparison or an increment: a
    /// waiter releases it while it polls `data_version` (see `wait`). Held across a
    /// statement, it would make `notify` wait, GIL in hand, for that statement; and on
    /// Python's main thread a long statement takes the GIL itself to look for Ctrl-C
    /// (`busy::Conn`), which would never come.
    generation: Mutex<u64>,
    notified: Condvar,
    /// The reader whose `data_version` is polled, and the version last seen.
    watcher: Mutex<Option<(Conn, i64)>>,
}

/// The first poll of `data_version` comes soon after a wait starts; later ones back off
/// to this, which bounds both the latency of noticing a job from another process and the
/// cost of an idle worker (a few hundred cheap reads per second at most).
const MAX_POLL: Duration = Duration::from_millis(20);

impl Queue {
    pub fn new(
        engine: Arc<Engine>,
        statements: Statements,
        constants: Vec<(String, Value)>,
        format: Format,
        order: Vec<(usize, bool)>,
        recover_every_ms: i64,
    ) -> Queue {
        Queue {
            engine,
            statements,
            constants,
            format,
            order,
            clock: Clock::default(),
            wake: Wake::default(),
            recover_every_ms,
            last_recovery_ms: AtomicI64::new(i64::MIN),
            recovered: AtomicU64::new(0),
        }
    }

    #[must_use]
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// How many jobs whose lease expired recoveries returned since the last call.
    pub fn take_recovered(&self) -> u64 {
        self.recovered.swap(0, Ordering::Relaxed)
    }

    /// Claim up to `limit` jobs for `worker` with a lease of `lease_ms`.
    pub fn claim(&self, worker: &str, limit: i64, lease_ms: i64) -> Result<Rows> {
        let worker = Value::Text(worker.to_owned());
        self.engine
            .write(|conn| self.claim_in(conn, self.clock.now_ms(), &worker, limit, lease_ms))
    }

    /// The claim, inside the caller's write transaction, with the time read under its lock.
    fn claim_in(
        &self,
        conn: &Connection,
        now: i64,
        worker: &Value,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Rows> {
        let times = Times::at(now, lease_ms, 0);
        let extra = [(":worker", worker), (":limit", &Value::Integer(limit))];
        let last = self.last_recovery_ms.load(Ordering::Relaxed);
        // A clock moved backwards (tests shift it) also triggers a recovery.
        if now.saturating_sub(last) >= self.recover_every_ms || now < last {
            let sql = &self.statements.recover;
            let mut recover = prepare(conn, sql)?;
            self.bind(&mut recover, Some(&times), &extra)?;
            let recovered = collect_bound(conn, &mut recover, sql)?.rows.len();
            self.recovered
                .fetch_add(recovered as u64, Ordering::Relaxed);
            self.last_recovery_ms.store(now, Ordering::Relaxed);
        }
        let mut claim = prepare(conn, &self.statements.claim)?;
        self.bind(&mut claim, Some(&times), &extra)?;
        let mut rows = collect_bound(conn, &mut claim, &self.statements.claim)?;
        rows.rows.sort_by(|a, b| self.compare(a, b));
        Ok(rows)
    }

    /// Write the outcomes `items` of earlier claims, then claim for each (worker, limit)
    /// of `claims`: one write transaction. Each item's row, or `None` where its claim was
    /// stale (it changes nothing); with `strict`, a stale claim is `LeaseLost` instead and
    /// the whole call changes nothing, the claims included. Any other error rolls back
    /// everything too.
    pub fn settle_and_claim(
        &self,
        items: &[Settle<Value>],
        claims: &[(String, i64)],
        lease_ms: i64,
        strict: bool,
    ) -> Result<Settled<Vec<Value>, Rows>> {
        self.engine.write(|conn| {
            let now = self.clock.now_ms();
            let mut settled = Vec::with_capacity(items.len());
            for item in items {
                let times = Times::at(now, lease_ms, item.delay_ms);
                let token = Value::Integer(item.token);
                let mut extra: Vec<(&str, &Value)> = vec![(":id", &item.id), (":token", &token)];
                extra.extend(
                    item.params
                        .iter()
                        .map(|(name, value)| (name.as_str(), value)),
                );
                let mut stmt = prepare(conn, &item.sql)?;
                self.bind(&mut stmt, Some(&times), &extra)?;
                let row = collect_bound(conn, &mut stmt, &item.sql)?
                    .rows
                    .into_iter()
                    .next();
                drop(stmt);
                if row.is_none() && strict {
                    return Err(self.why(conn, &item.id));
                }
                settled.push(row);
            }
            let mut claimed = Vec::with_capacity(claims.len());
            for (worker, limit) in claims {
                let worker = Value::Text(worker.clone());
                claimed.push(self.claim_in(conn, now, &worker, *limit, lease_ms)?);
            }
            Ok((settled, claimed))
        })
    }

    /// Run a fenced statement for the claim (`id`, `token`) and return the row it
    /// returned. When it matches nothing, say why: cancelled, or the lease was lost.
    pub fn settle(
        &self,
        sql: &str,
        id: &Value,
        token: i64,
        lease_ms: i64,
        delay_ms: i64,
        params: &[(String, Value)],
    ) -> Result<Rows> {
        self.engine.write(|conn| {
            let now = self.clock.now_ms();
            let times = Times::at(now, lease_ms, delay_ms);
            let token = Value::Integer(token);
            let mut extra: Vec<(&str, &Value)> = vec![(":id", id), (":token", &token)];
            extra.extend(params.iter().map(|(name, value)| (name.as_str(), value)));
            let mut stmt = prepare(conn, sql)?;
            self.bind(&mut stmt, Some(&times), &extra)?;
            let rows = collect_bound(conn, &mut stmt, sql)?;
            if !rows.rows.is_empty() {
                return Ok(rows);
            }
            drop(stmt);
            Err(self.why(conn, id))
        })
    }

    /// `settle` for many claims in one transaction: each claim's returned row, or `None`
    /// where the claim was stale (that claim changes nothing; the others still apply).
    pub fn settle_many(
        &self,
        sql: &str,
        claims: &[(Value, i64)],
        lease_ms: i64,
        params: &[(String, Value)],
    ) -> Result<Vec<Option<Vec<Value>>>> {
        self.engine.write(|conn| {
            let times = Times::at(self.clock.now_ms(), lease_ms, 0);
            let mut stmt = prepare(conn, sql)?;
            let mut out = Vec::with_capacity(claims.len());
            for (id, token) in claims {
                let token = Value::Integer(*token);
                let mut extra: Vec<(&str, &Value)> = vec![(":id", id), (":token", &token)];
                extra.extend(params.iter().map(|(name, value)| (name.as_str(), value)));
                self.bind(&mut stmt, Some(&times), &extra)?;
                out.push(collect_bound(conn, &mut stmt, sql)?.rows.into_iter().next());
            }
            Ok(out)
        })
    }

    /// The native ceiling for benchmarks: `rounds` times, claim `batch` jobs and complete
    /// them all with `complete_sql`, exactly as the Python calls do, without Python in
    /// between. Returns how many jobs were completed.
    pub fn native_loop(
        &self,
        worker: &str,
        batch: i64,
        rounds: usize,
        complete_sql: &str,
        (id_column, token_column): (usize, usize),
        lease_ms: i64,
    ) -> Result<usize> {
        let mut completed = 0;
        for _ in 0..rounds {
            let claimed = self.claim(worker, batch, lease_ms)?;
            let claims: Vec<(Value, i64)> = claimed
                .rows
                .into_iter()
                .map(|row| {
                    let token = match row[token_column] {
                        Value::Integer(token) => token,
                        _ => 0,
                    };
                    (row[id_column].clone(), token)
                })
                .collect();
            let done = self.settle_many(complete_sql, &claims, lease_ms, &[])?;
            completed += done.iter().flatten().count();
        }
        Ok(completed)
    }

    /// Renew the lease of (`id`, `token`) for `lease_ms`: the heartbeat statement.
    pub fn renew(&self, id: &Value, token: i64, lease_ms: i64) -> Result<()> {
        self.settle(&self.statements.heartbeat, id, token, lease_ms, 0, &[])
            .map(drop)
    }

    /// Run one of the binding's other statements (enqueue checks, cancel, stats, purge)
    /// with the same named parameters: in a write transaction when `write`, else on a
    /// reader.
    pub fn run(&self, sql: &str, params: &[(String, Value)], write: bool) -> Result<Rows> {
        let run = |conn: &Connection| {
            let times = Times::at(self.clock.now_ms(), 0, 0);
            let extra: Vec<(&str, &Value)> = params
                .iter()
                .map(|(name, value)| (name.as_str(), value))
                .collect();
            let mut stmt = prepare(conn, sql)?;
            self.bind(&mut stmt, Some(&times), &extra)?;
            collect_bound(conn, &mut stmt, sql)
        };
        if write {
            self.engine.write(run)
        } else {
            self.engine.read(run)
        }
    }

    fn why(&self, conn: &Connection, id: &Value) -> Error {
        let sql = &self.statements.why;
        let answer = prepare(conn, sql).and_then(|mut stmt| {
            self.bind(&mut stmt, None, &[(":id", id)])?;
            let rows = collect_bound(conn, &mut stmt, sql)?;
            Ok(rows.rows.into_iter().next())
        });
        match answer {
            Ok(Some(row)) if row.first() == Some(&Value::Integer(1)) => Error::LeaseLost {
                cancelled: true,
                message: "the job was cancelled; stop working on it".into(),
            },
            Ok(Some(_)) => Error::LeaseLost {
                cancelled: false,
                message: "the lease on this job was lost: it expired and the job was claimed \
                          again, or it was completed, failed or released with this token already"
                    .into(),
            },
            Ok(None) => Error::LeaseLost {
                cancelled: false,
                message: "the job no longer exists".into(),
            },
            Err(err) => err,
        }
    }

    /// Wake this process's waiters (an enqueue here; other processes are seen through
    /// `data_version`).
    pub fn notify(&self) {
        // Called with the GIL held. The lock is never held for longer than a comparison
        // (see `Wake::generation`), so this does not wait on anything that needs the GIL.
        *self.wake.generation.lock() += 1;
        self.wake.notified.notify_all();
    }

    /// Block until another connection commits, `notify` is called, or `timeout` passes.
    /// Returns whether something changed. Never takes the write lock.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut generation = self.wake.generation.lock();
        let seen = *generation;
        let mut poll = Duration::from_millis(1);
        loop {
            if *generation != seen {
                return Ok(true);
            }
            // Polled with `generation` unlocked, so that `notify` never waits for it.
            if MutexGuard::unlocked(&mut generation, || self.data_version_changed())? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            // A `notify` that came while the lock was released: its wake-up went to no
            // one, so look before sleeping.
            if *generation != seen {
                return Ok(true);
            }
            let pause = poll.min(deadline - now);
            self.wake.notified.wait_for(&mut generation, pause);
            poll = (poll * 2).min(MAX_POLL);
        }
    }

    fn data_version_changed(&self) -> Result<bool> {
        let mut watcher = self.wake.watcher.lock();
        if watcher.is_none() {
            let conn = self.engine.dedicated_reader()?;
            let version = data_version(&conn, &self.statements.changes)?;
            *watcher = Some((conn, version));
            return Ok(false);
        }
        let (conn, seen) = watcher.as_mut().expect("opened above");
        let version = data_version(conn, &self.statements.changes)?;
        let changed = version != *seen;
        *seen = version;
        Ok(changed)
    }

    fn bind(
        &self,
        stmt: &mut Statement<'_>,
        times: Option<&Times>,
        extra: &[(&str, &Value)],
    ) -> Result<()> {
        // Walk the statement's own parameters (a handful) rather than look up every name
        // this call could bind: a lookup by name allocates, and a claim-and-settle
        // transaction binds a few hundred of them while it holds the write lock.
        for index in 1..=stmt.parameter_count() {
            let Some(name) = stmt.parameter_name(index) else {
                continue;
            };
            // The value, and its name as the caller spelled it (`name` borrows `stmt`).
            let found: Option<(&str, Cow<'_, Value>)> = extra
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(key, value)| (*key, Cow::Borrowed(*value)))
                .or_else(|| {
                    let (key, value) = times?.value(name, self.format)?;
                    Some((key, Cow::Owned(value)))
                })
                .or_else(|| {
                    self.constants
                        .iter()
                        .find(|(key, _)| key == name)
                        .map(|(key, value)| (key.as_str(), Cow::Borrowed(value)))
                });
            if let Some((key, value)) = found {
                stmt.raw_bind_parameter(index, value.as_ref())
                    .map_err(|e| Error::from_sqlite(e, key))?;
            }
        }
        Ok(())
    }

    fn compare(&self, a: &[Value], b: &[Value]) -> CmpOrdering {
        for &(column, descending) in &self.order {
            let ordering = sqlite_order(&a[column], &b[column]);
            if ordering != CmpOrdering::Equal {
                return if descending {
                    ordering.reverse()
                } else {
                    ordering
                };
            }
        }
        CmpOrdering::Equal
    }
}

fn data_version(conn: &Connection, sql: &str) -> Result<i64> {
    conn.query_row(sql, [], |row| row.get(0))
        .map_err(|e| Error::from_sqlite(e, sql))
}

/// A heartbeat thread keeping one claim's lease alive, independent of the GIL: a worker
/// busy in a long C call (a render, a model step) still holds its lease.
pub struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    state: Arc<AtomicU8>,
}

/// The state of one heartbeat, read without touching the `Heartbeat` (`Heartbeat::watch`).
#[derive(Clone)]
pub struct BeatWatch(Arc<AtomicU8>);

impl BeatWatch {
    #[must_use]
    pub fn state(&self) -> BeatState {
        match self.0.load(Ordering::Acquire) {
            0 => BeatState::Running,
            2 => BeatState::Cancelled,
            3 => BeatState::Lost,
            _ => BeatState::Stopped,
        }
    }
}

/// What a heartbeat thread found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeatState {
    Running = 0,
    Stopped = 1,
    Cancelled = 2,
    Lost = 3,
}

impl Heartbeat {
    /// Call `renew` (one claim's heartbeat statement) every `every`, until stopped or
    /// until the claim is cancelled or lost. Transient failures (a busy database, a
    /// server restarting) are retried at the next beat.
    pub fn start(mut renew: impl FnMut() -> Result<()> + Send + 'static, every: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let state = Arc::new(AtomicU8::new(BeatState::Running as u8));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("strata-heartbeat".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                        shared.store(BeatState::Stopped as u8, Ordering::Release);
                        return;
                    }
                }
                match renew() {
                    Err(Error::LeaseLost { cancelled, .. }) => {
                        let found = if cancelled {
                            BeatState::Cancelled
                        } else {
                            BeatState::Lost
                        };
                        shared.store(found as u8, Ordering::Release);
                        return;
                    }
                    Err(Error::Closed) => return,
                    Ok(()) | Err(_) => {}
                }
            })
            .ok();
        Heartbeat {
            stop: Some(stop),
            thread,
            state,
        }
    }

    #[must_use]
    pub fn state(&self) -> BeatState {
        self.watch().state()
    }

    /// A reader of the state that needs no access to the heartbeat itself, so reading it
    /// never waits for a `stop` in progress elsewhere (see `PyHeartbeat`).
    #[must_use]
    pub fn watch(&self) -> BeatWatch {
        BeatWatch(Arc::clone(&self.state))
    }

    /// Whether `stop` has run: no thread is left to wait for.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.thread.is_none()
    }

    /// Stop the thread and wait for it. Idempotent.
    pub fn stop(&mut self) -> BeatState {
        let found = self.state();
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if found == BeatState::Running {
            BeatState::Stopped
        } else {
            found
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Options;

    /// `notify` runs with the GIL held. A waiter that kept `generation` locked while it
    /// polled `data_version` (opening a connection, running a statement) would make it
    /// wait for the poll, and a poll on Python's main thread may take the GIL itself to
    /// look for Ctrl-C. Here the poll is held up by holding the watcher; `notify` must
    /// still return at once, and the waiter must still see it.
    #[test]
    fn notify_never_waits_for_a_polling_waiter() {
        let dir = std::env::temp_dir().join(format!("strata-core-wake-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wake.db");
        let engine = Engine::open(path.to_str().unwrap(), Options::default()).unwrap();
        let statements = Statements {
            recover: String::new(),
            claim: String::new(),
            why: String::new(),
            heartbeat: String::new(),
            changes: "PRAGMA data_version".into(),
        };
        let queue = Arc::new(Queue::new(
            Arc::new(engine),
            statements,
            Vec::new(),
            Format::Iso8601,
            Vec::new(),
            1000,
        ));

        let watcher = queue.wake.watcher.lock();
        let waiter = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || queue.wait(Duration::from_secs(30)))
        };
        // Time for the waiter to reach its poll (if it has not, the test proves less, but
        // it cannot fail for it).
        std::thread::sleep(Duration::from_millis(100));
        let (done, returns) = mpsc::channel();
        let notifier = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                queue.notify();
                let _ = done.send(());
            })
        };
        // A timeout, not a hang, if `notify` waits for the poll.
        let returned = returns.recv_timeout(Duration::from_secs(5));
        drop(watcher);
        notifier.join().unwrap();
        let woke = waiter.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(returned.is_ok(), "notify waited for a waiter's poll");
        assert!(woke.unwrap(), "the waiter saw the notify");
    }

    #[test]
    fn values_order_as_sqlite_orders_them() {
        let mut values = vec![
            Value::Text("b".into()),
            Value::Integer(2),
            Value::Null,
            Value::Real(1.5),
            Value::Text("a".into()),
        ];
        values.sort_by(sqlite_order);
        assert_eq!(
            values,
            vec![
                Value::Null,
                Value::Real(1.5),
                Value::Integer(2),
                Value::Text("a".into()),
                Value::Text("b".into()),
            ]
        );
    }
}
