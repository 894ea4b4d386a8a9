"""PostgreSQL's statements for ``db.health_()`` and ``strata doctor``: the ping, the server's
version and row counts. (Whether a queue's claim needs an index is read from the claim's
plan by the queue part.)"""

from __future__ import annotations

__all__ = ["ping_sql", "row_count_sql", "server_version_sql"]


def ping_sql() -> str:
    return "SELECT 1"


def server_version_sql() -> str:
    return "SHOW server_version"


def row_count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table}"
