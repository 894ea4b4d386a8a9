"""Reading a live SQLite database's tables back into `strata.schema.sql` shapes, spelled
as `strata.dialects.sqlite.ddl` spells them, so that comparing with what a schema calls for
is plain equality."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING

from strata.dialects.base import PulledColumn
from strata.dialects.sqlite.ddl import PRISMA_TYPES, introspection_default, quote
from strata.errors import ConfigurationError
from strata.schema.sql import Column, ForeignKey, Index, IndexColumn, SqlSchema, Table
from strata.schema.syntax import Argument, FunctionCall, Identifier, NumberValue, StringValue

if TYPE_CHECKING:
    from strata.dialects.base import Queryable

__all__ = ["introspect", "pulled"]

#: The tables strata's migrations never touch: SQLite's own, and Prisma's history table.
_INTERNAL_TABLE = re.compile(r"^(sqlite_|_prisma_migrations$)")


def introspect(engine: Queryable, namespaces: tuple[str, ...] = ()) -> SqlSchema:
    """Read the tables of a live database back into a `SqlSchema`. SQLite has no
    namespaces to read."""
    if namespaces:
        raise ConfigurationError("SQLite has no database schemas (namespaces) to introspect")
    tables = []
    names = engine.query_raw_(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid", as_tuples=True
    )
    for name, create_sql in names:
        if _INTERNAL_TABLE.match(name):
            continue
        tables.append(_introspect_table(engine, name, create_sql or ""))
    return SqlSchema(tuple(tables))


def _introspect_table(engine: Queryable, name: str, create_sql: str) -> Table:
    info = engine.query_raw_(f"PRAGMA table_info({quote(name)})")
    primary = tuple(row["name"] for row in sorted(info, key=lambda r: r["pk"]) if row["pk"])
    autoincrement = "AUTOINCREMENT" in create_sql.upper()
    columns = tuple(
        Column(
            name=row["name"],
            type=row["type"],
            not_null=bool(row["notnull"]),
            default=None
            if row["dflt_value"] is None
            else introspection_default(row["dflt_value"], row["type"]),
            autoincrement=autoincrement and primary == (row["name"],),
        )
        for row in info
    )
    foreign_keys = _introspect_foreign_keys(engine, name, create_sql)
    indexes = []
    for row in engine.query_raw_(f"PRAGMA index_list({quote(name)})"):
        if row["origin"] == "pk" or row["name"].startswith("sqlite_autoindex_"):
            continue
        index_columns = tuple(
            IndexColumn(c["name"], "DESC" if c["desc"] else None)
            for c in engine.query_raw_(f"PRAGMA index_xinfo({quote(row['name'])})")
            if c["key"]
        )
        indexes.append(Index(row["name"], index_columns, bool(row["unique"])))
    # index_list lists the newest first; creation order is sqlite_master's order.
    created = {
        index_name: position
        for position, (index_name,) in enumerate(
            engine.query_raw_(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "ORDER BY rowid",
                name,
                as_tuples=True,
            )
        )
    }
    indexes.sort(key=lambda index: created.get(index.name, 0))
    return Table(name, columns, primary, foreign_keys, tuple(indexes))


_CONSTRAINT_NAME = re.compile(r'CONSTRAINT\s+"((?:[^"]|"")+)"\s+FOREIGN\s+KEY\s*\(([^)]*)\)', re.I)


def _introspect_foreign_keys(
    engine: Queryable, table: str, create_sql: str
) -> tuple[ForeignKey, ...]:
    rows = engine.query_raw_(f"PRAGMA foreign_key_list({quote(table)})")
    grouped: dict[int, list[dict[str, object]]] = {}
    for row in rows:
        grouped.setdefault(int(row["id"]), []).append(row)
    # SQLite keeps no constraint names; recover them from the CREATE TABLE text.
    names = {
        tuple(c.strip().strip('"') for c in columns.split(",")): name.replace('""', '"')
        for name, columns in _CONSTRAINT_NAME.findall(create_sql)
    }
    foreign_keys = []
    # foreign_key_list numbers keys in reverse order of declaration.
    for key_id in sorted(grouped, reverse=True):
        parts = sorted(grouped[key_id], key=lambda r: int(str(r["seq"])))
        columns = tuple(str(p["from"]) for p in parts)
        foreign_keys.append(
            ForeignKey(
                columns=columns,
                referenced_table=str(parts[0]["table"]),
                referenced_columns=tuple(str(p["to"]) for p in parts),
                on_delete=str(parts[0]["on_delete"]),
                on_update=str(parts[0]["on_update"]),
                name=names.get(columns, ""),
            )
        )
    return tuple(foreign_keys)


# -- db pull ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_STRING = re.compile(r"'((?:[^']|'')*)'")
_BLOB = re.compile(r"[xX]'([0-9a-fA-F]*)'")


def pulled(column: Column) -> PulledColumn:
    """The Prisma field the DDL part renders back as ``column``: a type whose DDL spelling
    is the column's exact type (anything else is ``Unsupported``, which renders verbatim),
    and the default in the form the DDL part writes it."""
    prisma_type = PRISMA_TYPES.get(column.type)
    if prisma_type is None:
        return PulledColumn("Unsupported", column.type, _default(column, None))
    return PulledColumn(prisma_type, None, _default(column, prisma_type))


def _default(
    column: Column, prisma_type: str | None
) -> FunctionCall | Identifier | NumberValue | StringValue | None:
    if column.autoincrement:
        return FunctionCall("autoincrement", ())
    text = column.default
    if text is None or text.upper() == "NULL":
        return None
    if text.upper() == "CURRENT_TIMESTAMP" and prisma_type == "DateTime":
        return FunctionCall("now", ())
    if prisma_type == "Boolean" and text.lower() in ("true", "false"):
        return Identifier(text.lower())
    if prisma_type in ("Int", "BigInt", "Float", "Decimal") and _NUMBER.fullmatch(text):
        return NumberValue(text)
    if prisma_type == "Bytes" and (blob := _BLOB.fullmatch(text)):
        return StringValue(base64.b64encode(bytes.fromhex(blob[1])).decode())
    if prisma_type is not None and (string := _STRING.fullmatch(text)):
        return StringValue(string[1].replace("''", "'"))
    # An expression: the DDL part writes `dbgenerated("expr")` as `DEFAULT (expr)`.
    inner = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    return FunctionCall("dbgenerated", (Argument(None, StringValue(inner)),))
