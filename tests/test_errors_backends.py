"""The same failures raise the same error classes and Prisma codes on SQLite and on
PostgreSQL (SQLSTATE mapped by the core), and a PostgreSQL server that goes away mid-run
gives `ConnectionLostError` (a built-in ``ConnectionError``), not a hang; the pool connects
again once the server is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import strata
from backends import Backend
from postgres import PostgresServer, server_or_skip
from strata.errors import (
    CheckConstraintError,
    ConfigurationError,
    ConnectionLostError,
    ForeignKeyError,
    NullConstraintError,
    SqlError,
    UniqueConstraintError,
)

TABLES = [
    'CREATE TABLE "User" ("id" INTEGER PRIMARY KEY, "email" TEXT NOT NULL UNIQUE, '
    '"age" INTEGER CHECK ("age" >= 0))',
    'CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "title" TEXT NOT NULL, '
    '"authorId" INTEGER NOT NULL REFERENCES "User" ("id"))',
    'INSERT INTO "User" ("id", "email") VALUES (1, \'a@x.io\')',
    'INSERT INTO "Post" ("id", "title", "authorId") VALUES (1, \'hello\', 1)',
]


def _seeded(backend: Backend) -> strata.Database:
    db = backend.connect()
    for statement in TABLES:
        db.execute_raw_(statement)
    return db


def _sql(backend: Backend, sql: str) -> str:
    """``sql`` with its ``?`` placeholders as this database numbers them."""
    if not backend.is_postgres:
        return sql
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, 1))


def test_unique_violation(backend: Backend) -> None:
    db = _seeded(backend)
    with pytest.raises(UniqueConstraintError) as caught:
        db.execute_raw_(
            _sql(backend, 'INSERT INTO "User" ("id", "email") VALUES (?, ?)'), 2, "a@x.io"
        )
    err = caught.value
    assert (err.table, err.columns, err.code) == ("User", ["email"], "P2002")
    assert str(err) == "Unique constraint failed on User.(email)"
    assert isinstance(err, strata.ConstraintError | strata.DatabaseError | strata.StrataError)
    assert not db.in_transaction_


def test_primary_key_violation_is_a_unique_violation(backend: Backend) -> None:
    db = _seeded(backend)
    with pytest.raises(UniqueConstraintError) as caught:
        db.execute_raw_(_sql(backend, 'INSERT INTO "User" ("id", "email") VALUES (1, ?)'), "b@x.io")
    assert (caught.value.table, caught.value.columns, caught.value.code) == (
        "User",
        ["id"],
        "P2002",
    )


def test_foreign_key_violation(backend: Backend) -> None:
    db = _seeded(backend)
    with pytest.raises(ForeignKeyError) as caught:
        db.execute_raw_(
            _sql(backend, 'INSERT INTO "Post" ("id", "title", "authorId") VALUES (2, ?, ?)'),
            "x",
            99,
        )
    err = caught.value
    assert (err.table, err.columns, err.code) == ("Post", ["authorId"], "P2003")
    if not backend.is_postgres:
        # SQLite's probe finds the parent too; PostgreSQL's report names only the child.
        assert (err.referenced_table, err.referenced_columns) == ("User", ["id"])
        assert "Post.(authorId) referencing User.(id)" in str(err)


def test_deleting_a_referenced_parent_is_a_foreign_key_error(backend: Backend) -> None:
    db = _seeded(backend)
    with pytest.raises(ForeignKeyError) as caught, db.transaction_():
        db.execute_raw_('DELETE FROM "User" WHERE "id" = 1')
    assert caught.value.code == "P2003"
    assert caught.value.table == "Post"
    assert caught.value.referenced_table == "User"
    assert caught.value.referenced_columns == ["id"]
    if not backend.is_postgres:
        # SQLite's probe finds the child's columns; PostgreSQL names only the parent's key.
        assert caught.value.columns == ["authorId"]
    assert db.query_raw_('SELECT count(*) AS n FROM "User"') == [{"n": 1}]


def test_null_violation(backend: Backend) -> None:
    db = _seeded(backend)
    with pytest.raises(NullConstraintError) as caught:
        db.execute_raw_('INSERT INTO "Post" ("id", "title", "authorId") VALUES (3, NULL, 1)')
    assert (caught.value.table, caught.value.columns, caught.value.code) == (
        "Post",
        ["title"],
        "P2011",
    )


def test_check_violation(backend: Backend) -> None:
    db = _seeded(backend)
    with pytest.raises(CheckConstraintError) as caught:
        db.execute_raw_(
            _sql(backend, 'INSERT INTO "User" ("id", "email", "age") VALUES (3, ?, ?)'),
            "c@x.io",
            -1,
        )
    assert caught.value.table in ("User", None)
    assert db.query_raw_('SELECT count(*) AS n FROM "User"') == [{"n": 1}]


def test_constraint_errors_through_the_client_name_the_model(backend: Backend) -> None:
    db = backend.connect(
        """
        datasource db { provider = "sqlite" }
        model Account {
          id    Int    @id
          email String @unique
        }
        """
    )
    try:
        db.dialect_.query  # noqa: B018 - raises while PostgreSQL's client is not written
    except ConfigurationError as pending:
        pytest.skip(f"pending: {pending}")
    db.account.create(data={"id": 1, "email": "a@x.io"})
    with pytest.raises(UniqueConstraintError) as caught:
        db.account.create(data={"id": 2, "email": "a@x.io"})
    assert (caught.value.model, caught.value.fields, caught.value.code) == (
        "Account",
        ["email"],
        "P2002",
    )


def test_unknown_tables_and_syntax_errors_are_sql_errors(backend: Backend) -> None:
    db = _seeded(backend)
    # Unquoted: SQLite reads an unknown double-quoted name as a string.
    for sql in ("SELEC 1", 'SELECT * FROM "missing"', 'SELECT nope FROM "User"'):
        with pytest.raises(SqlError) as caught:
            db.query_raw_(sql)
        assert caught.value.sql == sql
        assert not db.in_transaction_


# -- a server of its own, stopped and started again


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server only this test uses, since it is stopped mid-test."""
    yield from server_or_skip()


def test_a_server_going_away_raises_connection_lost_and_the_pool_reconnects(
    own_server: PostgresServer,
) -> None:
    own_server.admin().execute_raw_('CREATE DATABASE "lost"')
    db = strata.connect(own_server.url("lost"))
    try:
        db.execute_raw_('CREATE TABLE "t" ("id" INTEGER PRIMARY KEY)')
        db.execute_raw_('INSERT INTO "t" VALUES (1)')
        time.sleep(0.5)  # see the next test: the WAL writer writes the commit out
        # A statement running when the server goes away fails at once, not after a hang.
        failures: list[BaseException] = []

        def long_statement() -> None:
            try:
                db.query_raw_("SELECT pg_sleep(30)")
            except BaseException as error:
                failures.append(error)

        running = threading.Thread(target=long_statement)
        running.start()
        time.sleep(0.5)
        started = time.monotonic()
        own_server.halt()
        running.join(timeout=20)
        assert not running.is_alive()
        assert time.monotonic() - started < 15
        assert len(failures) == 1
        assert isinstance(failures[0], ConnectionLostError)
        assert isinstance(failures[0], ConnectionError)
        assert failures[0].code == "P1017"
        # While it is down, every call says so (pooled connections and new ones alike).
        for _ in range(3):
            with pytest.raises(ConnectionLostError):
                db.query_raw_('SELECT count(*) AS n FROM "t"')
        with pytest.raises(ConnectionLostError), db.transaction_():
            pass
        assert not db.in_transaction_
        own_server.resume()
        assert db.query_raw_('SELECT count(*) AS n FROM "t"') == [{"n": 1}]
        with db.transaction_():
            db.execute_raw_('INSERT INTO "t" VALUES (2)')
        assert db.query_raw_('SELECT count(*) AS n FROM "t"') == [{"n": 2}]
    finally:
        db.close_()


def test_a_transaction_whose_server_went_away_raises_connection_lost(
    own_server: PostgresServer,
) -> None:
    own_server.admin().execute_raw_('CREATE DATABASE "lost"')
    db = strata.connect(own_server.url("lost"))
    try:
        db.execute_raw_('CREATE TABLE "t" ("id" INTEGER PRIMARY KEY)')
        # The test server commits asynchronously (synchronous_commit=off): give the WAL
        # writer time to write the table out before the server is killed.
        time.sleep(0.5)
        with pytest.raises(ConnectionLostError), db.transaction_():
            db.execute_raw_('INSERT INTO "t" VALUES (1)')
            own_server.halt()
            db.execute_raw_('INSERT INTO "t" VALUES (2)')
        assert not db.in_transaction_
        own_server.resume()
        # Nothing of the block was committed, and the handle works again.
        assert db.query_raw_('SELECT count(*) AS n FROM "t"') == [{"n": 0}]
    finally:
        db.close_()
