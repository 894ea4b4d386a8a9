"""The rate limiter (issue 6): binding, the three algorithms against a pure-Python model,
exactness across processes, the denial cache, the clock, housekeeping and bad input.

Most tests run on both databases (the ``backend`` fixture, tests/backends.py); those that
hold for SQLite only say why. tests/test_ratelimit_postgres.py checks the PostgreSQL path
below the client, against the same model."""

from __future__ import annotations

import multiprocessing
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strata
from backends import Backend
from strata.dialects.postgresql import PostgresDialect
from strata.errors import BusyError, ConfigurationError, StrataError, ValidationError

SECOND = 10**9
#: A fixed instant (2026-11-22T09:30:00Z) that is a whole number of minutes and hours.
T0 = 1_795_339_800 * SECOND

SCHEMA = """datasource db {
  provider = "sqlite"
}

model Hit {
  id           String   @id @default(cuid())
  key          String
  endpoint     String
  requestCount Int      @default(0)
  windowStart  DateTime
  createdAt    DateTime @default(now())
  updatedAt    DateTime @updatedAt
  note         String?

  @@unique([key, endpoint, windowStart])
  @@index([windowStart])
}

model Bucket {
  id   Int    @id @default(autoincrement())
  key  String
  tat  BigInt

  @@unique([key])
}

model Tenant {
  tenant Int
  start  DateTime
  hits   Int

  @@id([tenant, start])
}

model NoUnique {
  id          String   @id @default(uuid())
  key         String
  count       Int
  windowStart DateTime
}

model Strict {
  id          String   @id @default(uuid())
  key         String
  count       Int
  windowStart DateTime
  owner       String

  @@unique([key, windowStart])
}

model SystemConfig {
  id        Int      @id @default(autoincrement())
  key       String   @unique
  value     Json
  updatedAt DateTime @updatedAt
}
"""


def open_schema(path: Path, **options: Any) -> strata.Database:
    schema = path.parent / "schema.prisma"
    schema.write_text(SCHEMA)
    db = strata.connect(path, schema=schema, **options)
    db.migrate_.push()
    return db


def needs_client(backend: Backend) -> None:
    """Skip on PostgreSQL while the client's PostgreSQL part is not in this build: the
    limiter binds through the client's model metadata."""
    if backend.is_postgres:
        try:
            PostgresDialect().query  # noqa: B018 - the property raises when not written yet
        except ConfigurationError as error:
            pytest.skip(f"the client does not run on PostgreSQL in this build: {error}")


@pytest.fixture
def sdb(backend: Backend) -> strata.Database:
    needs_client(backend)
    return backend.connect(SCHEMA)


@pytest.fixture
def lite(tmp_path: Path) -> Any:
    """A SQLite file, for the tests about SQLite itself (its write lock, stored forms)."""
    db = open_schema(tmp_path / "rl.db")
    yield db
    db.close_()


def limiter(db: strata.Database) -> strata.ratelimit.RateLimiter:
    rl = db.rate_limiter_(
        "Hit", key=["key", "endpoint"], count="requestCount", window_start="windowStart"
    )
    rl.set_clock(T0)
    return rl


#: PostgreSQL has no rowid; the tests' rows come in this order there.
_ORDER = {"Hit": '"windowStart", key', "Tenant": "start", "Bucket": "id"}


def rows(db: strata.Database, table: str = "Hit") -> list[dict[str, Any]]:
    """The table's rows as stored; PostgreSQL's timestamps are written the way SQLite
    stores them (iso8601), so one expectation serves both databases."""
    if not str(db.path_).startswith("postgres"):
        return db.query_raw_(f'SELECT * FROM "{table}" ORDER BY rowid')
    found = db.query_raw_(f'SELECT * FROM "{table}" ORDER BY {_ORDER[table]}')
    return [{name: as_stored(value) for name, value in row.items()} for row in found]


def as_stored(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).isoformat(timespec="milliseconds")
    return value


# -- binding ---------------------------------------------------------------------------------


def test_medianest_rate_limit_model_works_as_it_is(backend: Backend) -> None:
    needs_client(backend)
    db = backend.seed("medianest")
    db.user.create(data={"id": "user-42", "plexId": "p", "plexUsername": "u"})
    rl = db.rate_limiter_(
        "RateLimit", key=["userId", "endpoint"], count="requestCount", window_start="windowStart"
    )
    rl.set_clock(T0 + 15 * SECOND)
    for expected in (1, 2):
        decision = rl.hit("user-42", "/api/media", limit=100, window=60)
        assert decision.allowed
        assert decision.count == expected
        assert decision.remaining == 100 - expected
    assert decision.reset_at == datetime(2026, 11, 22, 9, 31, tzinfo=UTC)
    # The row reads back through the normal client, as a Prisma app would read it.
    (record,) = db.rate_limit.find_many()
    assert record.userId == "user-42"
    assert record.endpoint == "/api/media"
    assert record.requestCount == 2
    assert record.ipAddress is None
    assert record.windowStart == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    assert uuid.UUID(record.id).version == 4  # the model's own @default(uuid())
    raw = db.query_raw_('SELECT "windowStart" FROM "rate_limits"', as_tuples=True)
    assert [as_stored(value) for (value,) in raw] == ["2026-11-22T09:30:00.000+00:00"]


def test_medianest_ip_keys_need_the_unique_line_the_error_prints(backend: Backend) -> None:
    needs_client(backend)
    db = backend.seed("medianest")
    with pytest.raises(ValidationError) as error:
        db.rate_limiter_(
            "RateLimit",
            key=["ipAddress", "endpoint"],
            count="requestCount",
            window_start="windowStart",
        )
    assert "  @@unique([ipAddress, endpoint, windowStart])" in str(error.value)


def test_a_missing_model_error_prints_the_model_to_add(sdb: strata.Database) -> None:
    with pytest.raises(ValidationError) as error:
        sdb.rate_limiter_("ApiLimit", key=["ip", "route"], count="hits", window_start="windowStart")
    message = str(error.value)
    assert "model ApiLimit {" in message
    assert "  @@unique([ip, route, windowStart])" in message
    assert "hits        Int @default(0)" in message


@pytest.mark.parametrize(
    ("model", "options", "needle"),
    [
        (
            "NoUnique",
            {"count": "count", "window_start": "windowStart"},
            "@@unique([key, windowStart])",
        ),
        ("Strict", {"count": "count", "window_start": "windowStart"}, "Strict.owner is required"),
        ("Hit", {"count": "endpoint", "window_start": "windowStart"}, "endpoint Int @default(0)"),
        ("Hit", {"count": "missing", "window_start": "windowStart"}, "has no field 'missing'"),
        ("Bucket", {"tat": "tat", "count": "x"}, "count= and window_start="),
    ],
)
def test_binding_errors_say_what_to_change(
    sdb: strata.Database, model: str, options: dict[str, str], needle: str
) -> None:
    with pytest.raises(ValidationError) as error:
        sdb.rate_limiter_(model, key=["key"], **options)
    assert needle in str(error.value)


def test_compound_primary_key_and_int_keys(sdb: strata.Database) -> None:
    rl = sdb.rate_limiter_("Tenant", key=["tenant"], count="hits", window_start="start")
    rl.set_clock(T0)
    assert rl.hit(7, limit=2, window=1).allowed
    assert rl.hit(7, limit=2, window=1).count == 2
    assert not rl.hit(7, limit=2, window=1).allowed
    with pytest.raises(ValidationError, match="32 bits"):
        rl.hit(2**40, limit=2, window=1)
    with pytest.raises(ValidationError, match="an int"):
        rl.hit("7", limit=2, window=1)
    assert rows(sdb, "Tenant") == [
        {"tenant": 7, "start": "2026-11-22T09:30:00.000+00:00", "hits": 2}
    ]


def test_client_generated_fields_are_filled(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    rl.hit("a", "/x", limit=5, window=60)
    rl.set_clock(T0 + 2 * SECOND)
    rl.hit("a", "/x", limit=5, window=60)
    (row,) = rows(sdb)
    assert row["id"].startswith("c")
    assert len(row["id"]) == 25
    assert row["createdAt"] == "2026-11-22T09:30:00.000+00:00"
    assert row["updatedAt"] == "2026-11-22T09:30:02.000+00:00"  # @updatedAt moves on update
    assert row["note"] is None


def test_unixepoch_ms_databases_store_integer_window_starts(tmp_path: Path) -> None:
    """SQLite only: a stored DateTime form is SQLite's choice; PostgreSQL has timestamps."""
    db = open_schema(tmp_path / "ms.db", datetime_format="unixepoch-ms")
    rl = limiter(db)
    rl.hit("a", "/x", limit=5, window=60)
    (row,) = rows(db)
    assert row["windowStart"] == T0 // 10**6
    assert db.model_("Hit").find_many()[0].windowStart == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    db.close_()


# -- the fixed window --------------------------------------------------------------------------


def test_a_denied_hit_is_not_counted_and_a_new_window_starts_over(sdb: strata.Database) -> None:
    rl = limiter(sdb)
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
    assert [r["requestCount"] for r in rows(sdb)] == [3]
    rl.set_clock(T0 + 60 * SECOND)
    assert rl.hit("k", "/e", limit=3, window=60).count == 1
    assert [r["requestCount"] for r in rows(sdb)] == [3, 1]


def test_cost_counts_several_units_and_an_oversized_one_is_denied(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    assert rl.hit("k", "/e", limit=10, window=60, cost=7).count == 7
    assert not rl.hit("k", "/e", limit=10, window=60, cost=4).allowed
    # A cached denial for cost 4 must not deny a hit of cost 3, which fits.
    assert rl.hit("k", "/e", limit=10, window=60, cost=3).count == 10


def test_a_clock_that_steps_back_never_lets_more_through(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    rl.set_clock(T0 + 130 * SECOND)
    assert rl.hit("k", "/e", limit=2, window=60).allowed
    assert rl.hit("k", "/e", limit=2, window=60).allowed
    # Back two windows, where no row exists, and back one, where the count was 0: the hits
    # still count in the newest window, which is full.
    for back in (T0, T0 + 70 * SECOND):
        rl.set_clock(back)
        assert not rl.hit("k", "/e", limit=2, window=60).allowed
    assert len(rows(sdb)) == 1


# -- housekeeping ----------------------------------------------------------------------------


def test_peek_reads_without_counting(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    assert rl.peek("k", "/e", limit=2, window=60).count == 0
    rl.hit("k", "/e", limit=2, window=60)
    peeked = rl.peek("k", "/e", limit=2, window=60)
    assert (peeked.allowed, peeked.count, peeked.remaining) == (True, 1, 1)
    rl.hit("k", "/e", limit=2, window=60)
    assert not rl.peek("k", "/e", limit=2, window=60).allowed
    assert rows(sdb)[0]["requestCount"] == 2


def test_reset_clears_the_key_and_its_cached_denial(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    for _ in range(3):
        rl.hit("k", "/e", limit=1, window=60)
    rl.hit("other", "/e", limit=1, window=60)
    assert rl.reset("k", "/e") == 1
    assert rl.hit("k", "/e", limit=1, window=60).allowed
    assert {r["key"] for r in rows(sdb)} == {"k", "other"}


def test_cleanup_deletes_old_windows_in_batches(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    for minute in range(10):
        rl.set_clock(T0 + minute * 60 * SECOND)
        rl.hit("k", "/e", limit=1, window=60)
    assert rl.cleanup(older_than=timedelta(minutes=3), batch=2) == 6
    assert [r["windowStart"][11:16] for r in rows(sdb)] == ["09:36", "09:37", "09:38", "09:39"]
    assert rl.cleanup(older_than=3600) == 0


# -- bad input -------------------------------------------------------------------------------

BAD_HITS: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
    (("k", "/e"), {"limit": 0, "window": 60}, "limit"),
    (("k", "/e"), {"limit": -5, "window": 60}, "limit"),
    (("k", "/e"), {"limit": 1.5, "window": 60}, "limit must be an int"),
    (("k", "/e"), {"limit": 10, "window": 0}, "window"),
    (("k", "/e"), {"limit": 10, "window": -1}, "window"),
    (("k", "/e"), {"limit": 10, "window": float("nan")}, "window"),
    (("k", "/e"), {"limit": 10, "window": 60, "cost": 11}, "cost"),
    (("k", "/e"), {"limit": 10, "window": 60, "cost": 0}, "cost"),
    ((1.5, "/e"), {"limit": 10, "window": 60}, "key value 1"),
    (("k", None), {"limit": 10, "window": 60}, "key value 2"),
    ((b"k", "/e"), {"limit": 10, "window": 60}, "key value 1"),
    ((True, "/e"), {"limit": 10, "window": 60}, "key value 1"),
    (("k",), {"limit": 10, "window": 60}, "2 field"),
    (("k", "/e"), {"rule": "rate_limit.unknown"}, "unknown rate-limit rule"),
    (("k", "/e"), {"rule": "rate_limit.api.default", "limit": 5}, "not both"),
    (("k", "/e"), {"limit": 10}, "window="),
    (("k", "/e"), {"limit": 10, "window": 60, "algorithm": "leaky"}, "unknown algorithm"),
    (("k", "/e"), {"limit": 10, "window": 60, "algorithm": "gcra"}, "tat="),
]


@pytest.mark.parametrize(("key", "options", "message"), BAD_HITS)
def test_bad_input_is_refused_and_nothing_is_written(
    sdb: strata.Database, key: tuple[Any, ...], options: dict[str, Any], message: str
) -> None:
    rl = limiter(sdb)
    with pytest.raises(ValidationError, match=message):
        rl.hit(*key, **options)
    with pytest.raises(ValidationError, match=message):
        rl.peek(*key, **options)
    assert rows(sdb) == []


@pytest.mark.parametrize(
    "hostile",
    ['it\'s "quoted"; DROP TABLE Hit; --', "nul\0inside", "x" * 10_240, "ünïcødé ✓", ""],
)
def test_hostile_keys_are_stored_and_matched_exactly(
    sdb: strata.Database, backend: Backend, hostile: str
) -> None:
    rl = limiter(sdb)
    if backend.is_postgres and "\0" in hostile:
        # PostgreSQL's text cannot hold NUL: refused, never cut short to another key.
        with pytest.raises(StrataError):
            rl.hit(hostile, "/e", limit=2, window=60)
        assert rows(sdb) == []
        return
    assert rl.hit(hostile, "/e", limit=2, window=60).count == 1
    assert rl.hit(hostile, "/e", limit=2, window=60).count == 2
    if hostile[:3] != hostile:
        # A prefix (what a C string would cut the NUL key down to) is another key.
        assert rl.hit(hostile[:3], "/e", limit=2, window=60).count == 1
    stored = [r["key"] for r in rows(sdb)]
    assert hostile in stored
    assert sdb.model_("Hit").find_first(where={"key": hostile}).requestCount == 2


# -- rules from SystemConfig -----------------------------------------------------------------


def test_rules_come_from_system_config_and_follow_its_changes(sdb: strata.Database) -> None:
    config = sdb.model_("SystemConfig")
    config.create(data={"key": "rate_limit.api.default", "value": {"limit": 2, "window": 60}})
    rl = limiter(sdb)
    hits = [rl.hit("k", "/e", rule="rate_limit.api.default") for _ in range(3)]
    assert [h.allowed for h in hits] == [True, True, False]
    assert hits[0].limit == 2
    assert hits[0].reset_at == datetime(2026, 11, 22, 9, 31, tzinfo=UTC)
    # Raising the limit applies to the next hit, even one the cache had denied.
    config.update(
        where={"key": "rate_limit.api.default"}, data={"value": {"limit": 3, "window": 60}}
    )
    assert rl.hit("k", "/e", rule="rate_limit.api.default").allowed is False  # cached, stale
    rl.reset("k", "/e")
    assert [rl.hit("k", "/e", rule="rate_limit.api.default").allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    config.create(data={"key": "rate_limit.broken", "value": {"limit": "many"}})
    with pytest.raises(ValidationError, match="must hold"):
        rl.hit("k", "/e", rule="rate_limit.broken")


# -- the denial cache ------------------------------------------------------------------------


def test_cached_denials_do_not_touch_sqlite(lite: strata.Database, tmp_path: Path) -> None:
    """With another connection holding the write lock, only answers that need no SQLite
    can come back: cached denials do, everything else waits and fails with BusyError.
    SQLite only: PostgreSQL has no database-wide write lock to hold."""
    db = strata.connect(lite.path_, schema=tmp_path / "schema.prisma", busy_timeout=0.05)
    rl = limiter(db)
    for _ in range(2):
        rl.hit("k", "/e", limit=1, window=60)
    holder = sqlite3.connect(lite.path_, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(100):
            assert not rl.hit("k", "/e", limit=1, window=60).allowed
        with pytest.raises(BusyError):
            rl.hit("k", "/e", limit=2, window=60)  # a higher limit may allow: ask SQLite
        with pytest.raises(BusyError):
            rl.hit("other", "/e", limit=1, window=60)
        rl.set_clock(T0 + 60 * SECOND)  # a new window: the denial no longer applies
        with pytest.raises(BusyError):
            rl.hit("k", "/e", limit=1, window=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.close_()


def test_an_arrival_time_at_the_top_of_the_range_is_a_denial_not_an_overflow(
    sdb: strata.Database, backend: Backend
) -> None:
    """Another writer's arrival time at the top of the 64-bit range: the hit's sum would
    overflow (SQLite would make it a float, PostgreSQL raise); it is a plain denial."""
    rl = sdb.rate_limiter_("Bucket", key=["key"], tat="tat")
    rl.set_clock(T0)
    insert = 'INSERT INTO "Bucket" (key, tat) VALUES ({}, {})'
    placeholders = ("$1", "$2") if backend.is_postgres else ("?", "?")
    sdb.execute_raw_(insert.format(*placeholders), "k", 2**63 - 1)
    decision = rl.hit("k", limit=5, window=10, algorithm="gcra")
    assert not decision.allowed
    assert decision.count == 5
    assert sdb.query_raw_('SELECT tat FROM "Bucket"') == [{"tat": 2**63 - 1}]


def test_a_refused_one_statement_hit_is_reported_from_the_keys_state(
    lite: strata.Database,
) -> None:
    """SQLite: allowed hits count in one statement; the refused one counts nothing there
    and is then decided from the stored state, which its report gives exactly."""
    rl = limiter(lite)
    for expected in (1, 2):
        decision = rl.hit("k", "/e", limit=2, window=60)
        assert decision.allowed
        assert decision.count == expected
    refused = rl.hit("k", "/e", limit=2, window=60)
    assert not refused.allowed
    assert refused.count == 2
    assert refused.remaining == 0
    assert refused.retry_after == pytest.approx(60.0)
    assert rows(lite)[0]["requestCount"] == 2


def test_hits_inside_a_transaction_roll_back_and_are_not_cached(sdb: strata.Database) -> None:
    rl = limiter(sdb)
    with pytest.raises(RuntimeError), sdb.transaction_():
        for _ in range(3):
            rl.hit("k", "/e", limit=2, window=60)
        raise RuntimeError("roll back")
    assert rows(sdb) == []
    assert rl.hit("k", "/e", limit=2, window=60).allowed


def test_threads_share_one_limiter(sdb: strata.Database) -> None:
    """New rows take ids from one shared pool; concurrent inserts must never share one."""
    import threading

    rl = limiter(sdb)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for n in range(200):
                rl.hit(f"t{thread}-{n % 50}", "/e", limit=3, window=60)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = [r["requestCount"] for r in rows(sdb)]
    assert len(counts) == 200
    assert set(counts) == {3}


# -- algorithms against a pure-Python model --------------------------------------------------


@dataclass
class Model:
    """The three algorithms in plain Python, kept independent of the Rust code: integer
    nanoseconds, exact arithmetic (`fractions` would do; integers times the window do too)."""

    windows: dict[int, int] = field(default_factory=dict)  # window start ns -> count
    tat: int | None = None

    def hit(
        self, algorithm: str, now: int, limit: int, window_s: int, cost: int
    ) -> tuple[bool, int, int, int]:
        """(allowed, count, remaining, reset_at_ns)."""
        w = window_s * SECOND
        if algorithm == "gcra":
            interval = -(-w // limit)
            base = max(self.tat if self.tat is not None else now, now)
            after = base + cost * interval
            allowed = after - now <= limit * interval
            held = after if allowed else base
            count = min(limit, -(-(held - now) // interval))
            if allowed:
                self.tat = after
            return allowed, count, limit - count, after if allowed else after - limit * interval
        start = now // w * w
        newest = max(self.windows, default=None)
        if newest is not None and newest > start:
            start = newest  # a clock behind the newest window counts in that window
        elapsed = min(max(now - start, 0), w)
        previous = self.windows.get(start - w, 0) if algorithm == "sliding" else 0
        current = self.windows.get(start, 0)
        used = previous * (w - elapsed) + (current + cost) * w
        allowed = used <= limit * w
        count = current + cost if allowed else current
        remaining = max(0, limit * w - previous * (w - elapsed) - count * w) // w
        if allowed:
            self.windows[start] = count
            return True, count, remaining, start + w
        if algorithm == "fixed":
            return False, count, remaining, start + w
        room = (limit - current - cost) * w
        if room >= 0:
            at = start + (0 if previous == 0 else max(0, w - room // previous))
        else:
            room = (limit - cost) * w
            at = start + w + max(0, w - room // current)
        return False, count, remaining, at


HIT_STEPS = st.lists(
    st.tuples(
        st.integers(min_value=-3 * SECOND, max_value=25 * SECOND),  # clock step, may go back
        st.integers(min_value=1, max_value=4),  # cost
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(scope="module")
def model_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """SQLite, one database for a module's hypothesis examples; test_ratelimit_postgres.py
    checks PostgreSQL's path against the same model."""
    db = open_schema(tmp_path_factory.mktemp("model") / "model.db")
    yield db
    db.close_()


_example = iter(range(10**9))


@pytest.mark.parametrize("algorithm", ["fixed", "sliding", "gcra"])
@given(steps=HIT_STEPS, limit=st.integers(min_value=4, max_value=9))
def test_each_algorithm_matches_the_python_model(
    model_db: strata.Database, algorithm: str, steps: list[tuple[int, int]], limit: int
) -> None:
    if algorithm == "gcra":
        rl = model_db.rate_limiter_("Bucket", key=["key"], tat="tat")
    else:
        rl = limiter(model_db)
    key = (f"example-{next(_example)}",) + (() if algorithm == "gcra" else ("/e",))
    model = Model()
    now = T0
    for step, cost in steps:
        now += step
        rl.set_clock(now)
        decision = rl.hit(*key, limit=limit, window=10, cost=cost, algorithm=algorithm)
        expected = model.hit(algorithm, now, limit, 10, cost)
        got = (decision.allowed, decision.count, decision.remaining, decision.reset_at_ns)
        assert got == expected, (algorithm, now - T0, cost)
        if not decision.allowed:
            assert decision.retry_after == (decision.reset_at_ns - now) / 1e9
    if algorithm == "gcra" and model.tat is not None:
        stored = model_db.query_raw_('SELECT tat FROM "Bucket" WHERE key = ?', key[0])
        assert stored == [{"tat": model.tat}]


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=4 * SECOND), min_size=1, max_size=120),
    limit=st.integers(min_value=1, max_value=6),
)
def test_sliding_windows_bound_what_any_span_admits(
    model_db: strata.Database, gaps: list[int], limit: int
) -> None:
    """Cloudflare's sliding counter weighs the previous window as if its hits were spread
    evenly. So an aligned window never admits more than the limit, and the estimate at each
    admission stays within it; a span straddling two windows can admit up to twice the limit
    when the previous window's hits came at its end (see the next test)."""
    rl = limiter(model_db)
    key = (f"span-{next(_example)}", "/e")
    window = 10 * SECOND
    now, admitted = T0, []
    for gap in gaps:
        now += gap
        rl.set_clock(now)
        if rl.hit(*key, limit=limit, window=10, algorithm="sliding").allowed:
            admitted.append(now)
    for t in admitted:
        aligned = t // window * window
        assert sum(aligned <= a < aligned + window for a in admitted) <= limit
        assert sum(t - window < a <= t for a in admitted) < 2 * limit


def test_sliding_windows_can_exceed_the_limit_over_an_unaligned_span(
    sdb: strata.Database,
) -> None:
    """The documented trade-off of the sliding counter, pinned so that it stays known."""
    rl = limiter(sdb)
    rl.set_clock(T0 + 59 * SECOND)
    assert all(rl.hit("k", "/e", limit=10, window=60, algorithm="sliding") for _ in range(10))
    rl.set_clock(T0 + 66 * SECOND)  # 6 s into the next window: 10 * 0.9 = 9 < 10
    assert rl.hit("k", "/e", limit=10, window=60, algorithm="sliding").allowed
    # 11 admitted within [59 s, 66 s], a span shorter than one window.


# -- exactness across processes --------------------------------------------------------------

PROCESSES = 4
HITS_PER_PROCESS = 5_000
LIMIT = 1_000


def hammer(url: str, schema: str, start: Any, between: Any, results: Any) -> None:
    """Half the hits in one window, wait for every process, the other half in the next."""
    with strata.connect(url, schema=schema, busy_timeout=60) as db:
        rl = limiter(db)
        allowed = [0, 0]
        start.wait()
        for phase in (0, 1):
            rl.set_clock(T0 + phase * 60 * SECOND + 5 * SECOND)
            for _ in range(HITS_PER_PROCESS // 2):
                allowed[phase] += rl.hit("shared", "/api", limit=LIMIT, window=60).allowed
            between.wait()
        results.put(allowed)


@pytest.mark.slow
def test_four_processes_admit_exactly_the_limit_per_window(
    sdb: strata.Database, backend: Backend
) -> None:
    context = multiprocessing.get_context("spawn")
    start, between, results = context.Event(), context.Barrier(PROCESSES), context.Queue()
    schema = str(backend.folder / f"schema.{backend.provider}.prisma")
    workers = [
        context.Process(target=hammer, args=(backend.url, schema, start, between, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    per_process = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    assert [sum(p[phase] for p in per_process) for phase in (0, 1)] == [LIMIT, LIMIT]
    stored = {r["windowStart"]: r["requestCount"] for r in rows(sdb)}
    assert stored == {
        "2026-11-22T09:30:00.000+00:00": LIMIT,
        "2026-11-22T09:31:00.000+00:00": LIMIT,
    }


# -- DateTime forms written by other clients (issue 12) --------------------------------------


def legacy_hits(path: Path, rows_: list[tuple[Any, ...]]) -> None:
    """Rows another client wrote into Hit: (key, endpoint, requestCount, windowStart,
    createdAt, updatedAt), values stored as given."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            'INSERT INTO "Hit" (id, key, endpoint, requestCount, windowStart, createdAt, '
            "updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(str(uuid.uuid4()), *row) for row in rows_],
        )
    conn.close()


def test_a_window_stored_as_unix_ms_by_another_client_is_counted_in(tmp_path: Path) -> None:
    """Prisma's native engine stores windowStart as integer milliseconds. A limiter
    connected with the default iso8601 must find that window's row, not start a second
    row for the same window beside it and admit twice the limit."""
    path = tmp_path / "rl.db"
    open_schema(path).close_()
    window_ms = T0 // 10**6  # the current minute
    legacy_hits(
        path,
        [
            ("u1", "/api", 5, window_ms, "2026-11-22 09:30:00", window_ms),
            ("u1", "/api", 3, window_ms - 60_000, "2026-11-22 09:29:00", window_ms - 60_000),
        ],
    )
    db = open_schema(path)  # datetime_format="iso8601": the wrong choice for this table
    rl = limiter(db)
    assert not rl.hit("u1", "/api", limit=5, window=60)
    assert rl.peek("u1", "/api", limit=6, window=60).count == 5
    assert rl.hit("u1", "/api", limit=6, window=60)
    assert not rl.hit("u1", "/api", limit=6, window=60)
    # A new window is written as integer ms too, and its stamps in their columns' forms.
    rl.set_clock(T0 + 60 * SECOND)
    assert rl.hit("u1", "/api", limit=6, window=60)
    stored_rows = db.query_raw_(
        'SELECT windowStart, requestCount, createdAt, updatedAt FROM "Hit" ORDER BY windowStart'
    )
    assert stored_rows == [
        {
            "windowStart": window_ms - 60_000,
            "requestCount": 3,
            "createdAt": "2026-11-22 09:29:00",
            "updatedAt": window_ms - 60_000,
        },
        {
            "windowStart": window_ms,
            "requestCount": 6,
            "createdAt": "2026-11-22 09:30:00",
            "updatedAt": window_ms,
        },
        {
            "windowStart": window_ms + 60_000,
            "requestCount": 1,
            "createdAt": "2026-11-22 09:31:00",
            "updatedAt": window_ms + 60_000,
        },
    ]
    # The sliding window weighs in the previous window's row: half of its 6 hits, plus 1.
    rl.set_clock(T0 + 90 * SECOND)
    assert rl.peek("u1", "/api", limit=10, window=60, algorithm="sliding").remaining == 6
    db.close_()


def test_a_window_column_of_mixed_forms_is_refused_when_bound(tmp_path: Path) -> None:
    path = tmp_path / "rl.db"
    open_schema(path).close_()
    window_ms = T0 // 10**6
    legacy_hits(
        path,
        [
            ("u1", "/api", 1, window_ms, window_ms, window_ms),
            ("u2", "/api", 1, "2026-11-22T09:30:00.000+00:00", window_ms, window_ms),
        ],
    )
    db = open_schema(path)
    with pytest.raises(strata.MixedDateTimeError) as caught:
        limiter(db)
    error = caught.value
    assert (error.model, error.field) == ("Hit", "windowStart")
    assert error.forms == {"iso8601": 1, "unixepoch-ms": 1}
    assert "strata datetime rewrite --model Hit --field windowStart --to" in str(error)
    db.close_()
