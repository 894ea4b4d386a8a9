"""SQL dialects: everything that differs between SQLite and PostgreSQL lives here."""

import os

from strata.dialects.base import Dialect
from strata.dialects.postgresql import PostgresDialect
from strata.dialects.sqlite import SqliteDialect
from strata.errors import ConfigurationError

__all__ = [
    "Dialect",
    "PostgresDialect",
    "SqliteDialect",
    "dialect_for",
    "dialect_for_url",
    "provider_for_url",
]


def dialect_for(provider: str) -> Dialect:
    """The dialect of a Prisma datasource provider (``"sqlite"``, ``"postgresql"``; Prisma's
    alias ``"postgres"`` too)."""
    if provider == "sqlite":
        return SqliteDialect()
    if provider in ("postgresql", "postgres"):
        return PostgresDialect()
    raise ConfigurationError(f"strata has no dialect for the provider {provider!r}")


def provider_for_url(url: str | os.PathLike[str]) -> str:
    """The provider a database URL names by its scheme, as Prisma reads it: ``postgres://``
    and ``postgresql://`` are PostgreSQL; ``file:``, ``sqlite:``, a bare path and
    ``:memory:`` are SQLite."""
    if os.fspath(url).startswith(("postgres://", "postgresql://")):
        return "postgresql"
    return "sqlite"


def dialect_for_url(url: str | os.PathLike[str]) -> Dialect:
    """The dialect of the database at ``url`` (see `provider_for_url`)."""
    return dialect_for(provider_for_url(url))
