//! How a connection waits for a lock held by another connection or process, notices
//! Ctrl-C during a long statement, and is left alone in a forked child.
//!
//! `SQLite`'s built-in busy timeout sleeps in a fixed ladder (1, 2, 5, 10, ... 100 ms), so a
//! waiter that arrived early can sleep through many lock releases while later arrivals
//! win: waits are unfair and tail latency reaches seconds under contention. This handler
//! polls quickly at first and backs off exponentially to a small cap, with jitter so that
//! processes that collided once do not collide again in lockstep.

use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rusqlite::{ffi, Connection};

use crate::process;

/// First sleep after a failed lock attempt.
const FIRST_SLEEP: Duration = Duration::from_micros(50);
/// Longest single sleep; keeps a waiter responsive once the lock frees.
const MAX_SLEEP: Duration = Duration::from_millis(5);

/// `SQLite` calls the progress handler every this many virtual-machine steps of a running
/// statement. A step is tens of nanoseconds, so the handler (a thread check, and on
/// Python's main thread a clock read) runs every few hundred microseconds and costs well
/// under 0.1%; statements of the hot paths finish in fewer steps and never call it.
const PROGRESS_STEPS: c_int = 10_000;

/// How long a statement runs on Python's main thread between two checks for Ctrl-C.
/// Each check takes the GIL for a moment, so shorter statements never take it at all;
/// with the step interval above, Ctrl-C stops a statement within about 100 ms.
const INTERRUPT_CHECK_EVERY: Duration = Duration::from_millis(50);

/// Asks whether a signal handler wants the running statement stopped (the Python
/// binding registers it, see `py_engine::watch_ctrl_c`); `true` aborts the statement
/// with `SQLITE_INTERRUPT`. Without one (Rust tests) statements are never interrupted.
static INTERRUPT_CHECK: OnceLock<fn() -> bool> = OnceLock::new();

/// Register the check the progress handler calls on Python's main thread.
pub fn set_interrupt_check(check: fn() -> bool) {
    let _ = INTERRUPT_CHECK.set(check);
}

/// A connection with strata's busy and progress handlers installed. Derefs to the
/// rusqlite connection.
pub struct Conn {
    /// Dropped by hand (see `Drop`): closed before the handlers' state is freed, or
    /// left open in a forked child.
    inner: ManuallyDrop<Connection>,
    /// The state both handlers receive as their `void*` argument. `SQLite` keeps this
    /// pointer for as long as the connection is open, so the state is owned through it
    /// rather than through a `Box` field: it comes from `Box::into_raw` in `new` and goes
    /// back to a `Box` (and is freed) in `Drop` only after `sqlite3_close`, when no handler
    /// can run any more. A `Box` field would not do: moving the `Conn` moves the box, and
    /// a move asserts unique ownership of what it points to, which the copy of the pointer
    /// `SQLite` holds contradicts. In a forked child the state is leaked together with the
    /// connection (see `Drop`), so neither the state nor a pointer to freed memory
    /// outlives the connection.
    handlers: *mut HandlerState,
    /// The fork generation this connection was opened in (`process::fork_generation`).
    opened_in: u64,
}

// SAFETY: `Conn` is the rusqlite `Connection` (which is `Send`) plus the handlers' state,
// plain data that only `SQLite` touches, through the handlers, during calls on this
// connection. Moving the `Conn` to another thread moves the connection and its state
// together; it stays `!Sync` (through `Connection`), so no two threads use them at once.
unsafe impl Send for Conn {}

struct HandlerState {
    timeout: Duration,
    started: Instant,
    jitter: u64,
    /// When the progress handler last ran, and since when statements have been running
    /// without a pause; together they tell a long statement from many short ones.
    last_progress: Instant,
    running_since: Instant,
}

impl Conn {
    pub fn new(inner: Connection, timeout: Duration) -> rusqlite::Result<Conn> {
        let now = Instant::now();
        let state = Box::into_raw(Box::new(HandlerState {
            timeout,
            started: now,
            jitter: u64::from(std::process::id()) | 1,
            last_progress: now,
            running_since: now,
        }));
        // Built now so that from here on the `Conn`'s `Drop` owns both the connection and
        // the state, on the error path below too.
        let conn = Conn {
            inner: ManuallyDrop::new(inner),
            handlers: state,
            opened_in: process::fork_generation(),
        };
        // SAFETY: the handle is this open connection's. `state` is valid (just allocated)
        // and stays valid until `Drop` frees it, which it does only after sqlite3_close,
        // when SQLite can no longer call either handler. SQLite calls the handlers only
        // from inside calls on this connection, which is `!Sync` and so used by one thread
        // at a time: the `&mut` the handlers make of `state` is never aliased.
        let rc = unsafe {
            ffi::sqlite3_progress_handler(
                conn.handle(),
                PROGRESS_STEPS,
                Some(on_progress),
                state.cast::<c_void>(),
            );
            ffi::sqlite3_busy_handler(conn.handle(), Some(on_busy), state.cast::<c_void>())
        };
        if rc != ffi::SQLITE_OK {
            // `conn` is dropped here: the connection closes, then the state is freed.
            return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
        }
        Ok(conn)
    }
}

impl Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.inner
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.opened_in != process::fork_generation() {
            // A copy inherited across fork(): leak it, never sqlite3_close it. Closing
            // would act on the parent's state as if it were this process's: roll back a
            // transaction the parent has open, which rewrites the WAL index in the shared
            // memory both processes map, under the parent's feet, or checkpoint the WAL.
            // And the child holds none of the locks that would make either safe: POSIX
            // locks belong to the process that took them, and fork does not pass them on.
            // Leaving the copy alone costs some memory and descriptors until the child
            // exits or execs.
            return;
        }
        // SAFETY: `inner` is dropped exactly once, here, and not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        // SAFETY: no handler can run any more. rusqlite's drop finalizes the cached
        // statements and calls sqlite3_close, which frees the connection together with
        // its handlers. Should the close fail (it can only with statements left
        // unfinalized, and a rusqlite `Statement` cannot outlive its `Connection`), the
        // handle is lost with it, and handlers run only inside calls on their own
        // connection. `handlers` came from `Box::into_raw` in `new` and is turned back into
        // a box exactly once, here.
        drop(unsafe { Box::from_raw(self.handlers) });
    }
}

/// Returns nonzero to make `SQLite` try the lock again, zero to give up with `SQLITE_BUSY`.
///
/// # Safety
///
/// `state` must be the `HandlerState` pointer `Conn::new` installed, which `SQLite` passes
/// back unchanged, and nothing else may be using that state during the call.
unsafe extern "C" fn on_busy(state: *mut c_void, attempt: c_int) -> c_int {
    // SAFETY: `state` is the pointer `Conn::new` installed, valid until the connection is
    // closed (see `Conn::handlers`), and SQLite calls this only from a call on the
    // connection, on the one thread using it: no other reference to the state exists.
    let state = unsafe { &mut *state.cast::<HandlerState>() };
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

/// Returns nonzero to abort the running statement with `SQLITE_INTERRUPT`.
///
/// Ctrl-C sets a flag that `CPython` acts on between bytecodes, which a thread inside
/// `SQLite` (with the GIL released) never reaches. So on Python's main thread, once
/// statements have run for `INTERRUPT_CHECK_EVERY` without a pause, this asks the Python
/// binding whether Ctrl-C was pressed, taking the GIL for that moment only. A watcher
/// thread calling `sqlite3_interrupt` would need the same GIL to read the flag, and would
/// cost a thread per call.
///
/// # Safety
///
/// As for `on_busy`: `state` is the pointer `Conn::new` installed.
unsafe extern "C" fn on_progress(state: *mut c_void) -> c_int {
    if !process::on_main_thread() {
        return 0;
    }
    let Some(check) = INTERRUPT_CHECK.get() else {
        return 0;
    };
    // SAFETY: as in `on_busy`: the pointer `Conn::new` installed, valid while the
    // connection is open, used by no one else during this call.
    let state = unsafe { &mut *state.cast::<HandlerState>() };
    let now = Instant::now();
    if now.duration_since(state.last_progress) > INTERRUPT_CHECK_EVERY {
        // The handler was silent for a while: a new statement (or run of them) began.
        state.running_since = now;
    }
    state.last_progress = now;
    if now.duration_since(state.running_since) < INTERRUPT_CHECK_EVERY {
        return 0;
    }
    state.running_since = now;
    c_int::from(check())
}
