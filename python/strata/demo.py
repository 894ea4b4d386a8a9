"""`strata demo`: the first thing a new user runs.

For now it exercises the foundation: open a database file, create a table, write through
transactions (including a nested block that rolls back), read it back, and show
`strata doctor`. Later stages grow this into the full render-manager run.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import strata
from strata.doctor import diagnose

_DDL = """
CREATE TABLE IF NOT EXISTS "Job" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "priority" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'QUEUED'
);
"""

JOBS = 10_000


def run(database: Path, *, fresh: bool, console: Console) -> None:
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)

    with strata.connect(database) as db:
        db.execute_script(_DDL)
        started = time.perf_counter()
        with db.transaction():
            db.execute_many_raw(
                'INSERT INTO "Job" ("name", "priority") VALUES (?, ?)',
                ((f"shot-{n:05d}", n % 5) for n in range(JOBS)),
            )
            try:
                with db.transaction():  # a savepoint: its writes vanish with it
                    db.execute_raw('UPDATE "Job" SET "status" = ?', "CANCELLED")
                    raise RuntimeError("changed our mind")
            except RuntimeError:
                pass
        elapsed = time.perf_counter() - started

        by_priority = db.query_raw(
            'SELECT "priority", "status", count(*) AS "jobs" FROM "Job" '
            'GROUP BY "priority", "status" ORDER BY "priority" DESC'
        )
        table = Table(title=f"{database}: jobs by priority", title_justify="left")
        for column in ("priority", "status", "jobs"):
            table.add_column(column, justify="right" if column != "status" else "left")
        for row in by_priority:
            table.add_row(str(row["priority"]), row["status"], f"{row['jobs']:,}")
        console.print(table)
        console.print(
            f"wrote {JOBS:,} jobs in one transaction in {elapsed * 1000:.1f} ms; "
            "the nested block's UPDATE was rolled back to its savepoint"
        )

        from strata.cli import render_diagnosis

        render_diagnosis(diagnose(db))
