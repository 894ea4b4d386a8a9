"""The exception tree. Every error strata raises is a `StrataError`.

The Rust core raises these classes by name (see ``rust/error.rs``), so this module is the
single definition for both languages. Where an error matches one of Prisma Client's error
codes, the class carries it as ``code`` so code ported from TypeScript can keep branching
on it. Classes that describe a bad argument also subclass the built-in exception callers
already catch (``ValueError``, ``TypeError``).

`Diagnostic`, the record of one problem a `SchemaError` carries, is defined here too, beside
the exception whose message it makes; `strata.schema.diagnostics` collects them. This module
is the lowest layer and imports nothing from strata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn

__all__ = [
    "BusyError",
    "CheckConstraintError",
    "ClosedError",
    "ConfigurationError",
    "ConnectionLostError",
    "ConstraintError",
    "DatabaseError",
    "ForeignKeyError",
    "ForkedHandleError",
    "InterfaceError",
    "JobCancelledError",
    "LeaseLostError",
    "MigrationError",
    "MissingExtraError",
    "MixedDateTimeError",
    "NotSupportedError",
    "NullConstraintError",
    "OpenError",
    "ParameterError",
    "ParameterTypeError",
    "PoolTimeoutError",
    "RecordNotFoundError",
    "SchemaError",
    "SerializationError",
    "SqlError",
    "StrataError",
    "TransactionError",
    "TransactionTimeoutError",
    "UniqueConstraintError",
    "ValidationError",
    "ValueTooLongError",
    "WorkerError",
]


class StrataError(Exception):
    """The root of every error raised by strata."""

    #: Prisma Client's error code for this kind of failure, when there is one.
    code: str | None = None
    #: Whether the same call may succeed if retried unchanged.
    retryable: bool = False


class ConfigurationError(StrataError, ValueError):
    """The database URL or the project configuration is unusable."""


class MissingExtraError(StrataError, ImportError):
    """A feature needs a package that only an optional extra of strata-db installs.

    An `ImportError`, so code that already guards an optional import keeps working; the
    message names the command that installs the extra."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs {module}, which strata-db installs as an extra: "
            f"pip install 'strata-db[{extra}]'",
            name=module,
        )
        self.feature = feature
        self.extra = extra

    @classmethod
    def reraise(cls, error: ImportError, feature: str, module: str, extra: str) -> NoReturn:
        """Raise this error in place of ``error`` when ``error`` is ``module`` missing;
        any other import failure (a broken installation) is re-raised as it is."""
        if isinstance(error, ModuleNotFoundError) and error.name == module:
            raise cls(feature, module, extra) from error
        raise error


class SchemaError(StrataError, ValueError):
    """A Prisma schema is malformed or invalid.

    ``diagnostics`` lists the problems found in the file, each with its path, line, column
    and a caret excerpt; the message shows them all. A file with very many problems keeps
    only the first ones found (a hundred): ``omitted`` counts the others, and the message
    says how many were left out.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], *, omitted: int = 0) -> None:
        self.diagnostics = list(diagnostics)
        self.omitted = omitted
        count = len(self.diagnostics) + omitted
        summary = f"{count} error{'s' if count != 1 else ''} in the schema"
        if omitted:
            summary += f"; {len(self.diagnostics)} are shown and {omitted} more are left out"
        super().__init__(summary + "\n\n" + "\n\n".join(str(d) for d in self.diagnostics))


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a schema file, located by line and column; ``str()`` gives
    ``path:line:column: error: message`` followed by a gutter excerpt with carets."""

    message: str
    path: str
    line: int
    column: int
    #: How many characters the caret underline covers (at least one).
    length: int = 1
    severity: Literal["error", "warning"] = "error"
    #: The source line the diagnostic points at, for the excerpt; of a long line, only a
    #: window around the column, with ``...`` where it was cut.
    source_line: str = ""
    #: Where ``column`` falls in ``source_line`` (1-based) when that is a window of the
    #: line; None when it is the whole line.
    excerpt_column: int | None = None

    def __str__(self) -> str:
        header = f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if not self.source_line:
            return header
        number = str(self.line)
        gutter = " " * len(number)
        # Control characters would move the terminal's cursor; each shows as one character so
        # that the caret stays under its column. Tabs are expanded the same way on both lines.
        text = "".join(
            ch if ch == "\t" or ch.isprintable() else "\ufffd"
            for ch in self.source_line.rstrip("\n")
        )
        index = (self.excerpt_column or self.column) - 1
        before = len(text[:index].expandtabs(4))
        underlined = len(text[: index + self.length].expandtabs(4)) - before
        shown = text.expandtabs(4)
        carets = "^" * max(1, min(underlined, len(shown) - before))
        return f"{header}\n{gutter} |\n{number} | {shown}\n{gutter} | {' ' * before}{carets}"


class ValidationError(StrataError, ValueError):
    """A client call was given something the schema does not allow: an unknown model, field
    or operator, a value of the wrong type, an enum value that does not exist. It is raised
    before any SQL runs, so nothing was written.

    ``model`` and ``field`` name where the problem is (either may be None), ``expected``
    says what would have been accepted. Bulk writes (``create_many``, metric ingest) also
    set ``row``, the index of the offending row, and, when chunks commit on their own,
    ``committed``, the number of rows written before the failing chunk.
    """

    row: int | None
    committed: int | None

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        field: str | None = None,
        expected: str = "",
        row: int | None = None,
        committed: int | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.field = field
        self.expected = expected
        self.row = row
        self.committed = committed


class ValueTooLongError(StrataError, ValueError):
    """A string is longer than its column allows (``@db.VarChar(n)``; Prisma P2000). Raised
    before any SQL runs, since SQLite itself does not enforce declared lengths."""

    code = "P2000"

    def __init__(self, model: str, field: str, limit: int, length: int) -> None:
        super().__init__(
            f"{model}.{field}: the value is {length} characters long; the column allows {limit}"
        )
        self.model = model
        self.field = field
        self.limit = limit


class MixedDateTimeError(StrataError):
    """A DateTime column holds its values in more than one stored form (integer Unix
    milliseconds and ISO text, say, after a move from Prisma 5 to 7), or in text whose
    stored order is not time order, and the operation would compare them in SQL, which
    cannot be done soundly. The queue, the rate limiter and metrics raise it when they
    are bound; the client compares such columns by instant instead (see
    `strata.client.datetimes`).

    ``model`` and ``field`` name the column, ``forms`` maps each stored form found to its
    number of values, and ``fix`` is the command that rewrites the column into one form.
    """

    def __init__(
        self, model: str, field: str, forms: Mapping[str, int], fix: str, operation: str
    ) -> None:
        found = ", ".join(f"{form}: {count}" for form, count in forms.items())
        super().__init__(
            f"{model}.{field} holds DateTime values in more than one stored form ({found}), "
            f"and {operation} compares them in SQL, where that gives wrong answers. Rewrite "
            f"the column into one form, then bind again:\n\n  {fix}\n"
        )
        self.model = model
        self.field = field
        self.forms = dict(forms)
        self.fix = fix


class LeaseLostError(StrataError):
    """A queue call named a claim that is no longer current: its lease expired and the job
    was claimed by another worker, or it was already settled or deleted. Nothing was
    changed, so a worker presumed dead cannot overwrite the job's new owner."""


class JobCancelledError(LeaseLostError):
    """The job was cancelled while this worker held it; stop working on it. Raised by
    ``heartbeat`` and ``progress`` (and by any other call naming the old claim)."""


class WorkerError(StrataError):
    """A worker thread of ``Queue.run`` stopped on an unexpected error: not a job's
    failure (those are recorded on the job and the loop goes on) but a fault in the loop
    itself, such as a closed database or a failing ``backoff`` function. The other workers
    were stopped first. ``worker`` names the thread; ``__cause__`` is the error."""

    def __init__(self, message: str, *, worker: str) -> None:
        super().__init__(message)
        self.worker = worker


class RecordNotFoundError(StrataError):
    """The record an operation needs does not exist (Prisma P2025): ``update``, ``delete``,
    a nested ``connect``, or a ``find_*_or_raise``. ``model`` and ``where`` say what was
    looked for."""

    code = "P2025"

    def __init__(self, model: str, where: object) -> None:
        super().__init__(f"No {model} record found for where={where!r}")
        self.model = model
        self.where = where


class MigrationError(StrataError):
    """A migration cannot be created or applied: drift, an edited or failed migration, a
    step that would fail on existing data. The message says what to do next."""


class InterfaceError(StrataError):
    """The API was called in a way that cannot work."""


class ClosedError(InterfaceError):
    """A call on a database handle after ``close()``."""


class ForkedHandleError(InterfaceError):
    """A database handle opened before ``fork()`` was used in the child process. SQLite
    connections must not cross a fork: a write through the child's copy would land in the
    parent's WAL without the parent's locks. Nothing was run. Call ``strata.connect()`` in
    the child after the fork (with ``multiprocessing``, inside the worker function, or use
    the ``spawn`` start method). Closing or dropping the inherited handle in the child is
    safe: it leaves the parent's connections alone."""


class ParameterError(InterfaceError, ValueError):
    """Bound parameters do not fit the SQL: wrong count, or an int beyond 64 bits."""


class ParameterTypeError(ParameterError, TypeError):
    """A bound parameter has a type SQLite cannot store (a set, a dict, ...)."""


class TransactionError(InterfaceError):
    """Transactions were misused, e.g. raw BEGIN/COMMIT instead of ``db.transaction_()``.
    On PostgreSQL also: a transaction block ended normally after a statement in it failed,
    which aborts the block there; it was rolled back, and nothing in it was committed."""


class NotSupportedError(InterfaceError):
    """The call is not offered on this kind of database yet (the queue, the rate limiter,
    bulk ingest and metrics run on SQLite only so far)."""


class DatabaseError(StrataError):
    """The database reported a failure.

    ``sqlite_code`` and ``sqlite_extended_code`` hold SQLite's result codes, and
    ``sqlstate`` PostgreSQL's SQLSTATE, when the failure has no more specific class.
    """

    sqlite_code: int | None = None
    sqlite_extended_code: int | None = None
    sqlstate: str | None = None


class OpenError(DatabaseError):
    """The database cannot be opened: a SQLite file that cannot be opened or is not a
    SQLite database, or a PostgreSQL server that cannot be reached or refused the login (or
    a URL that cannot work). ``path`` names it (a URL without its password)."""

    path: str | None = None


class SqlError(DatabaseError):
    """The SQL could not be prepared: a syntax error, or an unknown table or column.

    ``sql`` holds the statement.
    """

    sql: str | None = None


class BusyError(DatabaseError):
    """The write lock, or a pooled reader connection, was not obtained within the busy
    timeout. Nothing was written. For readers, the message says how many are in use and how
    to raise ``readers=``."""

    retryable = True


class SerializationError(BusyError):
    """PostgreSQL gave the transaction up for a serialization failure or a deadlock
    (SQLSTATE 40001, 40P01; Prisma P2034). It was rolled back; running the whole
    transaction again may succeed."""

    code = "P2034"


class TransactionTimeoutError(DatabaseError):
    """A ``transaction_(timeout=...)`` block ran past its timeout (Prisma P2028). It was
    rolled back: nothing in it was committed. Not retried for you: a block that takes too
    long usually takes too long again."""

    code = "P2028"


class PoolTimeoutError(BusyError):
    """Every connection of a PostgreSQL handle's pool stayed in use for the pool timeout
    (Prisma P2024). Raise ``connection_limit`` or ``pool_timeout`` in the URL."""

    code = "P2024"


class ConnectionLostError(DatabaseError, ConnectionError):
    """The connection to the PostgreSQL server was lost or closed by the server (Prisma
    P1017). The statement may or may not have run, so it is not retried for you; the broken
    connection is dropped and the next call opens a new one (once the server is back).
    It is also the built-in ``ConnectionError``."""

    code = "P1017"


class ConstraintError(DatabaseError):
    """A constraint rejected the write, and the statement was rolled back.

    ``table`` and ``columns`` name the constraint's table and columns when SQLite or the
    schema tell them. When the write came from a model repository (``db.user.create``),
    ``model`` and ``fields`` name them in the schema's terms as well.
    """

    table: str | None = None
    columns: list[str]
    model: str | None = None
    fields: list[str] | None = None

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.columns = []


class UniqueConstraintError(ConstraintError):
    """A unique constraint or primary key already holds the value (Prisma P2002)."""

    code = "P2002"


class ForeignKeyError(ConstraintError):
    """A foreign key has no matching parent row, or a parent row is still referenced
    (Prisma P2003). ``referenced_table`` and ``referenced_columns`` name the parent.
    """

    code = "P2003"
    referenced_table: str | None = None
    referenced_columns: list[str] | None = None


class NullConstraintError(ConstraintError):
    """A required column was given NULL (Prisma P2011)."""

    code = "P2011"


class CheckConstraintError(ConstraintError):
    """A CHECK constraint rejected the row."""
