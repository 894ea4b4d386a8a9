"""Compare two `SqlSchema`s and list the steps that turn one into the other.

The differ is database-neutral; the DDL dialect decides what its database can do:

* whether a changed table can be altered in place (``alters_in_place``) or must be
  redefined (create ``new_X``, copy the rows, drop ``X``, rename), as on SQLite, whose
  ALTER TABLE can add a nullable column and little else;
* whether foreign keys are steps of their own (``separate_foreign_keys``), as on
  PostgreSQL, where they are added after every table exists;
* the order the steps run in (``order_steps``), which is Prisma's for that database, so
  the rendered script matches Prisma's byte for byte.

Enum types and namespaces come and go with the schemas: a dialect without them leaves
both empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.schema.sql import (
    AddForeignKey,
    AlteredColumn,
    AlterEnum,
    AlterTable,
    CreateEnum,
    CreateIndex,
    CreateSchema,
    CreateTable,
    DropEnum,
    DropForeignKey,
    DropIndex,
    DropTable,
    Index,
    RedefineTable,
    SqlSchema,
    Step,
    Table,
    same_column,
)

if TYPE_CHECKING:
    from strata.dialects.base import DdlDialect

__all__ = ["diff"]


def diff(before: SqlSchema, after: SqlSchema, ddl: DdlDialect | None = None) -> list[Step]:
    """The steps from ``before`` to ``after`` in ``ddl``'s database (SQLite, strata's
    default database, when not given)."""
    if ddl is None:
        from strata.dialects import dialect_for

        ddl = dialect_for("sqlite").ddl
    steps: list[Step] = [CreateSchema(n) for n in after.namespaces if n not in before.namespaces]
    steps.extend(_enum_steps(before, after))
    old_tables = {t.name: t for t in before.tables}
    new_names = {t.name for t in after.tables}
    for table in after.tables:
        old = old_tables.get(table.name)
        if old is None:
            steps.append(CreateTable(table))
            steps.extend(CreateIndex(table.name, i, table.namespace) for i in table.indexes)
            if ddl.separate_foreign_keys:
                steps.extend(AddForeignKey(table, fk) for fk in table.foreign_keys)
        else:
            steps.extend(_diff_table(old, table, ddl))
    for table in before.tables:
        if table.name not in new_names:
            steps.append(DropTable(table))
            if ddl.separate_foreign_keys:
                steps.extend(DropForeignKey(table, fk) for fk in table.foreign_keys)
    return ddl.order_steps(steps)


def _enum_steps(before: SqlSchema, after: SqlSchema) -> list[Step]:
    steps: list[Step] = []
    for enum in after.enums:
        old = before.enum(enum.name)
        if old is None:
            steps.append(CreateEnum(enum))
        elif set(old.values) != set(enum.values):
            columns = tuple(
                (table, column)
                for table in after.tables
                for column in table.columns
                if column.enum == enum.name
            )
            steps.append(AlterEnum(old, enum, columns))
    new_names = {e.name for e in after.enums}
    steps.extend(DropEnum(e) for e in before.enums if e.name not in new_names)
    return steps


def _diff_table(old: Table, new: Table, ddl: DdlDialect) -> list[Step]:
    if not ddl.alters_in_place(old, new):
        # The new table's indexes are recreated inside the redefinition.
        return [RedefineTable(old, new)]
    steps: list[Step] = []
    old_columns = {c.name: c for c in old.columns}
    new_columns = {c.name for c in new.columns}
    added = tuple(c for c in new.columns if c.name not in old_columns)
    dropped = tuple(c for c in old.columns if c.name not in new_columns)
    altered = tuple(
        AlteredColumn(previous, column)
        for column in new.columns
        if (previous := old_columns.get(column.name)) is not None
        and not same_column(previous, column)
    )
    key_changed = old.primary_key != new.primary_key
    if added or dropped or altered or key_changed:
        steps.append(AlterTable(new, added, dropped, altered, old if key_changed else None))
    old_indexes = {_index_identity(i): i for i in old.indexes}
    new_indexes = {_index_identity(i): i for i in new.indexes}
    steps.extend(
        DropIndex(old.name, i, old.namespace)
        for key, i in old_indexes.items()
        if key not in new_indexes
    )
    steps.extend(
        CreateIndex(new.name, i, new.namespace)
        for key, i in new_indexes.items()
        if key not in old_indexes
    )
    if ddl.separate_foreign_keys:
        # A foreign key renamed is dropped and added again.
        old_keys = {(fk, fk.name): fk for fk in old.foreign_keys}
        new_keys = {(fk, fk.name): fk for fk in new.foreign_keys}
        steps.extend(DropForeignKey(old, fk) for k, fk in old_keys.items() if k not in new_keys)
        steps.extend(AddForeignKey(new, fk) for k, fk in new_keys.items() if k not in old_keys)
    return steps


def _index_identity(index: Index) -> tuple[object, ...]:
    """What makes two indexes the same. An explicit ASC equals no sort order: SQLite does
    not record the difference."""
    columns = tuple((c.name, c.sort == "DESC", c.operator_class) for c in index.columns)
    return (index.name, index.unique, index.algorithm, columns)
