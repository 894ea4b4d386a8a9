"""The migrator's SQL on SQLite: Prisma's ``_prisma_migrations`` table, the statements the
migration runner wraps a script in (`strata.migrate.runner`), and the reads behind ``migrate
reset`` and the data-loss warnings.

``table`` and ``column`` arguments are quoted SQL names (`strata.dialects.sqlite.quote`);
the history statements bind ``?`` parameters in the order each docstring gives.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime

from strata._compat import UTC
from strata.dialects.base import RowCopy, ScratchDatabase
from strata.dialects.sqlite.ddl import quote
from strata.errors import ConfigurationError

__all__ = [
    "count_sql",
    "drop_sql",
    "fast_secure_delete_sql",
    "foreign_key_check_sql",
    "foreign_keys_sql",
    "handled_around_script",
    "history_exists_sql",
    "history_table_sql",
    "history_time",
    "is_not_null",
    "is_null",
    "lock_sql",
    "namespace_sql",
    "read_history_sql",
    "read_secure_delete_sql",
    "record_failure_sql",
    "record_finish_sql",
    "record_rolled_back_sql",
    "record_start_sql",
    "restore_secure_delete_sql",
    "row_copy",
    "schema_objects_sql",
    "scratch_database",
    "seed_url",
    "split_statements",
    "table_exists_sql",
    "table_name",
    "turns_foreign_keys_off",
]


def scratch_database(
    url: str | None, *, template: str | None = None, prefix: str = "prisma_migrate_shadow_db"
) -> ScratchDatabase:
    """A private in-memory database: the shadow database ``migrate dev`` replays history
    into. A copy of another database is a copy of its file, made without SQL."""
    if template is not None:
        raise ConfigurationError("a SQLite database is copied as a file, not from a template")
    return ScratchDatabase(":memory:")


def namespace_sql(url: str) -> None:
    """None: a SQLite database has no schemas to create."""
    return None


def lock_sql() -> None:
    """None: each migration's write transaction (``BEGIN IMMEDIATE``) keeps migrators
    apart (`strata.migrate.runner`)."""
    return None


def seed_url(url: str, path: str) -> str:
    """The database file by its absolute path, whatever the URL was relative to."""
    return f"file:{path}"


# -- the history table ---------------------------------------------------------------------

# Prisma's own definition of its history table on SQLite.
_CREATE_HISTORY = """CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)"""


def history_table_sql() -> str:
    """Create ``_prisma_migrations`` as Prisma does, unless it exists."""
    return _CREATE_HISTORY


def history_exists_sql() -> str:
    """A row when ``_prisma_migrations`` exists, none otherwise."""
    return "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'"


def read_history_sql() -> str:
    """Every history row, oldest first: id, migration_name, checksum, started_at,
    finished_at, rolled_back_at, logs, applied_steps_count."""
    return (
        'SELECT "id", "migration_name", "checksum", "started_at", "finished_at", '
        '"rolled_back_at", "logs", "applied_steps_count" FROM "_prisma_migrations" '
        'ORDER BY "started_at", "migration_name"'
    )


def record_start_sql() -> str:
    """Insert the row of a migration started. Binds id, checksum, migration_name and
    started_at."""
    return (
        'INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "started_at", '
        '"applied_steps_count") VALUES (?, ?, ?, ?, 0)'
    )


def record_finish_sql() -> str:
    """Mark a row finished. Binds finished_at and the row's id."""
    return (
        'UPDATE "_prisma_migrations" SET "finished_at" = ?, "applied_steps_count" = 1 '
        'WHERE "id" = ?'
    )


def record_failure_sql() -> str:
    """Keep a failed migration's logs. Binds the logs and the row's id."""
    return 'UPDATE "_prisma_migrations" SET "logs" = ? WHERE "id" = ?'


def record_rolled_back_sql() -> str:
    """Mark the unfinished rows of a migration rolled back. Binds rolled_back_at and the
    migration_name."""
    return (
        'UPDATE "_prisma_migrations" SET "rolled_back_at" = ? WHERE "migration_name" = ? '
        'AND "finished_at" IS NULL AND "rolled_back_at" IS NULL'
    )


def history_time(moment: datetime) -> str:
    """``moment`` as a history row stores it, as Prisma 7 writes ``_prisma_migrations``
    times on SQLite: ISO 8601 in UTC with milliseconds and ``+00:00``
    (``2026-01-02T03:04:05.678+00:00``, JavaScript's ``toISOString()`` with its ``Z``
    spelled out, from the SQLite driver adapter its schema engine runs on). Rows written
    by older tools hold Unix milliseconds: they are only sorted, and an integer sorts before
    any text in SQLite, so those older rows still come first."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# -- running a script ------------------------------------------------------------------------

_FOREIGN_KEYS_OFF = re.compile(r"^\s*PRAGMA\s+foreign_keys\s*=\s*(OFF|0|false)\s*;?\s*$", re.I)
_FOREIGN_KEY_PRAGMA = re.compile(r"^\s*PRAGMA\s+(defer_)?foreign_keys\s*=", re.I)
# The select list is the column list, but for columns a default fills in (``coalesce(...)``).
_COPY = re.compile(
    r'^\s*INSERT INTO "(?P<target>(?:[^"]|"")+)" \((?P<columns>[^)]*)\) '
    r'SELECT (?P<values>.+) FROM "(?P<source>(?:[^"]|"")+)"\s*;?\s*$',
    re.S,
)


def split_statements(script: str) -> Iterator[str]:
    """The script's statements, split where SQLite's own tokenizer says a statement is
    complete (so semicolons inside strings and trigger bodies are handled)."""
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        buffer.append(line)
        text = "".join(buffer)
        if sqlite3.complete_statement(text):
            statement = _strip_comments(text)
            if statement:
                yield statement
            buffer.clear()
    rest = _strip_comments("".join(buffer))
    if rest:
        yield rest


def _strip_comments(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines).strip()
    # A leading /* ... */ block (Prisma's warnings header) is a comment, not a statement.
    while text.startswith("/*") and "*/" in text:
        text = text[text.index("*/") + 2 :].strip()
    return text


def turns_foreign_keys_off(statement: str) -> bool:
    """Whether ``statement`` switches foreign key enforcement off (``PRAGMA
    foreign_keys=OFF``), as Prisma's scripts do around a table redefinition."""
    return bool(_FOREIGN_KEYS_OFF.match(statement))


def handled_around_script(statement: str) -> bool:
    """Whether ``statement`` is a foreign key pragma, which does nothing inside a
    transaction: the runner sets foreign keys around the script's transaction instead."""
    return bool(_FOREIGN_KEY_PRAGMA.match(statement))


def foreign_keys_sql(*, enabled: bool) -> str:
    """Switch foreign key enforcement on or off (outside a transaction)."""
    return f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}"


def foreign_key_check_sql() -> str:
    """One row per foreign key violation: table, rowid, parent table, key number."""
    return "PRAGMA foreign_key_check"


def read_secure_delete_sql() -> str:
    """One row: the connection's secure_delete setting, as an integer."""
    return "PRAGMA secure_delete"


def fast_secure_delete_sql() -> str:
    """Zero freed content only where the page is written anyway (see
    `strata.migrate.runner`)."""
    return "PRAGMA secure_delete = FAST"


def restore_secure_delete_sql(previous: int) -> str:
    """Set secure_delete back to ``previous``, as `read_secure_delete_sql` read it."""
    return f"PRAGMA secure_delete = {int(previous)}"


def row_copy(statement: str) -> RowCopy | None:
    """A table redefinition's row copy (``INSERT INTO "new_X" (...) SELECT ... FROM "X"``)
    as statements that run it in rowid ranges, or None when ``statement`` is not one."""
    copy = _COPY.match(statement)
    if copy is None:
        return None
    source = copy.group("source")
    quoted_source = '"' + source + '"'
    columns, values = copy.group("columns"), copy.group("values")
    return RowCopy(
        source=source,
        bounds_sql=f"SELECT min(rowid), max(rowid) FROM {quoted_source}",
        range_sql=(
            f'INSERT INTO "{copy.group("target")}" ({columns}) SELECT {values} '
            f"FROM {quoted_source} WHERE rowid >= ? AND rowid < ?"
        ),
    )


# -- reset and the data-loss warnings ------------------------------------------------------------


def schema_objects_sql(namespaces: Sequence[str] = ()) -> str:
    """One row per table and view of the database's own (not SQLite's): kind, name.
    ``namespaces`` play no part: a SQLite database is one namespace."""
    return (
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "AND type IN ('table', 'view')"
    )


def drop_sql(kind: str, name: str) -> str:
    """Drop the table or view (``kind`` as `schema_objects_sql` gives it) ``name``."""
    return f"DROP {kind.upper()} IF EXISTS {name}"


def table_exists_sql(namespace: str | None) -> str:
    """A row when the table named by the one parameter (unquoted) exists. SQLite has no
    namespaces (the validator refuses ``schemas`` on SQLite)."""
    return "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def table_name(name: str, namespace: str | None) -> str:
    return quote(name)


def count_sql(table: str, condition: str | None = None) -> str:
    """One row: the number of rows of ``table``, or of those where ``condition`` holds."""
    return f"SELECT count(*) FROM {table} WHERE {condition or '1'}"


def is_null(column: str) -> str:
    return f"{column} IS NULL"


def is_not_null(column: str) -> str:
    return f"{column} IS NOT NULL"
