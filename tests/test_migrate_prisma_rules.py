"""SQLite migrations held to the rules of Prisma 7's schema engine (its SQLite renderer,
differ and destructive-change checker), where the shared golden sample has no case: no
foreign keys under relationMode = "prisma", the coalescing row copy, DateTime and
dbgenerated defaults that settle, drop-before-create, copy and index order, RedefineIndex,
the migration.sql warnings header, the history times and the CLI's error output."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import strata
from strata.cli import main
from strata.dialects.sqlite.ddl import SqliteDdl, datetime_literal
from strata.migrate.commands import Migrator
from strata.migrate.diff import diff
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema
from strata.schema.sql import SqlSchema

HEADER = 'datasource db {\n  provider = "sqlite"\n}\n\n'


def script_between(before: str, after: str) -> str:
    dialect = SqliteDdl()
    old = calculate(load_schema(HEADER + before), dialect) if before else SqlSchema()
    return dialect.render_script(diff(old, calculate(load_schema(HEADER + after), dialect)))


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.schema = root / "schema.prisma"
        self.database = root / "dev.db"

    def write(self, models: str, header: str = HEADER) -> None:
        self.schema.write_text(header + models)

    def migrator(self, db: strata.Database) -> Migrator:
        return Migrator(db, self.schema)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.database)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


# -- relationMode = "prisma" ---------------------------------------------------------------

RELATIONS = """model Owner {
  id    Int    @id @default(autoincrement())
  boats Boat[]
  tags  Tag[]
}

model Boat {
  id      Int   @id @default(autoincrement())
  ownerId Int
  owner   Owner @relation(fields: [ownerId], references: [id], onDelete: Cascade)

  @@index([ownerId])
}

model Tag {
  id     Int     @id @default(autoincrement())
  owners Owner[]
}
"""


def test_relation_mode_prisma_creates_no_foreign_keys() -> None:
    """Prisma's calculator adds foreign keys only when the relation mode uses them; the
    join table keeps its unique and B indexes."""
    dialect = SqliteDdl()
    schema = load_schema(
        'datasource db {\n  provider = "sqlite"\n  relationMode = "prisma"\n}\n\n' + RELATIONS
    )
    script = dialect.render_script(diff(SqlSchema(), calculate(schema, dialect)))
    assert script == (
        "-- CreateTable\n"
        'CREATE TABLE "Owner" (\n    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT\n);\n\n'
        "-- CreateTable\n"
        'CREATE TABLE "Boat" (\n'
        '    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n'
        '    "ownerId" INTEGER NOT NULL\n);\n\n'
        "-- CreateTable\n"
        'CREATE TABLE "Tag" (\n    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT\n);\n\n'
        "-- CreateTable\n"
        'CREATE TABLE "_OwnerToTag" (\n    "A" INTEGER NOT NULL,\n    "B" INTEGER NOT NULL\n);\n\n'
        "-- CreateIndex\n"
        'CREATE INDEX "Boat_ownerId_idx" ON "Boat"("ownerId");\n\n'
        "-- CreateIndex\n"
        'CREATE UNIQUE INDEX "_OwnerToTag_AB_unique" ON "_OwnerToTag"("A", "B");\n\n'
        "-- CreateIndex\n"
        'CREATE INDEX "_OwnerToTag_B_index" ON "_OwnerToTag"("B");\n'
    )
    assert "FOREIGN KEY" not in script
    with_keys = script_between("", RELATIONS)
    assert with_keys.count("FOREIGN KEY") == 3


def test_relation_mode_prisma_pushes_and_settles(project: Project) -> None:
    project.write(
        RELATIONS, 'datasource db {\n  provider = "sqlite"\n  relationMode = "prisma"\n}\n\n'
    )
    with strata.connect(project.database, schema=project.schema) as db:
        assert project.migrator(db).push()
        assert project.migrator(db).push() == []
    assert project.rows("SELECT count(*) FROM pragma_foreign_key_list('Boat')") == [(0,)]


# -- optional to required with a default ----------------------------------------------------

OPTIONAL = """model Plant {
  id     Int     @id
  height Int?
  label  String?
}
"""
REQUIRED = """model Plant {
  id     Int    @id
  height Int    @default(5)
  label  String @default("it's")
}
"""


def test_optional_to_required_with_default_coalesces_in_the_copy() -> None:
    assert script_between(OPTIONAL, REQUIRED) == (
        "-- RedefineTables\n"
        "PRAGMA defer_foreign_keys=ON;\n"
        "PRAGMA foreign_keys=OFF;\n"
        'CREATE TABLE "new_Plant" (\n'
        '    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n'
        '    "height" INTEGER NOT NULL DEFAULT 5,\n'
        "    \"label\" TEXT NOT NULL DEFAULT 'it''s'\n"
        ");\n"
        'INSERT INTO "new_Plant" ("height", "id", "label") SELECT coalesce("height", 5) AS '
        '"height", "id", coalesce("label", \'it\'\'s\') AS "label" FROM "Plant";\n'
        'DROP TABLE "Plant";\n'
        'ALTER TABLE "new_Plant" RENAME TO "Plant";\n'
        "PRAGMA foreign_keys=ON;\n"
        "PRAGMA defer_foreign_keys=OFF;\n"
    )


def test_rows_holding_null_survive_becoming_required(project: Project) -> None:
    project.write(OPTIONAL)
    with strata.connect(project.database, schema=project.schema) as db:
        project.migrator(db).dev("init")
        db.execute_raw_('INSERT INTO "Plant" ("id", "height") VALUES (1, NULL), (2, 7)')
        project.write(REQUIRED)
        result = project.migrator(db).dev("required")
        assert result.migration is not None
        assert result.warnings == []
        assert "/*" not in result.script  # a default leaves nothing to warn about
        assert project.migrator(db).dev("again").migration is None
    assert project.rows('SELECT "id", "height", "label" FROM "Plant" ORDER BY "id"') == [
        (1, 5, "it's"),
        (2, 7, "it's"),
    ]


def test_chunked_copy_keeps_the_coalesce() -> None:
    from strata.dialects.sqlite.migrations import row_copy

    statement = 'INSERT INTO "new_T" ("a", "b") SELECT "a", coalesce("b", 5) AS "b" FROM "T"'
    copy = row_copy(statement)
    assert copy is not None
    assert copy.range_sql == (
        'INSERT INTO "new_T" ("a", "b") SELECT "a", coalesce("b", 5) AS "b" FROM "T" '
        "WHERE rowid >= ? AND rowid < ?"
    )


# -- DateTime and dbgenerated defaults --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "prisma"),
    [
        ("2020-01-01T00:00:00Z", "'2020-01-01 00:00:00 +00:00'"),
        ("2020-01-01T00:00:00.000Z", "'2020-01-01 00:00:00 +00:00'"),
        ("2020-01-01T10:20:30.5+02:00", "'2020-01-01 10:20:30.500 +02:00'"),
        ("2020-01-01T10:20:30.1234-05:30", "'2020-01-01 10:20:30.123400 -05:30'"),
        ("2020-01-01T10:20:30.123456789-00:00", "'2020-01-01 10:20:30.123456789 +00:00'"),
    ],
)
def test_datetime_defaults_are_written_as_prisma_writes_them(written: str, prisma: str) -> None:
    """chrono's display of the parsed value: offset kept, fraction in 3, 6 or 9 digits."""
    assert datetime_literal(written) == prisma
    script = script_between(
        "", f'model E {{\n  id Int @id\n  at DateTime @default("{written}")\n}}\n'
    )
    assert f'"at" DATETIME NOT NULL DEFAULT {prisma}\n' in script


@pytest.mark.parametrize(
    "stored_default", ["'2020-01-01 00:00:00 +00:00'", "'2020-01-01T00:00:00Z'"]
)
def test_a_table_with_a_datetime_default_settles(project: Project, stored_default: str) -> None:
    """A table as Prisma made it (or as an earlier strata did) reads back equal."""
    project.write('model E {\n  id Int @id\n  at DateTime @default("2020-01-01T00:00:00Z")\n}\n')
    conn = sqlite3.connect(project.database)
    conn.execute(
        'CREATE TABLE "E" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
        f'"at" DATETIME NOT NULL DEFAULT {stored_default})'
    )
    conn.close()
    with strata.connect(project.database, schema=project.schema) as db:
        assert project.migrator(db).push() == []


DBGENERATED = """model Token {
  id     Int    @id
  secret String @default(dbgenerated("lower(hex(randomblob(16)))"))
  zero   Int    @default(dbgenerated("0"))
  upper  String @default(dbgenerated("(upper('x'))"))
}
"""


def test_dbgenerated_defaults_settle(project: Project) -> None:
    """SQLite keeps an expression default without its outer parentheses; introspection puts
    them back, so neither push nor dev sees a change that is not there."""
    assert '"zero" INTEGER NOT NULL DEFAULT 0' in script_between("", DBGENERATED)
    project.write(DBGENERATED)
    with strata.connect(project.database, schema=project.schema) as db:
        assert project.migrator(db).push()
        assert project.migrator(db).push() == []
    dev = Project(project.root / "dev")
    dev.root.mkdir()
    dev.write(DBGENERATED)
    with strata.connect(dev.database, schema=dev.schema) as db:
        assert dev.migrator(db).dev("init").migration is not None
        assert dev.migrator(db).dev("again").migration is None


# -- step order, copy order, indexes ------------------------------------------------------------


def test_a_rename_that_changes_only_case_drops_before_creating(project: Project) -> None:
    """Prisma matches table names exactly and drops before it creates: SQLite names are
    case-insensitive, so creating "garden" first would find "Garden" in the way."""
    project.write("model Garden {\n  id Int @id\n}\n")
    with strata.connect(project.database, schema=project.schema) as db:
        project.migrator(db).dev("init")
        project.write('model Garden {\n  id Int @id\n\n  @@map("garden")\n}\n')
        result = project.migrator(db).dev("lower")
        assert result.script == (
            "/*\n  Warnings:\n\n"
            "  - You are about to drop the `Garden` table. If the table is not empty, all the "
            "data it contains will be lost.\n\n*/\n"
            "-- DropTable\nPRAGMA foreign_keys=off;\n"
            'DROP TABLE "Garden";\nPRAGMA foreign_keys=on;\n\n'
            '-- CreateTable\nCREATE TABLE "garden" (\n'
            '    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT\n);\n'
        )
        assert project.migrator(db).dev("again").migration is None
    assert project.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'g%'")


def test_the_copy_lists_columns_by_name_and_indexes_follow_prisma_order() -> None:
    before = """model Shed {
  id    Int    @id
  zeta  String
  Beta  String
  alpha String
}

model Bench {
  id   Int    @id
  seat String
}
"""
    after = """model Shed {
  id    Int    @id
  zeta  String
  Beta  String
  alpha String
  added Int

  @@index([zeta])
}

model Bench {
  id   Int    @id
  seat String @unique
}

model Lamp {
  id   Int    @id
  kind String @unique
}
"""
    script = script_between(before, after)
    assert (
        'INSERT INTO "new_Shed" ("Beta", "alpha", "id", "zeta") '
        'SELECT "Beta", "alpha", "id", "zeta" FROM "Shed";\n'
    ) in script
    assert 'CREATE INDEX "Shed_zeta_idx" ON "Shed"("zeta");\n' in script
    headers = re.findall(r"^-- (\w+)\n(?:CREATE [A-Z ]*?(?:TABLE|INDEX) \"(\w+)\")?", script, re.M)
    assert headers == [
        ("CreateTable", "Lamp"),
        ("RedefineTables", ""),
        ("CreateIndex", "Lamp_kind_key"),  # a new table's indexes come first
        ("CreateIndex", "Bench_seat_key"),
    ]


def test_a_renamed_index_is_redefined() -> None:
    before = "model Pot {\n  id Int @id\n  size Int\n\n  @@index([size])\n}\n"
    after = 'model Pot {\n  id Int @id\n  size Int\n\n  @@index([size], map: "pot_size")\n}\n'
    assert script_between(before, after) == (
        '-- RedefineIndex\nDROP INDEX "Pot_size_idx";\nCREATE INDEX "pot_size" ON "Pot"("size");\n'
    )


# -- the migration.sql header and the history table ---------------------------------------


def test_the_warnings_header_is_written_whatever_the_data(project: Project) -> None:
    """Prisma writes migration.sql's header without looking at the data (the migration
    will run on databases other than this empty one)."""
    project.write("model Pot {\n  id Int @id\n  size Int?\n  old String?\n}\n")
    with strata.connect(project.database, schema=project.schema) as db:
        project.migrator(db).dev("init")
        project.write("model Pot {\n  id Int @id\n  size Int\n}\n")
        result = project.migrator(db).dev("tighten", create_only=True)
    assert result.warnings == []  # the live database is empty: nothing is at risk here
    assert result.script.startswith(
        "/*\n  Warnings:\n\n"
        "  - You are about to drop the column `old` on the `Pot` table. All the data in the "
        "column will be lost.\n"
        "  - Made the column `size` on table `Pot` required. This step will fail if there are "
        "existing NULL values in that column.\n\n*/\n-- RedefineTables\n"
    )


def test_history_times_are_stored_as_prisma_7_writes_them(project: Project) -> None:
    project.write("model Pot {\n  id Int @id\n}\n")
    with strata.connect(project.database, schema=project.schema) as db:
        project.migrator(db).dev("init")
    ((started, finished),) = project.rows(
        'SELECT "started_at", "finished_at" FROM "_prisma_migrations"'
    )
    form = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
    assert isinstance(started, str)
    assert form.fullmatch(started)
    assert isinstance(finished, str)
    assert form.fullmatch(finished)
    assert started <= finished


# -- the command line -------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_cli_reports_a_missing_migrations_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    code, output = invoke("migrate", "diff", "--from-migrations", "nowhere", "--to-empty")
    assert code == 1
    assert output == "Error: no migrations folder at nowhere\n"
    code, output = invoke("migrate", "diff", "--from-empty", "--to-schema", "nowhere.prisma")
    assert code == 1
    assert output.startswith("Error: ")


def test_cli_reports_a_migrations_path_that_is_a_file(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DATABASE_URL", "file:./dev.db")
    project.write("model Pot {\n  id Int @id\n}\n")
    (project.root / "migrations").write_text("")
    code, output = invoke("migrate", "dev", "--name", "init")
    assert code == 1
    assert output.startswith("Error: the migrations folder migrations is a file")


def test_cli_prints_one_warning_prefix(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    project.write(
        "model Pot {\n  id Int @id\n}\n",
        'datasource db {\n  provider = "sqlite"\n  referentialIntegrity = "prisma"\n}\n\n',
    )
    code, output = invoke("validate")
    assert code == 0
    assert output.count("warning:") == 1
    assert (
        "schema.prisma:3:3: warning: The `referentialIntegrity` attribute is deprecated." in output
    )


def test_a_failing_step_shows_its_sql_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DATABASE_URL", "file:./dev.db")
    project.write("model Pot {\n  id Int @id\n}\n")
    folder = project.root / "migrations" / "20200101000000_broken"
    folder.mkdir(parents=True)
    (folder / "migration.sql").write_text(
        'CREATE TABLE "Pot" ("id" INTEGER);\nSELECT * FROM nope;\n'
    )
    code, output = invoke("migrate", "deploy")
    assert code == 1
    assert output.count("SELECT * FROM nope") == 1
    assert "no such table: nope" in output


def test_indexes_are_created_in_the_order_prisma_collects_them() -> None:
    """Prisma's parser collects a model's field-level ``@unique`` first, then every
    ``@@index``, then every ``@@unique``, whatever order the block attributes are written in;
    its CreateIndex steps follow that order."""
    script = script_between(
        "",
        """model Entry {
  id    Int    @id
  slug  String @unique
  a     Int
  b     Int

  @@unique([a, b])
  @@index([b])
  @@unique([b, a], map: "second_unique")
  @@index([a])
}
""",
    )
    created = re.findall(r'CREATE (?:UNIQUE )?INDEX "([^"]+)"', script)
    assert created == [
        "Entry_slug_key",
        "Entry_b_idx",
        "Entry_a_idx",
        "Entry_a_b_key",
        "second_unique",
    ]
