"""`strata.connect()` and the `Database` handle."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from strata import _core
from strata.config import DEFAULT_BUSY_TIMEOUT, DEFAULT_READERS, resolve

if TYPE_CHECKING:
    from strata.health import Health
    from strata.migrate.commands import Migrator

__all__ = ["Database", "connect"]


def connect(
    url: str | os.PathLike[str] | None = None,
    *,
    schema: str | os.PathLike[str] | None = None,
    busy_timeout: float | None = None,
    readers: int | None = None,
) -> Database:
    """Open the database at ``url`` (see `strata.config` for the accepted forms).

    With no ``url``, ``DATABASE_URL`` or ``[tool.strata] url`` in pyproject.toml is used.
    ``schema`` is the Prisma schema file the database follows (by default the project's,
    see `strata.migrate.commands.find_schema`). ``busy_timeout`` (seconds) bounds how long
    a write waits for the lock; ``readers`` is the most reader connections opened at once.
    Both override the URL's parameters.
    """
    target = resolve(url)
    timeout = busy_timeout if busy_timeout is not None else target.busy_timeout
    pool = readers if readers is not None else target.readers
    db = Database(
        target.path,
        busy_timeout=DEFAULT_BUSY_TIMEOUT if timeout is None else timeout,
        readers=DEFAULT_READERS if pool is None else pool,
    )
    db.url = target.url
    db.schema_path = None if schema is None else Path(schema)
    return db


class Database(_core.Engine):
    """A handle on one SQLite database, whose connections the Rust core owns.

    Raw SQL methods come straight from the core (`strata._core.Engine`):
    ``execute_raw(sql, *params)`` returns the number of changed rows,
    ``query_raw(sql, *params, as_tuples=False)`` returns rows as dicts or tuples,
    ``execute_many_raw(sql, rows)`` runs one statement per parameter row atomically, and
    ``execute_script(sql)`` runs several statements without parameters, and
    ``transaction()`` opens a transaction block (`strata._core.Transaction`).

    The handle is safe to share between threads. A transaction belongs to the thread that
    opened it: that thread's statements join it, while other threads' writes wait for it.
    """

    url: str
    schema_path: Path | None

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        readers: int = DEFAULT_READERS,
    ) -> None:
        # The core opened the database in __new__; this only records where it came from.
        self.url = path
        self.schema_path = None

    def health(self) -> Health:
        """Connected, latency, SQLite version, migration state and pending migrations."""
        from strata.health import health

        return health(self)

    def stats(self) -> dict[str, int]:
        """Row count per model (needs ``schema=``)."""
        from strata.health import stats

        return stats(self)

    @property
    def migrate(self) -> Migrator:
        """Prisma's migration commands for this database: ``db.migrate.dev("init")``,
        ``.deploy()``, ``.status()``, ``.reset(force=True)``, ``.resolve(...)``,
        ``.push()``, ``.seed()``."""
        from strata.migrate.commands import Migrator

        return Migrator(self, self.schema_path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<strata.Database {self.path!r} ({state})>"
