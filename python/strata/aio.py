"""The asynchronous face: `strata.connect_async()` offers the same surface as awaitables.

The core releases the GIL around every SQLite call, so running the synchronous calls on
worker threads gives real concurrency: an event loop stays responsive while queries run.

Transactions belong to threads in the core (a transaction is the calling thread's), while
an event loop would hop between pool threads from one await to the next. So each
`async with adb.transaction_() as tx:` gets a thread of its own: every call made through
``tx`` runs on that thread, inside the transaction, and other tasks' calls keep using the
shared pool (and wait for the write lock like any other writer).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from strata._compat import Self
from strata.database import ClientView, Database, connect
from strata.engine import Isolation, retry_delay
from strata.errors import SerializationError, TransactionError
from strata.events import QueryEvent

T = TypeVar("T")

__all__ = ["AsyncClientView", "AsyncDatabase", "AsyncTransaction", "connect_async"]

#: Attributes whose values are plain data, returned as they are rather than as awaitables.
_PLAIN = frozenset(
    {"path_", "url_", "closed_", "in_transaction_", "schema_path_", "datetime_format_"}
)


class _Proxy:
    """Forwards attribute access to a synchronous object: methods become coroutine
    functions run on ``executor``, and objects such as repositories are proxied in turn."""

    __slots__ = ("_executor", "_target")

    def __init__(self, target: object, executor: Executor) -> None:
        self._target = target
        self._executor = executor

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name in _PLAIN or isinstance(value, str | int | float | bool | type(None)):
            return value
        # Methods become awaitable. A repository is callable (only to explain that it is
        # not a method) and is proxied like any other object.
        if inspect.isroutine(value):
            return self._awaitable(value)
        return _Proxy(value, self._executor)

    def _awaitable(self, function: Callable[..., Any]) -> Callable[..., Any]:
        executor = self._executor

        @functools.wraps(function)
        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            bound = functools.partial(function, *args, **kwargs)
            try:
                future = loop.run_in_executor(executor, bound)
            except RuntimeError:
                # The pool was shut down by close(); the call itself raises ClosedError at
                # once, without blocking, so it can run right here.
                return bound()
            return await future

        return call


class AsyncTransaction:
    """``async with adb.transaction_() as tx:``: one transaction on a thread of its own.
    ``tx`` offers ``target`` (the database, or a client view) with awaitable methods."""

    def __init__(
        self,
        db: Database,
        target: object | None = None,
        *,
        isolation: Isolation | None = None,
        timeout: float | None = None,
    ) -> None:
        self._db = db
        self._target = db if target is None else target
        self._block = db.transaction_(isolation=isolation, timeout=timeout)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strata-tx")

    async def __aenter__(self) -> _Proxy:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._block.__enter__)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise
        return _Proxy(self._target, self._thread)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._block.__exit__, exc_type, exc, traceback)
        finally:
            self._thread.shutdown(wait=False)


class AsyncDatabase(_Proxy):
    """A `Database` whose methods (and whose repositories' methods) are awaitable. As on
    `Database`, models own the plain names (``adb.user``) and the handle's own names end
    with an underscore (``adb.transaction_()``, ``adb.close_()``, ``adb.sync_``)."""

    __slots__ = ()

    def __init__(self, db: Database, executor: Executor) -> None:
        super().__init__(db, executor)

    @property
    def sync_(self) -> Database:
        """The synchronous handle underneath."""
        db = self._target
        assert isinstance(db, Database)
        return db

    def transaction_(
        self, *, isolation: Isolation | None = None, timeout: float | None = None
    ) -> AsyncTransaction:
        """`Database.transaction_`: ``async with adb.transaction_(isolation=...) as tx:``."""
        return AsyncTransaction(self.sync_, isolation=isolation, timeout=timeout)

    async def run_transaction_(
        self,
        work: Callable[[_Proxy], Awaitable[T]],
        *,
        isolation: Isolation | None = None,
        timeout: float | None = None,
        retries: int = 3,
        backoff: float = 0.01,
    ) -> T:
        """`Database.run_transaction_` for asyncio: ``await work(tx)`` in a transaction,
        run again (after an ``asyncio.sleep`` backoff) when it fails with
        `SerializationError`, up to ``retries`` more times. ``tx`` is the block's handle
        (``async with adb.transaction_() as tx``)."""
        if retries < 0:
            raise TransactionError(f"retries must be 0 or more, not {retries}")
        attempt = 0
        while True:
            try:
                async with self.transaction_(isolation=isolation, timeout=timeout) as tx:
                    return await work(tx)
            except SerializationError:
                attempt += 1
                if attempt > retries:
                    raise
                await asyncio.sleep(retry_delay(attempt, backoff))

    def on_(self, event: str, callback: Callable[[QueryEvent], object]) -> Callable[[], None]:
        """`Database.on_`, called without ``await``. A plain callback runs on the worker
        thread that ran the statement; a coroutine function is scheduled on the event loop
        this is called from. Returns a function that ends the subscription."""
        if inspect.iscoroutinefunction(callback):
            callback = _on_loop(callback, asyncio.get_running_loop())
        return self.sync_.on_(event, callback)

    def scoped_(self, **scope: Any) -> AsyncClientView:
        """`Database.scoped_`, with awaitable repositories and ``transaction_()``."""
        return AsyncClientView(self.sync_.scoped_(**scope), self.sync_, self._executor)

    def with_deleted_(self) -> AsyncClientView:
        """`Database.with_deleted_`, with awaitable repositories and ``transaction_()``."""
        return AsyncClientView(self.sync_.with_deleted_(), self.sync_, self._executor)

    async def close_(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.sync_.close_)
        if isinstance(self._executor, ThreadPoolExecutor):
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close_()


def _on_loop(
    coroutine_function: Callable[[QueryEvent], Any], loop: asyncio.AbstractEventLoop
) -> Callable[[QueryEvent], None]:
    """A subscriber that runs ``coroutine_function(event)`` on ``loop``; its failure is
    logged, as a plain subscriber's is."""

    def report(future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            logging.getLogger("strata").error(
                "a query event subscriber %r raised",
                coroutine_function,
                exc_info=future.exception(),
            )

    def schedule(event: QueryEvent) -> None:
        asyncio.run_coroutine_threadsafe(coroutine_function(event), loop).add_done_callback(report)

    return schedule


class AsyncClientView(_Proxy):
    """A client view (`strata.database.ClientView`) whose repositories' methods are
    awaitable: ``await adb.scoped_(userId=u).project.find_many()``, and ``async with
    view.transaction_() as tx:`` as for the database, with ``tx`` the view."""

    __slots__ = ("_db",)

    def __init__(self, view: ClientView, db: Database, executor: Executor) -> None:
        super().__init__(view, executor)
        self._db = db

    @property
    def sync_(self) -> ClientView:
        """The synchronous view underneath."""
        view = self._target
        assert isinstance(view, ClientView)
        return view

    def transaction_(
        self, *, isolation: Isolation | None = None, timeout: float | None = None
    ) -> AsyncTransaction:
        return AsyncTransaction(self._db, self.sync_, isolation=isolation, timeout=timeout)

    def scoped_(self, **scope: Any) -> AsyncClientView:
        return AsyncClientView(self.sync_.scoped_(**scope), self._db, self._executor)

    def with_deleted_(self) -> AsyncClientView:
        return AsyncClientView(self.sync_.with_deleted_(), self._db, self._executor)


async def connect_async(
    url: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
    **options: Any,
) -> AsyncDatabase:
    """`strata.connect` for asyncio. ``workers`` sizes the thread pool that runs calls
    (default: the reader count plus one writer); other options are `connect`'s."""
    loop = asyncio.get_running_loop()
    db = await loop.run_in_executor(None, functools.partial(connect, url, **options))
    size = workers or int(db.settings_()["readers"]) + 1
    return AsyncDatabase(db, ThreadPoolExecutor(max_workers=size, thread_name_prefix="strata"))
