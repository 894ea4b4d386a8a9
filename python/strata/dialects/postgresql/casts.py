"""How a PostgreSQL column's data fares when its type changes in place: Prisma's grading of
every pair of types (its PostgreSQL differ's ``column_type_change``).

A change is ``safe`` (``SET DATA TYPE`` loses nothing), ``risky`` (``SET DATA TYPE`` may
truncate or fail: Prisma warns), ``not_castable`` (Prisma drops the column and adds it again,
and warns of the data lost), or None: no change at all, which Prisma also answers for a
timestamp or time whose precision is given on one side only.

The grading works on types as strata spells them (``VARCHAR(32)``, ``DECIMAL(65,30)``,
``"Role"[]``). The length-based rules are Prisma's, thresholds included: they say whether
every value of the old type fits the new one written as text or as a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from strata.schema.sql import Column, TypeChange

__all__ = ["type_change"]

_NATIVE = re.compile(r"^([A-Z ]+?)\s*(?:\((\d+)(?:,\s*(\d+))?\))?$")

#: The native types Prisma knows; any other (``Unsupported("circle")``) it cannot grade.
_KNOWN = frozenset(
    (
        *("SMALLINT", "INTEGER", "BIGINT", "OID", "DECIMAL", "REAL", "DOUBLE PRECISION"),
        *("MONEY", "VARCHAR", "CHAR", "TEXT", "CITEXT", "BYTEA", "BOOLEAN", "BIT", "VARBIT"),
        *("TIMESTAMP", "TIMESTAMPTZ", "DATE", "TIME", "TIMETZ"),
        *("UUID", "XML", "JSON", "JSONB", "INET"),
    )
)
_STRINGS = ("VARCHAR", "CHAR")
_INTEGERS = ("SMALLINT", "INTEGER", "BIGINT")
_TIMES = ("TIMESTAMP", "TIMESTAMPTZ", "DATE", "TIME", "TIMETZ")


@dataclass(frozen=True)
class _Type:
    name: str
    #: The length or precision (VARCHAR(n), TIMESTAMP(n), DECIMAL(p, _)).
    size: int | None = None
    #: DECIMAL's scale.
    scale: int | None = None


def _parse(sql_type: str) -> _Type | None:
    """The native type, or None for one Prisma does not know (``Unsupported``)."""
    match = _NATIVE.match(sql_type.upper())
    if match is None:
        return None
    name, size, scale = match.groups()
    if name not in _KNOWN:
        return None
    return _Type(name, int(size) if size else None, int(scale) if scale else None)


def type_change(before: Column, after: Column) -> TypeChange | None:
    """Prisma's grading of ``before``'s type changing to ``after``'s."""
    old_type, new_type = before.type, after.type
    if before.enum is not None or after.enum is not None:
        # An enum to anything else, or to another enum, has no cast (Prisma: enums first).
        return None if old_type == new_type else "not_castable"
    old_list, new_list = old_type.endswith("[]"), new_type.endswith("[]")
    old, new = _parse(old_type.removesuffix("[]")), _parse(new_type.removesuffix("[]"))
    if old_list and not new_list:
        # A list written into one text value: safe where the text has no length limit.
        if new is not None and (new.name == "TEXT" or (new.name == "VARCHAR" and not new.size)):
            return "safe"
        if new is not None and new.name in _STRINGS:
            return "risky"
        return "not_castable"
    if new_list and not old_list:
        return "not_castable"
    if old is None or new is None:
        # Prisma casts to and from an unsupported type at the user's risk.
        return None if old_type.upper() == new_type.upper() else "risky"
    if old == new:
        return None
    return _native_change(old, new)


def _text_fits(new: _Type, width: int) -> TypeChange | None:
    """Whether a value ``width`` characters wide (sign included) fits a VARCHAR or CHAR.
    A CHAR without length holds one character; a VARCHAR without length any number."""
    if new.size is not None:
        return "risky" if new.size < width else "safe"
    return "risky" if new.name == "CHAR" else "safe"


def _native_change(old: _Type, new: _Type) -> TypeChange | None:
    target = new.name
    unlimited_text = target == "TEXT" or (target == "VARCHAR" and new.size is None)
    match old.name:
        case "SMALLINT" | "INTEGER" | "BIGINT":
            # Widest values, in digits (the decimal rule) and in characters with a sign
            # (the text rule), as Prisma counts them.
            digits, width = {"SMALLINT": (3, 4), "INTEGER": (10, 11), "BIGINT": (19, 20)}[old.name]
            if target in _INTEGERS:
                return "safe" if _INTEGERS.index(target) > _INTEGERS.index(old.name) else "risky"
            if target == "DECIMAL":
                if new.size is not None and new.size - (new.scale or 0) < digits:
                    return "risky"
                return "safe"
            if target in ("REAL", "DOUBLE PRECISION", "TEXT"):
                return "safe"
            if target in _STRINGS:
                return _text_fits(new, width)
            return "not_castable"
        case "DECIMAL":
            return _decimal_change(old, new)
        case "REAL" | "DOUBLE PRECISION":
            if target in (*_INTEGERS, "DECIMAL"):
                return "risky"
            if target == "REAL":
                return "risky"  # only DOUBLE PRECISION -> REAL gets here
            if target in ("DOUBLE PRECISION", "TEXT"):
                return "safe"
            if target in _STRINGS:
                return _text_fits(new, 47 if old.name == "REAL" else 317)
            return "not_castable"
        case "VARCHAR" | "CHAR":
            if target == "TEXT":
                return "safe"
            if target not in _STRINGS:
                return "not_castable"
            return _string_change(old, new)
        case "TEXT":
            if unlimited_text or target == "CITEXT":
                return "safe"
            return "risky" if target in _STRINGS else "not_castable"
        case "BYTEA":
            if unlimited_text:
                return "safe"
            if target in _STRINGS and new.size is not None and new.size > 2:
                return "risky"
            return "not_castable"
        case "TIMESTAMP" | "TIMESTAMPTZ" | "DATE" | "TIME" | "TIMETZ":
            return _time_change(old, new, unlimited_text)
        case "BOOLEAN":
            if target in ("TEXT", "VARCHAR"):
                return "safe"
            if target == "CHAR" and new.size is not None and new.size > 3:
                return "safe" if new.size > 4 else "risky"
            return "not_castable"
        case "BIT" | "VARBIT":
            return _bit_change(old, new, unlimited_text)
        case "UUID":
            if unlimited_text or (target in _STRINGS and (new.size or 0) > 31):
                return "safe"
            return "not_castable"
        case "XML" | "JSON" | "JSONB":
            if unlimited_text or {old.name, target} == {"JSON", "JSONB"}:
                return "safe"
            return "risky" if target in _STRINGS else "not_castable"
        case "INET":
            return "safe" if target in ("CITEXT", "TEXT", "VARCHAR") else "not_castable"
        case "MONEY":
            return "safe" if target in ("CITEXT", "TEXT", "VARCHAR") else "risky"
        case "CITEXT":
            return "safe" if target in ("TEXT", "VARCHAR") else "risky"
        case "OID":
            if target in ("TEXT", "VARCHAR", "BIGINT", "INTEGER"):
                return "safe"
            return "not_castable"
    return "not_castable"


def _decimal_change(old: _Type, new: _Type) -> TypeChange:
    target = new.name
    precision, scale = old.size, old.scale or 0
    if target in _INTEGERS:
        # The largest precision whose whole numbers always fit the integer type.
        widest = {"SMALLINT": 2, "INTEGER": 9, "BIGINT": 18}[target]
        if precision is None or scale > 0 or precision > widest:
            return "risky"
        return "safe"
    if target == "DECIMAL":
        if new.size is None:
            return "safe"
        if precision is None:
            return "risky"
        new_scale = new.scale or 0
        if precision - scale > new.size - new_scale or scale > new_scale:
            return "risky"
        return "safe"
    if target in ("REAL", "DOUBLE PRECISION"):
        return "risky"
    if target in _STRINGS:
        if new.size is None:
            return "risky" if target == "CHAR" else "safe"
        if precision is None:
            # Up to 131072 digits before the point and 16383 after.
            return "risky" if new.size < 131073 else "safe"
        # The digits, a sign, and a point where there is a scale.
        return "risky" if precision + (2 if scale else 1) > new.size else "safe"
    return "safe" if target == "TEXT" else "not_castable"


def _string_change(old: _Type, new: _Type) -> TypeChange:
    """VARCHAR or CHAR to VARCHAR or CHAR: risky where the new one may be shorter."""
    if old.size is None:
        if old.name == "CHAR":
            return "safe"  # a single character fits any string type
        return "risky" if new.size is not None or new.name == "CHAR" else "safe"
    if new.size is None:
        return "risky" if new.name == "CHAR" and old.size != 1 else "safe"
    return "risky" if old.size > new.size else "safe"


def _time_change(old: _Type, new: _Type, unlimited_text: bool) -> TypeChange | None:
    """Dates and times: to text where it is wide enough, and among each other. A precision
    given on one side only is no change."""
    target = new.name
    width = {"TIMESTAMP": 22, "TIMESTAMPTZ": 27, "DATE": 27, "TIME": 13, "TIMETZ": 18}[old.name]
    if unlimited_text or (target in _STRINGS and new.size is not None and new.size > width):
        return "safe"
    if target == old.name and old.name != "DATE":
        if new.size is None or old.size is None or old.size == new.size:
            return None
        return "safe"
    reachable = {
        "TIMESTAMP": _TIMES,
        "TIMESTAMPTZ": _TIMES,
        "DATE": ("TIMESTAMP", "TIMESTAMPTZ"),
        "TIME": ("TIMETZ",),
        "TIMETZ": ("TIME", "TIMETZ"),
    }[old.name]
    return "safe" if target in reachable else "not_castable"


def _bit_change(old: _Type, new: _Type, unlimited_text: bool) -> TypeChange:
    target = new.name
    length = old.size
    if old.name == "BIT":
        if length is None:
            return "safe" if target in ("TEXT", "VARCHAR", "CHAR", "VARBIT") else "not_castable"
        if unlimited_text or (target == "VARBIT" and new.size is None):
            return "safe"
        if target in ("VARCHAR", "VARBIT", "CHAR") and new.size is not None:
            return "safe" if new.size >= length else "not_castable"
        return "not_castable"
    if length is None:
        if unlimited_text:
            return "safe"
        return "risky" if target in ("VARCHAR", "CHAR", "BIT") else "not_castable"
    if unlimited_text or (target == "VARBIT" and new.size is None):
        return "safe"
    if target == "VARBIT":
        return "safe" if new.size is not None and new.size > length else "not_castable"
    if target in _STRINGS:
        return "safe" if new.size is not None and new.size >= length else "risky"
    if target == "BIT":
        return "risky" if new.size is None or new.size <= length else "not_castable"
    return "not_castable"
