"""The conformance suite's databases: one test body, run once on a SQLite file and once on
a fresh PostgreSQL database (`tests/postgres.py`).

A test takes the ``backend`` fixture (conftest.py) and opens its database through it; a
schema written for SQLite (``provider = "sqlite"``) is given PostgreSQL's provider on
PostgreSQL, and a seed schema (``schema/<name>.prisma``) its PostgreSQL twin
(``schema/<name>.postgresql.prisma``). Tests that hold for one database only say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import strata

__all__ = ["SEEDS", "Backend", "for_provider"]

SEEDS = Path(__file__).resolve().parent.parent / "schema"

_PROVIDER = re.compile(r'(provider\s*=\s*)"(sqlite|postgresql)"')


def for_provider(schema: str, provider: str) -> str:
    """``schema``'s text with its datasource's provider set to ``provider`` (generators'
    providers are not quoted provider names strata knows, so they are left alone)."""
    return _PROVIDER.sub(lambda m: f'{m.group(1)}"{provider}"', schema)


@dataclass
class Backend:
    """Where one run of a conformance test keeps its data."""

    #: ``"sqlite"`` or ``"postgresql"``, as a datasource's provider names it.
    provider: str
    #: The database's URL: a file path for SQLite, a ``postgresql://`` URL for PostgreSQL.
    url: str
    #: The test's own folder, for schema files and other scratch.
    folder: Path
    opened: list[strata.Database] = field(default_factory=list)

    @property
    def is_postgres(self) -> bool:
        return self.provider == "postgresql"

    def connect(
        self, schema: str | Path | None = None, *, push: bool = True, **options: object
    ) -> strata.Database:
        """Open the database, following ``schema`` (a schema's text, or a file) given this
        backend's provider, with its tables pushed unless ``push`` is false. Every database
        opened is closed when the test ends."""
        path: Path | None = None
        if schema is not None:
            text = schema.read_text() if isinstance(schema, Path) else schema
            path = self.folder / f"schema.{self.provider}.prisma"
            path.write_text(for_provider(text, self.provider))
        db = strata.connect(self.url, schema=path, **options)  # type: ignore[arg-type]
        self.opened.append(db)
        if path is not None and push:
            db.migrate_.push()
        return db

    def seed(self, name: str, **options: object) -> strata.Database:
        """A database holding seed schema ``name``'s tables (its PostgreSQL twin on
        PostgreSQL), pushed."""
        suffix = ".postgresql.prisma" if self.is_postgres else ".prisma"
        db = strata.connect(self.url, schema=SEEDS / f"{name}{suffix}", **options)  # type: ignore[arg-type]
        self.opened.append(db)
        db.migrate_.push()
        return db

    def close(self) -> None:
        for db in self.opened:
            db.close_()
