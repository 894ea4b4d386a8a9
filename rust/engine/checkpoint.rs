//! WAL checkpoints mostly after the turn, not inside it.
//!
//! `SQLite` checkpoints from the commit that takes the log past a thousand pages: that commit
//! copies the log into the database file and syncs it before it returns. For a strata
//! process that commit runs while it holds the turn at the write lock (`file_lock`), so
//! every other process's write waits out the copy and the sync too: with four processes
//! claiming jobs, these waits were the slowest one in a hundred claims. The writer
//! therefore replaces `SQLite`'s own hook with this one: a commit made while the turn is held
//! only notes that a checkpoint is due, and `write` runs it once the turn is let go, as the
//! same PASSIVE checkpoint `SQLite` would have run (it never waits for readers or writers).
//!
//! A checkpoint run after the turn copies the log, but the log only starts over from its
//! beginning when a writer begins while every frame is copied, and with other processes
//! writing one has always begun by then. The log then stays past the threshold, and a
//! checkpoint after every commit (each syncing the file twice) cost more than the waits it
//! saved: four processes claiming jobs did 1,000 syncs where one process did 40. So the
//! checkpoints after the turn are spaced (one per `SPACING` pages the log grew), and once
//! the log reaches twice the threshold, the commit checkpoints inside its turn, as `SQLite`
//! would: the frames left to copy are the few since the last checkpoint, and the next
//! writer restarts the log. Commits made without the turn (transactions the application
//! opened, plain statements, writers without a sidecar) checkpoint from the hook as
//! `SQLite` does by default.

use std::cell::Cell;
use std::os::raw::c_int;

use rusqlite::hooks::{CheckpointMode, Wal};
use rusqlite::Connection;

/// `SQLite`'s default `wal_autocheckpoint`.
const CHECKPOINT_PAGES: c_int = 1000;
/// How far the log grows between two checkpoints run after the turn.
const SPACING: c_int = 100;

thread_local! {
    /// Whether this thread holds its engine's turn at the write lock.
    static TURN_HELD: Cell<bool> = const { Cell::new(false) };
    /// Whether a commit made under the turn left a checkpoint to run after it.
    static DUE: Cell<bool> = const { Cell::new(false) };
    /// The log's size in pages when the last checkpoint after the turn was made due.
    static DUE_AT: Cell<c_int> = const { Cell::new(0) };
}

/// Install the hook on a writer connection (it replaces `SQLite`'s autocheckpoint).
pub(super) fn install(conn: &Connection) {
    conn.wal_hook(Some(after_commit));
}

#[allow(clippy::unnecessary_wraps)] // the signature sqlite3_wal_hook's wrapper takes
fn after_commit(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    if pages < CHECKPOINT_PAGES {
        return Ok(());
    }
    if TURN_HELD.get() && pages < 2 * CHECKPOINT_PAGES {
        // A smaller log than at the last one means the log started over since.
        let due_at = DUE_AT.get();
        if pages < due_at || pages >= due_at + SPACING {
            DUE_AT.set(pages);
            DUE.set(true);
        }
    } else {
        // As SQLite's own hook: a checkpoint that cannot finish now is not an error of
        // the commit that asked for it.
        let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
        #[cfg(test)]
        counts::note(false);
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
        #[cfg(test)]
        counts::note(true);
    }
}

/// How many checkpoints this thread ran inside and after its turns, for the tests.
#[cfg(test)]
pub(super) mod counts {
    use std::cell::Cell;

    thread_local! {
        static RUN: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    }

    pub(super) fn note(after_the_turn: bool) {
        let (at_commit, after) = RUN.get();
        RUN.set(if after_the_turn {
            (at_commit, after + 1)
        } else {
            (at_commit + 1, after)
        });
    }

    /// (from the commit, after a turn) since the thread started.
    pub(in crate::engine) fn run() -> (u32, u32) {
        RUN.get()
    }
}
