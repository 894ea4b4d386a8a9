"""Compare two `SqlSchema`s and list the steps that turn one into the other.

Steps come out in the order Prisma's schema engine emits them, so the rendered script
matches Prisma's byte for byte: dropped indexes, altered tables, dropped tables, created
tables, redefined tables, created indexes, then renamed (redefined) indexes. Dropping
before creating is what lets a table be replaced by one whose name differs only in case
(``Garden`` to ``garden``), which SQLite treats as the same name.

SQLite's ALTER TABLE can add a nullable column and little else, so any other change to an
existing table (a dropped or changed column, a new required column, a changed primary or
foreign key) redefines the table: create ``new_X``, copy the rows, drop ``X``, rename.

Indexes are matched by what they cover (uniqueness, columns, sort orders), not by name, as
Prisma matches them: an index that only changes name is redefined (dropped and created
under the new name), SQLite having no RENAME INDEX.
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
    RedefineIndex,
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
    DropTable: 2,
    CreateTable: 3,
    RedefineTable: 4,
    CreateIndex: 5,
    RedefineIndex: 6,
}


def diff(before: SqlSchema, after: SqlSchema) -> list[Step]:
    # Each step is paired with where Prisma sorts it among steps of its kind: by the
    # table's position (in the previous schema when it has one there, else in the next;
    # indexes of new tables before those of existing ones), then the index's.
    keyed: list[tuple[tuple[int, ...], Step]] = []
    old_tables = {t.name: (position, t) for position, t in enumerate(before.tables)}
    new_names = {t.name for t in after.tables}
    for new_position, table in enumerate(after.tables):
        found = old_tables.get(table.name)
        if found is None:
            keyed.append(((new_position,), CreateTable(table)))
            keyed.extend(
                ((0, new_position, i), CreateIndex(table.name, index))
                for i, index in enumerate(table.indexes)
            )
        else:
            old_position, old = found
            keyed.extend(_diff_table(old, table, old_position, new_position))
    dropped = [(p, t) for p, t in enumerate(before.tables) if t.name not in new_names]
    keyed.extend(((position,), DropTable(table)) for position, table in dropped)
    if any(isinstance(step, RedefineTable) for _, step in keyed):
        # Prisma drops a dropped table's indexes first when the migration redefines any
        # table (the redefinition recreates indexes, whose names must then be free).
        keyed.extend(
            ((position, i), DropIndex(table.name, index))
            for position, table in dropped
            for i, index in enumerate(table.indexes)
        )
    keyed.sort(key=lambda item: (_ORDER[type(item[1])], item[0]))
    return [step for _, step in keyed]


def _diff_table(
    old: Table, new: Table, old_position: int, new_position: int
) -> list[tuple[tuple[int, ...], Step]]:
    """The steps for a table in both schemas, each with its sort key (see `diff`)."""
    if _needs_redefinition(old, new):
        # The new table's indexes are recreated inside the redefinition.
        return [((old_position,), RedefineTable(old, new))]
    steps: list[tuple[tuple[int, ...], Step]] = []
    old_columns = {c.name for c in old.columns}
    added = tuple(c for c in new.columns if c.name not in old_columns)
    if added:
        steps.append(((old_position,), AlterTable(new, added)))
    old_keys = [_index_identity(i) for i in old.indexes]
    new_keys = [_index_identity(i) for i in new.indexes]
    steps.extend(
        ((old_position, i), DropIndex(old.name, index))
        for i, index in enumerate(old.indexes)
        if old_keys[i] not in new_keys
    )
    # An existing table's new indexes sort after every new table's (``1`` against ``0``).
    steps.extend(
        ((1, old_position, new_position, i), CreateIndex(new.name, index))
        for i, index in enumerate(new.indexes)
        if new_keys[i] not in old_keys
    )
    for i, index in enumerate(old.indexes):
        # Only an index no other index of the table duplicates is followed through a
        # rename, as in Prisma: with two alike, which one was renamed is a guess.
        if old_keys.count(old_keys[i]) != 1 or old_keys[i] not in new_keys:
            continue
        renamed = new.indexes[new_keys.index(old_keys[i])]
        if renamed.name != index.name:
            steps.append(((old_position, i), RedefineIndex(new.name, index, renamed)))
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
    """What makes two indexes the same, whatever their names. An explicit ASC equals no
    sort order: SQLite does not record the difference."""
    columns = tuple((c.name, c.sort == "DESC") for c in index.columns)
    return (index.unique, columns)
