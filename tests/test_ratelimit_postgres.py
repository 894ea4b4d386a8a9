"""The rate limiter's PostgreSQL path (issue 15): the one-statement hit on the server's
clock, against the same pure-Python model as on SQLite, and exact across processes.

PostgreSQL only, and below the client: the limiter is made from the PostgreSQL dialect's
statements directly (what `strata.ratelimit.bind` hands the core), so these tests prove the
core's path whatever the client's PostgreSQL part does. tests/test_ratelimit.py runs the
client-level tests on both databases.
"""

from __future__ import annotations

import itertools
import multiprocessing
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strata
from strata.dialects.postgresql import ratelimit as dialect
from strata.engine import Engine
from strata.errors import ValidationError
from strata.ratelimit import RateLimiter
from test_ratelimit import HIT_STEPS, SECOND, T0, Model

SCHEMA = """datasource db {
  provider = "postgresql"
}

model Hit {
  id           String   @id @default(uuid())
  key          String
  endpoint     String
  requestCount Int      @default(0)
  windowStart  DateTime
  createdAt    DateTime @default(now())
  updatedAt    DateTime @updatedAt

  @@unique([key, endpoint, windowStart])
}

model Bucket {
  id  Int    @id @default(autoincrement())
  key String
  tat BigInt

  @@unique([key])
}

model SystemConfig {
  id    Int    @id @default(autoincrement())
  key   String @unique
  value Json
}
"""

_ids = itertools.count()


def make_id() -> str:
    return str(uuid.uuid4())


def window_limiter(engine: Engine) -> RateLimiter:
    statements = dialect.window_statements(
        '"Hit"',
        ['"key"', '"endpoint"'],
        ['"key"', '"endpoint"', '"windowStart"'],
        count='"requestCount"',
        window_start='"windowStart"',
        id='"id"',
        created=['"createdAt"'],
        updated=['"updatedAt"'],
        config=('"SystemConfig"', '"key"', '"value"'),
    )
    spec: Any = {
        "key_types": ["text", "text"],
        "shape": "window",
        "client_ids": True,
        "stamps": [],
        "datetime_format": "iso8601",
        "statements": statements,
    }
    return RateLimiter(engine, spec, make_id)


def gcra_limiter(engine: Engine) -> RateLimiter:
    statements = dialect.gcra_statements(
        '"Bucket"', ['"key"'], ['"key"'], tat='"tat"', id=None, created=[], updated=[], config=None
    )
    spec: Any = {
        "key_types": ["text"],
        "shape": "gcra",
        "client_ids": False,
        "stamps": [],
        "datetime_format": "iso8601",
        "statements": statements,
    }
    return RateLimiter(engine, spec, None)


def push(url: str, folder: Path) -> None:
    schema = folder / "schema.prisma"
    schema.write_text(SCHEMA)
    db = strata.connect(url, schema=schema)
    db.migrate_.push()
    db.close_()


@pytest.fixture
def engine(pg_url: str, tmp_path: Path) -> Iterator[Engine]:
    push(pg_url, tmp_path)
    opened = Engine(pg_url)
    yield opened
    opened.close_()


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in engine.query_raw_(
            'SELECT key, "requestCount", "windowStart", "createdAt", "updatedAt" FROM "Hit" '
            'ORDER BY "windowStart"',
            as_tuples=True,
        )
    ]


def test_fixed_windows_count_to_the_limit_and_start_over(engine: Engine) -> None:
    rl = window_limiter(engine)
    rl.set_clock(T0 + 45 * SECOND)
    assert [rl.hit("k", "/e", limit=3, window=60).allowed for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    denied = rl.hit("k", "/e", limit=3, window=60)
    assert (denied.count, denied.remaining, denied.retry_after) == (3, 0, 15.0)
    rl.set_clock(T0 + 61 * SECOND)
    assert rl.hit("k", "/e", limit=3, window=60).count == 1
    (first, second) = stored(engine)
    assert first[:2] == ("k", 3)
    assert second[:2] == ("k", 1)
    # Window starts and stamps are the server's timestamps, at the (fixed) clock's time.
    assert first[2].isoformat() == "2026-11-22T09:30:00"
    assert first[3].isoformat() == "2026-11-22T09:30:45"
    assert second[4].isoformat() == "2026-11-22T09:31:01"


def test_the_server_clock_decides_which_window_a_hit_counts_in(engine: Engine) -> None:
    rl = window_limiter(engine)
    (before,) = engine.query_raw_(
        "SELECT date_trunc('minute', clock_timestamp() AT TIME ZONE 'UTC') AS m"
    )
    decision = rl.hit("k", "/e", limit=3, window=60)
    (after,) = engine.query_raw_(
        "SELECT date_trunc('minute', clock_timestamp() AT TIME ZONE 'UTC') AS m"
    )
    (row,) = stored(engine)
    assert row[2] in (before["m"], after["m"])
    assert decision.reset_at == (row[2] + timedelta(minutes=1)).replace(tzinfo=UTC)


def test_a_denial_is_cached_per_process_and_a_higher_limit_asks_again(engine: Engine) -> None:
    rl = window_limiter(engine)
    rl.set_clock(T0)
    rl.hit("k", "/e", limit=1, window=60)
    assert not rl.hit("k", "/e", limit=1, window=60).allowed
    cached = rl.cached_denial("k", "/e", limit=1, window=60)
    assert cached is not None
    assert cached.count == 1
    assert rl.cached_denial("k", "/e", limit=2, window=60) is None
    assert rl.hit("k", "/e", limit=2, window=60).allowed
    rl.set_clock(T0 + 60 * SECOND)
    assert rl.cached_denial("k", "/e", limit=1, window=60) is None


def test_a_clock_that_steps_back_never_reopens_an_earlier_window(engine: Engine) -> None:
    rl = window_limiter(engine)
    rl.set_clock(T0 + 130 * SECOND)
    assert rl.hit("k", "/e", limit=2, window=60).allowed
    assert rl.hit("k", "/e", limit=2, window=60).allowed
    for back in (T0, T0 + 70 * SECOND):
        rl.set_clock(back)
        assert not rl.hit("k", "/e", limit=2, window=60).allowed
    assert len(stored(engine)) == 1


def test_peek_reset_and_cleanup(engine: Engine) -> None:
    rl = window_limiter(engine)
    rl.set_clock(T0)
    assert rl.peek("k", "/e", limit=2, window=60).count == 0
    rl.hit("k", "/e", limit=2, window=60)
    peeked = rl.peek("k", "/e", limit=2, window=60)
    assert (peeked.allowed, peeked.count, peeked.remaining) == (True, 1, 1)
    assert rl.reset("k", "/e") == 1
    assert stored(engine) == []
    for minute in range(10):
        rl.set_clock(T0 + minute * 60 * SECOND)
        rl.hit("k", "/e", limit=1, window=60)
    assert rl.cleanup(older_than=180, batch=2) == 6
    assert [row[2].minute for row in stored(engine)] == [36, 37, 38, 39]


def test_rules_come_from_the_config_row(engine: Engine) -> None:
    engine.execute_raw_(
        'INSERT INTO "SystemConfig" (key, value) VALUES ($1, $2::jsonb), ($3, $4::jsonb)',
        "api",
        '{"limit": 2, "window": 1.5}',
        "bad",
        '{"limit": "2", "window": 60}',
    )
    rl = window_limiter(engine)
    rl.set_clock(T0)
    assert [rl.hit("k", "/e", rule="api").allowed for _ in range(3)] == [True, True, False]
    assert rl.hit("k", "/e", rule="api").reset_at_ns == T0 + 1_500_000_000
    with pytest.raises(ValidationError, match="must hold"):
        rl.hit("k", "/e", rule="bad")
    with pytest.raises(ValidationError, match="unknown rate-limit rule"):
        rl.hit("k", "/e", rule="missing")


def test_gcra_spaces_hits_by_the_emission_interval(engine: Engine) -> None:
    rl = gcra_limiter(engine)
    rl.set_clock(T0)
    got = [rl.hit("g", limit=3, window=3) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert got[-1].retry_after == 1.0
    rl.set_clock(T0 + SECOND)
    assert rl.hit("g", limit=3, window=3).allowed
    assert engine.query_raw_('SELECT tat FROM "Bucket"') == [{"tat": T0 + 4 * SECOND}]


@pytest.mark.parametrize("algorithm", ["fixed", "sliding", "gcra"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=HIT_STEPS, limit=st.integers(min_value=4, max_value=9))
def test_each_algorithm_matches_the_python_model(
    engine: Engine, algorithm: str, steps: list[tuple[int, int]], limit: int
) -> None:
    """The same model as on SQLite: the server's statement decides, the core reports, and
    both agree with plain Python on every hit, clocks stepping back included."""
    rl = gcra_limiter(engine) if algorithm == "gcra" else window_limiter(engine)
    key = (f"example-{next(_ids)}",) + (() if algorithm == "gcra" else ("/e",))
    model = Model()
    now = T0
    for step, cost in steps:
        now += step
        rl.set_clock(now)
        decision = rl.hit(*key, limit=limit, window=10, cost=cost, algorithm=algorithm)
        expected = model.hit(algorithm, now, limit, 10, cost)
        got = (decision.allowed, decision.count, decision.remaining, decision.reset_at_ns)
        assert got == expected, (algorithm, now - T0, cost)


# -- exactness across processes --------------------------------------------------------------

PROCESSES = 4
HITS_PER_PROCESS = 2_000
LIMIT = 500


def hammer(url: str, start: Any, between: Any, results: Any) -> None:
    """Half the hits in one window, wait for every process, the other half in the next."""
    engine = Engine(url)
    rl = window_limiter(engine)
    allowed = [0, 0]
    start.wait()
    for phase in (0, 1):
        rl.set_clock(T0 + phase * 60 * SECOND + 5 * SECOND)
        for _ in range(HITS_PER_PROCESS // 2):
            allowed[phase] += rl.hit("shared", "/api", limit=LIMIT, window=60).allowed
        between.wait()
    results.put(allowed)
    engine.close_()


def hammer_server_clock(url: str, start: Any, results: Any) -> None:
    """Hits on the server's clock for about three one-second windows."""
    engine = Engine(url)
    rl = window_limiter(engine)
    allowed = 0
    start.wait()
    for _ in range(HITS_PER_PROCESS):
        allowed += rl.hit("clocked", "/api", limit=50, window=1).allowed
    results.put(allowed)
    engine.close_()


def run_workers(target: Any, *args: Any) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    extra = (context.Barrier(PROCESSES),) if target is hammer else ()
    workers = [
        context.Process(target=target, args=(*args, start, *extra, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcome = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    return outcome


@pytest.mark.slow
def test_four_processes_admit_exactly_the_limit_per_window(engine: Engine, pg_url: str) -> None:
    per_process = run_workers(hammer, pg_url)
    assert [sum(p[phase] for p in per_process) for phase in (0, 1)] == [LIMIT, LIMIT]
    assert [row[1] for row in stored(engine)] == [LIMIT, LIMIT]


@pytest.mark.slow
def test_four_processes_on_the_server_clock_never_pass_the_limit(
    engine: Engine, pg_url: str
) -> None:
    """Without a fixed clock: every window holds at most the limit, and the hits reported
    allowed are exactly the ones stored."""
    per_process = run_workers(hammer_server_clock, pg_url)
    counts = [row[1] for row in stored(engine)]
    assert sum(per_process) == sum(counts)
    assert max(counts) <= 50
    # Hits keep coming through whole windows, which fill to the limit exactly.
    assert counts.count(50) >= 1
