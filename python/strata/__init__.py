"""strata: a Prisma schema in, an embedded Python data layer out.

The Rust core (`strata._core`) owns every SQLite connection; this package is the thin,
typed layer users call.
"""

from typing import TYPE_CHECKING

from strata import _core
from strata._core import Transaction
from strata.aio import AsyncDatabase, connect_async
from strata.database import Database, connect
from strata.errors import (
    BusyError,
    CheckConstraintError,
    ClosedError,
    ConfigurationError,
    ConstraintError,
    DatabaseError,
    ForeignKeyError,
    ForkedHandleError,
    InterfaceError,
    JobCancelledError,
    LeaseLostError,
    MigrationError,
    MixedDateTimeError,
    NullConstraintError,
    OpenError,
    ParameterError,
    ParameterTypeError,
    RecordNotFoundError,
    SchemaError,
    SqlError,
    StrataError,
    TransactionError,
    UniqueConstraintError,
    ValidationError,
    ValueTooLongError,
    WorkerError,
)

if TYPE_CHECKING:
    # Resolved lazily at run time (see __getattr__); typed here for mypy and pyright.
    from strata.client.batch import deferred

__version__: str = _core.__version__

__all__ = [
    "WORKER",
    "AsyncDatabase",
    "BusyError",
    "CheckConstraintError",
    "ClosedError",
    "ConfigurationError",
    "ConstraintError",
    "Database",
    "DatabaseError",
    "ForeignKeyError",
    "ForkedHandleError",
    "InterfaceError",
    "JobCancelledError",
    "LeaseLostError",
    "MigrationError",
    "MixedDateTimeError",
    "NullConstraintError",
    "OpenError",
    "ParameterError",
    "ParameterTypeError",
    "RecordNotFoundError",
    "SchemaError",
    "SqlError",
    "StrataError",
    "Transaction",
    "TransactionError",
    "UniqueConstraintError",
    "ValidationError",
    "ValueTooLongError",
    "WorkerError",
    "__version__",
    "connect",
    "connect_async",
    "deferred",
]


def __getattr__(name: str) -> object:
    # The queue module and the batch builder pull in the client; importing them only when
    # used keeps `import strata` light for code that only runs raw SQL.
    if name == "WORKER":
        from strata.queue import WORKER

        return WORKER
    if name == "deferred":
        from strata.client.batch import deferred

        return deferred
    raise AttributeError(f"module 'strata' has no attribute {name!r}")
