"""The migrator's SQL on PostgreSQL: Prisma's ``_prisma_migrations`` table, how a script
splits into statements, the advisory lock that keeps migrators apart, the shadow database
and the reads behind ``migrate reset`` and the data-loss warnings.

DDL is transactional on PostgreSQL, so the runner's one transaction per migration is all a
script needs around it: foreign keys are never switched off (nothing in Prisma's
PostgreSQL scripts asks for it) and there is no secure_delete setting. Prisma's scripts
bracket the enum recreation of ``-- AlterEnum`` in ``BEGIN;`` ... ``COMMIT;``; Prisma sends a
whole script as one simple query, where that ``BEGIN`` takes over the implicit transaction
and that ``COMMIT`` ends it. Here the migration's own transaction holds every statement, so
those two are the runner's to leave out (`handled_around_script`), and the whole migration
is one transaction (docs/PRISMA-DEVIATIONS.md).

``table`` and ``column`` arguments are quoted SQL names; the history statements bind
``$1, $2, ...`` in the order each docstring gives.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from strata._compat import UTC
from strata.dialects.base import RowCopy, ScratchDatabase
from strata.dialects.postgresql.ddl import quote
from strata.dialects.postgresql.types import string_literal
from strata.errors import ConfigurationError, MigrationError

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

# -- the server around the migrations ----------------------------------------------------------

#: Prisma's advisory lock key for Migrate, so that strata and Prisma keep each other out.
ADVISORY_LOCK_KEY = 72707369
#: How long a migrator waits for another one's lock before giving up, as Prisma does.
LOCK_TIMEOUT_MS = 10_000


def scratch_database(
    url: str | None, *, template: str | None = None, prefix: str = "prisma_migrate_shadow_db"
) -> ScratchDatabase:
    """A new database on the server ``url`` reaches, named as Prisma names its shadow
    databases (``prefix``), dropped afterwards even while connections remain
    (``WITH (FORCE)``). With ``template``, a copy of that database: the server refuses while
    anyone is connected to it, so the statement runs on a connection to another one."""
    if url is None:
        raise ConfigurationError(
            "a PostgreSQL migration history is replayed into a shadow database on a server: "
            "give one with --shadow-database-url"
        )
    name = f"{prefix}_{uuid.uuid4()}"
    parts = urlsplit(url)
    copy = "" if template is None else f" TEMPLATE {quote(template)}"
    return ScratchDatabase(
        url=urlunsplit(parts._replace(path="/" + name)),
        create_sql=f"CREATE DATABASE {quote(name)}{copy}",
        drop_sql=f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)",
    )


def url_schema(url: str) -> str:
    """The database schema a Prisma URL names (``?schema=``), ``public`` by default."""
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key == "schema" and value:
            return unquote(value)
    return "public"


def namespace_sql(url: str) -> str:
    """Create the URL's schema unless it exists. Checked first rather than ``CREATE SCHEMA
    IF NOT EXISTS``, which needs the right to create schemas even when there is nothing
    to create."""
    name = url_schema(url)
    literal = "'" + name.replace("'", "''") + "'"
    return (
        "DO $strata$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {literal}) "
        f"THEN CREATE SCHEMA {quote(name)}; END IF; END $strata$"
    )


def lock_sql() -> tuple[str, str]:
    """Prisma's session-level advisory lock, waited for at most `LOCK_TIMEOUT_MS` (the
    lock's wait counts against ``lock_timeout``), and its release."""
    return (
        f"SET lock_timeout = {LOCK_TIMEOUT_MS};\nSELECT pg_advisory_lock({ADVISORY_LOCK_KEY})",
        f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})",
    )


def seed_url(url: str, path: str) -> str:
    """The URL itself, password included (``path`` hides it)."""
    return url


# -- the history table ---------------------------------------------------------------------

# Prisma's own definition of its history table on PostgreSQL, created unless it exists.
_CREATE_HISTORY = """CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)"""


def history_table_sql() -> str:
    """Create ``_prisma_migrations`` as Prisma does, unless it exists."""
    return _CREATE_HISTORY


def history_exists_sql() -> str:
    """A row when ``_prisma_migrations`` exists in the schema tables are created in."""
    return (
        "SELECT 1 FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = '_prisma_migrations'"
    )


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
        '"applied_steps_count") VALUES ($1, $2, $3, $4, 0)'
    )


def record_finish_sql() -> str:
    """Mark a row finished. Binds finished_at and the row's id."""
    return (
        'UPDATE "_prisma_migrations" SET "finished_at" = $1, "applied_steps_count" = 1 '
        'WHERE "id" = $2'
    )


def record_failure_sql() -> str:
    """Keep a failed migration's logs. Binds the logs and the row's id."""
    return 'UPDATE "_prisma_migrations" SET "logs" = $1 WHERE "id" = $2'


def record_rolled_back_sql() -> str:
    """Mark the unfinished rows of a migration rolled back. Binds rolled_back_at and the
    migration_name."""
    return (
        'UPDATE "_prisma_migrations" SET "rolled_back_at" = $1 WHERE "migration_name" = $2 '
        'AND "finished_at" IS NULL AND "rolled_back_at" IS NULL'
    )


def history_time(moment: datetime) -> datetime:
    """``moment`` in UTC: the columns are ``TIMESTAMPTZ``, and the core binds an aware
    datetime as one."""
    return moment.astimezone(UTC)


# -- running a script ------------------------------------------------------------------------

# What the migration's own transaction stands in for (Prisma's AlterEnum brackets).
_OWN_TRANSACTION = re.compile(
    r"^(BEGIN|START\s+TRANSACTION|COMMIT|END)(\s+(WORK|TRANSACTION))?\s*$", re.I
)
# Any other transaction control would end or split the migration's transaction.
_TRANSACTION_CONTROL = re.compile(
    r"^(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b", re.I
)
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_WORD = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]")


def split_statements(script: str) -> Iterator[str]:
    """The script's statements, split at the semicolons PostgreSQL's own lexer would end a
    statement at: not inside quotes, comments (nested ``/* */`` too), dollar-quoted bodies
    or a ``BEGIN ATOMIC ... END`` function body. Leading comments (Prisma's ``-- Step``
    lines, its warnings header) are dropped; a statement keeps the comments inside it.
    Transaction control other than a plain ``BEGIN``/``COMMIT`` is refused: it would end
    the transaction the migration and its history row share."""
    start = 0
    for end in _statement_ends(script):
        statement = _without_leading_comments(script[start:end])
        start = end + 1
        if statement:
            _check_transaction_control(statement)
            yield statement
    rest = _without_leading_comments(script[start:])
    if rest:
        _check_transaction_control(rest)
        yield rest


def _statement_ends(script: str) -> Iterator[int]:
    """The offsets of the semicolons that end statements."""
    index, length = 0, len(script)
    atomic_depth = 0  # inside BEGIN ATOMIC ... END: CASE and BEGIN open, END closes
    previous_word = ""
    while index < length:
        char = script[index]
        if script.startswith("--", index):
            newline = script.find("\n", index)
            index = length if newline < 0 else newline + 1
        elif script.startswith("/*", index):
            index = _block_comment_end(script, index)
        elif char == "'":
            escapes = _prefixed_by(script, index, "e")
            index = _quoted_end(script, index, "'", backslash=escapes)
        elif char == '"':
            index = _quoted_end(script, index, '"', backslash=False)
        elif char == "$" and (tag := _dollar_tag(script, index)):
            close = script.find(tag, index + len(tag))
            index = length if close < 0 else close + len(tag)
        elif word := _WORD.match(script, index):
            if index == 0 or not _IDENTIFIER_CHAR.match(script[index - 1]):
                upper = word.group().upper()
                if upper == "ATOMIC" and previous_word == "BEGIN" and atomic_depth == 0:
                    atomic_depth = 1
                elif atomic_depth and upper in ("BEGIN", "CASE"):
                    atomic_depth += 1
                elif atomic_depth and upper == "END":
                    atomic_depth -= 1
                previous_word = upper
            index = word.end()
        elif char == ";" and not atomic_depth:
            yield index
            index += 1
        else:
            index += 1


def _block_comment_end(script: str, index: int) -> int:
    """The offset after the ``/* */`` comment opening at ``index`` (they nest)."""
    depth, index = 0, index
    while index < len(script):
        if script.startswith("/*", index):
            depth, index = depth + 1, index + 2
        elif script.startswith("*/", index):
            depth, index = depth - 1, index + 2
            if depth == 0:
                return index
        else:
            index += 1
    return index


def _prefixed_by(script: str, index: int, letter: str) -> bool:
    """Whether the quote at ``index`` opens an ``E'...'`` string (backslash escapes)."""
    if index == 0 or script[index - 1].lower() != letter:
        return False
    return index == 1 or not _IDENTIFIER_CHAR.match(script[index - 2])


def _quoted_end(script: str, index: int, quote_char: str, *, backslash: bool) -> int:
    """The offset after the quoted text opening at ``index`` (a doubled quote is one)."""
    index += 1
    while index < len(script):
        char = script[index]
        if backslash and char == "\\":
            index += 2
        elif char == quote_char:
            if script.startswith(quote_char * 2, index):
                index += 2
            else:
                return index + 1
        else:
            index += 1
    return index


def _dollar_tag(script: str, index: int) -> str | None:
    """The ``$tag$`` opening a dollar-quoted string at ``index``, or None (a parameter
    like ``$1``, or a ``$`` inside an identifier)."""
    if index and _IDENTIFIER_CHAR.match(script[index - 1]):
        return None
    match = _DOLLAR_TAG.match(script, index)
    return match.group() if match else None


def _without_leading_comments(text: str) -> str:
    text = text.strip()
    while text.startswith(("--", "/*")):
        if text.startswith("--"):
            newline = text.find("\n")
            text = "" if newline < 0 else text[newline + 1 :].strip()
        else:
            text = text[_block_comment_end(text, 0) :].strip()
    return text


def _check_transaction_control(statement: str) -> None:
    if _TRANSACTION_CONTROL.match(statement) and not _OWN_TRANSACTION.match(statement):
        first_line = statement.splitlines()[0]
        raise MigrationError(
            f"the migration controls its transaction itself (`{first_line}`): strata runs a "
            "PostgreSQL migration and its history row in one transaction, so a migration "
            "may hold plain BEGIN/COMMIT brackets only"
        )


def turns_foreign_keys_off(statement: str) -> bool:
    """False: foreign keys are never switched off on PostgreSQL."""
    return False


def handled_around_script(statement: str) -> bool:
    """Whether ``statement`` is a plain ``BEGIN`` or ``COMMIT``, which the migration's own
    transaction stands in for (see the module docstring)."""
    return bool(_OWN_TRANSACTION.match(statement))


def foreign_keys_sql(*, enabled: bool) -> None:
    """None: foreign keys stay on (a DDL dropping what they reference says CASCADE)."""
    return None


def foreign_key_check_sql() -> str:
    """Never asked: no statement turns foreign keys off (`turns_foreign_keys_off`)."""
    raise ConfigurationError("PostgreSQL enforces foreign keys always; there is nothing to check")


def read_secure_delete_sql() -> None:
    """None: PostgreSQL has no secure_delete setting."""
    return None


def fast_secure_delete_sql() -> str:
    """Never asked (`read_secure_delete_sql` is None)."""
    raise ConfigurationError("PostgreSQL has no secure_delete setting")


def restore_secure_delete_sql(previous: int) -> str:
    """Never asked (`read_secure_delete_sql` is None)."""
    raise ConfigurationError("PostgreSQL has no secure_delete setting")


def row_copy(statement: str) -> RowCopy | None:
    """None: PostgreSQL alters tables in place, so its scripts copy no rows."""
    return None


# -- reset and the data-loss warnings ------------------------------------------------------------


def schema_objects_sql(namespaces: Sequence[str] = ()) -> str:
    """What ``migrate reset`` drops, as Prisma's reset does: the database schemas the
    Prisma schema declares (multiSchema), else the URL's; then ``_prisma_migrations``
    where it lies outside them. Rows: kind, unquoted name."""
    if not namespaces:
        return (
            "SELECT 'schema'::text, nspname::text FROM pg_catalog.pg_namespace "
            "WHERE nspname = current_schema()"
        )
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in namespaces)
    return (
        "SELECT 'schema'::text, nspname::text FROM pg_catalog.pg_namespace "
        f"WHERE nspname IN ({names}) "
        "UNION ALL SELECT 'table'::text, tablename::text FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = '_prisma_migrations' "
        f"AND schemaname NOT IN ({names})"
    )


def drop_sql(kind: str, name: str) -> str:
    """Drop what `schema_objects_sql` gave: a schema with all it holds, created again
    empty, or a table."""
    if kind == "schema":
        return f"DROP SCHEMA {name} CASCADE;\nCREATE SCHEMA {name}"
    return f"DROP TABLE IF EXISTS {name}"


def table_exists_sql(namespace: str | None) -> str:
    """A row when the table named by the one parameter (unquoted) exists in ``namespace``,
    else in the schema tables are created in."""
    schema = "current_schema()" if namespace is None else string_literal(namespace)
    return f"SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = {schema} AND tablename = $1"


def table_name(name: str, namespace: str | None) -> str:
    return quote(name) if namespace is None else f"{quote(namespace)}.{quote(name)}"


def count_sql(table: str, condition: str | None = None) -> str:
    """One row: the number of rows of ``table``, or of those where ``condition`` holds."""
    return f"SELECT count(*) FROM {table} WHERE {condition or 'TRUE'}"


def is_null(column: str) -> str:
    return f"{column} IS NULL"


def is_not_null(column: str) -> str:
    return f"{column} IS NOT NULL"
