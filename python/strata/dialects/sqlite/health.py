"""SQLite's statements for ``db.health_()`` and ``strata doctor``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["ping_sql", "plan_sorts", "plan_sql", "row_count_sql", "server_version_sql"]


def ping_sql() -> str:
    return "SELECT 1"


def server_version_sql() -> str:
    return "SELECT sqlite_version()"


def row_count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table}"


def plan_sql(statement: str) -> str:
    """The query plan of ``statement``, binding what it binds."""
    return f"EXPLAIN QUERY PLAN {statement}"


def plan_sorts(plan: Iterable[Sequence[object]]) -> bool:
    """Whether a plan `plan_sql` returned sorts the rows itself (no index gives the
    order)."""
    details = " ".join(str(row[-1]) for row in plan)
    return "USE TEMP B-TREE" in details
