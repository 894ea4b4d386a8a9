"""`strata.testing`, the pytest plugin for users' tests, run the way a user runs it: in a
project of its own (pytester), found through its ``pytest11`` entry point, on a SQLite file
per test and on a PostgreSQL database per test (the session's server)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from postgres import PostgresServer
from strata.engine import Engine

pytest_plugins = ["pytester"]

SCHEMA = """
datasource db {
  provider = "sqlite"
}

model User {
  id    Int    @id @default(autoincrement())
  email String @unique
}
"""

# Two tests writing the same unique email: each passes only if its database is fresh.
USER_TESTS = """
import asyncio
import sqlite3

import pytest


def test_first(strata_db):
    strata_db.user.create(data={"email": "a@x.io"})
    assert strata_db.user.count() == 1


def test_second(strata_db, strata_url):
    assert strata_db.user.count() == 0
    strata_db.user.create(data={"email": "a@x.io"})
    assert strata_url == strata_db.url_ or strata_url.endswith(".db")


def test_async(strata_async_db):
    async def body():
        await strata_async_db.user.create(data={"email": "a@x.io"})
        return await strata_async_db.user.count()

    assert asyncio.run(body()) == 1


def test_fails_and_still_cleans_up(strata_db):
    strata_db.user.create(data={"email": "a@x.io"})
    raise AssertionError("on purpose")
"""


def _project(pytester: pytest.Pytester, schema: str = SCHEMA) -> None:
    pytester.makefile(".prisma", schema=schema)
    pytester.makepyfile(test_users=USER_TESTS)


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = [e for e in entry_points(group="pytest11") if e.value == "strata.testing"]
    assert plugin.name == "strata"


def test_a_fresh_sqlite_database_per_test(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest_subprocess(
        "--strata-schema", "schema.prisma", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*on purpose*"])


def test_the_schema_from_the_ini_file_and_migrations_deployed(pytester: pytest.Pytester) -> None:
    pytester.mkdir("db")
    (pytester.path / "db" / "app.prisma").write_text(SCHEMA)
    # A migration that adds a table the schema does not have: deployed, not pushed.
    migration = pytester.path / "db" / "migrations" / "20260101000000_init"
    migration.mkdir(parents=True)
    (migration / "migration.sql").write_text(
        'CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"email" TEXT NOT NULL);\n'
        'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n'
        'CREATE TABLE "audit" ("id" INTEGER NOT NULL PRIMARY KEY);\n'
    )
    (pytester.path / "db" / "migrations" / "migration_lock.toml").write_text(
        'provider = "sqlite"\n'
    )
    pytester.makeini("[pytest]\nstrata_schema = db/app.prisma\n")
    pytester.makepyfile(
        test_deployed="""
def test_migrations_ran(strata_db):
    names = [r["name"] for r in strata_db.query_raw_(
        "SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert "audit" in names and "_prisma_migrations" in names
    strata_db.user.create(data={"email": "a@x.io"})
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_missing_schema_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(strata_db):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--strata-schema", "nowhere.prisma", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no schema file at*nowhere.prisma*"])


def test_a_fresh_postgresql_database_per_test_dropped_afterwards(
    pytester: pytest.Pytester, pg_server: PostgresServer
) -> None:
    _project(pytester, SCHEMA.replace('"sqlite"', '"postgresql"'))
    server = pg_server.url("postgres")
    result = pytester.runpytest_subprocess(
        "--strata-schema", "schema.prisma", "--strata-url", server, "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, failed=1)
    with Engine.open_(server) as admin:
        left = admin.query_raw_("SELECT datname FROM pg_database WHERE datname LIKE 'strata_test%'")
    assert left == []


def test_the_server_url_from_the_environment(
    pytester: pytest.Pytester, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester, SCHEMA.replace('"sqlite"', '"postgresql"'))
    monkeypatch.setenv("STRATA_TEST_DATABASE_URL", pg_server.url("postgres"))
    pytester.makepyfile(
        test_where="""
def test_on_postgresql(strata_db):
    assert strata_db.dialect_.provider == "postgresql"
    assert "strata_test_" in strata_db.url_
"""
    )
    result = pytester.runpytest_subprocess(
        "--strata-schema", "schema.prisma", "-p", "no:cacheprovider", "test_where.py"
    )
    result.assert_outcomes(passed=1)


def test_a_sqlite_url_is_refused_as_a_server(pytester: pytest.Pytester, tmp_path: Path) -> None:
    _project(pytester)
    result = pytester.runpytest_subprocess(
        "--strata-schema",
        "schema.prisma",
        "--strata-url",
        f"file:{tmp_path}/x.db",
        "-p",
        "no:cacheprovider",
        "-k",
        "first",
    )
    result.stdout.fnmatch_lines(["*--strata-url takes a PostgreSQL server URL*"])
