//! The limiter on PostgreSQL: each hit is the one statement the dialect wrote
//! (`strata.dialects.postgresql.ratelimit`), which reads the server's clock, decides and
//! writes; the row lock its conflicting update takes serialises hits on one key across
//! processes and hosts. This module binds its parameters and turns the row it returns into
//! the same [`Decision`] the `SQLite` path makes, with the same arithmetic (`decide`), so
//! both report alike. The denial cache is kept per process as on `SQLite`, read against the
//! server's clock as this process last saw it (see [`Limiter::note_server_clock`]).

use std::sync::atomic::Ordering;

use super::cache::{Family, Known};
use super::decide::{decide_gcra, decide_window, Algorithm, Limits, WindowState};
use super::{seconds_to_ms, Hit, KeyPart, LimitSource, Limiter, NANOS_PER_MILLI};
use crate::engine::postgres::{Cell, Param, PgEngine, PgRows};
use crate::error::{Error, Result};

impl KeyPart {
    fn param(&self) -> Param {
        match self {
            KeyPart::Text(text) => Param::Text(text.clone()),
            KeyPart::Int(number) => Param::Int(*number),
        }
    }
}

fn int(cell: Option<&Cell>) -> Result<Option<i64>> {
    match cell {
        Some(Cell::Int(value)) => Ok(Some(*value)),
        Some(Cell::Null) => Ok(None),
        other => Err(Error::Transaction(format!(
            "the rate limiter's statement returned {other:?} where it returns an integer"
        ))),
    }
}

fn required(cell: Option<&Cell>) -> Result<i64> {
    int(cell)?
        .ok_or_else(|| Error::Transaction("the rate limiter's statement returned NULL".into()))
}

impl Limiter {
    /// The `now` parameter: the fixed test clock's reading, or NULL for the server's clock.
    fn clock_param(&self) -> Param {
        match self.clock.fixed() {
            Some(_) => Param::Int(self.clock.now_ns()),
            None => Param::Null,
        }
    }

    /// Remember how far the server's clock is ahead of ours, from a reading `server_ns`
    /// the server took after we read `sent_ns`. The estimate is never behind the server
    /// (the server read its clock after ours), so a cached denial expires early rather
    /// than late: an early expiry costs one trip to the server, a late one a wrong denial.
    fn note_server_clock(&self, server_ns: i64, sent_ns: i64) {
        self.server_offset_ns
            .store(server_ns.saturating_sub(sent_ns), Ordering::Relaxed);
    }

    fn key_params(key: &[KeyPart]) -> Vec<Param> {
        key.iter().map(KeyPart::param).collect()
    }

    /// One hit on PostgreSQL, in one statement (plus the rule's row for `rule=`).
    pub fn hit_pg(
        &self,
        engine: &PgEngine,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
        id: Option<&str>,
    ) -> Result<Hit> {
        if let Some(hit) = self.before_hit(key, algorithm, source, id)? {
            return Ok(hit);
        }
        let remember = !engine.in_transaction();
        let limits = self.resolve_pg(engine, source)?;
        let mut params = Self::key_params(key);
        params.extend([
            self.clock_param(),
            Param::Int(limits.cost),
            Param::Int(limits.limit),
            Param::Int(limits.window_ns),
        ]);
        if algorithm != Algorithm::Gcra {
            params.push(Param::Bool(algorithm == Algorithm::Sliding));
        }
        if self.spec.client_ids {
            params.push(id.map_or(Param::Null, |id| Param::Text(id.to_owned())));
        }
        let sent = self.clock.now_ns();
        let rows = engine.query(&self.spec.statements.upsert, &params)?;
        let row = rows.rows.first().ok_or_else(|| {
            Error::Transaction("the rate limiter's statement returned no row".into())
        })?;
        let now = required(row.first())?;
        self.note_server_clock(now, sent);
        let (hit, known) = if algorithm == Algorithm::Gcra {
            Self::gcra_outcome(row, now, limits)?
        } else {
            Self::window_outcome(row, algorithm, now, limits)?
        };
        let family = Family::new(algorithm, limits);
        let mut denials = self.denials.lock();
        if hit.decision.allowed || !remember {
            denials.remove(family, key);
        } else {
            denials.insert(family, key, known, now);
        }
        Ok(hit)
    }

    /// `(now_ns, window_start_ns, previous, cap, count, inserted, seen)`.
    fn window_outcome(
        row: &[Cell],
        algorithm: Algorithm,
        now: i64,
        limits: Limits,
    ) -> Result<(Hit, Known)> {
        let start = required(row.get(1))?;
        let previous = required(row.get(2))?;
        let cap = required(row.get(3))?;
        let counted = int(row.get(4))?;
        let inserted = matches!(row.get(5), Some(Cell::Bool(true)));
        let seen = int(row.get(6))?;
        let current = match counted {
            Some(count) => count - limits.cost,
            // Denied: the row held more than `cap - cost` when the guard read it, which
            // the snapshot may not show yet; the larger is still a lower bound, which is
            // all the denial cache may hold.
            None => seen.unwrap_or(0).max(cap - limits.cost + 1).max(0),
        };
        let state = WindowState {
            window_start_ns: start,
            previous,
            current,
            exists: seen.is_some() || (counted.is_some() && !inserted),
        };
        let decision = decide_window(algorithm, state, now, limits);
        if decision.allowed != counted.is_some() {
            return Err(Error::Transaction(format!(
                "the server's decision ({}) and the core's ({}) differ for this hit",
                counted.is_some(),
                decision.allowed
            )));
        }
        let hit = Hit {
            decision,
            used_id: inserted,
            cached: false,
        };
        Ok((hit, Known::Window(state)))
    }

    /// `(now_ns, tat, inserted, seen)`.
    fn gcra_outcome(row: &[Cell], now: i64, limits: Limits) -> Result<(Hit, Known)> {
        let stored = int(row.get(1))?;
        let inserted = matches!(row.get(2), Some(Cell::Bool(true)));
        let seen = int(row.get(3))?;
        let step = limits.interval() * limits.cost;
        let burst = limits.interval() * limits.limit;
        let tat = match stored {
            // The arrival time the hit started from: `stored` is it plus one step.
            Some(stored) => stored - step,
            // Denied: the stored time was past `now + burst - step` (a lower bound).
            None => seen.unwrap_or(now).max(now + burst - step + 1),
        };
        let (decision, next) = decide_gcra(Some(tat), now, limits);
        if decision.allowed != stored.is_some() || (stored.is_some() && next != stored) {
            return Err(Error::Transaction(
                "the server's gcra decision and the core's differ for this hit".into(),
            ));
        }
        let hit = Hit {
            decision,
            used_id: inserted,
            cached: false,
        };
        Ok((hit, Known::Gcra(next.unwrap_or(tat))))
    }

    /// What a hit would decide now, without counting it.
    pub fn peek_pg(
        &self,
        engine: &PgEngine,
        key: &[KeyPart],
        algorithm: Algorithm,
        source: &LimitSource,
    ) -> Result<super::Decision> {
        self.check_key(key)?;
        self.check_algorithm(algorithm)?;
        let limits = self.resolve_pg(engine, source)?;
        let mut params = Self::key_params(key);
        params.push(self.clock_param());
        let PgRows { rows, .. } = engine.query(&self.spec.statements.state, &params)?;
        let first = rows.first().ok_or_else(|| {
            Error::Transaction("the rate limiter's state query returned no row".into())
        })?;
        let now = required(first.first())?;
        let mut decision = if algorithm == Algorithm::Gcra {
            decide_gcra(int(first.get(1))?, now, limits).0
        } else {
            let mut newest = Vec::with_capacity(2);
            for row in &rows {
                if let Some(start_ms) = int(row.get(1))? {
                    let start = start_ms.saturating_mul(NANOS_PER_MILLI);
                    newest.push((start, required(row.get(2))?));
                }
            }
            let state = super::window_state(&newest, now, limits.window_ns);
            decide_window(algorithm, state, now, limits)
        };
        if decision.allowed {
            decision.count -= limits.cost;
            decision.remaining += limits.cost;
            if algorithm == Algorithm::Gcra {
                decision.reset_at_ns -= limits.interval() * limits.cost;
            }
        }
        Ok(decision)
    }

    pub fn reset_pg(&self, engine: &PgEngine, key: &[KeyPart]) -> Result<u64> {
        self.check_key(key)?;
        let deleted = engine.execute(&self.spec.statements.delete_key, &Self::key_params(key))?;
        self.denials.lock().remove_key(key);
        Ok(deleted)
    }

    /// Delete rows older than `older_than_ns` before the server's now, `batch` per
    /// statement (each its own transaction).
    pub fn cleanup_pg(&self, engine: &PgEngine, older_than_ns: i64, batch: i64) -> Result<u64> {
        if older_than_ns < 0 || batch <= 0 {
            return Err(Error::invalid(
                "older_than must not be negative and batch must be positive",
            ));
        }
        let params = [
            Param::Int(older_than_ns),
            Param::Int(batch),
            self.clock_param(),
        ];
        let mut total = 0;
        loop {
            let deleted = engine.execute(&self.spec.statements.cleanup, &params)?;
            total += deleted;
            if i64::try_from(deleted).is_ok_and(|deleted| deleted < batch) {
                return Ok(total);
            }
        }
    }

    /// The limits of a hit: as given, or read from the config row (which the dialect's
    /// `rule` statement gives as JSON numbers' text, NULL for anything else).
    fn resolve_pg(&self, engine: &PgEngine, source: &LimitSource) -> Result<Limits> {
        let (name, cost) = match source {
            LimitSource::Given(limits) => return Ok(*limits),
            LimitSource::Rule(name, cost) => (name, *cost),
        };
        let sql = self.spec.statements.rule.as_deref().ok_or_else(|| {
            Error::invalid(
                "rule= needs a SystemConfig model (a unique String key and a Json value)",
            )
        })?;
        let rows = engine.query(sql, &[Param::Text(name.clone())])?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| Error::invalid(format!("unknown rate-limit rule {name:?}")))?;
        let malformed = || {
            Error::invalid(format!(
                "rule {name:?} must hold {{\"limit\": <int>, \"window\": <seconds>}}"
            ))
        };
        let text = |index: usize| match row.get(index) {
            Some(Cell::Text(text)) => Ok(text.as_str()),
            _ => Err(malformed()),
        };
        let limit: i64 = text(0)?.parse().map_err(|_| malformed())?;
        let window = text(1)?;
        let window_ms = match window.parse::<i64>() {
            Ok(seconds) => seconds.checked_mul(1000).ok_or_else(malformed)?,
            Err(_) => {
                seconds_to_ms(window.parse().map_err(|_| malformed())?).ok_or_else(malformed)?
            }
        };
        let limits = Limits::new(limit, window_ms, cost)?;
        self.rules.lock().insert(name.clone(), (limit, window_ms));
        Ok(limits)
    }
}
