"""The SQLite dialect: `SqliteDialect` composed from one module per concern (`ddl`,
`introspect`, `migrations`, `query`, `queue`, `ratelimit`, `metrics`, `codecs`,
`health`), and `quote`, SQLite's quoting of names."""

from __future__ import annotations

from strata.dialects.sqlite import (
    codecs,
    health,
    introspect,
    metrics,
    migrations,
    query,
    queue,
    ratelimit,
)
from strata.dialects.sqlite.ddl import SqliteDdl, quote

__all__ = ["SqliteDialect", "quote"]


class SqliteDialect:
    """`strata.dialects.base.Dialect` for SQLite: one part per concern."""

    provider = "sqlite"

    def __init__(self) -> None:
        self.ddl = SqliteDdl()
        self.introspection = introspect
        self.migrations = migrations
        self.query = query
        self.queue = queue
        self.ratelimit = ratelimit
        self.metrics = metrics
        self.codecs = codecs
        self.health = health
