//! The job queue on PostgreSQL: the same operations as `queue.rs`, with the same statements
//! (written by `strata/dialects/postgresql/queue.py`) and the same meaning, on the
//! PostgreSQL engine's pool.
//!
//! * **Parameters** are named in the statements, as for `SQLite`; each statement is
//!   renumbered once (`engine::postgres::named`) and its names bound in number order.
//! * **Claim**: one statement, `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
//!   RETURNING ...`, which is one transaction on its own: concurrent claims skip each
//!   other's rows instead of waiting for them, and none can take a row another has taken.
//!   It returns the rows in the queue's order itself (collation and NULL order are the
//!   server's), so nothing is sorted here. At most every `recover_every`, the recovery of
//!   expired leases runs first, in one transaction with the claim.
//! * **Time** is read once a connection is in hand, so a lease does not lose the time spent
//!   waiting for the pool. There is no database-wide write lock to read it under: a claim
//!   never waits for a row lock (`SKIP LOCKED`), and a fenced write waits only for another
//!   write to the same job, after which it finds the job as that write left it.
//! * **Fencing** is as on `SQLite`: a fenced write that matches no row asks why, and fails
//!   with `LeaseLost`.
//! * **Waiting**: the dialect's `LISTEN` runs on a connection of the queue's own, opened
//!   outside the pool (a waiting worker holds nothing the pool lends), and an enqueue's
//!   transaction runs the matching `NOTIFY`, which the server delivers when it commits. A
//!   wait still ends at its timeout, and the caller then claims again (`wait_and_claim`
//!   polls every half second), so a lost notification, or a listener connection that
//!   broke, delays work but never stalls it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fallible_iterator::FallibleIterator;
use parking_lot::{Condvar, Mutex};

use crate::engine::postgres::named::{numbered, Numbered};
use crate::engine::postgres::{Cell, Param, PgEngine, PgRows};
use crate::error::{Error, Result};
use crate::process;
use crate::queue::{Settle, Settled};
use crate::time::{Clock, UtcTime};

/// The statements of one binding (see `queue::Statements`); `listen` is what the waiter
/// runs on its own connection, None when the binding has no channel.
#[derive(Debug, Clone)]
pub struct PgStatements {
    pub recover: String,
    pub claim: String,
    pub why: String,
    pub heartbeat: String,
    pub listen: Option<String>,
}

pub struct PgQueue {
    engine: Arc<PgEngine>,
    statements: PgStatements,
    constants: Vec<(String, Param)>,
    pub clock: Clock,
    recover_every_ms: i64,
    last_recovery_ms: AtomicI64,
    /// Jobs recovered since `take_recovered` last ran, for the worker's log.
    recovered: AtomicU64,
    /// Each statement in PostgreSQL's numbered form, by its named text.
    compiled: Mutex<HashMap<String, Arc<Numbered>>>,
    wake: Wake,
}

/// How waiters learn of new jobs. One waiter at a time holds the listener and blocks on
/// its socket; the others wait on `notified`, which the holder (and `notify`) signals.
#[derive(Default)]
struct Wake {
    /// Bumped by `notify` and by a notification; held only for a comparison or an
    /// increment, never across a wait on the socket (`notify` takes it with the GIL held).
    generation: Mutex<u64>,
    notified: Condvar,
    listener: Mutex<Listener>,
}

/// The listening connection, with the fork generation it was opened in; after a failed
/// attempt to open it, when the next may be made (a server that is down is not dialled
/// every slice).
#[derive(Default)]
struct Listener {
    client: Option<(postgres::Client, u64)>,
    next_attempt: Option<Instant>,
}

/// How long after a failed attempt to open the listener the next one is made.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// How long the holder of the listener blocks on its socket before it looks at
/// `generation` again: the delay of a wake-up by `notify` while a notification is awaited.
const LISTEN_SLICE: Duration = Duration::from_millis(25);

/// The times a call binds, as parameters: `:now`, `:expires`, `:retry_at`, and the
/// current time for every `:now_*` stamp (PostgreSQL keeps one form of time).
struct Times {
    now: Param,
    expires: Param,
    retry_at: Param,
}

impl PgQueue {
    pub fn new(
        engine: Arc<PgEngine>,
        statements: PgStatements,
        constants: Vec<(String, Param)>,
        recover_every_ms: i64,
    ) -> PgQueue {
        PgQueue {
            engine,
            statements,
            constants,
            clock: Clock::default(),
            recover_every_ms,
            last_recovery_ms: AtomicI64::new(i64::MIN),
            recovered: AtomicU64::new(0),
            compiled: Mutex::new(HashMap::new()),
            wake: Wake::default(),
        }
    }

    /// How many jobs whose lease expired recoveries returned since the last call.
    pub fn take_recovered(&self) -> u64 {
        self.recovered.swap(0, Ordering::Relaxed)
    }

    /// Claim up to `limit` jobs for `worker` with a lease of `lease_ms`, in the queue's
    /// order.
    pub fn claim(&self, worker: &str, limit: i64, lease_ms: i64) -> Result<PgRows> {
        let now = self.clock.now_ms();
        let last = self.last_recovery_ms.load(Ordering::Relaxed);
        // A clock moved backwards (tests shift it) also triggers a recovery.
        if now.saturating_sub(last) < self.recover_every_ms && now >= last {
            // No recovery due: the claim is one statement, a transaction of its own.
            let (worker, limit) = (Param::Text(worker.to_owned()), Param::Int(limit));
            let extra = [(":worker", &worker), (":limit", &limit)];
            let claim = self.compile(&self.statements.claim);
            return self.engine.query_with(&claim.sql, || {
                self.params(&claim, &self.times(lease_ms, 0), &extra)
            });
        }
        // Recovery is due: it and the claim share a transaction.
        self.in_transaction(|| self.claim_in(worker, limit, lease_ms))
    }

    /// `Queue::settle_and_claim` on PostgreSQL: the outcomes `items`, then a claim for each
    /// (worker, limit), in one transaction of the calling thread; with `strict`, a stale
    /// claim is `LeaseLost` and the transaction is rolled back, claims included.
    pub fn settle_and_claim(
        &self,
        items: &[Settle<Param>],
        claims: &[(String, i64)],
        lease_ms: i64,
        strict: bool,
    ) -> Result<Settled<Vec<Cell>, PgRows>> {
        self.in_transaction(|| {
            let mut settled = Vec::with_capacity(items.len());
            for item in items {
                let statement = self.compile(&item.sql);
                let token = Param::Int(item.token);
                let mut extra: Vec<(&str, &Param)> = vec![(":id", &item.id), (":token", &token)];
                extra.extend(
                    item.params
                        .iter()
                        .map(|(name, value)| (name.as_str(), value)),
                );
                let bound =
                    self.params(&statement, &self.times(lease_ms, item.delay_ms), &extra)?;
                let row = self
                    .engine
                    .query(&statement.sql, &bound)?
                    .rows
                    .into_iter()
                    .next();
                if row.is_none() && strict {
                    return Err(self.why(&item.id));
                }
                settled.push(row);
            }
            let mut claimed = Vec::with_capacity(claims.len());
            for (worker, limit) in claims {
                claimed.push(self.claim_in(worker, *limit, lease_ms)?);
            }
            Ok((settled, claimed))
        })
    }

    /// The claim inside the calling thread's transaction, recovering expired leases first
    /// when they are due.
    fn claim_in(&self, worker: &str, limit: i64, lease_ms: i64) -> Result<PgRows> {
        let worker = Param::Text(worker.to_owned());
        let limit = Param::Int(limit);
        let extra = [(":worker", &worker), (":limit", &limit)];
        let times = self.times(lease_ms, 0);
        let now = self.clock.now_ms();
        let last = self.last_recovery_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.recover_every_ms || now < last {
            let recover = self.compile(&self.statements.recover);
            let recovered = self
                .engine
                .query(&recover.sql, &self.params(&recover, &times, &extra)?)?
                .rows
                .len();
            self.recovered
                .fetch_add(recovered as u64, Ordering::Relaxed);
            self.last_recovery_ms.store(now, Ordering::Relaxed);
        }
        let claim = self.compile(&self.statements.claim);
        self.engine
            .query(&claim.sql, &self.params(&claim, &times, &extra)?)
    }

    /// Run the fenced statement `sql` for the claim (`id`, `token`) and return its row;
    /// `LeaseLost` when it matched nothing.
    pub fn settle(
        &self,
        sql: &str,
        id: &Param,
        token: i64,
        lease_ms: i64,
        delay_ms: i64,
        params: &[(String, Param)],
    ) -> Result<PgRows> {
        let statement = self.compile(sql);
        let token = Param::Int(token);
        let mut extra: Vec<(&str, &Param)> = vec![(":id", id), (":token", &token)];
        extra.extend(params.iter().map(|(name, value)| (name.as_str(), value)));
        let rows = self.engine.query_with(&statement.sql, || {
            self.params(&statement, &self.times(lease_ms, delay_ms), &extra)
        })?;
        if rows.rows.is_empty() {
            return Err(self.why(id));
        }
        Ok(rows)
    }

    /// `settle` for many claims in one transaction: each claim's row, or None where the
    /// claim was stale (it changes nothing; the others still apply).
    pub fn settle_many(
        &self,
        sql: &str,
        claims: &[(Param, i64)],
        lease_ms: i64,
        params: &[(String, Param)],
    ) -> Result<Vec<Option<Vec<Cell>>>> {
        let statement = self.compile(sql);
        self.in_transaction(|| {
            let times = self.times(lease_ms, 0);
            let mut out = Vec::with_capacity(claims.len());
            for (id, token) in claims {
                let token = Param::Int(*token);
                let mut extra: Vec<(&str, &Param)> = vec![(":id", id), (":token", &token)];
                extra.extend(params.iter().map(|(name, value)| (name.as_str(), value)));
                let bound = self.params(&statement, &times, &extra)?;
                let rows = self.engine.query(&statement.sql, &bound)?;
                out.push(rows.rows.into_iter().next());
            }
            Ok(out)
        })
    }

    /// The benchmarks' native ceiling, as `Queue::native_loop`. `complete_sql` is the
    /// fenced statement for one claim, or the dialect's statement for many (it names
    /// `:ids` and `:tokens`), as `Queue.complete_many` runs them.
    pub fn native_loop(
        &self,
        worker: &str,
        batch: i64,
        rounds: usize,
        complete_sql: &str,
        (id_column, token_column): (usize, usize),
        lease_ms: i64,
    ) -> Result<usize> {
        let many = self
            .compile(complete_sql)
            .names
            .iter()
            .any(|name| name == ":ids");
        let mut completed = 0;
        for _ in 0..rounds {
            let claims: Vec<(Param, i64)> = self
                .claim(worker, batch, lease_ms)?
                .rows
                .into_iter()
                .map(|row| {
                    let token = match row[token_column] {
                        Cell::Int(token) => token,
                        _ => 0,
                    };
                    (cell_param(&row[id_column]), token)
                })
                .collect();
            if many {
                let (ids, tokens): (Vec<Param>, Vec<Param>) = claims
                    .into_iter()
                    .map(|(id, token)| (id, Param::Int(token)))
                    .unzip();
                let list = |items| Param::List {
                    json: None,
                    items: Some(items),
                };
                let params = [
                    (":ids".to_owned(), list(ids)),
                    (":tokens".to_owned(), list(tokens)),
                ];
                completed += self.run(complete_sql, &params)?.rows.len();
            } else {
                let done = self.settle_many(complete_sql, &claims, lease_ms, &[])?;
                completed += done.iter().flatten().count();
            }
        }
        Ok(completed)
    }

    /// Run another statement of the binding (enqueue checks and notification, cancel,
    /// stats, purge) with its named parameters. Each statement is a transaction of its
    /// own, or part of the calling thread's; `write` does not change where it runs.
    pub fn run(&self, sql: &str, params: &[(String, Param)]) -> Result<PgRows> {
        let statement = self.compile(sql);
        let extra: Vec<(&str, &Param)> = params
            .iter()
            .map(|(name, value)| (name.as_str(), value))
            .collect();
        self.engine.query_with(&statement.sql, || {
            self.params(&statement, &self.times(0, 0), &extra)
        })
    }

    /// Renew the lease of (`id`, `token`): the heartbeat statement.
    pub fn renew(&self, id: &Param, token: i64, lease_ms: i64) -> Result<()> {
        self.settle(&self.statements.heartbeat, id, token, lease_ms, 0, &[])
            .map(drop)
    }

    /// Wake this process's waiters at once (an enqueue here; other processes' enqueues
    /// arrive as notifications).
    pub fn notify(&self) {
        *self.wake.generation.lock() += 1;
        self.wake.notified.notify_all();
    }

    /// Block until a notification arrives, `notify` is called, or `timeout` passes;
    /// whether something happened. When the listener cannot be opened or breaks, the wait
    /// runs out its time and the next one opens it again: the caller's claim after the
    /// timeout is the fallback, and it reports a server that is really gone.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut generation = self.wake.generation.lock();
        let seen = *generation;
        loop {
            if *generation != seen {
                return Ok(true);
            }
            if self.engine.is_closed() {
                self.wake.listener.lock().client = None;
                return Err(Error::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let slice = LISTEN_SLICE.min(deadline - now);
            let Some(mut listener) = self.wake.listener.try_lock() else {
                // Another waiter holds the listener and signals what it hears.
                self.wake.notified.wait_for(&mut generation, slice);
                continue;
            };
            // Blocked on the socket with `generation` unlocked, so `notify` never waits.
            let heard = parking_lot::MutexGuard::unlocked(&mut generation, || {
                self.listen_once(&mut listener, slice)
            });
            drop(listener);
            if heard {
                *generation += 1;
                self.wake.notified.notify_all();
                return Ok(true);
            }
        }
    }

    /// Wait up to `slice` on the listener (opening it first if need be); whether a
    /// notification came. Pending ones are drained: one wake-up answers them all.
    fn listen_once(&self, listener: &mut Listener, slice: Duration) -> bool {
        let Some(listen) = &self.statements.listen else {
            std::thread::sleep(slice);
            return false;
        };
        let generation = process::fork_generation();
        if let Some((client, opened_in)) = listener.client.take() {
            if opened_in != generation {
                // The parent's session: dropping it would end it for the parent.
                std::mem::forget(client);
            } else if !client.is_closed() {
                listener.client = Some((client, opened_in));
            }
        }
        let may_open = listener.next_attempt.is_none_or(|at| Instant::now() >= at);
        if listener.client.is_none() && may_open {
            listener.client = self
                .engine
                .dedicated_client()
                .and_then(|mut client| {
                    client
                        .batch_execute(listen)
                        .map_err(|err| Error::Transaction(err.to_string()))?;
                    Ok((client, generation))
                })
                .ok();
            listener.next_attempt = listener
                .client
                .is_none()
                .then(|| Instant::now() + REOPEN_AFTER);
        }
        let Some((client, _)) = listener.client.as_mut() else {
            std::thread::sleep(slice);
            return false;
        };
        let outcome = {
            let mut notifications = client.notifications();
            let first = FallibleIterator::next(&mut notifications.timeout_iter(slice));
            if matches!(first, Ok(Some(_))) {
                while let Ok(Some(_)) = FallibleIterator::next(&mut notifications.iter()) {}
            }
            first.map(|found| found.is_some())
        };
        // A broken listener is opened again by the next wait.
        outcome.unwrap_or_else(|_| {
            listener.client = None;
            false
        })
    }

    /// Run `f` in a transaction of the calling thread (a savepoint inside one it has):
    /// committed when it returns Ok, rolled back otherwise.
    fn in_transaction<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.engine.begin()?;
        match f() {
            Ok(value) => {
                self.engine.commit()?;
                Ok(value)
            }
            Err(err) => {
                // The error is what the caller needs; a failed rollback must not hide it.
                let _ = self.engine.rollback();
                Err(err)
            }
        }
    }

    fn why(&self, id: &Param) -> Error {
        let statement = self.compile(&self.statements.why);
        let answer = self
            .params(&statement, &Times::UNREAD, &[(":id", id)])
            .and_then(|params| self.engine.query(&statement.sql, &params));
        match answer.map(|rows| rows.rows.into_iter().next()) {
            Ok(Some(row)) if row.first() == Some(&Cell::Int(1)) => Error::LeaseLost {
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

    fn compile(&self, sql: &str) -> Arc<Numbered> {
        let mut compiled = self.compiled.lock();
        if let Some(found) = compiled.get(sql) {
            return Arc::clone(found);
        }
        let statement = Arc::new(numbered(sql));
        compiled.insert(sql.to_owned(), Arc::clone(&statement));
        statement
    }

    fn times(&self, lease_ms: i64, delay_ms: i64) -> Times {
        let now = self.clock.now_ms();
        Times {
            now: timestamp(now),
            expires: timestamp(now.saturating_add(lease_ms)),
            retry_at: timestamp(now.saturating_add(delay_ms)),
        }
    }

    /// The parameters of `statement`, in number order: each name from `extra`, the times,
    /// or the binding's constants. A name nothing binds is the binding's mistake, refused
    /// before the statement runs.
    fn params(
        &self,
        statement: &Numbered,
        times: &Times,
        extra: &[(&str, &Param)],
    ) -> Result<Vec<Param>> {
        statement
            .names
            .iter()
            .map(|name| {
                let found = extra
                    .iter()
                    .find(|(known, _)| known == name)
                    .map(|(_, value)| *value)
                    .or_else(|| times.of(name))
                    .or_else(|| {
                        self.constants
                            .iter()
                            .find(|(known, _)| known == name)
                            .map(|(_, value)| value)
                    });
                found.cloned().ok_or_else(|| {
                    Error::invalid(format!(
                        "the queue's statement names the parameter {name}, which nothing \
                         binds: {}",
                        statement.sql
                    ))
                })
            })
            .collect()
    }
}

impl Drop for PgQueue {
    fn drop(&mut self) {
        // After fork() the listener is the parent's session: leave it open (see
        // `listen_once`).
        if let Some((client, opened_in)) = self.wake.listener.get_mut().client.take() {
            if opened_in == process::fork_generation() {
                drop(client);
            } else {
                std::mem::forget(client);
            }
        }
    }
}

impl Times {
    /// Stand-ins for checking a statement's names before its time is read.
    const UNREAD: Times = Times {
        now: Param::Null,
        expires: Param::Null,
        retry_at: Param::Null,
    };

    fn of(&self, name: &str) -> Option<&Param> {
        match name {
            ":now" => Some(&self.now),
            ":expires" => Some(&self.expires),
            ":retry_at" => Some(&self.retry_at),
            // The stamps of other columns: one form of time on PostgreSQL.
            stamp if stamp.starts_with(":now_") => Some(&self.now),
            _ => None,
        }
    }
}

/// A time as a `timestamp` parameter: ISO text with its offset (for `timestamptz`), and the
/// UTC wall clock for `timestamp`, the column type Prisma gives a `DateTime`.
fn timestamp(ms: i64) -> Param {
    let time = UtcTime::from_unix_ms(ms);
    let text = time.iso8601();
    let wall = text.trim_end_matches("+00:00").to_owned();
    Param::DateTime {
        text,
        utc: Some(wall),
    }
}

/// A returned id as a parameter again (the native loop's completions).
fn cell_param(cell: &Cell) -> Param {
    match cell {
        Cell::Int(value) => Param::Int(*value),
        Cell::Text(text) | Cell::Numeric(text) => Param::Text(text.clone()),
        Cell::Bytes(bytes) => Param::Bytes(bytes.clone()),
        _ => Param::Null,
    }
}
