//! The decision arithmetic, one function per algorithm shape: `decide_window` (fixed and
//! sliding windows) and `decide_gcra`, with the validated `Limits` they take and the
//! `Decision` they return. Pure functions of a key's state and the time, with no SQL, so
//! they are tested on their own and called the same way for a hit, a peek and a cached
//! denial.

use crate::error::{Error, Result};

pub(super) const NANOS_PER_MILLI: i64 = 1_000_000;
/// The largest count a window row stores: Prisma's `Int` is 32-bit.
pub const MAX_LIMIT: i64 = i32::MAX as i64;
/// The longest window: about 68 years, far inside i64 nanoseconds and the `DateTime` range.
pub const MAX_WINDOW_MS: i64 = i32::MAX as i64 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Fixed,
    Sliding,
    Gcra,
}

impl Algorithm {
    pub fn parse(name: &str) -> Result<Algorithm> {
        match name {
            "fixed" => Ok(Algorithm::Fixed),
            "sliding" => Ok(Algorithm::Sliding),
            "gcra" => Ok(Algorithm::Gcra),
            other => Err(Error::invalid(format!(
                "unknown algorithm {other:?}; expected \"fixed\", \"sliding\" or \"gcra\""
            ))),
        }
    }
}

/// A limit, validated: `limit` units per `window_ns`, this hit costing `cost` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub limit: i64,
    pub window_ns: i64,
    pub cost: i64,
}

impl Limits {
    /// Check a limit before anything touches the database. `window_ms` must be a whole
    /// number of milliseconds, because window starts are stored as `DateTime`s.
    pub fn new(limit: i64, window_ms: i64, cost: i64) -> Result<Limits> {
        if limit <= 0 || limit > MAX_LIMIT {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {limit}"
            )));
        }
        if window_ms <= 0 || window_ms > MAX_WINDOW_MS {
            return Err(Error::invalid(format!(
                "window must be a positive number of seconds, at least 0.001 and at most \
                 {}, got {} ms",
                MAX_WINDOW_MS / 1000,
                window_ms
            )));
        }
        if cost <= 0 || cost > limit {
            return Err(Error::invalid(format!(
                "cost must be between 1 and the limit ({limit}), got {cost}"
            )));
        }
        Ok(Limits {
            limit,
            window_ns: window_ms * NANOS_PER_MILLI,
            cost,
        })
    }

    /// GCRA's emission interval: one unit of the limit frees up every `interval` ns. Rounded
    /// up, so the long-run rate never exceeds `limit / window`.
    pub fn interval(&self) -> i64 {
        (self.window_ns + self.limit - 1) / self.limit
    }
}

/// The outcome of a hit or a peek.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Units counted against the limit now: the current window's count (fixed, sliding), or
    /// the units not yet refilled (gcra).
    pub count: i64,
    /// How many more hits of cost 1 would be allowed right now.
    pub remaining: i64,
    pub limit: i64,
    /// Fixed and sliding: when the current window ends (allowed) or when this hit would be
    /// allowed (denied). Gcra: when the bucket is full again (allowed) or when this hit would
    /// be allowed (denied). Nanoseconds since the Unix epoch.
    pub reset_at_ns: i64,
    /// 0 when allowed; otherwise how long until this hit would be allowed.
    pub retry_after_ns: i64,
}

/// A window-shaped key's state: the window that the hit counts in and the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowState {
    pub window_start_ns: i64,
    pub previous: i64,
    pub current: i64,
    /// Whether a row for the current window exists (an allowed hit then updates it rather
    /// than inserting one).
    pub exists: bool,
}

/// The start of the window holding `now_ns`: windows are aligned to the Unix epoch, so
/// every process computes the same boundaries.
pub fn window_start(now_ns: i64, window_ns: i64) -> i64 {
    now_ns.div_euclid(window_ns) * window_ns
}

/// Decide a fixed or sliding hit. `now_ns` is the clock's reading; `state` is the key's
/// state in the window the hit counts in (which is later than `now_ns` when the clock
/// stepped back: see `Limiter::read_window`).
///
/// Sliding is Cloudflare's sliding-window counter: the previous window's count weighs in by
/// the share of the previous window that the last `window` of time still covers, so the
/// estimate is `previous * (window - elapsed) / window + current`. It is evaluated times
/// `window`, in i128, so no rounding decides anything.
pub fn decide_window(
    algorithm: Algorithm,
    state: WindowState,
    now_ns: i64,
    limits: Limits,
) -> Decision {
    let Limits {
        limit,
        window_ns,
        cost,
    } = limits;
    let start = state.window_start_ns;
    let end = start + window_ns;
    // A clock behind the window (it stepped back) counts as the window's first instant:
    // the previous window then weighs in fully, which can only deny more.
    let elapsed = (now_ns - start).clamp(0, window_ns);
    let previous = if algorithm == Algorithm::Sliding {
        state.previous
    } else {
        0
    };
    let (w, p, e) = (
        i128::from(window_ns),
        i128::from(previous),
        i128::from(elapsed),
    );
    // Weighted units used, times the window.
    let used = |current: i64| p * (w - e) + i128::from(current) * w;
    let allowed = used(state.current + cost) <= i128::from(limit) * w;
    let count = state.current + if allowed { cost } else { 0 };
    let headroom = (i128::from(limit) * w - used(count)).max(0) / w;
    let remaining = i64::try_from(headroom).unwrap_or(0);
    let reset_at_ns = if allowed || algorithm == Algorithm::Fixed {
        end
    } else {
        sliding_allowed_at(previous, state.current, start, limits)
    };
    Decision {
        allowed,
        count,
        remaining,
        limit,
        reset_at_ns,
        retry_after_ns: if allowed { 0 } else { reset_at_ns - now_ns },
    }
}

/// The most a sliding window's row may hold after a hit: `limit` less the previous
/// window's count weighted by the part of it still inside the sliding window
/// (`remaining_ns` of `window_ns`), rounded down. `decide_window` allows a hit exactly
/// when `current + cost` is at most this. `SQLite`'s one-statement hit reads it through
/// the SQL function `strata_sliding_cap` (`engine::open`), with the same integers.
pub fn sliding_cap(limit: i64, window_ns: i64, remaining_ns: i64, previous: i64) -> i64 {
    if window_ns <= 0 {
        return 0;
    }
    let w = i128::from(window_ns);
    let room =
        i128::from(limit) * w - i128::from(previous) * i128::from(remaining_ns.clamp(0, window_ns));
    i64::try_from(room.div_euclid(w)).unwrap_or(i64::MIN)
}

/// The first instant at which a denied sliding hit of `cost` would be allowed if nothing
/// else arrived.
fn sliding_allowed_at(previous: i64, current: i64, start: i64, limits: Limits) -> i64 {
    let Limits {
        limit,
        window_ns,
        cost,
    } = limits;
    let w = i128::from(window_ns);
    // Within a window whose earlier window holds `before` and which holds `within`, the hit
    // is allowed once `before * (w - e) <= (limit - within - cost) * w`.
    let first_elapsed = |before: i64, within: i64| -> Option<i128> {
        let room = i128::from(limit - within - cost) * w;
        if room < 0 {
            return None;
        }
        if before == 0 {
            return Some(0);
        }
        // e >= w - room / before, rounded up to whole nanoseconds.
        let floor = room / i128::from(before);
        Some((w - floor).max(0))
    };
    let at = if let Some(elapsed) = first_elapsed(previous, current) {
        i128::from(start) + elapsed
    } else {
        // The current window is full: in the next one, this window becomes the previous.
        let elapsed = first_elapsed(current, 0).unwrap_or(w);
        i128::from(start) + w + elapsed
    };
    i64::try_from(at).unwrap_or(i64::MAX)
}

/// Decide a GCRA hit (a token bucket of `limit` units refilled one per `interval`). `tat`
/// is the key's theoretical arrival time: when the bucket will be full again. Returns the
/// decision and, when allowed, the new arrival time to store.
///
/// A clock that steps back makes `tat - now` larger, which only denies more.
pub fn decide_gcra(tat: Option<i64>, now_ns: i64, limits: Limits) -> (Decision, Option<i64>) {
    let interval = i128::from(limits.interval());
    let now = i128::from(now_ns);
    let base = i128::from(tat.unwrap_or(now_ns)).max(now);
    let burst = interval * i128::from(limits.limit);
    let next = base + interval * i128::from(limits.cost);
    let allowed = next - now <= burst;
    let held_until = if allowed { next } else { base };
    // Units not yet refilled, rounded up: a partly refilled unit is still in use.
    let count = (held_until - now + interval - 1) / interval;
    let count = i64::try_from(count).unwrap_or(i64::MAX).min(limits.limit);
    let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    let decision = Decision {
        allowed,
        count,
        remaining: limits.limit - count,
        limit: limits.limit,
        reset_at_ns: clamp(if allowed { next } else { next - burst }),
        retry_after_ns: if allowed {
            0
        } else {
            clamp(next - burst - now)
        },
    };
    (decision, allowed.then(|| clamp(next)))
}
