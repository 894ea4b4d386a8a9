"""strata: a Prisma schema in, an embedded Python data layer out.

The Rust core (`strata._core`) owns every SQLite connection; this package is the thin,
typed layer users call.
"""

from typing import TYPE_CHECKING

from strata import _core, errors
from strata._core import Transaction
from strata.aio import AsyncDatabase, connect_async
from strata.database import Database, connect
from strata.errors import *  # noqa: F403  (every exception, listed once in errors.__all__)

if TYPE_CHECKING:
    # Resolved lazily at run time (see __getattr__); typed here for mypy and pyright.
    from strata.client.batch import deferred

__version__: str = _core.__version__

__all__ = [
    "WORKER",  # noqa: F405 (resolved lazily by __getattr__ below)
    "AsyncDatabase",
    "Database",
    "Transaction",
    "__version__",
    "connect",
    "connect_async",
    "deferred",
    *errors.__all__,
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
