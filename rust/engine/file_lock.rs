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
//!
//! Waiters queue in order (`Line`). On its own, `flock` hands the lock to no one in
//! particular: letting go wakes every waiter, and the first to run takes it, so a process
//! could wait through many turns while others took two. Each writer therefore takes a
//! ticket from a page of the sidecar mapped into every strata process, and only the one at
//! the head of the line waits on the lock; those behind it sleep on the page (a futex)
//! until they reach the head, which happens as the holder before them takes the lock.
//! Letting go then wakes one process, the next in order. The line only orders the
//! waiters: the `flock` is still the lock. A process that dies with a ticket leaves a
//! place no one takes: the line stops moving, and a waiter that finds it still for `STALL`
//! with the lock free takes the lock out of turn, moving the line past the dead place.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the line may stand still before a waiter looks for a dead process at its head:
/// far above a transaction's hold (a few hundred µs). A long write (a bulk insert) holds
/// the lock that long too; the waiters then go on waiting.
const STALL: Duration = Duration::from_millis(20);

/// The sidecar of one engine: opened at the first write, or known to be unavailable.
#[derive(Default)]
pub(super) enum LockFile {
    #[default]
    Unopened,
    /// The file, and its line when the file can be mapped.
    Open(File, Option<Line>),
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
                    .map_or(LockFile::Unavailable, |file| {
                        let line = Line::map(&file);
                        LockFile::Open(file, line)
                    })
            };
        }
        let LockFile::Open(file, line) = self else {
            return None;
        };
        let fd = file.as_raw_fd();
        let deadline = Instant::now() + timeout;
        let Some(line) = line else {
            return take(fd, timeout);
        };
        let ticket = line.take_ticket();
        let held = line
            .wait_until_head(ticket, fd, deadline)
            .or_else(|| take(fd, deadline.saturating_duration_since(Instant::now())));
        // Got the lock or gave up: either way the next ticket is at the head now.
        line.move_past(ticket);
        held
    }
}

/// Take the lock, waiting for it in the kernel at most `timeout`.
fn take(fd: i32, timeout: Duration) -> Option<Held> {
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
        #[cfg(test)]
        let _counted = waiting::Counted::new(waiter);
        let got = flock(waiter, libc::LOCK_EX).is_ok();
        if got && granted.send(()).is_err() {
            let _ = flock(waiter, libc::LOCK_UN);
        }
        // SAFETY: `waiter` is this thread's own descriptor, closed once.
        unsafe { libc::close(waiter) };
    });
    wait.recv_timeout(timeout).ok().map(|()| Held::new(fd))
}

/// The waiters' line: two counters in the first bytes of the sidecar, mapped shared into
/// every strata process that writes the database. `next` is the next ticket to hand out;
/// `head` the ticket whose holder may take the lock now (tickets below it may too: they
/// were passed over). Both wrap; tickets compare by their difference.
pub(super) struct Line {
    page: *mut libc::c_void,
}

// SAFETY: the mapping is process-wide memory, touched only through atomics; the pointer
// moves with the engine's writer state, which a mutex guards.
unsafe impl Send for Line {}

const PAGE: usize = 4096;

impl Line {
    /// Map the sidecar's first page (growing the file to a page, zeros, if it is shorter);
    /// `None` where the file system cannot share a mapping.
    fn map(file: &File) -> Option<Line> {
        let fd = file.as_raw_fd();
        if file.metadata().ok()?.len() < PAGE as u64 {
            // Several processes may grow it at once; each writes the same length.
            let length = libc::off_t::try_from(PAGE).ok()?;
            // SAFETY: `fd` is the open sidecar's.
            if unsafe { libc::ftruncate(fd, length) } != 0 {
                return None;
            }
        }
        // SAFETY: a fresh shared mapping of the first page of an open file at least a
        // page long; the kernel picks the address.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        (page != libc::MAP_FAILED).then_some(Line { page })
    }

    fn next(&self) -> &AtomicU32 {
        // SAFETY: the page is mapped for the lifetime of `self` and page-aligned.
        unsafe { AtomicU32::from_ptr(self.page.cast::<u32>()) }
    }

    fn head(&self) -> &AtomicU32 {
        // SAFETY: as `next`; a separate cache line, so that taking a ticket does not
        // disturb the waiters reading the head.
        unsafe { AtomicU32::from_ptr(self.page.cast::<u32>().add(16)) }
    }

    fn take_ticket(&self) -> u32 {
        self.next().fetch_add(1, Ordering::SeqCst)
    }

    /// Sleep until `ticket` is at the head of the line (or was passed over), or `deadline`.
    /// A line that stood still for `STALL` while the lock was free has a dead process at
    /// its head: the lock is then taken at once, out of turn, and returned.
    fn wait_until_head(&self, ticket: u32, fd: i32, deadline: Instant) -> Option<Held> {
        let mut seen = self.head().load(Ordering::SeqCst);
        let mut still_since = Instant::now();
        while !at_or_past(seen, ticket) {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            if now >= still_since + STALL {
                if flock(fd, libc::LOCK_EX | libc::LOCK_NB).is_ok() {
                    return Some(Held::new(fd));
                }
                // Held: a long write, and the head waiting for it.
                still_since = now;
            }
            futex_wait(self.head(), seen, deadline.min(still_since + STALL) - now);
            let head = self.head().load(Ordering::SeqCst);
            if head != seen {
                seen = head;
                still_since = Instant::now();
            }
        }
        None
    }

    /// Move the head past `ticket` (unless it is past already) and wake the line.
    fn move_past(&self, ticket: u32) {
        let target = ticket.wrapping_add(1);
        let moved = self
            .head()
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |head| {
                (!at_or_past(head, target)).then_some(target)
            })
            .is_ok();
        // Only a ticket taken after `ticket` can be asleep: with none (no one waiting, the
        // common case) there is no one to wake. A ticket taken after this check reads the
        // head moved already, so it does not sleep.
        if moved && self.next().load(Ordering::SeqCst) != target {
            futex_wake(self.head());
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        // SAFETY: the page `map` mapped, unmapped once.
        unsafe { libc::munmap(self.page, PAGE) };
    }
}

/// Whether counter value `head` has reached `ticket`, the counters wrapping.
fn at_or_past(head: u32, ticket: u32) -> bool {
    head.wrapping_sub(ticket) < u32::MAX / 2
}

/// Sleep while `word` holds `expected`, at most `timeout` (a wake or a signal ends it early).
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: `word` is a valid, aligned u32 in a shared mapping; FUTEX_WAIT (not the
    // PRIVATE variant) because waiters are in other processes.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &raw const timeout,
        );
    }
}

/// Wake every process sleeping on `word` (each checks whether it is at the head).
fn futex_wake(word: &AtomicU32) {
    // SAFETY: as in `futex_wait`.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
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

#[cfg(test)]
impl LockFile {
    /// Take a ticket and drop it, as a process killed while it waited would.
    pub(super) fn abandon_a_ticket(&self) {
        if let LockFile::Open(_, Some(line)) = self {
            line.take_ticket();
        }
    }
}

/// How many threads of this process wait in `flock` on each sidecar (by inode), for the
/// tests (which run side by side, each on a sidecar of its own).
#[cfg(test)]
pub(super) mod waiting {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    use std::sync::Mutex;

    static BY_INODE: Mutex<Option<HashMap<u64, usize>>> = Mutex::new(None);

    fn inode_of(fd: i32) -> u64 {
        // SAFETY: an all-zero stat is a valid value for fstat to fill.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the caller's lifetime; fstat fills `stat`.
        unsafe { libc::fstat(fd, &raw mut stat) };
        stat.st_ino
    }

    fn add(inode: u64, change: isize) {
        let mut map = BY_INODE.lock().unwrap();
        let count = map
            .get_or_insert_with(HashMap::new)
            .entry(inode)
            .or_default();
        *count = count.checked_add_signed(change).unwrap();
    }

    pub struct Counted(u64);

    impl Counted {
        pub fn new(fd: i32) -> Counted {
            let inode = inode_of(fd);
            add(inode, 1);
            Counted(inode)
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            add(self.0, -1);
        }
    }

    /// The threads waiting in `flock` on the file at `path`.
    pub fn on(path: &str) -> usize {
        let inode = std::fs::metadata(path).unwrap().ino();
        BY_INODE
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|map| map.get(&inode).copied())
            .unwrap_or(0)
    }
}
