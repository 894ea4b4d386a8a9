//! The turn strata processes take at the write lock: an advisory `flock` on a sidecar file
//! (`<database>-strata-lock`), taken before `BEGIN IMMEDIATE` by `Engine::write` and let go
//! after its COMMIT or ROLLBACK.
//!
//! Without it, processes writing the same database meet only at `SQLite`'s lock, which a
//! waiter cannot sleep on: the busy handler (`busy::Conn`) polls it, and a process that
//! arrives between two polls of an earlier one takes it first. Under four claiming
//! processes the polls cost more than the work. A waiter on `flock` sleeps in the kernel
//! and is woken when the holder lets go, so the lock passes straight from one strata
//! process to the next. Writers that do not take it (other programs, strata's own
//! `transaction_()` blocks, which may stay open across Python code) still meet at
//! `SQLite`'s lock, and the busy handler still bounds that wait.
//!
//! The lock is held only for one `write` closure: Rust work on statements the core was
//! given, whose `BEGIN IMMEDIATE` is itself bounded by the busy timeout, never Python. So
//! a wait on it is bounded by the holder's transaction. A process that dies holding it
//! (SIGKILL included) lets go with its last descriptor: the kernel drops the lock. Where
//! the sidecar cannot be created (a read-only directory), writes go on without it.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

/// The sidecar of one engine: opened at the first write, or known to be unavailable.
#[derive(Default)]
pub(super) enum LockFile {
    #[default]
    Unopened,
    Open(File),
    Unavailable,
}

/// The lock held; released when dropped.
pub(super) struct Held(i32);

impl LockFile {
    /// Take the lock for the database at `path`, waiting in the kernel while another
    /// process holds it; `None` when there is no sidecar to lock (in-memory databases,
    /// unwritable directories).
    pub(super) fn hold(&mut self, path: &str) -> Option<Held> {
        if matches!(self, LockFile::Unopened) {
            *self = if path == ":memory:" || path.is_empty() {
                LockFile::Unavailable
            } else {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(format!("{path}-strata-lock"))
                    .map_or(LockFile::Unavailable, LockFile::Open)
            };
        }
        let LockFile::Open(file) = self else {
            return None;
        };
        let fd = file.as_raw_fd();
        loop {
            // SAFETY: `fd` is the open descriptor of `file`, which the engine keeps open
            // for its lifetime; flock reads nothing but the descriptor.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
                return Some(Held(fd));
            }
            // A signal (Python's handlers are installed without SA_RESTART) ends the wait
            // early: wait again. Any other failure (a file system without flock) leaves
            // the lock out rather than the write.
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return None;
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: the descriptor is the sidecar's, still open (the `LockFile` that owns it
        // outlives every `Held`, both living in the writer's state under its mutex).
        unsafe { libc::flock(self.0, libc::LOCK_UN) };
    }
}
