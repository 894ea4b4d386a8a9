"""The plain records the dialect protocol (`strata.dialects.base`) hands back: how a pulled
column reads as a Prisma field, a redefinition's row copy, a scratch database. They live
apart from the protocols so that each file stays readable; `strata.dialects.base` exports
them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strata.schema.syntax import Expression

__all__ = ["PulledColumn", "RowCopy", "ScratchDatabase"]


@dataclass(frozen=True)
class PulledColumn:
    """A column as a Prisma scalar field (`IntrospectionDialect.pulled`): its type, or
    ``Unsupported``'s text where no Prisma type renders back as the column's, and the
    argument of its ``@default(...)`` as schema syntax."""

    type: str
    unsupported: str | None = None
    default: Expression | None = None
    #: The ``@db.X(arguments)`` attribute, where the column's type is not the Prisma type's
    #: default one: ``("VarChar", ("255",))``.
    native_type: tuple[str, tuple[str, ...]] | None = None
    #: A list field (a PostgreSQL array column).
    list: bool = False
    #: The database enum the column holds, for databases with enum types. ``type`` is then
    #: the enum's database name, and a default names its stored values as identifiers; the
    #: writer gives both their Prisma names.
    enum: str | None = None


@dataclass(frozen=True)
class RowCopy:
    """A table redefinition's row copy, recognised in a migration script, as the
    statements that run it range by range so that progress can be shown."""

    #: The table copied from, as progress reports name it.
    source: str
    #: One row: the least and the greatest row key of the source (NULLs when empty).
    bounds_sql: str
    #: The copy of the rows whose key is in [first parameter, second parameter).
    range_sql: str


@dataclass(frozen=True)
class ScratchDatabase:
    """A throwaway database (`MigrationsDialect.scratch_database`): where it is, and what
    the main database's connection runs to create it and to drop it afterwards (nothing for
    a private in-memory database, which goes with its connection)."""

    url: str
    create_sql: str | None = None
    drop_sql: str | None = None
