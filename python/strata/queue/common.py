"""What both the facade and the worker loop use: the `Claim` a claim hands out, and how
an exception's text is stored and logged. Its own module so that neither of the two has
to import the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed job: the record as claimed, and the fencing token that the calls which
    settle it must present."""

    record: Any
    token: int
    id: Any
    worker: str

    @property
    def attempt(self) -> int:
        """1 for the first claim of the job, 2 for its first retry..."""
        return int(getattr(self.record, "attempts", 0))


def _error_text(error: BaseException) -> str:
    """An exception as stored and logged: ``ValueError: corrupt frame``. Lone surrogates
    (a file name from ``os.fsdecode``) are escaped, since text must be valid UTF-8."""
    text = f"{type(error).__name__}: {error}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
