"""Migrations on a real PostgreSQL server (tests/postgres.py starts one per session, a fresh
database per test): Prisma's ``_prisma_migrations``, one transaction per migration, the
advisory lock, the shadow database, reset, resolve, ``db execute`` and provider mismatches."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import strata
from strata.cli import main
from strata.dialects import dialect_for
from strata.dialects.postgresql import migrations as pg_migrations
from strata.dialects.postgresql.ddl import PostgresDdl
from strata.engine import Engine
from strata.errors import ConfigurationError, MigrationError
from strata.migrate import history
from strata.migrate.commands import Migrator, diff_script, read_source
from strata.migrate.diff import diff
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema

HEADER = 'datasource db {\n  provider = "postgresql"\n}\n\n'

V1 = (
    HEADER
    + """enum Role {
  USER
  ADMIN
  GUEST
}

model Author {
  id    Int    @id @default(autoincrement())
  email String @unique
  role  Role   @default(USER)
  books Book[]
}

model Book {
  id       Int    @id @default(autoincrement())
  title    String
  authorId Int
  author   Author @relation(fields: [authorId], references: [id], onDelete: Cascade)
}
"""
)
V2 = V1.replace("  email String @unique\n", "  email String @unique\n  nickname String?\n")
#: Removes an enum value: Prisma's AlterEnum recreate dance, inside BEGIN; ... COMMIT;.
V3 = V2.replace("  GUEST\n", "")


class Project:
    """A PostgreSQL project: a schema file, a migrations folder written from the schema's
    versions with strata's PostgreSQL DDL (as `migrate dev` would), and the database."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.schema = root / "schema.prisma"
        self.migrations = root / "migrations"
        self._previous = ""
        self._count = 0

    def add_migration(self, schema_text: str, name: str, extra: str = "") -> str:
        """Write the migration from the previous version to ``schema_text``."""
        dialect = dialect_for("postgresql")
        before_file = self.root / "before.prisma"
        before_file.write_text(self._previous)
        before = read_source("schema", str(before_file), dialect) if self._previous else None
        self.schema.write_text(schema_text)
        after = read_source("schema", str(self.schema), dialect)
        _, script = diff_script(before or read_source("empty", None), after, dialect)
        self._previous = schema_text
        return self.add_script(script + extra, name)

    def add_script(self, script: str, name: str) -> str:
        self._count += 1
        folder = self.migrations / f"2026010100000{self._count}_{name}"
        folder.mkdir(parents=True)
        (folder / "migration.sql").write_text(script)
        lock = self.migrations / history.LOCK_FILE
        if not lock.exists():
            lock.write_text('provider = "postgresql"\n')
        return folder.name

    def migrator(self, engine: Engine) -> Migrator:
        return Migrator(engine, self.schema, self.migrations)


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    with Engine.open_(pg_url) as engine:
        yield engine


@pytest.fixture
def project(tmp_path: Path, pg_url: str) -> Project:
    return Project(tmp_path, pg_url)


def one(engine: Engine, sql: str, *params: Any) -> Any:
    return engine.query_raw_(sql, *params, as_tuples=True)[0][0]


def tables(engine: Engine, schema: str = "public") -> list[str]:
    rows = engine.query_raw_(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
        schema,
        as_tuples=True,
    )
    return [name for (name,) in rows]


# -- the history table -------------------------------------------------------------------------


def test_history_table_is_prismas_and_holds_timestamptz_values(
    project: Project, pg: Engine
) -> None:
    name = project.add_migration(V1, "init")
    before = datetime.now(UTC)
    assert project.migrator(pg).deploy() == [name]
    columns = pg.query_raw_(
        "SELECT column_name::text, data_type::text, character_maximum_length, is_nullable::text,"
        " column_default::text FROM information_schema.columns "
        "WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position",
        as_tuples=True,
    )
    assert columns == [
        ("id", "character varying", 36, "NO", None),
        ("checksum", "character varying", 64, "NO", None),
        ("finished_at", "timestamp with time zone", None, "YES", None),
        ("migration_name", "character varying", 255, "NO", None),
        ("logs", "text", None, "YES", None),
        ("rolled_back_at", "timestamp with time zone", None, "YES", None),
        ("started_at", "timestamp with time zone", None, "NO", "now()"),
        ("applied_steps_count", "integer", None, "NO", "0"),
    ]
    assert (
        one(
            pg,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = '_prisma_migrations'::regclass AND contype = 'p'",
        )
        == "PRIMARY KEY (id)"
    )
    (row,) = pg.query_raw_('SELECT * FROM "_prisma_migrations"')
    assert row["migration_name"] == name
    assert row["checksum"] == history.checksum(
        (project.migrations / name / "migration.sql").read_text()
    )
    assert row["applied_steps_count"] == 1
    assert row["logs"] is None
    assert row["rolled_back_at"] is None
    assert isinstance(row["started_at"], datetime)
    assert row["started_at"].utcoffset() is not None
    assert before <= row["started_at"] <= row["finished_at"] <= datetime.now(UTC)
    assert project.migrator(pg).status().up_to_date
    assert tables(pg) == ["Author", "Book", "_prisma_migrations"]


def test_write_migration_locks_the_folder_to_postgresql(tmp_path: Path) -> None:
    history.write_migration(tmp_path, "init", "SELECT 1;\n", dialect_for("postgresql").provider)
    assert (tmp_path / history.LOCK_FILE).read_text().endswith('provider = "postgresql"\n')


# -- one transaction per migration -------------------------------------------------------------


def test_a_failing_migration_leaves_the_database_as_it_was_and_is_recorded(
    project: Project, pg: Engine
) -> None:
    first = project.add_migration(V1, "init")
    broken = project.add_script(
        'CREATE TABLE "Extra" ("id" INTEGER NOT NULL);\n'
        'ALTER TABLE "Author" ADD COLUMN "nickname" TEXT;\n'
        'INSERT INTO "Nowhere" VALUES (1);\n',
        "broken",
    )
    migrator = project.migrator(pg)
    with pytest.raises(MigrationError, match=r"Migration `.*_broken` failed and was rolled back"):
        migrator.deploy()
    # Nothing of the failed migration is left: DDL rolled back with it.
    assert tables(pg) == ["Author", "Book", "_prisma_migrations"]
    assert "nickname" not in {
        name
        for (name,) in pg.query_raw_(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'Author'",
            as_tuples=True,
        )
    }
    rows = pg.query_raw_(
        "SELECT migration_name, finished_at, rolled_back_at, applied_steps_count, logs "
        'FROM "_prisma_migrations" ORDER BY started_at'
    )
    assert [r["migration_name"] for r in rows] == [first, broken]
    failed = rows[1]
    assert failed["finished_at"] is None
    assert failed["rolled_back_at"] is None
    assert failed["applied_steps_count"] == 0
    assert 'relation "Nowhere" does not exist' in failed["logs"]
    assert 'INSERT INTO "Nowhere"' in failed["logs"]
    state = migrator.status()
    assert state.failed == [broken]
    assert not state.up_to_date
    # Deploy refuses until the failure is resolved; then the fixed migration applies.
    with pytest.raises(MigrationError, match="failed earlier"):
        migrator.deploy()
    migrator.resolve(rolled_back=broken)
    script = project.migrations / broken / "migration.sql"
    script.write_text(script.read_text().replace('INSERT INTO "Nowhere" VALUES (1);\n', ""))
    assert migrator.deploy() == [broken]
    assert tables(pg) == ["Author", "Book", "Extra", "_prisma_migrations"]
    assert migrator.status().up_to_date


def test_the_alter_enum_dance_runs_inside_the_migration_transaction(
    project: Project, pg: Engine
) -> None:
    """Prisma brackets the enum recreation in BEGIN/COMMIT; here the migration's own
    transaction holds it, so a failure after the COMMIT still undoes the enum change."""
    project.add_migration(V1, "init")
    project.add_migration(V2, "nickname")
    migrator = project.migrator(pg)
    migrator.deploy()
    pg.execute_raw_('INSERT INTO "Author" (email, role) VALUES ($1, $2)', "a@x", "ADMIN")
    name = project.add_migration(V3, "drop_guest", extra="\nSELECT 1 / 0;\n")
    script = (project.migrations / name / "migration.sql").read_text()
    assert "-- AlterEnum\nBEGIN;\n" in script
    assert "COMMIT;\n" in script
    with pytest.raises(MigrationError, match="division by zero"):
        migrator.deploy()
    labels = 'SELECT enum_range(NULL::"Role")::text'
    assert one(pg, labels) == "{USER,ADMIN,GUEST}"
    assert one(pg, "SELECT count(*) FROM pg_type WHERE typname IN ('Role_new', 'Role_old')") == 0
    migrator.resolve(rolled_back=name)
    path = project.migrations / name / "migration.sql"
    path.write_text(path.read_text().replace("\nSELECT 1 / 0;\n", ""))
    assert migrator.deploy() == [name]
    assert one(pg, labels) == "{USER,ADMIN}"
    assert one(pg, 'SELECT role::text FROM "Author"') == "ADMIN"
    assert (
        one(
            pg,
            "SELECT column_default::text FROM information_schema.columns "
            "WHERE table_name = 'Author' AND column_name = 'role'",
        )
        == "'USER'::\"Role\""
    )


def test_scripts_split_as_postgresql_reads_them() -> None:
    script = (
        "/*\n  Warnings:\n  - a; b\n*/\n"
        "-- CreateFunction\n"
        "CREATE FUNCTION f() RETURNS trigger AS $body$\nBEGIN\n  PERFORM 1; RETURN NEW;\nEND;\n"
        "$body$ LANGUAGE plpgsql;\n"
        "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$;\n"
        "SELECT 'it''s; fine', E'back\\'slash;', \"odd;name\" FROM t /* a; /* nested; */ b */;\n"
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
        "  SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT 3;\nEND;\n"
        "SELECT $1 + a$b FROM t; -- trailing; comment\n"
        "BEGIN;\nCOMMIT;\n-- only a comment\n"
    )
    statements = list(pg_migrations.split_statements(script))
    assert statements == [
        "CREATE FUNCTION f() RETURNS trigger AS $body$\nBEGIN\n  PERFORM 1; RETURN NEW;\nEND;\n"
        "$body$ LANGUAGE plpgsql",
        "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$",
        "SELECT 'it''s; fine', E'back\\'slash;', \"odd;name\" FROM t /* a; /* nested; */ b */",
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
        "  SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT 3;\nEND",
        "SELECT $1 + a$b FROM t",
        "BEGIN",
        "COMMIT",
    ]
    around = [pg_migrations.handled_around_script(s) for s in statements]
    assert around == [False] * 5 + [True, True]
    assert not any(pg_migrations.turns_foreign_keys_off(s) for s in statements)


@pytest.mark.parametrize(
    "control",
    ["ROLLBACK;", "SAVEPOINT a;", "COMMIT AND CHAIN;", "BEGIN ISOLATION LEVEL SERIALIZABLE;"],
)
def test_other_transaction_control_in_a_script_is_refused(control: str) -> None:
    with pytest.raises(MigrationError, match="controls its transaction itself"):
        list(pg_migrations.split_statements(f"CREATE TABLE a (id int);\n{control}\n"))


def test_functions_and_dollar_quotes_apply(project: Project, pg: Engine) -> None:
    project.add_migration(V1, "init")
    project.add_script(
        "-- CreateFunction\n"
        "CREATE FUNCTION lower_email() RETURNS trigger AS $$\nBEGIN\n"
        "  NEW.email := lower(NEW.email); RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n\n"
        'CREATE TRIGGER "Author_lower" BEFORE INSERT ON "Author"\n'
        "FOR EACH ROW EXECUTE FUNCTION lower_email();\n",
        "trigger",
    )
    project.migrator(pg).deploy()
    pg.execute_raw_('INSERT INTO "Author" (email) VALUES ($1)', "Mixed@Case.IO")
    assert one(pg, 'SELECT email FROM "Author"') == "mixed@case.io"


# -- the advisory lock -------------------------------------------------------------------------

#: Run by each deployer: wait for the start signal, deploy, print what it applied.
DEPLOYER = """
import json, sys, time
from pathlib import Path
import strata
from strata.migrate.commands import Migrator
project, url, start = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
with strata.connect(url) as db:
    migrator = Migrator(db, project / "schema.prisma", project / "migrations")
    while not start.exists():
        time.sleep(0.001)
    print(json.dumps(migrator.deploy()))
"""


@pytest.mark.slow
def test_deployers_started_together_apply_each_migration_once(project: Project) -> None:
    names = [
        project.add_migration(V1, "init", extra="\nSELECT pg_sleep(0.5);\n"),
        project.add_migration(V2, "nickname"),
        project.add_migration(V3, "drop_guest"),
    ]
    start = project.root / "start"
    deployers = [
        subprocess.Popen(
            [sys.executable, "-c", DEPLOYER, str(project.root), project.url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(1.0)  # every deployer is connected and waiting for the signal
    start.touch()
    applied: list[str] = []
    for deployer in deployers:
        out, err = deployer.communicate(timeout=120)
        assert deployer.returncode == 0, err
        applied.extend(json.loads(out))
    assert sorted(applied) == names
    with Engine.open_(project.url) as pg:
        rows = pg.query_raw_(
            "SELECT migration_name, finished_at IS NOT NULL AS done, logs "
            'FROM "_prisma_migrations" ORDER BY migration_name',
            as_tuples=True,
        )
        assert rows == [(name, True, None) for name in names]
        # The lock is released: nobody holds it any more.
        assert one(pg, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


def test_deploy_waits_for_the_advisory_lock(project: Project, pg: Engine) -> None:
    """Another holder of Prisma's lock (72707369), e.g. `prisma migrate deploy`, keeps
    deploy waiting until it lets go."""
    name = project.add_migration(V1, "init")
    with Engine.open_(project.url, readers=1) as holder:
        holder.query_raw_("SELECT pg_advisory_lock(72707369)")
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(project.migrator(pg).deploy()))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive()
        assert not result
        assert tables(pg) == []
        holder.query_raw_("SELECT pg_advisory_unlock(72707369)")
        worker.join(30)
    assert result == [[name]]


def test_a_held_lock_times_out_with_a_clear_error(
    project: Project, pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.add_migration(V1, "init")
    monkeypatch.setattr(pg_migrations, "LOCK_TIMEOUT_MS", 200)
    with Engine.open_(project.url, readers=1) as holder:
        holder.query_raw_("SELECT pg_advisory_lock(72707369)")
        with pytest.raises(
            MigrationError,
            match=r"Could not take the migration lock \(SELECT pg_advisory_lock\(72707369\)\)",
        ):
            project.migrator(pg).deploy()
    assert tables(pg) == []


# -- reset, resolve, the URL's schema ------------------------------------------------------------


def test_reset_drops_and_recreates_the_schema(project: Project, pg: Engine) -> None:
    project.add_migration(V1, "init")
    migrator = project.migrator(pg)
    migrator.deploy()
    pg.execute_script_(
        'CREATE TABLE "Stray" (id int); CREATE VIEW "StrayView" AS SELECT 1 AS one;'
        "INSERT INTO \"Author\" (email) VALUES ('a@x')"
    )
    applied = migrator.reset(force=True, seed=False)
    assert len(applied) == 1
    assert tables(pg) == ["Author", "Book", "_prisma_migrations"]
    assert one(pg, 'SELECT count(*) FROM "Author"') == 0
    assert one(pg, "SELECT count(*) FROM pg_views WHERE schemaname = 'public'") == 0
    assert one(pg, 'SELECT count(*) FROM "_prisma_migrations"') == 1


def test_reset_of_a_multi_schema_project_resets_its_schemas(project: Project, pg: Engine) -> None:
    schema = (
        'datasource db {\n  provider = "postgresql"\n  schemas  = ["base", "shop"]\n}\n\n'
        'model User {\n  id Int @id\n\n  @@schema("base")\n}\n\n'
        'model Order {\n  id Int @id\n\n  @@schema("shop")\n}\n'
    )
    project.add_migration(schema, "init")
    migrator = project.migrator(pg)
    migrator.deploy()
    assert tables(pg, "base") == ["User"]
    assert tables(pg, "shop") == ["Order"]
    pg.execute_script_('CREATE TABLE shop."Stray" (id int); CREATE TABLE public."Kept" (id int)')
    migrator.reset(force=True, seed=False)
    assert tables(pg, "shop") == ["Order"]
    # Prisma resets the declared schemas and drops the history table, nothing else.
    assert tables(pg) == ["Kept", "_prisma_migrations"]


def test_a_multi_schema_project_reads_its_own_schemas(project: Project, pg: Engine) -> None:
    """The migrator introspects the schemas the datasource declares, so a deployed
    multi-schema project has no drift and a push after it changes nothing."""
    schema = (
        'datasource db {\n  provider = "postgresql"\n  schemas  = ["base", "shop"]\n}\n\n'
        'model User {\n  id     Int     @id\n  orders Order[]\n\n  @@schema("base")\n}\n\n'
        "model Order {\n  id     Int  @id\n  userId Int\n  user   User @relation(fields: [userId], "
        'references: [id])\n\n  @@schema("shop")\n}\n'
    )
    project.add_migration(schema, "init")
    migrator = project.migrator(pg)
    migrator.deploy()
    assert {t.name for t in migrator.live().tables} == {"User", "Order"}
    assert migrator.push() == []


def test_an_extension_installed_by_hand_is_not_drift(project: Project, pg: Engine) -> None:
    """Without the ``postgresqlExtensions`` preview feature the schema does not manage
    extensions, so one installed by hand is none of the migrator's business (as in Prisma)."""
    schema = 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Note {\n  id Int @id\n}\n'
    project.add_migration(schema, "init")
    migrator = project.migrator(pg)
    migrator.deploy()
    pg.execute_script_("CREATE EXTENSION hstore")
    assert migrator.live().extensions == ()
    assert migrator.push() == []


def test_push_refuses_to_drop_a_column_holding_data(project: Project, pg: Engine) -> None:
    """An in-place change is checked for data loss as a redefinition is: dropping a column
    with values, or making a column with NULLs required (a default does not fill them on
    PostgreSQL), stops ``db push``."""
    header = 'datasource db {\n  provider = "postgresql"\n}\n\n'
    project.schema.write_text(
        header + "model Note {\n  id   Int     @id\n  body String?\n  tag  String?\n}\n"
    )
    migrator = project.migrator(pg)
    migrator.push()
    pg.execute_raw_('INSERT INTO "Note" (id, body) VALUES (1, $1), (2, NULL)', "kept")
    project.schema.write_text(
        header + 'model Note {\n  id  Int    @id\n  tag String @default("x")\n}\n'
    )
    with pytest.raises(MigrationError) as refused:
        migrator.push()
    message = " ".join(str(refused.value).split())
    assert (
        "You are about to drop the column `body` on the `Note` table, which still contains "
        "1 non-null values." in message
    )
    assert (
        "Made the column `tag` on table `Note` required, but there are 2 existing NULL values."
        in message
    )
    assert one(pg, 'SELECT count(*) FROM "Note" WHERE body IS NOT NULL') == 1  # nothing ran


def test_data_loss_is_counted_in_a_tables_own_schema(project: Project, pg: Engine) -> None:
    """A multiSchema table's rows are counted in its schema, not the connection's: dropping
    a table with rows there is a warning, not a silent drop."""
    header = 'datasource db {\n  provider = "postgresql"\n  schemas  = ["shop"]\n}\n\n'
    project.schema.write_text(header + 'model Order {\n  id Int @id\n\n  @@schema("shop")\n}\n')
    migrator = project.migrator(pg)
    migrator.push()
    pg.execute_raw_('INSERT INTO shop."Order" (id) VALUES (1)')
    project.schema.write_text(header + 'model Other {\n  id Int @id\n\n  @@schema("shop")\n}\n')
    with pytest.raises(
        MigrationError, match=r"drop the `Order` table, which is not empty \(1 rows\)"
    ):
        migrator.push()


def test_risky_and_uncastable_type_changes_and_renamed_keys_apply(
    project: Project, pg: Engine
) -> None:
    """On the server: a risky cast (``SET DATA TYPE``) keeps the values, a type without a
    cast drops and adds the column (its values lost, its index made again), and renamed keys
    are renamed; each warning stops ``db push`` until the data loss is accepted, after which
    the database matches the schema (a second push has nothing to do)."""
    header = 'datasource db {\n  provider = "postgresql"\n}\n\n'
    shape = (
        header
        + "model Shelf {\n  id Int @id\n  parts Part[]\n}\n\n"
        + "model Part {\n  id Int @id%s\n  code %s\n  flag %s\n  shelfId Int\n"
        + "  shelf Shelf @relation(fields: [shelfId], references: [id]%s)\n\n"
        + "  @@index([flag])\n}\n"
    )
    project.schema.write_text(shape % ("", "String?", "Boolean?", ""))
    migrator = project.migrator(pg)
    migrator.push()
    pg.execute_raw_('INSERT INTO "Shelf" (id) VALUES (1)')
    pg.execute_raw_('INSERT INTO "Part" (id, code, flag, "shelfId") VALUES (1, $1, true, 1)', "ab")
    project.schema.write_text(
        shape % ('(map: "part_pk")', "String? @db.VarChar(3)", "Int?", ', map: "part_shelf"')
    )
    with pytest.raises(MigrationError) as refused:
        migrator.push()
    message = " ".join(str(refused.value).split())
    assert (
        "You are about to alter the column `code` on the `Part` table, which contains 1 "
        "non-null values. The data in that column will be cast from `TEXT` to `VARCHAR(3)`."
        in message
    )
    assert (
        "The `flag` column on the `Part` table would be dropped and recreated. This will lead "
        "to data loss." in message
    )
    migrator.push(accept_data_loss=True)
    assert pg.query_raw_('SELECT code, flag FROM "Part"', as_tuples=True) == [("ab", None)]
    types = pg.query_raw_(
        "SELECT column_name::text, data_type::text FROM information_schema.columns "
        "WHERE table_name = 'Part' AND column_name IN ('code', 'flag') ORDER BY 1",
        as_tuples=True,
    )
    assert types == [("code", "character varying"), ("flag", "integer")]
    constraints = pg.query_raw_(
        "SELECT conname::text FROM pg_constraint WHERE conrelid = '\"Part\"'::regclass ORDER BY 1",
        as_tuples=True,
    )
    assert constraints == [("part_pk",), ("part_shelf",)]
    assert one(pg, "SELECT count(*) FROM pg_indexes WHERE indexname = 'Part_flag_idx'") == 1
    assert migrator.push() == []


def test_resolve_applied_records_without_running(project: Project, pg: Engine) -> None:
    name = project.add_migration(V1, "init")
    migrator = project.migrator(pg)
    migrator.resolve(applied=name)
    assert tables(pg) == ["_prisma_migrations"]
    assert migrator.status().applied == [name]
    with pytest.raises(MigrationError, match="already recorded as applied"):
        migrator.resolve(applied=name)


def test_deploy_creates_the_urls_schema(project: Project, pg_url: str) -> None:
    """As Prisma's schema engine does on connecting, for ``?schema=`` naming a new one."""
    project.add_migration(V1, "init")
    url = pg_url + "?schema=my%20app"
    with Engine.open_(url) as engine:
        project.migrator(engine).deploy()
        assert tables(engine, "my app") == ["Author", "Book", "_prisma_migrations"]


# -- the shadow database -------------------------------------------------------------------------


def test_the_shadow_database_is_created_on_the_server_and_dropped(
    project: Project, pg: Engine
) -> None:
    project.add_script("DO $$ BEGIN RAISE EXCEPTION 'in %', current_database(); END $$;\n", "where")
    with pytest.raises(MigrationError, match="failed to apply cleanly to the shadow") as caught:
        project.migrator(pg).shadow()
    assert "in prisma_migrate_shadow_db_" in str(caught.value)
    assert one(pg, "SELECT count(*) FROM pg_database WHERE datname LIKE 'prisma_migrate%'") == 0


def test_diff_from_a_postgresql_migrations_folder_needs_a_server(project: Project) -> None:
    project.add_migration(V1, "init")
    with pytest.raises(ConfigurationError, match="--shadow-database-url"):
        read_source("migrations", str(project.migrations), dialect_for("postgresql"))


def test_dev_and_drift_on_the_server(project: Project, pg: Engine) -> None:
    project.schema.write_text(V1)
    migrator = project.migrator(pg)
    result = migrator.dev("init")
    assert result.migration is not None
    assert result.applied == [result.migration]
    assert (
        (project.migrations / history.LOCK_FILE).read_text().endswith('provider = "postgresql"\n')
    )
    project.schema.write_text(V2)
    assert migrator.dev("nickname").migration is not None
    assert migrator.dev("again").migration is None
    assert one(pg, "SELECT count(*) FROM pg_database WHERE datname LIKE 'prisma_migrate%'") == 0
    pg.execute_script_('ALTER TABLE "Author" ADD COLUMN "drifted" TEXT')
    with pytest.raises(MigrationError, match="Drift detected"):
        migrator.dev("more")


# -- db execute, provider mismatches ----------------------------------------------------------


def test_db_execute_runs_a_file_or_stdin(tmp_path: Path, pg_url: str) -> None:
    script = tmp_path / "script.sql"
    script.write_text(
        "CREATE TABLE t (id int);\nDO $$ BEGIN INSERT INTO t VALUES (1); END $$;\n"
        "BEGIN;\nINSERT INTO t VALUES (2);\nCOMMIT;\n"
    )
    runner = CliRunner()
    result = runner.invoke(main, ["db", "execute", "--file", str(script), "--url", pg_url])
    assert result.exit_code == 0, result.output
    assert "Script executed successfully." in result.output
    result = runner.invoke(
        main, ["db", "execute", "--stdin", "--url", pg_url], input="INSERT INTO t VALUES (3);"
    )
    assert result.exit_code == 0, result.output
    with Engine.open_(pg_url) as pg:
        assert one(pg, "SELECT array_agg(id ORDER BY id) FROM t") == [1, 2, 3]
    # A failing script is an error, and (one implicit transaction) leaves nothing behind.
    result = runner.invoke(
        main,
        ["db", "execute", "--stdin", "--url", pg_url],
        input="INSERT INTO t VALUES (4); SELECT 1 / 0;",
    )
    assert result.exit_code == 1
    assert "division by zero" in result.output
    with Engine.open_(pg_url) as pg:
        assert one(pg, "SELECT count(*) FROM t") == 3
    result = runner.invoke(main, ["db", "execute", "--url", pg_url])
    assert result.exit_code == 2
    assert "exactly one of --file" in result.output


def test_db_execute_on_the_schemas_database(tmp_path: Path, pg_url: str) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(f'datasource db {{\n  provider = "postgresql"\n  url = "{pg_url}"\n}}\n')
    result = CliRunner().invoke(
        main, ["db", "execute", "--stdin", "--schema", str(schema)], input="CREATE TABLE s (a int)"
    )
    assert result.exit_code == 0, result.output
    with Engine.open_(pg_url) as pg:
        assert tables(pg) == ["s"]


def test_a_sqlite_history_on_postgresql_is_refused(project: Project, pg: Engine) -> None:
    project.add_migration(V1, "init")
    (project.migrations / history.LOCK_FILE).write_text('provider = "sqlite"\n')
    for command in (
        lambda m: m.deploy(),
        lambda m: m.dev("x"),
        lambda m: m.resolve(applied="x"),
        lambda m: m.reset(force=True, seed=False),
    ):
        with pytest.raises(
            MigrationError, match="The database is `postgresql`, but the migrations"
        ):
            command(project.migrator(pg))
    assert tables(pg) == []


def test_a_schema_for_another_database_is_refused(tmp_path: Path, pg: Engine) -> None:
    """Prisma's rule: the datasource's provider decides which URLs it accepts."""
    sqlite_schema = tmp_path / "sqlite.prisma"
    sqlite_schema.write_text(
        'datasource db {\n  provider = "sqlite"\n}\n\nmodel A {\n  id Int @id\n}\n'
    )
    with pytest.raises(ConfigurationError, match=r"provider is 'sqlite'.*must start with file:"):
        Migrator(pg, sqlite_schema).push()
    pg_schema = tmp_path / "pg.prisma"
    pg_schema.write_text(sqlite_schema.read_text().replace('"sqlite"', '"postgresql"'))
    with strata.connect(tmp_path / "app.db", schema=pg_schema) as db:
        with pytest.raises(
            ConfigurationError, match="must start with postgresql:// or postgres://"
        ):
            db.migrate_.push()
        assert db.query_raw_("SELECT name FROM sqlite_master WHERE type = 'table'") == []


def test_a_postgresql_history_on_sqlite_is_refused(project: Project, tmp_path: Path) -> None:
    project.add_migration(V1, "init")
    with (
        strata.connect(tmp_path / "dev.db") as db,
        pytest.raises(MigrationError, match=r"The database is `sqlite`, but .* `postgresql`"),
    ):
        project.migrator(db).deploy()


def test_the_seed_sees_the_full_url(project: Project, pg_url: str) -> None:
    with_password = pg_url.replace("postgres@", "postgres:secret@")
    dialect = dialect_for("postgresql")
    with Engine.open_(with_password) as engine:
        assert dialect.migrations.seed_url(engine.url_, engine.path_) == with_password


def test_dev_writes_the_enum_recreation_and_applies_it(project: Project, pg: Engine) -> None:
    project.schema.write_text(V2)
    migrator = project.migrator(pg)
    migrator.dev("init")
    pg.execute_raw_('INSERT INTO "Author" (email, role) VALUES ($1, $2)', "a@x", "ADMIN")
    project.schema.write_text(V3)
    result = migrator.dev("drop_guest")
    assert "-- AlterEnum\nBEGIN;\n" in result.script
    assert one(pg, 'SELECT enum_range(NULL::"Role")::text') == "{USER,ADMIN}"
    assert migrator.dev("again").migration is None


def test_push_and_diff_from_a_migrations_folder(project: Project, pg: Engine) -> None:
    project.schema.write_text(V1)
    migrator = project.migrator(pg)
    assert migrator.push()
    assert migrator.push() == []
    project.add_migration(V1, "init")
    result = CliRunner().invoke(
        main,
        [
            "migrate", "diff", "--from-migrations", str(project.migrations),
            "--to-url", project.url, "--shadow-database-url", project.url, "--exit-code",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "No difference detected." in result.output
    assert one(pg, "SELECT count(*) FROM pg_database WHERE datname LIKE 'prisma_migrate%'") == 0


SEEDS = sorted((Path(__file__).resolve().parents[1] / "schema").glob("*.postgresql.prisma"))
EVOLUTION = """
model StrataEvolution {
  id      Int      @id @default(autoincrement())
  note    String?  @db.VarChar(120)
  tags    String[]
  addedAt DateTime @default(now()) @db.Timestamptz(3)

  @@index([addedAt])
}
"""


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name.split(".")[0])
def test_each_seed_system_migrates_evolves_and_pulls_back_on_the_server(
    tmp_path: Path, pg: Engine, seed: Path
) -> None:
    """The seed systems in their own dialect: ``migrate dev`` from empty on the server
    (shadow database included), an evolution, no drift or pending step after either, and a
    ``db pull`` of the result that describes the database exactly."""
    schema = tmp_path / "schema.prisma"
    schema.write_text(seed.read_text())
    migrator = Migrator(pg, schema, tmp_path / "migrations")
    first = migrator.dev("init")
    assert first.migration is not None
    assert diff(migrator.live(), migrator.target(), PostgresDdl()) == []
    schema.write_text(seed.read_text() + EVOLUTION)
    second = migrator.dev("evolve")
    assert second.migration is not None
    assert "-- CreateTable" in second.script
    assert diff(migrator.live(), migrator.target(), PostgresDdl()) == []
    assert migrator.status().pending == []
    pulled = load_schema(migrator.pull())
    assert diff(migrator.live(), calculate(pulled, PostgresDdl()), PostgresDdl()) == []
