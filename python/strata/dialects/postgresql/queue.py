"""The SQL of the job queue on PostgreSQL: the statements `strata.queue.binding` builds once
when a queue is bound and the core runs (rust/pg_queue.rs), and the conditions and
assignments they are made of. The binding owns their meaning; this module writes it as
PostgreSQL SQL, as `strata.dialects.sqlite.queue` does for SQLite.

Statements use the same named parameters as on SQLite (``:now``, ``:token``, the binding's
constants); the core renumbers each one into ``$1..$n`` once (rust/engine/postgres/named.rs).
What differs from SQLite:

* a claim locks the rows it picks with ``FOR UPDATE SKIP LOCKED``, so concurrent claims pass
  each other's rows by instead of waiting, and it returns its rows in the queue's order
  itself (`claims_in_order`); recovery skips locked rows the same way, so it never waits
  for a worker's write and never deadlocks with one;
* there is no rowid: without an ``order_by``, claims follow the primary key;
* a CASE of parameters alone is typed text by PostgreSQL, which an enum or timestamp column
  does not take, so each CASE assigned to a column has a branch never taken holding the
  column itself, which gives the CASE the column's type;
* idle workers are woken by ``LISTEN``/``NOTIFY`` on a channel named after the table, not by
  polling (`changes_sql` is None);
* enqueues with a unique key take a transaction-scoped advisory lock for the table, the
  part of SQLite's write lock that the check-then-insert needs;
* the plan check runs with sorting disabled, so the plan shows a sort only when no index
  can give the claim's order, whatever the table's size.

DateTime columns hold one form of time here (``timestamp(3)``), so ``form`` arguments are
accepted and ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

__all__ = [
    "active_with_keys_sql",
    "all_of",
    "appended",
    "assignment",
    "bumped",
    "cancel_sql",
    "changes_sql",
    "claim_sql",
    "claims_in_order",
    "cleared",
    "column_list",
    "exhausted",
    "fenced_many_sql",
    "fenced_sql",
    "lease_extended",
    "lease_passed",
    "listen_sql",
    "notify_sql",
    "one_of",
    "plan_setup_sql",
    "plan_sorts",
    "plan_sql",
    "purge_sql",
    "ready_sql",
    "recover_sql",
    "retry_or_fail",
    "stats_sql",
    "unique_lock_sql",
    "when",
    "why_sql",
]

#: The claim statement returns its rows in the queue's order (the core need not sort).
claims_in_order = True

#: PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1): a longer channel is refused.
_MAX_NAME = 63

# -- conditions -------------------------------------------------------------------------------


def one_of(column: str, parameters: Sequence[str], *, null: bool) -> str:
    """The condition that ``column`` holds the value of one of ``parameters``, or is NULL
    when ``null``."""
    tests = [f"{column} IS NULL"] if null else []
    if len(parameters) == 1:
        tests.append(f"{column} = {parameters[0]}")
    elif parameters:
        tests.append(f"{column} IN ({', '.join(parameters)})")
    return tests[0] if len(tests) == 1 else f"({' OR '.join(tests)})"


def all_of(conditions: Sequence[str]) -> str:
    """The condition that all of ``conditions`` hold (true when there are none)."""
    return " AND ".join(conditions) or "true"


def lease_passed(lease: str, form: str) -> str:
    """``lease <= :now``. Binds ``:now``."""
    return f"({lease} <= :now)"


def exhausted(attempts: str, *, final: bool) -> str:
    """The condition that a job has had its last attempt: ``attempts`` reached
    ``:max_attempts``, or, when ``final``, the ``:final`` parameter is true."""
    if final:
        return f"({attempts} >= :max_attempts OR :final)"
    return f"{attempts} >= :max_attempts"


def _due(lease: str, passed: str) -> str:
    return f"({lease} IS NULL OR {passed})"


# -- assignments ------------------------------------------------------------------------------


def assignment(column: str, value: str) -> str:
    return f"{column} = {value}"


def cleared(column: str) -> str:
    return f"{column} = NULL"


def bumped(column: str, step: int) -> str:
    sign = "-" if step < 0 else "+"
    return f"{column} = {column} {sign} {abs(step)}"


def lease_extended(lease: str) -> str:
    return f"{lease} = :expires"


def appended(column: str, parameter: str) -> str:
    return f"{column} = coalesce({column}, '') || {parameter}"


def _case(column: str, condition: str, then: str, otherwise: str) -> str:
    # The branch never taken gives the CASE the column's type (see the module's doc).
    return f"CASE WHEN {condition} THEN {then} WHEN false THEN {column} ELSE {otherwise} END"


def when(column: str, condition: str, then: str, otherwise: str) -> str:
    """``column`` set to ``then`` where ``condition`` holds, else to ``otherwise``."""
    return f"{column} = {_case(column, condition, then, otherwise)}"


def retry_or_fail(
    condition: str,
    fields: Iterable[tuple[str, str, str]],
    lease: str,
    finished: tuple[str, str] | None,
) -> list[str]:
    """As `strata.dialects.sqlite.queue.retry_or_fail`: failed when ``condition`` holds,
    else ready again from ``:retry_at``."""
    assignments = [when(column, condition, failed, ready) for column, failed, ready in fields]
    assignments.append(f"{lease} = {_case(lease, condition, 'NULL', ':retry_at')}")
    if finished is not None:
        column, stamp = finished
        assignments.append(when(column, condition, stamp, column))
    return assignments


def column_list(columns: Iterable[str]) -> str:
    return ", ".join(columns)


# -- statements -------------------------------------------------------------------------------


def _order_by(order: Sequence[tuple[str, bool]]) -> str:
    return ", ".join(f"{column} {'DESC' if descending else 'ASC'}" for column, descending in order)


def ready_sql(
    table: str,
    ready: str,
    lease: str,
    passed: str,
    order: Sequence[tuple[str, bool]],
    *,
    id_column: str,
) -> str:
    """The ids of up to ``:limit`` due jobs in the ``ready`` condition, in ``order`` (the
    binding gives the primary key when the queue has no order), locked for this
    transaction, skipping those another transaction holds: the part of the claim that
    must use an index."""
    return (
        f"SELECT {id_column} FROM {table} WHERE {ready} AND {_due(lease, passed)} "
        f"ORDER BY {_order_by(order)} LIMIT :limit FOR UPDATE SKIP LOCKED"
    )


def claim_sql(
    table: str,
    assignments: Sequence[str],
    ready: str,
    returning: str,
    *,
    rowid: bool,
    id_column: str,
    order: Sequence[tuple[str, bool]],
) -> str:
    """Claim the jobs `ready_sql` (``ready``) picks, with ``assignments``, returning
    ``returning`` for each, in ``order`` (ties by id). ``rowid`` is SQLite's and is never
    asked for here (`claims_in_order`)."""
    by = _order_by([*order, (id_column, False)])
    return (
        f"WITH claimed AS (UPDATE {table} SET {', '.join(assignments)} "
        f"WHERE {id_column} IN ({ready}) RETURNING {returning}) "
        f"SELECT * FROM claimed ORDER BY {by}"
    )


def recover_sql(
    table: str, assignments: Sequence[str], claimed: str, passed: str, *, id_column: str
) -> str:
    """Apply ``assignments`` to the jobs in the ``claimed`` condition whose lease has
    passed, skipping any another transaction is writing (the next recovery finds them);
    their ids are returned, for the core to count."""
    return (
        f"UPDATE {table} SET {', '.join(assignments)} WHERE {id_column} IN "
        f"(SELECT {id_column} FROM {table} WHERE {claimed} AND {passed} "
        f"FOR UPDATE SKIP LOCKED) RETURNING {id_column}"
    )


def why_sql(table: str, id_column: str, cancelled: str | None) -> str:
    """One row for job ``:id``: 1 if it is in the ``cancelled`` condition, else 0."""
    return (
        f"SELECT CASE WHEN {cancelled or 'false'} THEN 1 ELSE 0 END FROM {table} "
        f"WHERE {id_column} = :id"
    )


def fenced_sql(
    table: str,
    assignments: Sequence[str],
    id_column: str,
    token: str,
    claimed: str,
    returning: str,
) -> str:
    """Apply ``assignments`` to job ``:id`` only while its lease token is ``:token`` and it
    is in the ``claimed`` condition, returning ``returning``. A concurrent write to the job
    holds its row until it commits; this one then checks the row as that write left it."""
    return (
        f"UPDATE {table} SET {', '.join(assignments)} WHERE {id_column} = :id "
        f"AND {token} = :token AND {claimed} "
        f"RETURNING {returning}"
    )


def fenced_many_sql(
    table: str,
    assignments: Sequence[str],
    id_column: str,
    token: str,
    claimed: str,
    returning: str,
) -> str:
    """`fenced_sql` for many claims in one statement: the jobs whose ids are in the array
    ``:ids`` and whose token is the one at the same place in ``:tokens``, returning
    ``returning`` for each (a stale claim returns nothing). One round trip however many
    claims, where one statement per claim would cost one each."""
    return (
        f"UPDATE {table} SET {', '.join(assignments)} WHERE {id_column} = ANY(:ids) "
        f"AND {token} = (CAST(:tokens AS integer[]))[array_position(:ids, {id_column})] "
        f"AND {claimed} RETURNING {returning}"
    )


def active_with_keys_sql(
    table: str, key: str, id_column: str, parameters: Iterable[str], ready: str, claimed: str
) -> str:
    return (
        f"SELECT {key}, {id_column} FROM {table} "
        f"WHERE {key} IN ({', '.join(parameters)}) AND (({ready}) "
        f"OR ({claimed}))"
    )


def cancel_sql(
    table: str, assignments: Sequence[str], id_column: str, ready: str, claimed: str
) -> str:
    return (
        f"UPDATE {table} SET {', '.join(assignments)} WHERE {id_column} = :id "
        f"AND (({ready}) OR ({claimed})) "
        f"RETURNING {id_column}"
    )


def stats_sql(
    table: str,
    states: Iterable[str],
    ready: str,
    claimed: str,
    lease: str,
    passed: str,
    created: str | None,
) -> str:
    """As `strata.dialects.sqlite.queue.stats_sql`: the count of each state, of delayed
    jobs, of expired leases, and the least ``created`` of the due ready jobs."""
    counts = [f"(SELECT count(*) FROM {table} WHERE {condition})" for condition in states]
    oldest = (
        f"(SELECT min({created}) FROM {table} WHERE {ready} AND {_due(lease, passed)})"
        if created
        else "NULL"
    )
    return (
        f"SELECT {', '.join(counts)}, "
        f"(SELECT count(*) FROM {table} WHERE {ready} AND {lease} > :now), "
        f"(SELECT count(*) FROM {table} WHERE {claimed} AND {passed}), "
        f"{oldest}"
    )


def purge_sql(
    table: str, states: Sequence[str], finished: str, batch: int, *, id_column: str
) -> str:
    """Delete up to ``batch`` jobs in one of the ``states`` conditions whose ``finished``
    column is before ``:cutoff``, returning a row for each."""
    return (
        f"DELETE FROM {table} WHERE {id_column} IN (SELECT {id_column} FROM {table} WHERE "
        f"({' OR '.join(f'({s})' for s in states)}) AND {finished} < :cutoff "
        f"LIMIT {batch}) RETURNING 1"
    )


def plan_setup_sql() -> list[str]:
    """Run before `plan_sql` in the same transaction. With sorting disabled, the planner
    takes any index that gives the order, even on a table so small that sorting it would
    be cheaper, so the plan answers whether such an index exists."""
    return ["SELECT set_config('enable_sort', 'off', true)"]


def plan_sql(statement: str) -> str:
    return f"EXPLAIN {statement}"


_SORT = re.compile(r"\bSort\b")


def plan_sorts(plan: Iterable[Sequence[object]]) -> bool:
    """Whether a plan `plan_sql` returned sorts the rows (a Sort or Incremental Sort
    node): no index gives the whole order."""
    return any(_SORT.search(str(row[0])) for row in plan)


def changes_sql() -> None:
    """Nothing to poll: waiters are notified (`listen_sql`)."""
    return None


def _channel(table: str) -> str:
    """The notification channel of ``table``'s queue (a table name, unquoted): readable
    when it fits PostgreSQL's 63 bytes, else cut short with a hash of the whole."""
    name = f"strata_queue_{table}"
    if len(name.encode()) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    head = name.encode()[: _MAX_NAME - 13].decode(errors="ignore")
    return f"{head}_{digest}"


def listen_sql(table: str) -> str:
    """What a waiting worker runs once, on its own connection, to be notified of
    enqueues to ``table`` (a table name, unquoted)."""
    channel = _channel(table).replace('"', '""')
    return f'LISTEN "{channel}"'


def notify_sql(table: str) -> str:
    """Run in an enqueue's transaction: the server notifies the listeners when, and only
    if, it commits."""
    channel = _channel(table).replace("'", "''")
    return f"SELECT pg_notify('{channel}', '')"


def unique_lock_sql(table: str) -> str:
    """Run first in an enqueue with unique keys: held until the transaction ends, so a
    concurrent enqueue of the same key sees this one's job (committed) when it checks."""
    channel = _channel(table).replace("'", "''")
    return f"SELECT pg_advisory_xact_lock(hashtextextended('{channel}', 0))"
