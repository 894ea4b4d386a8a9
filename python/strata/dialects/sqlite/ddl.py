"""SQLite DDL: column types and defaults from the schema IR, and migration scripts in
Prisma's exact layout.

Prisma's SQLite DDL is the reference. Where it would produce SQL that fails or misbehaves,
this dialect deviates and says so here and in docs/PRISMA-DEVIATIONS.md:

* A ``BigInt`` id with ``@default(autoincrement())`` gets the column type ``INTEGER``:
  SQLite allows AUTOINCREMENT only on an ``INTEGER PRIMARY KEY``, so ``BIGINT ... PRIMARY
  KEY AUTOINCREMENT`` fails with "AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY".
  SQLite's INTEGER is 64-bit, so the range is the same.
* ``@default(dbgenerated("expr"))`` is written ``DEFAULT (expr)`` unless ``expr`` is itself a
  literal: SQLite accepts only literals, signed numbers and CURRENT_* keywords after
  DEFAULT without parentheses. SQLite keeps the expression without the outer parentheses,
  so introspection puts them back (`introspection_default`) for the two sides to compare
  equal.
* Scalar lists (``String[]``), which Prisma rejects on SQLite, are a strata extension:
  a ``TEXT`` column holding a JSON array.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING

from strata.schema import ir
from strata.schema.sql import (
    AlterTable,
    Column,
    CreateIndex,
    CreateTable,
    DropIndex,
    DropTable,
    Enum,
    ForeignKey,
    Index,
    RedefineIndex,
    RedefineTable,
    Step,
    Table,
    TypeChange,
    same_column,
)

if TYPE_CHECKING:
    from strata.dialects.base import KeyedStep

__all__ = ["SqliteDdl", "datetime_literal", "introspection_default", "quote"]

_TYPES = {
    "String": "TEXT",
    "Boolean": "BOOLEAN",
    "Int": "INTEGER",
    "BigInt": "BIGINT",
    "Float": "REAL",
    "Decimal": "DECIMAL",
    "DateTime": "DATETIME",
    "Json": "JSONB",
    "Bytes": "BLOB",
}

#: The Prisma type each column type spelled by `_TYPES` is read back as (`db pull`).
PRISMA_TYPES = {sql: prisma for prisma, sql in _TYPES.items()}

INDENT = "    "

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


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: What SQLite takes after DEFAULT without parentheses: a string, blob or (signed) number
#: literal, NULL, TRUE/FALSE and the CURRENT_* keywords.
_LITERAL_DEFAULT = re.compile(
    r"'(?:[^']|'')*'|[Xx]'[0-9A-Fa-f]*'|[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[Ee][+-]?\d+)?"
    r"|0[Xx][0-9A-Fa-f]+|(?i:null|true|false|current_timestamp|current_date|current_time)"
)


def _expression_default(expression: str) -> str:
    """``dbgenerated("expression")`` after DEFAULT: as written when SQLite takes it bare,
    else in parentheses (see the module docstring)."""
    return expression if _LITERAL_DEFAULT.fullmatch(expression) else f"({expression})"


def introspection_default(stored: str, column_type: str) -> str:
    """A default as ``PRAGMA table_info`` gives it, spelled as `SqliteDdl.column_default`
    spells it: an expression gets back the parentheses SQLite dropped, and a DateTime
    literal takes Prisma's form, so that one written in another form (by an earlier strata)
    compares equal to the same instant."""
    if column_type.upper() == "DATETIME" and stored.startswith("'") and stored.endswith("'"):
        return datetime_literal(stored[1:-1].replace("''", "'")) or stored
    return _expression_default(stored)


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def datetime_literal(text: str) -> str | None:
    """An RFC 3339 date-time as Prisma writes a DateTime default on SQLite,
    ``'2020-01-01 00:00:00 +00:00'``: a space before the time and before the offset, ``Z``
    as ``+00:00``, and the fraction in 3, 6 or 9 digits, whichever holds it exactly (none
    when zero). None when ``text`` is no such date-time."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    date, time, fraction, zulu, sign, hours, minutes = match.groups()
    nanoseconds = int((fraction or "0")[:9].ljust(9, "0"))
    if nanoseconds == 0:
        digits = ""
    elif nanoseconds % 1_000_000 == 0:
        digits = f".{nanoseconds // 1_000_000:03d}"
    elif nanoseconds % 1_000 == 0:
        digits = f".{nanoseconds // 1_000:06d}"
    else:
        digits = f".{nanoseconds:09d}"
    offset = "+00:00" if zulu or (hours == minutes == "00") else f"{sign}{hours}:{minutes}"
    return f"'{date} {time}{digits} {offset}'"


class SqliteDdl:
    """`strata.dialects.base.DdlDialect` for SQLite."""

    quote = staticmethod(quote)

    # -- from the IR ---------------------------------------------------------------------------

    def column_type(self, field: ir.ScalarField, schema: ir.Schema) -> str:
        if field.unsupported is not None:
            return field.unsupported
        if field.list or field.is_enum:
            return "TEXT"
        if field.type == "BigInt" and self._is_autoincrement_id(field):
            return "INTEGER"  # see the module docstring
        return _TYPES[field.type]

    def column_default(self, field: ir.ScalarField, schema: ir.Schema) -> str | None:
        default = field.default
        if default is None:
            return None
        if default.kind == "now":
            return "CURRENT_TIMESTAMP"
        if default.kind == "dbgenerated":
            return None if default.value is None else _expression_default(str(default.value))
        if default.kind != "value":
            # autoincrement is a column property; cuid/uuid/nanoid/ulid come from the client.
            return None
        value = default.value
        if field.list:
            return _string_literal(json.dumps(value, separators=(",", ":"), default=str))
        if field.is_enum:
            enum = schema.enum(field.type)
            db_name = next((v.db_name for v in enum.values if v.name == value), str(value))
            return _string_literal(db_name)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # as written in the schema: @default(1), not 1.0
        if isinstance(value, int | float | Decimal):
            return str(value)
        if field.type == "DateTime":
            literal = datetime_literal(str(value))
            if literal is None:
                raise ValueError(f"{value!r} is not an RFC 3339 date-time")
            return literal
        if field.type == "Bytes":
            return (
                f"X'{bytes(value).hex()}'"
                if isinstance(value, bytes)
                else _string_literal(str(value))
            )
        return _string_literal(str(value))

    def autoincrement(self, model: ir.Model, field: ir.ScalarField) -> bool:
        """Prisma gives a single-column Int primary key AUTOINCREMENT, with or without
        ``@default(autoincrement())``; a BigInt key only when it asks for it."""
        key = model.primary_key
        single_key = key is not None and [c.field for c in key.columns] == [field.name]
        if not single_key or field.list:
            return False
        return field.type == "Int" or (field.type == "BigInt" and self._is_autoincrement_id(field))

    @staticmethod
    def _is_autoincrement_id(field: ir.ScalarField) -> bool:
        return field.default is not None and field.default.kind == "autoincrement"

    def join_column_type(self, id_field: ir.ScalarField) -> str:
        return (
            "INTEGER" if id_field.type in ("Int", "BigInt") else _TYPES.get(id_field.type, "TEXT")
        )

    def not_null(self, field: ir.ScalarField) -> bool:
        return not field.optional

    def index_algorithm(self, index: ir.Index) -> str | None:
        return None

    def operator_class(self, column: ir.IndexColumn) -> str | None:
        return None

    def enums(self, schema: ir.Schema) -> tuple[Enum, ...]:
        return ()  # enum columns are TEXT

    def namespaces(self, schema: ir.Schema) -> tuple[str, ...]:
        return ()

    #: Prisma's SQLite join tables have a unique index ``_AB_unique``.
    join_table_primary_key = False
    #: Foreign keys are written inside CREATE TABLE: SQLite cannot add one later.
    separate_foreign_keys = False
    #: SQLite keeps no constraint names: there is nothing to rename.
    renames_keys = False

    # -- differences ---------------------------------------------------------------------------

    def type_change(self, before: Column, after: Column) -> TypeChange | None:
        """Any other type is a risky change (Prisma's SQLite grading); it only ever happens
        in a redefinition, SQLite altering no column in place."""
        return None if before.type.upper() == after.type.upper() else "risky"

    def alters_in_place(self, before: Table, after: Table) -> bool:
        """SQLite's ALTER TABLE can add a nullable column without a key, and nothing else
        that Prisma uses: any other change redefines the table."""
        new_columns = {c.name: c for c in after.columns}
        old_columns = {c.name: c for c in before.columns}
        for name, column in old_columns.items():
            replacement = new_columns.get(name)
            if replacement is None or not same_column(column, replacement):
                return False
        for name, column in new_columns.items():
            if name not in old_columns and (column.not_null or name in after.primary_key):
                return False
        if before.primary_key != after.primary_key:
            return False
        return set(before.foreign_keys) == set(after.foreign_keys)

    def order_steps(self, steps: list[KeyedStep]) -> list[Step]:
        """Prisma's SQLite order: dropped indexes, altered tables, dropped tables (before
        any is created, so a table can be replaced by one whose name differs only in case,
        which SQLite treats as the same name), created tables, redefined tables, created
        indexes, then renamed (redefined) indexes."""
        return [step for _, step in sorted(steps, key=lambda s: (_ORDER[type(s[1])], s[0]))]

    # -- rendering -----------------------------------------------------------------------------

    def render_column(self, column: Column, table: Table) -> str:
        parts = [f"{INDENT}{quote(column.name)} {column.type}"]
        if column.not_null:
            parts.append(" NOT NULL")
        if table.primary_key == (column.name,):
            parts.append(" PRIMARY KEY")
            if column.autoincrement:
                parts.append(" AUTOINCREMENT")
        if column.default is not None:
            parts.append(f" DEFAULT {column.default}")
        return "".join(parts)

    def render_create_table(self, table: Table, name: str | None = None) -> str:
        lines = [self.render_column(column, table) for column in table.columns]
        constraints = []
        if len(table.primary_key) > 1:
            columns = ", ".join(quote(c) for c in table.primary_key)
            # Prisma separates a compound primary key from the columns with a blank line.
            constraints.append(f"\n{INDENT}PRIMARY KEY ({columns})")
        constraints.extend(f"{INDENT}{self._render_foreign_key(fk)}" for fk in table.foreign_keys)
        body = ",\n".join(lines + constraints)
        return f"CREATE TABLE {quote(name or table.name)} (\n{body}\n)"

    def _render_foreign_key(self, fk: ForeignKey) -> str:
        columns = ", ".join(quote(c) for c in fk.columns)
        referenced = ", ".join(quote(c) for c in fk.referenced_columns)
        return (
            f"CONSTRAINT {quote(fk.name)} FOREIGN KEY ({columns}) "
            f"REFERENCES {quote(fk.referenced_table)} ({referenced}) "
            f"ON DELETE {fk.on_delete} ON UPDATE {fk.on_update}"
        )

    def render_create_index(self, table: str, index: Index) -> str:
        unique = "UNIQUE " if index.unique else ""
        columns = ", ".join(quote(c.name) + (f" {c.sort}" if c.sort else "") for c in index.columns)
        return f"CREATE {unique}INDEX {quote(index.name)} ON {quote(table)}({columns})"

    def render_steps(self, steps: list[Step]) -> list[tuple[str, list[str]]]:
        """Each step as Prisma prints it: its comment name and its statements. Consecutive
        table redefinitions share one ``RedefineTables`` block, as in Prisma."""
        rendered: list[tuple[str, list[str]]] = []
        redefinitions: list[RedefineTable] = [s for s in steps if isinstance(s, RedefineTable)]
        for step in steps:
            match step:
                case CreateTable(table=table):
                    rendered.append(("CreateTable", [self.render_create_table(table)]))
                case DropTable(table=table):
                    rendered.append(
                        (
                            "DropTable",
                            [
                                "PRAGMA foreign_keys=off",
                                f"DROP TABLE {quote(table.name)}",
                                "PRAGMA foreign_keys=on",
                            ],
                        )
                    )
                case AlterTable(table=table, added=added):
                    rendered.append(
                        (
                            "AlterTable",
                            [
                                f"ALTER TABLE {quote(table.name)} ADD COLUMN "
                                + self.render_column(column, table).strip()
                                for column in added
                            ],
                        )
                    )
                case RedefineTable() if step is redefinitions[0]:
                    rendered.append(("RedefineTables", self._redefine(redefinitions)))
                case RedefineTable():
                    pass  # rendered with the first
                case CreateIndex(table=table_name, index=index):
                    rendered.append(("CreateIndex", [self.render_create_index(table_name, index)]))
                case DropIndex(index=index):
                    rendered.append(("DropIndex", [f"DROP INDEX {quote(index.name)}"]))
                case RedefineIndex(table=table_name, before=old, after=new):
                    rendered.append(
                        (
                            "RedefineIndex",
                            [
                                f"DROP INDEX {quote(old.name)}",
                                self.render_create_index(table_name, new),
                            ],
                        )
                    )
        return rendered

    def _redefine(self, redefinitions: list[RedefineTable]) -> list[str]:
        statements = ["PRAGMA defer_foreign_keys=ON", "PRAGMA foreign_keys=OFF"]
        for step in redefinitions:
            name = step.after.name
            temporary = f"new_{name}"
            statements.append(self.render_create_table(step.after, temporary))
            if step.copied_columns:
                targets = ", ".join(quote(c) for c in step.copied_columns)
                sources = ", ".join(self._copied_value(step, c) for c in step.copied_columns)
                statements.append(
                    f"INSERT INTO {quote(temporary)} ({targets}) "
                    f"SELECT {sources} FROM {quote(name)}"
                )
            statements.append(f"DROP TABLE {quote(name)}")
            statements.append(f"ALTER TABLE {quote(temporary)} RENAME TO {quote(name)}")
            statements.extend(self.render_create_index(name, i) for i in step.after.indexes)
        statements += ["PRAGMA foreign_keys=ON", "PRAGMA defer_foreign_keys=OFF"]
        return statements

    @staticmethod
    def _copied_value(step: RedefineTable, name: str) -> str:
        """What the row copy selects for column ``name``: the column, or, when it turns from
        optional to required with a default, the default in place of its NULLs (Prisma's
        ``coalesce``), so that those rows survive the NOT NULL."""
        old, new = step.before.column(name), step.after.column(name)
        assert old is not None
        assert new is not None
        if new.not_null and not old.not_null and new.default is not None:
            return f"coalesce({quote(name)}, {new.default}) AS {quote(name)}"
        return quote(name)

    def render_script(self, steps: list[Step]) -> str:
        """The migration script Prisma would print for these steps."""
        blocks = [
            f"-- {name}\n" + "".join(f"{statement};\n" for statement in statements)
            for name, statements in self.render_steps(steps)
        ]
        if not blocks:
            return "-- This is an empty migration."
        return "\n".join(blocks)
