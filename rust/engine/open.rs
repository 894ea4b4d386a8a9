//! Opening connections: the flags, the busy handler and statement cache every connection
//! gets, the writer's pragmas (WAL, `synchronous = NORMAL`, foreign keys), and an error that
//! says why a path could not be opened.

use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};

use crate::busy::Conn;
use crate::error::{Error, Result};
use crate::json_filter;

/// How many prepared statements each connection keeps. Hot paths use a handful each;
/// raw SQL from applications rarely has more distinct statements than this.
const STATEMENT_CACHE_CAPACITY: usize = 256;

pub(super) fn open_connection(path: &str, writer: bool, busy_timeout: Duration) -> Result<Conn> {
    // NO_MUTEX: the engine serialises access itself, so SQLite's per-connection mutex would
    // only add cost.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, &e))?;
    let conn = Conn::new(conn, busy_timeout).map_err(|e| open_error(path, &e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // The client's Json filters call it; every connection, reader or writer, may run them.
    json_filter::register(&conn).map_err(|e| open_error(path, &e))?;
    register_sliding_cap(&conn).map_err(|e| open_error(path, &e))?;
    Ok(conn)
}

pub(super) fn configure_writer(
    conn: &Connection,
    path: &str,
    in_memory: bool,
    busy_timeout: Duration,
) -> Result<()> {
    // The first statement reads the file header, so a file that is not a database fails
    // here, before anything is written to it.
    let mode: String = while_busy(busy_timeout, || {
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
    })
    .map_err(|e| open_error(path, &e))?;
    if !in_memory && !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Open {
            path: path.to_owned(),
            reason: format!(
                "the file system refused WAL mode (journal_mode is '{mode}'); strata needs \
                 WAL so that readers never block the writer"
            ),
        });
    }
    // SAFETY: `conn.handle()` is the handle of this open connection, borrowed for the
    // call only (sqlite3_db_readonly does not keep it), and `c"main"` is a NUL-terminated
    // static string; for a schema name it does not know, SQLite returns -1.
    let readonly = unsafe { rusqlite::ffi::sqlite3_db_readonly(conn.handle(), c"main".as_ptr()) };
    if readonly == 1 {
        return Err(Error::Open {
            path: path.to_owned(),
            reason: "the file is read-only for this user".into(),
        });
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        .map_err(|e| open_error(path, &e))?;
    super::checkpoint::install(conn);
    Ok(())
}

/// `attempt`, again while it fails with `SQLITE_BUSY`, for at most `timeout`. Switching a
/// database to WAL takes an exclusive lock without calling the busy handler, so processes
/// opening a new database together (several deployers, workers starting at once) would
/// otherwise fail with "database is locked" instead of waiting their turn.
fn while_busy<T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        match attempt() {
            Err(err)
                if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            outcome => return outcome,
        }
    }
}

pub(super) fn open_error(path: &str, err: &rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let std_path = std::path::Path::new(path);
    let code = err.sqlite_error_code();
    let reason = match code {
        Some(ErrorCode::NotADatabase) => "the file is not a SQLite database".to_owned(),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            match std_path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => {
                    format!("the directory '{}' does not exist", dir.display())
                }
                _ if std_path.is_dir() => "the path is a directory".to_owned(),
                _ => match std::fs::File::open(std_path) {
                    Err(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                        "permission denied: the file is not readable by this user".to_owned()
                    }
                    _ => err.to_string(),
                },
            }
        }
        _ => err.to_string(),
    };
    Error::Open {
        path: path.to_owned(),
        reason,
    }
}

/// `strata_sliding_cap(limit, window_ns, remaining_ns, previous)`: the rate limiter's bound
/// for a sliding window (`ratelimit::sliding_cap`), which its one-statement hit compares
/// in SQL with the exact integers the core decides with (`SQLite` has no 128-bit integer,
/// and `limit * window_ns` does not fit 64 bits). A NULL `previous` is no previous window.
fn register_sliding_cap(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "strata_sliding_cap",
        4,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let previous = ctx.get::<Option<i64>>(3)?.unwrap_or(0);
            Ok(crate::ratelimit::sliding_cap(
                ctx.get(0)?,
                ctx.get(1)?,
                ctx.get(2)?,
                previous,
            ))
        },
    )
}
