"""Two or more ``migrate deploy`` processes started together apply each migration once: the
history check and the migration share one write transaction, so a deployer that waited for
another's lock sees the migration applied and goes on to the next."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import strata

SCHEMA_V1 = """datasource db {
  provider = "sqlite"
}

model Sample {
  id    Int    @id @default(autoincrement())
  value Int
}
"""
SCHEMA_V2 = SCHEMA_V1.replace("  value Int\n", "  value Int\n  note  String?\n")
SCHEMA_V3 = SCHEMA_V2.replace("  note  String?\n", "  note  String?\n\n  @@index([value])\n")

#: Run by each deployer: wait for the start signal, deploy, print what it applied.
DEPLOYER = """
import json, sys, time
from pathlib import Path
import strata
project, database, start = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
while not start.exists():
    time.sleep(0.001)
with strata.connect(database, schema=project / "schema.prisma", busy_timeout=60) as db:
    print(json.dumps(db.migrate_.deploy()))
"""


def _project(tmp_path: Path) -> tuple[Path, list[str]]:
    """A project with three migrations; the first also fills a table, so that it holds
    the write lock long enough for the other deployers to arrive."""
    project = tmp_path / "project"
    project.mkdir()
    schema = project / "schema.prisma"
    names = []
    with strata.connect(tmp_path / "dev.db", schema=schema) as dev:
        for version, name in ((SCHEMA_V1, "init"), (SCHEMA_V2, "note"), (SCHEMA_V3, "index")):
            schema.write_text(version)
            result = dev.migrate_.dev(name)
            assert result.migration is not None
            names.append(result.migration)
    first = project / "migrations" / names[0] / "migration.sql"
    first.write_text(
        first.read_text()
        + "\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)\n"
        'INSERT INTO "Sample" ("value") SELECT i FROM n;\n'
    )
    return project, names


@pytest.mark.slow
def test_deployers_started_together_apply_each_migration_once(tmp_path: Path) -> None:
    project, names = _project(tmp_path)
    database = tmp_path / "prod.db"
    start = tmp_path / "start"
    deployers = [
        subprocess.Popen(
            [sys.executable, "-c", DEPLOYER, str(project), str(database), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(1.0)  # every deployer is waiting for the signal
    start.touch()
    applied: list[str] = []
    for deployer in deployers:
        out, err = deployer.communicate(timeout=120)
        assert deployer.returncode == 0, err
        applied.extend(json.loads(out))
    assert sorted(applied) == sorted(names)
    with strata.connect(database) as db:
        rows = db.query_raw_(
            "SELECT migration_name, finished_at IS NOT NULL AS done, logs "
            'FROM "_prisma_migrations" ORDER BY migration_name'
        )
        assert [(r["migration_name"], r["done"], r["logs"]) for r in rows] == [
            (name, 1, None) for name in sorted(names)
        ]
        assert db.query_raw_('SELECT count(*) AS n FROM "Sample"')[0]["n"] == 300_000
