//! Which process and which thread the core is running on.
//!
//! * **`fork()`.** A child made by `fork()` gets copies of every `SQLite` connection its
//!   parent had open, including any transaction in progress, while the parent keeps using
//!   the originals. `SQLite` connections must not cross a fork (sqlite.org/howtocorrupt.html,
//!   section 2.6): a write through the copy would go into the parent's WAL under locks the
//!   child does not hold. Every connection and every engine remembers the *fork
//!   generation* it was opened in; a `pthread_atfork` handler moves the generation on in
//!   each child, so "was this opened in this process?" is one atomic load on every call
//!   rather than a `getpid()` system call.
//! * **Python's main thread.** `CPython` runs signal handlers, and so raises
//!   `KeyboardInterrupt`, only on its main thread. A statement that runs long on that
//!   thread checks for Ctrl-C (see `busy::Conn`); on any other thread it has nothing to
//!   check, and the test is one comparison with `pthread_self()`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// How many forks separate this process from the one that first loaded the core: 0 there,
/// one more in each child (a grandchild of it counts 2).
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Python's main thread as `pthread_self()` (which is what `threading.get_ident()`
/// returns on POSIX), or 0 before the extension module registered it.
static MAIN_THREAD: AtomicU64 = AtomicU64::new(0);

/// The fork generation of the calling process. Anything opened with a different one was
/// inherited across a `fork()` and must not be used here.
pub fn fork_generation() -> u64 {
    static TRACK_FORKS: Once = Once::new();
    TRACK_FORKS.call_once(|| {
        // SAFETY: pthread_atfork only records the function pointers. The child handler
        // is a plain `extern "C" fn` with no captured state, valid for the life of the
        // process (the core is never unloaded), and it only loads and stores atomics and
        // calls pthread_self, all async-signal-safe, as a handler run in the child of a
        // multithreaded fork must be. The `None`s register no prepare or parent handler.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        // pthread_atfork fails only without memory for the handler list. Without the
        // handler the core cannot tell a child from its parent; that is not worth a
        // failure at startup, since it only removes a safety check.
        debug_assert_eq!(rc, 0);
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// The process id of the caller, for messages.
pub fn process_id() -> u32 {
    std::process::id()
}

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    // The thread that called fork() is the child's only thread, and Python makes it the
    // child's main thread.
    if MAIN_THREAD.load(Ordering::Relaxed) != 0 {
        MAIN_THREAD.store(current_thread(), Ordering::Relaxed);
    }
}

/// Record Python's main thread (`threading.main_thread().ident`).
pub fn set_main_thread(ident: u64) {
    // Make sure the fork handler that keeps it current is registered.
    fork_generation();
    MAIN_THREAD.store(ident, Ordering::Relaxed);
}

/// Whether the caller is Python's main thread, the one that receives Ctrl-C.
pub fn on_main_thread() -> bool {
    let main = MAIN_THREAD.load(Ordering::Relaxed);
    main != 0 && main == current_thread()
}

/// `pthread_self()`, which is also what `CPython` uses as a thread's ident.
fn current_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions, cannot fail and touches no memory of
    // ours; it is also async-signal-safe, so the fork handler may call it.
    let thread = unsafe { libc::pthread_self() };
    // pthread_t is an unsigned long on Linux (64-bit here, 32 on some targets) and a
    // pointer on macOS.
    #[cfg(target_os = "linux")]
    #[allow(clippy::useless_conversion)]
    let ident = u64::from(thread);
    #[cfg(not(target_os = "linux"))]
    let ident = thread as usize as u64;
    ident
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_sees_a_new_generation() {
        let before = fork_generation();
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into `fds`, a valid `[c_int; 2]`; write and
        // read get pointers to live one-byte buffers with a length of 1; waitpid accepts
        // a null status pointer. Between fork and _exit the child (the copy of a
        // multithreaded test process) calls only async-signal-safe code: `fork_generation`
        // is an atomic load there (its `Once` ran above, in the parent), then write and
        // _exit, which skips the destructors and atexit handlers the child must not run.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let [read, write] = fds;
            let child = libc::fork();
            if child == 0 {
                let seen = [u8::from(fork_generation() == before + 1)];
                libc::write(write, seen.as_ptr().cast(), 1);
                libc::_exit(0);
            }
            assert!(child > 0);
            let mut seen = [0u8];
            assert_eq!(libc::read(read, seen.as_mut_ptr().cast(), 1), 1);
            libc::waitpid(child, std::ptr::null_mut(), 0);
            libc::close(read);
            libc::close(write);
            assert_eq!(seen[0], 1, "the child saw the next generation");
        }
        assert_eq!(
            fork_generation(),
            before,
            "the parent's generation is unchanged"
        );
    }
}
