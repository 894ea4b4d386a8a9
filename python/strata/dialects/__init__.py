"""SQL dialects: everything that differs between SQLite and PostgreSQL lives here."""

from strata.dialects.base import Dialect
from strata.dialects.sqlite import SqliteDialect

__all__ = ["Dialect", "SqliteDialect", "dialect_for"]


def dialect_for(provider: str) -> Dialect:
    if provider == "sqlite":
        return SqliteDialect()
    raise NotImplementedError(f"the {provider} dialect is not available yet; strata runs on SQLite")
