//! Waits for a pooled connection, noted for the statement that waited.
//!
//! A pool that lends out every connection makes the next caller wait. That is worth a log
//! line (the pool is too small for the load), but the pools know nothing about Python, and
//! the binding must not call Python while a pool's lock is held. So a pool that made the
//! calling thread wait notes it here, in a thread-local cell, and the binding takes the note
//! after the statement (on the same thread) and reports it. Taking an empty note costs a
//! thread-local read; nothing is allocated on the path where no one waited.

use std::cell::Cell;
use std::time::Duration;

/// One wait: which pool, how long, how many connections it holds, and whether it gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWait {
    /// `"sqlite readers"` or `"postgresql"`.
    pub pool: &'static str,
    pub waited: Duration,
    pub size: usize,
    pub timed_out: bool,
}

thread_local! {
    static LAST_WAIT: Cell<Option<PoolWait>> = const { Cell::new(None) };
}

/// Note that this thread waited for a connection. A pool notes a wait again each time a
/// caller goes round its loop, with the time since the wait began, so the longest is kept.
pub fn note(wait: PoolWait) {
    LAST_WAIT.with(|cell| {
        let keep = match cell.get() {
            Some(old) => old.waited < wait.waited || wait.timed_out,
            None => true,
        };
        if keep {
            cell.set(Some(wait));
        }
    });
}

/// The wait noted on this thread since the last call, if any; the note is cleared.
pub fn take() -> Option<PoolWait> {
    LAST_WAIT.with(Cell::take)
}
