"""``strata db pull`` on SQLite: a schema written from a live database round-trips (the
pulled schema calculates to exactly the tables the database holds, so ``migrate diff``
finds nothing), and pulling into an existing schema keeps what the database cannot tell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import strata
from strata.cli import main
from strata.migrate.commands import Migrator
from strata.migrate.diff import diff
from strata.migrate.runner import apply_script
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema
from strata.schema.format import format_text
from support import needs_shared, shared_folder

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"
FEATURES = shared_folder("prisma-ddl") / "features"
SQLITE_SCHEMAS = sorted(p for p in SCHEMAS.glob("*.prisma") if ".postgresql." not in p.name)
BARE = 'datasource db {\n  provider = "sqlite"\n}\n'


def _pulled_round_trips(db: strata.Database, schema_file: Path) -> str:
    """Pull into ``schema_file``, and check that the result describes the database."""
    migrator = Migrator(db, schema_file)
    text = migrator.pull()
    pulled = calculate(load_schema(text), db.dialect_.ddl)
    assert diff(migrator.live(), pulled) == []
    return text


@pytest.mark.parametrize("schema", SQLITE_SCHEMAS, ids=lambda p: p.stem)
def test_a_fresh_pull_of_each_seed_database_round_trips(tmp_path: Path, schema: Path) -> None:
    with strata.connect(tmp_path / "app.db", schema=schema) as db:
        db.migrate_.push()
        bare = tmp_path / "schema.prisma"
        bare.write_text(BARE)
        text = _pulled_round_trips(db, bare)
    models = {m.table for m in load_schema(text).models}
    assert models == {m.table for m in load_schema(schema.read_text()).models}


@pytest.mark.parametrize("schema", SQLITE_SCHEMAS, ids=lambda p: p.stem)
def test_pulling_into_the_schema_that_made_the_database_changes_nothing(
    tmp_path: Path, schema: Path
) -> None:
    with strata.connect(tmp_path / "app.db", schema=schema) as db:
        db.migrate_.push()
        assert Migrator(db, schema).pull() == format_text(schema.read_text())


def test_pulling_after_a_change_keeps_the_rest_and_adds_the_new_table(tmp_path: Path) -> None:
    schema = SCHEMAS / "render_manager.prisma"
    with strata.connect(tmp_path / "app.db", schema=schema) as db:
        db.migrate_.push()
        db.execute_script_(
            'CREATE TABLE "render nodes" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
            '"host name" TEXT NOT NULL, "userId" TEXT, "weight" REAL NOT NULL DEFAULT 1.5, '
            '"seen" DATETIME DEFAULT CURRENT_TIMESTAMP, "note" VARCHAR(20), '
            'CONSTRAINT "render nodes_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" '
            '("id") ON DELETE SET NULL ON UPDATE CASCADE);'
            'CREATE UNIQUE INDEX "render nodes_host name_key" ON "render nodes"("host name");'
        )
        text = _pulled_round_trips(db, schema)
    pulled = load_schema(text)
    original = load_schema(schema.read_text())
    # The untouched models are kept as written: enum fields, client-side defaults.
    job = pulled.model("Job")
    assert job == original.model("Job")
    node = next(m for m in pulled.models if m.table == "render nodes")
    assert node.name == "Render_nodes"
    assert {f.column: f.name for f in node.scalar_fields}["host name"] == "host_name"
    assert node.field("note").unsupported == "VARCHAR(20)"  # type: ignore[union-attr]
    # The User model, referred to by the new table, gains the back relation.
    user = pulled.model("User")
    assert any(getattr(f, "target", None) == "Render_nodes" for f in user.fields)
    assert "enum JobStatus" in text


@needs_shared(FEATURES)
@pytest.mark.parametrize(
    "feature",
    sorted(p.parent for p in FEATURES.glob("*/sqlite.sql")) if FEATURES.is_dir() else [],
    ids=lambda p: p.name,
)
def test_a_database_prisma_migrated_pulls_and_round_trips(tmp_path: Path, feature: Path) -> None:
    with strata.connect(tmp_path / "app.db") as db:
        apply_script(db, (feature / "sqlite.sql").read_text())
        bare = tmp_path / "schema.prisma"
        bare.write_text(BARE)
        _pulled_round_trips(db, bare)


def test_a_join_table_whose_sides_the_model_names_would_swap_is_refused(tmp_path: Path) -> None:
    """Prisma tells a many-to-many table's columns apart by the order of the model names;
    a table whose names sort the other way cannot be described, and is not guessed at."""
    with strata.connect(tmp_path / "app.db") as db:
        db.execute_script_(
            'CREATE TABLE "zeta" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT);'
            'CREATE TABLE "alpha" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT);'
            'CREATE TABLE "_Links" ("A" INTEGER NOT NULL, "B" INTEGER NOT NULL, '
            'FOREIGN KEY ("A") REFERENCES "zeta" ("id") ON DELETE CASCADE ON UPDATE CASCADE, '
            'FOREIGN KEY ("B") REFERENCES "alpha" ("id") ON DELETE CASCADE ON UPDATE CASCADE);'
        )
        bare = tmp_path / "schema.prisma"
        bare.write_text(BARE)
        with pytest.raises(strata.ConfigurationError, match="'Zeta' sorts after 'Alpha'"):
            Migrator(db, bare).pull()


def test_the_cli_prints_or_rewrites_the_schema_file(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(BARE + "\nmodel Gone {\n  id Int @id\n}\n")
    with strata.connect(tmp_path / "dev.db") as db:
        db.execute_script_('CREATE TABLE "Crate" ("id" TEXT NOT NULL PRIMARY KEY, "n" INTEGER);')
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        env = {"DATABASE_URL": f"file:{tmp_path / 'dev.db'}"}
        printed = runner.invoke(main, ["db", "pull", "--schema", str(schema), "--print"], env=env)
        assert printed.exit_code == 0, printed.output
        assert "model Crate {" in printed.output
        assert "model Gone" not in printed.output
        assert "model Gone" in schema.read_text()  # --print leaves the file alone
        written = runner.invoke(main, ["db", "pull", "--schema", str(schema)], env=env)
        assert written.exit_code == 0, written.output
    finally:
        os.chdir(cwd)
    assert schema.read_text() == printed.output
    assert load_schema(schema.read_text()).model("Crate").field("n").optional  # type: ignore[union-attr]
