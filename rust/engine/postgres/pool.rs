//! The connection pool: at most `limit` connections, opened on demand, each with its own
//! cache of prepared statements.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use postgres::config::Host;
use postgres::{Client, NoTls, Statement};
use rustls::ClientConfig;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::from_postgres;
use super::tls;
use super::url::PgTarget;
use crate::error::{Error, Result};

/// One server connection and the statements prepared on it.
pub struct PgConn {
    pub client: Client,
    statements: HashMap<String, Statement>,
    /// The engine's schema generation when the cache was last valid (see `statement`).
    generation: u64,
    /// Set when a statement failed inside the transaction this connection holds:
    /// PostgreSQL then refuses everything until the block is rolled back.
    pub aborted: bool,
    /// Set when a statement found the connection lost: the server may have said so before
    /// the driver noticed the socket closing, and the connection must not be reused.
    pub broken: bool,
}

impl PgConn {
    /// The prepared statement for `sql`, from the cache when it was prepared before and no
    /// DDL ran since (`generation` moved on), which can change what a statement returns.
    pub fn statement(
        &mut self,
        sql: &str,
        generation: u64,
        cache_size: usize,
    ) -> Result<Statement> {
        if self.generation != generation {
            self.statements.clear();
            self.generation = generation;
        }
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self
            .client
            .prepare(sql)
            .map_err(|err| from_postgres(&err, sql))?;
        if cache_size > 0 {
            if self.statements.len() >= cache_size {
                // Any one will do: the cache only saves a round trip per statement.
                if let Some(evicted) = self.statements.keys().next().cloned() {
                    self.statements.remove(&evicted);
                }
            }
            self.statements.insert(sql.to_owned(), statement.clone());
        }
        Ok(statement)
    }

    pub fn forget(&mut self, sql: &str) {
        self.statements.remove(sql);
    }
}

struct PoolState {
    idle: Vec<PgConn>,
    /// Connections open now: idle, lent out, or held by a transaction.
    open: usize,
    /// Callers waiting for a connection to be freed.
    waiting: usize,
    closed: bool,
}

/// A snapshot of the pool, for `db.health_()` and `strata doctor`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub limit: usize,
    pub open: usize,
    pub idle: usize,
    pub in_use: usize,
    pub waiting: usize,
}

pub struct Pool {
    target: PgTarget,
    pub limit: usize,
    pub wait: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

impl Pool {
    pub fn new(target: PgTarget, limit: usize, wait: Duration) -> Pool {
        Pool {
            target,
            limit,
            wait,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
                waiting: 0,
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    pub fn stats(&self) -> PoolStats {
        let state = self.state.lock();
        PoolStats {
            limit: self.limit,
            open: state.open,
            idle: state.idle.len(),
            in_use: state.open - state.idle.len(),
            waiting: state.waiting,
        }
    }

    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// An idle connection, a new one while fewer than `limit` are open, or one freed within
    /// `wait`; else `Error::PoolTimeout`.
    pub fn acquire(&self) -> Result<PgConn> {
        let deadline = Instant::now() + self.wait;
        let mut waiting_since = None;
        let mut state = self.state.lock();
        loop {
            if state.closed {
                return Err(Error::Closed);
            }
            while let Some(conn) = state.idle.pop() {
                if !conn.client.is_closed() {
                    return Ok(conn);
                }
                state.open -= 1;
            }
            if state.open < self.limit {
                state.open += 1;
                drop(state);
                return self.connect().inspect_err(|_| {
                    self.state.lock().open -= 1;
                    self.freed.notify_one();
                });
            }
            state.waiting += 1;
            // Measured from the first time round: a connection another caller took first
            // sends this one round again, still on the same wait.
            let started = *waiting_since.get_or_insert_with(Instant::now);
            let timed_out = self.freed.wait_until(&mut state, deadline).timed_out();
            state.waiting -= 1;
            crate::engine::waits::note(crate::engine::waits::PoolWait {
                pool: "postgresql",
                waited: started.elapsed(),
                size: self.limit,
                timed_out,
            });
            if timed_out {
                return Err(Error::PoolTimeout {
                    waited: self.wait,
                    limit: self.limit,
                });
            }
        }
    }

    /// Give a connection back. A broken one (the server went away) is closed, so the next
    /// caller gets a fresh connection rather than the same error.
    pub fn release(&self, mut conn: PgConn) {
        // Out of a transaction block, a failure aborted nothing that lasts.
        conn.aborted = false;
        let mut state = self.state.lock();
        let keep = !state.closed && !conn.broken && !conn.client.is_closed();
        if keep {
            state.idle.push(conn);
            drop(state);
        } else {
            state.open -= 1;
            drop(state);
            drop(conn);
        }
        self.freed.notify_one();
    }

    /// Close the idle connections and refuse new ones; lent ones close as they come back.
    pub fn close(&self) {
        let idle = {
            let mut state = self.state.lock();
            state.closed = true;
            state.open -= state.idle.len();
            std::mem::take(&mut state.idle)
        };
        drop(idle);
        self.freed.notify_all();
    }

    /// A new connection with the session settings every connection shares: UTC, so that
    /// a naive datetime means UTC as it does for Prisma, and the URL's schema first in
    /// `search_path`. Not counted against `limit`: `acquire` counts what it opens.
    pub fn connect(&self) -> Result<PgConn> {
        let target = &self.target;
        let open_error = |err: &postgres::Error| Error::Open {
            path: target.display.clone(),
            reason: connect_failure(err, target),
        };
        let connected = match &target.tls_config {
            Some(config) => target
                .config
                .connect(MakeRustlsConnect::new(ClientConfig::clone(config))),
            None => target.config.connect(NoTls),
        };
        let mut client = connected.map_err(|e| open_error(&e))?;
        let settings = format!(
            "SET TIME ZONE 'UTC'; SET search_path TO {}",
            quote_identifier(&target.schema)
        );
        client
            .batch_execute(&settings)
            .map_err(|e| open_error(&e))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            generation: 0,
            aborted: false,
            broken: false,
        })
    }
}

/// Why connecting failed, in words: the server's own message, the TLS check that failed, or
/// the driver's description.
fn connect_failure(err: &postgres::Error, target: &PgTarget) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_owned();
    }
    let host = target
        .config
        .get_hosts()
        .first()
        .map_or_else(String::new, |host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        });
    if let Some(reason) = tls::explain(err, &host, &target.tls.roots) {
        return reason;
    }
    // The driver's own text names only the kind of failure ("error connecting to server");
    // the cause says what happened.
    let Some(cause) = std::error::Error::source(err).map(ToString::to_string) else {
        return err.to_string();
    };
    // tokio-postgres says so in a plain string, which has no type to look for.
    if cause == "server does not support TLS" {
        return format!(
            "the server does not support TLS, and sslmode={} requires it",
            target.tls.sslmode
        );
    }
    format!("{err}: {cause}")
}

/// `"name"`, with embedded quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
