"""How each kind of field is stored on SQLite: the SQLite dialect's codecs part
(`strata.dialects.base.CodecsDialect`), which builds every scalar field's
`strata.dialects.values.Codec` and writes the DateTime forms.

How each Prisma type is stored on SQLite (the DDL is Prisma's, see
`strata.dialects.sqlite.ddl`):

============  ==================  ======================================================
Prisma type   Python              SQLite
============  ==================  ======================================================
String        str                 TEXT, as given (a lone surrogate, which has no UTF-8
                                  form, is refused: see `_utf8`)
Boolean       bool                0 / 1 in a BOOLEAN column
Int           int (32-bit)        INTEGER (32-bit as in Prisma and on PostgreSQL)
BigInt        int (64-bit)        INTEGER
Float         float               REAL (NaN is refused: SQLite would store NULL)
Decimal       decimal.Decimal     a DECIMAL column (NUMERIC affinity): whole numbers in
                                  64 bits as INTEGER, anything else as a REAL holding at
                                  most 15 significant digits, which reads back exactly
                                  (see "Decimal" below)
DateTime      aware datetime, UTC see `strata.dialects.values.DATETIME_FORMATS`
Json          any JSON value      JSON text (``JSON.stringify``'s compact form) in a JSONB
                                  column; NUMERIC affinity turns ``123`` into an integer,
                                  so reads parse only text
Bytes         bytes               BLOB
enum          the enum's member   the value's database name (``@map``) as TEXT
String[] ...  list                a JSON array as TEXT (a strata extension on SQLite)
============  ==================  ======================================================

Decimal is money, so it is exact or refused. SQLite has no decimal type, and a double holds
any decimal of up to 15 significant digits closely enough that its 15-digit rounding gives
the decimal back. So a value is stored as a 64-bit INTEGER when it is whole and fits, else
as the nearest double, and read back as that double's 15 significant digits; a value with
more digits (``0.1234567890123456``), or outside the double's range, would change on the way
in and is refused with `strata.ValidationError`. Arithmetic on stored values is done the same
way, outside SQL (`strata.client.writes`, `strata.client.aggregates`).

A Json field's ``None`` is JSON ``null``: an optional column stores it as SQL NULL (Prisma's
``DbNull``), a required one as the text ``null``. Both read back as None.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from strata._compat import UTC, StrEnum
from strata.dialects.values import (
    EPOCH,
    INT32,
    INT64,
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
    "DATETIME_WRITERS",
    "build_codec",
    "build_codecs",
    "datetime_fast_path",
    "datetime_writer",
    "native_datetime",
]

_MILLISECOND = timedelta(milliseconds=1)


# -- DateTime --------------------------------------------------------------------------------


def _iso8601(value: object) -> str:
    return aware(value).astimezone(UTC).isoformat(timespec="milliseconds")


def _iso8601_z(value: object) -> str:
    return _iso8601(value)[:-6] + "Z"


def _sqlite_datetime(value: object) -> str:
    utc = aware(value).astimezone(UTC)
    text = utc.isoformat(sep=" ", timespec="seconds")[:19]  # strftime's %Y does not pad
    # A whole second as CURRENT_TIMESTAMP writes it, so one instant has one stored text.
    millisecond = utc.microsecond // 1000
    return f"{text}.{millisecond:03d}" if millisecond else text


def _unixepoch_ms(value: object) -> int:
    return (aware(value) - EPOCH) // _MILLISECOND


#: The encoder of each form: an aware datetime in, the stored value out (at millisecond
#: precision, truncated). rust/time.rs writes the same bytes.
DATETIME_WRITERS: Mapping[DateTimeFormat, Encoder] = {
    "iso8601": _iso8601,
    "iso8601-z": _iso8601_z,
    "sqlite-datetime": _sqlite_datetime,
    "unixepoch-ms": _unixepoch_ms,
}


#: SQLite has no date-time type: each DateTime column holds one of the forms above, which
#: the client detects (`strata.client.datetimes`).
native_datetime = False


def datetime_writer(form: DateTimeForm) -> Encoder:
    """The encoder of ``form`` (see `DATETIME_WRITERS`)."""
    if form not in DATETIME_WRITERS:
        raise ConfigurationError(f"SQLite stores no DateTime in the {form!r} form")
    return DATETIME_WRITERS[form]  # type: ignore[index]


def datetime_fast_path(form: DateTimeForm) -> FastPath:
    """How the core writes ``form`` itself in bulk inserts (rust/time.rs)."""
    return (f"datetime-{form}", None)


# -- scalars ---------------------------------------------------------------------------------


def _utf8(text: str) -> str:
    """``text``, which SQLite will hold as UTF-8. A lone surrogate (``'\\udcff'``, what
    ``os.fsdecode`` makes of a byte that is not UTF-8) has no UTF-8 form; storing U+FFFD in
    its place would lose the original, so UnicodeEncodeError refuses it, as Python's
    ``sqlite3`` does."""
    if not text.isascii():  # a flag check: ASCII text costs nothing more
        text.encode()
    return text


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid
    return _utf8(value)


def _boolean(value: object) -> int:
    if not isinstance(value, bool):
        raise Invalid
    return int(value)


def _checked_decimal(value: object) -> tuple[Decimal, int | float]:
    """The given value as a Decimal, and what is stored for it: an int when it is whole
    and fits in 64 bits (an INTEGER), else the nearest float (a REAL), provided that it
    reads back as the same number."""
    if isinstance(value, bool):
        raise Invalid
    if isinstance(value, float):
        value = repr(value)  # the float's shortest text, not its binary expansion
    if isinstance(value, int | str):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise Invalid
    if value == value.to_integral_value() and INT64[0] <= value <= INT64[1]:
        return value, int(value)
    # A REAL is bound as a float, not as text: Python rounds the decimal to the nearest
    # double, while SQLite's own text-to-REAL conversion (3.40) is one ulp off for about
    # one value in 10,000 with many digits, which would then read back as another number.
    number = float(value)
    if _read_real(number) != value:
        raise Invalid  # more than 15 significant digits, or beyond a double's range
    return value, number


def _decimal(value: object) -> int | float:
    return _checked_decimal(value)[1]


def _decimal_text(value: object) -> str:
    # An element of a Decimal[] list: JSON text in plain digits, as strata always wrote it.
    return format(_checked_decimal(value)[0], "f")


def _read_real(value: float) -> Decimal:
    """A REAL in a Decimal column as the decimal it stands for: its 15 significant digits,
    all a double holds for certain. So 0.30000000000000004 (a double sum of 0.1 and 0.2,
    left by an earlier increment in SQL) reads as 0.3."""
    return Decimal(format(value, ".15g"))


def _read_decimal(value: object) -> Decimal:
    if type(value) is float:
        return _read_real(value)
    return Decimal(str(value))


def _json(value: object) -> str:
    # JSON.stringify's compact form, as Prisma writes it. NaN and Infinity are not JSON.
    # The text is checked whole: strings and keys at any depth, and list elements.
    return _utf8(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


_json_decoder = json.JSONDecoder()


def _parse_json(text: str) -> Any:
    # raw_decode is the C scanner without decode()'s whitespace regexes, three times
    # faster on short values. JSON as Prisma and this module write it has no surrounding
    # whitespace; anything else takes the full path, which also raises for invalid text.
    try:
        value, end = _json_decoder.raw_decode(text)
    except ValueError:
        return _json_decoder.decode(text)
    return value if end == len(text) else _json_decoder.decode(text)


def _read_json(value: object) -> object:
    return _parse_json(value) if isinstance(value, str) else value


_SCALARS: dict[str, tuple[str, Encoder, Decoder | None]] = {
    "String": ("a str", _string, None),
    "Boolean": ("a bool", _boolean, bool),
    "Int": ("an int in the 32-bit range", integer_encoder(*INT32), None),
    "BigInt": ("an int in the 64-bit range", integer_encoder(*INT64), None),
    "Float": ("a float or int (not NaN)", encode_float, None),
    "Decimal": (
        "a finite Decimal, int, float or numeric str that SQLite stores exactly "
        "(a 64-bit integer, or at most 15 significant digits)",
        _decimal,
        _read_decimal,
    ),
    "Json": ("a JSON-serialisable value", _json, _read_json),
    "Bytes": ("bytes", encode_bytes, None),
}


# -- scalar lists ----------------------------------------------------------------------------
# A list is stored as one JSON array. Each element goes through its scalar encoder and is
# then made JSON-friendly: booleans stay booleans, bytes become base64 text.


def _list_codec(
    element: tuple[str, Encoder, Decoder | None], type_name: str
) -> tuple[str, Encoder, Decoder | None]:
    expected, encode_one, decode_one = element
    if type_name == "Boolean":
        encode_one, decode_one = _boolean_json, None
    elif type_name == "Bytes":
        encode_one, decode_one = _bytes_json, _read_bytes_json
    elif type_name == "Json":
        encode_one, decode_one = _json_value, None
    elif type_name == "Decimal":
        encode_one = _decimal_text

    def encode(value: object) -> str:
        if not isinstance(value, list | tuple):
            raise Invalid
        return _json([encode_one(item) for item in value])

    def decode(value: Any) -> list[object]:
        items: list[object] = _parse_json(value) if isinstance(value, str) else list(value)
        if decode_one is None:
            return items
        return [None if item is None else decode_one(item) for item in items]

    return f"a list of {expected.removeprefix('a ').removeprefix('an ')}", encode, decode


def _boolean_json(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid
    return value


def _bytes_json(value: object) -> str:
    return base64.b64encode(encode_bytes(value)).decode("ascii")


def _read_bytes_json(value: object) -> bytes:
    return base64.b64decode(str(value))


def _json_value(value: object) -> object:
    _json(value)  # checks it is serialisable
    return value


# -- building --------------------------------------------------------------------------------


def build_codec(
    model: str,
    field: ir.ScalarField,
    enums: Mapping[str, tuple[ir.Enum, type[StrEnum]]],
    datetime_format: DateTimeFormat,
) -> Codec:
    kind: tuple[str, Encoder, Decoder | None]
    if field.is_enum:
        enum, cls = enums[field.type]
        kind = enum_codec(enum, cls)
    elif field.type == "DateTime":
        kind = ("an aware datetime", DATETIME_WRITERS[datetime_format], parse_datetime)
    else:
        kind = _SCALARS[field.type]
    if field.list:
        kind = _list_codec(kind, field.type)
    expected, encode, decode = kind
    limit = length_limit(field)
    if limit is not None:
        encode = limited(model, field.name, limit, encode)
    fast_path = _fast_path(field, enums, datetime_format, limit)
    return Codec(model, field.name, expected, encode, decode, field.optional, fast_path)


def _fast_path(
    field: ir.ScalarField,
    enums: Mapping[str, tuple[ir.Enum, type[StrEnum]]],
    datetime_format: DateTimeFormat,
    limit: int | None,
) -> FastPath:
    if field.list:
        return ("python", None)
    if field.is_enum:
        return ("enum", {value.name: value.db_name for value in enums[field.type][0].values})
    if field.type == "DateTime":
        return datetime_fast_path(datetime_format)
    simple: dict[str, FastPath] = {
        "String": ("text", limit),
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
    """A codec for every scalar field the client reads and writes."""
    return {
        field.name: build_codec(model.name, field, enums, datetime_format)
        for field in model.scalar_fields
        if not field.ignored and field.unsupported is None
    }
