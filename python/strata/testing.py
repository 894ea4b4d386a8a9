"""``strata.testing``: a pytest plugin giving each test a fresh, migrated database.

Installed with strata (the ``pytest11`` entry point), so a project's tests just ask for a
fixture::

    def test_signup(strata_db):
        strata_db.user.create(data={"email": "a@x.io"})
        assert strata_db.user.count() == 1

    async def test_signup_async(strata_async_db):   # with pytest-asyncio or anyio
        await strata_async_db.user.create(data={"email": "a@x.io"})

Fixtures:

* ``strata_db``: a `strata.Database` on a database of its own, with the schema's tables and
  nothing else; closed and thrown away after the test.
* ``strata_async_db``: the same as a `strata.aio.AsyncDatabase` (made without an event
  loop, so any async test runner can use it).
* ``strata_url``: that database's URL, for code under test that connects by itself.
* ``strata_schema``: the schema file (session-wide).

Where the schema comes from: ``--strata-schema PATH``, else the ``strata_schema`` ini
option (relative to the rootdir), else strata's own lookup (``[tool.strata] schema``,
``./schema.prisma``, ``./prisma/schema.prisma``). "Migrated" means: the migrations folder
beside the schema is deployed when it holds migrations (as production gets them), else the
schema is pushed.

Which database: a SQLite file in the test's ``tmp_path`` by default. With a PostgreSQL
server URL (``--strata-url``, else ``STRATA_TEST_DATABASE_URL``, else the ``strata_url``
ini option), each test gets a database of its own on that server. The URL names a database
the plugin may connect to (``postgres`` will do) with the right to create databases.

Migrating once per test would be slow, so the schema is migrated **once per session** into
a template, and each test gets a **copy**: a copy of the template file on SQLite, a
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. The copy is dropped when the test ends
(its failure included), and the template when the session ends; databases left behind by a
killed run are named ``strata_test_<uuid>`` and can be dropped by hand.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import strata
from strata.config import resolve
from strata.database import Database
from strata.dialects import dialect_for_url
from strata.engine import Engine
from strata.migrate import history
from strata.migrate.commands import find_schema

if TYPE_CHECKING:
    from strata.aio import AsyncDatabase

__all__ = ["ENV_URL", "StrataTemplate"]

#: The environment variable naming a PostgreSQL server for the tests.
ENV_URL = "STRATA_TEST_DATABASE_URL"
_PREFIX = "strata_test"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("strata", "strata databases (strata.testing)")
    group.addoption(
        "--strata-schema",
        dest="strata_schema",
        metavar="PATH",
        help="The Prisma schema the test databases follow.",
    )
    group.addoption(
        "--strata-url",
        dest="strata_url",
        metavar="URL",
        help=f"A PostgreSQL server to make test databases on (else ${ENV_URL}); "
        "default: a SQLite file per test.",
    )
    parser.addini("strata_schema", "The Prisma schema the test databases follow.")
    parser.addini("strata_url", "A PostgreSQL server URL for the test databases.")


@dataclass
class StrataTemplate:
    """The session's migrated template: a SQLite file, or a database on a server."""

    schema: Path
    #: The SQLite template file, or None on PostgreSQL.
    file: Path | None = None
    #: On PostgreSQL: the URL the plugin was given (it creates databases through it) and
    #: the template database's name.
    server: str | None = None
    template: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.server is not None


def _migrate(db: Database) -> None:
    migrator = db.migrate_
    if history.list_local(migrator.migrations_dir):
        migrator.deploy()
    else:
        migrator.push()


def _server_url(config: pytest.Config) -> str | None:
    given = config.getoption("strata_url") or os.environ.get(ENV_URL) or config.getini("strata_url")
    return str(given) if given else None


@pytest.fixture(scope="session")
def strata_schema(pytestconfig: pytest.Config) -> Path:
    """The schema file the test databases follow."""
    given = pytestconfig.getoption("strata_schema")
    if given:
        return find_schema(Path(given).resolve())
    ini = pytestconfig.getini("strata_schema")
    if ini:
        return find_schema(pytestconfig.rootpath / str(ini))
    return find_schema(None)


@pytest.fixture(scope="session")
def _strata_template(
    pytestconfig: pytest.Config, strata_schema: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StrataTemplate]:
    server = _server_url(pytestconfig)
    if server is None:
        file = tmp_path_factory.mktemp("strata") / "template.db"
        with strata.connect(file, schema=strata_schema) as db:
            _migrate(db)
        yield StrataTemplate(strata_schema, file=file)
        return
    if resolve(server).provider != "postgresql":
        raise pytest.UsageError(f"--strata-url takes a PostgreSQL server URL, not {server!r}")
    scratch = dialect_for_url(server).migrations.scratch_database(server, prefix=_PREFIX)
    with Engine.open_(server) as admin:
        assert scratch.create_sql is not None
        assert scratch.drop_sql is not None
        admin.execute_raw_(scratch.create_sql)
        try:
            with strata.connect(scratch.url, schema=strata_schema) as db:
                _migrate(db)
            name = scratch.url.rsplit("/", 1)[1].split("?", 1)[0]
            yield StrataTemplate(strata_schema, server=server, template=name)
        finally:
            admin.execute_raw_(scratch.drop_sql)


@pytest.fixture
def strata_url(_strata_template: StrataTemplate, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database for this test, holding the schema's tables."""
    template = _strata_template
    if template.file is not None:
        copy = tmp_path / "strata.db"
        shutil.copyfile(template.file, copy)
        yield str(copy)
        return
    assert template.server is not None
    scratch = dialect_for_url(template.server).migrations.scratch_database(
        template.server, template=template.template, prefix=_PREFIX
    )
    assert scratch.create_sql is not None
    assert scratch.drop_sql is not None
    with Engine.open_(template.server) as admin:
        admin.execute_raw_(scratch.create_sql)
        try:
            yield scratch.url
        finally:
            admin.execute_raw_(scratch.drop_sql)


@pytest.fixture
def strata_db(strata_url: str, strata_schema: Path) -> Iterator[Database]:
    """A fresh migrated database for this test (see `strata.testing`)."""
    db = strata.connect(strata_url, schema=strata_schema)
    try:
        yield db
    finally:
        db.close_()


@pytest.fixture
def strata_async_db(strata_url: str, strata_schema: Path) -> Iterator[AsyncDatabase]:
    """`strata_db` with awaitable methods (`strata.aio.AsyncDatabase`)."""
    # Imported here: a test session that never asks for it keeps asyncio unimported.
    from strata.aio import AsyncDatabase

    db = strata.connect(strata_url, schema=strata_schema)
    executor = ThreadPoolExecutor(
        max_workers=int(db.settings_()["readers"]) + 1, thread_name_prefix="strata"
    )
    try:
        yield AsyncDatabase(db, executor)
    finally:
        executor.shutdown(wait=True)
        db.close_()
