"""Helpers shared by the client tests."""

from __future__ import annotations

import strata


class Traced:
    """Records the statements a database runs, through the core's tracer hook."""

    def __init__(self, db: strata.Database) -> None:
        self.sql: list[str] = []
        db.set_tracer_(lambda sql, params: self.sql.append(sql))

    def take(self) -> list[str]:
        """The statements recorded since the last call."""
        taken, self.sql[:] = list(self.sql), []
        return taken
