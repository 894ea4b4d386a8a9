"""PostgreSQL DDL, byte for byte against Prisma's own output (the shared sample), and against
the scripts Prisma's PostgreSQL renderer writes by its rules for what the sample lacks:
every native type, enums and lists with their defaults, index methods and operator
classes, many-to-many tables, ``relationMode = "prisma"``, multiple schemas and in-place
evolutions. No server is needed: these compare text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from strata.cli import main
from strata.dialects import PostgresDialect, dialect_for, dialect_for_url
from strata.dialects.postgresql.ddl import PostgresDdl
from strata.migrate.diff import diff
from strata.migrate.sql_schema import calculate
from strata.schema import load_schema
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

DDL = PostgresDdl()

DATASOURCE = 'datasource db {\n  provider = "postgresql"\n}\n\n'


def from_empty(schema_text: str) -> str:
    return DDL.render_script(diff(SqlSchema(), calculate(load_schema(schema_text), DDL), DDL))


def evolve(before_text: str, after_text: str) -> str:
    before = calculate(load_schema(before_text), DDL)
    after = calculate(load_schema(after_text), DDL)
    return DDL.render_script(diff(before, after, DDL))


def features() -> list[Path]:
    return prisma_ddl_cases("features")


def evolutions() -> list[Path]:
    return prisma_ddl_cases("evolutions")


# -- Prisma's sample -------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("folder", features(), ids=lambda p: p.name)
def test_create_from_empty_matches_prisma(folder: Path) -> None:
    matches_prisma_from_empty(folder, "postgresql", DDL)


@needs_fixtures
@pytest.mark.parametrize("folder", evolutions(), ids=lambda p: p.name)
def test_evolution_matches_prisma(folder: Path) -> None:
    matches_prisma_evolution(folder, "postgresql", DDL)


@needs_fixtures
def test_migrate_diff_prints_postgresql_for_a_postgresql_schema() -> None:
    folder = PRISMA_DDL / "features" / "f03_enums"
    result = CliRunner().invoke(
        main,
        [
            "migrate",
            "diff",
            "--from-empty",
            "--to-schema",
            str(folder / "postgresql.prisma"),
            "--script",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == (folder / "postgresql.sql").read_text()


@needs_fixtures
def test_migrate_diff_refuses_to_compare_across_databases() -> None:
    folder = PRISMA_DDL / "features" / "f03_enums"
    result = CliRunner().invoke(
        main,
        [
            "migrate",
            "diff",
            "--from-schema",
            str(folder / "sqlite.prisma"),
            "--to-schema",
            str(folder / "postgresql.prisma"),
            "--script",
        ],
    )
    assert result.exit_code == 1
    assert "cannot diff across databases" in result.output


# -- types and defaults ----------------------------------------------------------------------

NATIVE_TYPES = (
    DATASOURCE
    + """
model Everything {
  id      BigInt   @id @default(autoincrement())
  small   Int      @default(autoincrement()) @db.SmallInt
  integer Int      @db.Integer
  oid     Int      @db.Oid
  big     BigInt   @db.BigInt
  real    Float    @db.Real
  double  Float    @db.DoublePrecision
  dec     Decimal  @db.Decimal
  dec2    Decimal  @db.Decimal(10, 2)
  money   Decimal  @db.Money
  bool    Boolean  @db.Boolean
  text    String   @db.Text
  varchar String   @db.VarChar
  vc255   String   @db.VarChar(255)
  char    String   @db.Char(3)
  bit     String   @db.Bit(8)
  varbit  String   @db.VarBit
  uuid    String   @db.Uuid
  xml     String   @db.Xml
  inet    String   @db.Inet
  citext  String   @db.Citext
  ts      DateTime @db.Timestamp(0)
  tstz    DateTime @db.Timestamptz
  tstz6   DateTime @db.Timestamptz(6)
  date    DateTime @db.Date
  time    DateTime @db.Time(2)
  timetz  DateTime @db.Timetz
  json    Json     @db.Json
  jsonb   Json     @db.JsonB
  bytea   Bytes    @db.ByteA
}
"""
)


def test_every_native_type() -> None:
    assert from_empty(NATIVE_TYPES) == (
        '-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "public";\n\n'
        '-- CreateTable\nCREATE TABLE "Everything" (\n'
        '    "id" BIGSERIAL NOT NULL,\n'
        '    "small" SMALLSERIAL NOT NULL,\n'
        '    "integer" INTEGER NOT NULL,\n'
        '    "oid" OID NOT NULL,\n'
        '    "big" BIGINT NOT NULL,\n'
        '    "real" REAL NOT NULL,\n'
        '    "double" DOUBLE PRECISION NOT NULL,\n'
        '    "dec" DECIMAL NOT NULL,\n'
        '    "dec2" DECIMAL(10,2) NOT NULL,\n'
        '    "money" MONEY NOT NULL,\n'
        '    "bool" BOOLEAN NOT NULL,\n'
        '    "text" TEXT NOT NULL,\n'
        '    "varchar" VARCHAR NOT NULL,\n'
        '    "vc255" VARCHAR(255) NOT NULL,\n'
        '    "char" CHAR(3) NOT NULL,\n'
        '    "bit" BIT(8) NOT NULL,\n'
        '    "varbit" VARBIT NOT NULL,\n'
        '    "uuid" UUID NOT NULL,\n'
        '    "xml" XML NOT NULL,\n'
        '    "inet" INET NOT NULL,\n'
        '    "citext" CITEXT NOT NULL,\n'
        '    "ts" TIMESTAMP(0) NOT NULL,\n'
        '    "tstz" TIMESTAMPTZ NOT NULL,\n'
        '    "tstz6" TIMESTAMPTZ(6) NOT NULL,\n'
        '    "date" DATE NOT NULL,\n'
        '    "time" TIME(2) NOT NULL,\n'
        '    "timetz" TIMETZ NOT NULL,\n'
        '    "json" JSON NOT NULL,\n'
        '    "jsonb" JSONB NOT NULL,\n'
        '    "bytea" BYTEA NOT NULL,\n\n'
        '    CONSTRAINT "Everything_pkey" PRIMARY KEY ("id")\n'
        ");\n"
    )


DEFAULTS = (
    DATASOURCE
    + """
enum Role {
  USER
  ADMIN @map("admin")
}

model Defaults {
  id       String   @id @default(dbgenerated("gen_random_uuid()")) @db.Uuid
  token    String   @default(cuid())
  bool     Boolean  @default(true)
  text     String   @default("it's")
  count    Int      @default(-3)
  big      BigInt   @default(9007199254740993)
  ratio    Float    @default(1.5)
  whole    Float    @default(2)
  price    Decimal  @default(2.50)
  at       DateTime @default("2020-01-02T03:04:05.678+02:00")
  made     DateTime @default(now()) @db.Timestamptz(6)
  doc      Json     @default("{\\"a\\": 1}")
  blob     Bytes    @default("aGVsbG8=")
  role     Role     @default(ADMIN)
  roles    Role[]   @default([USER, ADMIN])
  maybe    Role?
  tags     String[] @default(["a", "b"])
  scores   Int[]
  none     String[] @default([])
  circle   Unsupported("circle")?
  places   Unsupported("geography(Point, 4326)")[]
  computed Int      @default(dbgenerated("1 + 1"))
  blank    String   @default(dbgenerated())
}
"""
)


def test_defaults_lists_enums_and_unsupported_types() -> None:
    assert from_empty(DEFAULTS) == (
        '-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "public";\n\n'
        "-- CreateEnum\nCREATE TYPE \"Role\" AS ENUM ('USER', 'admin');\n\n"
        '-- CreateTable\nCREATE TABLE "Defaults" (\n'
        '    "id" UUID NOT NULL DEFAULT gen_random_uuid(),\n'
        '    "token" TEXT NOT NULL,\n'
        '    "bool" BOOLEAN NOT NULL DEFAULT true,\n'
        "    \"text\" TEXT NOT NULL DEFAULT 'it''s',\n"
        '    "count" INTEGER NOT NULL DEFAULT -3,\n'
        '    "big" BIGINT NOT NULL DEFAULT 9007199254740993,\n'
        '    "ratio" DOUBLE PRECISION NOT NULL DEFAULT 1.5,\n'
        '    "whole" DOUBLE PRECISION NOT NULL DEFAULT 2,\n'
        '    "price" DECIMAL(65,30) NOT NULL DEFAULT 2.50,\n'
        "    \"at\" TIMESTAMP(3) NOT NULL DEFAULT '2020-01-02 03:04:05.678 +02:00',\n"
        '    "made" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n'
        '    "doc" JSONB NOT NULL DEFAULT \'{"a": 1}\',\n'
        "    \"blob\" BYTEA NOT NULL DEFAULT '\\x68656c6c6f',\n"
        '    "role" "Role" NOT NULL DEFAULT \'admin\',\n'
        '    "roles" "Role"[] DEFAULT ARRAY[\'USER\', \'admin\']::"Role"[],\n'
        '    "maybe" "Role",\n'
        "    \"tags\" TEXT[] DEFAULT ARRAY['a', 'b']::TEXT[],\n"
        '    "scores" INTEGER[],\n'
        '    "none" TEXT[] DEFAULT ARRAY[]::TEXT[],\n'
        '    "circle" circle,\n'
        '    "places" geography(Point, 4326)[],\n'
        '    "computed" INTEGER NOT NULL DEFAULT 1 + 1,\n'
        '    "blank" TEXT NOT NULL,\n\n'
        '    CONSTRAINT "Defaults_pkey" PRIMARY KEY ("id")\n'
        ");\n"
    )


# -- indexes ---------------------------------------------------------------------------------

INDEXES = (
    DATASOURCE
    + """
model Doc {
  id      Int      @id @default(autoincrement())
  data    Json
  title   String
  slug    String   @db.VarChar(80)
  made    DateTime
  address String   @db.Inet
  code    String   @unique(map: "doc_code_uq", sort: Desc)
  a       Int
  b       Int

  @@index([data(ops: JsonbPathOps)], type: Gin)
  @@index([title], type: Hash)
  @@index([made(ops: TimestampMinMaxOps)], type: Brin)
  @@index([address(ops: InetOps)], type: Gist)
  @@index([slug], type: SpGist)
  @@index([title(ops: raw("gin_trgm_ops"))], type: Gin, map: "doc_title_trgm")
  @@index([a(sort: Desc), b], type: BTree)
  @@unique([a, b(sort: Desc)])
}
"""
)


def test_index_methods_operator_classes_and_sort_orders() -> None:
    """In Prisma's order: field-level ``@unique``, every ``@@index``, then ``@@unique``."""
    script = from_empty(INDEXES)
    indexes = script[script.index("-- CreateIndex") :]
    assert indexes == (
        '-- CreateIndex\nCREATE UNIQUE INDEX "doc_code_uq" ON "Doc"("code" DESC);\n\n'
        '-- CreateIndex\nCREATE INDEX "Doc_data_idx" ON "Doc" USING GIN '
        '("data" jsonb_path_ops);\n\n'
        '-- CreateIndex\nCREATE INDEX "Doc_title_idx" ON "Doc" USING HASH ("title");\n\n'
        '-- CreateIndex\nCREATE INDEX "Doc_made_idx" ON "Doc" USING BRIN '
        '("made" timestamp_minmax_ops);\n\n'
        '-- CreateIndex\nCREATE INDEX "Doc_address_idx" ON "Doc" USING GIST '
        '("address" inet_ops);\n\n'
        '-- CreateIndex\nCREATE INDEX "Doc_slug_idx" ON "Doc" USING SPGIST ("slug");\n\n'
        '-- CreateIndex\nCREATE INDEX "doc_title_trgm" ON "Doc" USING GIN '
        '("title" gin_trgm_ops);\n\n'
        '-- CreateIndex\nCREATE INDEX "Doc_a_b_idx" ON "Doc"("a" DESC, "b");\n\n'
        '-- CreateIndex\nCREATE UNIQUE INDEX "Doc_a_b_key" ON "Doc"("a", "b" DESC);\n'
    )


# -- relations -------------------------------------------------------------------------------

MANY_TO_MANY = (
    DATASOURCE
    + """
model Account {
  id    String @id @default(uuid()) @db.Uuid
  teams Team[]
}

model Team {
  slug     String    @id @db.VarChar(40)
  accounts Account[]
}
"""
)


def test_implicit_many_to_many_join_table_takes_the_id_types() -> None:
    script = from_empty(MANY_TO_MANY)
    assert (
        '-- CreateTable\nCREATE TABLE "_AccountToTeam" (\n'
        '    "A" UUID NOT NULL,\n    "B" VARCHAR(40) NOT NULL,\n\n'
        '    CONSTRAINT "_AccountToTeam_AB_pkey" PRIMARY KEY ("A","B")\n);\n'
    ) in script
    assert script.endswith(
        '-- CreateIndex\nCREATE INDEX "_AccountToTeam_B_index" ON "_AccountToTeam"("B");\n\n'
        '-- AddForeignKey\nALTER TABLE "_AccountToTeam" ADD CONSTRAINT "_AccountToTeam_A_fkey" '
        'FOREIGN KEY ("A") REFERENCES "Account"("id") ON DELETE CASCADE ON UPDATE CASCADE;\n\n'
        '-- AddForeignKey\nALTER TABLE "_AccountToTeam" ADD CONSTRAINT "_AccountToTeam_B_fkey" '
        'FOREIGN KEY ("B") REFERENCES "Team"("slug") ON DELETE CASCADE ON UPDATE CASCADE;\n'
    )


RELATION_MODE_PRISMA = """
datasource db {
  provider     = "postgresql"
  relationMode = "prisma"
}

model User {
  id    Int    @id @default(autoincrement())
  posts Post[]
  teams Team[]
}

model Post {
  id     Int  @id @default(autoincrement())
  userId Int
  user   User @relation(fields: [userId], references: [id], onDelete: Cascade)

  @@index([userId])
}

model Team {
  id    Int    @id @default(autoincrement())
  users User[]
}
"""


def test_relation_mode_prisma_creates_no_foreign_keys() -> None:
    script = from_empty(RELATION_MODE_PRISMA)
    assert "FOREIGN KEY" not in script
    assert script.endswith(
        '-- CreateIndex\nCREATE INDEX "Post_userId_idx" ON "Post"("userId");\n\n'
        '-- CreateIndex\nCREATE INDEX "_TeamToUser_B_index" ON "_TeamToUser"("B");\n'
    )


MULTI_SCHEMA = """
datasource db {
  provider = "postgresql"
  schemas  = ["base", "auth"]
}

enum Role {
  USER
  ADMIN

  @@schema("auth")
}

model Account {
  id    String @id @db.Uuid
  role  Role   @default(USER)
  posts Post[]

  @@schema("auth")
}

model Post {
  id       Int     @id @default(autoincrement())
  authorId String  @db.Uuid
  author   Account @relation(fields: [authorId], references: [id])

  @@index([authorId])
  @@schema("base")
}
"""


def test_multi_schema_qualifies_every_name_with_its_schema() -> None:
    assert from_empty(MULTI_SCHEMA) == (
        '-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "base";\n\n'
        '-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "auth";\n\n'
        "-- CreateEnum\nCREATE TYPE \"auth\".\"Role\" AS ENUM ('USER', 'ADMIN');\n\n"
        '-- CreateTable\nCREATE TABLE "auth"."Account" (\n'
        '    "id" UUID NOT NULL,\n'
        '    "role" "auth"."Role" NOT NULL DEFAULT \'USER\',\n\n'
        '    CONSTRAINT "Account_pkey" PRIMARY KEY ("id")\n);\n\n'
        '-- CreateTable\nCREATE TABLE "base"."Post" (\n'
        '    "id" SERIAL NOT NULL,\n    "authorId" UUID NOT NULL,\n\n'
        '    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")\n);\n\n'
        '-- CreateIndex\nCREATE INDEX "Post_authorId_idx" ON "base"."Post"("authorId");\n\n'
        '-- AddForeignKey\nALTER TABLE "base"."Post" ADD CONSTRAINT "Post_authorId_fkey" '
        'FOREIGN KEY ("authorId") REFERENCES "auth"."Account"("id") '
        "ON DELETE RESTRICT ON UPDATE CASCADE;\n"
    )


# -- evolutions ------------------------------------------------------------------------------


def gadget(body: str) -> str:
    return DATASOURCE + "model Gadget {\n  id Int @id @default(autoincrement())\n" + body + "}\n"


def test_one_alter_table_drops_adds_and_alters_columns_in_prisma_order() -> None:
    before = gadget('  legacy String\n  stock Int?\n  name String @default("x")\n  code Int\n')
    after = gadget("  stock Int @default(3)\n  name String\n  code BigInt\n  note String?\n")
    assert evolve(before, after) == (
        '-- AlterTable\nALTER TABLE "Gadget" DROP COLUMN "legacy",\n'
        'ADD COLUMN     "note" TEXT,\n'
        'ALTER COLUMN "stock" SET NOT NULL,\n'
        'ALTER COLUMN "stock" SET DEFAULT 3,\n'
        'ALTER COLUMN "name" DROP DEFAULT,\n'
        'ALTER COLUMN "code" SET DATA TYPE BIGINT;\n'
    )


def test_made_optional_and_list_columns() -> None:
    before = gadget("  name String\n")
    after = gadget("  name String?\n  tags String[]\n")
    assert evolve(before, after) == (
        '-- AlterTable\nALTER TABLE "Gadget" ADD COLUMN     "tags" TEXT[],\n'
        'ALTER COLUMN "name" DROP NOT NULL;\n'
    )


ENUM_BEFORE = (
    DATASOURCE
    + "enum Role {\n  USER\n  ADMIN\n  GUEST\n}\n\n"
    + "model Member {\n  id Int @id\n  role Role @default(USER)\n  past Role[]\n}\n"
)


def test_enum_values_added() -> None:
    after = ENUM_BEFORE.replace("  GUEST\n", "  GUEST\n  OWNER\n")
    assert evolve(ENUM_BEFORE, after) == ("-- AlterEnum\nALTER TYPE \"Role\" ADD VALUE 'OWNER';\n")
    two = ENUM_BEFORE.replace("  GUEST\n", "  GUEST\n  OWNER\n  BOT\n")
    assert evolve(ENUM_BEFORE, two) == (
        "-- AlterEnum\n"
        "-- This migration adds more than one value to an enum.\n"
        "-- With PostgreSQL versions 11 and earlier, this is not possible\n"
        "-- in a single migration. This can be worked around by creating\n"
        "-- multiple migrations, each migration adding only one value to\n"
        "-- the enum.\n\n\n"
        "ALTER TYPE \"Role\" ADD VALUE 'OWNER';\n"
        "ALTER TYPE \"Role\" ADD VALUE 'BOT';\n"
    )


def test_enum_value_removed_recreates_the_type() -> None:
    after = ENUM_BEFORE.replace("  GUEST\n", "")
    assert evolve(ENUM_BEFORE, after) == (
        "-- AlterEnum\nBEGIN;\n"
        "CREATE TYPE \"Role_new\" AS ENUM ('USER', 'ADMIN');\n"
        'ALTER TABLE "Member" ALTER COLUMN "role" DROP DEFAULT;\n'
        'ALTER TABLE "Member" ALTER COLUMN "role" TYPE "Role_new" '
        'USING ("role"::text::"Role_new");\n'
        'ALTER TABLE "Member" ALTER COLUMN "past" TYPE "Role_new"[] '
        'USING ("past"::text::"Role_new"[]);\n'
        'ALTER TYPE "Role" RENAME TO "Role_old";\n'
        'ALTER TYPE "Role_new" RENAME TO "Role";\n'
        'DROP TYPE "Role_old";\n'
        'ALTER TABLE "Member" ALTER COLUMN "role" SET DEFAULT \'USER\';\n'
        "COMMIT;\n"
    )


OWNER_BOAT = (
    DATASOURCE
    + "model Owner {\n  id Int @id @default(autoincrement())\n  boats Boat[]\n}\n\n"
    + "model Boat {\n  id Int @id @default(autoincrement())\n  ownerId Int\n"
    + "  owner Owner @relation(fields: [ownerId], references: [id])\n}\n"
)


def test_dropped_table_loses_its_foreign_keys_first() -> None:
    after = DATASOURCE + "model Owner {\n  id Int @id @default(autoincrement())\n}\n"
    assert evolve(OWNER_BOAT, after) == (
        '-- DropForeignKey\nALTER TABLE "Boat" DROP CONSTRAINT "Boat_ownerId_fkey";\n\n'
        '-- DropTable\nDROP TABLE "Boat";\n'
    )


def test_new_table_indexes_come_before_indexes_on_existing_tables() -> None:
    after = OWNER_BOAT.replace(
        "  boats Boat[]\n}", '  boats Boat[]\n  name String @default("")\n\n  @@index([name])\n}'
    ) + ("\nmodel Dock {\n  id Int @id\n  code String @unique\n}\n")
    assert evolve(OWNER_BOAT, after) == (
        '-- AlterTable\nALTER TABLE "Owner" ADD COLUMN     "name" TEXT NOT NULL DEFAULT \'\';\n\n'
        '-- CreateTable\nCREATE TABLE "Dock" (\n    "id" INTEGER NOT NULL,\n'
        '    "code" TEXT NOT NULL,\n\n    CONSTRAINT "Dock_pkey" PRIMARY KEY ("id")\n);\n\n'
        '-- CreateIndex\nCREATE UNIQUE INDEX "Dock_code_key" ON "Dock"("code");\n\n'
        '-- CreateIndex\nCREATE INDEX "Owner_name_idx" ON "Owner"("name");\n'
    )


def test_dropped_enum_and_index() -> None:
    before = ENUM_BEFORE.replace("  past Role[]\n", "  past Role[]\n\n  @@index([role])\n")
    after = DATASOURCE + "model Member {\n  id Int @id\n}\n"
    assert evolve(before, after) == (
        '-- DropIndex\nDROP INDEX "Member_role_idx";\n\n'
        '-- AlterTable\nALTER TABLE "Member" DROP COLUMN "role",\nDROP COLUMN "past";\n\n'
        '-- DropEnum\nDROP TYPE "Role";\n'
    )


def test_primary_key_replaced() -> None:
    before = DATASOURCE + "model Pair {\n  a Int\n  b Int\n\n  @@id([a])\n}\n"
    after = DATASOURCE + "model Pair {\n  a Int\n  b Int\n\n  @@id([a, b])\n}\n"
    assert evolve(before, after) == (
        '-- AlterTable\nALTER TABLE "Pair" DROP CONSTRAINT "Pair_pkey",\n'
        'ADD CONSTRAINT "Pair_pkey" PRIMARY KEY ("a", "b");\n'
    )


# -- renamed keys and type changes (Prisma's differ rules) -------------------------------------

ALPHA_BETA = (
    DATASOURCE
    + "model Alpha {\n  id Int @id\n  betas Beta[]\n}\n\n"
    + "model Beta {\n  id Int @id%s\n  alphaId Int\n"
    + "  alpha Alpha @relation(fields: [alphaId], references: [id]%s)\n}\n"
)


def test_renamed_keys_are_renamed_in_place() -> None:
    """Prisma pairs keys by what they cover: a primary key whose name alone changes is a
    ``RENAME CONSTRAINT`` inside its table's AlterTable, a foreign key one is its own
    ``RenameForeignKey`` step, sorted after created indexes and before added foreign keys
    (its SqlMigrationStep order)."""
    before = ALPHA_BETA % ("", "")
    renamed = ALPHA_BETA % ('(map: "beta_pk")', ', map: "beta_alpha"')
    after = renamed.replace(
        "  id Int @id\n  betas Beta[]\n", "  id Int @id\n  n Int @unique\n  betas Beta[]\n"
    )
    after += (
        "\nmodel Gamma {\n  id Int @id\n  alphaId Int\n"
        "  alpha Alpha @relation(fields: [alphaId], references: [id])\n}\n"
    )
    after = after.replace("  betas Beta[]\n", "  betas Beta[]\n  gammas Gamma[]\n")
    assert evolve(before, after) == (
        '-- AlterTable\nALTER TABLE "Alpha" ADD COLUMN     "n" INTEGER NOT NULL;\n\n'
        '-- AlterTable\nALTER TABLE "Beta" RENAME CONSTRAINT "Beta_pkey" TO "beta_pk";\n\n'
        '-- CreateTable\nCREATE TABLE "Gamma" (\n    "id" INTEGER NOT NULL,\n'
        '    "alphaId" INTEGER NOT NULL,\n\n'
        '    CONSTRAINT "Gamma_pkey" PRIMARY KEY ("id")\n);\n\n'
        '-- CreateIndex\nCREATE UNIQUE INDEX "Alpha_n_key" ON "Alpha"("n");\n\n'
        '-- RenameForeignKey\nALTER TABLE "Beta" RENAME CONSTRAINT "Beta_alphaId_fkey" TO '
        '"beta_alpha";\n\n'
        '-- AddForeignKey\nALTER TABLE "Gamma" ADD CONSTRAINT "Gamma_alphaId_fkey" FOREIGN KEY '
        '("alphaId") REFERENCES "Alpha"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n'
    )


def test_a_renamed_primary_key_comes_before_the_tables_other_changes() -> None:
    """PostgreSQL renames a constraint in a statement of its own (as Prisma's output has it,
    first in the AlterTable block)."""
    before = ALPHA_BETA % ("", "")
    after = (ALPHA_BETA % ('(map: "beta_pk")', "")).replace(
        "  alphaId Int\n", "  alphaId Int\n  note String?\n"
    )
    assert evolve(before, after) == (
        '-- AlterTable\nALTER TABLE "Beta" RENAME CONSTRAINT "Beta_pkey" TO "beta_pk";\n'
        'ALTER TABLE "Beta" ADD COLUMN     "note" TEXT;\n'
    )


def test_sqlite_keeps_no_key_names_and_renames_nothing() -> None:
    """SQLite keeps no constraint names: keys differing only in name are no change."""
    from dataclasses import replace

    sqlite = dialect_for("sqlite").ddl
    text = (ALPHA_BETA % ("", "")).replace("postgresql", "sqlite")
    before = calculate(load_schema(text), sqlite)
    beta = before.tables[1]
    renamed = replace(
        beta,
        primary_key_name="beta_pk",
        foreign_keys=tuple(replace(fk, name="beta_alpha") for fk in beta.foreign_keys),
    )
    after = replace(before, tables=(before.tables[0], renamed))
    assert diff(before, after, sqlite) == []


RETYPE = DATASOURCE + "model Part {\n  id Int @id\n  v %s\n\n  @@index([v])\n}\n"


@pytest.mark.parametrize(
    ("before", "after", "clause"),
    [
        # SmallInt/Integer/BigInt widen safely (Prisma: SafeCast).
        ("Int", "BigInt", 'ALTER COLUMN "v" SET DATA TYPE BIGINT'),
        # Text to VarChar(n) may truncate (RiskyCast): still SET DATA TYPE.
        ("String", "String @db.VarChar(10)", 'ALTER COLUMN "v" SET DATA TYPE VARCHAR(10)'),
        # A precision on one side only is no change (Timestamp(None) => None).
        ("DateTime", "DateTime @db.Timestamp", None),
        # Json and JsonB cast both ways safely.
        ("Json", "Json @db.Json", 'ALTER COLUMN "v" SET DATA TYPE JSON'),
        # Boolean to Integer has no cast (NotCastable): dropped and added again.
        ("Boolean", "Int", 'DROP COLUMN "v",\nADD COLUMN     "v" INTEGER NOT NULL'),
        # Uuid to Text is safe, Text to Uuid is not castable.
        ("String @db.Uuid", "String", 'ALTER COLUMN "v" SET DATA TYPE TEXT'),
        ("String", "String @db.Uuid", 'DROP COLUMN "v",\nADD COLUMN     "v" UUID NOT NULL'),
        # A scalar made a list has no cast; a list written into TEXT does.
        ("String", "String[]", 'DROP COLUMN "v",\nADD COLUMN     "v" TEXT[]'),
        ("Int[]", "String", 'ALTER COLUMN "v" SET NOT NULL,\nALTER COLUMN "v" SET DATA TYPE TEXT'),
        # Bytes to anything but text is not castable.
        ("Bytes", "Int", 'DROP COLUMN "v",\nADD COLUMN     "v" INTEGER NOT NULL'),
    ],
)
def test_type_changes_follow_prismas_cast_rules(
    before: str, after: str, clause: str | None
) -> None:
    script = evolve(RETYPE % before, RETYPE % after)
    if clause is None:
        assert script == "-- This is an empty migration."
        return
    expected = f'-- AlterTable\nALTER TABLE "Part" {clause};\n'
    if "DROP COLUMN" in clause:
        # Dropping the column dropped its index: Prisma creates it again.
        expected += '\n-- CreateIndex\nCREATE INDEX "Part_v_idx" ON "Part"("v");\n'
    assert script == expected


def test_an_enum_column_changed_to_text_is_dropped_and_added_again() -> None:
    """An enum to or from any other type has no cast (Prisma checks enums first)."""
    after = ENUM_BEFORE.replace("  role Role @default(USER)\n", '  role String @default("USER")\n')
    assert evolve(ENUM_BEFORE, after) == (
        '-- AlterTable\nALTER TABLE "Member" DROP COLUMN "role",\n'
        "ADD COLUMN     \"role\" TEXT NOT NULL DEFAULT 'USER';\n"
    )


def test_type_change_warnings_follow_the_grade() -> None:
    """A safe cast warns of nothing, a risky one of the cast, one without a cast of the
    column dropped and added again, or (required, no default) cannot run."""
    from strata.migrate.warnings import data_loss_warnings

    def warnings(before: str, after: str) -> tuple[list[str], list[str]]:
        old = calculate(load_schema(RETYPE % before), DDL)
        new = calculate(load_schema(RETYPE % after), DDL)
        return data_loss_warnings(diff(old, new, DDL), None)

    assert warnings("Int", "BigInt") == ([], [])
    assert warnings("String", "String @db.VarChar(10)") == (
        [
            "You are about to alter the column `v` on the `Part` table. The data in that "
            "column could be lost. The data in that column will be cast from `TEXT` to "
            "`VARCHAR(10)`."
        ],
        [],
    )
    assert warnings("Boolean?", "Int?") == (
        [
            "The `v` column on the `Part` table would be dropped and recreated. This will "
            "lead to data loss if there is data in the column."
        ],
        [],
    )
    assert warnings("Boolean", "Int") == (
        [],
        [
            "Changed the type of `v` on the `Part` table. No cast exists, the column would be "
            "dropped and recreated, which cannot be done if there is data, since the column "
            "is required."
        ],
    )
    assert warnings("Boolean?", "Int") == (
        [],
        [
            "Added the required column `v` to the `Part` table without a default value. This "
            "is not possible if the table is not empty."
        ],
    )


def test_a_retyped_key_column_replaces_the_key_and_its_foreign_keys() -> None:
    """Prisma drops and adds again a primary key over a column whose type changes, and a
    foreign key over one (it no longer matches)."""
    before = ALPHA_BETA % ("", "")
    after = before.replace("  alphaId Int\n", "  alphaId BigInt\n").replace(
        "model Alpha {\n  id Int @id", "model Alpha {\n  id BigInt @id"
    )
    assert evolve(before, after) == (
        '-- DropForeignKey\nALTER TABLE "Beta" DROP CONSTRAINT "Beta_alphaId_fkey";\n\n'
        '-- AlterTable\nALTER TABLE "Alpha" DROP CONSTRAINT "Alpha_pkey",\n'
        'ALTER COLUMN "id" SET DATA TYPE BIGINT,\n'
        'ADD CONSTRAINT "Alpha_pkey" PRIMARY KEY ("id");\n\n'
        '-- AlterTable\nALTER TABLE "Beta" ALTER COLUMN "alphaId" SET DATA TYPE BIGINT;\n\n'
        '-- AddForeignKey\nALTER TABLE "Beta" ADD CONSTRAINT "Beta_alphaId_fkey" FOREIGN KEY '
        '("alphaId") REFERENCES "Alpha"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n'
    )


def test_no_change_is_an_empty_migration() -> None:
    assert evolve(ENUM_BEFORE, ENUM_BEFORE) == "-- This is an empty migration."


# -- the dialect -----------------------------------------------------------------------------


def test_postgresql_providers_and_urls_choose_the_postgresql_dialect() -> None:
    assert isinstance(dialect_for("postgresql"), PostgresDialect)
    assert isinstance(dialect_for("postgres"), PostgresDialect)
    assert dialect_for_url("postgresql://u@localhost/db").provider == "postgresql"
