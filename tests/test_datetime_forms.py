"""One DateTime truth per column: databases written by other clients (built here with
Python's sqlite3) hold integer Unix milliseconds, SQLite's ``YYYY-MM-DD HH:MM:SS``, ISO 8601
text with ``+00:00`` or ``Z``, or a mix. strata detects each column's form and writes and
compares in it, whatever ``datetime_format`` says; mixed columns are compared by instant."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import strata
from strata.cli import main
from strata.client.datetime_rewrite import census, rewrite
from strata.dialects.sqlite.codecs import DATETIME_WRITERS
from strata.dialects.values import parse_datetime
from strata.doctor import diagnose
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


def legacy(path: Path, values: list[tuple[datetime, str]], ddl: str = DDL) -> None:
    """A database as another client left it: ``values`` are the (instant, form) pairs of
    ``at``, one row each; ``seen`` is NULL."""
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl)
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
        db.close_()


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
    storage = db.client_.metas["Event"].codecs["at"].storage  # type: ignore[attr-defined]
    assert dict(storage.forms) == {form: None}
    assert storage.write_format == form
    assert not storage.mixed
    # A single-form column is compared as stored, so its index serves the filter.
    plan = db.query_raw_(
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
    storage = db.client_.metas["Event"].codecs["at"].storage  # type: ignore[attr-defined]
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
    forms = db.client_.metas["Event"].codecs["at"].storage.forms  # type: ignore[attr-defined]
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
    plan = db.query_raw_(
        """EXPLAIN QUERY PLAN SELECT EXISTS (SELECT 1 FROM "Event" WHERE "at" >= '')""",
        as_tuples=True,
    )
    assert "USING COVERING INDEX Event_at_key (at>?)" in str(plan)
    # A new handle detects again.
    other = connect()
    assert other.client_.datetime_columns is not db.client_.datetime_columns


def test_census_counts_every_form(tmp_path: Path, connect: Callable[..., strata.Database]) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, WRITABLE[i % 3]) for i, t in enumerate(INSTANTS)])
    db = connect()
    assert census(db.client_, '"Event"', '"at"') == {
        "iso8601": 9,
        "iso8601-z": 9,
        "sqlite-datetime": 9,
    }
    assert census(db.client_, '"Event"', '"seen"') == {}


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
    forms = db.client_.metas["Event"].codecs["at"].storage.forms  # type: ignore[attr-defined]
    assert forms == {"other": 1, "sqlite-datetime": 1}


# -- strata doctor ---------------------------------------------------------------------------


def test_doctor_reports_each_columns_forms_and_flags_mixed_ones(
    tmp_path: Path, connect: Callable[..., strata.Database], schema_file: Path
) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, ["unixepoch-ms", "iso8601"][i % 2]) for i, t in enumerate(INSTANTS)])
    db = connect()
    report = diagnose(db)
    columns = {(c.model, c.field): c for c in report.datetime_columns}
    assert columns[("Event", "at")].forms == {"unixepoch-ms": 14, "iso8601": 13}
    assert columns[("Event", "at")].mixed
    assert columns[("Event", "seen")].forms == {}
    assert not columns[("Event", "seen")].mixed
    (warning,) = [w for w in report.warnings if "Event.at" in w]
    assert "strata datetime rewrite --model Event --field at --to unixepoch-ms" in warning

    result = CliRunner().invoke(main, ["doctor", str(path), "--schema", str(schema_file)])
    output = " ".join(result.output.split())
    assert "DateTime columns" in output
    assert "Event.at │ unixepoch-ms 14, iso8601 13 │ mixed" in output
    assert "Event.seen │ empty │ ok" in output
    assert result.exit_code == 1


# -- rewriting a column ----------------------------------------------------------------------


def instants_of(path: Path) -> dict[int, datetime]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute('SELECT id, "at" FROM "Event"').fetchall()
    conn.close()
    return {id_: parse_datetime(value) for id_, value in rows}


def test_rewrite_puts_a_column_into_one_form_and_a_second_run_has_nothing_to_do(
    tmp_path: Path, connect: Callable[..., strata.Database]
) -> None:
    path = tmp_path / "legacy.db"
    legacy(path, [(t, WRITABLE[i % 4]) for i, t in enumerate(INSTANTS)])
    with sqlite3.connect(path) as conn:
        conn.execute("""INSERT INTO "Event" ("id", "at") VALUES (99, 'not a time')""")
    conn.close()
    before = {k: v for k, v in instants_of_text(path).items() if k != 99}
    db = connect()
    assert db.client_.metas["Event"].codecs["at"].storage.mixed  # type: ignore[attr-defined]
    seen: list[int] = []
    done = rewrite(db.client_, "Event", "at", "unixepoch-ms", batch=4, progress=seen.append)
    assert done.rewritten == 21  # six values were integers already
    assert done.unreadable == 1
    assert done.forms == {"unixepoch-ms": 27, "other": 1}
    assert seen == sorted(seen)
    assert seen[-1] == 21
    assert all(kind == "integer" for _, kind in stored(path)[:27])
    assert {k: v for k, v in instants_of_text(path).items() if k != 99} == before
    # This handle detects the column again: the junk value keeps it "mixed".
    assert db.client_.metas["Event"].codecs["at"].storage.forms == {  # type: ignore[attr-defined]
        "unixepoch-ms": 27,
        "other": 1,
    }
    db.execute_raw_('DELETE FROM "Event" WHERE id = 99')  # the client cannot read it
    again = rewrite(db.client_, "Event", "at", "unixepoch-ms")
    assert (again.rewritten, again.unreadable, again.forms) == (0, 0, {"unixepoch-ms": 27})
    with pytest.raises(strata.ValidationError, match="not a DateTime field"):
        rewrite(db.client_, "Event", "note", "iso8601")
    with pytest.raises(strata.ConfigurationError, match="datetime_format must be one of"):
        rewrite(db.client_, "Event", "at", "rfc2822")


def instants_of_text(path: Path) -> dict[int, Any]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute('SELECT id, "at" FROM "Event"').fetchall()
    conn.close()
    return {id_: (value if id_ == 99 else parse_datetime(value)) for id_, value in rows}


ROWS = 200_000


def big_legacy(path: Path) -> dict[int, datetime]:
    """ROWS rows, three quarters of them as integer ms and the rest as iso8601."""
    values = {n: BASE + timedelta(seconds=n, milliseconds=n % 1000) for n in range(ROWS)}
    with sqlite3.connect(path) as conn:
        conn.executescript(DDL)
        conn.executemany(
            'INSERT INTO "Event" ("id", "at") VALUES (?, ?)',
            (
                (n, write_as("iso8601" if n % 4 == 0 else "unixepoch-ms", at))
                for n, at in values.items()
            ),
        )
    conn.close()
    return values


def rewrite_process(tmp_path: Path, schema_file: Path, batch: int) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": f"file:{tmp_path / 'legacy.db'}"}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from strata.cli import main; main()",
            "datetime",
            "rewrite",
            "--model",
            "Event",
            "--field",
            "at",
            "--to",
            "iso8601",
            "--batch",
            str(batch),
            "--schema",
            str(schema_file),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def count_in_iso8601(path: Path) -> int:
    with sqlite3.connect(path, timeout=30) as conn:
        (count,) = conn.execute(
            """SELECT count(*) FROM "Event" WHERE typeof("at") = 'text'"""
        ).fetchone()
    conn.close()
    return int(count)


@pytest.mark.slow
def test_a_killed_rewrite_keeps_its_batches_and_a_second_run_finishes(
    tmp_path: Path, schema_file: Path
) -> None:
    path = tmp_path / "legacy.db"
    values = big_legacy(path)
    child = rewrite_process(tmp_path, schema_file, batch=1000)
    deadline = time.monotonic() + 60
    while count_in_iso8601(path) < ROWS // 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    partly = count_in_iso8601(path)
    assert ROWS // 2 <= partly < ROWS, "the rewrite should have been stopped half way"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert instants_of(path) == values  # every value, rewritten or not, is the same instant

    second = rewrite_process(tmp_path, schema_file, batch=1000)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    assert f"Rewrote {ROWS - partly} values" in " ".join(output.split())
    assert count_in_iso8601(path) == ROWS
    assert instants_of(path) == values


@pytest.mark.slow
def test_writes_during_a_rewrite_are_not_lost(tmp_path: Path, schema_file: Path) -> None:
    """Another client inserts rows and updates times and notes while the rewrite runs, in
    the old form; nothing it writes is lost, and a second run rewrites what it left."""
    path = tmp_path / "legacy.db"
    values = big_legacy(path)
    child = rewrite_process(tmp_path, schema_file, batch=500)
    # The rewrite opens the database (switching it to WAL) and starts; then the writes come.
    deadline = time.monotonic() + 60
    while count_in_iso8601(path) == ROWS // 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    written = 0
    while child.poll() is None or written < 50:
        n = ROWS + written
        moved = (written * 3989) % ROWS  # all over the table, rewritten or not yet
        at = BASE - timedelta(days=1, milliseconds=written)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            'INSERT INTO "Event" ("id", "at", "note") VALUES (?, ?, ?)',
            (n, write_as("unixepoch-ms", at), f"new {n}"),
        )
        conn.execute(
            'UPDATE "Event" SET "at" = ?, "note" = ? WHERE "id" = ?',
            (write_as("unixepoch-ms", at + timedelta(hours=1)), f"moved {written}", moved),
        )
        conn.execute("COMMIT")
        values[n] = at
        values[moved] = at + timedelta(hours=1)
        written += 1
    conn.close()
    output = child.communicate()[0]
    assert written >= 50
    assert instants_of(path) == values
    with sqlite3.connect(path) as check:
        notes = dict(check.execute('SELECT id, note FROM "Event" WHERE note IS NOT NULL'))
    check.close()
    assert all(notes[ROWS + k] == f"new {ROWS + k}" for k in range(written))
    assert sum(1 for note in notes.values() if note.startswith("moved")) >= 1
    assert "Rewrote" in output
    second = rewrite_process(tmp_path, schema_file, batch=5000)
    assert second.wait(timeout=120) == 0
    assert count_in_iso8601(path) == len(values)
    assert instants_of(path) == values


# -- a property --------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@given(
    values=st.lists(st.tuples(instants, st.sampled_from(WRITABLE)), min_size=1, max_size=12),
    threshold=instants,
)
def test_filters_and_order_agree_with_python_whatever_the_forms(
    values: list[tuple[datetime, str]], threshold: datetime
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "legacy.db"
        legacy(path, values, DDL.replace("CREATE UNIQUE INDEX", "CREATE INDEX"))
        schema = Path(directory) / "schema.prisma"
        schema.write_text(SCHEMA.replace("DateTime  @unique", "DateTime"))
        with strata.connect(path, schema=schema) as db:
            expected = sorted(range(len(values)), key=lambda i: (values[i][0], i))
            found = db.event.find_many(order_by=[{"at": "asc"}, {"id": "asc"}])
            assert [r.id for r in found] == expected
            for operator, keep in {
                "lt": threshold.__gt__,
                "gte": threshold.__le__,
                "equals": threshold.__eq__,
            }.items():
                count = db.event.count(where={"at": {operator: threshold}})
                assert count == sum(1 for at, _ in values if keep(at)), operator
            latest = db.event.aggregate(max={"at": True})["_max"]["at"]
            assert latest == max(at for at, _ in values)
