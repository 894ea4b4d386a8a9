"""Where the database is: URL parsing and the project's default.

Accepted forms, for SQLite:

============================  =========================================================
``sqlite:///relative.db``     a path relative to the base directory (SQLAlchemy's form)
``sqlite:////abs/path.db``    an absolute path
``file:./dev.db``             Prisma's form; relative to the base directory
``./dev.db``, ``/abs/x.db``   a bare path
``:memory:``                  a private in-memory database (also ``sqlite://``)
============================  =========================================================

Query parameters follow Prisma's SQLite connector: ``connection_limit`` sets the number of
reader connections and ``socket_timeout`` (seconds) how long a write waits for the lock.

For PostgreSQL, Prisma's URLs:
``postgresql://user:password@host:5432/database?schema=app&connection_limit=5`` (or
``postgres://``). ``schema`` sets ``search_path`` (``public`` by default),
``connection_limit`` the pool's size (twice the cores plus one by default),
``pool_timeout`` how long a call waits for a free connection, ``connect_timeout`` how long
connecting may take, ``host=/dir`` connects through the Unix socket in that folder.
``sslmode`` has libpq's meanings: ``disable``, ``prefer`` (the default: TLS when the server
offers it), ``require`` (TLS, certificate unchecked), ``verify-ca`` (a trusted chain),
``verify-full`` (a trusted chain issued for the host); ``sslrootcert=<path>`` names the
trusted CA file (else the system's roots) and Prisma's ``sslaccept=strict`` asks for the full
check. Client certificates (``sslcert``, ``sslidentity``) are refused. The Rust core parses the
URL again to connect.

When no URL is passed, ``DATABASE_URL`` is used, then ``url`` under ``[tool.strata]`` in
the nearest ``pyproject.toml``. A relative path in pyproject.toml is relative to that file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from strata._compat import tomllib
from strata.errors import ConfigurationError

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_READERS",
    "POSTGRES_PARAMETERS",
    "Target",
    "default_slow_query_ms",
    "default_url",
    "resolve",
]

DEFAULT_BUSY_TIMEOUT = 5.0
DEFAULT_READERS = 4

_MEMORY = ":memory:"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
#: The URL parameters strata understands for PostgreSQL (``rust/engine/postgres/url.rs``).
POSTGRES_PARAMETERS = (
    "schema",
    "sslmode",
    "sslaccept",
    "sslrootcert",
    "connection_limit",
    "connect_timeout",
    "pool_timeout",
    "statement_cache_size",
    "application_name",
    "host",
)

_SSLMODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
#: Prisma's client-certificate parameters, which strata does not support.
_CLIENT_CERTIFICATE_PARAMETERS = ("sslcert", "sslidentity", "sslpassword")


@dataclass(frozen=True)
class Target:
    """A resolved database location and the connection options its URL carried. For
    PostgreSQL, ``path`` is the URL itself (the core connects with it), ``readers`` the
    pool's ``connection_limit`` and ``busy_timeout`` its ``pool_timeout``."""

    url: str
    path: str
    busy_timeout: float | None = None
    readers: int | None = None

    @property
    def in_memory(self) -> bool:
        return self.path == _MEMORY

    @property
    def provider(self) -> str:
        """The schema's datasource provider this location needs: ``"postgresql"`` or
        ``"sqlite"``."""
        return "postgresql" if self.path.startswith(_POSTGRES_SCHEMES) else "sqlite"


def default_url(start: Path | None = None) -> tuple[str, Path] | None:
    """The URL to use when none is given, and the directory relative paths start from."""
    from_env = os.environ.get("DATABASE_URL")
    if from_env:
        return from_env, Path.cwd()
    settings, folder = project_settings(start)
    url = settings.get("url")
    if url is None:
        return None
    if not isinstance(url, str):
        raise ConfigurationError(f"{folder / 'pyproject.toml'}: [tool.strata] url must be a string")
    return url, folder


def default_slow_query_ms(start: Path | None = None) -> float | None:
    """``slow_query_ms`` under ``[tool.strata]``: the slow-statement threshold handles get
    when `strata.connect` is not given one (`strata.events`)."""
    settings, folder = project_settings(start)
    value = settings.get("slow_query_ms")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    ):
        raise ConfigurationError(
            f"{folder / 'pyproject.toml'}: [tool.strata] slow_query_ms must be a number of "
            f"milliseconds >= 0, got {value!r}"
        )
    return value


def project_settings(start: Path | None = None) -> tuple[dict[str, Any], Path]:
    """``[tool.strata]`` from the nearest pyproject.toml at or above ``start`` (the working
    directory by default), and that file's directory."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigurationError(f"cannot read {pyproject}: {exc}") from exc
            return settings.get("tool", {}).get("strata", {}), folder
    return {}, here


def queue_bindings() -> dict[str, dict[str, Any]]:
    """Queue bindings declared under ``[tool.strata.queues.<Model>]``, by model: the
    arguments of `strata.Database.queue_` (``lease`` in seconds). `strata doctor` checks
    each one's claim against the schema's indexes."""
    queues = project_settings()[0].get("queues", {})
    if not isinstance(queues, dict) or not all(isinstance(q, dict) for q in queues.values()):
        raise ConfigurationError("[tool.strata.queues] must hold one table per model")
    return queues


def resolve(url: str | os.PathLike[str] | None, base_dir: Path | None = None) -> Target:
    """Turn a URL (or the project default, when ``url`` is None) into a `Target`."""
    if url is None:
        found = default_url()
        if found is None:
            raise ConfigurationError(
                "no database URL: pass one to strata.connect(), set DATABASE_URL, or add "
                'url = "file:./dev.db" under [tool.strata] in pyproject.toml'
            )
        url, base_dir = found
    text = os.fspath(url)
    base = base_dir or Path.cwd()
    location, _, query = text.partition("?")
    if location.startswith(_POSTGRES_SCHEMES):
        return _resolve_postgres(text, location, query)
    busy_timeout, readers = _parse_options(text, query)

    if location in (_MEMORY, "sqlite://", "sqlite:///:memory:", "file::memory:"):
        return Target(text, _MEMORY, busy_timeout, readers)
    if location.startswith("sqlite:///"):
        raw_path = location.removeprefix("sqlite:///")
        # sqlite:////abs keeps its leading slash after the prefix is removed.
    elif location.startswith("file:"):
        raw_path = location.removeprefix("file:")
        if raw_path.startswith("//"):
            raw_path = raw_path.removeprefix("//")
    elif "://" in location:
        scheme = location.split("://", 1)[0]
        raise ConfigurationError(
            f"{text!r}: unsupported URL scheme {scheme!r}; use sqlite:///path, file:path, "
            "a plain path or :memory:"
        )
    else:
        raw_path = location
    raw_path = unquote(raw_path)
    if not raw_path:
        raise ConfigurationError(f"{text!r}: the URL names no database file")
    path = Path(raw_path).expanduser()
    if not path.is_absolute():
        path = base / path
    return Target(text, os.path.abspath(path), busy_timeout, readers)


def _resolve_postgres(url: str, location: str, query: str) -> Target:
    """Check a Prisma PostgreSQL URL's parameters; the core takes the rest apart."""
    shown = _without_password(url)
    parts = urlsplit(location)
    if not parts.hostname and "host=" not in query:
        raise ConfigurationError(f"{shown!r}: the URL names no host")
    try:
        parts.port  # noqa: B018 -- urllib checks the port when it is read
    except ValueError as exc:
        raise ConfigurationError(f"{shown!r}: {exc}") from exc
    pool_timeout: float | None = None
    connection_limit: int | None = None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in _CLIENT_CERTIFICATE_PARAMETERS:
            raise ConfigurationError(
                f"{shown!r}: {key}: client certificates are not supported; strata "
                "authenticates with the URL's user and password"
            )
        if key not in POSTGRES_PARAMETERS:
            raise ConfigurationError(
                f"{shown!r}: unknown URL parameter {key!r}; strata understands "
                + ", ".join(POSTGRES_PARAMETERS)
            )
        if key == "sslmode" and value not in _SSLMODES:
            raise ConfigurationError(
                f"{shown!r}: sslmode={value!r} is not one of " + ", ".join(_SSLMODES)
            )
        if key == "sslaccept" and value not in ("strict", "accept_invalid_certs"):
            raise ConfigurationError(
                f"{shown!r}: sslaccept={value!r} is not one of strict, accept_invalid_certs"
            )
        if key in ("connection_limit", "statement_cache_size"):
            if not value.isdigit() or (key == "connection_limit" and int(value) == 0):
                raise ConfigurationError(f"{shown!r}: {key}={value!r} is not a positive number")
            if key == "connection_limit":
                connection_limit = int(value)
        if key in ("pool_timeout", "connect_timeout"):
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not seconds >= 0 or seconds == float("inf"):
                raise ConfigurationError(f"{shown!r}: {key}={value!r} is not a number of seconds")
            if key == "pool_timeout":
                pool_timeout = seconds
    return Target(url, url, pool_timeout, connection_limit)


def _without_password(url: str) -> str:
    """The URL with its password left out, for messages."""
    scheme, _, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{host}{slash}{tail}"


def _parse_options(url: str, query: str) -> tuple[float | None, int | None]:
    """The busy timeout and reader count a URL's query string sets, if any."""
    busy_timeout: float | None = None
    readers: int | None = None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in ("connection_limit", "socket_timeout"):
            raise ConfigurationError(
                f"{url!r}: unknown URL parameter {key!r}; strata understands "
                "connection_limit and socket_timeout"
            )
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not number >= 0 or (key == "connection_limit" and not number.is_integer()):
            raise ConfigurationError(f"{url!r}: {key}={value!r} is not a non-negative number")
        if key == "connection_limit":
            readers = int(number)
        else:
            busy_timeout = number
    return busy_timeout, readers
