"""``db.health_()`` and ``db.stats_()``: what the seeds' health endpoints report.

``health`` answers "can this process use its database right now?": it round-trips a query,
times it, and compares the migrations folder with ``_prisma_migrations``. On PostgreSQL it
also reports the server's version and the connection pool (open, idle, in use, callers
waiting). It never raises for a database problem; a health endpoint wants a report, not an
exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from strata._core import sqlite_library
from strata.errors import StrataError

if TYPE_CHECKING:
    from strata.dialects.base import Dialect
    from strata.engine import Engine
    from strata.migrate.commands import Migrator
    from strata.schema import ir

__all__ = ["Health", "health", "stats"]


@dataclass(frozen=True)
class Health:
    connected: bool
    #: Round-trip time of a trivial query, in milliseconds.
    latency_ms: float | None
    sqlite_version: str
    #: "up to date", "pending", "failed", "no migrations" or "unknown" (no schema given).
    migration_state: str
    pending_migrations: list[str] = field(default_factory=list)
    failed_migrations: list[str] = field(default_factory=list)
    error: str | None = None
    #: ``"sqlite"`` or ``"postgresql"``.
    provider: str = "sqlite"
    #: The database's own version: the PostgreSQL server's (``SHOW server_version``), or
    #: SQLite's library version. None when the database could not be reached.
    server_version: str | None = None
    #: PostgreSQL's pool: ``limit``, ``open``, ``idle``, ``in_use`` and ``waiting``
    #: (`strata._core.Engine.pool_stats_`); None on SQLite.
    pool: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        return self.connected and self.migration_state in ("up to date", "no migrations", "unknown")


def health(db: Engine, dialect: Dialect, migrator: Migrator | None) -> Health:
    """The handle's health; ``migrator`` (None without a schema) tells the migration state."""
    version = sqlite_library()["version"]
    base = Health(False, None, version, "unknown", provider=dialect.provider)
    started = time.perf_counter()
    try:
        db.query_raw_(dialect.health.ping_sql())
    except StrataError as exc:
        return replace(base, error=str(exc), pool=_pool(db))
    latency = (time.perf_counter() - started) * 1000
    try:
        ((server_version,),) = db.query_raw_(dialect.health.server_version_sql(), as_tuples=True)
    except StrataError as exc:
        return replace(base, connected=True, latency_ms=latency, error=str(exc), pool=_pool(db))
    base = replace(
        base,
        connected=True,
        latency_ms=latency,
        server_version=str(server_version),
        pool=_pool(db),
    )
    if migrator is None:
        return base
    try:
        status = migrator.status()
    except StrataError as exc:
        return replace(base, error=str(exc))
    if status.failed:
        state = "failed"
    elif status.pending:
        state = "pending"
    elif not status.local:
        state = "no migrations"
    else:
        state = "up to date"
    return replace(
        base,
        migration_state=state,
        pending_migrations=status.pending,
        failed_migrations=status.failed,
    )


def _pool(db: Engine) -> dict[str, int] | None:
    try:
        return db.pool_stats_()
    except StrataError:
        return None


def stats(db: Engine, dialect: Dialect, schema: ir.Schema | None) -> dict[str, int]:
    """Rows per model of ``schema``, by Prisma model name."""
    if schema is None:
        raise StrataError("stats() needs the schema: connect with schema=PATH")
    counts = {}
    for model in schema.models:
        if model.is_view:
            continue
        table = dialect.ddl.quote(model.table)
        ((count,),) = db.query_raw_(dialect.health.row_count_sql(table), as_tuples=True)
        counts[model.name] = int(count)
    return counts
