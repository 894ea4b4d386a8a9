//! How a connection waits for a lock held by another connection or process.
//!
//! `SQLite`'s built-in busy timeout sleeps in a fixed ladder (1, 2, 5, 10, ... 100 ms), so a
//! waiter that arrived early can sleep through many lock releases while later arrivals
//! win: waits are unfair and tail latency reaches seconds under contention. This handler
//! polls quickly at first and backs off exponentially to a small cap, with jitter so that
//! processes that collided once do not collide again in lockstep.

use std::ffi::{c_int, c_void};
use std::ops::Deref;
use std::time::{Duration, Instant};

use rusqlite::{ffi, Connection};

/// First sleep after a failed lock attempt.
const FIRST_SLEEP: Duration = Duration::from_micros(50);
/// Longest single sleep; keeps a waiter responsive once the lock frees.
const MAX_SLEEP: Duration = Duration::from_millis(5);

/// A connection with strata's busy handler installed. Derefs to the rusqlite connection.
pub struct Conn {
    // Field order matters: the connection closes before the state its handler points to
    // is freed.
    inner: Connection,
    _waiting: Box<WaitState>,
}

struct WaitState {
    timeout: Duration,
    started: Instant,
    jitter: u64,
}

impl Conn {
    pub fn new(inner: Connection, timeout: Duration) -> rusqlite::Result<Conn> {
        let mut waiting = Box::new(WaitState {
            timeout,
            started: Instant::now(),
            jitter: u64::from(std::process::id()) | 1,
        });
        let state: *mut WaitState = &mut *waiting;
        // SAFETY: `state` points into the box stored beside the connection, which outlives
        // it (see the field order above). SQLite calls the handler only from calls on this
        // connection, and the engine never uses one connection from two threads at once.
        let rc = unsafe {
            ffi::sqlite3_busy_handler(inner.handle(), Some(on_busy), state.cast::<c_void>())
        };
        if rc != ffi::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
        }
        Ok(Conn {
            inner,
            _waiting: waiting,
        })
    }
}

impl Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.inner
    }
}

/// Returns nonzero to make `SQLite` try the lock again, zero to give up with `SQLITE_BUSY`.
unsafe extern "C" fn on_busy(state: *mut c_void, attempt: c_int) -> c_int {
    // SAFETY: see `Conn::new`.
    let state = unsafe { &mut *state.cast::<WaitState>() };
    // SQLite counts attempts from 0 within one wait, so 0 marks a new wait.
    if attempt == 0 {
        state.started = Instant::now();
    }
    let waited = state.started.elapsed();
    if waited >= state.timeout {
        return 0;
    }
    let exponent = u32::try_from(attempt.clamp(0, 16)).unwrap_or(16);
    let backoff = FIRST_SLEEP.saturating_mul(1 << exponent).min(MAX_SLEEP);
    // xorshift64: cheap pseudo-random jitter of up to half the backoff.
    state.jitter ^= state.jitter << 13;
    state.jitter ^= state.jitter >> 7;
    state.jitter ^= state.jitter << 17;
    let fraction = f64::from(u32::try_from(state.jitter % 1000).unwrap_or(0)) / 2000.0;
    std::thread::sleep(
        (backoff + backoff.mul_f64(fraction)).min(state.timeout.checked_sub(waited).unwrap()),
    );
    1
}
