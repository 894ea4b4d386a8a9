"""PostgreSQL extensions (``extensions = [...]`` with preview feature ``postgresqlExtensions``)
end to end: the scripts, by the rules of Prisma's PostgreSQL renderer and differ (the shared
sample has no extensions), then on a real server: applied, read back, pulled.

The rules, from prisma-engines' schema engine:

* ``render_create_extension``: ``CREATE EXTENSION IF NOT EXISTS "name"``, then `` WITH`` when
  a schema or version is given, `` SCHEMA "s"``, `` VERSION "v"`` (the version is quoted as an
  identifier); ``render_drop_extension``: ``DROP EXTENSION "name"``;
  ``render_alter_extension``: ``ALTER EXTENSION "name" UPDATE TO "v"`` then
  ``... SET SCHEMA "s"``, one statement each, in one step.
* ``SqlMigrationStep``'s variant order: CreateSchema, DropExtension, CreateExtension,
  AlterExtension, then the enums and tables; steps of a kind by the extension's position,
  and the parser sorts the datasource's extensions by identifier.
* ``push_extension_steps``: extensions pair by name and match when version and schema are
  equal or left open on either side; a mismatched pair is altered when either side is
  relocatable, else dropped and created again; an extension no longer listed gets no step.
* ``add_extensions`` (re-introspection): only with the preview feature; listed extensions are
  kept with the arguments written (updated to the database's values), unlisted ones only from
  Prisma's allow list (``citext``, ``postgis``, ``pg_crypto``, ``uuid-ossp``) with their schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import strata
from strata.dialects import PostgresDialect
from strata.dialects.postgresql.ddl import PostgresDdl
from strata.dialects.postgresql.introspect import introspect
from strata.engine import Engine
from strata.migrate.diff import diff
from strata.migrate.pull import pull
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema
from strata.schema.parser import parse
from strata.schema.sql import Extension, SqlSchema

DDL = PostgresDdl()
DIALECT = PostgresDialect()

GENERATOR = (
    'generator client {\n  provider        = "prisma-client"\n'
    '  previewFeatures = ["postgresqlExtensions"]\n}\n\n'
)
MODEL = "\nmodel Note {\n  id   Int    @id\n  body String @db.Citext\n}\n"


def schema_text(extensions: str | None, *, preview: bool = True) -> str:
    datasource = 'datasource db {\n  provider   = "postgresql"\n'
    if extensions is not None:
        datasource += f"  extensions = [{extensions}]\n"
    return (GENERATOR if preview else "") + datasource + "}\n" + MODEL


def calculated(extensions: str | None) -> SqlSchema:
    return calculate(load_schema(schema_text(extensions)), DDL)


def script(before: SqlSchema, after: SqlSchema) -> str:
    return DDL.render_script(diff(before, after, DDL))


# -- the schema ---------------------------------------------------------------------------------


def test_extension_entries_reach_the_ir() -> None:
    schema = load_schema(
        schema_text('citext, uuid_ossp(map: "uuid-ossp", schema: "public", version: "1.1")')
    )
    assert [(e.name, e.db_name, e.db_schema, e.version) for e in schema.extensions] == [
        ("citext", "citext", None, None),
        ("uuid_ossp", "uuid-ossp", "public", "1.1"),
    ]


def test_extensions_need_the_preview_feature() -> None:
    with pytest.raises(strata.SchemaError, match="postgresqlExtensions"):
        load_schema(schema_text("citext", preview=False))


def test_sqlite_has_no_extensions_property() -> None:
    text = 'datasource db {\n  provider   = "sqlite"\n  extensions = [citext]\n}\n'
    with pytest.raises(strata.SchemaError, match='Property not known: "extensions"'):
        load_schema(GENERATOR + text)


# -- scripts (Prisma's renderer and differ rules, see the module docstring) ---------------------


def test_from_empty_creates_extensions_after_the_schema_sorted_by_identifier() -> None:
    target = calculated(
        'uuid_ossp(map: "uuid-ossp"), pgcrypto(schema: "public"), '
        'citext(schema: "public", version: "1.6")'
    )
    assert script(SqlSchema(), target) == (
        "-- CreateSchema\n"
        'CREATE SCHEMA IF NOT EXISTS "public";\n'
        "\n"
        "-- CreateExtension\n"
        'CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "public" VERSION "1.6";\n'
        "\n"
        "-- CreateExtension\n"
        'CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "public";\n'
        "\n"
        "-- CreateExtension\n"
        'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\n'
        "\n"
        "-- CreateTable\n"
        'CREATE TABLE "Note" (\n'
        '    "id" INTEGER NOT NULL,\n'
        '    "body" CITEXT NOT NULL,\n'
        "\n"
        '    CONSTRAINT "Note_pkey" PRIMARY KEY ("id")\n'
        ");\n"
    )


def test_a_version_alone_still_takes_with() -> None:
    assert 'CREATE EXTENSION IF NOT EXISTS "citext" WITH VERSION "1.4";' in script(
        SqlSchema(), calculated('citext(version: "1.4")')
    )


def test_an_added_extension_and_a_removed_one() -> None:
    # Removing pgcrypto from the list drops nothing (Prisma never pushes a lone DropExtension).
    assert script(calculated("pgcrypto"), calculated("citext")) == (
        '-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "citext";\n'
    )
    assert script(calculated("citext"), calculated(None)) == "-- This is an empty migration."


def test_an_open_version_or_schema_matches_any() -> None:
    pinned = calculated('citext(schema: "public", version: "1.6")')
    assert diff(pinned, calculated("citext"), DDL) == []
    assert diff(calculated("citext"), pinned, DDL) == []


def test_a_changed_extension_between_schemas_is_dropped_and_created_again() -> None:
    # Both sides are calculated, so neither is relocatable.
    before = calculated('citext(version: "1.5"), pgcrypto')
    after = calculated('citext(version: "1.6"), hstore')
    assert script(before, after) == (
        '-- DropExtension\nDROP EXTENSION "citext";\n'
        "\n"
        '-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "citext" WITH VERSION "1.6";\n'
        "\n"
        '-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "hstore";\n'
    )


def test_a_relocatable_installed_extension_is_altered_in_place() -> None:
    installed = SqlSchema(
        namespaces=("public",),
        extensions=(Extension("citext", "public", "1.6", relocatable=True),),
    )
    target = calculated('citext(schema: "extensions", version: "1.5")')
    assert script(installed, target).startswith(
        "-- AlterExtension\n"
        'ALTER EXTENSION "citext" UPDATE TO "1.5";\n'
        'ALTER EXTENSION "citext" SET SCHEMA "extensions";\n'
    )


# -- a real server ------------------------------------------------------------------------------


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = Engine.open_(pg_url)
    yield engine
    engine.close_()


def available(engine: Engine, *names: str) -> None:
    rows = engine.query_raw_("SELECT name FROM pg_available_extensions", as_tuples=True)
    missing = set(names) - {row[0] for row in rows}
    if missing:
        pytest.skip(f"the server does not ship {sorted(missing)}")


def test_applied_extensions_read_back_and_leave_nothing_to_do(pg: Engine) -> None:
    available(pg, "citext", "pgcrypto")
    text = schema_text('citext(schema: "public"), pgcrypto')
    target = calculate(load_schema(text), DDL)
    pg.execute_script_(script(SqlSchema(), target))
    live = introspect(pg)
    assert [(e.name, e.schema) for e in live.extensions] == [
        ("citext", "public"),
        ("pgcrypto", "public"),
    ]
    assert all(e.version for e in live.extensions)
    assert diff(live, target, DDL) == []
    # Apart from what the schema leaves open, the database is what the schema calculates.
    assert live.tables == target.tables
    assert [e.name for e in live.extensions] == [e.name for e in target.extensions]


def test_a_fresh_database_reads_no_extensions(pg: Engine) -> None:
    # plpgsql is in every database and no schema lists it.
    assert introspect(pg).extensions == ()


def test_pull_round_trips_the_listed_extensions(pg: Engine) -> None:
    available(pg, "citext", "pgcrypto")
    text = schema_text('citext, pgcrypto(schema: "public")')
    schema = load_schema(text)
    target = calculate(schema, DDL)
    pg.execute_script_(script(SqlSchema(), target))
    pulled = pull(introspect(pg), DIALECT, (parse(text), schema, target))
    assert '  extensions = [citext, pgcrypto(schema: "public")]\n' in pulled
    again = calculate(load_schema(pulled), DDL)
    assert again == target
    assert diff(introspect(pg), again, DDL) == []


def test_pull_adds_allow_listed_extensions_and_updates_versions(pg: Engine) -> None:
    available(pg, "citext", "uuid-ossp", "hstore")
    pg.execute_script_(
        'CREATE EXTENSION "uuid-ossp"; CREATE EXTENSION citext; CREATE EXTENSION hstore;'
    )
    version = introspect(pg).extensions[0].version
    text = schema_text('citext(version: "0.1")')
    schema = load_schema(text)
    pulled = pull(introspect(pg), DIALECT, (parse(text), schema, calculate(schema, DDL)))
    # hstore is neither listed nor on Prisma's allow list; uuid-ossp is, under a sanitized name.
    assert (
        f'  extensions = [citext(version: "{version}"), '
        'uuid_ossp(map: "uuid-ossp", schema: "public")]\n'
    ) in pulled
    assert load_schema(pulled).extensions[1].db_name == "uuid-ossp"


def test_pull_without_the_preview_feature_leaves_the_datasource(pg: Engine) -> None:
    available(pg, "citext")
    pg.execute_script_("CREATE EXTENSION citext;")
    text = schema_text(None, preview=False)
    schema = load_schema(text)
    pulled = pull(introspect(pg), DIALECT, (parse(text), schema, calculate(schema, DDL)))
    assert "extensions" not in pulled


def test_pull_drops_extensions_no_longer_installed(pg: Engine) -> None:
    text = schema_text("citext")
    schema = load_schema(text)
    pulled = pull(introspect(pg), DIALECT, (parse(text), schema, calculate(schema, DDL)))
    assert "extensions" not in pulled
    assert "postgresqlExtensions" in pulled
