//! WAL checkpoints after the turn, not inside it.
//!
//! `SQLite` checkpoints from the commit that takes the log past a thousand pages: that commit
//! copies the log into the database file and syncs it before it returns. For a strata
//! process that commit runs while it holds the turn at the write lock (`file_lock`), so
//! every other process's write waits out the copy and the sync too: with four processes
//! claiming jobs, these waits were the slowest one in a hundred claims and cost a third of
//! the total throughput. The writer therefore replaces `SQLite`'s own hook with this one:
//! a commit made while the turn is held only notes that a checkpoint is due, and `write`
//! runs it once the turn is let go, as the same PASSIVE checkpoint `SQLite` would have run
//! (it never waits for readers or writers; a busy log is left for a later commit). Commits
//! made without the turn (transactions the application opened, plain statements, writers
//! without a sidecar) checkpoint from the hook as `SQLite` does by default.

use std::cell::Cell;
use std::os::raw::c_int;

use rusqlite::hooks::{CheckpointMode, Wal};
use rusqlite::Connection;

/// `SQLite`'s default `wal_autocheckpoint`.
const CHECKPOINT_PAGES: c_int = 1000;

thread_local! {
    /// Whether this thread holds its engine's turn at the write lock.
    static TURN_HELD: Cell<bool> = const { Cell::new(false) };
    /// Whether a commit made under the turn left a checkpoint to run after it.
    static DUE: Cell<bool> = const { Cell::new(false) };
}

/// Install the hook on a writer connection (it replaces `SQLite`'s autocheckpoint).
pub(super) fn install(conn: &Connection) {
    conn.wal_hook(Some(after_commit));
}

#[allow(clippy::unnecessary_wraps)] // the signature sqlite3_wal_hook's wrapper takes
fn after_commit(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    if pages >= CHECKPOINT_PAGES {
        if TURN_HELD.get() {
            DUE.set(true);
        } else {
            // As SQLite's own hook: a checkpoint that cannot finish now is not an error of
            // the commit that asked for it.
            let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
        }
    }
    Ok(())
}

/// The calling thread took (`true`) or let go of (`false`) the turn.
pub(super) fn turn_held(held: bool) {
    TURN_HELD.set(held);
}

/// Run the checkpoint a commit under the turn left due, on the writer that made it.
pub(super) fn run_due(conn: &Connection) {
    if DUE.replace(false) {
        // SAFETY: the handle is the open writer's, used on the thread that holds it. A NULL
        // name checkpoints every database the connection has (here: only main).
        unsafe {
            rusqlite::ffi::sqlite3_wal_checkpoint_v2(
                conn.handle(),
                std::ptr::null(),
                rusqlite::ffi::SQLITE_CHECKPOINT_PASSIVE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
}
