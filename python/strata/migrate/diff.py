"""Compare two `SqlSchema`s and list the steps that turn one into the other.

The differ is database-neutral; the DDL dialect decides what its database can do:

* whether a changed table can be altered in place (``alters_in_place``) or must be
  redefined (create ``new_X``, copy the rows, drop ``X``, rename), as on SQLite, whose
  ALTER TABLE can add a nullable column and little else;
* whether foreign keys are steps of their own (``separate_foreign_keys``), as on
  PostgreSQL, where they are added after every table exists;
* the order the steps run in (``order_steps``), which is Prisma's for that database, so
  the rendered script matches Prisma's byte for byte. Each step comes with where Prisma
  sorts it among steps of its kind: by its table's position (in the previous schema when
  the table is there, else in the next; indexes of new tables before those of existing
  ones), then the index's.

Extensions are matched by name, and an extension the schema leaves without a version or
database schema matches any installed one (Prisma's ``extensions_match``). One whose
version or schema differs is altered in place when it is relocatable, else dropped and
created again; one that is no longer listed is left installed: Prisma never drops an
extension otherwise.

Where the dialect's database keeps constraint names (``renames_keys``), a primary key or
foreign key is matched by what it covers, as Prisma matches it, and one that only changes
name is renamed (`AlterTable.renamed_primary_key`, `RenameForeignKey`). A column whose
type changes is graded by the dialect (``type_change``, Prisma's rules): a change it calls
no change is none, and a foreign key or primary key over a column whose type changes is
dropped and made again, as Prisma does.

Indexes are matched by what they cover (uniqueness, method, columns, sort orders, operator
classes), not by name, as Prisma matches them: an index that only changes name is a
`RedefineIndex` step, which the dialect renames or drops and creates again. Enum types and
namespaces come and go with the schemas: a dialect without them leaves both empty.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Literal

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
    Extension,
    ForeignKey,
    Index,
    RedefineIndex,
    RedefineTable,
    RenameForeignKey,
    SqlSchema,
    Step,
    Table,
    same_column,
)

if TYPE_CHECKING:
    from strata.dialects.base import DdlDialect, KeyedStep

__all__ = ["diff"]


def diff(before: SqlSchema, after: SqlSchema, ddl: DdlDialect | None = None) -> list[Step]:
    """The steps from ``before`` to ``after`` in ``ddl``'s database (SQLite, strata's
    default database, when not given)."""
    if ddl is None:
        from strata.dialects import dialect_for

        ddl = dialect_for("sqlite").ddl
    keyed: list[KeyedStep] = [
        ((), CreateSchema(n)) for n in after.namespaces if n not in before.namespaces
    ]
    keyed.extend(_extension_steps(before.extensions, after.extensions))
    keyed.extend(((), step) for step in _enum_steps(before, after))
    old_tables = {t.name: (position, t) for position, t in enumerate(before.tables)}
    new_names = {t.name for t in after.tables}
    for new_position, table in enumerate(after.tables):
        found = old_tables.get(table.name)
        if found is None:
            keyed.append(((new_position,), CreateTable(table)))
            keyed.extend(
                ((0, new_position, i), CreateIndex(table.name, index, table.namespace))
                for i, index in enumerate(table.indexes)
            )
            if ddl.separate_foreign_keys:
                keyed.extend(
                    ((new_position,), AddForeignKey(table, fk)) for fk in table.foreign_keys
                )
        else:
            old_position, old = found
            keyed.extend(_diff_table(old, table, old_position, new_position, ddl))
    dropped = [(p, t) for p, t in enumerate(before.tables) if t.name not in new_names]
    for position, table in dropped:
        keyed.append(((position,), DropTable(table)))
        if ddl.separate_foreign_keys:
            keyed.extend(((position,), DropForeignKey(table, fk)) for fk in table.foreign_keys)
    if any(isinstance(step, RedefineTable) for _, step in keyed):
        # Prisma drops a dropped table's indexes first when the migration redefines any
        # table (the redefinition recreates indexes, whose names must then be free).
        keyed.extend(
            ((position, i), DropIndex(table.name, index, table.namespace))
            for position, table in dropped
            for i, index in enumerate(table.indexes)
        )
    return ddl.order_steps(keyed)


def _extension_steps(
    before: tuple[Extension, ...], after: tuple[Extension, ...]
) -> list[KeyedStep]:
    """Prisma's extension steps, each keyed by the extension's position in its schema (the
    previous one for a drop, the next one for a create, both for an alteration)."""
    steps: list[KeyedStep] = []
    old_names = {e.name for e in before}
    for old_position, old in enumerate(before):
        for new_position, new in enumerate(after):
            if new.name != old.name or _extensions_match(old, new):
                continue
            if old.relocatable or new.relocatable:
                changes: list[Literal["version", "schema"]] = []
                if old.version and new.version and old.version != new.version:
                    changes.append("version")
                if old.schema and new.schema and old.schema != new.schema:
                    changes.append("schema")
                alter = AlterExtension(old, new, tuple(changes))
                steps.append(((old_position, new_position), alter))
            else:
                steps.append(((old_position,), DropExtension(old)))
                steps.append(((new_position,), CreateExtension(new)))
            break
    steps.extend(
        ((position,), CreateExtension(extension))
        for position, extension in enumerate(after)
        if extension.name not in old_names
    )
    return steps


def _extensions_match(a: Extension, b: Extension) -> bool:
    """Same name, and version and schema equal or left open on either side."""
    return (
        a.name == b.name
        and (a.version == b.version or not a.version or not b.version)
        and (a.schema == b.schema or not a.schema or not b.schema)
    )


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


def _diff_table(
    old: Table, new: Table, old_position: int, new_position: int, ddl: DdlDialect
) -> list[KeyedStep]:
    """The steps for a table in both schemas, each with its sort key (see the module
    docstring)."""
    if not ddl.alters_in_place(old, new):
        # The new table's indexes are recreated inside the redefinition.
        return [((old_position,), RedefineTable(old, new))]
    steps: list[KeyedStep] = []
    old_columns = {c.name: c for c in old.columns}
    new_columns = {c.name for c in new.columns}
    added = tuple(c for c in new.columns if c.name not in old_columns)
    dropped = tuple(c for c in old.columns if c.name not in new_columns)
    altered = tuple(
        change
        for column in new.columns
        if (previous := old_columns.get(column.name)) is not None
        and (change := _altered_column(previous, column, ddl)) is not None
    )
    retyped = {a.after.name for a in altered if a.cast is not None}
    key_changed = old.primary_key != new.primary_key or any(
        name in retyped for name in old.primary_key
    )
    renamed_key = None
    if ddl.renames_keys and not key_changed and old.primary_key:
        old_name = old.primary_key_name or f"{old.name}_pkey"
        if old_name != (new.primary_key_name or f"{new.name}_pkey"):
            renamed_key = old_name
    if added or dropped or altered or key_changed or renamed_key:
        replaced = old if key_changed else None
        alter = AlterTable(new, added, dropped, altered, replaced, renamed_key)
        steps.append(((old_position,), alter))
    old_keys = [_index_identity(i) for i in old.indexes]
    new_keys = [_index_identity(i) for i in new.indexes]
    steps.extend(
        ((old_position, i), DropIndex(old.name, index, old.namespace))
        for i, index in enumerate(old.indexes)
        if old_keys[i] not in new_keys
    )
    # An existing table's new indexes sort after every new table's (``1`` against ``0``).
    # Dropping a column drops its indexes: a kept index over a column dropped and added
    # again (a type without a cast) is created again, as Prisma does.
    recreated = {a.after.name for a in altered if a.cast == "not_castable"}
    steps.extend(
        ((1, old_position, new_position, i), CreateIndex(new.name, index, new.namespace))
        for i, index in enumerate(new.indexes)
        if new_keys[i] not in old_keys or any(c.name in recreated for c in index.columns)
    )
    for i, index in enumerate(old.indexes):
        # Only an index no other index of the table duplicates is followed through a
        # rename, as in Prisma: with two alike, which one was renamed is a guess.
        if old_keys.count(old_keys[i]) != 1 or old_keys[i] not in new_keys:
            continue
        renamed = new.indexes[new_keys.index(old_keys[i])]
        if renamed.name != index.name:
            steps.append(((old_position, i), RedefineIndex(new.name, index, renamed)))
    if ddl.separate_foreign_keys:
        steps.extend(_foreign_key_steps(old, new, old_position, retyped, ddl))
    return steps


def _altered_column(old: Column, new: Column, ddl: DdlDialect) -> AlteredColumn | None:
    """The change of a column kept under its name, graded by the dialect where in-place
    type changes have grades; None when nothing changes."""
    cast = ddl.type_change(old, new) if old.type.upper() != new.type.upper() else None
    if cast is None and same_column(replace(old, type=new.type), new):
        return None
    return AlteredColumn(old, new, cast)


def _foreign_key_steps(
    old: Table, new: Table, old_position: int, retyped: set[str], ddl: DdlDialect
) -> list[KeyedStep]:
    """Foreign keys dropped, added and renamed. Two match when they cover the same columns
    the same way (whatever their names) and none of their columns changes type; where the
    database cannot rename them, a renamed one is dropped and added again."""

    def identity(fk: ForeignKey) -> object:
        return fk if ddl.renames_keys else (fk, fk.name)

    def kept(fk: ForeignKey) -> bool:
        return not retyped & set(fk.columns)

    # The new foreign keys not yet paired, by position (equal ones may differ in name).
    unpaired = [i for i, fk in enumerate(new.foreign_keys) if kept(fk)]
    pairs: list[tuple[int, ForeignKey, ForeignKey]] = []
    steps: list[KeyedStep] = []
    for i, fk in enumerate(old.foreign_keys):
        found = [j for j in unpaired if identity(new.foreign_keys[j]) == identity(fk)]
        if kept(fk) and found:
            unpaired.remove(found[0])
            pairs.append((i, fk, new.foreign_keys[found[0]]))
        else:
            steps.append(((old_position,), DropForeignKey(old, fk)))
    paired = {id(after) for _, _, after in pairs}
    steps.extend(
        ((old_position,), AddForeignKey(new, fk)) for fk in new.foreign_keys if id(fk) not in paired
    )
    # Prisma leaves the foreign keys of implicit many-to-many tables (columns A and B) with
    # their names: it named them differently once and would not rename them on upgrade.
    join_table = {c.name for c in new.columns} == {"A", "B"}
    steps.extend(
        ((old_position, i), RenameForeignKey(new, before, after))
        for i, before, after in pairs
        if before.name != after.name and not join_table
    )
    return steps


def _index_identity(index: Index) -> tuple[object, ...]:
    """What makes two indexes the same, whatever their names. An explicit ASC equals no
    sort order: SQLite does not record the difference."""
    columns = tuple((c.name, c.sort == "DESC", c.operator_class) for c in index.columns)
    return (index.unique, index.algorithm, columns)
