"""PostgreSQL introspection and ``db pull`` on a real server (tests/postgres.py starts one per
session, and each test gets a database of its own).

A database built by a migration script reads back as exactly the tables the schema calls for
(`strata.migrate.sql_schema.calculate`), so ``migrate diff`` against it finds nothing; and a
schema pulled from it calculates to the same tables again. The scripts are Prisma's own
(the shared sample) and the DDL part's (the seed schemas and the cases here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.dialects import PostgresDialect
from strata.dialects.postgresql.ddl import PostgresDdl
from strata.dialects.postgresql.introspect import introspect
from strata.engine import Engine
from strata.errors import ConfigurationError
from strata.migrate.diff import diff
from strata.migrate.pull import pull
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema, load_schema_file
from strata.schema.parser import parse
from strata.schema.sql import Column, IndexColumn, SqlSchema, Table
from support import needs_shared, shared_folder

DDL = PostgresDdl()
DIALECT = PostgresDialect()
SCHEMAS = Path(__file__).resolve().parents[1] / "schema"
FEATURES = shared_folder("prisma-ddl") / "features"
DATASOURCE = 'datasource db {\n  provider = "postgresql"\n}\n\n'


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = Engine.open_(pg_url)
    yield engine
    engine.close_()


def features() -> list[Path]:
    return sorted(FEATURES.glob("*/postgresql.sql")) if FEATURES.is_dir() else []


def build(engine: Engine, schema_text: str) -> SqlSchema:
    """Run the DDL part's script for ``schema_text`` on an empty database; its tables."""
    target = calculate(load_schema(schema_text), DDL)
    engine.execute_script_(DDL.render_script(diff(SqlSchema(), target, DDL)))
    return target


def as_read(target: SqlSchema) -> SqlSchema:
    """``target`` as a catalog can hold it: PostgreSQL records an index column's ``DESC``
    but not an explicit ``ASC``."""
    tables = tuple(
        dataclasses.replace(
            table,
            indexes=tuple(
                dataclasses.replace(
                    index,
                    columns=tuple(
                        dataclasses.replace(c, sort=None) if c.sort == "ASC" else c
                        for c in index.columns
                    ),
                )
                for index in table.indexes
            ),
        )
        for table in target.tables
    )
    return dataclasses.replace(target, tables=tables)


def assert_reads_back(engine: Engine, target: SqlSchema, namespaces: tuple[str, ...] = ()) -> str:
    """The live database is ``target`` (no step between them, and equal shapes, names of
    keys included), and a schema pulled from it calculates to it again; the pulled text."""
    live = introspect(engine, namespaces)
    assert diff(live, target, DDL) == []
    assert live == as_read(target)
    assert _names(live) == _names(target)
    text = pull(live, DIALECT)
    again = calculate(load_schema(text), DDL)
    assert diff(live, again, DDL) == []
    assert again == live
    assert _names(again) == _names(live)
    return text


def _names(schema: SqlSchema) -> list[object]:
    """The constraint names the shapes leave out of equality."""
    return [(t.name, t.primary_key_name, [fk.name for fk in t.foreign_keys]) for t in schema.tables]


# -- Prisma's scripts and the seed schemas ----------------------------------------------------


@needs_shared(FEATURES)
@pytest.mark.parametrize("script", features(), ids=lambda p: p.parent.name)
def test_prisma_scripts_read_back_as_their_schema(pg: Engine, script: Path) -> None:
    pg.execute_script_(script.read_text())
    assert_reads_back(pg, calculate(load_schema_file(script.parent / "postgresql.prisma"), DDL))


@pytest.mark.parametrize(
    "schema", sorted(SCHEMAS.glob("*.postgresql.prisma")), ids=lambda p: p.name.split(".")[0]
)
def test_seed_schemas_read_back_and_pull(pg: Engine, schema: Path) -> None:
    target = build(pg, schema.read_text())
    text = assert_reads_back(pg, target)
    pulled = load_schema(text)
    assert {m.table for m in pulled.models} == {m.table for m in load_schema_file(schema).models}


def test_pulling_into_the_schema_that_made_the_database_keeps_it(pg: Engine) -> None:
    schema = SCHEMAS / "medianest.postgresql.prisma"
    target = build(pg, schema.read_text())
    tree = parse(schema.read_text())
    text = pull(introspect(pg), DIALECT, (tree, load_schema_file(schema), target))
    assert calculate(load_schema(text), DDL) == target
    assert "@default(uuid())" in text or "@default(cuid())" in text


# -- native types, defaults, enums, lists, indexes --------------------------------------------

NATIVE = (
    DATASOURCE
    + """
model Everything {
  id        BigInt   @id @default(autoincrement())
  small     Int      @default(-1) @db.SmallInt
  serial    Int      @default(autoincrement()) @db.SmallInt
  oid       Int?     @db.Oid
  real      Float    @default(-1.5) @db.Real
  double    Float    @default(1)
  decimal   Decimal  @default(1.50)
  money     Decimal? @db.Money
  exact     Decimal  @default(0) @db.Decimal(10, 3)
  anyDec    Decimal? @db.Decimal
  big       BigInt   @default(10000000000)
  text      String   @default("it's \\\\ \\"quoted\\"")
  short     String   @default("ab") @db.VarChar(3)
  varying   String?  @db.VarChar
  fixed     String?  @db.Char(5)
  bits      String?  @db.Bit(3)
  varbits   String?  @db.VarBit
  uuid      String   @default(dbgenerated("gen_random_uuid()")) @db.Uuid
  xml       String?  @db.Xml
  inet      String?  @db.Inet
  flag      Boolean  @default(true)
  created   DateTime @default(now())
  stamp     DateTime @default("2020-01-01T00:00:00.120Z") @db.Timestamp(3)
  plain     DateTime? @db.Timestamp
  zoned     DateTime @default("2020-06-30T12:34:56Z") @db.Timestamptz(6)
  zonedAny  DateTime? @db.Timestamptz
  day       DateTime @default("2021-02-03T00:00:00Z") @db.Date
  today     DateTime @default(now()) @db.Date
  clock     DateTime? @db.Time(3)
  clockTz   DateTime? @db.Timetz(2)
  doc       Json     @default("{\\"a\\":[1,2],\\"bb\\":{\\"c\\":\\"x, y: z\\"}}")
  rawDoc    Json     @default("{\\"b\\": 1}") @db.Json
  blob      Bytes    @default("AQL/")
  point     Unsupported("circle")?
  tsv       Unsupported("tsvector")?
}
"""
)


def test_native_types_and_defaults_read_back_and_pull(pg: Engine) -> None:
    text = assert_reads_back(pg, build(pg, NATIVE))
    for attribute in (
        "@db.SmallInt",
        "@db.Decimal(10, 3)",
        "@db.VarChar(3)",
        "@db.Timestamptz(6)",
        '@default("2020-01-01T00:00:00.120Z")',
        '@default(dbgenerated("gen_random_uuid()"))',
        'Unsupported("circle")?',
        "@default(autoincrement())",
    ):
        assert attribute in text
    assert "@db.Text" not in text
    assert "@db.JsonB" not in text


def test_defaults_are_spelled_as_the_ddl_part_writes_them(pg: Engine) -> None:
    build(pg, NATIVE)
    columns = {c.name: c for c in introspect(pg).tables[0].columns}
    assert columns["small"].default == "-1"
    assert columns["real"].default == "-1.5"
    assert columns["text"].default == "'it''s \\ \"quoted\"'"
    assert columns["stamp"].default == "'2020-01-01 00:00:00.120 +00:00'"
    assert columns["zoned"].default == "'2020-06-30 12:34:56 +00:00'"
    assert columns["day"].default == "'2021-02-03 00:00:00 +00:00'"
    assert columns["doc"].default == """'{"a":[1,2],"bb":{"c":"x, y: z"}}'"""
    assert columns["blob"].default == "'\\x0102ff'"
    assert columns["serial"] == Column("serial", "SMALLINT", True, None, autoincrement=True)


def test_a_jsonb_default_reads_back_with_its_keys_in_jsonb_order(pg: Engine) -> None:
    """``jsonb`` keeps an object's keys shortest first, whatever the default said: the one
    default whose text a database built from it does not give back."""
    build(
        pg, DATASOURCE + 'model J {\n  id Int @id\n  doc Json @default("{\\"bb\\":1,\\"a\\":2}")\n}'
    )
    assert introspect(pg).tables[0].columns[1].default == """'{"a":2,"bb":1}'"""


ENUMS_AND_LISTS = (
    DATASOURCE
    + """
enum Role {
  USER
  ADMIN  @map("admin")
  SUPER_USER @map("super user")
}

enum Mood {
  happy
  sad

  @@map("mood-type")
}

model Person {
  id      Int        @id @default(autoincrement())
  role    Role       @default(USER)
  roles   Role[]     @default([USER, ADMIN])
  mood    Mood?
  moods   Mood[]
  tags    String[]   @default(["a", "b,c"])
  scores  Int[]      @default([1, -2])
  none    Int[]      @default([])
  flags   Boolean[]
  amounts Decimal[]  @default([1.5])
  seen    DateTime[] @default(["2020-01-01T00:00:00Z"])
  docs    Json[]
}
"""
)


def test_enums_and_lists_read_back_and_pull(pg: Engine) -> None:
    target = build(pg, ENUMS_AND_LISTS)
    live = introspect(pg)
    assert [(e.name, e.values) for e in live.enums] == [
        ("Role", ("USER", "admin", "super user")),
        ("mood-type", ("happy", "sad")),
    ]
    columns = {c.name: c for c in live.tables[0].columns}
    assert columns["roles"].type == '"Role"[]'
    assert columns["roles"].default == "ARRAY['USER', 'admin']::\"Role\"[]"
    assert columns["none"].default == "ARRAY[]::INTEGER[]"
    assert columns["mood"].enum == "mood-type"
    text = assert_reads_back(pg, target)
    assert '@@map("mood-type")' in text
    assert "roles Role[] @default([USER, admin])" in " ".join(text.split())
    assert 'admin @map("admin")' not in text  # a stored value that is an identifier is its name


INDEXES = (
    DATASOURCE
    + """
model Doc {
  id      Int      @id
  body    Json
  title   String   @db.VarChar(200)
  slug    String
  rank    Int
  region  String
  at      DateTime

  @@unique([region, slug(sort: Desc)], map: "doc_region_slug")
  @@index([body(ops: JsonbPathOps)], type: Gin)
  @@index([title], type: Hash)
  @@index([at], type: Brin)
  @@index([rank(sort: Desc), title])
  @@index([region(ops: raw("text_pattern_ops"))])
}

model Tag {
  a String
  b String

  @@id([b, a], map: "tag_key")
}
"""
)


def test_index_kinds_read_back_and_pull(pg: Engine) -> None:
    target = build(pg, INDEXES)
    live = introspect(pg)
    indexes = {i.name: i for i in live.tables[0].indexes}
    assert indexes["Doc_body_idx"].algorithm == "GIN"
    assert indexes["Doc_body_idx"].columns == (IndexColumn("body", None, "jsonb_path_ops"),)
    assert indexes["Doc_title_idx"].algorithm == "HASH"
    assert indexes["doc_region_slug"].unique
    assert live.tables[1].primary_key == ("b", "a")
    assert live.tables[1].primary_key_name == "tag_key"
    assert_reads_back(pg, target)


MULTI_SCHEMA = """
datasource db {
  provider = "postgresql"
  schemas  = ["auth", "shop"]
}

enum Level {
  LOW
  HIGH

  @@schema("auth")
}

model Account {
  id    Int    @id @default(autoincrement())
  level Level  @default(LOW)
  orders Order[]

  @@schema("auth")
}

model Order {
  id        Int     @id @default(autoincrement())
  accountId Int
  account   Account @relation(fields: [accountId], references: [id])

  @@index([accountId])
  @@schema("shop")
}
"""


def test_multiple_schemas_read_back_with_their_namespaces(pg: Engine) -> None:
    target = build(pg, MULTI_SCHEMA)
    live = introspect(pg, ("auth", "shop"))
    assert [(t.namespace, t.name) for t in live.tables] == [("auth", "Account"), ("shop", "Order")]
    assert live.tables[0].column("level") == Column(
        "level", '"auth"."Level"', True, "'LOW'", enum="Level"
    )
    text = assert_reads_back(pg, target, ("auth", "shop"))
    assert 'schemas  = ["auth", "shop"]' in text
    assert '@@schema("shop")' in text
    # The connection's own schema holds none of them.
    assert introspect(pg).tables == ()


def test_the_history_table_and_other_schemas_are_left_out(pg: Engine) -> None:
    pg.execute_script_(
        'CREATE TABLE "_prisma_migrations" (id TEXT PRIMARY KEY);'
        "CREATE SCHEMA other; CREATE TABLE other.elsewhere (id INT);"
        'CREATE TABLE "Kept" (id INT)'
    )
    live = introspect(pg)
    assert [t.name for t in live.tables] == ["Kept"]
    assert live.namespaces == ("public",)


def test_a_table_without_a_key_is_pulled_as_ignored(pg: Engine) -> None:
    pg.execute_script_('CREATE TABLE "Log" ("line" TEXT NOT NULL, "at" TIMESTAMP(3))')
    live = introspect(pg)
    assert live.tables == (
        Table(
            "Log",
            (Column("line", "TEXT", True), Column("at", "TIMESTAMP(3)", False)),
        ),
    )
    assert "@@ignore" in pull(live, DIALECT)


def test_sqlite_has_no_namespaces_to_read() -> None:
    from strata.dialects.sqlite.introspect import introspect as sqlite_introspect

    with pytest.raises(ConfigurationError, match="no database schemas"):
        sqlite_introspect(Engine.open_(":memory:"), ("auth",))
