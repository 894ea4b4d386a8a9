"""The core handle: one database whose connections the Rust core owns, and nothing else.

`Engine` is the thin Python side of `strata._core.Engine`: raw SQL, transactions and the
handle's settings come from the core; this adds the query events (``on_``), ``with`` and
opening by URL. The migrator, the client and the features are handed an engine and run
every statement through it; `strata.database.Database` (what `strata.connect` returns) is
the facade that adds the schema, the typed client and the features on top.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal, TypeVar

from strata._compat import Self
from strata._core import Engine as _CoreEngine
from strata.config import DEFAULT_BUSY_TIMEOUT, default_slow_query_ms, resolve
from strata.errors import ConfigurationError, SerializationError, TransactionError
from strata.events import QUERY_LOGGER, QueryEvent, QueryEvents, log_hook, log_query

__all__ = ["Engine", "Isolation", "retry_delay"]

T = TypeVar("T")

Isolation = Literal["read_committed", "repeatable_read", "serializable"]


def retry_delay(attempt: int, backoff: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): ``backoff`` doubled per
    attempt, capped at one second, with full jitter, so that transactions that failed
    against each other do not collide again in step."""
    return random.uniform(0, min(1.0, backoff * 2 ** (attempt - 1)))


class Engine(_CoreEngine):
    """A handle on one SQLite or PostgreSQL database, whose connections the Rust core owns.

    Raw SQL methods come straight from the core (`strata._core.Engine`):
    ``execute_raw_(sql, *params)`` returns the number of changed rows,
    ``query_raw_(sql, *params, as_tuples=False)`` returns rows as dicts or tuples,
    ``execute_many_raw_(sql, rows)`` runs one statement per parameter row atomically,
    ``execute_script_(sql)`` runs several statements without parameters, and
    ``transaction_(isolation=None, timeout=None)`` opens a transaction block
    (`strata._core.Transaction`; `run_transaction_` runs one with retries on serialization
    failures, and docs/ARCHITECTURE.md "Transactions: isolation, timeout, retries" says
    what each database does with the options);
    ``path_``, ``closed_``, ``in_transaction_``, ``settings_()``, ``set_tracer_()`` and
    ``close_()`` complete the set.

    The handle is safe to share between threads. A transaction belongs to the thread that
    opened it: that thread's statements join it, while other threads' writes wait for it
    (on SQLite; on PostgreSQL each thread's transaction has a pooled connection of its own,
    and they run side by side).

    A ``postgresql://`` URL opens PostgreSQL (see `strata.config`): parameters bind to
    ``$1, $2, ...``, as None, bool, int, float, str, bytes, Decimal, datetime, date, time,
    UUID, or a dict or list (JSON, or an array for an array parameter); results come back
    as ints, floats, Decimal (``numeric``), str, bytes, datetimes (aware UTC for
    ``timestamptz``, naive for ``timestamp``, which holds UTC as Prisma writes it), dates,
    bools, lists (arrays) and parsed JSON. Sessions run in UTC.

    It is not shared with child processes: after ``fork()`` (multiprocessing's ``fork``
    start method) every call in the child raises `ForkedHandleError`, and the child opens
    its own. Ctrl-C on the main thread stops a long statement within about 100 ms and
    raises ``KeyboardInterrupt``; the statement's writes are rolled back, and so is an
    enclosing ``transaction_()`` block as the exception leaves it.
    """

    url_: str

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        readers: int | None = None,
    ) -> None:
        # The core opened the database in __new__; this only records where it came from.
        self.url_ = path
        self._events = QueryEvents(self)
        if QUERY_LOGGER.isEnabledFor(logging.DEBUG):
            self._events.subscribe("query", log_query)
        self.set_log_hook_(log_hook)

    def log_slow_queries_(self, threshold_ms: float | None) -> None:
        """Log each statement that takes at least ``threshold_ms`` milliseconds on the
        ``strata.slow`` logger, at WARNING; None stops it (`strata.events`)."""
        if threshold_ms is not None and (
            isinstance(threshold_ms, bool)
            or not isinstance(threshold_ms, int | float)
            or not threshold_ms >= 0
        ):
            raise ConfigurationError(
                f"slow_query_ms must be a number of milliseconds >= 0, got {threshold_ms!r}"
            )
        self.set_log_hook_(log_hook, None if threshold_ms is None else threshold_ms / 1000)

    @classmethod
    def open_(
        cls,
        url: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float | None = None,
        readers: int | None = None,
        slow_query_ms: float | None = None,
    ) -> Self:
        """Open the database at ``url`` (see `strata.config` for the accepted forms; with
        none, ``DATABASE_URL`` or ``[tool.strata] url``). ``busy_timeout`` and ``readers``
        override the URL's parameters (on PostgreSQL: ``pool_timeout`` and
        ``connection_limit``); without either, SQLite gets 4 readers and PostgreSQL
        twice the cores plus one connections. ``slow_query_ms`` logs statements that take
        that long (`log_slow_queries_`); by default ``slow_query_ms`` under
        ``[tool.strata]``, else none."""
        target = resolve(url)
        timeout = busy_timeout if busy_timeout is not None else target.busy_timeout
        pool = readers if readers is not None else target.readers
        engine = cls(
            target.path,
            busy_timeout=DEFAULT_BUSY_TIMEOUT if timeout is None else timeout,
            readers=pool,
        )
        engine.url_ = target.url
        threshold = slow_query_ms if slow_query_ms is not None else default_slow_query_ms()
        if threshold is not None:
            try:
                engine.log_slow_queries_(threshold)
            except ConfigurationError:
                engine.close_()
                raise
        return engine

    def run_transaction_(
        self,
        work: Callable[[Self], T],
        *,
        isolation: Isolation | None = None,
        timeout: float | None = None,
        retries: int = 3,
        backoff: float = 0.01,
    ) -> T:
        """Run ``work(tx)`` in a transaction (``transaction_(isolation=, timeout=)``) and
        return what it returns, running it again, up to ``retries`` more times, when the
        database gives the transaction up with `SerializationError` (PostgreSQL's
        serialization failures and deadlocks, SQLSTATE 40001 and 40P01, which serializable
        and repeatable read transactions meet under contention)::

            def transfer(tx):
                rows = tx.query_raw_('SELECT balance FROM "Account" WHERE id = $1', 1)
                ...

            db.run_transaction_(transfer, isolation="serializable", retries=5)

        Each retry waits first (``backoff`` seconds doubled per attempt, capped at one
        second, with jitter: `retry_delay`). ``work`` must be safe to run again: whatever it
        did outside the database (a message sent, a counter moved) happens again. Only the
        whole transaction can be retried, so inside an open transaction this refuses
        (`TransactionError`); other errors are raised at once, and after the last retry the
        last `SerializationError` is."""
        if retries < 0:
            raise TransactionError(f"retries must be 0 or more, not {retries}")
        if self.in_transaction_:
            raise TransactionError(
                "run_transaction_ retries the whole transaction, so it cannot run inside an "
                "open one; call it outside, or use transaction_() for a nested block"
            )
        attempt = 0
        while True:
            try:
                with self.transaction_(isolation=isolation, timeout=timeout):
                    return work(self)
            except SerializationError:
                attempt += 1
                if attempt > retries:
                    raise
                time.sleep(retry_delay(attempt, backoff))

    def on_(self, event: str, callback: Callable[[QueryEvent], object]) -> Callable[[], None]:
        """Call ``callback`` after every statement this handle runs, Prisma Client's
        ``$on("query", ...)``: ``db.on_("query", lambda e: print(e.duration_ms, e.query))``.
        ``"query"`` is the one event; the callback gets a `strata.events.QueryEvent`
        (``query``, ``params``, ``duration``, ``timestamp``, ``target``, ``error``), on the
        thread that ran the statement. Returns a function that ends the subscription. See
        `strata.events`."""
        return self._events.subscribe(event, callback)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close_()

    def __repr__(self) -> str:
        state = "closed" if self.closed_ else "open"
        return f"<strata.{type(self).__name__} {self.path_!r} ({state})>"
