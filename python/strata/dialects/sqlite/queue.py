"""The SQL of the job queue on SQLite: the statements `strata.queue.binding` builds once
when a queue is bound and the core compiles (rust/queue.rs), and the conditions and
assignments they are made of. The binding owns their meaning (which field plays which role,
the states and their parameters, the claim order, each DateTime column's form); this module
only writes it as SQLite SQL.

``table``, ``column`` and the other name arguments are quoted SQL names; conditions and
assignments are SQL text as these functions return them. The named parameters a statement
uses are the core's (`:now`, `:expires`, `:id`, `:token`, ...; see rust/queue.rs) or the
binding's constants (`:max_attempts`, each state's values); each function's docstring
lists those it uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from strata.dialects.sqlite.datetimes import form_condition

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

#: The claim's RETURNING has no order: it returns the rowid (or the order's columns), and
#: the core sorts the claimed rows.
claims_in_order = False

# -- conditions -------------------------------------------------------------------------------


def one_of(column: str, parameters: Sequence[str], *, null: bool) -> str:
    """The condition that ``column`` holds the value of one of ``parameters``, or is NULL
    when ``null``. At least one of the two must allow something."""
    tests = [f"{column} IS NULL"] if null else []
    if len(parameters) == 1:
        tests.append(f"{column} = {parameters[0]}")
    elif parameters:
        tests.append(f"{column} IN ({', '.join(parameters)})")
    return tests[0] if len(tests) == 1 else f"({' OR '.join(tests)})"


def all_of(conditions: Sequence[str]) -> str:
    """The condition that all of ``conditions`` hold (true when there are none)."""
    return " AND ".join(conditions) or "1"


def lease_passed(lease: str, form: str) -> str:
    """``lease <= :now``, true only for a lease stored in ``form`` (a DateTime form as
    `strata.dialects.sqlite.datetimes` names it). Binds ``:now``."""
    return f"({lease} <= :now AND {form_condition(lease, form)})"


def exhausted(attempts: str, *, final: bool) -> str:
    """The condition that a job has had its last attempt: ``attempts`` reached
    ``:max_attempts``, or, when ``final``, the ``:final`` parameter is true."""
    if final:
        return f"({attempts} >= :max_attempts OR :final)"
    return f"{attempts} >= :max_attempts"


def _due(lease: str, passed: str) -> str:
    """No lease (never claimed, or released), or one that has passed (``passed``)."""
    return f"({lease} IS NULL OR {passed})"


# -- assignments ------------------------------------------------------------------------------


def assignment(column: str, value: str) -> str:
    """``column`` set to ``value`` (a parameter or an SQL expression)."""
    return f"{column} = {value}"


def cleared(column: str) -> str:
    """``column`` set to NULL."""
    return f"{column} = NULL"


def bumped(column: str, step: int) -> str:
    """``column`` moved by ``step`` (an integer column: a lease token, an attempt count)."""
    sign = "-" if step < 0 else "+"
    return f"{column} = {column} {sign} {abs(step)}"


def lease_extended(lease: str) -> str:
    """The lease column set to ``:expires``, the end of a new lease."""
    return f"{lease} = :expires"


def appended(column: str, parameter: str) -> str:
    """Text column ``column`` with ``parameter`` appended (NULL taken as empty)."""
    return f"{column} = coalesce({column}, '') || {parameter}"


def when(column: str, condition: str, then: str, otherwise: str) -> str:
    """``column`` set to ``then`` where ``condition`` holds, else to ``otherwise``."""
    return f"{column} = CASE WHEN {condition} THEN {then} ELSE {otherwise} END"


def retry_or_fail(
    condition: str,
    fields: Iterable[tuple[str, str, str]],
    lease: str,
    finished: tuple[str, str] | None,
) -> list[str]:
    """Assignments that move a claimed job to the failed state when ``condition`` holds,
    else back to the ready state, claimable from ``:retry_at``. ``fields`` are (column,
    its value when failed, its value when ready); ``finished``, when given, is the finish
    time's column and the parameter stamping it, written only on failure."""
    assignments = [when(column, condition, failed, ready) for column, failed, ready in fields]
    assignments.append(f"{lease} = CASE WHEN {condition} THEN NULL ELSE :retry_at END")
    if finished is not None:
        column, stamp = finished
        assignments.append(when(column, condition, stamp, column))
    return assignments


def column_list(columns: Iterable[str]) -> str:
    """``columns`` as a list for ``RETURNING`` or ``SELECT``."""
    return ", ".join(columns)


# -- statements -------------------------------------------------------------------------------


def ready_sql(
    table: str,
    ready: str,
    lease: str,
    passed: str,
    order: Sequence[tuple[str, bool]],
    *,
    id_column: str,
) -> str:
    """The rowids of up to ``:limit`` due jobs in the ``ready`` condition, in ``order``
    ((column, descending) pairs; insertion order, the rowid, when empty): the part of the
    claim that must use an index. ``passed`` is `lease_passed`'s condition (it binds
    ``:now``). The rowid stands in for ``id_column``."""
    by = (
        ", ".join(f"{column} {'DESC' if descending else 'ASC'}" for column, descending in order)
        or "rowid"
    )
    return (
        f"SELECT rowid FROM {table} WHERE {ready} "
        f"AND {_due(lease, passed)} ORDER BY {by} LIMIT :limit"
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
    """Make the jobs `ready_sql` (``ready``) picks claimed, with ``assignments``, and
    return ``returning`` for each, followed by its rowid when ``rowid`` (for the core to
    sort by: RETURNING has no order, so ``order`` is the core's to apply). Binds what
    ``ready`` and ``assignments`` bind."""
    if rowid:
        returning += ", rowid"
    return (
        f"UPDATE {table} SET {', '.join(assignments)} WHERE rowid IN "
        f"({ready}) RETURNING {returning}"
    )


def recover_sql(
    table: str, assignments: Sequence[str], claimed: str, passed: str, *, id_column: str
) -> str:
    """Apply ``assignments`` (`retry_or_fail`'s and more) to the jobs in the ``claimed``
    condition whose lease has passed (``passed``, `lease_passed`'s, binds ``:now``),
    returning their ids (the core counts them for the log). The write lock is the
    transaction's, so no row can be held by another writer."""
    return (
        f"UPDATE {table} SET {', '.join(assignments)} WHERE {claimed} AND {passed} "
        f"RETURNING {id_column}"
    )


def why_sql(table: str, id_column: str, cancelled: str | None) -> str:
    """One row for job ``:id``: 1 if it is in the ``cancelled`` condition (never, without
    one), else 0. The core asks it when a fenced statement changed nothing."""
    return (
        f"SELECT CASE WHEN {cancelled or '0'} THEN 1 ELSE 0 END FROM {table} "
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
    is in the ``claimed`` condition, returning ``returning``: a claim's write that a
    stale claim cannot make."""
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
) -> None:
    """Nothing: the core runs `fenced_sql` once per claim in one transaction, each a call
    into the library rather than a round trip."""
    return None


def active_with_keys_sql(
    table: str, key: str, id_column: str, parameters: Iterable[str], ready: str, claimed: str
) -> str:
    """The key (column ``key``) and id of each job in the ``ready`` or ``claimed``
    condition whose key is the value of one of ``parameters``."""
    return (
        f"SELECT {key}, {id_column} FROM {table} "
        f"WHERE {key} IN ({', '.join(parameters)}) AND (({ready}) "
        f"OR ({claimed}))"
    )


def cancel_sql(
    table: str, assignments: Sequence[str], id_column: str, ready: str, claimed: str
) -> str:
    """Apply ``assignments`` to job ``:id`` if it is in the ``ready`` or ``claimed``
    condition, returning its id."""
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
    """One row: the number of jobs in each of the ``states`` conditions, then of ready
    jobs not yet due (their lease is after ``:now``), of claimed jobs whose lease has
    passed (``passed``, `lease_passed`'s), and the least ``created`` (an SQL expression)
    of the due ready jobs, NULL without ``created``."""
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
    column is before ``:cutoff``, returning a row for each (picked by rowid, not
    ``id_column``)."""
    return (
        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE "
        f"({' OR '.join(f'({s})' for s in states)}) AND {finished} < :cutoff "
        f"LIMIT {batch}) RETURNING 1"
    )


def plan_setup_sql() -> list[str]:
    """Nothing: SQLite's plan shows a sort whenever no index gives the order."""
    return []


def plan_sql(statement: str) -> str:
    """The query plan of ``statement``, binding what it binds."""
    return f"EXPLAIN QUERY PLAN {statement}"


def plan_sorts(plan: Iterable[Sequence[object]]) -> bool:
    """Whether a plan `plan_sql` returned sorts the rows itself (no index gives the
    order)."""
    details = " ".join(str(row[-1]) for row in plan)
    return "USE TEMP B-TREE" in details


def changes_sql() -> str:
    # data_version changes when another connection commits, and costs no lock to read.
    return "PRAGMA data_version"


def listen_sql(table: str) -> None:
    """Nothing: waiters poll `changes_sql`."""
    return None


def notify_sql(table: str) -> None:
    """Nothing: a commit changes `changes_sql`'s answer, which waiters poll."""
    return None


def unique_lock_sql(table: str) -> None:
    """Nothing: the enqueue's transaction holds the write lock (``BEGIN IMMEDIATE``)."""
    return None
