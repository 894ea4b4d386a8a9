"""`strata.dialects.base.RateLimitDialect` for SQLite: the rate limiter's statements.

Parameters are numbered (``?1``...), so that the key values bound once serve every place
a statement names them. The upsert's ``WHERE`` repeats the decision's bound, so the
statement itself can never push a count past the limit.

An allowed hit with a given limit is one statement (``hit``, ``hit_sliding``): an
``INSERT OR IGNORE ... VALUES ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`` that
counts the hit only when the bound holds and the key has no window later than now's, run in
autocommit. No row back means the hit was refused, or the key is past now's window; the
core then decides in a transaction from the key's state (read, decide, upsert), as every
hit with ``rule=`` does. The sliding bound is the core's SQL function
``strata_sliding_cap``, which computes with the same exact integers as the core's decision.

The hits insert one row of ``VALUES`` whose count (gcra: arrival time) is NULL when the
new row's own bound fails or (windows) a later window exists: the column's NOT NULL
constraint then drops the row (``OR IGNORE``) before the upsert's conflict is looked for,
so neither an insert nor an update happens. Only the update's bound remains for
``DO UPDATE ... WHERE``: the later window is checked once. ``VALUES`` rather than
``INSERT ... SELECT ... WHERE``: SQLite first copies such a SELECT's rows into a temporary
table, which cost about a tenth of an allowed hit (docs/PERFORMANCE.md). ``OR IGNORE``
drops a row that breaks another constraint too (a duplicate client-made id, say); the hit
then goes the transaction's way, whose plain upsert reports it. Where the count (or the
arrival time) may be NULL, there is no one-statement hit.
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
    count_optional: bool = False,
) -> RateLimitStatements:
    filter = _key_filter(keys)
    # The one-statement hits drop a refused row through the count's NOT NULL: without it
    # every hit decides in a transaction. The same for gcra's arrival time.
    hits: tuple[str | None, str | None] = (None, None) if count_optional else _window_hits(
        table, keys, conflict, count=count, window_start=window_start, id=id,
        created=created, updated=updated,
    )  # fmt: skip
    return _statements(
        table,
        keys,
        conflict,
        hits=hits,
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
    tat_optional: bool = False,
) -> RateLimitStatements:
    hit = None if tat_optional else _gcra_hit(
        table, keys, conflict, tat=tat, id=id, created=created, updated=updated
    )  # fmt: skip
    return _statements(
        table,
        keys,
        conflict,
        hits=(hit, None),
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


def _key_filter(keys: Sequence[str], alias: str = "", first: int = 1) -> str:
    """The key columns (of ``alias``, when given) equal to the parameters from ``first``."""
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f"{prefix}{key} = ?{i}" for i, key in enumerate(keys, first))


def _insert_columns(
    id: str | None, keys: Sequence[str], stored: Sequence[str], stamps: Sequence[str]
) -> tuple[list[str], int]:
    """The upsert's columns, and the parameter number of the first key value."""
    return [*([] if id is None else [id]), *keys, *stored, *stamps], 2 if id else 1


def _window_hits(
    table: str,
    keys: Sequence[str],
    conflict: Sequence[str],
    *,
    count: str,
    window_start: str,
    id: str | None,
    created: Sequence[str],
    updated: Sequence[str],
) -> tuple[str, str]:
    """The one-statement hits, fixed and sliding. Parameters: those of ``upsert`` up to
    the stamps (the stored values being now's window start and the cost), then the limit
    (fixed), or the limit, the window and the part of the previous window still inside
    the sliding one (both in nanoseconds) and the previous window's start (sliding).
    Returns the count after the hit, then (sliding) the previous window's count, then the
    id when the client makes ids; no row when the hit was not counted."""
    columns, first_key = _insert_columns(id, keys, [window_start, count], [*created, *updated])
    start, cost, extra = first_key + len(keys), first_key + len(keys) + 1, len(columns) + 1
    later = (
        f"NOT EXISTS (SELECT 1 FROM {table} AS later "
        f"WHERE {_key_filter(keys, 'later', first_key)} AND later.{window_start} > ?{start})"
    )
    previous = (
        f"(SELECT previous.{count} FROM {table} AS previous "
        f"WHERE {_key_filter(keys, 'previous', first_key)} "
        f"AND previous.{window_start} = ?{extra + 3})"
    )
    cap = f"strata_sliding_cap(?{extra}, ?{extra + 1}, ?{extra + 2}, {previous})"
    sets = ", ".join([f"{count} = {count} + excluded.{count}", *_stamped(updated)])
    id_returned = "" if id is None else f", {id}"

    def hit(bound: str, returned: str) -> str:
        values = [f"?{i}" for i in range(1, len(columns) + 1)]
        # The cost is the count's value: NULL, and so the row dropped, unless it may count.
        values[cost - 1] = f"CASE WHEN ?{cost} <= {bound} AND {later} THEN ?{cost} END"
        return (
            f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(values)}) "
            f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets} "
            f"WHERE {count} + excluded.{count} <= {bound} "
            f"RETURNING {returned}{id_returned}"
        )

    return hit(f"?{extra}", count), hit(cap, f"{count}, {previous}")


def _gcra_hit(
    table: str,
    keys: Sequence[str],
    conflict: Sequence[str],
    *,
    tat: str,
    id: str | None,
    created: Sequence[str],
    updated: Sequence[str],
) -> str:
    """The one-statement gcra hit. Parameters: those of ``upsert`` up to the stamps (the
    stored value being the arrival time a new key gets: now plus the hit's step), then
    now, the step and the burst (nanoseconds). Returns the new arrival time, then the id
    when the client makes ids; no row when the hit was not counted."""
    columns, first_key = _insert_columns(id, keys, [tat], [*created, *updated])
    now, step, burst = (f"?{len(columns) + i}" for i in (1, 2, 3))
    nxt = f"max({tat}, {now}) + {step}"
    sets = ", ".join([f"{tat} = {nxt}", *_stamped(updated)])
    values = [f"?{i}" for i in range(1, len(columns) + 1)]
    # A new key's arrival time, NULL (the row dropped) when one hit's step exceeds the burst.
    arrival = first_key + len(keys)
    values[arrival - 1] = f"CASE WHEN {step} <= {burst} THEN ?{arrival} END"
    return (
        f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets} "
        f"WHERE {nxt} - {now} <= {burst} "
        f"RETURNING {tat}{'' if id is None else f', {id}'}"
    )


def _numbered(count: int) -> str:
    return ", ".join(f"?{i}" for i in range(1, count + 1))


def _stamped(updated: Sequence[str]) -> list[str]:
    return [f"{column} = excluded.{column}" for column in updated]


def _statements(
    table: str,
    keys: Sequence[str],
    conflict: Sequence[str],
    *,
    hits: tuple[str | None, str | None],
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
    columns, _ = _insert_columns(id, keys, stored, [*created, *updated])
    assignments = ", ".join([set, *_stamped(updated)])
    upsert = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_numbered(len(columns))}) "
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
        "hit": hits[0],
        "hit_sliding": hits[1],
    }
