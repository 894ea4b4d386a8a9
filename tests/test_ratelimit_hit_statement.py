"""SQLite's one-statement hit (issue 17): what the statement itself must get right, below
the decisions tests/test_ratelimit.py checks on both databases. SQLite only: PostgreSQL's
hit is a different statement (tests/test_ratelimit_postgres.py).

* the statement commits inside ``sqlite3_step``, so SQLite's automatic checkpoint keeps
  the WAL bounded under hits alone;
* a refused hit writes nothing, whether it would have updated a row or inserted one;
* a count (or arrival time) that may be NULL takes the transaction's way, as exactly;
* a row the statement drops for another constraint (a duplicate client-made id) is
  decided in the transaction, whose upsert reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import strata
from strata.errors import UniqueConstraintError

SECOND = 10**9
T0 = 1_795_339_800 * SECOND  # 2026-11-22T09:30:00Z

SCHEMA = """datasource db {
  provider = "sqlite"
}

model Hit {
  id           String   @id @default(uuid())
  key          String
  requestCount Int      @default(0)
  windowStart  DateTime

  @@unique([key, windowStart])
}

model Loose {
  id           Int      @id @default(autoincrement())
  key          String
  requestCount Int?
  windowStart  DateTime

  @@unique([key, windowStart])
}

model LooseBucket {
  id  Int     @id @default(autoincrement())
  key String  @unique
  tat BigInt?
}
"""


@pytest.fixture
def db(tmp_path: Path) -> Any:
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA)
    database = strata.connect(tmp_path / "rl.db", schema=schema)
    database.migrate_.push()
    yield database
    database.close_()


def bind(db: strata.Database, model: str = "Hit") -> Any:
    rl = db.rate_limiter_(model, key="key", count="requestCount", window_start="windowStart")
    rl.set_clock(T0)
    return rl


def stored(db: strata.Database, model: str = "Hit") -> dict[str, Any]:
    found = db.query_raw_(f'SELECT "windowStart", "requestCount" FROM "{model}"')
    return {row["windowStart"]: row["requestCount"] for row in found}


def test_hits_alone_keep_the_wal_bounded(db: strata.Database) -> None:
    """SQLite checkpoints after a commit made inside ``sqlite3_step`` only: a statement
    reset after its first row commits in ``sqlite3_reset`` and the WAL grows forever."""
    rl = bind(db)
    rl._native_loop("k", n=3_000, limit=10**6, window=60)
    wal = Path(f"{db.path_}-wal")
    frames = wal.stat().st_size // (4096 + 24)
    # The automatic checkpoint runs at 1,000 frames; past it the WAL starts over.
    assert frames <= 1_100, f"{frames} WAL frames after 3,000 hits"
    assert stored(db) == {"2026-11-22T09:30:00.000+00:00": 3_000}


@pytest.mark.parametrize("algorithm", ["fixed", "sliding"])
def test_a_refused_update_writes_nothing(db: strata.Database, algorithm: str) -> None:
    rl = bind(db)
    assert rl.hit("k", limit=3, window=60, cost=3, algorithm=algorithm).allowed
    refused = rl.hit("k", limit=3, window=60, algorithm=algorithm)
    assert not refused.allowed
    assert refused.count == 3
    assert stored(db) == {"2026-11-22T09:30:00.000+00:00": 3}


def test_a_refused_new_window_inserts_no_row(db: strata.Database) -> None:
    """Early in a window after a full one, the sliding bound refuses even the window's
    first hit: the row the statement would insert is dropped, not stored empty."""
    rl = bind(db)
    assert rl.hit("k", limit=3, window=60, cost=3, algorithm="sliding").allowed
    rl.set_clock(T0 + 61 * SECOND)
    refused = rl.hit("k", limit=3, window=60, algorithm="sliding")
    assert not refused.allowed
    assert stored(db) == {"2026-11-22T09:30:00.000+00:00": 3}


@pytest.mark.parametrize("algorithm", ["fixed", "sliding"])
def test_a_later_window_takes_the_hits_of_a_clock_gone_back(
    db: strata.Database, algorithm: str
) -> None:
    """The statement finds the later window and counts nothing; the transaction then
    counts the hit in that later window, never reopening the earlier one."""
    rl = bind(db)
    rl.set_clock(T0 + 60 * SECOND)
    assert rl.hit("k", limit=5, window=60, algorithm=algorithm).allowed
    rl.set_clock(T0 + 5 * SECOND)
    decision = rl.hit("k", limit=5, window=60, algorithm=algorithm)
    assert decision.allowed
    assert decision.count == 2
    assert stored(db) == {"2026-11-22T09:31:00.000+00:00": 2}


def test_an_optional_count_is_counted_exactly_in_a_transaction(db: strata.Database) -> None:
    """The statement drops a refused row through the count's NOT NULL, which an optional
    count lacks: its hits are decided in the transaction, and no row holds NULL."""
    rl = bind(db, "Loose")
    decisions = [rl.hit("k", limit=3, window=60).allowed for _ in range(5)]
    assert decisions == [True, True, True, False, False]
    rl.set_clock(T0 + 61 * SECOND)
    assert not rl.hit("k", limit=3, window=60, algorithm="sliding").allowed
    assert stored(db, "Loose") == {"2026-11-22T09:30:00.000+00:00": 3}


def test_an_optional_arrival_time_is_counted_exactly_in_a_transaction(
    db: strata.Database,
) -> None:
    rl = db.rate_limiter_("LooseBucket", key="key", tat="tat")
    rl.set_clock(T0)
    decisions = [rl.hit("k", limit=3, window=60).allowed for _ in range(5)]
    assert decisions == [True, True, True, False, False]
    assert db.query_raw_('SELECT tat FROM "LooseBucket"') == [{"tat": T0 + 60 * SECOND}]


def test_a_duplicate_client_id_is_reported_not_ignored(
    db: strata.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OR IGNORE`` drops a new row whose id is taken; the hit is then decided in the
    transaction, whose upsert reports the conflict rather than a denial."""
    assert bind(db).hit("k", limit=5, window=60).allowed
    (taken,) = db.query_raw_('SELECT id FROM "Hit"')
    # A limiter whose id generator hands out the id the first row holds.
    monkeypatch.setitem(db.client_.metas["Hit"].generated, "id", lambda: taken["id"])
    duplicate = bind(db)
    with pytest.raises(UniqueConstraintError, match=r"Hit\.\(id\)"):
        duplicate.hit("other", limit=5, window=60)
    assert stored(db) == {"2026-11-22T09:30:00.000+00:00": 1}
