"""SQLite DDL, byte for byte against Prisma's own output, and deviations where Prisma's
output would not work."""

from __future__ import annotations

from pathlib import Path

import pytest

import strata
from strata.dialects.sqlite.ddl import SqliteDdl
from strata.migrate.diff import diff
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema, load_schema_file
from strata.schema.sql import SqlSchema
from support import (
    matches_prisma_evolution,
    matches_prisma_from_empty,
    needs_shared,
    prisma_ddl_cases,
    shared_folder,
)

PRISMA_DDL = shared_folder("prisma-ddl")
needs_fixtures = needs_shared(PRISMA_DDL)


def script_for(schema_text: str) -> str:
    schema = load_schema(schema_text)
    return SqliteDdl().render_script(diff(SqlSchema(), calculate(schema, SqliteDdl())))


def features() -> list[Path]:
    return prisma_ddl_cases("features")


def evolutions() -> list[Path]:
    return prisma_ddl_cases("evolutions")


@needs_fixtures
@pytest.mark.parametrize("folder", features(), ids=lambda p: p.name)
def test_create_from_empty_matches_prisma(folder: Path) -> None:
    matches_prisma_from_empty(folder, "sqlite", SqliteDdl())


@needs_fixtures
@pytest.mark.parametrize("folder", evolutions(), ids=lambda p: p.name)
def test_evolution_matches_prisma(folder: Path) -> None:
    matches_prisma_evolution(folder, "sqlite", SqliteDdl())


@needs_fixtures
@pytest.mark.parametrize("folder", features() + evolutions(), ids=lambda p: p.name)
def test_scripts_run_on_a_fresh_database(folder: Path) -> None:
    """Every script we emit for the fixtures runs, and introspecting the result gives back
    the tables the schema calls for (so a second migration would be empty)."""
    from strata.dialects.sqlite.introspect import introspect
    from strata.migrate.runner import apply_script

    schema_file = folder / (
        "sqlite.prisma" if folder.parent.name == "features" else "to.sqlite.prisma"
    )
    if not (folder / "sqlite.sql").exists() and folder.parent.name == "features":
        pytest.skip("Prisma rejects this schema")
    dialect = SqliteDdl()
    target = calculate(load_schema_file(schema_file), dialect)
    with strata.connect(":memory:") as db:
        apply_script(db, dialect.render_script(diff(SqlSchema(), target)))
        assert diff(introspect(db), target) == []


SCALARS = """
datasource db {
  provider = "sqlite"
}
"""


def test_composite_primary_key() -> None:
    script = script_for(
        SCALARS
        + """
model Like {
  postId Int
  userId Int
  @@id([postId, userId])
}
"""
    )
    assert script == (
        "-- CreateTable\n"
        'CREATE TABLE "Like" (\n'
        '    "postId" INTEGER NOT NULL,\n'
        '    "userId" INTEGER NOT NULL,\n'
        "\n"
        '    PRIMARY KEY ("postId", "userId")\n'
        ");\n"
    )


def test_scalar_lists_are_json_text_on_sqlite() -> None:
    script = script_for(
        SCALARS
        + """
model User {
  id   String   @id
  tags String[] @default(["a", "b"])
}
"""
    )
    assert '"tags" TEXT NOT NULL DEFAULT \'["a","b"]\'' in script


def test_bigint_autoincrement_id_works_on_sqlite() -> None:
    """Deviation: SQLite allows AUTOINCREMENT only on INTEGER PRIMARY KEY."""
    script = script_for(
        SCALARS
        + """
model Event {
  id   BigInt @id @default(autoincrement())
  name String
}
"""
    )
    assert '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT' in script
    with strata.connect(":memory:") as db:
        db.execute_script_(script)
        db.execute_raw_('INSERT INTO "Event" ("name") VALUES (?)', "a")
        db.execute_raw_('INSERT INTO "Event" ("name") VALUES (?)', "b")
        assert db.query_raw_('SELECT "id" FROM "Event"', as_tuples=True) == [(1,), (2,)]


def test_dbgenerated_defaults_are_parenthesised() -> None:
    """Deviation: SQLite needs parentheses around an expression default."""
    script = script_for(
        SCALARS
        + """
model Token {
  id      Int    @id
  secret  String @default(dbgenerated("lower(hex(randomblob(16)))"))
}
"""
    )
    assert "DEFAULT (lower(hex(randomblob(16))))" in script
    with strata.connect(":memory:") as db:
        db.execute_script_(script)
        db.execute_raw_('INSERT INTO "Token" ("id") VALUES (1)')
        (row,) = db.query_raw_('SELECT "secret" FROM "Token"', as_tuples=True)
        assert len(row[0]) == 32


def test_defaults_of_each_type() -> None:
    script = script_for(
        SCALARS
        + """
enum Level {
  LOW  @map("low")
  HIGH
}

model Settings {
  id      Int      @id
  name    String   @default("it's")
  on      Boolean  @default(true)
  ratio   Float    @default(1.5)
  whole   Float    @default(1)
  count   BigInt   @default(42)
  level   Level    @default(LOW)
  seen    DateTime @default(now())
  token   String   @default(cuid())
}
"""
    )
    for expected in (
        """"name" TEXT NOT NULL DEFAULT 'it''s'""",
        '"on" BOOLEAN NOT NULL DEFAULT true',
        '"ratio" REAL NOT NULL DEFAULT 1.5',
        '"whole" REAL NOT NULL DEFAULT 1,',
        '"count" BIGINT NOT NULL DEFAULT 42',
        """"level" TEXT NOT NULL DEFAULT 'low'""",
        '"seen" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP',
        '"token" TEXT NOT NULL\n',
    ):
        assert expected in script
