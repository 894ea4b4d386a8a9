"""`strata.dialects.base.RateLimitDialect` for PostgreSQL: one statement per hit.

On SQLite a hit reads the key's state, decides in Rust and writes, all under the database's
single write lock. A PostgreSQL server has no such lock, and many hosts share it, so here the
whole decision is one statement: it reads the clock, works out the window and the most the
row may hold after the hit (``cap``), and runs ``INSERT ... ON CONFLICT ... DO UPDATE ...
WHERE count + cost <= cap RETURNING count``. The row lock the conflicting update takes
serialises concurrent hits on one key, and each re-checks the guard against the row as the
previous one committed it, so no interleaving can push a count past its cap. The statement
also returns what the core needs to report the decision (the clock it used, the window, the
previous window's count, and the row's count as its snapshot saw it, for a denial).

**The clock is the server's** (``clock_timestamp()``, read once per statement), not the
process's: workers on several hosts share one limit, and their clocks differ by whatever NTP
leaves; the server's clock is the one reading they all share, so every hit agrees on which
window it is in. ``clock_timestamp()`` rather than ``now()``, which is frozen at the start of
the caller's transaction: a hit inside a long transaction would count in a window long gone.
A limiter whose clock tests fix (``set_clock``) passes its reading instead (the ``now``
parameter, NULL otherwise).

Parameters, in order (the core binds them so; the protocol's SQLite order does not apply):

* ``state``: the key values, ``now``. Rows ``(now_ns, window_start_ms, count)`` for the
  newest two windows (one row with NULLs when the key has none), or ``(now_ns, tat)``;
* ``upsert``: the key values, ``now``, ``cost``, ``limit``, ``window_ns``, then ``sliding``
  (windows only) and the id (when the client makes ids). One row: windows ``(now_ns,
  window_start_ns, previous, cap, count, inserted, seen)``, gcra ``(now_ns, tat, inserted,
  seen)``, where ``count``/``tat`` are NULL when the hit was denied and ``seen`` is the
  stored value as the statement's snapshot saw it;
* ``delete_key``: the key values;
* ``cleanup``: ``older_than_ns``, ``batch``, ``now``;
* ``rule``: the rule's name; the limit and the window as JSON numbers' text, NULL otherwise.

Stamped columns (``@default(now())``, ``@updatedAt``) take the same server time.
"""

from __future__ import annotations

from collections.abc import Sequence

from strata.dialects.base import RateLimitStatements

__all__ = ["gcra_statements", "window_statements"]


def _now(param: str) -> str:
    """Nanoseconds since the epoch: the fixed test clock when given, else the server's.
    ``extract`` gives exact microseconds (numeric), so the product is exact."""
    return (
        f"COALESCE({param}::bigint, "
        "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000)"
    )


def _at(ns: str, unit: str) -> str:
    """A timestamp (without zone, UTC as Prisma stores it) from an integer count of units.
    interval * float8 is exact here: the microseconds stay far below 2**53."""
    divisor = {"millisecond": "1000000", "microsecond": "1000"}[unit]
    return f"(timestamp 'epoch' + ({ns} / {divisor}) * interval '1 {unit}')"


def _key_filter(keys: Sequence[str], alias: str) -> str:
    return " AND ".join(f"{alias}.{key} = ${i}" for i, key in enumerate(keys, 1))


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
    # An optional count changes nothing here: ``count_optional`` is for SQLite's
    # one-statement hit, which drops a refused row through the count's NOT NULL.
    del count_optional
    k = len(keys)
    now, cost, limit, window, sliding = (f"${k + i}" for i in range(1, 6))
    id_param = f"${k + 6}"
    window_ns = f"{window}::bigint"
    state = (
        f"SELECT c.ns, (extract(epoch FROM s.{window_start}) * 1000)::bigint, s.{count} "
        f"FROM (SELECT {_now(now)} AS ns) AS c LEFT JOIN LATERAL ("
        f"SELECT o.{window_start}, o.{count} FROM {table} AS o WHERE {_key_filter(keys, 'o')} "
        f"ORDER BY o.{window_start} DESC LIMIT 2) AS s ON true"
    )
    previous_at = _at(f"(c.start - {window_ns})", "millisecond")
    # The most the window's row may hold after this hit: the limit less the previous
    # window's weighted share (sliding), in exact numeric arithmetic, rounded down.
    cap = (
        f"floor(({limit}::bigint::numeric * {window_ns} - p.previous::numeric * "
        f"({window_ns} - GREATEST(LEAST(c.ns - c.start, {window_ns}), 0))) / {window_ns})::bigint"
    )
    columns = [
        *([] if id is None else [id]),
        *keys,
        window_start,
        count,
        *created,
        *updated,
    ]
    values = [
        *([] if id is None else [id_param]),
        *(f"${i}" for i in range(1, k + 1)),
        "w.start_at",
        f"{cost}::bigint",
        *("w.now_at" for _ in (*created, *updated)),
    ]
    assignments = ", ".join(
        [f"{count} = t.{count} + excluded.{count}", *(f"{c} = excluded.{c}" for c in updated)]
    )
    upsert = (
        # The window the hit counts in: now's, or a later one the key already has (a
        # clock that stepped back must not reopen an earlier window).
        f"WITH c AS MATERIALIZED (SELECT n.ns, GREATEST(n.ns - n.ns % {window_ns}, ("
        f"SELECT (extract(epoch FROM max(o.{window_start})) * 1000)::bigint * 1000000 "
        f"FROM {table} AS o WHERE {_key_filter(keys, 'o')})) AS start "
        f"FROM (SELECT {_now(now)} AS ns) AS n), "
        f"w AS MATERIALIZED (SELECT c.ns, c.start, {_at('c.start', 'millisecond')} AS start_at, "
        f"{_at('c.ns', 'microsecond')} AS now_at, p.previous, {cap} AS cap "
        f"FROM c CROSS JOIN LATERAL (SELECT CASE WHEN {sliding}::boolean THEN COALESCE(("
        f"SELECT o.{count} FROM {table} AS o WHERE {_key_filter(keys, 'o')} "
        f"AND o.{window_start} = {previous_at}), 0) ELSE 0 END AS previous) AS p), "
        f"up AS (INSERT INTO {table} AS t ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM w WHERE {cost}::bigint <= w.cap "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {assignments} "
        # The bound, checked against the row as the last committed hit left it.
        f"WHERE t.{count}::bigint + excluded.{count} <= (SELECT w.cap FROM w) "
        f"RETURNING t.{count}, (t.xmax = 0) AS inserted) "
        # What the snapshot saw is needed only to report a denial: an allowed hit skips
        # the lookup.
        f"SELECT w.ns, w.start, w.previous, w.cap, up.{count}, up.inserted, "
        f"CASE WHEN up.{count} IS NULL THEN (SELECT s.{count} FROM {table} AS s "
        f"WHERE {_key_filter(keys, 's')} AND s.{window_start} = w.start_at) END "
        f"FROM w LEFT JOIN up ON true"
    )
    return _statements(
        table, keys, state=state, upsert=upsert, aged=window_start, as_time=True, config=config
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
    del tat_optional  # as ``count_optional``: for SQLite's one-statement hit
    k = len(keys)
    now, cost, limit, window = (f"${k + i}" for i in range(1, 5))
    id_param = f"${k + 5}"
    # The emission interval rounded up, as the core's `Limits::interval` computes it.
    interval = f"(({window}::bigint + {limit}::bigint - 1) / {limit}::bigint)"
    state = (
        f"SELECT c.ns, s.{tat} FROM (SELECT {_now(now)} AS ns) AS c "
        f"LEFT JOIN {table} AS s ON {_key_filter(keys, 's')}"
    )
    columns = [*([] if id is None else [id]), *keys, tat, *created, *updated]
    values = [
        *([] if id is None else [id_param]),
        *(f"${i}" for i in range(1, k + 1)),
        "c.ns + c.step",
        *("c.now_at" for _ in (*created, *updated)),
    ]
    # A stored arrival time in the past counts from now: the bucket has refilled.
    next_tat = f"GREATEST(t.{tat}, (SELECT c.ns FROM c)) + (SELECT c.step FROM c)"
    assignments = ", ".join([f"{tat} = {next_tat}", *(f"{c} = excluded.{c}" for c in updated)])
    upsert = (
        f"WITH c AS MATERIALIZED (SELECT n.ns, {interval} * {cost}::bigint AS step, "
        f"{interval} * {limit}::bigint AS burst, {_at('n.ns', 'microsecond')} AS now_at "
        f"FROM (SELECT {_now(now)} AS ns) AS n), "
        f"up AS (INSERT INTO {table} AS t ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM c WHERE c.step <= c.burst "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {assignments} "
        # In numeric: a stored time near the top of bigint's range (another writer's) is
        # then a refusal, not an overflow error. An allowed hit's new time fits.
        f"WHERE {next_tat}::numeric - (SELECT c.ns FROM c) <= (SELECT c.burst FROM c) "
        f"RETURNING t.{tat}, (t.xmax = 0) AS inserted) "
        f"SELECT c.ns, up.{tat}, up.inserted, "
        f"CASE WHEN up.{tat} IS NULL THEN (SELECT s.{tat} FROM {table} AS s "
        f"WHERE {_key_filter(keys, 's')}) END "
        f"FROM c LEFT JOIN up ON true"
    )
    return _statements(
        table, keys, state=state, upsert=upsert, aged=tat, as_time=False, config=config
    )


def _statements(
    table: str,
    keys: Sequence[str],
    *,
    state: str,
    upsert: str,
    aged: str,
    as_time: bool,
    config: tuple[str, str, str] | None,
) -> RateLimitStatements:
    # Rows older than this many nanoseconds before now: window starts compare as times,
    # gcra's arrival times as the integers they are.
    cutoff = f"({_now('$3')} - $1::bigint)"
    bound = _at(cutoff, "microsecond") if as_time else cutoff
    rule = None
    if config is not None:
        config_table, key, value = config
        # Numbers only: a string "100" is as malformed here as on SQLite.
        limit, window = (
            f"CASE WHEN jsonb_typeof({value}::jsonb -> '{name}') = 'number' "
            f"THEN {value}::jsonb ->> '{name}' END"
            for name in ("limit", "window")
        )
        rule = f"SELECT {limit}, {window} FROM {config_table} WHERE {key} = $1"
    return {
        "state": state,
        "upsert": upsert,
        "delete_key": f"DELETE FROM {table} AS o WHERE {_key_filter(keys, 'o')}",
        # Bounded batches through the row's physical address, so each transaction stays
        # short; rows another statement deletes meanwhile are simply not counted.
        "cleanup": (
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} "
            f"WHERE {aged} < {bound} LIMIT $2::bigint))"
        ),
        "rule": rule,
        # The upsert above is already the whole hit, on the server's clock.
        "hit": None,
        "hit_sliding": None,
    }
