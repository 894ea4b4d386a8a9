"""Apply a migration script atomically.

Prisma's SQLite scripts turn foreign keys off around table redefinitions
(``PRAGMA foreign_keys=OFF`` ... ``ON``). That pragma is a no-op inside a transaction, and
with foreign keys on, ``DROP TABLE`` on a parent runs an implicit DELETE that fires its
children's ON DELETE CASCADE. So the runner turns foreign keys off *before* opening the
transaction, runs the script inside it, checks every foreign key before committing, and
turns them back on. A script that fails at any statement leaves the database exactly as it
was.

The row copy of a table redefinition (``INSERT INTO "new_X" ... SELECT ... FROM "X"``) runs
in rowid ranges when a progress callback is given, so a large copy can show a progress bar.
The file on disk keeps Prisma's single statement.

Debian builds SQLite with SECURE_DELETE on, so dropping the old table of a redefinition
would overwrite every one of its freed pages with zeros: as many page writes again as the
copy itself. The runner switches to ``secure_delete = FAST`` (zero freed content only where
the page is written anyway) for the migration. The dropped rows live on in the new table,
so zeroing the old copy protects nothing.

How a script splits into statements, which of them switch foreign keys or copy rows, and
every statement run around them are the dialect's (its `MigrationsDialect` part); this
module decides when each runs. Where a database needs none of it (PostgreSQL: DDL is
transactional, foreign keys stay on, no secure_delete), the dialect says so and the script
simply runs in the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from strata.dialects import dialect_for_url
from strata.errors import MigrationError, StrataError

if TYPE_CHECKING:
    from strata.dialects.base import MigrationsDialect, RowCopy
    from strata.engine import Engine

__all__ = ["ProgressCallback", "apply_script", "script_transaction"]

#: Called as ``progress(table, rows_copied, rows_total)`` while a redefinition copies rows.
ProgressCallback = Callable[[str, int, int], None]

#: Below this many rowids a copy runs as one statement. Copying in ranges costs 10-20% more
#: than one INSERT ... SELECT (measured on 1M rows: the first range and the commit are
#: slower), and under about a second of copying a progress bar shows nothing worth that.
_CHUNKED_COPY_MIN_ROWS = 2_000_000
_COPY_CHUNK_ROWS = 200_000


def apply_script(
    engine: Engine,
    script: str,
    progress: ProgressCallback | None = None,
    dialect: MigrationsDialect | None = None,
) -> None:
    """Run ``script`` in one transaction. Raises `MigrationError` naming the failing
    statement; the database is then unchanged. ``dialect`` is the migrator's; without
    one, the dialect the engine's URL names."""
    with script_transaction(engine, script, dialect) as run:
        run(progress)


@contextmanager
def script_transaction(
    engine: Engine, script: str, dialect: MigrationsDialect | None = None
) -> Iterator[Callable[[ProgressCallback | None], None]]:
    """A write transaction ready to run ``script``: the block gets a function that runs
    it, in a savepoint, so that what else the block writes (the migration history's rows)
    commits with the script or, when the script fails, without it. Foreign keys are
    switched around the transaction when the script asks (see the module docstring)."""
    sql = dialect or dialect_for_url(engine.url_).migrations
    statements = list(sql.split_statements(script))
    foreign_keys_off = any(sql.turns_foreign_keys_off(s) for s in statements)

    def run(progress: ProgressCallback | None) -> None:
        with engine.transaction_():
            for statement in statements:
                if sql.handled_around_script(statement):
                    continue  # see the module docstring
                try:
                    copy = sql.row_copy(statement) if progress else None
                    if copy and progress:
                        _copy_in_chunks(engine, statement, copy, progress)
                    else:
                        engine.execute_script_(statement)
                except StrataError as exc:
                    raise MigrationError(
                        f"{_without_sql(exc)}\n\nwhile running:\n{statement}"
                    ) from exc
            if foreign_keys_off:
                _check_foreign_keys(engine, sql)

    if foreign_keys_off:
        _switch_foreign_keys(engine, sql, enabled=False)
    try:
        with engine.transaction_(), _fast_secure_delete(engine, sql):
            yield run
    finally:
        if foreign_keys_off:
            _switch_foreign_keys(engine, sql, enabled=True)


def _switch_foreign_keys(engine: Engine, sql: MigrationsDialect, *, enabled: bool) -> None:
    statement = sql.foreign_keys_sql(enabled=enabled)
    if statement is not None:
        engine.execute_raw_(statement)


def _without_sql(exc: StrataError) -> str:
    """The error's message without the (abbreviated) SQL the core appends to it, when the
    error carries that SQL: the statement follows in full, and once is enough."""
    message = str(exc)
    if getattr(exc, "sql", None):
        message = message.rsplit(" (in SQL: ", 1)[0]
    return message


@contextmanager
def _fast_secure_delete(engine: Engine, sql: MigrationsDialect) -> Iterator[None]:
    """``secure_delete = FAST`` on the writer for the block (see the module docstring),
    where the database has that setting. Runs inside the transaction, where reads go to the
    writer connection."""
    read = sql.read_secure_delete_sql()
    if read is None:
        yield
        return
    ((previous,),) = engine.query_raw_(read, as_tuples=True)
    engine.execute_raw_(sql.fast_secure_delete_sql())
    try:
        yield
    finally:
        engine.execute_raw_(sql.restore_secure_delete_sql(previous))


def _copy_in_chunks(
    engine: Engine, statement: str, copy: RowCopy, progress: ProgressCallback
) -> None:
    """Run a redefinition's row copy in rowid ranges, reporting progress after each.

    Progress counts rowids, not rows: min and max rowid come from the rowid b-tree's
    ends at once, where count(*) would read the whole table just to draw a bar."""
    ((low, high),) = engine.query_raw_(copy.bounds_sql, as_tuples=True)
    span = 0 if low is None else high - low + 1
    if span < _CHUNKED_COPY_MIN_ROWS:
        engine.execute_script_(statement)
        return
    progress(copy.source, 0, span)
    for start in range(low, high + 1, _COPY_CHUNK_ROWS):
        engine.execute_raw_(copy.range_sql, start, start + _COPY_CHUNK_ROWS)
        progress(copy.source, min(start + _COPY_CHUNK_ROWS, high + 1) - low, span)


def _check_foreign_keys(engine: Engine, sql: MigrationsDialect) -> None:
    violations = engine.query_raw_(sql.foreign_key_check_sql(), as_tuples=True)
    if violations:
        table, rowid, parent, _ = violations[0]
        raise MigrationError(
            f"the migration would leave {len(violations)} row(s) violating foreign keys, e.g. "
            f"row {rowid} of `{table}` references a missing row of `{parent}`"
        )
