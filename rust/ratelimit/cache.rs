//! The denial cache: the state `SQLite` last reported for keys that were denied, so that a
//! key hammered past its limit is answered without a write transaction. Kept apart because
//! its one rule (a remembered state can only understate how much is used) is what makes
//! answering from it safe, and it is easier to check in isolation.

use std::collections::HashMap;

use super::binding::KeyPart;
use super::decide::{Algorithm, Limits, WindowState};

/// The most keys the denial cache holds. Past it, expired entries are swept, and if none
/// have expired the cache starts over: forgetting a denial only costs one trip to `SQLite`.
const DENIAL_CACHE_CAPACITY: usize = 100_000;

/// What a denial cache entry remembers: the key's state as `SQLite` last reported it. The
/// database's state can only have moved towards "more used" since (counts grow within a
/// window, the arrival time only moves later), so a hit that this state denies, the
/// database would deny too.
#[derive(Debug, Clone, Copy)]
pub(super) enum Known {
    Window(WindowState),
    Gcra(i64),
}

/// Which states a cache entry can be compared with: the same algorithm and, for window
/// shapes, the same window length (gcra's state, the arrival time, does not depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Family {
    pub(super) algorithm: Algorithm,
    pub(super) window_ns: i64,
}

impl Family {
    pub(super) fn new(algorithm: Algorithm, limits: Limits) -> Family {
        Family {
            algorithm,
            window_ns: if algorithm == Algorithm::Gcra {
                0
            } else {
                limits.window_ns
            },
        }
    }
}

/// Denials by family, then by key: the inner map is looked up with the borrowed key slice,
/// so a cached answer copies no key.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub(super) struct DenialCache {
    families: FastMap<Family, FastMap<Vec<KeyPart>, Known>>,
    pub(super) len: usize,
}

impl DenialCache {
    pub(super) fn get(&self, family: Family, key: &[KeyPart]) -> Option<Known> {
        self.families.get(&family)?.get(key).copied()
    }

    pub(super) fn remove(&mut self, family: Family, key: &[KeyPart]) {
        if let Some(entries) = self.families.get_mut(&family) {
            if entries.remove(key).is_some() {
                self.len -= 1;
            }
        }
    }

    pub(super) fn remove_key(&mut self, key: &[KeyPart]) {
        for entries in self.families.values_mut() {
            if entries.remove(key).is_some() {
                self.len -= 1;
            }
        }
    }

    pub(super) fn insert(&mut self, family: Family, key: &[KeyPart], known: Known, now_ns: i64) {
        if self.len >= DENIAL_CACHE_CAPACITY {
            for (family, entries) in &mut self.families {
                entries.retain(|_, known| match *known {
                    Known::Window(state) => state.window_start_ns + family.window_ns > now_ns,
                    Known::Gcra(tat) => tat > now_ns,
                });
            }
            self.len = self.families.values().map(HashMap::len).sum();
            if self.len >= DENIAL_CACHE_CAPACITY {
                self.families.clear();
                self.len = 0;
            }
        }
        let entries = self.families.entry(family).or_default();
        if entries.insert(key.to_vec(), known).is_none() {
            self.len += 1;
        }
    }
}
