"""strata: a Prisma schema in, an embedded Python data layer out.

The Rust core (`strata._core`) owns every SQLite connection; this package is the thin,
typed layer users call.
"""

import sys
from pathlib import Path as _Path
from typing import TYPE_CHECKING

_SQLITE = "libsqlite3.so.0"
_INSTALL_SQLITE = (
    f"strata's core runs on the system SQLite library ({_SQLITE}, SQLite 3.34.1 or later), "
    "which could not be loaded: {error}. Install it with your system's package manager: "
    "apt-get install libsqlite3-0 (Debian, Ubuntu), dnf install sqlite-libs (Fedora, RHEL), "
    "zypper install libsqlite3-0 (openSUSE)."
)


def _load_sqlite() -> None:
    """Load the system libsqlite3 into the process's global symbol scope.

    The wheel's core does not name libsqlite3 as a dependency of its own (a named one would
    make `auditwheel` copy a second SQLite into the wheel); it takes SQLite's functions
    from the copy loaded here, which is the one Python's own sqlite3 module uses (the
    loader hands back a library already loaded under this name). One SQLite per process:
    docs/ARCHITECTURE.md, decision 1. A core built in place (`maturin develop`) names the
    library itself, and this load changes nothing for it."""
    import ctypes
    import os

    try:
        ctypes.CDLL(_SQLITE, mode=os.RTLD_NOW | os.RTLD_GLOBAL)
    except OSError as error:
        raise ImportError(_INSTALL_SQLITE.format(error=error), name=_SQLITE) from error


if sys.platform == "linux":
    _load_sqlite()

try:
    from strata import _core
except ImportError as _error:
    # A library too old for the functions the core calls fails here, by symbol name.
    if "sqlite3" not in str(_error):
        raise
    raise ImportError(_INSTALL_SQLITE.format(error=_error), name=_SQLITE) from _error

from strata import errors
from strata._core import Transaction
from strata.database import Database, connect
from strata.errors import *  # noqa: F403  (every exception, listed once in errors.__all__)

if TYPE_CHECKING:
    # Resolved lazily at run time (see __getattr__); typed here for mypy and pyright.
    from strata.aio import AsyncDatabase, connect_async
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
    "example_schema",
    *errors.__all__,
]

#: The example systems' schemas ship inside the package (the repository's schema/ is a link
#: to this folder), so the tour and the demo run from an installed wheel in any folder.
_EXAMPLES = _Path(__file__).resolve().parent / "seed_schemas"


def example_schema(name: str, provider: str = "sqlite") -> _Path:
    """The path of an example system's schema that ships with strata: ``render_manager``,
    ``gpu_marketplace``, ``medianest``, ``music_api``, ``video_machine`` (the demo's is the
    render manager), for ``provider`` ``"sqlite"`` or ``"postgresql"``."""
    suffix = {"sqlite": ".prisma", "postgresql": ".postgresql.prisma"}.get(provider)
    path = _EXAMPLES / f"{name}{suffix}"
    if suffix is None or not path.is_file():
        names = sorted(p.name.split(".")[0] for p in _EXAMPLES.glob("*.postgresql.prisma"))
        raise ConfigurationError(  # noqa: F405 (from errors.__all__)
            f"no example schema {name!r} for {provider!r}: the examples are "
            f"{', '.join(names)}, for 'sqlite' or 'postgresql'"
        )
    return path


def __getattr__(name: str) -> object:
    # The queue module and the batch builder pull in the client; importing them only when
    # used keeps `import strata` light for code that only runs raw SQL.
    if name == "WORKER":
        from strata.queue import WORKER

        return WORKER
    # The async facade imports asyncio, which costs more than the rest of `import strata`
    # and which synchronous programs never need.
    if name == "AsyncDatabase":
        from strata.aio import AsyncDatabase

        return AsyncDatabase
    if name == "connect_async":
        from strata.aio import connect_async

        return connect_async
    if name == "deferred":
        from strata.client.batch import deferred

        return deferred
    raise AttributeError(f"module 'strata' has no attribute {name!r}")
