"""PostgreSQL's statements for ``db.health_()`` and ``strata doctor``: the ping, the server's
version, row counts, and reading a query plan for the sort a queue's claim should not need
(the queue part's ``plan_sql``/``plan_sorts`` are these)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = ["ping_sql", "plan_sorts", "plan_sql", "row_count_sql", "server_version_sql"]

#: Plan nodes that sort rows themselves. An incremental sort uses an index for a prefix of
#: the order only, so it still sorts.
_SORTS = frozenset({"Sort", "Incremental Sort"})


def ping_sql() -> str:
    return "SELECT 1"


def server_version_sql() -> str:
    return "SHOW server_version"


def row_count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table}"


def plan_sql(statement: str) -> str:
    """The plan of ``statement`` as JSON, binding what it binds (EXPLAIN plans a statement
    with parameters without running it)."""
    return f"EXPLAIN (FORMAT JSON) {statement}"


def plan_sorts(plan: Iterable[Sequence[object]]) -> bool:
    """Whether a plan `plan_sql` returned has a sort node: no index gives the order."""
    return any(node.get("Node Type") in _SORTS for node in _nodes(plan))


def _nodes(plan: Iterable[Sequence[object]]) -> Iterator[dict[str, Any]]:
    for row in plan:
        document: Any = row[0]
        if isinstance(document, str):
            document = json.loads(document)
        stack = [entry["Plan"] for entry in document]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.get("Plans", ()))
