"""What the facade and the worker loop share: the `Claim` a claim hands out, how an
exception's text is stored and logged, `QueueStats` and `default_backoff` (re-exported by
`strata.queue`), and the facade's small helpers for durations and errors. Its own module
so that neither of the two has to import the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from strata._compat import UTC
from strata.dialects.values import describe_value, parse_datetime
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta


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


class _UndoSettings(Exception):
    """Raised to roll back the plan check's transaction."""


def _stored_time(value: Any) -> datetime:
    """A time read from the database: a datetime where the driver makes one (naive means
    UTC, as Prisma stores it), else text or milliseconds (`parse_datetime`)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return parse_datetime(value)


def _seconds(value: Any, name: str, *, allow_zero: bool = False) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
        raise ValidationError(
            f"{name} must be a timedelta or seconds, got {describe_value(value)}",
            expected="a timedelta",
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValidationError(
            f"{name} must be {'at least' if allow_zero else 'more than'} zero, got {value!r}",
            expected="a positive duration",
        )
    return float(seconds)


def _missing_optional(meta: ModelMeta, role: str, line: str) -> ValidationError:
    return ValidationError(
        f"{meta.name} has no {role.replace('_', ' ')} field for this call. Add it to model "
        f"{meta.name} in the schema, then migrate (or name yours with fields={{{role!r}: ...}}):"
        f"\n\n  {line}\n",
        model=meta.name,
        expected=line,
    )


@dataclass(frozen=True, slots=True)
class QueueStats:
    #: Jobs in each state the binding names (``ready`` counts delayed jobs too).
    counts: dict[str, int]
    #: Ready jobs whose ``run_at`` or retry backoff has not come yet.
    delayed: int
    #: Claimed jobs whose lease ran out: their worker is presumed dead.
    expired_leases: int
    #: How long the oldest claimable job has waited, when the model has a creation time.
    oldest_ready_age: timedelta | None


def default_backoff(attempt: int) -> timedelta:
    """Exponential: 1 s after the first attempt, doubling, at most 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(0, attempt - 1)))
