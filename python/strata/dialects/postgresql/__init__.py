"""The PostgreSQL dialect: `PostgresDialect`, one module per part. Its DDL part (`ddl`) writes
Prisma's exact PostgreSQL migration scripts, its introspection part (`introspect`) reads a
live database back in the DDL part's spelling and its migrations part (`migrations`) runs
scripts on a server with Prisma's history table and lock. The run-time parts put the same
client and features on a server: the typed client's statements (`query`) and value encoding
(`codecs`), the job queue (`queue`: SKIP LOCKED claims, LISTEN/NOTIFY waits), the rate
limiter (`ratelimit`: one-statement hits on the server's clock), metrics and the bulk writer
(`metrics`, `bulk`: binary COPY ingest) and the health checks (`health`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.dialects.postgresql import (
    codecs,
    health,
    introspect,
    metrics,
    migrations,
    query,
    queue,
    ratelimit,
)
from strata.dialects.postgresql.ddl import PostgresDdl

if TYPE_CHECKING:
    from strata.dialects.base import (
        CodecsDialect,
        IntrospectionDialect,
        MetricsDialect,
        QueryDialect,
        QueueDialect,
        RateLimitDialect,
    )

__all__ = ["PostgresDialect"]


class PostgresDialect:
    """`strata.dialects.base.Dialect` for PostgreSQL."""

    provider = "postgresql"

    def __init__(self) -> None:
        self.ddl = PostgresDdl()
        self.introspection: IntrospectionDialect = introspect
        self.migrations = migrations
        self.query: QueryDialect = query
        self.codecs: CodecsDialect = codecs
        self.queue: QueueDialect = queue
        self.ratelimit: RateLimitDialect = ratelimit
        self.metrics: MetricsDialect = metrics
        self.health = health
