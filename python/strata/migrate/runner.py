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
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from strata.database import Database
from strata.errors import MigrationError, StrataError

__all__ = ["ProgressCallback", "apply_script", "split_statements"]

#: Called as ``progress(table, rows_copied, rows_total)`` while a redefinition copies rows.
ProgressCallback = Callable[[str, int, int], None]

_FOREIGN_KEYS_OFF = re.compile(r"^\s*PRAGMA\s+foreign_keys\s*=\s*(OFF|0|false)\s*;?\s*$", re.I)
_FOREIGN_KEY_PRAGMA = re.compile(r"^\s*PRAGMA\s+(defer_)?foreign_keys\s*=", re.I)
_COPY = re.compile(
    r'^\s*INSERT INTO "(?P<target>(?:[^"]|"")+)" \((?P<columns>[^)]*)\) '
    r'SELECT (?P=columns) FROM "(?P<source>(?:[^"]|"")+)"\s*;?\s*$',
    re.S,
)
#: Below this many rowids a copy runs as one statement. Copying in ranges costs 10-20% more
#: than one INSERT ... SELECT (measured on 1M rows: the first range and the commit are
#: slower), and under about a second of copying a progress bar shows nothing worth that.
_CHUNKED_COPY_MIN_ROWS = 2_000_000
_COPY_CHUNK_ROWS = 200_000


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


def apply_script(db: Database, script: str, progress: ProgressCallback | None = None) -> None:
    """Run ``script`` in one transaction. Raises `MigrationError` naming the failing
    statement; the database is then unchanged."""
    statements = list(split_statements(script))
    foreign_keys_off = any(_FOREIGN_KEYS_OFF.match(s) for s in statements)
    if foreign_keys_off:
        db.execute_raw_("PRAGMA foreign_keys = OFF")
    try:
        with db.transaction_(), _fast_secure_delete(db):
            for statement in statements:
                if _FOREIGN_KEY_PRAGMA.match(statement):
                    continue  # handled around the transaction, see the module docstring
                try:
                    copy = _COPY.match(statement) if progress else None
                    if copy and progress:
                        _copy_in_chunks(db, statement, copy, progress)
                    else:
                        db.execute_script_(statement)
                except StrataError as exc:
                    raise MigrationError(f"{exc}\n\nwhile running:\n{statement}") from exc
            if foreign_keys_off:
                _check_foreign_keys(db)
    finally:
        if foreign_keys_off:
            db.execute_raw_("PRAGMA foreign_keys = ON")


@contextmanager
def _fast_secure_delete(db: Database) -> Iterator[None]:
    """``secure_delete = FAST`` on the writer for the block (see the module docstring).
    Runs inside the transaction, where reads go to the writer connection."""
    ((previous,),) = db.query_raw_("PRAGMA secure_delete", as_tuples=True)
    db.execute_raw_("PRAGMA secure_delete = FAST")
    try:
        yield
    finally:
        db.execute_raw_(f"PRAGMA secure_delete = {int(previous)}")


def _copy_in_chunks(
    db: Database, statement: str, copy: re.Match[str], progress: ProgressCallback
) -> None:
    """Run a redefinition's row copy in rowid ranges, reporting progress after each.

    Progress counts rowids, not rows: min and max rowid come from the rowid b-tree's
    ends at once, where count(*) would read the whole table just to draw a bar."""
    source = copy.group("source")
    quoted_source = '"' + source + '"'
    ((low, high),) = db.query_raw_(
        f"SELECT min(rowid), max(rowid) FROM {quoted_source}", as_tuples=True
    )
    span = 0 if low is None else high - low + 1
    if span < _CHUNKED_COPY_MIN_ROWS:
        db.execute_script_(statement)
        return
    columns = copy.group("columns")
    chunk = (
        f'INSERT INTO "{copy.group("target")}" ({columns}) SELECT {columns} '
        f"FROM {quoted_source} WHERE rowid >= ? AND rowid < ?"
    )
    progress(source, 0, span)
    for start in range(low, high + 1, _COPY_CHUNK_ROWS):
        db.execute_raw_(chunk, start, start + _COPY_CHUNK_ROWS)
        progress(source, min(start + _COPY_CHUNK_ROWS, high + 1) - low, span)


def _check_foreign_keys(db: Database) -> None:
    violations = db.query_raw_("PRAGMA foreign_key_check", as_tuples=True)
    if violations:
        table, rowid, parent, _ = violations[0]
        raise MigrationError(
            f"the migration would leave {len(violations)} row(s) violating foreign keys, e.g. "
            f"row {rowid} of `{table}` references a missing row of `{parent}`"
        )
