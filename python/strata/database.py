"""`strata.connect()` and the `Database` handle."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from strata import _core
from strata.config import DEFAULT_BUSY_TIMEOUT, DEFAULT_READERS, resolve
from strata.errors import ConfigurationError

if TYPE_CHECKING:
    import duckdb

    from strata.analytics import TableSpec
    from strata.client import Client, Repository
    from strata.client.codecs import DateTimeFormat
    from strata.client.models import ModelClasses
    from strata.health import Health
    from strata.metrics import Metrics
    from strata.migrate.commands import Migrator
    from strata.queue import Queue
    from strata.ratelimit import RateLimiter

__all__ = ["ClientView", "Database", "connect"]


def connect(
    url: str | os.PathLike[str] | None = None,
    *,
    schema: str | os.PathLike[str] | None = None,
    busy_timeout: float | None = None,
    readers: int | None = None,
    datetime_format: str = "iso8601",
) -> Database:
    """Open the database at ``url`` (see `strata.config` for the accepted forms).

    With no ``url``, ``DATABASE_URL`` or ``[tool.strata] url`` in pyproject.toml is used.
    ``schema`` is the Prisma schema file the database follows (by default the project's,
    see `strata.migrate.commands.find_schema`). ``busy_timeout`` (seconds) bounds how long
    a write waits for the lock, and a read for a free pooled reader (then `BusyError`);
    ``readers`` is the most pooled reader connections opened at once (Arrow streams for
    DuckDB read on connections of their own).
    Both override the URL's parameters. ``datetime_format`` is how the client writes
    DateTime values: ``"iso8601"`` (Prisma 7's driver adapters) or ``"unixepoch-ms"``
    (Prisma's native driver); see `strata.client.codecs.DATETIME_FORMATS`.
    """
    checked_format: DateTimeFormat = "iso8601"
    if datetime_format != checked_format:
        # Only then: the client's modules stay unimported for code that never uses them.
        from strata.client.codecs import check_datetime_format

        checked_format = check_datetime_format(datetime_format)
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
    db.datetime_format = checked_format
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

    It is not shared with child processes: after ``fork()`` (multiprocessing's ``fork``
    start method) every call in the child raises `ForkedHandleError`, and the child calls
    `connect` itself. Ctrl-C on the main thread stops a long statement within about 100 ms
    and raises ``KeyboardInterrupt``; the statement's writes are rolled back, and so is an
    enclosing ``transaction()`` block as the exception leaves it.
    """

    url: str
    schema_path: Path | None
    datetime_format: DateTimeFormat

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
        self.datetime_format = "iso8601"
        self._client: Client | None = None
        self._model_classes: ModelClasses | None = None

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

    @property
    def client(self) -> Client:
        """The typed client for the schema (`strata.client.Client`). The schema file is read
        the first time this is used: ``schema=`` given to `connect`, else the project's
        (see `strata.migrate.commands.find_schema`)."""
        if self._client is None:
            from strata.client import Client
            from strata.migrate.commands import find_schema
            from strata.schema import load_schema_file

            schema = load_schema_file(find_schema(self.schema_path))
            self._client = Client(self, schema, self.datetime_format, self._model_classes)
        return self._client

    def use_model_classes(self, classes: ModelClasses) -> None:
        """Build records from these classes (a module written by `strata generate`) instead
        of classes built at run time."""
        self._model_classes = classes
        self._client = None

    def scoped(self, **scope: Any) -> ClientView:
        """A view of the database confined to one tenant: ``db.scoped(userId=u)``.

        On every model with those fields, reads, updates and deletes see only matching
        rows (another tenant's row is as good as missing: RecordNotFoundError), creates
        write the values, and a create that names another value is refused. Models
        without the fields are unaffected.
        """
        unknown = [f for f in scope if not any(f in m.scalars for m in self.client.metas.values())]
        if unknown:
            from strata.errors import ValidationError

            raise ValidationError(
                f"no model has a field {unknown[0]!r} to scope by",
                field=unknown[0],
                expected="a field of at least one model",
            )
        return ClientView(self.client.derive(scope=scope))

    def with_deleted(self) -> ClientView:
        """A view in which soft-deleted rows are visible again."""
        return ClientView(self.client.derive(include_deleted=True))

    def model(self, name: str) -> Repository:
        """The repository of model ``name``: ``db.model("User")`` is ``db.user``."""
        return self.client.repository(name)

    def rate_limiter(
        self,
        model: str,
        *,
        key: Sequence[str],
        count: str | None = None,
        window_start: str | None = None,
        tat: str | None = None,
        config: str | None = "SystemConfig",
    ) -> RateLimiter:
        """A rate limiter that counts in ``model``, keyed by the fields ``key``:
        ``db.rate_limiter("RateLimit", key=["userId", "endpoint"], count="requestCount",
        window_start="windowStart")``, then ``rl.hit("user-42", "/api", limit=100,
        window=60)``. See `strata.ratelimit`."""
        from strata.ratelimit import bind

        return bind(
            self, model, key=key, count=count, window_start=window_start, tat=tat, config=config
        )

    def metrics(self, model: str, *, series: str, time: str) -> Metrics:
        """Model ``model`` as a metric series: ``series`` names the field that tells series
        apart (a provider, a service), ``time`` the DateTime field of each sample. Ingest,
        aggregation, rollups and retention: see `strata.metrics.Metrics`."""
        from strata.metrics import Metrics

        return Metrics(self, model, series=series, time=time)

    def analytics(
        self, tables: Sequence[str] | Mapping[str, TableSpec] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection in which the schema's tables (or ``tables``:
        model or table names, or a dict of them to ``{"columns": [...], "where": {...}}``
        pushed down into the export) are views, queryable by table name. Each scan reads
        a fresh Arrow stream from the core; DuckDB never opens the SQLite file. See
        `strata.analytics`."""
        from strata.analytics import connect_duckdb

        return connect_duckdb(self, tables)

    def __getattr__(self, name: str) -> Repository:
        # Only reached for names the handle does not have: ``db.media_request`` is the
        # MediaRequest repository. A model whose name clashes with a method (a model
        # `Transaction` and ``db.transaction()``) is reached through `model`.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            client = self.client
        except ConfigurationError as error:  # no schema: no repositories (keeps hasattr safe)
            raise AttributeError(f"no attribute {name!r}: {error}") from error
        repository = client.attributes.get(name)
        if repository is None:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}, and the schema "
                f"has no model called that (repositories: {', '.join(client.attributes)})"
            )
        return repository

    def queue(self, model: str, **binding: Any) -> Queue:
        """A job queue over ``model``; see `strata.queue.Queue` for the binding (``ready=``,
        ``claimed=``, ``done=``, ``failed=``, ``order_by=``, ``lease=``, ...). Arguments not
        given come from ``[tool.strata.queues.<model>]`` in pyproject.toml, if present."""
        from strata.config import queue_bindings
        from strata.queue import Queue

        return Queue(self, model, **{**queue_bindings().get(model, {}), **binding})

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


class ClientView:
    """Repositories of a client view (`Database.scoped`, `Database.with_deleted`):
    ``view.project.find_many()``, ``view.model("Project")``. Statements run on the same
    database handle, so ``with db.transaction():`` covers them too."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def model(self, name: str) -> Repository:
        return self._client.repository(name)

    def scoped(self, **scope: Any) -> ClientView:
        return ClientView(self._client.derive(scope=scope))

    def with_deleted(self) -> ClientView:
        return ClientView(self._client.derive(include_deleted=True))

    def __getattr__(self, name: str) -> Repository:
        repository = self._client.attributes.get(name)
        if repository is None:
            raise AttributeError(
                f"no repository {name!r} (repositories: {', '.join(self._client.attributes)})"
            )
        return repository
