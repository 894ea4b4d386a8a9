"""Query events: ``db.on_("query", callback)``, Prisma Client's ``$on("query", ...)``.

After each statement sent through a database handle has run, every subscriber is called
with a `QueryEvent`: the SQL, its parameters, how long it took and when it started. That
covers every statement of the client's repositories and of raw SQL (``query_raw``,
``execute_raw``, ``execute_many_raw``, ``execute_script``); a bulk insert
(``create_many``, ``create_many_and_return``, metric ingest) is one event for the call.
The queue, rate limiter and metrics aggregation run their own prepared statements in the
core and are not reported.

The core measures the duration around the statement itself (waiting for the write lock
included, turning rows into Python objects not). While nobody subscribes, no listener is
installed and a statement costs one check more; with subscribers, each statement builds
one event and makes one call per subscriber, on the thread that ran it.

A subscriber that raises does not fail the statement (which has already run): the error is
logged on the ``strata`` logger and the other subscribers still get the event.

The ``logging`` module gets the same events: when the ``strata.query`` logger is enabled
for DEBUG at the time a database is opened, each statement is logged there, with its
duration in milliseconds, its SQL and its parameters.

Two more loggers get what the core notices without any subscriber: ``strata.slow`` logs,
at WARNING, each statement that took at least the handle's slow-statement threshold
(``strata.connect(..., slow_query_ms=...)`` or ``slow_query_ms`` under ``[tool.strata]``;
none by default, and then statements are not timed for it), and ``strata.pool`` logs, at
WARNING, each statement that had to wait for a pooled connection because every one was
in use (SQLite's readers, PostgreSQL's pool), and the waits that gave up.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from strata._compat import UTC
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata._core import Engine

__all__ = ["POOL_LOGGER", "QUERY_LOGGER", "SLOW_LOGGER", "QueryEvent", "QueryEvents", "log_hook"]

#: The logger each statement is logged on at DEBUG (see the module docstring).
QUERY_LOGGER = logging.getLogger("strata.query")
#: Statements slower than the handle's threshold, at WARNING.
SLOW_LOGGER = logging.getLogger("strata.slow")
#: Waits for a pooled connection, at WARNING.
POOL_LOGGER = logging.getLogger("strata.pool")
_logger = logging.getLogger("strata")

#: The events a database handle emits.
EVENTS = ("query",)


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """One statement, after it ran."""

    #: The SQL text. For a bulk insert, the single-row form of its INSERT.
    query: str
    #: The bound parameters (a tuple); for ``execute_many_raw`` and bulk inserts, the rows
    #: the call was given.
    params: Any
    #: How long the statement took.
    duration: timedelta
    #: When it started, in UTC.
    timestamp: datetime
    #: The entry point that ran it: ``"query_raw"``, ``"execute_raw"``,
    #: ``"execute_many_raw"``, ``"execute_script"`` or ``"bulk_insert"``. The client's
    #: repositories run their statements through ``query_raw`` and ``execute_raw``.
    target: str
    #: The exception the statement raised, or None when it succeeded.
    error: BaseException | None = None

    @property
    def duration_ms(self) -> float:
        """The duration in milliseconds, the unit of Prisma's ``e.duration``."""
        return self.duration / timedelta(milliseconds=1)


class QueryEvents:
    """The subscribers of one database handle. The core's query listener is installed
    while there is at least one, and removed with the last."""

    def __init__(self, engine: Engine) -> None:
        # Weak: the core holds the listener (this object's method), and a strong reference
        # back would make a cycle through Rust that the garbage collector cannot see,
        # keeping a dropped handle and its connections open.
        self._engine = weakref.ref(engine)
        self._lock = threading.Lock()
        # Replaced, never mutated, so a dispatch iterates over a stable tuple while another
        # thread subscribes.
        self._subscribers: tuple[_Subscription, ...] = ()

    def subscribe(self, event: str, callback: Callable[[QueryEvent], object]) -> Callable[[], None]:
        """Call ``callback(QueryEvent)`` after every statement; returns a function that
        ends this subscription (calling it again does nothing)."""
        if event not in EVENTS:
            raise ValidationError(
                f"unknown event {event!r}; a database emits {', '.join(map(repr, EVENTS))}",
                expected=" or ".join(map(repr, EVENTS)),
            )
        if not callable(callback):
            raise ValidationError(
                f"on({event!r}, ...) takes a callable, got {type(callback).__name__}",
                expected="a function taking a QueryEvent",
            )
        entry = _Subscription(callback)
        with self._lock:
            self._subscribers = (*self._subscribers, entry)
            if len(self._subscribers) == 1:
                self._listen(self._dispatch)

        def unsubscribe() -> None:
            with self._lock:
                if entry not in self._subscribers:
                    return
                self._subscribers = tuple(s for s in self._subscribers if s is not entry)
                if not self._subscribers:
                    self._listen(None)

        return unsubscribe

    def _listen(self, listener: Callable[..., None] | None) -> None:
        engine = self._engine()
        if engine is not None:
            engine.set_query_listener_(listener)

    def _dispatch(
        self,
        target: str,
        sql: str,
        params: Any,
        started: float,
        duration: float,
        error: BaseException | None,
    ) -> None:
        """The core's listener: see `strata._core.Engine.set_query_listener`."""
        event = QueryEvent(
            query=sql,
            params=params,
            duration=timedelta(seconds=duration),
            timestamp=datetime.fromtimestamp(started, UTC),
            target=target,
            error=error,
        )
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                _logger.exception("a query event subscriber %r raised", subscriber.callback)


class _Subscription:
    """One ``on()`` call: a callback subscribed twice is two subscriptions."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[QueryEvent], object]) -> None:
        self.callback = callback

    def __call__(self, event: QueryEvent) -> None:
        self.callback(event)


def log_query(event: QueryEvent) -> None:
    """The subscriber that logs each statement on `QUERY_LOGGER` at DEBUG."""
    QUERY_LOGGER.debug(
        "%.3f ms %s %r%s",
        event.duration_ms,
        event.query,
        event.params,
        "" if event.error is None else f" failed: {event.error!r}",
    )


def log_hook(event: str, target: str, sql: str, seconds: float, detail: Any) -> None:
    """The core's logging hook (`strata._core.Engine.set_log_hook_`): a slow statement, or
    a statement that waited for a pooled connection."""
    if event == "slow":
        SLOW_LOGGER.warning(
            "slow statement (%.1f ms, %s): %s %r", seconds * 1000, target, sql, detail
        )
    elif event == "pool_wait":
        pool, size, timed_out = detail
        if timed_out:
            POOL_LOGGER.warning(
                "gave up after %.1f ms waiting for a connection: all %d of the %s pool in use",
                seconds * 1000,
                size,
                pool,
            )
        else:
            POOL_LOGGER.warning(
                "waited %.1f ms for a connection: all %d of the %s pool were in use (%s)",
                seconds * 1000,
                size,
                pool,
                sql,
            )
