"""The database as tables, columns, keys and indexes, and the steps that change one.

The migrator compares two `SqlSchema`s: one calculated from the Prisma schema
(`strata.migrate.sql_schema.calculate`), one read back from a database (the dialect's
introspection). Both sides use the same shapes and the same spelling of types and defaults,
so comparing them is plain equality. The differ (`strata.migrate.diff`) turns a difference
into `Step`s and the dialect renders them as SQL. Everything here is database-neutral; what a
type or default is called in SQL comes from the dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AddForeignKey",
    "AlterEnum",
    "AlterExtension",
    "AlterTable",
    "AlteredColumn",
    "Column",
    "CreateEnum",
    "CreateExtension",
    "CreateIndex",
    "CreateSchema",
    "CreateTable",
    "DropEnum",
    "DropExtension",
    "DropForeignKey",
    "DropIndex",
    "DropTable",
    "Enum",
    "Extension",
    "ForeignKey",
    "Index",
    "IndexColumn",
    "RedefineIndex",
    "RedefineTable",
    "RenameForeignKey",
    "SqlSchema",
    "Step",
    "Table",
    "TypeChange",
    "same_column",
]

#: How a column's data fares when its type changes in place, as Prisma grades it: cast
#: without loss (``safe``), cast with possible loss or failure (``risky``), or no cast at all
#: (``not_castable``: the column is dropped and added again, losing its data).
TypeChange = Literal["safe", "risky", "not_castable"]


@dataclass(frozen=True)
class Column:
    name: str
    #: The SQL type as the dialect spells it: ``TEXT``, ``INTEGER``, ``DATETIME``...
    type: str
    not_null: bool
    #: The default as SQL text after ``DEFAULT``: ``'QUEUED'``, ``0``, ``CURRENT_TIMESTAMP``.
    default: str | None = None
    autoincrement: bool = False
    #: The enum type the column holds, for databases with enum types (its name is in
    #: ``type`` too).
    enum: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    referenced_table: str
    referenced_columns: tuple[str, ...]
    #: SQL spellings: ``CASCADE``, ``RESTRICT``, ``NO ACTION``, ``SET NULL``, ``SET DEFAULT``.
    on_delete: str
    on_update: str
    #: Compared only where the database keeps constraint names.
    name: str = field(default="", compare=False)
    #: The referenced table's namespace (`Table.namespace`).
    referenced_namespace: str | None = None


@dataclass(frozen=True)
class IndexColumn:
    name: str
    sort: Literal["ASC", "DESC"] | None = None
    #: The operator class as the database spells it (``jsonb_path_ops``), where one is given.
    operator_class: str | None = None


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool
    #: The index method as SQL spells it after ``USING`` (``HASH``, ``GIN``); None for the
    #: database's default (a B-tree).
    algorithm: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    primary_key_name: str | None = field(default=None, compare=False)
    #: The database schema (PostgreSQL's ``@@schema``) the table lives in; None for the
    #: connection's default one.
    namespace: str | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Enum:
    """A database enum type (PostgreSQL's ``CREATE TYPE ... AS ENUM``)."""

    name: str
    #: The stored values, in declaration order.
    values: tuple[str, ...]
    namespace: str | None = None


@dataclass(frozen=True)
class Extension:
    """A database extension (PostgreSQL's ``CREATE EXTENSION``). An empty ``schema`` or
    ``version`` is one the Prisma schema leaves open, which any installed one matches."""

    name: str
    schema: str = ""
    version: str = ""
    #: Whether ``ALTER EXTENSION ... SET SCHEMA`` can move it (read from the database; a
    #: calculated extension is not, as in Prisma).
    relocatable: bool = False


@dataclass(frozen=True)
class SqlSchema:
    tables: tuple[Table, ...] = ()
    #: Enum types, for databases that have them.
    enums: tuple[Enum, ...] = ()
    #: Database schemas (namespaces) the tables and enums live in, for databases that have
    #: them: PostgreSQL's ``public``, or the datasource's ``schemas`` list.
    namespaces: tuple[str, ...] = ()
    #: Extensions, for databases that have them: the datasource's ``extensions``, or those
    #: installed.
    extensions: tuple[Extension, ...] = ()

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def enum(self, name: str) -> Enum | None:
        return next((e for e in self.enums if e.name == name), None)


def same_column(a: Column, b: Column) -> bool:
    """Whether two columns of one name need no change between them."""
    return (
        a.type.upper() == b.type.upper()
        and a.not_null == b.not_null
        and a.default == b.default
        and a.autoincrement == b.autoincrement
    )


# -- steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class DropTable:
    table: Table


@dataclass(frozen=True)
class AlteredColumn:
    """A column kept under its name whose type, nullability, default or autoincrement
    changed."""

    before: Column
    after: Column
    #: How the type changes, as the dialect grades it; None where it does not change.
    cast: TypeChange | None = None


@dataclass(frozen=True)
class AlterTable:
    """A table changed in place with ``ALTER TABLE``: columns added, dropped or altered,
    and the primary key replaced. Only a dialect whose ``alters_in_place`` accepts the
    change gets more than ``added``."""

    table: Table
    added: tuple[Column, ...]
    dropped: tuple[Column, ...] = ()
    altered: tuple[AlteredColumn, ...] = ()
    #: The table before the change, where the primary key changed (its old constraint is
    #: dropped).
    previous: Table | None = None
    #: The primary key's old name, where the key is kept and only its name changed (renamed
    #: in place, for dialects whose database keeps constraint names).
    renamed_primary_key: str | None = None


@dataclass(frozen=True)
class RedefineTable:
    before: Table
    after: Table

    @property
    def copied_columns(self) -> tuple[str, ...]:
        """Columns whose data carries over: those present before and after, by name in
        code point order (the order Prisma's differ pairs columns in, and so copies them)."""
        old = {c.name for c in self.before.columns}
        return tuple(sorted(c.name for c in self.after.columns if c.name in old))

    @property
    def dropped_columns(self) -> tuple[str, ...]:
        new = {c.name for c in self.after.columns}
        return tuple(c.name for c in self.before.columns if c.name not in new)


@dataclass(frozen=True)
class CreateIndex:
    table: str
    index: Index
    #: The table's namespace (`Table.namespace`).
    namespace: str | None = None


@dataclass(frozen=True)
class DropIndex:
    table: str
    index: Index
    namespace: str | None = None


@dataclass(frozen=True)
class AddForeignKey:
    """A foreign key added with ``ALTER TABLE``, for dialects that keep foreign keys out of
    ``CREATE TABLE``."""

    table: Table
    foreign_key: ForeignKey


@dataclass(frozen=True)
class DropForeignKey:
    table: Table
    foreign_key: ForeignKey


@dataclass(frozen=True)
class RenameForeignKey:
    """A foreign key kept (same columns, references and actions) whose name changed, for
    dialects that rename a constraint in place."""

    table: Table
    before: ForeignKey
    after: ForeignKey


@dataclass(frozen=True)
class CreateSchema:
    name: str


@dataclass(frozen=True)
class CreateEnum:
    enum: Enum


@dataclass(frozen=True)
class DropEnum:
    enum: Enum


@dataclass(frozen=True)
class AlterEnum:
    """An enum whose values changed. ``columns`` are the tables and columns (of the new
    schema) typed with it, which a dialect that cannot remove a value must convert."""

    before: Enum
    after: Enum
    columns: tuple[tuple[Table, Column], ...] = ()

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(v for v in self.after.values if v not in self.before.values)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(v for v in self.before.values if v not in self.after.values)


@dataclass(frozen=True)
class CreateExtension:
    extension: Extension


@dataclass(frozen=True)
class DropExtension:
    """An extension dropped, only ever to create it again with another version or schema
    (`CreateExtension`): an extension the schema no longer lists is left installed."""

    extension: Extension


@dataclass(frozen=True)
class AlterExtension:
    """A relocatable extension moved to the schema's version and database schema in place.
    ``changes`` lists ``"version"`` and ``"schema"``, each where it differs."""

    before: Extension
    after: Extension
    changes: tuple[Literal["version", "schema"], ...]


@dataclass(frozen=True)
class RedefineIndex:
    """An index kept but renamed, where the database cannot rename one: dropped and created
    again under its new name."""

    table: str
    before: Index
    after: Index


Step = (
    CreateSchema
    | DropExtension
    | CreateExtension
    | AlterExtension
    | CreateEnum
    | AlterEnum
    | DropEnum
    | CreateTable
    | DropTable
    | AlterTable
    | RedefineTable
    | CreateIndex
    | DropIndex
    | AddForeignKey
    | DropForeignKey
    | RenameForeignKey
    | RedefineIndex
)
