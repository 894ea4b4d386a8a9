"""Helpers shared by the tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import strata
from strata.queue import Queue

#: Prisma's own fixtures and the seed documents, beside the repository: read at test time,
#: never copied in.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_folder(name: str) -> Path:
    """``../shared/<name>``, which the Prisma-parity tests read. CI always has it, so there
    a missing folder stops the run instead of letting those tests skip unnoticed."""
    folder = SHARED / name
    if not folder.is_dir() and os.environ.get("CI"):
        raise RuntimeError(
            f"CI is set and ../shared/{name} is absent: the Prisma-parity tests cannot run"
        )
    return folder


def needs_shared(folder: Path) -> pytest.MarkDecorator:
    """Skip a test, for one stated reason, where ``folder`` (see `shared_folder`) is absent."""
    return pytest.mark.skipif(
        not folder.is_dir(),
        reason=f"../shared/{folder.name} is absent (Prisma-parity fixtures, read at test time)",
    )


def prisma_ddl_cases(kind: str) -> list[Path]:
    """The folders of ``../shared/prisma-ddl/<kind>`` (``features`` or ``evolutions``), or
    none when the fixtures are absent (the tests skip through `needs_shared`)."""
    folder = shared_folder("prisma-ddl") / kind
    return sorted(folder.glob("*")) if folder.is_dir() else []


def matches_prisma_from_empty(folder: Path, provider: str, ddl: Any) -> None:
    """A feature's schema gives Prisma's script from empty byte for byte in ``ddl``'s
    database, or, where Prisma rejected the schema, strata rejects it too with Prisma's
    first message among its own."""
    from strata.migrate.diff import diff
    from strata.migrate.sql_schema import calculate
    from strata.schema import load_schema_file
    from strata.schema.sql import SqlSchema

    expected_sql = folder / f"{provider}.sql"
    if not expected_sql.exists():
        error = (folder / f"{provider}.error.txt").read_text()
        with pytest.raises(strata.SchemaError) as caught:
            load_schema_file(folder / f"{provider}.prisma")
        first_prisma_error = error.splitlines()[0].removeprefix("error: ")
        assert any(first_prisma_error in str(d) for d in caught.value.diagnostics)
        return
    schema = load_schema_file(folder / f"{provider}.prisma")
    script = ddl.render_script(diff(SqlSchema(), calculate(schema, ddl), ddl))
    assert script == expected_sql.read_text()


def matches_prisma_evolution(folder: Path, provider: str, ddl: Any) -> None:
    """An evolution's two schemas give Prisma's script between them byte for byte."""
    from strata.migrate.diff import diff
    from strata.migrate.sql_schema import calculate
    from strata.schema import load_schema_file

    before = calculate(load_schema_file(folder / f"from.{provider}.prisma"), ddl)
    after = calculate(load_schema_file(folder / f"to.{provider}.prisma"), ddl)
    assert ddl.render_script(diff(before, after, ddl)) == (folder / f"{provider}.sql").read_text()


class Traced:
    """Records the statements a database runs, through the core's tracer hook."""

    def __init__(self, db: strata.Database) -> None:
        self.sql: list[str] = []
        db.set_tracer_(lambda sql, params: self.sql.append(sql))

    def take(self) -> list[str]:
        """The statements recorded since the last call."""
        taken, self.sql[:] = list(self.sql), []
        return taken


# -- the render manager's job queue (schema/render_manager.prisma) ----------------------------


def bind(db: strata.Database, **overrides: Any) -> Queue:
    """The render manager's Job queue, with ``overrides`` to its binding."""
    binding: dict[str, Any] = {
        "ready": {"status": "QUEUED"},
        "claimed": {"status": "RENDERING"},
        "done": {"status": "COMPLETED"},
        "failed": {"status": "FAILED"},
        "cancelled": {"status": "CANCELLED"},
        "order_by": [{"priority": "desc"}, {"submittedAt": "asc"}],
        "lease": timedelta(seconds=60),
        "max_attempts": 3,
    }
    return db.queue_("Job", **{**binding, **overrides})


def job(**fields: Any) -> dict[str, Any]:
    """A Job's data for ``enqueue``, with ``fields`` changed."""
    return {
        "userId": "u1",
        "projectPath": "/p/a.aep",
        "source": "bravo",
        "macUsername": "alice",
        "fileTimestamp": datetime(2026, 11, 22, tzinfo=UTC),
        "nexrenderConfig": {"template": "a"},
        **fields,
    }
