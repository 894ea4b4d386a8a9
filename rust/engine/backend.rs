//! Which database an engine handle runs on. `strata._core.Engine` holds one `Backend`, so
//! the Python class has one set of methods whichever server is behind it; the calls whose
//! values differ (`SQLite` binds five storage classes, PostgreSQL typed values) are split
//! by the binding, the rest are here.

use std::sync::Arc;
use std::time::Duration;

use super::postgres::url::is_postgres_url;
use super::postgres::PgEngine;
use super::{Engine, Options, TxOptions};
use crate::error::{Error, Result};

#[derive(Clone)]
pub enum Backend {
    Sqlite(Arc<Engine>),
    Postgres(Arc<PgEngine>),
}

impl Backend {
    /// Open a PostgreSQL URL (`postgresql://...`) on PostgreSQL, anything else as a
    /// `SQLite` path. `readers` is the reader pool for `SQLite` (4 when None) and the
    /// connection pool for PostgreSQL (the URL's `connection_limit` when None).
    pub fn open(path: &str, busy_timeout: Duration, readers: Option<usize>) -> Result<Backend> {
        if is_postgres_url(path) {
            return Ok(Backend::Postgres(Arc::new(PgEngine::open(
                path,
                readers,
                busy_timeout,
            )?)));
        }
        let options = Options {
            busy_timeout,
            max_readers: readers.unwrap_or(Options::default().max_readers),
        };
        Ok(Backend::Sqlite(Arc::new(Engine::open(path, options)?)))
    }

    /// The database file, or the PostgreSQL URL without its password.
    pub fn path(&self) -> &str {
        match self {
            Backend::Sqlite(engine) => engine.path(),
            Backend::Postgres(engine) => engine.display_url(),
        }
    }

    /// The `SQLite` engine, for the features the core runs on `SQLite` only so far (the
    /// queue, the rate limiter, bulk ingest, metrics); `feature` names the one asking.
    pub fn sqlite(&self, feature: &str) -> Result<&Arc<Engine>> {
        match self {
            Backend::Sqlite(engine) => Ok(engine),
            Backend::Postgres(_) => Err(Error::Unsupported(format!(
                "{feature} runs on SQLite only for now; this handle is on PostgreSQL"
            ))),
        }
    }

    pub fn is_closed(&self) -> bool {
        match self {
            Backend::Sqlite(engine) => engine.is_closed(),
            Backend::Postgres(engine) => engine.is_closed(),
        }
    }

    pub fn in_transaction(&self) -> bool {
        match self {
            Backend::Sqlite(engine) => engine.in_transaction(),
            Backend::Postgres(engine) => engine.in_transaction(),
        }
    }

    pub fn execute_script(&self, sql: &str) -> Result<()> {
        match self {
            Backend::Sqlite(engine) => engine.execute_script(sql),
            Backend::Postgres(engine) => engine.execute_script(sql),
        }
    }

    pub fn begin(&self) -> Result<()> {
        match self {
            Backend::Sqlite(engine) => engine.begin(),
            Backend::Postgres(engine) => engine.begin(),
        }
    }

    /// `begin` with the options of `transaction_(isolation=, timeout=)`. `SQLite` runs
    /// every level as serializable (see `TxOptions`); its timeout is checked by the caller
    /// when the block ends, and, as on PostgreSQL, belongs to the outermost block.
    pub fn begin_with(&self, options: TxOptions) -> Result<()> {
        match self {
            Backend::Sqlite(engine) => {
                if options.timeout.is_some() && engine.in_transaction() {
                    return Err(Error::Transaction(
                        "a nested transaction block cannot have a timeout of its own; give \
                         timeout= to the outermost block"
                            .into(),
                    ));
                }
                engine.begin()
            }
            Backend::Postgres(engine) => engine.begin_with(options),
        }
    }

    pub fn commit(&self) -> Result<()> {
        match self {
            Backend::Sqlite(engine) => engine.commit(),
            Backend::Postgres(engine) => engine.commit(),
        }
    }

    pub fn rollback(&self) -> Result<()> {
        match self {
            Backend::Sqlite(engine) => engine.rollback(),
            Backend::Postgres(engine) => engine.rollback(),
        }
    }

    pub fn close(&self) {
        match self {
            Backend::Sqlite(engine) => engine.close(),
            Backend::Postgres(engine) => engine.close(),
        }
    }
}
