"""Prisma's data-loss warnings and unexecutable steps for a list of migration steps, worded
as Prisma words them.

Prisma checks a migration twice. Against the live data, a check knows how many rows a table
holds or how many values a column does, and says nothing when there are none; that decides
whether ``db push`` or ``migrate dev`` may go ahead. Without data (``counts`` None), every
check speaks, in its conditional wording ("If the table is not empty, ..."): that is the
header Prisma writes at the top of a migration.sql, the same whatever data the development
database holds, since the migration will run on other databases too.

Within a step, warnings come in Prisma's order: a primary key change, then added columns,
dropped columns and changed columns, each by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from strata.schema.sql import (
    AlterTable,
    Column,
    CreateIndex,
    CreateTable,
    DropTable,
    Index,
    RedefineTable,
    Step,
    Table,
    TypeChange,
)

__all__ = ["DataCounts", "data_loss_warnings", "render_warnings"]


@dataclass(frozen=True)
class DataCounts:
    """Counts read from the live database: a table's rows, and a column's non-null values
    (both 0 for a table the database does not have). A table is given whole, so that a
    multiSchema table is counted in its own schema."""

    rows: Callable[[Table], int]
    values: Callable[[Table, str], int]


def data_loss_warnings(steps: list[Step], counts: DataCounts | None) -> tuple[list[str], list[str]]:
    """The warnings for ``steps`` and the steps that cannot run, against ``counts`` or,
    with None, against data unknown (see the module docstring)."""
    warnings: list[str] = []
    unexecutable: list[str] = []
    created = {step.table.name for step in steps if isinstance(step, CreateTable)}
    for step in steps:
        match step:
            case DropTable(table=table):
                rows = counts.rows(table) if counts else None
                if rows is None:
                    warnings.append(
                        f"You are about to drop the `{table.name}` table. If the table is not "
                        "empty, all the data it contains will be lost."
                    )
                elif rows:
                    warnings.append(
                        f"You are about to drop the `{table.name}` table, which is not empty "
                        f"({rows} rows)."
                    )
            case RedefineTable():
                _redefinition(step, counts, warnings, unexecutable)
            case AlterTable():
                # Altered in place (PostgreSQL): the same checks as a redefinition, except
                # that a default does not fill the NULLs of a column made required, and a
                # type change speaks as the dialect graded it.
                change = RedefineTable(_before_alter(step), step.table)
                casts = {a.after.name: a.cast for a in step.altered}
                replaced = step.previous is not None
                _redefinition(
                    change, counts, warnings, unexecutable, casts=casts, key_replaced=replaced
                )
            case CreateIndex(table=table_name, index=index) if index.unique:
                # A table created along with its index holds no rows to collide.
                if table_name not in created:
                    warnings.extend(_new_unique_warnings(table_name, (), (index,)))
            case _:
                pass
    return warnings, unexecutable


def _before_alter(step: AlterTable) -> Table:
    """The table an in-place change starts from, rebuilt from the step."""
    added = {c.name for c in step.added}
    previous = {a.after.name: a.before for a in step.altered}
    columns = tuple(previous.get(c.name, c) for c in step.table.columns if c.name not in added)
    key = step.table.primary_key if step.previous is None else step.previous.primary_key
    return replace(step.table, columns=columns + step.dropped, primary_key=key)


def _redefinition(
    step: RedefineTable,
    counts: DataCounts | None,
    warnings: list[str],
    unexecutable: list[str],
    *,
    casts: dict[str, TypeChange | None] | None = None,
    key_replaced: bool = False,
) -> None:
    """The checks of a table that changes shape. ``casts``: for a table altered in place,
    each altered column's graded type change (None for a redefinition, where any type
    change is risky and a column made required with a default gets the default in its
    NULLs, as SQLite's row copy does). ``key_replaced``: the primary key is dropped and
    added again even where its columns stay (one of them changes type)."""
    before, after = step.before, step.after
    table = before.name
    rows = counts.rows(before) if counts else None

    def values(column: str) -> int | None:
        return None if counts is None or rows == 0 else counts.values(before, column)

    key_changed = key_replaced or before.primary_key != after.primary_key
    if before.primary_key and key_changed and rows != 0:
        warnings.append(
            f"The primary key for the `{table}` table will be changed. If it partially fails, "
            "the table could be left without primary key constraint."
        )
    old_names = {c.name for c in before.columns}
    for column in sorted(after.columns, key=lambda c: c.name):
        if column.name in old_names or not column.not_null or column.default is not None:
            continue
        if rows is None:
            detail = "This is not possible if the table is not empty."
        elif rows:
            detail = (
                f"There are {rows} rows in this table, it is not possible to execute this step."
            )
        else:
            continue
        unexecutable.append(
            f"Added the required column `{column.name}` to the `{after.name}` table without a "
            f"default value. {detail}"
        )
    for dropped in sorted(step.dropped_columns):
        count = values(dropped)
        if count is None and rows != 0:
            warnings.append(
                f"You are about to drop the column `{dropped}` on the `{table}` table. All the "
                "data in the column will be lost."
            )
        elif count:
            warnings.append(
                f"You are about to drop the column `{dropped}` on the `{table}` table, which "
                f"still contains {count} non-null values."
            )
    for name in step.copied_columns:
        old, new = before.column(name), after.column(name)
        assert old is not None
        assert new is not None
        cast = casts.get(name) if casts is not None else None
        if cast == "not_castable":
            _recreated_column(table, old, new, rows, values(name), warnings, unexecutable)
            continue
        fills_nulls = casts is None
        if new.not_null and not old.not_null and (new.default is None or not fills_nulls):
            # With a default, SQLite's copy fills the NULLs in (see the dialect's row copy).
            count = values(name)
            if rows == 0:
                pass
            elif rows is None or count is None:
                unexecutable.append(
                    f"Made the column `{name}` on table `{table}` required. This step will "
                    "fail if there are existing NULL values in that column."
                )
            elif nulls := rows - count:
                unexecutable.append(
                    f"Made the column `{name}` on table `{table}` required, but there are "
                    f"{nulls} existing NULL values."
                )
        risky = cast == "risky" if casts is not None else old.type.upper() != new.type.upper()
        if risky:
            count = values(name)
            note = f"The data in that column will be cast from `{old.type}` to `{new.type}`."
            if count is None and rows != 0:
                warnings.append(
                    f"You are about to alter the column `{name}` on the `{table}` table. The "
                    f"data in that column could be lost. {note}"
                )
            elif count:
                warnings.append(
                    f"You are about to alter the column `{name}` on the `{table}` table, which "
                    f"contains {count} non-null values. {note}"
                )
    warnings.extend(_new_unique_warnings(after.name, before.indexes, after.indexes))


def _recreated_column(
    table: str,
    old: Column,
    new: Column,
    rows: int | None,
    values: int | None,
    warnings: list[str],
    unexecutable: list[str],
) -> None:
    """Prisma's checks of a column dropped and added again (a type without a cast): the
    new column cannot be required without a default where there are rows, and its values
    are lost."""
    if rows == 0:
        return
    if new.not_null and new.default is None:
        if not old.not_null:
            detail = (
                "This is not possible if the table is not empty."
                if rows is None
                else f"There are {rows} rows in this table, it is not possible to execute "
                "this step."
            )
            unexecutable.append(
                f"Added the required column `{old.name}` to the `{table}` table without a "
                f"default value. {detail}"
            )
        else:
            detail = (
                "which cannot be done if there is data, since the column is required."
                if rows is None
                else "which cannot be done since the column is required and there is data "
                "in the table."
            )
            unexecutable.append(
                f"Changed the type of `{old.name}` on the `{table}` table. No cast exists, the "
                f"column would be dropped and recreated, {detail}"
            )
    elif values is None:
        warnings.append(
            f"The `{old.name}` column on the `{table}` table would be dropped and recreated. "
            "This will lead to data loss if there is data in the column."
        )
    elif values:
        warnings.append(
            f"The `{old.name}` column on the `{table}` table would be dropped and recreated. "
            "This will lead to data loss."
        )


def _new_unique_warnings(
    table: str, before: tuple[Index, ...], after: tuple[Index, ...]
) -> list[str]:
    old_names = {i.name for i in before}
    return [
        f"A unique constraint covering the columns `[{','.join(c.name for c in index.columns)}]` "
        f"on the table `{table}` will be added. If there are existing duplicate values, this "
        "will fail."
        for index in after
        if index.unique and index.name not in old_names
    ]


def render_warnings(warnings: list[str]) -> str:
    """Prisma's ``/* Warnings: */`` header for a migration.sql, or nothing."""
    if not warnings:
        return ""
    items = "".join(f"  - {warning}\n" for warning in warnings)
    return f"/*\n  Warnings:\n\n{items}\n*/\n"
