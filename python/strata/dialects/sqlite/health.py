"""SQLite's statements for ``db.health_()`` and ``strata doctor``."""

from __future__ import annotations

__all__ = ["ping_sql", "row_count_sql", "server_version_sql"]


def ping_sql() -> str:
    return "SELECT 1"


def server_version_sql() -> str:
    return "SELECT sqlite_version()"


def row_count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table}"
