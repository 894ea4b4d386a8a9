"""What Python 3.11 added that strata uses, for Python 3.10, the wheel's floor.

One abi3 wheel serves CPython 3.10 and later; every module takes these names from here so
that the difference is spelled once. It imports nothing from strata, so any layer may use
it.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from enum import Enum

__all__ = ["UTC", "NotRequired", "Required", "Self", "StrEnum", "fromisoformat", "tomllib"]

#: `datetime.UTC` (3.11) is this same object.
UTC = timezone.utc

# What 3.11's fromisoformat reads beyond 3.10's: "Z", offsets without a colon or minutes
# (PostgreSQL prints +00), and fractions of any length.
_ISO_310 = re.compile(
    r"(\d{4}-\d\d-\d\d.\d\d:\d\d(?::\d\d)?)(?:[.,](\d+))?(Z|[+-]\d\d(?::?\d\d)?)?"
)


def fromisoformat_310(text: str) -> datetime:
    """`datetime.fromisoformat` as 3.11 reads the forms strata meets, on 3.10."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        match = _ISO_310.fullmatch(text)
        if match is None:
            raise
    head, fraction, offset = match.groups()
    if fraction:
        head += "." + fraction[:6].ljust(6, "0")
    if offset == "Z":
        offset = "+00:00"
    elif offset:
        digits = offset[1:].replace(":", "")
        offset = f"{offset[0]}{digits[:2]}:{digits[2:4] or '00'}"
    return datetime.fromisoformat(head + (offset or ""))


if sys.version_info >= (3, 11):
    import tomllib
    from enum import StrEnum
    from typing import NotRequired, Required, Self

    fromisoformat = datetime.fromisoformat
else:
    fromisoformat = fromisoformat_310

    import tomli as tomllib
    from typing_extensions import NotRequired, Required, Self

    class StrEnum(str, Enum):
        """3.11's `enum.StrEnum`: members are strings whose ``str()`` and ``format()``
        give the value (a plain ``str, Enum`` mixin gives ``Class.MEMBER`` for ``str()``)."""

        def __str__(self) -> str:
            return str.__str__(self)

        def __format__(self, format_spec: str) -> str:
            return str.__format__(self, format_spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
            return name.lower()
