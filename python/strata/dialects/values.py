"""Field values, whatever the database: what every dialect's codecs and the layers above
share.

A dialect's codecs part (`strata.dialects.base.CodecsDialect`) builds a `Codec` for every
scalar field; how each kind of field is stored is the dialect's (for SQLite,
`strata.dialects.sqlite.codecs`). Here are the codec itself, the errors an encoder may
raise, how a stored DateTime is read, and the names of the DateTime forms that
``strata.connect(..., datetime_format=...)`` chooses from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import InvalidOperation
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, get_args

from strata._compat import UTC, StrEnum, fromisoformat
from strata.errors import ConfigurationError, ValidationError, ValueTooLongError

if TYPE_CHECKING:
    from strata.schema import ir

__all__ = [
    "DATETIME_FORMATS",
    "ENCODE_ERRORS",
    "EPOCH",
    "INT32",
    "INT64",
    "NATIVE_DATETIME",
    "Codec",
    "DateTimeForm",
    "DateTimeFormat",
    "Decoder",
    "Encoder",
    "FastPath",
    "Invalid",
    "aware",
    "check_datetime_format",
    "describe_value",
    "encode_bytes",
    "encode_float",
    "enum_codec",
    "integer_encoder",
    "length_limit",
    "limited",
    "parse_datetime",
]

DateTimeFormat = Literal["iso8601", "iso8601-z", "sqlite-datetime", "unixepoch-ms"]

#: The forms a DateTime column stores its values in. Each column is written and compared in
#: the form its data already has (`strata.client.datetimes` detects it); an empty column
#: takes the one ``strata.connect(..., datetime_format=...)`` names. In each form the stored
#: order is time order and one instant has one stored value, so SQL compares the column
#: as it is. Reads accept every form and any other ISO 8601 text: Prisma versions and
#: drivers have written all of them. The dialect's codecs part writes each form.
DATETIME_FORMATS: Mapping[DateTimeFormat, str] = {
    # The default: what Prisma 7's SQLite driver adapters write. Fixed width and always UTC.
    "iso8601": "ISO 8601 text with milliseconds and offset: 2026-11-22T09:30:00.000+00:00",
    # The same with JavaScript's toISOString() suffix.
    "iso8601-z": "ISO 8601 text with milliseconds and Z: 2026-11-22T09:30:00.000Z",
    # SQLite's CURRENT_TIMESTAMP and datetime(); milliseconds only when there are some.
    "sqlite-datetime": "SQLite's UTC text: 2026-11-22 09:30:00 (2026-11-22 09:30:00.123)",
    # What Prisma's native (Rust engine) SQLite driver writes.
    "unixepoch-ms": "integer milliseconds since 1970-01-01T00:00:00Z: 1795339800000",
}

#: Where Unix time starts, as an aware datetime.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]
#: A conversion the core does without calling ``to_sql`` (rust/py_bulk.rs, ``Kind``): its
#: name and its options (a text length limit, an int range, an enum's name map). It must
#: accept exactly what ``to_sql`` accepts and store the same value; whatever it does not
#: accept goes through ``to_sql``.
FastPath = tuple[str, Any]


class Invalid(Exception):
    """Raised by an encoder; `Codec.to_sql` turns it into a ValidationError."""


#: What an encoder raises for a value it refuses.
ENCODE_ERRORS = (Invalid, TypeError, ValueError, OverflowError, InvalidOperation)


def describe_value(value: object) -> str:
    """``int 5``, ``str 'x'``: how error messages show what they were given."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class Codec:
    """Converts one field's values. ``expected`` describes accepted input for errors.

    ``to_sql`` checks a value from the user and turns it into what the database binds,
    raising `strata.ValidationError` (naming the model, the field and what was expected)
    before any SQL runs. ``from_sql`` turns what the database returns back into Python; it
    is None where the stored value already is the Python value, so reading a row skips
    those columns entirely."""

    __slots__ = (
        "_encode",
        "_fast_path",
        "expected",
        "field",
        "from_sql",
        "model",
        "optional",
    )

    def __init__(
        self,
        model: str,
        field: str,
        expected: str,
        encode: Encoder,
        decode: Decoder | None,
        optional: bool,
        fast_path: FastPath = ("python", None),
    ) -> None:
        self.model = model
        self.field = field
        self.expected = expected
        self._encode = encode
        #: None when the database already returns the Python value.
        self.from_sql = decode
        self.optional = optional
        self._fast_path = fast_path

    @property
    def fast_path(self) -> FastPath:
        """How the core converts this field's values itself in bulk inserts
        (`strata.client.bulk`), leaving the rest to ``to_sql``."""
        return self._fast_path

    def to_sql(self, value: object) -> Any:
        """The value to bind for ``value``; None only for an optional field."""
        if value is None and self.optional:
            return None
        try:
            return self._encode(value)
        except ValueTooLongError:
            raise  # already names the model and field, with Prisma's code
        except UnicodeEncodeError as error:
            raise self.text_error(error) from None
        except ENCODE_ERRORS:
            raise self.error(value) from None

    def to_sql_element(self, value: object) -> Any:
        """Like `to_sql` for a value compared with the column (a filter operand), where None
        is never meant: the caller handles NULL tests itself."""
        try:
            return self._encode(value)
        except UnicodeEncodeError as error:
            raise self.text_error(error) from None
        except ENCODE_ERRORS:
            raise self.error(value) from None

    def decode(self, value: object) -> Any:
        return value if value is None or self.from_sql is None else self.from_sql(value)

    def error(self, value: object) -> ValidationError:
        return ValidationError(
            f"{self.model}.{self.field}: expected {self.expected}, got {describe_value(value)}",
            model=self.model,
            field=self.field,
            expected=self.expected,
        )

    def text_error(self, error: UnicodeEncodeError) -> ValidationError:
        """The error for text holding a lone surrogate, which an encoder refuses with
        UnicodeEncodeError since it has no UTF-8 form."""
        character = error.object[error.start : error.end]
        return ValidationError(
            f"{self.model}.{self.field}: the text holds a lone surrogate ({character!r} at "
            f"index {error.start} of {describe_value(error.object)}), which has no UTF-8 "
            "form, so it cannot be stored as given. os.fsdecode makes these of bytes that "
            "are not UTF-8: store os.fsencode(name) in a Bytes field, or decode on purpose",
            model=self.model,
            field=self.field,
            expected="text without lone surrogates",
        )


# -- DateTime --------------------------------------------------------------------------------


def parse_datetime(value: object) -> datetime:
    """A stored DateTime as an aware UTC datetime. Accepts integer Unix milliseconds,
    ``YYYY-MM-DD HH:MM:SS[.fff]`` (CURRENT_TIMESTAMP's form, which is UTC) and RFC 3339 /
    ISO 8601 text with an offset or ``Z``."""
    if type(value) is str:
        parsed = fromisoformat(value)  # handles "Z", offsets and a space
        if parsed.tzinfo is UTC:
            return parsed
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)  # CURRENT_TIMESTAMP's text: UTC, no offset
        return parsed.astimezone(UTC)
    if isinstance(value, int):
        return EPOCH + value * _MILLISECOND
    if isinstance(value, float):
        return EPOCH + timedelta(milliseconds=value)
    raise TypeError(f"cannot read {describe_value(value)} as a DateTime")


def check_datetime_format(name: str) -> DateTimeFormat:
    """``name`` as a `DateTimeFormat`; `strata.ConfigurationError` when it names none."""
    if name not in get_args(DateTimeFormat):
        choices = ", ".join(repr(n) for n in get_args(DateTimeFormat))
        raise ConfigurationError(f"datetime_format must be one of {choices}, not {name!r}")
    return name  # type: ignore[return-value]


#: The form of a DateTime column in a database with a date-time type of its own
#: (PostgreSQL's ``timestamp(3)``): the database stores, orders and compares instants
#: itself, so there is nothing to detect and nothing to rewrite.
NATIVE_DATETIME: Literal["native"] = "native"
#: How a DateTime column holds its values: one of the text or integer forms of a database
#: without a date-time type (SQLite, detected per column), or the database's own type.
DateTimeForm = DateTimeFormat | Literal["native"]


def aware(value: object) -> datetime:
    """``value`` if it is an aware datetime, else `Invalid`. Naive datetimes are refused
    rather than guessed: ``datetime.now()`` is local time, and storing it as UTC would shift
    every such value by the machine's offset."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise Invalid
    return value


# -- encoders every dialect uses the same way ----------------------------------------------

#: Prisma's Int and BigInt ranges.
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def integer_encoder(low: int, high: int) -> Encoder:
    """An int in ``[low, high]`` (not a bool)."""

    def encode(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid
        return value

    return encode


def encode_float(value: object) -> float:
    """A float or int, not NaN: SQLite would store NaN as NULL, so neither database
    takes it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise Invalid
    return float(value)


def encode_bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise Invalid
    return bytes(value)


def enum_codec(enum: ir.Enum, cls: type[StrEnum]) -> tuple[str, Encoder, Decoder]:
    """An enum field's description, encoder (a member or a name in, the value's database
    name out) and decoder (the database name in, the member out)."""
    to_db = {value.name: value.db_name for value in enum.values}
    from_db = {value.db_name: cls[value.name] for value in enum.values}

    def encode(value: object) -> str:
        # Members of another enum are refused even when a name matches.
        if isinstance(value, Enum) and not isinstance(value, cls):
            raise Invalid
        if not isinstance(value, str) or value not in to_db:
            raise Invalid
        return to_db[value]

    def decode(value: object) -> StrEnum:
        try:
            return from_db[value]  # type: ignore[index]
        except KeyError:
            raise ValidationError(
                f"the database holds {value!r}, which is not a value of enum {enum.name}",
                expected=f"one of {sorted(from_db)}",
            ) from None

    names = ", ".join(to_db)
    return f"a {enum.name} member or one of its names ({names})", encode, decode


def length_limit(field: ir.ScalarField) -> int | None:
    """The character limit of ``@db.VarChar(n)`` / ``@db.Char(n)``, which the client checks
    itself (Prisma's P2000) whether or not the database enforces it."""
    if field.type != "String" or field.list or field.native_type is None:
        return None
    name, arguments = field.native_type
    if name in ("VarChar", "Char") and arguments and arguments[0].isdigit():
        return int(arguments[0])
    return None


def limited(model: str, field: str, limit: int, encode: Encoder) -> Encoder:
    """``encode`` after a check that text holds at most ``limit`` characters."""

    def check(value: object) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise ValueTooLongError(model, field, limit, len(value))
        return encode(value)

    return check
