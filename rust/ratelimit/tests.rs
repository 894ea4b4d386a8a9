//! The rate limiter's tests: the arithmetic of each algorithm, the denial cache, and hits
//! against a real database file.

use super::*;

fn limits(limit: i64, window_s: i64, cost: i64) -> Limits {
    Limits::new(limit, window_s * 1000, cost).unwrap()
}

const S: i64 = 1_000_000_000;

#[test]
fn bad_limits_are_refused() {
    assert!(Limits::new(0, 1000, 1).is_err());
    assert!(Limits::new(10, 0, 1).is_err());
    assert!(Limits::new(10, 1000, 11).is_err());
    assert!(Limits::new(10, 1000, 0).is_err());
    assert!(Limits::new(MAX_LIMIT + 1, 1000, 1).is_err());
    assert!(Limits::new(10, 1000, 10).is_ok());
}

#[test]
fn fixed_window_counts_to_the_limit_then_denies_until_the_end() {
    let l = limits(3, 60, 1);
    let mut state = WindowState {
        window_start_ns: 120 * S,
        ..WindowState::default()
    };
    for expected in 1..=3 {
        let d = decide_window(Algorithm::Fixed, state, 130 * S, l);
        assert!(d.allowed);
        assert_eq!((d.count, d.remaining), (expected, 3 - expected));
        assert_eq!(d.reset_at_ns, 180 * S);
        state.current = d.count;
    }
    let d = decide_window(Algorithm::Fixed, state, 130 * S, l);
    assert!(!d.allowed);
    assert_eq!((d.count, d.remaining, d.retry_after_ns), (3, 0, 50 * S));
}

#[test]
fn sliding_window_weighs_the_previous_window_by_overlap() {
    let l = limits(10, 60, 1);
    // 45 s into the window, a quarter of the previous window is still covered:
    // 8 * 0.25 + 7 = 9, so one more fits and a second does not.
    let state = WindowState {
        window_start_ns: 60 * S,
        previous: 8,
        current: 7,
        exists: true,
    };
    let d = decide_window(Algorithm::Sliding, state, 105 * S, l);
    assert!(d.allowed);
    assert_eq!((d.count, d.remaining), (8, 0));
    let full = WindowState {
        current: 8,
        ..state
    };
    let d = decide_window(Algorithm::Sliding, full, 105 * S, l);
    assert!(!d.allowed);
    // Allowed once 8 * (60 - e) / 60 <= 1: e = 52.5 s.
    assert_eq!(d.reset_at_ns, 60 * S + 52_500_000_000);
    assert_eq!(d.retry_after_ns, 7_500_000_000);
    // Fixed ignores the previous window.
    assert!(decide_window(Algorithm::Fixed, full, 105 * S, l).allowed);
}

#[test]
fn a_clock_behind_the_window_counts_the_previous_window_fully() {
    let l = limits(10, 60, 1);
    let state = WindowState {
        window_start_ns: 60 * S,
        previous: 10,
        current: 0,
        exists: false,
    };
    assert!(!decide_window(Algorithm::Sliding, state, 30 * S, l).allowed);
    assert!(!decide_window(Algorithm::Sliding, state, 60 * S, l).allowed);
    // 6 s in, 10 * 54 / 60 = 9: one hit fits again.
    assert!(!decide_window(Algorithm::Sliding, state, 65 * S, l).allowed);
    assert!(decide_window(Algorithm::Sliding, state, 66 * S, l).allowed);
}

#[test]
fn gcra_admits_a_burst_of_limit_then_one_per_interval() {
    let l = limits(4, 4, 1); // one unit per second, bursts of 4
    let now = 1000 * S;
    let mut tat = None;
    for expected in 1..=4 {
        let (d, next) = decide_gcra(tat, now, l);
        assert!(d.allowed);
        assert_eq!(d.count, expected);
        tat = next;
    }
    let (d, next) = decide_gcra(tat, now, l);
    assert!(!d.allowed && next.is_none());
    assert_eq!(d.retry_after_ns, S);
    let (d, _) = decide_gcra(tat, now + S, l);
    assert!(d.allowed);
    // A clock that steps back sees a fuller bucket.
    let (d, _) = decide_gcra(tat, now - S, l);
    assert!(!d.allowed);
}

#[test]
fn key_parts_of_different_types_are_different_keys() {
    let family = Family {
        algorithm: Algorithm::Fixed,
        window_ns: S,
    };
    let mut cache = DenialCache::default();
    cache.insert(family, &[KeyPart::Text("1".into())], Known::Gcra(0), 0);
    assert!(cache.get(family, &[KeyPart::Text("1".into())]).is_some());
    assert!(cache.get(family, &[KeyPart::Int(1)]).is_none());
    cache.remove_key(&[KeyPart::Text("1".into())]);
    assert_eq!(cache.len, 0);
}

#[test]
fn the_sliding_cap_allows_exactly_what_the_decision_allows() {
    // A small deterministic generator: the cases span tiny and huge windows and counts.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |bound: i64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        i64::try_from(seed % u64::try_from(bound).unwrap()).unwrap()
    };
    for _ in 0..20_000 {
        let widest = if next(2) == 0 { 1_000 } else { MAX_WINDOW_MS };
        let window_ms = 1 + next(widest);
        let most = if next(2) == 0 { 10 } else { MAX_LIMIT };
        let limit = 1 + next(most);
        let cost = 1 + next(limit);
        let l = Limits::new(limit, window_ms, cost).unwrap();
        let start = 2 * l.window_ns;
        let now = start + next(l.window_ns);
        let state = WindowState {
            window_start_ns: start,
            previous: next(limit + 1),
            current: next(limit + 1),
            exists: true,
        };
        let decision = decide_window(Algorithm::Sliding, state, now, l);
        let cap = sliding_cap(
            limit,
            l.window_ns,
            start + l.window_ns - now,
            state.previous,
        );
        assert_eq!(
            decision.allowed,
            state.current + cost <= cap,
            "{l:?} {state:?} {now}"
        );
    }
}

mod with_engine {
    use super::*;
    use crate::engine::Options;
    use crate::time::Format;

    fn setup(name: &str) -> (std::path::PathBuf, Engine, Limiter) {
        let dir = std::env::temp_dir().join(format!("strata-rl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let engine = Engine::open(dir.join("t.db").to_str().unwrap(), Options::default()).unwrap();
        engine
            .execute_script(
                "CREATE TABLE rl (id TEXT PRIMARY KEY, k TEXT NOT NULL, n INTEGER NOT NULL, \
                 ws DATETIME NOT NULL, UNIQUE (k, ws));",
            )
            .unwrap();
        // The statements `strata.dialects.sqlite.ratelimit` writes for this table.
        let limiter = Limiter::new(Spec {
            keys: 1,
            shape: Shape::Window,
            client_ids: true,
            stamps: vec![],
            datetime_format: Format::Iso8601,
            statements: Statements {
                state: "SELECT ws, n FROM rl WHERE k = ?1 ORDER BY ws DESC LIMIT 2".into(),
                upsert: "INSERT INTO rl (id, k, ws, n) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (k, ws) DO UPDATE SET n = n + excluded.n \
                         WHERE n + excluded.n <= ?5 RETURNING n"
                    .into(),
                delete_key: "DELETE FROM rl WHERE k = ?1".into(),
                cleanup: "DELETE FROM rl WHERE rowid IN \
                          (SELECT rowid FROM rl WHERE ws < ?1 LIMIT ?2)"
                    .into(),
                rule: None,
                // The transaction path; tests/test_ratelimit.py runs the one-statement
                // hits the dialect writes.
                hit: None,
                hit_sliding: None,
            },
        })
        .unwrap();
        (dir, engine, limiter)
    }

    #[test]
    fn denied_hits_write_nothing_and_are_then_answered_from_the_cache() {
        let (dir, engine, limiter) = setup("deny");
        limiter.clock.set_fixed(Some(1_000 * S));
        let key = [KeyPart::Text("a'\0b".into())];
        let source = LimitSource::Given(limits(2, 60, 1));
        let mut ids = (0..).map(|i| format!("id{i}"));
        let mut hit = || {
            let id = ids.next().unwrap();
            limiter
                .hit(&engine, &key, Algorithm::Fixed, &source, Some(&id))
                .unwrap()
        };
        let first = hit();
        assert!(first.decision.allowed && first.used_id && !first.cached);
        let second = hit();
        assert!(second.decision.allowed && !second.used_id);
        let third = hit();
        assert!(!third.decision.allowed && !third.cached);
        let fourth = hit();
        assert!(!fourth.decision.allowed && fourth.cached);
        let rows = engine.query("SELECT k, n, ws FROM rl", &[]).unwrap().rows;
        assert_eq!(
            rows,
            vec![vec![
                Value::Text("a'\0b".into()),
                Value::Integer(2),
                Value::Text("1970-01-01T00:16:00.000+00:00".into()),
            ]]
        );
        // A new window goes back to SQLite, and is allowed.
        limiter.clock.set_fixed(Some(1_020 * S));
        let fifth = hit();
        assert!(fifth.decision.allowed && fifth.used_id);
        drop(engine);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_clock_that_steps_back_keeps_counting_in_the_newest_window() {
        let (dir, engine, limiter) = setup("back");
        let source = LimitSource::Given(limits(1, 60, 1));
        let key = [KeyPart::Text("k".into())];
        limiter.clock.set_fixed(Some(200 * S));
        let d = limiter
            .hit(&engine, &key, Algorithm::Fixed, &source, Some("x"))
            .unwrap();
        assert!(d.decision.allowed);
        // Two windows back, where no row exists: still denied.
        limiter.clock.set_fixed(Some(70 * S));
        let d = limiter
            .hit(&engine, &key, Algorithm::Fixed, &source, Some("y"))
            .unwrap();
        assert!(!d.decision.allowed);
        assert_eq!(d.decision.reset_at_ns, 240 * S);
        drop(engine);
        let _ = std::fs::remove_dir_all(dir);
    }
}
