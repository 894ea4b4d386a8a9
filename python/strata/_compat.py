"""What Python 3.11 added that strata uses, for Python 3.10, the wheel's floor.

One abi3 wheel serves CPython 3.10 and later; every module takes these names from here so
that the difference is spelled once. It imports nothing from strata, so any layer may use
it.
"""

from __future__ import annotations

import sys
from datetime import timezone
from enum import Enum

__all__ = ["UTC", "NotRequired", "Required", "Self", "StrEnum", "tomllib"]

#: `datetime.UTC` (3.11) is this same object.
UTC = timezone.utc

if sys.version_info >= (3, 11):
    import tomllib
    from enum import StrEnum
    from typing import NotRequired, Required, Self
else:
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
