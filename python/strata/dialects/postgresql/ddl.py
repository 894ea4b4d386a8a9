"""PostgreSQL DDL: column types and defaults from the schema IR, and migration scripts in
the exact layout of Prisma's schema engine.

PostgreSQL changes a table in place, so no table is ever redefined: columns are added,
dropped and altered with ``ALTER TABLE``, foreign keys are their own steps (added after every
table and index exists, dropped first), and enums are types of their own (``CREATE TYPE``).
Steps run in Prisma's order: schemas, extensions (dropped, created, altered), enums, dropped
foreign keys and indexes, altered tables, dropped tables and enums, created tables, created
indexes, renamed foreign keys, added foreign keys, renamed indexes.

A column type change is graded by Prisma's rules (`strata.dialects.postgresql.casts`): a cast
is ``SET DATA TYPE``; a type without a cast drops the column and adds it again, within the
same ``ALTER TABLE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.dialects.postgresql import casts, types
from strata.schema import ir
from strata.schema.sql import (
    AddForeignKey,
    AlteredColumn,
    AlterEnum,
    AlterExtension,
    AlterTable,
    Column,
    CreateEnum,
    CreateExtension,
    CreateIndex,
    CreateSchema,
    CreateTable,
    DropEnum,
    DropExtension,
    DropForeignKey,
    DropIndex,
    DropTable,
    Enum,
    Extension,
    ForeignKey,
    Index,
    RedefineIndex,
    RedefineTable,
    RenameForeignKey,
    Step,
    Table,
    TypeChange,
)

if TYPE_CHECKING:
    from strata.dialects.base import KeyedStep

__all__ = ["PostgresDdl"]

INDENT = "    "
quote = types.quote

# Prisma's step order (its SqlMigrationStep variants, sorted).
_ORDER: dict[type, int] = {
    CreateSchema: 0,
    DropExtension: 1,
    CreateExtension: 2,
    AlterExtension: 3,
    CreateEnum: 4,
    AlterEnum: 5,
    DropForeignKey: 6,
    DropIndex: 7,
    AlterTable: 8,
    DropTable: 9,
    DropEnum: 10,
    CreateTable: 11,
    CreateIndex: 12,
    RenameForeignKey: 13,
    AddForeignKey: 14,
    RedefineIndex: 15,
}

_MANY_ENUM_VALUES_NOTE = """\
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.
"""


class PostgresDdl:
    """`strata.dialects.base.DdlDialect` for PostgreSQL."""

    quote = staticmethod(quote)

    #: Prisma's PostgreSQL join tables have a primary key ``_AB_pkey``.
    join_table_primary_key = True
    separate_foreign_keys = True
    renames_keys = True

    # -- from the IR ---------------------------------------------------------------------------

    def column_type(self, field: ir.ScalarField, schema: ir.Schema) -> str:
        return types.column_type(field, schema)

    def column_default(self, field: ir.ScalarField, schema: ir.Schema) -> str | None:
        return types.column_default(field, schema, types.column_type(field, schema))

    def autoincrement(self, model: ir.Model, field: ir.ScalarField) -> bool:
        """Only ``@default(autoincrement())`` makes a sequence (``SERIAL``) on PostgreSQL."""
        return field.default is not None and field.default.kind == "autoincrement"

    def join_column_type(self, id_field: ir.ScalarField) -> str:
        return types.scalar_type(id_field)

    def not_null(self, field: ir.ScalarField) -> bool:
        """Lists are nullable columns, as Prisma makes them."""
        return not field.optional and not field.list

    def index_algorithm(self, index: ir.Index) -> str | None:
        kind = index.kind
        return None if kind in (None, "btree", "fulltext") else kind.upper()

    def operator_class(self, column: ir.IndexColumn) -> str | None:
        return types.operator_class(column)

    def enums(self, schema: ir.Schema) -> tuple[Enum, ...]:
        return tuple(
            Enum(e.db_name, tuple(v.db_name for v in e.values), e.db_schema) for e in schema.enums
        )

    def namespaces(self, schema: ir.Schema) -> tuple[str, ...]:
        """The datasource's ``schemas``, else ``public``: Prisma creates the schema it
        migrates into when it is missing."""
        return schema.db_schemas or ("public",)

    # -- differences ---------------------------------------------------------------------------

    def type_change(self, before: Column, after: Column) -> TypeChange | None:
        return casts.type_change(before, after)

    def alters_in_place(self, before: Table, after: Table) -> bool:
        return True

    def order_steps(self, steps: list[KeyedStep]) -> list[Step]:
        """Prisma's order: by kind, then by table (indexes of new tables before those of
        existing ones, which their keys say)."""
        return [step for _, step in sorted(steps, key=lambda s: (_ORDER[type(s[1])], s[0]))]

    # -- rendering -----------------------------------------------------------------------------

    def render_column(self, column: Column, table: Table) -> str:
        sql_type = types.serial_type(column.type) if column.autoincrement else column.type
        parts = [f"{INDENT}{quote(column.name)} {sql_type}"]
        if column.not_null:
            parts.append(" NOT NULL")
        if column.default is not None:
            parts.append(f" DEFAULT {column.default}")
        return "".join(parts)

    def render_create_table(self, table: Table, name: str | None = None) -> str:
        body = ",\n".join(self.render_column(column, table) for column in table.columns)
        if table.primary_key:
            columns = ",".join(quote(c) for c in table.primary_key)
            constraint = quote(table.primary_key_name or f"{table.name}_pkey")
            body += f",\n\n{INDENT}CONSTRAINT {constraint} PRIMARY KEY ({columns})"
        return f"CREATE TABLE {_qualified(table.namespace, name or table.name)} (\n{body}\n)"

    def render_create_index(self, table: str, index: Index, namespace: str | None = None) -> str:
        unique = "UNIQUE " if index.unique else ""
        using = f" USING {index.algorithm} " if index.algorithm else ""
        columns = ", ".join(
            quote(c.name)
            + (f" {c.operator_class}" if c.operator_class else "")
            + (f" {c.sort}" if c.sort else "")
            for c in index.columns
        )
        return (
            f"CREATE {unique}INDEX {quote(index.name)} ON "
            f"{_qualified(namespace, table)}{using}({columns})"
        )

    def render_steps(self, steps: list[Step]) -> list[tuple[str, list[str]]]:
        """Each step as Prisma prints it: its comment name and its statements."""
        rendered: list[tuple[str, list[str]]] = []
        for step in steps:
            match step:
                case CreateSchema(name=name):
                    rendered.append(
                        ("CreateSchema", [f"CREATE SCHEMA IF NOT EXISTS {quote(name)}"])
                    )
                case CreateExtension(extension=extension):
                    rendered.append(("CreateExtension", [_create_extension(extension)]))
                case DropExtension(extension=extension):
                    rendered.append(("DropExtension", [f"DROP EXTENSION {quote(extension.name)}"]))
                case AlterExtension():
                    rendered.append(("AlterExtension", _alter_extension(step)))
                case CreateEnum(enum=enum):
                    values = ", ".join(types.string_literal(v) for v in enum.values)
                    statement = (
                        f"CREATE TYPE {_qualified(enum.namespace, enum.name)} AS ENUM ({values})"
                    )
                    rendered.append(("CreateEnum", [statement]))
                case AlterEnum():
                    rendered.append(("AlterEnum", self._alter_enum(step)))
                case DropEnum(enum=enum):
                    rendered.append(
                        ("DropEnum", [f"DROP TYPE {_qualified(enum.namespace, enum.name)}"])
                    )
                case CreateTable(table=table):
                    rendered.append(("CreateTable", [self.render_create_table(table)]))
                case DropTable(table=table):
                    rendered.append(
                        ("DropTable", [f"DROP TABLE {_qualified(table.namespace, table.name)}"])
                    )
                case AlterTable():
                    rendered.append(("AlterTable", self._alter_table(step)))
                case CreateIndex(table=name, index=index, namespace=namespace):
                    statement = self.render_create_index(name, index, namespace)
                    rendered.append(("CreateIndex", [statement]))
                case DropIndex(index=index, namespace=namespace):
                    statement = f"DROP INDEX {_qualified(namespace, index.name)}"
                    rendered.append(("DropIndex", [statement]))
                case AddForeignKey(table=table, foreign_key=fk):
                    rendered.append(("AddForeignKey", [self._add_foreign_key(table, fk)]))
                case DropForeignKey(table=table, foreign_key=fk):
                    statement = (
                        f"ALTER TABLE {_qualified(table.namespace, table.name)} "
                        f"DROP CONSTRAINT {quote(fk.name)}"
                    )
                    rendered.append(("DropForeignKey", [statement]))
                case RenameForeignKey(table=table, before=old_fk, after=new_fk):
                    statement = (
                        f"ALTER TABLE {_qualified(table.namespace, table.name)} "
                        f"RENAME CONSTRAINT {quote(old_fk.name)} TO {quote(new_fk.name)}"
                    )
                    rendered.append(("RenameForeignKey", [statement]))
                case RedefineIndex(before=old, after=new):
                    # PostgreSQL renames an index in place.
                    statement = f"ALTER INDEX {quote(old.name)} RENAME TO {quote(new.name)}"
                    rendered.append(("RenameIndex", [statement]))
                case RedefineTable():
                    raise AssertionError("PostgreSQL alters tables in place")
        return rendered

    def render_script(self, steps: list[Step]) -> str:
        """The migration script Prisma would print for these steps."""
        blocks = [
            f"-- {name}\n" + "".join(f"{statement};\n" for statement in statements)
            for name, statements in self.render_steps(steps)
        ]
        if not blocks:
            return "-- This is an empty migration."
        return "\n".join(blocks)

    # -- statements ----------------------------------------------------------------------------

    def _add_foreign_key(self, table: Table, fk: ForeignKey) -> str:
        columns = ", ".join(quote(c) for c in fk.columns)
        referenced = ", ".join(quote(c) for c in fk.referenced_columns)
        return (
            f"ALTER TABLE {_qualified(table.namespace, table.name)} ADD CONSTRAINT "
            f"{quote(fk.name)} FOREIGN KEY ({columns}) REFERENCES "
            f"{_qualified(fk.referenced_namespace, fk.referenced_table)}({referenced}) "
            f"ON DELETE {fk.on_delete} ON UPDATE {fk.on_update}"
        )

    def _alter_table(self, step: AlterTable) -> list[str]:
        """One ``ALTER TABLE`` with a clause per change, in Prisma's order: the old primary
        key dropped, columns dropped, added, altered, the new primary key added; sequences
        are created before it and owned or dropped after it. A renamed primary key is a
        statement of its own before it: PostgreSQL renames a constraint alone."""
        table = step.table
        name = _qualified(table.namespace, table.name)
        before: list[str] = []
        clauses: list[str] = []
        after: list[str] = []
        if step.renamed_primary_key is not None:
            key = table.primary_key_name or f"{table.name}_pkey"
            before.append(
                f"ALTER TABLE {name} RENAME CONSTRAINT {quote(step.renamed_primary_key)} "
                f"TO {quote(key)}"
            )
        if step.previous is not None and step.previous.primary_key:
            key = step.previous.primary_key_name or f"{table.name}_pkey"
            clauses.append(f"DROP CONSTRAINT {quote(key)}")
        clauses.extend(f"DROP COLUMN {quote(c.name)}" for c in step.dropped)
        clauses.extend(f"ADD COLUMN {self.render_column(c, table)}" for c in step.added)
        for change in step.altered:
            self._alter_column(table, change, before, clauses, after)
        if step.previous is not None and table.primary_key:
            key = table.primary_key_name or f"{table.name}_pkey"
            columns = ", ".join(quote(c) for c in table.primary_key)
            clauses.append(f"ADD CONSTRAINT {quote(key)} PRIMARY KEY ({columns})")
        if not clauses:
            return before
        return [*before, f"ALTER TABLE {name} " + ",\n".join(clauses), *after]

    def _alter_column(
        self,
        table: Table,
        change: AlteredColumn,
        before: list[str],
        clauses: list[str],
        after: list[str],
    ) -> None:
        """Prisma's clauses for one column, in its order: nullability, default,
        autoincrement, then the type. A type without a cast drops the column and adds it
        again instead."""
        old, new = change.before, change.after
        if change.cast == "not_castable":
            clauses.append(f"DROP COLUMN {quote(old.name)}")
            clauses.append(f"ADD COLUMN {self.render_column(new, table)}")
            return
        prefix = f"ALTER COLUMN {quote(new.name)}"
        if old.not_null != new.not_null:
            clauses.append(f"{prefix} {'SET' if new.not_null else 'DROP'} NOT NULL")
        if old.default != new.default and not (old.autoincrement and new.default is None):
            clauses.append(
                f"{prefix} DROP DEFAULT"
                if new.default is None
                else f"{prefix} SET DEFAULT {new.default}"
            )
        # A SERIAL column's default is its sequence, named as PostgreSQL names it.
        sequence = f"{table.name}_{new.name}_seq".lower()
        if old.autoincrement and not new.autoincrement:
            clauses.append(f"{prefix} DROP DEFAULT")
            after.append(f"DROP SEQUENCE {quote(sequence)}")
        elif new.autoincrement and not old.autoincrement:
            qualified = f"{quote(table.namespace)}.{sequence}" if table.namespace else sequence
            before.append(f"CREATE SEQUENCE {qualified}")
            clauses.append(f"{prefix} SET DEFAULT nextval({types.string_literal(qualified)})")
            after.append(
                f"ALTER SEQUENCE {qualified} OWNED BY "
                f"{_qualified(table.namespace, table.name)}.{quote(new.name)}"
            )
        if change.cast is not None:
            clauses.append(f"{prefix} SET DATA TYPE {new.type}")

    def _alter_enum(self, step: AlterEnum) -> list[str]:
        """Added values with ``ALTER TYPE ... ADD VALUE``; a removed value recreates the type:
        PostgreSQL cannot drop a value from an enum."""
        name = _qualified(step.before.namespace, step.before.name)
        if not step.removed:
            statements = [
                f"ALTER TYPE {name} ADD VALUE {types.string_literal(v)}" for v in step.added
            ]
            if len(statements) > 1:
                statements[0] = f"{_MANY_ENUM_VALUES_NOTE}\n\n{statements[0]}"
            return statements
        after = step.after
        temporary = _qualified(after.namespace, f"{after.name}_new")
        values = ", ".join(types.string_literal(v) for v in after.values)
        statements = ["BEGIN", f"CREATE TYPE {temporary} AS ENUM ({values})"]
        defaults = [(t, c) for t, c in step.columns if c.default is not None]
        for table, column in defaults:
            statements.append(
                f"ALTER TABLE {_qualified(table.namespace, table.name)} ALTER COLUMN "
                f"{quote(column.name)} DROP DEFAULT"
            )
        for table, column in step.columns:
            array = "[]" if column.type.endswith("[]") else ""
            statements.append(
                f"ALTER TABLE {_qualified(table.namespace, table.name)} ALTER COLUMN "
                f"{quote(column.name)} TYPE {temporary}{array} USING "
                f"({quote(column.name)}::text::{temporary}{array})"
            )
        statements.append(f"ALTER TYPE {name} RENAME TO {quote(step.before.name + '_old')}")
        statements.append(f"ALTER TYPE {temporary} RENAME TO {quote(after.name)}")
        old = _qualified(step.before.namespace, step.before.name + "_old")
        statements.append(f"DROP TYPE {old}")
        for table, column in defaults:
            statements.append(
                f"ALTER TABLE {_qualified(table.namespace, table.name)} ALTER COLUMN "
                f"{quote(column.name)} SET DEFAULT {column.default}"
            )
        statements.append("COMMIT")
        return statements


def _qualified(namespace: str | None, name: str) -> str:
    return f"{quote(namespace)}.{quote(name)}" if namespace else quote(name)


def _create_extension(extension: Extension) -> str:
    """Prisma's ``render_create_extension``: ``IF NOT EXISTS``, and a ``WITH`` clause naming
    the schema, then the version, where the Prisma schema gives them; the version is quoted
    as an identifier, as Prisma quotes it."""
    statement = f"CREATE EXTENSION IF NOT EXISTS {quote(extension.name)}"
    if extension.schema or extension.version:
        statement += " WITH"
    if extension.schema:
        statement += f" SCHEMA {quote(extension.schema)}"
    if extension.version:
        statement += f" VERSION {quote(extension.version)}"
    return statement


def _alter_extension(step: AlterExtension) -> list[str]:
    """Prisma's ``render_alter_extension``: one statement per change, the version first."""
    name = quote(step.before.name)
    return [
        f"ALTER EXTENSION {name} UPDATE TO {quote(step.after.version)}"
        if change == "version"
        else f"ALTER EXTENSION {name} SET SCHEMA {quote(step.after.schema)}"
        for change in step.changes
    ]
