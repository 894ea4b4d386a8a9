"""Resolution: what a valid schema means once validated, in `strata.schema.ir`.

Database names (`@map`, `@@map`), Prisma's constraint names, effective referential actions,
relation names, implicit many-to-many join tables and parsed defaults. The schemas in
``../shared/prisma-ddl`` (with Prisma's own SQL for them) and in the seed documents
(``../shared/seeds``) must validate; both folders are read at test time when present.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from strata.errors import SchemaError
from strata.schema import ir, load_schema, load_schema_file
from support import needs_shared, shared_folder

PRISMA_DDL = shared_folder("prisma-ddl")
SEEDS = shared_folder("seeds")

SQLITE = 'datasource db {\n  provider = "sqlite"\n}\n'
POSTGRES = 'datasource db {\n  provider = "postgresql"\n}\n'

Action = ir.ReferentialAction


def scalar(model: ir.Model, name: str) -> ir.ScalarField:
    field = model.field(name)
    assert isinstance(field, ir.ScalarField)
    return field


def relation(model: ir.Model, name: str) -> ir.RelationField:
    field = model.field(name)
    assert isinstance(field, ir.RelationField)
    return field


# --- the schema as a whole -------------------------------------------------------------------


def test_provider_url_generators_and_field_order() -> None:
    schema = load_schema(
        'generator client {\n  provider = "prisma-client-js"\n  previewFeatures = ["views"]\n}\n'
        'datasource db {\n  provider = "postgres"\n  url = env("DATABASE_URL")\n}\n'
        "model A {\n  z Int @id\n  a String\n  m Int\n}\n"
    )
    assert schema.provider == "postgresql"  # "postgres" is Prisma's alias
    assert schema.url == "env:DATABASE_URL"
    assert schema.relation_mode == "foreignKeys"
    assert schema.generators == (ir.Generator("client", "prisma-client-js", ("views",)),)
    assert [f.name for f in schema.model("A").fields] == ["z", "a", "m"]


def test_a_file_without_datasource_resolves_as_sqlite() -> None:
    schema = load_schema("model A {\n  id Int @id\n}\n")
    assert (schema.provider, schema.url) == ("sqlite", None)


def test_relation_mode_and_multi_schema() -> None:
    schema = load_schema(
        'datasource db {\n  provider = "postgresql"\n  relationMode = "prisma"\n'
        '  schemas = ["auth", "app"]\n}\n'
        'enum Role {\n  USER\n  @@schema("auth")\n}\n'
        'model User {\n  id Int @id\n  role Role\n  @@schema("auth")\n}\n'
    )
    assert schema.relation_mode == "prisma"
    assert schema.db_schemas == ("auth", "app")
    assert schema.model("User").db_schema == schema.enum("Role").db_schema == "auth"


# --- database names ------------------------------------------------------------------------


def test_map_gives_table_column_and_enum_names() -> None:
    schema = load_schema(
        SQLITE
        + """enum Level {
  LOW  @map("low")
  HIGH
  @@map("level")
}
model Customer {
  id       Int    @id @map("customer_id")
  fullName String @map("full_name")
  level    Level  @default(LOW)
  @@map("customers")
}
"""
    )
    customer = schema.model("Customer")
    assert customer.table == "customers"
    assert [f.column for f in customer.scalar_fields] == ["customer_id", "full_name", "level"]
    level = schema.enum("Level")
    assert level.db_name == "level"
    assert [(v.name, v.db_name) for v in level.values] == [("LOW", "low"), ("HIGH", "HIGH")]
    default = scalar(customer, "level").default
    assert default == ir.DefaultValue("value", "LOW")  # the Prisma name; db_name on the enum


def test_constraint_names_use_database_names() -> None:
    schema = load_schema(
        POSTGRES
        + """model User {
  id    Int    @id @map("user_id")
  email String @unique @map("email_address")
  org   Int    @map("org_id")
  slug  String
  posts Post[]
  @@unique([org, slug])
  @@unique([slug, email], map: "custom_uq", name: "slugEmail")
  @@index([org, slug(sort: Desc)])
  @@map("users")
}
model Post {
  id       Int  @id
  authorId Int  @map("author_id")
  author   User @relation(fields: [authorId], references: [id])
}
"""
    )
    user = schema.model("User")
    assert user.primary_key == ir.PrimaryKey(
        (ir.IndexColumn("id", "user_id"),), db_name="users_pkey"
    )
    assert [(u.db_name, u.name) for u in user.uniques] == [
        ("users_email_address_key", None),
        ("users_org_id_slug_key", None),
        ("custom_uq", "slugEmail"),
    ]
    (index,) = user.indexes
    assert index.db_name == "users_org_id_slug_idx"
    assert [(c.column, c.sort) for c in index.columns] == [("org_id", None), ("slug", "Desc")]
    (fk,) = schema.model("Post").foreign_keys
    assert fk.db_name == "Post_author_id_fkey"
    assert (fk.columns, fk.referenced_table, fk.referenced_columns) == (
        ("author_id",),
        "users",
        ("user_id",),
    )


def test_map_overrides_every_constraint_name() -> None:
    schema = load_schema(
        POSTGRES
        + """model A {
  id  Int @id(map: "a_pk")
  b   Int @unique(map: "a_b_uq")
  cId Int
  c   C   @relation(fields: [cId], references: [id], map: "a_c_fk")
  @@index([cId], map: "a_c_ix")
}
model C {
  id Int @id
  as A[]
}
"""
    )
    a = schema.model("A")
    assert a.primary_key is not None
    names = [a.primary_key.db_name, a.uniques[0].db_name, a.indexes[0].db_name]
    assert [*names, a.foreign_keys[0].db_name] == ["a_pk", "a_b_uq", "a_c_ix", "a_c_fk"]


def test_generated_names_are_truncated_to_63_bytes_on_postgresql() -> None:
    """Prisma cuts the generated part so the whole name fits PostgreSQL's 63-byte identifiers
    (at a character boundary), then appends the suffix."""
    table = "t" * 70
    schema = load_schema(
        POSTGRES
        + f'model A {{\n  id Int @id\n  ééééé Int @unique\n  @@map("{table}")\n}}\n'
        + 'model B {\n  id Int @id\n  x Int\n  @@index([x])\n  @@map("bb'
        + "é" * 30
        + '")\n}\n'
    )
    a = schema.model("A")
    assert a.primary_key is not None
    assert a.primary_key.db_name == "t" * 58 + "_pkey"
    assert a.uniques[0].db_name == "t" * 59 + "_key"
    index_name = schema.model("B").indexes[0].db_name
    # "bb" + 30 two-byte characters + "_x" is 64 bytes: cut to 59 bytes, i.e. "bb" and 28
    # characters (58 bytes; the 29th would split), then the 4-byte suffix.
    assert index_name == "bb" + "é" * 28 + "_idx"
    assert all(len(name.encode()) <= 63 for name in (a.uniques[0].db_name, index_name))


def test_sqlite_names_are_not_truncated() -> None:
    table = "t" * 70
    schema = load_schema(
        SQLITE + f'model A {{\n  id Int @id\n  b Int @unique\n  @@map("{table}")\n}}\n'
    )
    assert schema.model("A").uniques[0].db_name == table + "_b_key"


# --- relations -----------------------------------------------------------------------------


ORCHARD = (
    SQLITE
    + """model Orchard {
  id    Int    @id
  trees Tree[]
  sheds Shed[]
}
model Tree {
  id        Int     @id
  orchardId Int
  orchard   Orchard @relation(fields: [orchardId], references: [id])
}
model Shed {
  id        Int      @id
  orchardId Int?
  orchard   Orchard? @relation(fields: [orchardId], references: [id], onUpdate: NoAction)
}
"""
)


def test_default_referential_actions_are_prisma_s() -> None:
    """onDelete: Restrict when a foreign-key field is required, SetNull when all are
    optional; onUpdate: Cascade. Explicit actions win."""
    schema = load_schema(ORCHARD)
    (tree_fk,) = schema.model("Tree").foreign_keys
    assert (tree_fk.on_delete, tree_fk.on_update) == (Action.RESTRICT, Action.CASCADE)
    (shed_fk,) = schema.model("Shed").foreign_keys
    assert (shed_fk.on_delete, shed_fk.on_update) == (Action.SET_NULL, Action.NO_ACTION)
    # The relation field keeps what was written; the foreign key has the effective actions.
    assert relation(schema.model("Tree"), "orchard").on_delete is None
    assert relation(schema.model("Shed"), "orchard").on_update is Action.NO_ACTION
    assert schema.model("Orchard").foreign_keys == ()  # the model without the foreign key


def test_compound_foreign_key_with_one_required_field_restricts() -> None:
    schema = load_schema(
        SQLITE
        + """model P {
  a  Int
  b  Int
  cs C[]
  @@id([a, b])
}
model C {
  id Int  @id
  pa Int?
  pb Int
  p  P?   @relation(fields: [pa, pb], references: [a, b])
}
"""
    )
    (fk,) = schema.model("C").foreign_keys
    assert fk.on_delete is Action.RESTRICT
    assert fk.db_name == "C_pa_pb_fkey"


def test_relation_names() -> None:
    schema = load_schema(
        SQLITE
        + """model User {
  id      Int    @id
  posts   Post[]
  edited  Post[] @relation("Editor")
  mentorId Int?
  mentor  User?  @relation("Mentorship", fields: [mentorId], references: [id])
  mentees User[] @relation("Mentorship")
}
model Post {
  id       Int   @id
  authorId Int
  author   User  @relation(fields: [authorId], references: [id])
  editorId Int?
  editor   User? @relation("Editor", fields: [editorId], references: [id])
}
"""
    )
    user, post = schema.model("User"), schema.model("Post")
    # Unnamed: the two model names, sorted, joined by "To".
    assert relation(user, "posts").relation_name == relation(post, "author").relation_name
    assert relation(post, "author").relation_name == "PostToUser"
    assert relation(post, "editor").relation_name == "Editor"
    assert relation(user, "mentor").relation_name == "Mentorship"
    mentor = relation(user, "mentor")
    assert (mentor.fields, mentor.references) == (("mentorId",), ("id",))
    assert relation(user, "mentees").fields == ()
    assert [fk.field for fk in user.foreign_keys] == ["mentor"]


def test_implicit_many_to_many() -> None:
    schema = load_schema(
        SQLITE
        + """model Recipe {
  id          Int          @id
  ingredients Ingredient[]
  cuisines    Cuisine[]    @relation("RecipeCuisines")
}
model Ingredient {
  id      Int      @id
  recipes Recipe[]
}
model Cuisine {
  code    String   @id
  recipes Recipe[] @relation("RecipeCuisines")
}
model Person {
  id        Int      @id
  friends   Person[] @relation("Friends")
  friendOf  Person[] @relation("Friends")
}
"""
    )
    # Model A sorts first; the order is Prisma's (the model holding side A, in schema order).
    assert schema.many_to_many == (
        ir.ManyToMany("IngredientToRecipe", "Ingredient", "Recipe", "_IngredientToRecipe"),
        ir.ManyToMany("RecipeCuisines", "Cuisine", "Recipe", "_RecipeCuisines"),
        ir.ManyToMany("Friends", "Person", "Person", "_Friends"),
    )
    assert all(m.foreign_keys == () for m in schema.models)


# --- defaults ------------------------------------------------------------------------------


def test_valid_defaults_become_default_values() -> None:
    schema = load_schema(
        SQLITE
        + """enum E {
  A
  B
}
model M {
  id    Int      @id @default(autoincrement())
  s     String   @default("x")
  b     Boolean  @default(false)
  f     Float    @default(1.5)
  d     Decimal  @default("12.50")
  d2    Decimal  @default(3)
  e     E        @default(B)
  es    E[]      @default([A, B])
  t     DateTime @default("2024-01-01T00:00:00Z")
  n     DateTime @default(now())
  j     Json     @default("{\\"a\\": 1}")
  by    Bytes    @default("aGk=")
  u     String   @default(uuid(7))
  c     String   @default(cuid(2))
  na    String   @default(nanoid(16))
  ul    String   @default(ulid())
  g     String   @default(dbgenerated("lower(hex(randomblob(16)))"))
  g2    String   @default(dbgenerated())
  tags  String[] @default(["a", "b"])
  big   BigInt   @default(9007199254740993)
}
"""
    )
    model = schema.model("M")
    defaults = {f.name: f.default for f in model.scalar_fields}
    values = {n: d.value for n, d in defaults.items() if d is not None and d.kind == "value"}
    assert values == {
        "s": "x",
        "b": False,
        "f": 1.5,
        "d": Decimal("12.50"),
        "d2": Decimal(3),
        "e": "B",
        "es": ("A", "B"),
        "t": "2024-01-01T00:00:00Z",
        "j": '{"a": 1}',
        "by": b"hi",
        "tags": ("a", "b"),
        "big": 9007199254740993,
    }
    assert isinstance(values["d"], Decimal)
    functions = {
        n: (d.kind, d.arguments, d.value)
        for n, d in defaults.items()
        if d is not None and d.kind != "value"
    }
    assert functions == {
        "id": ("autoincrement", (), None),
        "n": ("now", (), None),
        "u": ("uuid", (7,), None),
        "c": ("cuid", (2,), None),
        "na": ("nanoid", (16,), None),
        "ul": ("ulid", (), None),
        "g": ("dbgenerated", (), "lower(hex(randomblob(16)))"),
        "g2": ("dbgenerated", (), None),
    }


# --- Prisma's golden schemas and the seed systems ----------------------------------------------


def prisma_ddl_schemas() -> list[Path]:
    return sorted(PRISMA_DDL.rglob("*.prisma")) if PRISMA_DDL.is_dir() else []


def sql_constraint_names(sql: str) -> set[str]:
    """Index and foreign key names in Prisma's SQL (SQLite names no primary keys)."""
    return set(re.findall(r'(?:CONSTRAINT|INDEX) "([^"]+)"', sql))


def ir_constraint_names(schema: ir.Schema) -> set[str]:
    names = {i.db_name for m in schema.models for i in (*m.uniques, *m.indexes)}
    names |= {fk.db_name for m in schema.models for fk in m.foreign_keys}
    for m2m in schema.many_to_many:  # the join table's fixed names
        names |= {f"{m2m.table}_{c}_fkey" for c in "AB"}
        names |= {f"{m2m.table}_AB_unique", f"{m2m.table}_B_index"}
    return names


@needs_shared(PRISMA_DDL)
@pytest.mark.parametrize(
    "path", prisma_ddl_schemas(), ids=lambda p: p.relative_to(PRISMA_DDL).as_posix()
)
def test_prisma_ddl_schemas(path: Path) -> None:
    """Each schema validates unless Prisma rejected it (a `.error.txt` beside it), and then
    strata reports Prisma's first error word for word. Where Prisma printed SQL for a
    schema, the constraint names in it are exactly the IR's."""
    provider = path.stem.rsplit(".", 1)[-1]  # sqlite.prisma, from.postgresql.prisma, ...
    error_file = path.with_name(f"{provider}.error.txt")
    if error_file.exists():
        with pytest.raises(SchemaError) as caught:
            load_schema_file(path)
        first = error_file.read_text().splitlines()[0].removeprefix("error: ")
        assert first in [d.message for d in caught.value.diagnostics]
        return
    schema = load_schema_file(path)
    assert schema.provider == provider
    sql_file = path.with_name(f"{provider}.sql")
    # PostgreSQL's DDL (issue 14) also names primary keys; only SQLite's names are pinned here.
    if provider == "sqlite" and path.parent.parent.name == "features" and sql_file.exists():
        assert ir_constraint_names(schema) == sql_constraint_names(sql_file.read_text())


def seed_schemas() -> list[tuple[str, str]]:
    """The ```prisma blocks of the seed documents, as (name, text)."""
    found = []
    for document in sorted(SEEDS.glob("*.md")) if SEEDS.is_dir() else []:
        blocks = re.findall(r"```prisma\n(.*?)```", document.read_text(encoding="utf-8"), re.S)
        found += [(f"{document.stem}#{i}", block) for i, block in enumerate(blocks)]
    return found


@needs_shared(SEEDS)
@pytest.mark.parametrize(("name", "text"), seed_schemas(), ids=[n for n, _ in seed_schemas()])
def test_seed_schemas(name: str, text: str) -> None:
    schema = load_schema(text, name)
    assert schema.models
    if schema.provider == "sqlite":
        # strata's documented extension: scalar lists on SQLite, stored as JSON, with a warning.
        lists = [f.name for m in schema.models for f in m.scalar_fields if f.list]
        assert len(schema.warnings) == len(lists)
    else:
        assert schema.warnings == ()


@needs_shared(SEEDS)
def test_medianest_seed_resolves() -> None:
    (text,) = [t for n, t in seed_schemas() if n.startswith("medianest")]
    schema = load_schema(text)
    activity = schema.model("ActivityLog")
    assert activity.table == "activity_logs"
    (fk,) = activity.foreign_keys
    assert (fk.db_name, fk.on_delete, fk.on_update) == (
        "activity_logs_userId_fkey",
        Action.SET_NULL,
        Action.CASCADE,
    )
    limits = schema.model("RateLimit")
    assert [u.db_name for u in limits.uniques] == ["rate_limits_userId_endpoint_windowStart_key"]
    assert scalar(schema.model("MediaRequest"), "title").native_type == ("VarChar", ("500",))
    assert schema.enum("UserRole").values[0] == ir.EnumValue("user", "user")
