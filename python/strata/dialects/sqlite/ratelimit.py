"""`strata.dialects.base.RateLimitDialect` for SQLite: the rate limiter's statements.

Parameters are numbered (``?1``...), so that the key values bound once serve every place
a statement names them. The upsert's ``WHERE`` repeats the decision's bound, so the
statement itself can never push a count past the limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from strata.dialects.base import RateLimitStatements

__all__ = ["gcra_statements", "window_statements"]


def window_statements(
    table: str,
    keys: Sequence[str],
    conflict: Sequence[str],
    *,
    count: str,
    window_start: str,
    id: str | None,
    created: Sequence[str],
    updated: Sequence[str],
    config: tuple[str, str, str] | None,
) -> RateLimitStatements:
    filter = _key_filter(keys)
    return _statements(
        table,
        keys,
        conflict,
        stored=[window_start, count],
        state=(
            f"SELECT {window_start}, {count} FROM {table} WHERE {filter} "
            f"ORDER BY {window_start} DESC LIMIT 2"
        ),
        set=f"{count} = {count} + excluded.{count}",
        # The bound, repeated in the statement: the update cannot pass it.
        guard=f"{count} + excluded.{count} <= ",
        returned=count,
        aged=window_start,
        id=id,
        created=created,
        updated=updated,
        config=config,
    )


def gcra_statements(
    table: str,
    keys: Sequence[str],
    conflict: Sequence[str],
    *,
    tat: str,
    id: str | None,
    created: Sequence[str],
    updated: Sequence[str],
    config: tuple[str, str, str] | None,
) -> RateLimitStatements:
    return _statements(
        table,
        keys,
        conflict,
        stored=[tat],
        state=f"SELECT {tat} FROM {table} WHERE {_key_filter(keys)}",
        set=f"{tat} = excluded.{tat}",
        # Compare-and-set on the arrival time that the decision was made from.
        guard=f"{tat} = ",
        returned=tat,
        aged=tat,
        id=id,
        created=created,
        updated=updated,
        config=config,
    )


def _key_filter(keys: Sequence[str]) -> str:
    return " AND ".join(f"{key} = ?{i}" for i, key in enumerate(keys, 1))


def _statements(
    table: str,
    keys: Sequence[str],
    conflict: Sequence[str],
    *,
    stored: list[str],
    state: str,
    set: str,
    guard: str,
    returned: str,
    aged: str,
    id: str | None,
    created: Sequence[str],
    updated: Sequence[str],
    config: tuple[str, str, str] | None,
) -> RateLimitStatements:
    columns = [*([] if id is None else [id]), *keys, *stored, *created, *updated]
    placeholders = ", ".join(f"?{i}" for i in range(1, len(columns) + 1))
    assignments = ", ".join([set, *(f"{c} = excluded.{c}" for c in updated)])
    upsert = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {assignments} "
        f"WHERE {guard}?{len(columns) + 1} RETURNING {returned}"
    )
    rule = None
    if config is not None:
        config_table, key, value = config
        rule = (
            f"SELECT json_extract({value}, '$.limit'), json_extract({value}, '$.window') "
            f"FROM {config_table} WHERE {key} = ?1"
        )
    filter = _key_filter(keys)
    return {
        "state": state,
        "upsert": upsert,
        "delete_key": f"DELETE FROM {table} WHERE {filter}",
        # Bounded batches through the rowid, so that each transaction stays short and
        # other writers get the lock in between.
        "cleanup": (
            f"DELETE FROM {table} WHERE rowid IN "
            f"(SELECT rowid FROM {table} WHERE {aged} < ?1 LIMIT ?2)"
        ),
        "rule": rule,
    }
