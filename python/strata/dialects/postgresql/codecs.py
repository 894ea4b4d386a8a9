"""How each kind of field is stored on PostgreSQL: the PostgreSQL dialect's codecs part
(`strata.dialects.base.CodecsDialect`), as `strata.dialects.sqlite.codecs` is SQLite's.

PostgreSQL has a type for every Prisma type (the DDL is Prisma's, see
`strata.dialects.postgresql.types`), so values are bound as what they are and the core sends
them as text the server parses with the column's type (rust/engine/postgres/value.rs);
results come back decoded by type (rust/py_pg.rs):

============  ==================  ======================================================
Prisma type   Python              PostgreSQL
============  ==================  ======================================================
String        str                 TEXT (or ``@db.VarChar(n)``...); U+0000, which a
                                  server's text cannot hold, is refused
Boolean       bool                BOOLEAN
Int           int (32-bit)        INTEGER (16-bit for ``@db.SmallInt``)
BigInt        int (64-bit)        BIGINT
Float         float               DOUBLE PRECISION (NaN refused, as on SQLite)
Decimal       decimal.Decimal     DECIMAL(65,30) or ``@db.Decimal(p,s)``: exact, both ways;
                                  a value with more digits than the column keeps (which
                                  the server would round or refuse) is refused
DateTime      aware datetime, UTC TIMESTAMP(3) (or ``@db.Timestamptz(p)``, ``@db.Date``...):
                                  see "DateTime" below
Json          any JSON value      JSONB, from JSON.stringify's compact text
Bytes         bytes               BYTEA
enum          the enum's member   the database enum (the value's ``@map`` name, bound as
                                  text and cast by the server)
String[] ...  list                a native array of the element type
============  ==================  ======================================================

**DateTime.** A DateTime column has one form, the server's (`NATIVE_DATETIME`): there is
nothing to detect (`strata.client.datetimes`). Aware datetimes are written as UTC (a
``timestamp`` without time zone holds UTC wall-clock time, as Prisma writes it) and read back
as aware UTC datetimes; naive ones are refused, as on SQLite. Values are cut to the column's
precision by the client, towards the past, as SQLite's forms cut them to milliseconds: so
``12:00:00.123999`` is stored as ``.123`` on both databases. (PostgreSQL itself rounds to the
nearest, ``.124``; that is what raw SQL gets.) A ``@db.Date`` column stores the UTC date and
reads back as midnight UTC; a ``@db.Time`` column the UTC time of day, read back on
1970-01-01.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from strata._compat import UTC, StrEnum
from strata.dialects.values import (
    EPOCH,
    INT32,
    INT64,
    NATIVE_DATETIME,
    Codec,
    DateTimeForm,
    DateTimeFormat,
    Decoder,
    Encoder,
    FastPath,
    Invalid,
    aware,
    encode_bytes,
    encode_float,
    enum_codec,
    integer_encoder,
    length_limit,
    limited,
    parse_datetime,
)
from strata.errors import ConfigurationError
from strata.schema import ir

__all__ = [
    "build_codec",
    "build_codecs",
    "datetime_fast_path",
    "datetime_writer",
    "native_datetime",
]

#: DateTime columns are timestamps: one form, the server's.
native_datetime = True

_INT16 = (-(2**15), 2**15 - 1)
#: Prisma's Decimal column when the field names no ``@db.Decimal(p,s)``.
_DECIMAL = (65, 30)
#: Prisma's DateTime column, TIMESTAMP(3); a ``@db.Timestamp`` without a precision is 6.
_PRECISION = 3


# -- DateTime --------------------------------------------------------------------------------


def _precision(field: ir.ScalarField) -> int:
    if field.native_type is None:
        return _PRECISION
    _, arguments = field.native_type
    return int(arguments[0]) if arguments and arguments[0].isdigit() else 6


def _timestamp_writer(precision: int) -> Encoder:
    step = 10 ** (6 - min(precision, 6))

    def encode(value: object) -> datetime:
        utc = aware(value).astimezone(UTC)
        return utc.replace(microsecond=utc.microsecond // step * step)

    return encode


def _date_writer(value: object) -> date:
    return aware(value).astimezone(UTC).date()


def _time_writer(precision: int) -> Encoder:
    timestamp = _timestamp_writer(precision)

    def encode(value: object) -> time:
        moment: datetime = timestamp(value)
        return moment.time()

    return encode


def _read_datetime(value: object) -> datetime:
    """A timestamp (naive: UTC wall-clock time), timestamptz, date or time as an aware UTC
    datetime; text (raw SQL's) as `parse_datetime` reads it."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, time):
        return datetime.combine(EPOCH.date(), value.replace(tzinfo=None), tzinfo=UTC)
    return parse_datetime(value)


def _datetime_kind(field: ir.ScalarField) -> tuple[str, Encoder, Decoder]:
    name = field.native_type[0] if field.native_type is not None else "Timestamp"
    if name == "Date":
        encode: Encoder = _date_writer
    elif name in ("Time", "Timetz"):
        encode = _time_writer(_precision(field))
    else:
        encode = _timestamp_writer(_precision(field))
    return "an aware datetime", encode, _read_datetime


def datetime_writer(form: DateTimeForm) -> Encoder:
    """The encoder of the native form (a TIMESTAMP(3) column's); SQLite's forms are not
    PostgreSQL's."""
    if form != NATIVE_DATETIME:
        raise ConfigurationError(
            f"PostgreSQL stores DateTime values as timestamps, not in the {form!r} form"
        )
    return _timestamp_writer(_PRECISION)


def datetime_fast_path(form: DateTimeForm) -> FastPath:
    """Bulk inserts convert DateTime values with the codec (``to_sql``)."""
    return ("python", None)


# -- scalars ---------------------------------------------------------------------------------


def _text(value: str) -> str:
    """``value`` as the server's UTF-8 text holds it: U+0000 has no place there, and a lone
    surrogate (``os.fsdecode``'s escape for a byte that is not UTF-8) has no UTF-8 form
    (UnicodeEncodeError, which the codec reports as such)."""
    if not value.isascii():  # a flag check: ASCII text costs nothing more
        value.encode()
    if "\0" in value:
        raise Invalid
    return value


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid
    return _text(value)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid
    return value


def _decimal_kind(field: ir.ScalarField) -> tuple[str, Encoder, Decoder | None]:
    precision, scale = _DECIMAL
    if field.native_type is not None:
        name, arguments = field.native_type
        if name == "Decimal" and len(arguments) == 2 and all(a.isdigit() for a in arguments):
            precision, scale = int(arguments[0]), int(arguments[1])
        elif name == "Decimal" and len(arguments) == 1 and arguments[0].isdigit():
            precision, scale = int(arguments[0]), 0
    whole = precision - scale

    def encode(value: object) -> Decimal:
        if isinstance(value, bool):
            raise Invalid
        if isinstance(value, float):
            value = repr(value)  # the float's shortest text, not its binary expansion
        if isinstance(value, int | str):
            value = Decimal(value)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise Invalid
        if value:
            # Digits after the point, trailing zeros aside (normalize() would round to the
            # context's 28 digits). The server would round those beyond the scale away and
            # refuse a whole part too long: neither is what was given.
            _, digits, exponent = value.as_tuple()
            assert isinstance(exponent, int)  # finite
            zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
            if -(exponent + zeros) > scale or value.adjusted() + 1 > whole:
                raise Invalid
        return value

    expected = (
        f"a finite Decimal, int, float or numeric str with at most {whole} digits before "
        f"the point and {scale} after it"
    )
    # numeric arrives as a Decimal already (rust/py_pg.rs).
    return expected, encode, None


def _json(value: object) -> str:
    # JSON.stringify's compact form, as Prisma writes it. NaN and Infinity are not JSON;
    # jsonb refuses a \u0000 escape, so it is refused here with the field's name.
    text = _text(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise Invalid
    return text


#: json.dumps's escape of U+0000: ``\u0000`` after an even number of backslashes (an odd
#: number escapes the first backslash: the text ``\\u0000`` is no NUL).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


_SCALARS: dict[str, tuple[str, Encoder, Decoder | None]] = {
    "String": ("a str without NUL characters", _string, None),
    "Boolean": ("a bool", _boolean, None),
    "Int": ("an int in the 32-bit range", integer_encoder(*INT32), None),
    "BigInt": ("an int in the 64-bit range", integer_encoder(*INT64), None),
    "Float": ("a float or int (not NaN)", encode_float, None),
    # jsonb arrives parsed (rust/py_pg.rs): a JSON string is a str, not text to parse.
    "Json": ("a JSON-serialisable value", _json, None),
    "Bytes": ("bytes", encode_bytes, None),
}


# -- scalar lists ----------------------------------------------------------------------------


def _list_kind(element: tuple[str, Encoder, Decoder | None]) -> tuple[str, Encoder, Decoder]:
    """A native array: each element encoded as the scalar is (None is no element, except
    a Json list's JSON null)."""
    expected, encode_one, decode_one = element

    def encode(value: object) -> list[object]:
        if not isinstance(value, list | tuple):
            raise Invalid
        return [encode_one(item) for item in value]

    def decode(value: Any) -> list[object]:
        if decode_one is None:
            return list(value)
        return [None if item is None else decode_one(item) for item in value]

    return f"a list of {expected.removeprefix('a ').removeprefix('an ')}", encode, decode


# -- building --------------------------------------------------------------------------------


def build_codec(
    model: str, field: ir.ScalarField, enums: Mapping[str, tuple[ir.Enum, type[StrEnum]]]
) -> Codec:
    kind: tuple[str, Encoder, Decoder | None]
    if field.is_enum:
        enum, cls = enums[field.type]
        kind = enum_codec(enum, cls)
    elif field.type == "DateTime":
        kind = _datetime_kind(field)
    elif field.type == "Decimal":
        kind = _decimal_kind(field)
    elif (
        field.type == "Int"
        and field.native_type is not None
        and field.native_type[0] == ("SmallInt")
    ):
        kind = ("an int in the 16-bit range", integer_encoder(*_INT16), None)
    else:
        kind = _SCALARS[field.type]
    if field.list:
        kind = _list_kind(kind)
    expected, encode, decode = kind
    limit = length_limit(field)
    if limit is not None:
        encode = limited(model, field.name, limit, encode)
    fast = _fast_path(field, enums, limit)
    return Codec(model, field.name, expected, encode, decode, field.optional, fast)


#: The DateTime native types the core converts itself: timestamps of millisecond precision
#: (Prisma's default, 3), which is what it truncates Python and Arrow times to.
_FAST_TIMESTAMPS = frozenset({None, ("Timestamp", ("3",)), ("Timestamptz", ("3",))})


def _fast_path(
    field: ir.ScalarField, enums: Mapping[str, tuple[ir.Enum, type[StrEnum]]], limit: int | None
) -> FastPath:
    """What the core's bulk writer converts itself, from Python values and from Arrow data;
    every other value goes through ``to_sql``. Text holding U+0000 goes to ``to_sql`` too,
    which refuses it. A DateTime is truncated to the millisecond as ``to_sql`` does, and the
    binary COPY and parameters read its ISO text as UTC wall-clock time."""
    if field.list:
        return ("python", None)
    if field.is_enum:
        return ("enum", {value.name: value.db_name for value in enums[field.type][0].values})
    if field.type == "String" and (field.native_type is None or limit is not None):
        return ("text", limit)
    if field.type == "DateTime" and field.native_type in _FAST_TIMESTAMPS:
        return ("datetime-iso8601-z", None)
    if field.native_type is not None:
        return ("python", None)
    simple: dict[str, FastPath] = {
        "Int": ("int", INT32),
        "BigInt": ("int", INT64),
        "Float": ("float", None),
        "Boolean": ("bool", None),
        "Bytes": ("bytes", None),
    }
    return simple.get(field.type, ("python", None))


def build_codecs(
    model: ir.Model,
    enums: Mapping[str, tuple[ir.Enum, type[StrEnum]]],
    datetime_format: DateTimeFormat,
) -> dict[str, Codec]:
    """A codec for every scalar field the client reads and writes (``datetime_format``,
    SQLite's choice of form, does not apply: DateTime columns are timestamps)."""
    return {
        field.name: build_codec(model.name, field, enums)
        for field in model.scalar_fields
        if not field.ignored and field.unsupported is None
    }
