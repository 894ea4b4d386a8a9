"""The PostgreSQL dialect: `PostgresDialect`. Its DDL part (`ddl`) writes Prisma's exact
PostgreSQL migration scripts, its introspection part (`introspect`) reads a live database
back in the DDL part's spelling and its migrations part (`migrations`) runs scripts on a
server with Prisma's history table and lock; the other parts that talk to a live server
(the client's queries and value encoding, the queue, the rate limiter, metrics) are not
written yet, and using one fails with a `ConfigurationError` that says so, never by falling
back to SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from strata.dialects.postgresql import health, introspect, migrations
from strata.dialects.postgresql.ddl import PostgresDdl
from strata.errors import ConfigurationError

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


def _not_yet(part: str) -> NoReturn:
    raise ConfigurationError(
        f"PostgreSQL's {part} is not available yet: strata migrates and introspects "
        "PostgreSQL databases but cannot run its client and features on one yet"
    )


class PostgresDialect:
    """`strata.dialects.base.Dialect` for PostgreSQL. Each part not written yet is a
    property that raises when the part is used, so the protocol holds for the type checker
    and no caller silently gets another database's SQL."""

    provider = "postgresql"

    def __init__(self) -> None:
        self.ddl = PostgresDdl()
        self.introspection: IntrospectionDialect = introspect
        self.migrations = migrations
        self.health = health

    @property
    def query(self) -> QueryDialect:
        _not_yet("query support")

    @property
    def queue(self) -> QueueDialect:
        _not_yet("job queue")

    @property
    def ratelimit(self) -> RateLimitDialect:
        _not_yet("rate limiter")

    @property
    def metrics(self) -> MetricsDialect:
        _not_yet("metrics")

    @property
    def codecs(self) -> CodecsDialect:
        _not_yet("value encoding")
