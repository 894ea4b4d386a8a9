"""How ``strata db pull`` writes a PostgreSQL column as a Prisma field: the Prisma type with
a ``@db.X`` attribute where the column's type is not that type's default one, enums, lists,
``Unsupported("...")`` for the rest, and the default as the schema writes it; such that the
DDL part (`strata.dialects.postgresql.types`) renders the field back as the same column."""

from __future__ import annotations

import base64
import re
from datetime import datetime

from strata.dialects.base import PulledColumn
from strata.dialects.postgresql.types import DEFAULT_NATIVE, NATIVE
from strata.schema.sql import Column
from strata.schema.syntax import (
    Argument,
    ArrayValue,
    Expression,
    FunctionCall,
    Identifier,
    NumberValue,
    StringValue,
)

__all__ = ["array_items", "pulled"]

#: Each ``@db.X`` native type's Prisma scalar type.
_SCALAR = {
    "SmallInt": "Int",
    "Integer": "Int",
    "Oid": "Int",
    "BigInt": "BigInt",
    "Real": "Float",
    "DoublePrecision": "Float",
    "Decimal": "Decimal",
    "Money": "Decimal",
    "Boolean": "Boolean",
    "Text": "String",
    "VarChar": "String",
    "Char": "String",
    "Bit": "String",
    "VarBit": "String",
    "Uuid": "String",
    "Xml": "String",
    "Inet": "String",
    "Citext": "String",
    "Timestamp": "DateTime",
    "Timestamptz": "DateTime",
    "Date": "DateTime",
    "Time": "DateTime",
    "Timetz": "DateTime",
    "Json": "Json",
    "JsonB": "Json",
    "ByteA": "Bytes",
}
_NATIVE_NAMES = {sql: name for name, sql in NATIVE.items()}
_DEFAULT_TYPES = {sql: scalar for scalar, sql in DEFAULT_NATIVE.items()}
_TYPE = re.compile(r"([A-Z][A-Z ]*?)(?:\((\d+)(?:,(\d+))?\))?")

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_STRING = re.compile(r"'((?:[^']|'')*)'")
_ARRAY = re.compile(r"ARRAY\[(.*?)\]::.+", re.S)
_BYTES = re.compile(r"\\x([0-9a-fA-F]*)")


def pulled(column: Column) -> PulledColumn:
    """The Prisma field the DDL part renders back as ``column``."""
    is_list = column.type.endswith("[]")
    base = column.type.removesuffix("[]")
    if column.enum is not None:
        return PulledColumn(
            column.enum, default=_default(column, "enum", is_list), list=is_list, enum=column.enum
        )
    scalar, native = _native(base)
    if scalar is None:
        return PulledColumn("Unsupported", base, _default(column, None, is_list), list=is_list)
    return PulledColumn(
        scalar, default=_default(column, scalar, is_list), native_type=native, list=is_list
    )


def _native(sql_type: str) -> tuple[str | None, tuple[str, tuple[str, ...]] | None]:
    """The Prisma type and ``@db`` attribute (None for the type's default) of a column
    type; (None, None) for a type with no Prisma native type."""
    if sql_type in _DEFAULT_TYPES:
        return _DEFAULT_TYPES[sql_type], None
    match = _TYPE.fullmatch(sql_type)
    if match is None or match[1] not in _NATIVE_NAMES:
        return None, None
    name = _NATIVE_NAMES[match[1]]
    arguments = tuple(a for a in (match[2], match[3]) if a is not None)
    return _SCALAR[name], (name, arguments)


def _default(column: Column, scalar: str | None, is_list: bool) -> Expression | None:
    if column.autoincrement:
        return FunctionCall("autoincrement", ())
    text = column.default
    if text is None or text.upper() == "NULL":
        return None
    if scalar is not None:
        if is_list and (array := _ARRAY.fullmatch(text)):
            items = [_value(item, scalar) for item in array_items(array[1])]
            if all(item is not None for item in items):
                return ArrayValue(tuple(item for item in items if item is not None))
        elif not is_list:
            if scalar == "DateTime" and text.upper() == "CURRENT_TIMESTAMP":
                return FunctionCall("now", ())
            value = _value(text, scalar)
            if value is not None:
                return value
    return FunctionCall("dbgenerated", (Argument(None, StringValue(text)),))


def _value(text: str, scalar: str) -> Expression | None:
    """A literal the DDL part writes for a value of ``scalar`` (or of an enum) as schema
    syntax; None when ``text`` is not one."""
    if scalar == "Boolean" and text in ("true", "false"):
        return Identifier(text)
    if scalar in ("Int", "BigInt", "Float", "Decimal") and _NUMBER.fullmatch(text):
        return NumberValue(text)
    string = _STRING.fullmatch(text)
    if string is None:
        return None
    value = string[1].replace("''", "'")
    if scalar == "enum":
        return Identifier(value)
    if scalar == "Bytes":
        raw = _BYTES.fullmatch(value)
        return (
            None if raw is None else StringValue(base64.b64encode(bytes.fromhex(raw[1])).decode())
        )
    if scalar == "DateTime":
        for layout in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f %z"):
            try:
                moment = datetime.strptime(value, layout)
            except ValueError:
                continue
            return StringValue(_rfc3339(moment))
        return None
    if scalar in ("String", "Json"):
        return StringValue(value)
    return None


def _rfc3339(moment: datetime) -> str:
    """``2020-01-01T00:00:00.120Z``: milliseconds where they are all of the fraction, and
    ``Z`` for UTC, as Prisma writes a DateTime default."""
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    text = moment.isoformat(timespec=spec if moment.microsecond else "seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def array_items(text: str) -> list[str]:
    """The items of an ``ARRAY[...]``'s inside, split at the commas outside quotes and
    brackets."""
    if not text.strip():
        return []
    items: list[str] = []
    current: list[str] = []
    depth, in_string = 0, False
    for char in text:
        if char == "'":
            in_string = not in_string
        elif not in_string and char in "([":
            depth += 1
        elif not in_string and char in ")]":
            depth -= 1
        elif not in_string and depth == 0 and char == ",":
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return items
