"""Reading a live PostgreSQL database back into `strata.schema.sql` shapes, spelled as
`strata.dialects.postgresql.ddl` spells them, so that comparing with what a schema calls for
is plain equality.

The catalog is read in creation order (object ids), which is the order the DDL part's
scripts create tables, indexes, foreign keys and enums in, so a database built by a script
reads back in the order `strata.migrate.sql_schema.calculate` lists it. Types are rebuilt
from the catalog's type names and modifiers (``VARCHAR(255)``, ``TIMESTAMPTZ(6)``,
``DECIMAL(65,30)``), not taken from ``format_type``, whose spelling differs from Prisma's.
Defaults are read with ``pg_get_expr`` and put back in the form the DDL part writes them:
PostgreSQL adds casts (``'A'::"Role"``), quotes negative numbers (``'-1'::integer``) and
rewrites timestamps and ``jsonb`` in its own canonical text.

Extensions are read from ``pg_extension`` by name, wherever they are installed, as Prisma's
describer reads them, except ``plpgsql``, which every database has and no schema lists.

Two things a catalog cannot tell are read as their plain form: an index column declared
``ASC`` (PostgreSQL records only ``DESC``) and an operator class named although it is the
default one.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from strata._compat import UTC, fromisoformat
from strata.dialects.postgresql.pulled import array_items, pulled
from strata.dialects.postgresql.types import prisma_datetime, quote
from strata.schema.sql import (
    Column,
    Enum,
    Extension,
    ForeignKey,
    Index,
    IndexColumn,
    SqlSchema,
    Table,
)

if TYPE_CHECKING:
    from strata.dialects.base import Queryable

__all__ = ["introspect", "pulled"]

#: Prisma's migration history table, which no schema describes.
_HISTORY_TABLE = "_prisma_migrations"

#: Catalog type names and their spelling in the DDL part, for types without modifiers.
_PLAIN_TYPES = {
    "int2": "SMALLINT",
    "int4": "INTEGER",
    "int8": "BIGINT",
    "oid": "OID",
    "float4": "REAL",
    "float8": "DOUBLE PRECISION",
    "money": "MONEY",
    "bool": "BOOLEAN",
    "text": "TEXT",
    "uuid": "UUID",
    "xml": "XML",
    "inet": "INET",
    "citext": "CITEXT",
    "date": "DATE",
    "json": "JSON",
    "jsonb": "JSONB",
    "bytea": "BYTEA",
}
#: Types whose modifier is a length (stored plus 4 for the character types) or a precision.
_MODIFIED_TYPES = {
    "varchar": ("VARCHAR", 4),
    "bpchar": ("CHAR", 4),
    "bit": ("BIT", 0),
    "varbit": ("VARBIT", 0),
    "timestamp": ("TIMESTAMP", 0),
    "timestamptz": ("TIMESTAMPTZ", 0),
    "time": ("TIME", 0),
    "timetz": ("TIMETZ", 0),
}
_NUMERIC_TYPES = {"int2", "int4", "int8", "oid", "float4", "float8", "numeric"}
_DATETIME_TYPES = {"timestamp", "timestamptz", "date"}

#: ``pg_constraint``'s referential action codes.
_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

# The schemas a query reads are bound as parameters; `{namespaces}` becomes their list.
_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname IN ({namespaces})
ORDER BY c.oid
"""

_COLUMNS_SQL = """
SELECT n.nspname, c.relname, a.attname, a.attnotnull, a.attidentity <> '' AS identity,
       a.atttypmod, t.typcategory = 'A' AND t.typelem <> 0 AS is_array,
       b.typname, b.typtype, bn.nspname AS type_namespace,
       format_type(b.oid, a.atttypmod) AS formatted,
       pg_get_expr(d.adbin, d.adrelid) AS default_sql
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0
                               THEN t.typelem ELSE t.oid END
JOIN pg_namespace bn ON bn.oid = b.typnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND n.nspname IN ({namespaces})
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.oid, a.attnum
"""

_CONSTRAINTS_SQL = """
SELECT n.nspname, c.relname, k.conname, k.contype, k.confdeltype, k.confupdtype,
       rn.nspname AS referenced_namespace, r.relname AS referenced_table,
       ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.i) AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
             ORDER BY u.i) AS referenced_columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class r ON r.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype IN ('p', 'f') AND n.nspname IN ({namespaces})
ORDER BY k.oid
"""

# One row per key column of each index that is not a primary key's, partial or on an
# expression (none of which a Prisma schema describes).
_INDEXES_SQL = """
SELECT n.nspname, c.relname, i.relname AS index_name, x.indisunique, am.amname,
       a.attname, (x.indoption[u.i - 1] & 1) = 1 AS descending,
       CASE WHEN oc.opcdefault THEN NULL ELSE oc.opcname END AS operator_class
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS u(attnum, i)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.attnum
JOIN pg_opclass oc ON oc.oid = x.indclass[u.i - 1]
WHERE NOT x.indisprimary AND x.indpred IS NULL AND x.indexprs IS NULL
  AND u.i <= x.indnkeyatts AND n.nspname IN ({namespaces})
ORDER BY x.indexrelid, u.i
"""

_ENUMS_SQL = """
SELECT n.nspname, t.typname, e.enumlabel
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typtype = 'e' AND n.nspname IN ({namespaces})
ORDER BY t.oid, e.enumsortorder
"""

_EXTENSIONS_SQL = """
SELECT e.extname, n.nspname, e.extversion, e.extrelocatable
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'
ORDER BY e.extname
"""

_EXISTING_SCHEMAS_SQL = "SELECT nspname FROM pg_namespace WHERE nspname IN ({namespaces})"
_CURRENT_SCHEMA_SQL = "SELECT current_schema()"


def introspect(engine: Queryable, namespaces: tuple[str, ...] = ()) -> SqlSchema:
    """The tables, enums and extensions of a live database. Without ``namespaces``, those of the
    connection's schema (the URL's ``?schema=``, else ``public``), with no namespace on
    them, as a schema without ``schemas`` in its datasource calculates them; with
    ``namespaces`` (the datasource's ``schemas``), those of each, each with its namespace."""
    qualified = bool(namespaces)
    if not namespaces:
        current = engine.query_raw_(_CURRENT_SCHEMA_SQL, as_tuples=True)[0][0]
        if current is None:
            # The search path names no schema that exists: there is nothing to read.
            return SqlSchema()
        namespaces = (current,)
    reader = _Reader(engine, namespaces, qualified)
    existing = {row[0] for row in reader.rows(_EXISTING_SCHEMAS_SQL)}
    return SqlSchema(
        tables=reader.tables(),
        enums=reader.enums(),
        namespaces=tuple(n for n in namespaces if n in existing),
        extensions=tuple(
            Extension(name, schema, version, bool(relocatable))
            for name, schema, version, relocatable in engine.query_raw_(
                _EXTENSIONS_SQL, as_tuples=True
            )
        ),
    )


class _Reader:
    """The catalog queries for one set of schemas."""

    def __init__(self, engine: Queryable, namespaces: tuple[str, ...], qualified: bool) -> None:
        self.engine = engine
        self.namespaces = namespaces
        self.qualified = qualified

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        placeholders = ", ".join(f"${n}" for n in range(1, len(self.namespaces) + 1))
        return self.engine.query_raw_(
            sql.format(namespaces=placeholders), *self.namespaces, as_tuples=True
        )

    def namespace(self, name: str | None) -> str | None:
        """A namespace as the shapes carry it: only when reading more than the connection's
        own schema."""
        return name if self.qualified else None

    def tables(self) -> tuple[Table, ...]:
        keys = [
            (namespace, name)
            for namespace, name in self.rows(_TABLES_SQL)
            if name != _HISTORY_TABLE
        ]
        columns: dict[tuple[str, str], list[Column]] = {key: [] for key in keys}
        for row in self.rows(_COLUMNS_SQL):
            if (key := (row[0], row[1])) in columns:
                columns[key].append(self._column(row[2:]))
        primary_keys: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        foreign_keys: dict[tuple[str, str], list[ForeignKey]] = {key: [] for key in keys}
        for row in self.rows(_CONSTRAINTS_SQL):
            namespace, table, name, kind, on_delete, on_update = row[:6]
            referenced_namespace, referenced_table, key_columns, referenced_columns = row[6:]
            if (key := (namespace, table)) not in columns:
                continue
            if kind == "p":
                primary_keys[key] = (name, tuple(key_columns))
            else:
                foreign_keys[key].append(
                    ForeignKey(
                        columns=tuple(key_columns),
                        referenced_table=referenced_table,
                        referenced_columns=tuple(referenced_columns),
                        on_delete=_ACTIONS[on_delete],
                        on_update=_ACTIONS[on_update],
                        name=name,
                        referenced_namespace=self.namespace(referenced_namespace),
                    )
                )
        indexes = self._indexes()
        tables = []
        for key in keys:
            primary_key_name, primary_key = primary_keys.get(key, (None, ()))
            tables.append(
                Table(
                    name=key[1],
                    columns=tuple(columns[key]),
                    primary_key=primary_key,
                    foreign_keys=tuple(foreign_keys[key]),
                    indexes=tuple(indexes.get(key, ())),
                    primary_key_name=primary_key_name,
                    namespace=self.namespace(key[0]),
                )
            )
        return tuple(tables)

    def _column(self, row: tuple[Any, ...]) -> Column:
        name, not_null, identity, modifier, is_array, type_name, kind, type_namespace = row[:8]
        formatted, default_sql = row[8:]
        enum = type_name if kind == "e" else None
        if enum is not None:
            base = quote(type_name)
            if self.qualified or type_namespace not in self.namespaces:
                base = f"{quote(type_namespace)}.{base}"
        else:
            base = _type(type_name, modifier) or formatted
        sql_type = base + "[]" if is_array else base
        autoincrement = bool(identity) or (
            default_sql is not None and default_sql.startswith("nextval(")
        )
        default = None
        if default_sql is not None and not autoincrement:
            default = _default(default_sql, type_name, sql_type, is_array)
        return Column(
            name=name,
            type=sql_type,
            not_null=bool(not_null),
            default=default,
            autoincrement=autoincrement,
            enum=enum,
        )

    def _indexes(self) -> dict[tuple[str, str], list[Index]]:
        found: dict[tuple[str, str], dict[str, Index]] = {}
        for namespace, table, name, unique, method, column, descending, operator_class in self.rows(
            _INDEXES_SQL
        ):
            indexes = found.setdefault((namespace, table), {})
            index_column = IndexColumn(column, "DESC" if descending else None, operator_class)
            index = indexes.get(name)
            if index is None:
                algorithm = None if method == "btree" else method.upper()
                indexes[name] = Index(name, (index_column,), bool(unique), algorithm)
            else:
                indexes[name] = Index(
                    name, (*index.columns, index_column), index.unique, index.algorithm
                )
        return {key: list(indexes.values()) for key, indexes in found.items()}

    def enums(self) -> tuple[Enum, ...]:
        values: dict[tuple[str, str], list[str]] = {}
        for namespace, name, label in self.rows(_ENUMS_SQL):
            values.setdefault((namespace, name), []).append(label)
        return tuple(
            Enum(name, tuple(labels), self.namespace(namespace))
            for (namespace, name), labels in values.items()
        )


def _type(type_name: str, modifier: int) -> str | None:
    """The DDL part's spelling of a built-in type, or None for a type Prisma has no native
    type for (read as ``format_type`` spells it, which ``Unsupported("...")`` repeats)."""
    if type_name in _PLAIN_TYPES:
        return _PLAIN_TYPES[type_name]
    if type_name == "numeric":
        if modifier < 0:
            return "DECIMAL"
        precision, scale = ((modifier - 4) >> 16) & 0xFFFF, (modifier - 4) & 0xFFFF
        return f"DECIMAL({precision},{scale})"
    if type_name in _MODIFIED_TYPES:
        spelling, offset = _MODIFIED_TYPES[type_name]
        return spelling if modifier < 0 else f"{spelling}({modifier - offset})"
    return None


# -- defaults ----------------------------------------------------------------------------------

_STRING = r"'(?:[^']|'')*'"
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
# A cast PostgreSQL adds: a type name, maybe schema-qualified and quoted, with modifiers and
# array brackets. No operators, so an expression with a cast in it is not taken for one.
_CAST = r'(?:::[\w ."]+(?:\(\d+(?:,\d+)?\))?[\w ]*(?:\[\])?)?'
_LITERAL = re.compile(rf"({_STRING}|{_NUMBER}|true|false){_CAST}")
_ARRAY = re.compile(rf"ARRAY\[(.*?)\]{_CAST}", re.S)


def _default(sql: str, type_name: str, sql_type: str, is_array: bool) -> str:
    """A default as the DDL part writes it; an expression it does not recognise as a value
    is kept as PostgreSQL prints it (``dbgenerated``'s text)."""
    if is_array:
        array = _ARRAY.fullmatch(sql)
        if array is None:
            return sql
        items = [_literal(item, type_name) for item in array_items(array[1])]
        if any(item is None for item in items):
            return sql
        return f"ARRAY[{', '.join(str(item) for item in items)}]::{sql_type}"
    value = _literal(sql, type_name)
    return sql if value is None else value


def _literal(sql: str, type_name: str) -> str | None:
    """A literal value without PostgreSQL's cast, spelled as the DDL part writes a value of
    the type; None when ``sql`` is no literal."""
    match = _LITERAL.fullmatch(sql.strip())
    if match is None:
        return None
    text = match[1]
    quoted = text.startswith("'")
    inner = text[1:-1].replace("''", "'") if quoted else text
    if type_name in _NUMERIC_TYPES and re.fullmatch(_NUMBER, inner):
        return inner
    if type_name in _DATETIME_TYPES and quoted:
        moment = _parse_moment(inner)
        return text if moment is None else "'" + prisma_datetime(moment) + "'"
    if type_name == "jsonb" and quoted:
        return "'" + _compact_json(inner).replace("'", "''") + "'"
    return text


def _parse_moment(text: str) -> datetime | None:
    """A timestamp or date as PostgreSQL prints one (``2020-01-01 00:00:00.12+00``), as an
    aware datetime (UTC when it has no offset, as a ``TIMESTAMP`` column stores none)."""
    # PostgreSQL prints an offset in hours only when it is whole: +00, -05.
    text = re.sub(r"([+-]\d\d)$", r"\1:00", text)
    try:
        moment = fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _compact_json(text: str) -> str:
    """``jsonb``'s printed text (``{"a": [1, 2]}``) without the spaces it puts after ``:``
    and ``,``, as the DDL part writes a JSON default."""
    out = []
    in_string = escaped = False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif not char.isspace():
            out.append(char)
    return "".join(out)
