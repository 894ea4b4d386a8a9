"""`strata.connect()` and the `Database` handle."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strata.config import DEFAULT_BUSY_TIMEOUT
from strata.engine import Engine
from strata.errors import ConfigurationError

if TYPE_CHECKING:
    import duckdb

    from strata.analytics import TableSpec
    from strata.client import Client, Repository
    from strata.client.batch import DeferredCall
    from strata.client.models import ModelClasses
    from strata.dialects.base import Dialect
    from strata.dialects.values import DateTimeFormat
    from strata.engine import Isolation
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
    slow_query_ms: float | None = None,
) -> Database:
    """Open the database at ``url`` (see `strata.config` for the accepted forms).

    With no ``url``, ``DATABASE_URL`` or ``[tool.strata] url`` in pyproject.toml is used.
    ``schema`` is the Prisma schema file the database follows (by default the project's,
    see `strata.migrate.commands.find_schema`). ``busy_timeout`` (seconds) bounds how long
    a write waits for the lock, and a read for a free pooled reader (then `BusyError`);
    ``readers`` is the most pooled reader connections opened at once (Arrow streams for
    DuckDB read on connections of their own). Both override the URL's parameters.
    ``datetime_format`` is the stored form of DateTime values in columns that hold none
    yet: ``"iso8601"`` (Prisma 7's driver adapters), ``"unixepoch-ms"`` (Prisma's native
    driver), ``"iso8601-z"`` or ``"sqlite-datetime"``. A column that holds values is
    written and compared in the form it holds, whatever this says
    (`strata.client.datetimes`, docs/DATETIME.md). It is SQLite's: on PostgreSQL, DateTime
    is a timestamp type and another form is refused. ``slow_query_ms`` logs every statement
    that takes at least that many milliseconds on the ``strata.slow`` logger (default:
    ``slow_query_ms`` under ``[tool.strata]``, else none; see `strata.events`).
    """
    checked_format: DateTimeFormat = "iso8601"
    if datetime_format != checked_format:
        # Only then: the dialects stay unimported for code that never uses them.
        from strata.dialects.values import check_datetime_format

        checked_format = check_datetime_format(datetime_format)
    db = Database.open_(
        url, busy_timeout=busy_timeout, readers=readers, slow_query_ms=slow_query_ms
    )
    if checked_format != "iso8601" and db.dialect_.codecs.native_datetime:
        db.close_()
        raise ConfigurationError(
            f"datetime_format chooses how SQLite stores DateTime values; "
            f"{db.dialect_.provider} stores them in its own timestamp type"
        )
    db.schema_path_ = None if schema is None else Path(schema)
    db.datetime_format_ = checked_format
    return db


class Database(Engine):
    """What `connect` returns: the core handle (`strata.engine.Engine`: raw SQL,
    transactions, query events) with the schema's typed client and strata's features.

    **Models own the plain names; the handle's own names end with an underscore.** Every
    model is reachable at its snake_case name (``db.media_request``, and ``db.transaction``
    for a model called ``Transaction``), so every method and attribute of the handle itself
    ends with ``_``, the way Prisma Client marks its own with ``$`` (``$transaction``,
    ``$queryRaw``). So that no model can ever clash with them, a model whose snake_case
    name would end with an underscore is refused when the client is built, naming it.

    The handle is safe to share between threads and is not shared with child processes
    (see `strata.engine.Engine`).
    """

    schema_path_: Path | None
    datetime_format_: DateTimeFormat

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        readers: int | None = None,
    ) -> None:
        super().__init__(path, busy_timeout=busy_timeout, readers=readers)
        self.schema_path_ = None
        self.datetime_format_ = "iso8601"
        self._client: Client | None = None
        self._model_classes: ModelClasses | None = None
        self._dialect: Dialect | None = None

    @property
    def dialect_(self) -> Dialect:
        """The SQL this database speaks (`strata.dialects`), chosen by its URL. The
        migrator, the client and the features write every statement with it."""
        if self._dialect is None:
            from strata.dialects import dialect_for_url

            self._dialect = dialect_for_url(self.url_)
        return self._dialect

    def batch_(self, operations: Iterable[DeferredCall]) -> list[Any]:
        """Run operations built with ``strata.deferred`` in order in one transaction and
        return their results in order, Prisma Client's ``$transaction([...])``: ``user,
        post = db.batch_([deferred.user.create(data=...), deferred.post.update(...)])``.
        Any error rolls every operation back. See `strata.client.batch`."""
        from strata.client.batch import run_batch

        return run_batch(self.client_, operations)

    def health_(self) -> Health:
        """Connected, latency, the database's version (on PostgreSQL the server's, with the
        pool: open, idle, in use, waiting), migration state and pending migrations."""
        from strata.health import health

        migrator = None if self.schema_path_ is None else self.migrate_
        return health(self, self.dialect_, migrator)

    def stats_(self) -> dict[str, int]:
        """Row count per model (needs ``schema=``)."""
        from strata.health import stats
        from strata.schema import load_schema_file

        schema = None if self.schema_path_ is None else load_schema_file(self.schema_path_)
        return stats(self, self.dialect_, schema)

    @property
    def migrate_(self) -> Migrator:
        """Prisma's migration commands for this database: ``db.migrate_.dev("init")``,
        ``.deploy()``, ``.status()``, ``.reset(force=True)``, ``.resolve(...)``,
        ``.push()``, ``.seed()``."""
        from strata.migrate.commands import Migrator

        return Migrator(self, self.schema_path_, dialect=self.dialect_)

    @property
    def client_(self) -> Client:
        """The typed client for the schema (`strata.client.Client`). The schema file is read
        the first time this is used: ``schema=`` given to `connect`, else the project's
        (see `strata.migrate.commands.find_schema`)."""
        if self._client is None:
            from strata.client import Client
            from strata.migrate.commands import find_schema
            from strata.schema import load_schema_file

            schema = load_schema_file(find_schema(self.schema_path_))
            self._client = Client(
                self, schema, self.dialect_, self.datetime_format_, self._model_classes
            )
        return self._client

    def use_model_classes_(self, classes: ModelClasses) -> None:
        """Build records from these classes (a module written by `strata generate`) instead
        of classes built at run time."""
        self._model_classes = classes
        self._client = None

    def scoped_(self, **scope: Any) -> ClientView:
        """A view of the database confined to one tenant: ``db.scoped_(userId=u)``.

        On every model with those fields, reads, updates and deletes see only matching
        rows (another tenant's row is as good as missing: RecordNotFoundError), creates
        write the values, and a create that names another value is refused. The model the
        field refers to is confined the same way through the field referred to: ``userId``
        references ``User.id``, so the view's User rows are the tenant's own (``id = u``),
        and creating any other User through it is refused. A model without the fields is
        scoped through a required parent that has them (a Scene through its Project);
        other models are unaffected. ``with view.transaction_() as tx:`` runs the view's
        statements in one transaction, like `transaction`.
        """
        unknown = [f for f in scope if not any(f in m.scalars for m in self.client_.metas.values())]
        if unknown:
            from strata.errors import ValidationError

            raise ValidationError(
                f"no model has a field {unknown[0]!r} to scope by",
                field=unknown[0],
                expected="a field of at least one model",
            )
        return ClientView(self.client_.derive(scope=scope))

    def with_deleted_(self) -> ClientView:
        """A view in which soft-deleted rows are visible again."""
        return ClientView(self.client_.derive(include_deleted=True))

    def model_(self, name: str) -> Repository:
        """The repository of model ``name``: ``db.model_("User")`` is ``db.user``."""
        return self.client_.repository(name)

    def rate_limiter_(
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
        ``db.rate_limiter_("RateLimit", key=["userId", "endpoint"], count="requestCount",
        window_start="windowStart")``, then ``rl.hit("user-42", "/api", limit=100,
        window=60)``. See `strata.ratelimit`."""
        from strata.ratelimit import bind

        return bind(
            self.client_,
            model,
            key=key,
            count=count,
            window_start=window_start,
            tat=tat,
            config=config,
        )

    def metrics_(self, model: str, *, series: str, time: str) -> Metrics:
        """Model ``model`` as a metric series: ``series`` names the field that tells series
        apart (a provider, a service), ``time`` the DateTime field of each sample. Ingest,
        aggregation, rollups and retention: see `strata.metrics.Metrics`."""
        from strata.metrics import Metrics

        return Metrics(self.client_, model, series=series, time=time)

    def analytics_(
        self, tables: Sequence[str] | Mapping[str, TableSpec] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection in which the schema's tables (or ``tables``:
        model or table names, or a dict of them to ``{"columns": [...], "where": {...}}``
        pushed down into the export) are views, queryable by table name. Each scan reads
        a fresh Arrow stream from the core; DuckDB never opens the SQLite file. See
        `strata.analytics`."""
        from strata.analytics import connect_duckdb

        return connect_duckdb(self.client_, tables)

    def __getattr__(self, name: str) -> Repository:
        # Only reached for names the handle does not have: ``db.media_request`` is the
        # MediaRequest repository.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            client = self.client_
        except ConfigurationError as error:  # no schema: no repositories (keeps hasattr safe)
            raise AttributeError(_missing_attribute(self, name, None, error)) from error
        repository = client.attributes.get(name)
        if repository is None:
            raise AttributeError(_missing_attribute(self, name, client.attributes))
        return repository

    def queue_(self, model: str, **binding: Any) -> Queue:
        """A job queue over ``model``; see `strata.queue.Queue` for the binding (``ready=``,
        ``claimed=``, ``done=``, ``failed=``, ``order_by=``, ``lease=``, ...). Arguments not
        given come from ``[tool.strata.queues.<model>]`` in pyproject.toml, if present."""
        from strata.config import queue_bindings
        from strata.queue import Queue

        return Queue(self.client_, model, **{**queue_bindings().get(model, {}), **binding})


class ClientView:
    """Repositories of a client view (`Database.scoped_`, `Database.with_deleted_`):
    ``view.project.find_many()``, ``view.model_("Project")``. As on `Database`, models own
    the plain names and the view's own methods end with ``_``. Statements run on the same
    database handle, so ``with db.transaction_():`` covers them too."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def model_(self, name: str) -> Repository:
        return self._client.repository(name)

    @contextmanager
    def transaction_(
        self, *, isolation: Isolation | None = None, timeout: float | None = None
    ) -> Iterator[ClientView]:
        """``with view.transaction_() as tx:``: `Database.transaction_` for this view, so
        the same rules hold (nested blocks are savepoints; an exception rolls the block
        back; ``isolation`` and ``timeout`` as there). ``tx`` is the view: its statements
        keep the view's scope."""
        with self._client.db.transaction_(isolation=isolation, timeout=timeout):
            yield self

    def scoped_(self, **scope: Any) -> ClientView:
        return ClientView(self._client.derive(scope=scope))

    def with_deleted_(self) -> ClientView:
        return ClientView(self._client.derive(include_deleted=True))

    def batch_(self, operations: Iterable[DeferredCall]) -> list[Any]:
        """`Database.batch_` on this view's repositories."""
        from strata.client.batch import run_batch

        return run_batch(self._client, operations)

    def __getattr__(self, name: str) -> Repository:
        if name.startswith("_"):
            raise AttributeError(name)
        repository = self._client.attributes.get(name)
        if repository is None:
            raise AttributeError(_missing_attribute(self, name, self._client.attributes))
        return repository


def _missing_attribute(
    handle: object,
    name: str,
    models: Mapping[str, object] | None,
    no_schema: ConfigurationError | None = None,
) -> str:
    """Why ``handle.<name>`` does not exist, pointing at ``name_`` when the handle has it:
    code written before the handle's own names took their underscore (or by habit from
    other libraries) gets the new name instead of a bare AttributeError. ``models`` is
    None when there is no schema to look models up in (``no_schema`` says why)."""
    kind = type(handle).__name__
    if hasattr(type(handle), name + "_"):
        return (
            f"{kind!r} object has no attribute {name!r}: the handle's own methods end with "
            f"an underscore so that models can use every plain name; use {name + '_'!r}"
        )
    if models is None:
        return f"{kind!r} object has no attribute {name!r}, and there is no model: {no_schema}"
    return (
        f"{kind!r} object has no attribute {name!r}, and the schema has no model called "
        f"that (repositories: {', '.join(models)})"
    )
