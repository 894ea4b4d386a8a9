"""PostgreSQL column types, defaults and operator classes from the schema IR, spelled as
Prisma's schema engine writes them.

A field's type is its ``@db.X`` native type, else its Prisma scalar type's default native
type (String ``TEXT``, DateTime ``TIMESTAMP(3)``, Decimal ``DECIMAL(65,30)``...). An
autoincrementing integer column is written ``SERIAL`` / ``SMALLSERIAL`` / ``BIGSERIAL`` when
rendered, and stays its integer type here, where the differ compares it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from decimal import Decimal

from strata._compat import UTC, fromisoformat
from strata.errors import MigrationError
from strata.schema import ir

__all__ = [
    "DEFAULT_NATIVE",
    "NATIVE",
    "column_default",
    "column_type",
    "operator_class",
    "prisma_datetime",
    "quote",
    "serial_type",
    "string_literal",
]

#: Each Prisma scalar type's default native type.
DEFAULT_NATIVE = {
    "String": "TEXT",
    "Boolean": "BOOLEAN",
    "Int": "INTEGER",
    "BigInt": "BIGINT",
    "Float": "DOUBLE PRECISION",
    "Decimal": "DECIMAL(65,30)",
    "DateTime": "TIMESTAMP(3)",
    "Json": "JSONB",
    "Bytes": "BYTEA",
}

#: ``@db.X`` to SQL, for the native types without arguments or whose arguments follow in
#: parentheses unchanged.
NATIVE = {
    "SmallInt": "SMALLINT",
    "Integer": "INTEGER",
    "Oid": "OID",
    "BigInt": "BIGINT",
    "Real": "REAL",
    "DoublePrecision": "DOUBLE PRECISION",
    "Decimal": "DECIMAL",
    "Money": "MONEY",
    "Boolean": "BOOLEAN",
    "Text": "TEXT",
    "VarChar": "VARCHAR",
    "Char": "CHAR",
    "Bit": "BIT",
    "VarBit": "VARBIT",
    "Uuid": "UUID",
    "Xml": "XML",
    "Inet": "INET",
    "Citext": "CITEXT",
    "Timestamp": "TIMESTAMP",
    "Timestamptz": "TIMESTAMPTZ",
    "Date": "DATE",
    "Time": "TIME",
    "Timetz": "TIMETZ",
    "Json": "JSON",
    "JsonB": "JSONB",
    "ByteA": "BYTEA",
}

#: The integer types and what they become when they autoincrement.
_SERIAL = {"SMALLINT": "SMALLSERIAL", "INTEGER": "SERIAL", "BIGINT": "BIGSERIAL"}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def column_type(field: ir.ScalarField, schema: ir.Schema) -> str:
    """The column's type without the autoincrement: ``VARCHAR(32)``, ``"Role"[]``."""
    if field.unsupported is not None:
        base = field.unsupported
    elif field.is_enum:
        enum = schema.enum(field.type)
        base = quote(enum.db_name)
        if enum.db_schema is not None:
            base = f"{quote(enum.db_schema)}.{base}"
    else:
        base = scalar_type(field)
    return base + "[]" if field.list else base


def scalar_type(field: ir.ScalarField) -> str:
    """The native type of a scalar field: ``@db.X`` as SQL, else the scalar's default."""
    if field.native_type is None:
        return DEFAULT_NATIVE[field.type]
    name, arguments = field.native_type
    sql = NATIVE[name]
    # Decimal's arguments are a (precision, scale) pair, written without a space.
    return f"{sql}({','.join(arguments)})" if arguments else sql


def serial_type(sql_type: str) -> str:
    """The ``SERIAL`` form of an autoincrementing integer column's type. Other types (an
    ``@db.Oid`` column) have none, and Prisma writes them as they are."""
    return _SERIAL.get(sql_type, sql_type)


def column_default(field: ir.ScalarField, schema: ir.Schema, sql_type: str) -> str | None:
    """The SQL after ``DEFAULT``, as Prisma writes it, or None."""
    default = field.default
    if default is None:
        return None
    if default.kind == "now":
        return "CURRENT_TIMESTAMP"
    if default.kind == "dbgenerated":
        return default.value if isinstance(default.value, str) and default.value else None
    if default.kind != "value":
        # autoincrement is the column's SERIAL type; cuid/uuid/nanoid/ulid come from the client.
        return None
    if field.list:
        values = default.value if isinstance(default.value, tuple | list) else (default.value,)
        items = ", ".join(_literal(field, schema, v) for v in values)
        return f"ARRAY[{items}]::{sql_type}"
    return _literal(field, schema, default.value)


def _literal(field: ir.ScalarField, schema: ir.Schema, value: object) -> str:
    if field.is_enum:
        enum = schema.enum(field.type)
        return string_literal(next((v.db_name for v in enum.values if v.name == value), str(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # as written in the schema: @default(1), not 1.0
    if isinstance(value, int | float | Decimal):
        return str(value)
    if field.type == "Bytes":
        raw = value if isinstance(value, bytes) else _decode_base64(str(value))
        return "'\\x" + raw.hex() + "'"
    if field.type == "DateTime":
        return string_literal(_prisma_datetime(str(value)))
    if field.type == "Json" and not isinstance(value, str):
        return string_literal(json.dumps(value, separators=(",", ":")))
    return string_literal(str(value))


def _decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise MigrationError(f"the Bytes default {text!r} is not base64") from exc


def _prisma_datetime(text: str) -> str:
    """An RFC 3339 timestamp as Prisma prints a DateTime default: ``2020-01-01 00:00:00
    +00:00``, the fraction only when there is one (3, 6 or 9 digits)."""
    try:
        moment = fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MigrationError(f"the DateTime default {text!r} is not an RFC 3339 timestamp") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return prisma_datetime(moment)


def prisma_datetime(moment: datetime) -> str:
    """An aware datetime as Prisma prints a DateTime default (see `_prisma_datetime`)."""
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    fraction = ""
    if moment.microsecond:
        fraction = f".{moment.microsecond:06d}"
        if moment.microsecond % 1000 == 0:
            fraction = fraction[:4]
    return f"{moment:%Y-%m-%d %H:%M:%S}{fraction} {sign}{hours:02d}:{minutes:02d}"


# Prisma's operator class names are CamelCase ending in ``Ops``; PostgreSQL's are snake_case.
# The words that PostgreSQL writes as one.
_JOINED_WORDS = {"min_max": "minmax", "var_bit": "varbit", "_tz_": "tz_"}
_PRISMA_OPERATOR_CLASS = re.compile(r"^(?:[A-Z][a-z]*[0-9]*)+Ops$")


def operator_class(column: ir.IndexColumn) -> str | None:
    """``ops: JsonbPathOps`` as ``jsonb_path_ops``; ``ops: raw("...")`` as given."""
    name = column.operator_class
    if name is None or not _PRISMA_OPERATOR_CLASS.match(name):
        return name
    words = re.findall(r"[A-Z][a-z]*[0-9]*", name)
    snake = "_".join(w.lower() for w in words)
    for split, joined in _JOINED_WORDS.items():
        snake = snake.replace(split, joined)
    return snake
