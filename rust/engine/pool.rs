//! The reader pool: read-only connections opened on demand up to `max_readers`, lent out
//! and taken back, with a bounded wait when all are out; and stream readers, connections of
//! their own for long-lived Arrow streams, counted but kept outside the pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use super::open::{open_connection, open_error};
use crate::busy::Conn;
use crate::error::{Error, Result};

/// Reader connections, opened on demand up to a limit and reused.
pub(super) struct ReaderPool {
    path: String,
    max: usize,
    busy_timeout: Duration,
    /// Idle connections, and how many are open in all (idle or checked out).
    idle: Mutex<(Vec<Conn>, usize)>,
    returned: Condvar,
    closed: AtomicBool,
    /// Stream readers open now (`Engine::stream_reader`), outside the pool.
    pub(super) open_streams: AtomicUsize,
}

/// A connection of its own for one long-lived reader (`Engine::stream_reader`), closed
/// when dropped.
pub struct StreamReader<'a> {
    pub(super) conn: Conn,
    pub(super) open_streams: &'a AtomicUsize,
}

impl std::ops::Deref for StreamReader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Drop for StreamReader<'_> {
    fn drop(&mut self) {
        self.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A reader checked out of the pool; it goes back when dropped.
pub struct PooledReader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Conn>,
}

impl std::ops::Deref for PooledReader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn);
        }
    }
}

impl ReaderPool {
    pub(super) fn new(path: String, max: usize, busy_timeout: Duration) -> Self {
        ReaderPool {
            path,
            max,
            busy_timeout,
            idle: Mutex::new((Vec::new(), 0)),
            returned: Condvar::new(),
            closed: AtomicBool::new(false),
            open_streams: AtomicUsize::new(0),
        }
    }

    /// A reader, or `None` when the pool has no readers at all. When every reader is
    /// checked out, waits for one to come back, at most for the busy timeout.
    pub(super) fn acquire(&self) -> Result<Option<PooledReader<'_>>> {
        if self.max == 0 {
            return Ok(None);
        }
        let mut deadline = None;
        let mut waiting_since = None;
        let mut guard = self.idle.lock();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let (idle, opened) = &mut *guard;
            if let Some(conn) = idle.pop() {
                return Ok(Some(PooledReader {
                    pool: self,
                    conn: Some(conn),
                }));
            }
            if *opened < self.max {
                *opened += 1;
                drop(guard);
                return match self.open_reader() {
                    Ok(conn) => Ok(Some(PooledReader {
                        pool: self,
                        conn: Some(conn),
                    })),
                    Err(err) => {
                        self.idle.lock().1 -= 1;
                        Err(err)
                    }
                };
            }
            // The first time round the loop starts the wait; a reader that another thread
            // took first sends this one round again, still on the same wait.
            let started = *waiting_since.get_or_insert_with(Instant::now);
            let until = *deadline.get_or_insert_with(|| started + self.busy_timeout);
            let timed_out = self.returned.wait_until(&mut guard, until).timed_out()
                && guard.0.is_empty()
                && guard.1 >= self.max;
            super::waits::note(super::waits::PoolWait {
                pool: "sqlite readers",
                waited: started.elapsed(),
                size: self.max,
                timed_out,
            });
            if timed_out {
                return Err(Error::ReadersBusy {
                    waited: self.busy_timeout,
                    readers: self.max,
                    streams: self.open_streams.load(Ordering::Relaxed),
                });
            }
        }
    }

    pub(super) fn open_reader(&self) -> Result<Conn> {
        let conn = open_connection(&self.path, false, self.busy_timeout)?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| open_error(&self.path, &e))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Conn) {
        let mut guard = self.idle.lock();
        if self.closed.load(Ordering::Acquire) {
            // The engine closed while this reader was out: close it instead of pooling it.
            guard.1 -= 1;
            drop(conn);
        } else {
            guard.0.push(conn);
        }
        drop(guard);
        self.returned.notify_one();
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut guard = self.idle.lock();
        let count = guard.0.len();
        guard.0.clear();
        guard.1 -= count;
        drop(guard);
        self.returned.notify_all();
    }
}
