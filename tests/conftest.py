from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import strata
from backends import Backend
from postgres import PostgresServer, fresh_database, server_or_skip

# Fast by default; `HYPOTHESIS_PROFILE=thorough pytest` explores much further.
settings.register_profile("fast", max_examples=60, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.db"


@pytest.fixture
def open_db(db_path: Path) -> Iterator[Callable[..., strata.Database]]:
    """Opens databases for a test and closes every one of them afterwards."""
    opened: list[strata.Database] = []

    def opener(url: str | os.PathLike[str] | None = None, **options: object) -> strata.Database:
        db = strata.connect(db_path if url is None else url, **options)  # type: ignore[arg-type]
        opened.append(db)
        return db

    yield opener
    for db in opened:
        db.close_()


@pytest.fixture
def db(open_db: Callable[..., strata.Database]) -> strata.Database:
    return open_db()


# -- PostgreSQL: one throwaway server per session, a fresh database per test (tests/postgres.py)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    yield from server_or_skip()


@pytest.fixture
def pg_url(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:<port>/<db>``: a database of its own for this test,
    made from template0 and dropped afterwards."""
    with fresh_database(pg_server, request.node.name) as url:
        yield url


# -- the conformance suite: the same test on a SQLite file and on PostgreSQL (tests/backends.py)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The database a conformance test runs on: a SQLite file, then a fresh PostgreSQL
    database on the session's server."""
    if request.param == "sqlite":
        opened = Backend("sqlite", str(tmp_path / "test.db"), tmp_path)
        yield opened
        opened.close()
        return
    server = request.getfixturevalue("pg_server")
    with fresh_database(server, request.node.name) as url:
        opened = Backend("postgresql", url, tmp_path)
        yield opened
        opened.close()
