"""`strata doctor`: what SQLite this process runs, and whether it is set up safely.

The report is plain data (`Diagnosis`) so that tests can check it and the CLI can render
it; nothing here prints.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass, field

from strata._core import loaded_sqlite_copies, sqlite_library
from strata.database import Database

__all__ = [
    "IMPORTANT_COMPILE_OPTIONS",
    "DateTimeColumn",
    "Diagnosis",
    "datetime_columns",
    "diagnose",
]

#: Compile options whose presence changes what strata can do, and why each matters.
IMPORTANT_COMPILE_OPTIONS: dict[str, str] = {
    "THREADSAFE": "the core shares connections across threads; 0 would be unsafe",
    "ENABLE_UPDATE_DELETE_LIMIT": (
        "a row limit on updates and deletes; strata uses a subquery instead"
    ),
    "ENABLE_FTS5": "full-text search",
    "ENABLE_RTREE": "R*Tree indexes",
    "ENABLE_MATH_FUNCTIONS": "ln(), pow(), floor() and friends in SQL",
    "ENABLE_STAT4": "better query plans on skewed indexes",
    "DEFAULT_WAL_SYNCHRONOUS": "the synchronous level WAL connections start with",
    "MAX_VARIABLE_NUMBER": "the most bound parameters in one statement",
}


@dataclass
class DateTimeColumn:
    """The stored forms of one DateTime column (`strata.client.datetimes`)."""

    model: str
    field: str
    #: Values in each form, most common first; empty for an empty column.
    forms: dict[str, int]

    @property
    def mixed(self) -> bool:
        """Whether SQL cannot compare the stored values as they are."""
        from strata.client.datetimes import OTHER

        return len(self.forms) > 1 or OTHER in self.forms


@dataclass
class Diagnosis:
    version: str
    source_id: str
    library_path: str | None
    python_sqlite_version: str
    python_sqlite_same_library: bool
    compile_options: dict[str, str | None]
    loaded_copies: list[str]
    settings: dict[str, object] = field(default_factory=dict)
    database: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: Improvements that are not faults (a queue's claim without its index); shown, but
    #: they do not fail the check.
    advice: list[str] = field(default_factory=list)
    #: Every DateTime column of the schema's models, with its stored forms.
    datetime_columns: list[DateTimeColumn] = field(default_factory=list)
    #: ``"sqlite"`` or ``"postgresql"``: the database's kind, when one was given.
    provider: str | None = None
    #: The PostgreSQL server's version, when the database is one.
    server_version: str | None = None
    #: PostgreSQL's pool (`strata._core.Engine.pool_stats_`): limit, open, idle, in_use,
    #: waiting.
    pool: dict[str, int] | None = None


def _option_values(options: list[str]) -> dict[str, str | None]:
    """Compile options as name -> value (``"1"`` for flags), None where absent."""
    present: dict[str, str] = {}
    for option in options:
        name, _, value = option.partition("=")
        present[name] = value or "1"
    return {name: present.get(name) for name in IMPORTANT_COMPILE_OPTIONS}


def python_sqlite_library_address() -> int | None:
    """The address of ``sqlite3_libversion`` as Python's ``_sqlite3`` module resolves it.

    If ``_sqlite3`` links the shared libsqlite3 that the core links, the dynamic loader
    hands both the same function, so the addresses are equal. A statically linked copy
    (python-build-standalone builds) either hides the symbol or resolves elsewhere.
    """
    import ctypes

    module_file = getattr(sys.modules.get("_sqlite3"), "__file__", None)
    if module_file is None:
        return None
    try:
        handle = ctypes.CDLL(module_file)
        return ctypes.cast(handle.sqlite3_libversion, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


def diagnose(db: Database | None = None) -> Diagnosis:
    """Inspect the SQLite library, the process, and (if given) an open database."""
    library = sqlite_library()
    same_library = (
        sqlite3.sqlite_version == library["version"]
        and python_sqlite_library_address() == library["libversion_address"]
    )
    copies = loaded_sqlite_copies()
    report = Diagnosis(
        version=library["version"],
        source_id=library["source_id"],
        library_path=library["path"],
        python_sqlite_version=sqlite3.sqlite_version,
        python_sqlite_same_library=same_library,
        compile_options=_option_values(library["compile_options"]),
        loaded_copies=copies,
    )
    if not same_library:
        report.warnings.append(
            f"Python's sqlite3 module runs SQLite {sqlite3.sqlite_version} from a different "
            f"library than the core ({library['version']} at {library['path']}). Two copies "
            "in one process break POSIX locks and can lose committed data: use a Python "
            "whose _sqlite3 links the system libsqlite3."
        )
    if len(copies) > 1:
        report.warnings.append(
            "more than one SQLite copy is loaded in this process: "
            + ", ".join(copies)
            + ". Closing a database in one copy drops locks the other holds "
            "(sqlite.org/howtocorrupt.html, section 2.3)."
        )
    if db is not None:
        report.database = db.path_
        report.settings = dict(db.settings_())
        report.provider = db.dialect_.provider
        if report.provider == "postgresql":
            _check_server(db, report)
        elif report.settings.get("journal_mode") not in ("wal", "memory"):
            report.warnings.append("the database is not in WAL mode: readers will block the writer")
        report.advice += _queue_advice(db)
        _check_datetime_columns(db, report)
    return report


def _check_server(db: Database, report: Diagnosis) -> None:
    """The PostgreSQL server's version and the pool; a pool with callers waiting is
    advice (raise ``connection_limit``), an unreachable server a warning."""
    from strata.errors import StrataError

    try:
        ((version,),) = db.query_raw_(db.dialect_.health.server_version_sql(), as_tuples=True)
    except StrataError as error:
        report.warnings.append(f"the PostgreSQL server cannot be queried: {error}")
        return
    report.server_version = str(version)
    report.pool = db.pool_stats_()
    if report.pool and report.pool["waiting"]:
        report.advice.append(
            f"{report.pool['waiting']} caller(s) are waiting for one of the pool's "
            f"{report.pool['limit']} connections: raise connection_limit in the URL"
        )


def datetime_columns(db: Database) -> list[DateTimeColumn]:
    """The stored forms of every DateTime column of the schema's models: one scan of each
    column (of its index, when it has one). Tables not created yet are left out."""
    from strata.client.datetime_rewrite import census
    from strata.client.datetimes import DateTimeCodec
    from strata.errors import SqlError

    columns: list[DateTimeColumn] = []
    if db.client_.datetime_columns.native:
        return columns  # a date-time type of the database's own: one form, nothing to find
    for meta in db.client_.metas.values():
        for name, codec in meta.codecs.items():
            if not isinstance(codec, DateTimeCodec):
                continue
            try:
                forms = census(db.client_, codec.table, codec.column)
            except SqlError:  # no such table (or column): not migrated yet
                continue
            columns.append(DateTimeColumn(meta.name, name, forms))
    return columns


def _check_datetime_columns(db: Database, report: Diagnosis) -> None:
    """Report every DateTime column's forms; a mixed one is a warning with its fix."""
    from strata.client.datetimes import rewrite_command
    from strata.errors import ConfigurationError, SchemaError

    try:
        report.datetime_columns = datetime_columns(db)
    except (ConfigurationError, SchemaError) as error:
        report.advice.append(f"DateTime columns not checked: {error}")
        return
    for column in report.datetime_columns:
        if column.mixed:
            found = ", ".join(f"{form}: {count}" for form, count in column.forms.items())
            fix = rewrite_command(column.model, column.field, column.forms)
            report.warnings.append(
                f"{column.model}.{column.field} holds DateTime values in more than one "
                f"stored form ({found}): the client compares it by instant, without its "
                f"index, and a queue, rate limiter or metrics binding refuses it. Rewrite "
                f"it into one form: {fix}"
            )


def _queue_advice(db: Database) -> list[str]:
    """For each queue declared in pyproject.toml, the index its claim lacks, if any, or
    why the binding cannot be checked."""
    import warnings

    from strata.config import queue_bindings
    from strata.errors import StrataError

    advice = []
    for model in queue_bindings():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the advice is collected here instead
                index = db.queue_(model).index_advice()
        except (StrataError, TypeError) as error:  # TypeError: a binding missing arguments
            advice.append(f"queue {model}: the binding in pyproject.toml fails: {error}")
            continue
        if index is not None:
            advice.append(
                f"queue {model}: each claim sorts the ready jobs; add {index} to model {model}"
            )
    return advice
