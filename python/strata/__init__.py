"""strata: a Prisma schema in, an embedded Python data layer out.

The Rust core (`strata._core`) owns every SQLite connection; this package is the thin,
typed layer users call.
"""

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
    InterfaceError,
    MigrationError,
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
)

__version__: str = _core.__version__

__all__ = [
    "AsyncDatabase",
    "BusyError",
    "CheckConstraintError",
    "ClosedError",
    "ConfigurationError",
    "ConstraintError",
    "Database",
    "DatabaseError",
    "ForeignKeyError",
    "InterfaceError",
    "MigrationError",
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
    "__version__",
    "connect",
    "connect_async",
]
