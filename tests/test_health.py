"""db.health_() and db.stats_(), as the seeds' health endpoints use them."""

from __future__ import annotations

import shutil
from pathlib import Path

import strata

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"


def test_health_reports_connection_and_migrations(tmp_path: Path) -> None:
    schema = tmp_path / "schema.prisma"
    shutil.copyfile(SCHEMAS / "music_api.prisma", schema)
    with strata.connect(tmp_path / "app.db", schema=schema) as db:
        before = db.health_()
        assert before.connected
        assert before.latency_ms is not None
        assert before.sqlite_version.startswith("3.")
        assert before.migration_state == "no migrations"
        name = db.migrate_.dev("init", create_only=True).migration
        pending = db.health_()
        assert pending.migration_state == "pending"
        assert pending.pending_migrations == [name]
        assert not pending.ok
        db.migrate_.deploy()
        assert db.health_().migration_state == "up to date"
        assert db.health_().ok
        db.execute_raw_(
            'INSERT INTO "api_keys" ("id", "key", "name", "updatedAt") VALUES (?, ?, ?, ?)',
            "k1",
            "secret",
            "ci",
            "2026-11-22T00:00:00.000+00:00",
        )
        assert db.stats_() == {"SystemHealth": 0, "ApiKey": 1, "RequestLog": 0}


def test_health_of_a_closed_handle_is_a_report_not_an_exception(tmp_path: Path) -> None:
    db = strata.connect(tmp_path / "x.db")
    db.close_()
    report = db.health_()
    assert not report.connected
    assert report.error is not None
    assert "closed" in report.error
