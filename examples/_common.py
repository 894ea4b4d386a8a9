"""What the examples share: opening the database a command line names, with the seed
schema of its provider, and printing what happened."""

from __future__ import annotations

import sys
from pathlib import Path

import strata
from strata.dialects import provider_for_url

SCHEMAS = Path(__file__).resolve().parent.parent / "schema"


def open_database(name: str) -> strata.Database:
    """The database named by the first argument (a SQLite file or a ``postgresql://`` URL),
    following seed schema ``name`` in that database's dialect, with its tables pushed."""
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: python {sys.argv[0]} DATABASE (a file, or postgresql://...)")
    url = sys.argv[1]
    suffix = ".postgresql.prisma" if provider_for_url(url) == "postgresql" else ".prisma"
    db = strata.connect(url, schema=SCHEMAS / f"{name}{suffix}")
    db.migrate_.push()
    return db


def say(label: str, value: object) -> None:
    """One line of the example's report: the tests read these back."""
    print(f"{label}: {value}")
