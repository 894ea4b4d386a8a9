//! The heartbeat of a worker loop's thread (`Queue.run`): one thread that keeps renewing
//! the lease of whichever claim the loop has in hand, switched from job to job.
//!
//! `Heartbeat` (queue.rs) starts a thread per claim, which is right for a claim held by
//! hand for minutes and costs more than a whole no-op job in a loop that works thousands
//! a second. A `Beater` starts its thread once; `hold` points it at the next claim and
//! `release` at none, each a lock taken for an assignment. The thread never holds that
//! lock while it renews, so neither call waits for a statement (they run with the GIL
//! held, and a renewal may wait for the write lock of a thread that needs the GIL).
//!
//! A renewal that was under way when the loop moved on is ignored: it is fenced by the
//! old claim's token like any other write, so at worst it finds the job settled and
//! changes nothing.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::queue::BeatState;

pub struct Beater<T> {
    shared: Arc<Shared<T>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    changed: Condvar,
}

struct Slot<T> {
    /// The claim in hand: (id, token).
    target: Option<(T, i64)>,
    /// Moved on by every `hold` and `release`, so a renewal started for an earlier claim
    /// knows its answer is stale.
    generation: u64,
    /// When the claim in hand is renewed next.
    due: Instant,
    state: BeatState,
    quit: bool,
    /// Until when the thread sleeps (None: until told). `hold` wakes it only when the new
    /// claim is due sooner: a wake-up per job would cost more than the job.
    asleep_until: Option<Instant>,
}

impl<T: Clone + Send + 'static> Beater<T> {
    /// A thread calling `renew(id, token)` for the claim in hand every `every`.
    /// Transient failures are retried at the next beat.
    pub fn start(renew: impl Fn(&T, i64) -> Result<()> + Send + 'static, every: Duration) -> Self {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                target: None,
                generation: 0,
                due: Instant::now(),
                state: BeatState::Stopped,
                quit: false,
                asleep_until: None,
            }),
            changed: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("strata-beater".into())
                .spawn(move || beat(&shared, &renew, every))
                .ok()
        };
        Beater { shared, thread }
    }

    /// Renew (`id`, `token`) from now on, the first time `first` from now (less than
    /// `every` for a claim that has waited since it was made).
    pub fn hold(&self, id: T, token: i64, first: Duration) {
        let mut slot = self.shared.slot.lock();
        slot.target = Some((id, token));
        slot.generation += 1;
        let due = Instant::now() + first;
        slot.due = due;
        slot.state = BeatState::Running;
        let wake = slot.asleep_until.is_none_or(|until| until > due);
        drop(slot);
        if wake {
            self.shared.changed.notify_all();
        }
    }

    /// Stop renewing the claim in hand; what the heartbeat found while it held it
    /// (`Stopped` when nothing went wrong).
    pub fn release(&self) -> BeatState {
        let mut slot = self.shared.slot.lock();
        slot.target = None;
        slot.generation += 1;
        let found = slot.state;
        slot.state = BeatState::Stopped;
        if found == BeatState::Running {
            BeatState::Stopped
        } else {
            found
        }
    }

    /// The state for the claim in hand.
    pub fn state(&self) -> BeatState {
        self.shared.slot.lock().state
    }

    /// End the thread and wait for it (a renewal in progress finishes first). Idempotent.
    pub fn stop(&mut self) {
        self.shared.slot.lock().quit = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.thread.is_none()
    }
}

impl<T> Drop for Beater<T> {
    fn drop(&mut self) {
        self.shared.slot.lock().quit = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn beat<T: Clone>(shared: &Shared<T>, renew: &impl Fn(&T, i64) -> Result<()>, every: Duration) {
    let mut slot = shared.slot.lock();
    loop {
        if slot.quit {
            return;
        }
        let Some((id, token)) = slot.target.clone() else {
            slot.asleep_until = None;
            shared.changed.wait(&mut slot);
            continue;
        };
        if Instant::now() < slot.due {
            let due = slot.due;
            slot.asleep_until = Some(due);
            shared.changed.wait_until(&mut slot, due);
            slot.asleep_until = Some(Instant::now());
            continue;
        }
        let generation = slot.generation;
        let outcome = parking_lot::MutexGuard::unlocked(&mut slot, || renew(&id, token));
        if slot.generation != generation {
            continue; // the loop moved on meanwhile
        }
        match outcome {
            Err(Error::LeaseLost { cancelled, .. }) => {
                slot.state = if cancelled {
                    BeatState::Cancelled
                } else {
                    BeatState::Lost
                };
                slot.target = None;
            }
            Err(Error::Closed) => slot.target = None,
            Ok(()) | Err(_) => slot.due = Instant::now() + every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn renews_the_claim_in_hand_and_reports_a_lost_lease() {
        let renewed = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&renewed);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let mut beater = Beater::start(
            move |id: &i64, token| {
                counted.fetch_add(1, Ordering::SeqCst);
                seen.lock().push((*id, token));
                if *id == 2 {
                    return Err(Error::LeaseLost {
                        cancelled: false,
                        message: String::new(),
                    });
                }
                Ok(())
            },
            Duration::from_millis(5),
        );
        beater.hold(1, 10, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(beater.release(), BeatState::Stopped);
        beater.hold(2, 20, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(beater.state(), BeatState::Lost);
        assert_eq!(beater.release(), BeatState::Lost);
        let before = calls.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before,
            "nothing held, nothing renewed"
        );
        beater.stop();
        let renewed = renewed.lock();
        assert!(renewed.iter().filter(|(id, _)| *id == 1).count() >= 2);
        assert_eq!(renewed.iter().filter(|(id, _)| *id == 2).count(), 1);
    }
}
