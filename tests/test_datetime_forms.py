"""One DateTime truth per column: databases written by other clients (built here with
Python's sqlite3) hold integer Unix milliseconds, SQLite's ``YYYY-MM-DD HH:MM:SS``, ISO 8601
text with ``+00:00`` or ``Z``, or a mix. strata detects each column's form and writes and
compares in it, whatever ``datetime_format`` says; mixed columns are compared by instant."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import strata
from strata.client.codecs import DATETIME_WRITERS
from strata.client.datetimes import census, storage_of
from support import Traced

SCHEMA = """
datasource db {
  provider = "sqlite"
  url      = "file:./dev.db"
}

model Event {
  id   Int       @id
  at   DateTime  @unique
  seen DateTime?
  note String?

  @@index([seen])
}
"""

#: The DDL Prisma writes for that model.
DDL = """
CREATE TABLE "Event" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "at" DATETIME NOT NULL,
    "seen" DATETIME,
    "note" TEXT
);
CREATE UNIQUE INDEX "Event_at_key" ON "Event"("at");
CREATE INDEX "Event_seen_idx" ON "Event"("seen");
"""

BASE = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
#: Instants whose stored order differs between forms: whole seconds and milliseconds, hours
#: on both sides of the "T" versus " " split, several days.
INSTANTS = [
    BASE + timedelta(days=day, hours=hour, milliseconds=ms)
    for day in (-1, 0, 1)
    for hour in (-9, 0, 5)
    for ms in (0, 1, 999)
]


def write_as(form: str, instant: datetime) -> Any:
    return DATETIME_WRITERS[form](instant)  # type: ignore[index]


def legacy(path: Path, values: list[tuple[datetime, str]]) -> None:
    """A database as another client left it: ``values`` are the (instant, form) pairs of
    ``at``, one row each; ``seen`` is NULL."""
    with sqlite3.connect(path) as conn:
        conn.executescript(DDL)
        for index, (instant, form) in enumerate(values):
            conn.execute(
                'INSERT INTO "Event" ("id", "at") VALUES (?, ?)',
                (index, write_as(form, instant)),
            )
    conn.close()


def stored(path: Path, column: str = "at") -> list[tuple[Any, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f'SELECT "{column}", typeof("{column}") FROM "Event" ORDER BY id')
        result = rows.fetchall()
    conn.close()
    return result


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.prisma"
    path.write_text(SCHEMA)
    return path


@pytest.fixture
def connect(tmp_path: Path, schema_file: Path) -> Iterator[Callable[..., strata.Database]]:
    opened: list[strata.Database] = []

    def opener(**options: Any) -> strata.Database:
        db = strata.connect(tmp_path / "legacy.db", schema=schema_file, **options)
        opened.append(db)
        return db

    yield opener
    for db in opened:
        db.close()


WRITABLE = ["iso8601", "iso8601-z", "sqlite-datetime", "unixepoch-ms"]
#: The other choice for each form: connect() says one thing, the data another.
WRONG = {"iso8601": "unixepoch-ms", "unixepoch-ms": "iso8601"}


def check_queries(db: strata.Database, instants: list[datetime]) -> None:
    """Filters, ordering, cursors and aggregates agree with Python on ``instants``."""
    event = db.event
    in_order = sorted(instants)
    middle = in_order[len(in_order) // 2]
    ats = [r.at for r in event.find_many(order_by={"at": "asc"})]
    assert ats == in_order
    assert [r.at for r in event.find_many(order_by={"at": "desc"})] == in_order[::-1]
    for operator, keep in {
        "gt": lambda t: t > middle,
        "gte": lambda t: t >= middle,
        "lt": lambda t: t < middle,
        "lte": lambda t: t <= middle,
    }.items():
        found = event.find_many(where={"at": {operator: middle}}, order_by={"at": "asc"})
        assert [r.at for r in found] == [t for t in in_order if keep(t)], operator
    assert [r.at for r in event.find_many(where={"at": middle})] == [middle]
    assert [r.at for r in event.find_many(where={"at": {"not": middle}})] == [
        t for t in instants if t != middle
    ]
    chosen = in_order[::5]
    assert sorted(r.at for r in event.find_many(where={"at": {"in": chosen}})) == chosen
    assert event.count(where={"at": {"not_in": chosen}}) == len(instants) - len(chosen)
    assert event.find_unique(where={"at": middle}).at == middle
    assert event.find_unique(where={"at": middle}).at == middle  # the cached lookup
    totals = event.aggregate(max={"at": True}, min={"at": True}, count=True)
    assert totals == {"_max": {"at": in_order[-1]}, "_min": {"at": in_order[0]}, "_count": 27}
    page = event.find_many(cursor={"at": middle}, order_by={"at": "asc"}, take=3)
    assert [r.at for r in page] == in_order[13:16]
    groups = event.group_by(by=["at"], count={"_all": True}, order_by={"at": "desc"}, take=2)
    assert [g["at"] for g in groups] == in_order[:-3:-1]


@pytest.mark.parametrize("form", WRITABLE)
@pytest.mark.parametrize("configured", ["iso8601", "unixepoch-ms"])
def test_a_single_form_column_is_detected_and_compared_as_stored(
    tmp_path: Path, connect: Callable[..., strata.Database], form: str, configured: str
) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, form) for t in INSTANTS])
    db = connect(datetime_format=configured)
    check_queries(db, INSTANTS)
    storage = db.client.metas["Event"].codecs["at"].storage  # type: ignore[attr-defined]
    assert dict(storage.forms) == {form: None}
    assert storage.write_format == form
    assert not storage.mixed
    # A single-form column is compared as stored, so its index serves the filter.
    plan = db.query_raw(
        'EXPLAIN QUERY PLAN SELECT id FROM "Event" WHERE "at" > ?',
        write_as(form, BASE),
        as_tuples=True,
    )
    assert "Event_at_key" in str(plan)


@pytest.mark.parametrize("form", WRITABLE)
def test_writes_use_the_columns_form_not_the_configured_one(
    tmp_path: Path, connect: Callable[..., strata.Database], form: str
) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, form) for t in INSTANTS[:3]])
    configured = "sqlite-datetime" if form != "sqlite-datetime" else "unixepoch-ms"
    db = connect(datetime_format=configured)
    later = BASE + timedelta(days=30, milliseconds=250)
    db.event.create(data={"id": 100, "at": later})
    db.event.create_many(data=[{"id": 101, "at": later + timedelta(seconds=1)}])
    db.event.update(where={"id": 0}, data={"at": later + timedelta(seconds=2)})
    rows = stored(path)
    expected = [write_as(form, later + timedelta(seconds=s)) for s in (2, 0, 1)]
    assert [rows[0][0], rows[3][0], rows[4][0]] == expected
    # The empty column takes datetime_format, on both paths.
    db.event.update(where={"id": 1}, data={"seen": later})
    db.event.create_many(data=[{"id": 102, "at": later + timedelta(seconds=3), "seen": later}])
    seen = stored(path, "seen")
    assert seen[1][0] == seen[5][0] == write_as(configured, later)


MIXES = {
    # A project moved from Prisma 5 (native engine) to Prisma 7 (adapters).
    "ms and iso8601": ["unixepoch-ms", "iso8601"],
    "iso8601 with Z and +00:00": ["iso8601-z", "iso8601"],
    "CURRENT_TIMESTAMP and iso8601": ["sqlite-datetime", "iso8601"],
    "every form": WRITABLE,
}


@pytest.mark.parametrize("forms", MIXES.values(), ids=MIXES.keys())
def test_a_mixed_column_is_compared_by_instant(
    tmp_path: Path, connect: Callable[..., strata.Database], forms: list[str]
) -> None:
    path = tmp_path / "legacy.db"
    values = [(t, forms[i % len(forms)]) for i, t in enumerate(INSTANTS)]
    legacy(path, values)
    db = connect()
    check_queries(db, INSTANTS)
    storage = db.client.metas["Event"].codecs["at"].storage  # type: ignore[attr-defined]
    assert storage.mixed
    assert set(storage.forms) == set(forms)
    assert sum(storage.forms.values()) == len(INSTANTS)
    # Writes go in the most common form.
    most_common = max(forms, key=lambda f: (sum(1 for _, g in values if g == f), f == forms[0]))
    db.event.create(data={"id": 100, "at": BASE + timedelta(days=40)})
    assert stored(path)[-1][0] == write_as(storage.write_format, BASE + timedelta(days=40))
    assert storage.write_format == most_common


def test_text_in_no_form_is_compared_by_instant(
    tmp_path: Path, connect: Callable[..., strata.Database]
) -> None:
    """Offsets other than +00:00 and microseconds sort by text, not by time."""
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(DDL)
        texts = [
            "2026-11-22T10:30:00.000+01:00",  # 09:30 UTC
            "2026-11-22T09:00:00.000+00:00",
            "2026-11-22T09:15:00+00:00",  # no milliseconds
            "2026-11-22T04:45:00.500-05:00",  # 09:45:00.5 UTC
        ]
        for index, text in enumerate(texts):
            conn.execute('INSERT INTO "Event" ("id", "at") VALUES (?, ?)', (index, text))
    conn.close()
    db = connect()
    ordered = db.event.find_many(order_by={"at": "asc"})
    assert [r.id for r in ordered] == [1, 2, 0, 3]
    after = db.event.find_many(where={"at": {"gt": datetime(2026, 11, 22, 9, 20, tzinfo=UTC)}})
    assert sorted(r.id for r in after) == [0, 3]
    assert db.event.aggregate(max={"at": True})["_max"]["at"] == datetime(
        2026, 11, 22, 9, 45, 0, 500000, tzinfo=UTC
    )
    forms = db.client.metas["Event"].codecs["at"].storage.forms  # type: ignore[attr-defined]
    assert forms == {"iso8601": 1, "other": 3}


def test_detection_runs_once_per_column_per_handle(
    tmp_path: Path, connect: Callable[..., strata.Database]
) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, "unixepoch-ms") for t in INSTANTS])
    db = connect()
    traced = Traced(db)
    for _ in range(3):
        db.event.find_many(where={"at": {"gt": BASE}})
        db.event.create(data={"id": 1000 + _, "at": BASE + timedelta(days=100 + _)})
    detections = [sql for sql in traced.take() if "EXISTS" in sql or "LIMIT 1" in sql]
    assert len(detections) == 2  # the first value's form, then the foreign-value check
    # The integer/text split uses the index: one seek, not a scan.
    plan = db.query_raw(
        """EXPLAIN QUERY PLAN SELECT EXISTS (SELECT 1 FROM "Event" WHERE "at" >= '')""",
        as_tuples=True,
    )
    assert "USING COVERING INDEX Event_at_key (at>?)" in str(plan)
    # A new handle detects again.
    other = connect()
    assert storage_of(other) is not storage_of(db)


def test_census_counts_every_form(tmp_path: Path, connect: Callable[..., strata.Database]) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, WRITABLE[i % 3]) for i, t in enumerate(INSTANTS)])
    db = connect()
    assert census(db, '"Event"', '"at"') == {"iso8601": 9, "iso8601-z": 9, "sqlite-datetime": 9}
    assert census(db, '"Event"', '"seen"') == {}


def test_a_fraction_of_000_is_not_sqlite_datetime(
    tmp_path: Path, connect: Callable[..., strata.Database]
) -> None:
    """``strftime('%Y-%m-%d %H:%M:%f')`` writes ``.000`` where CURRENT_TIMESTAMP writes
    nothing: one instant, two texts, so such a column counts as mixed."""
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(DDL)
        conn.execute("""INSERT INTO "Event" VALUES (1, '2026-11-22 09:30:00', NULL, NULL)""")
        conn.execute("""INSERT INTO "Event" VALUES (2, '2026-11-22 09:30:01.000', NULL, NULL)""")
    conn.close()
    db = connect()
    assert db.event.count(where={"at": {"gte": BASE + timedelta(seconds=1)}}) == 1
    assert db.event.count(where={"at": BASE + timedelta(seconds=1)}) == 1
    forms = db.client.metas["Event"].codecs["at"].storage.forms  # type: ignore[attr-defined]
    assert forms == {"other": 1, "sqlite-datetime": 1}
