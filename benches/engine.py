"""The connection engine against Python's stdlib ``sqlite3`` doing the same work.

Both sides use the same SQLite library (strata links the system libsqlite3, which Python's
``sqlite3`` module loads too; run.py records both versions), a file of their own in the same
temporary directory, and the same pragmas: WAL, ``synchronous=NORMAL``, foreign keys on.
The ``sqlite3`` connection runs in autocommit mode (``isolation_level=None``) with explicit
``BEGIN IMMEDIATE``/``COMMIT``, which is the SQL strata's ``db.transaction_()`` sends, so the
two sides run the same statements and any difference is the cost of getting them from
Python to SQLite and back.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import strata
from _harness import Benchmark, Side, Suite

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)

# Truncating the WAL between samples gives both sides the same starting point, so that
# the automatic checkpoints inside a sample (every 1000 WAL pages) fall at the same places.
CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"


@contextmanager
def _databases(tmp: Path, schema: str) -> Iterator[tuple[strata.Database, sqlite3.Connection]]:
    """A strata database and a sqlite3 connection on two files, both holding `schema`."""
    db = strata.connect(tmp / "strata.db")
    conn = sqlite3.connect(tmp / "sqlite3.db", isolation_level=None)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        # A comparison is only fair while both sides are configured alike; fail loudly if
        # either drifts (a change to strata's defaults, a file system that refuses WAL).
        got = db.settings_()
        strata_config = (got["journal_mode"], got["synchronous"], got["foreign_keys"])
        sqlite3_config = (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            ("OFF", "NORMAL", "FULL", "EXTRA")[conn.execute("PRAGMA synchronous").fetchone()[0]],
            conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1,
        )
        expected = ("wal", "NORMAL", True)
        if strata_config != expected or sqlite3_config != expected:
            raise RuntimeError(
                f"want {expected} on both sides; strata has {strata_config}, "
                f"sqlite3 has {sqlite3_config}"
            )
        db.execute_script_(schema)
        conn.executescript(schema)
        yield db, conn
    finally:
        db.close_()
        conn.close()


# --- 1. One-row INSERT in its own transaction, per call ----------------------------------

INSERT_EVENT = "INSERT INTO events (kind, value) VALUES (?, ?)"


@contextmanager
def _insert_in_transaction(tmp: Path) -> Iterator[tuple[Side, Side]]:
    schema = "CREATE TABLE events (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, value REAL)"
    with _databases(tmp, schema) as (db, conn):

        def with_strata(n: int) -> None:
            for i in range(n):
                with db.transaction_():
                    db.execute_raw_(INSERT_EVENT, i % 16, i * 0.5)

        def with_sqlite3(n: int) -> None:
            for i in range(n):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(INSERT_EVENT, (i % 16, i * 0.5))
                conn.execute("COMMIT")

        yield (
            Side(with_strata, reset=lambda: db.execute_raw_(CHECKPOINT)),
            Side(with_sqlite3, reset=lambda: conn.execute(CHECKPOINT)),
        )


# --- 2. One-row SELECT by primary key, per call -----------------------------------------

USER_COUNT = 10_000
SELECT_USER = "SELECT id, name, age, score FROM users WHERE id = ?"


def _users() -> Iterator[tuple[int, str, int, float]]:
    return ((i, f"user-{i}", 18 + i % 60, i / 7) for i in range(1, USER_COUNT + 1))


# Every user id once, in a scattered order (7919 is prime, so this is a permutation):
# lookups walk the B-tree from its root rather than along neighbouring leaves.
KEYS = [i * 7919 % USER_COUNT + 1 for i in range(USER_COUNT)]


def _keys(n: int) -> Iterator[int]:
    return itertools.islice(itertools.cycle(KEYS), n)


@contextmanager
def _user_databases(tmp: Path) -> Iterator[tuple[strata.Database, sqlite3.Connection]]:
    schema = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, score REAL)"
    insert = "INSERT INTO users (id, name, age, score) VALUES (?, ?, ?, ?)"
    with _databases(tmp, schema) as (db, conn):
        db.execute_many_raw_(insert, _users())
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, _users())
        conn.execute("COMMIT")
        # Move the rows into the database files, so that no lookup searches the WAL.
        db.execute_raw_(CHECKPOINT)
        conn.execute(CHECKPOINT)
        yield db, conn


def _check_same_rows(from_strata: list[Any], from_sqlite3: list[Any]) -> None:
    # Both sides must return the same rows, or they are not doing the same work.
    if from_strata != from_sqlite3 or len(from_strata) != 1:
        raise RuntimeError(f"strata and sqlite3 disagree: {from_strata} != {from_sqlite3}")


def _sqlite3_lookups(conn: sqlite3.Connection) -> Side:
    def with_sqlite3(n: int) -> None:
        for key in _keys(n):
            conn.execute(SELECT_USER, (key,)).fetchall()

    return Side(with_sqlite3)


@contextmanager
def _select_tuples(tmp: Path) -> Iterator[tuple[Side, Side]]:
    with _user_databases(tmp) as (db, conn):
        _check_same_rows(
            db.query_raw_(SELECT_USER, 1, as_tuples=True),
            conn.execute(SELECT_USER, (1,)).fetchall(),
        )

        def with_strata(n: int) -> None:
            for key in _keys(n):
                db.query_raw_(SELECT_USER, key, as_tuples=True)

        yield Side(with_strata), _sqlite3_lookups(conn)


def _dict_factory(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    # The row factory the sqlite3 documentation gives for dict rows ("How to create and
    # use row factories"): what a sqlite3 user who wants dicts writes.
    fields = [column[0] for column in cursor.description]
    return dict(zip(fields, row, strict=True))


@contextmanager
def _select_dicts(tmp: Path) -> Iterator[tuple[Side, Side]]:
    with _user_databases(tmp) as (db, conn):
        conn.row_factory = _dict_factory
        _check_same_rows(db.query_raw_(SELECT_USER, 1), conn.execute(SELECT_USER, (1,)).fetchall())

        def with_strata(n: int) -> None:
            for key in _keys(n):
                db.query_raw_(SELECT_USER, key)

        yield Side(with_strata), _sqlite3_lookups(conn)


# --- 3. executemany of narrow rows, per call ---------------------------------------------

INSERT_SAMPLE = "INSERT INTO samples (a, b, x) VALUES (?, ?, ?)"


def _samples(n: int) -> Iterator[tuple[int, int, float]]:
    # A generator on both sides: a million rows as a list would measure memory, not SQL.
    return ((i, i % 97, i * 0.25) for i in range(n))


@contextmanager
def _execute_many(tmp: Path) -> Iterator[tuple[Side, Side]]:
    # A rowid table with no index at all: the cost is the per-row binding and stepping.
    schema = "CREATE TABLE samples (a INTEGER NOT NULL, b INTEGER NOT NULL, x REAL NOT NULL)"
    with _databases(tmp, schema) as (db, conn):

        def with_sqlite3(n: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT_SAMPLE, _samples(n))
            conn.execute("COMMIT")

        # Every sample starts from an empty table and an empty WAL.
        def reset_strata() -> None:
            db.execute_raw_("DELETE FROM samples")
            db.execute_raw_(CHECKPOINT)

        def reset_sqlite3() -> None:
            conn.execute("DELETE FROM samples")
            conn.execute(CHECKPOINT)

        yield (
            Side(lambda n: db.execute_many_raw_(INSERT_SAMPLE, _samples(n)), reset_strata),
            Side(with_sqlite3, reset_sqlite3),
        )


def benchmarks(quick: bool) -> list[Benchmark]:
    # Per-call workloads take many short rounds: a burst of load then spoils a round or
    # two, which the median discards. The bulk insert takes seconds per sample at full size,
    # so it gets fewer.
    rounds = 21 if quick else 51
    inserts = 300 if quick else 1_000
    lookups = 2_000 if quick else 5_000
    rows, bulk_rounds = (100_000, 7) if quick else (1_000_000, 9)
    return [
        Benchmark(
            name="insert_one_in_transaction",
            label="INSERT 1 row in a transaction",
            unit="call",
            size=inserts,
            rounds=rounds,
            setup=_insert_in_transaction,
        ),
        Benchmark(
            name="select_by_pk_tuples",
            label="SELECT 1 row by primary key (tuples)",
            unit="call",
            size=lookups,
            rounds=rounds,
            setup=_select_tuples,
        ),
        Benchmark(
            name="select_by_pk_dicts",
            label="SELECT 1 row by primary key (dicts)",
            unit="call",
            size=lookups,
            rounds=rounds,
            setup=_select_dicts,
            target=None,
        ),
        Benchmark(
            name="execute_many",
            label=f"executemany {rows:,} rows (int, int, float)",
            unit="row",
            size=rows,
            rounds=bulk_rounds,
            setup=_execute_many,
        ),
    ]


SUITE = Suite(name="engine", baseline="sqlite3", benchmarks=benchmarks)
