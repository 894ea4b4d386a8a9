"""Helpers shared by the client tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import strata
from strata.queue import Queue


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
