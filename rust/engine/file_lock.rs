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
//! given, whose `BEGIN IMMEDIATE` is itself bounded by the busy timeout, never Python. A
//! process that dies holding it (SIGKILL included) lets go with its last descriptor: the
//! kernel drops the lock. A holder that is stopped (SIGSTOP, a frozen container) keeps it,
//! so a wait is bounded by the busy timeout too: past it the write goes on without its turn
//! and meets `SQLite`'s lock, whose busy handler then reports the holder as it always has.
//! The turn only orders strata's writers; `SQLite`'s lock is what excludes them, so a turn
//! skipped or lost costs fairness, never correctness. Where the sidecar cannot be created
//! (a read-only directory), writes go on without it.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

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
    /// process holds it, at most `timeout`; `None` when there is no sidecar to lock
    /// (in-memory databases, unwritable directories) or the wait timed out.
    pub(super) fn hold(&mut self, path: &str, timeout: Duration) -> Option<Held> {
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
        // Uncontended: one system call.
        match flock(fd, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => return Some(Held::new(fd)),
            Err(errno) if errno == libc::EWOULDBLOCK => {}
            // A file system without flock: the write goes on without it.
            Err(_) => return None,
        }
        // Contended: a thread waits in the kernel on a duplicate of the descriptor (the
        // same open file, so the lock it gets is ours) while this one waits for it at
        // most `timeout`. A thread whose caller gave up lets go as soon as it gets it.
        // Close-on-exec, as the sidecar itself is: a program another thread starts meanwhile
        // must not inherit the descriptor, and with it a hold on the lock.
        // SAFETY: `fd` is open (the engine keeps the file for its lifetime); fcntl reads it.
        let waiter = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if waiter < 0 {
            return None;
        }
        let (granted, wait) = mpsc::channel();
        std::thread::spawn(move || {
            let got = flock(waiter, libc::LOCK_EX).is_ok();
            if got && granted.send(()).is_err() {
                let _ = flock(waiter, libc::LOCK_UN);
            }
            // SAFETY: `waiter` is this thread's own descriptor, closed once.
            unsafe { libc::close(waiter) };
        });
        wait.recv_timeout(timeout).ok().map(|()| Held::new(fd))
    }
}

/// `flock(2)`, waiting again when a signal interrupts it (Python's handlers are installed
/// without `SA_RESTART`); the error number on failure.
fn flock(fd: i32, operation: i32) -> Result<(), i32> {
    loop {
        // SAFETY: flock reads nothing but the descriptor, which the caller keeps open.
        if unsafe { libc::flock(fd, operation) } == 0 {
            return Ok(());
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            errno => return Err(errno.unwrap_or(0)),
        }
    }
}

impl Held {
    fn new(fd: i32) -> Self {
        super::checkpoint::turn_held(true);
        Held(fd)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // The descriptor is the sidecar's, still open (the `LockFile` that owns it outlives
        // every `Held`, both living in the writer's state under its mutex).
        let _ = flock(self.0, libc::LOCK_UN);
        super::checkpoint::turn_held(false);
    }
}
