"""Compare two `SqlSchema`s and list the steps that turn one into the other.

Steps come out in the order Prisma's schema engine emits them, so the rendered script
matches Prisma's byte for byte: dropped indexes, altered tables, created tables, redefined
tables, dropped tables, then created indexes.

SQLite's ALTER TABLE can add a nullable column and little else, so any other change to an
existing table (a dropped or changed column, a new required column, a changed primary or
foreign key) redefines the table: create ``new_X``, copy the rows, drop ``X``, rename.
"""

from __future__ import annotations

from strata.schema.sql import (
    AlterTable,
    Column,
    CreateIndex,
    CreateTable,
    DropIndex,
    DropTable,
    Index,
    RedefineTable,
    SqlSchema,
    Step,
    Table,
)

__all__ = ["diff"]


# The order Prisma's schema engine sorts its SQLite steps in.
_ORDER = {
    DropIndex: 0,
    AlterTable: 1,
    CreateTable: 2,
    RedefineTable: 3,
    DropTable: 4,
    CreateIndex: 5,
}


def diff(before: SqlSchema, after: SqlSchema) -> list[Step]:
    steps: list[Step] = []
    old_tables = {t.name: t for t in before.tables}
    new_names = {t.name for t in after.tables}
    for table in after.tables:
        old = old_tables.get(table.name)
        if old is None:
            steps.append(CreateTable(table))
            steps.extend(CreateIndex(table.name, index) for index in table.indexes)
        else:
            steps.extend(_diff_table(old, table))
    steps.extend(DropTable(t) for t in before.tables if t.name not in new_names)
    # sorted() is stable, so steps of one kind keep table order.
    return sorted(steps, key=lambda step: _ORDER[type(step)])


def _diff_table(old: Table, new: Table) -> list[Step]:
    if _needs_redefinition(old, new):
        # The new table's indexes are recreated inside the redefinition.
        return [RedefineTable(old, new)]
    steps: list[Step] = []
    old_columns = {c.name for c in old.columns}
    added = tuple(c for c in new.columns if c.name not in old_columns)
    if added:
        steps.append(AlterTable(new, added))
    old_indexes = {_index_identity(i): i for i in old.indexes}
    new_indexes = {_index_identity(i): i for i in new.indexes}
    steps.extend(DropIndex(old.name, i) for key, i in old_indexes.items() if key not in new_indexes)
    steps.extend(
        CreateIndex(new.name, i) for key, i in new_indexes.items() if key not in old_indexes
    )
    return steps


def _needs_redefinition(old: Table, new: Table) -> bool:
    new_columns = {c.name: c for c in new.columns}
    old_columns = {c.name: c for c in old.columns}
    for name, column in old_columns.items():
        replacement = new_columns.get(name)
        if replacement is None or not _same_column(column, replacement):
            return True
    for name, column in new_columns.items():
        # ALTER TABLE ADD COLUMN cannot add a key or a NOT NULL column.
        if name not in old_columns and (column.not_null or name in new.primary_key):
            return True
    if old.primary_key != new.primary_key:
        return True
    return set(old.foreign_keys) != set(new.foreign_keys)


def _same_column(a: Column, b: Column) -> bool:
    return (
        a.type.upper() == b.type.upper()
        and a.not_null == b.not_null
        and a.default == b.default
        and a.autoincrement == b.autoincrement
    )


def _index_identity(index: Index) -> tuple[object, ...]:
    """What makes two indexes the same. An explicit ASC equals no sort order: SQLite does
    not record the difference."""
    columns = tuple((c.name, c.sort == "DESC") for c in index.columns)
    return (index.name, index.unique, columns)
