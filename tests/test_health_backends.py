"""``db.health_()`` and ``strata doctor`` on both databases: the database's version, and on
PostgreSQL the pool (open, idle, in use, callers waiting); and the index a declared queue's
claim needs, found in each database's plan of the claim."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import strata
from backends import SEEDS, Backend
from strata.cli import main
from strata.doctor import diagnose
from strata.errors import ConfigurationError

SCHEMA = """
datasource db { provider = "sqlite" }
model Note {
  id   Int    @id
  body String
}
"""


def test_health_reports_version_and_pool(backend: Backend) -> None:
    db = backend.connect(SCHEMA)
    report = db.health_()
    assert report.connected, report.error
    assert report.ok
    assert report.provider == backend.provider
    assert report.latency_ms is not None
    assert report.migration_state == "no migrations"
    assert report.server_version is not None
    if backend.is_postgres:
        assert report.server_version.split(".")[0].isdigit()
        assert report.pool is not None
        assert set(report.pool) == {"limit", "open", "idle", "in_use", "waiting"}
        assert report.pool["open"] >= 1
        assert report.pool["in_use"] == 0
        assert report.pool["waiting"] == 0
    else:
        assert report.server_version == report.sqlite_version
        assert report.pool is None
    assert db.stats_() == {"Note": 0}


def test_health_of_a_closed_handle_is_a_report(backend: Backend) -> None:
    db = backend.connect()
    db.close_()
    report = db.health_()
    assert not report.connected
    assert report.error is not None
    assert "closed" in report.error
    assert report.server_version is None


def test_pool_stats_count_connections_in_use_and_waiting(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("SQLite has no connection pool to report")
    db = strata.connect(backend.url + "?connection_limit=1&pool_timeout=20")
    try:
        started = threading.Event()
        done = threading.Event()
        with db.transaction_():
            stats = db.pool_stats_()
            assert stats is not None
            assert (stats["limit"], stats["in_use"], stats["idle"]) == (1, 1, 0)

            def query() -> None:
                started.set()
                db.query_raw_("SELECT 1 AS one")
                done.set()

            thread = threading.Thread(target=query)
            thread.start()
            started.wait(5)
            deadline = time.monotonic() + 5
            while db.pool_stats_()["waiting"] != 1 and time.monotonic() < deadline:  # type: ignore[index]
                time.sleep(0.01)
            assert db.pool_stats_()["waiting"] == 1  # type: ignore[index]
            report = diagnose(db)
            assert report.pool is not None
            assert report.pool["waiting"] == 1
            assert any("raise connection_limit" in advice for advice in report.advice)
        thread.join(10)
        assert done.is_set()
        assert db.pool_stats_() == {"limit": 1, "open": 1, "idle": 1, "in_use": 0, "waiting": 0}
    finally:
        db.close_()


def test_doctor_reports_the_server(backend: Backend, tmp_path: Path) -> None:
    db = backend.connect()
    report = diagnose(db)
    assert report.provider == backend.provider
    if backend.is_postgres:
        assert report.server_version is not None
        assert report.pool is not None
        # WAL is SQLite's: no such warning for a server.
        assert not any("WAL" in warning for warning in report.warnings)
    else:
        assert report.server_version is None


def test_strata_doctor_prints_the_server_and_pool(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("SQLite has no server or pool (tests/test_cli.py checks its report)")
    result = CliRunner().invoke(main, ["doctor", backend.url])
    assert result.exit_code == 0, result.output
    assert "server version" in result.output
    assert "waiting 0" in result.output


INDEX = "  @@index([status, priority(sort: Desc), submittedAt])\n"
BINDING = """[tool.strata.queues.Job]
ready = { status = "QUEUED" }
claimed = { status = "RENDERING" }
done = { status = "COMPLETED" }
failed = { status = "FAILED" }
order_by = [{ priority = "desc" }, { submittedAt = "asc" }]
"""


def test_doctor_names_the_index_a_queue_claim_needs(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue declared in pyproject.toml whose claim would sort every ready job: the
    doctor reads the claim's plan on either database and names the ``@@index`` to add."""
    full = (SEEDS / "render_manager.prisma").read_text()
    assert INDEX in full
    db = backend.connect(full.replace(INDEX, ""))
    try:
        db.dialect_.queue  # noqa: B018 - raises while the queue is not on PostgreSQL
    except ConfigurationError as pending:
        pytest.skip(f"pending: {pending}")
    (tmp_path / "pyproject.toml").write_text(BINDING)
    monkeypatch.chdir(tmp_path)
    advice = " ".join(diagnose(db).advice)
    assert "queue Job" in advice
    assert "@@index([status, priority(sort: Desc), submittedAt])" in advice
    with_index = backend.connect(full)  # pushes the index
    assert not any("queue Job" in line for line in diagnose(with_index).advice)
