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
    "AlterTable",
    "Column",
    "CreateIndex",
    "CreateTable",
    "DropIndex",
    "DropTable",
    "ForeignKey",
    "Index",
    "IndexColumn",
    "RedefineIndex",
    "RedefineTable",
    "SqlSchema",
    "Step",
    "Table",
]


@dataclass(frozen=True)
class Column:
    name: str
    #: The SQL type as the dialect spells it: ``TEXT``, ``INTEGER``, ``DATETIME``...
    type: str
    not_null: bool
    #: The default as SQL text after ``DEFAULT``: ``'QUEUED'``, ``0``, ``CURRENT_TIMESTAMP``.
    default: str | None = None
    autoincrement: bool = False


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


@dataclass(frozen=True)
class IndexColumn:
    name: str
    sort: Literal["ASC", "DESC"] | None = None


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    primary_key_name: str | None = field(default=None, compare=False)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class SqlSchema:
    tables: tuple[Table, ...] = ()

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


# -- steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class DropTable:
    table: Table


@dataclass(frozen=True)
class AlterTable:
    """Columns added with ``ALTER TABLE ... ADD COLUMN``."""

    table: Table
    added: tuple[Column, ...]


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


@dataclass(frozen=True)
class DropIndex:
    table: str
    index: Index


@dataclass(frozen=True)
class RedefineIndex:
    """An index kept but renamed, where the database cannot rename one: dropped and created
    again under its new name."""

    table: str
    before: Index
    after: Index


Step = (
    CreateTable | DropTable | AlterTable | RedefineTable | CreateIndex | DropIndex | RedefineIndex
)
